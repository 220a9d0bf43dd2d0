/*
 * recordio: the Mesos RecordIO framing, "<decimal length>\n<bytes>" repeated.
 *
 * The decoder is incremental: feed it whatever bytes arrived and it calls
 * back once per complete record. A length prefix longer than 20 digits,
 * a non-digit in it, or a record longer than max_record is an error; after
 * an error the decoder refuses further input (the stream must be closed).
 */
#ifndef AGORA_RECORDIO_H
#define AGORA_RECORDIO_H

#include <stddef.h>

struct evbuffer;
struct rio_decoder;

/* Append one framed record to out. */
void rio_encode(struct evbuffer *out, const void *data, size_t len);
/* Frame one record into a new buffer (caller frees); *out_len set. */
char *rio_encode_alloc(const void *data, size_t len, size_t *out_len);

/* Called once per complete record; data is valid only during the call.
 * Return 0 to go on, -1 to stop decoding (feed then returns -1). */
typedef int (*rio_record_fn)(const char *data, size_t len, void *arg);

struct rio_decoder *rio_decoder_new(size_t max_record);
void rio_decoder_free(struct rio_decoder *d);
/* 0 ok (zero or more records delivered), -1 on malformed input or when the
 * callback stopped; *err (if non-NULL) gets a message the caller frees. */
int rio_decoder_feed(struct rio_decoder *d, const char *data, size_t len, rio_record_fn cb,
                     void *arg, char **err);

#endif
