/*
 * recordio: the Mesos RecordIO framing ("<decimal length>\n<bytes>").
 *
 * The decoder is a two-state machine (reading the length prefix, reading
 * the record) fed arbitrary slices of the stream, so that any split of the
 * input yields the same records. A record that arrives whole within one
 * feed is handed to the callback in place; only records split across feeds
 * are copied into the decoder's buffer, which never grows beyond
 * max_record.
 */
#include "recordio.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "mem.h"

#define RIO_MAX_DIGITS 20

enum rio_state {
    RIO_PREFIX, /* reading decimal digits up to '\n' */
    RIO_RECORD, /* reading `want` bytes of record */
    RIO_FAILED, /* malformed input or stopped by the callback: refuse all */
};

struct rio_decoder {
    enum rio_state state;
    size_t max_record; /* largest record accepted */
    uint64_t want;     /* length of the record being read */
    int ndigits;       /* digits of the prefix seen so far */
    char *buf;         /* partial record (only when split across feeds) */
    size_t cap;        /* allocated size of buf */
    size_t have;       /* bytes of the record in buf */
};

void rio_encode(struct evbuffer *out, const void *data, size_t len)
{
    evbuffer_add_printf(out, "%zu\n", len);
    if (len)
        evbuffer_add(out, data, len);
}

char *rio_encode_alloc(const void *data, size_t len, size_t *out_len)
{
    char prefix[32];
    int n = snprintf(prefix, sizeof(prefix), "%zu\n", len);
    char *out = xmalloc((size_t)n + len + 1);

    memcpy(out, prefix, (size_t)n);
    if (len)
        memcpy(out + n, data, len);
    out[(size_t)n + len] = '\0'; /* convenient for text records; not counted */
    *out_len = (size_t)n + len;
    return out;
}

struct rio_decoder *rio_decoder_new(size_t max_record)
{
    struct rio_decoder *d = xcalloc(1, sizeof(*d));

    d->state = RIO_PREFIX;
    d->max_record = max_record;
    return d;
}

void rio_decoder_free(struct rio_decoder *d)
{
    if (d == NULL)
        return;
    free(d->buf);
    free(d);
}

static int rio_fail(struct rio_decoder *d, char **err, char *msg)
{
    d->state = RIO_FAILED;
    free(d->buf);
    d->buf = NULL;
    d->cap = 0;
    d->have = 0;
    if (err)
        *err = msg;
    else
        free(msg);
    return -1;
}

/* Deliver one complete record and go back to reading a prefix. */
static int rio_deliver(struct rio_decoder *d, const char *data, size_t len, rio_record_fn cb,
                       void *arg, char **err)
{
    d->state = RIO_PREFIX;
    d->want = 0;
    d->ndigits = 0;
    d->have = 0;
    if (cb(len ? data : "", len, arg) < 0)
        return rio_fail(d, err, xstrdup("recordio: decoding stopped by the consumer"));
    return 0;
}

int rio_decoder_feed(struct rio_decoder *d, const char *data, size_t len, rio_record_fn cb,
                     void *arg, char **err)
{
    size_t i = 0;

    if (err)
        *err = NULL;
    if (d->state == RIO_FAILED)
        return rio_fail(d, err, xstrdup("recordio: decoder already failed; close the stream"));

    while (i < len) {
        if (d->state == RIO_PREFIX) {
            char c = data[i++];
            if (c == '\n') {
                if (d->ndigits == 0)
                    return rio_fail(d, err, xstrdup("recordio: empty length prefix"));
                d->state = RIO_RECORD;
                d->have = 0;
                if (d->want == 0) {
                    if (rio_deliver(d, "", 0, cb, arg, err) < 0)
                        return -1;
                }
                continue;
            }
            if (c < '0' || c > '9')
                return rio_fail(
                    d, err,
                    xasprintf("recordio: invalid byte 0x%02x in length prefix", (unsigned char)c));
            if (++d->ndigits > RIO_MAX_DIGITS)
                return rio_fail(
                    d, err,
                    xasprintf("recordio: length prefix longer than %d digits", RIO_MAX_DIGITS));
            /* Checked per digit, so an endless prefix fails early and
             * want never overflows (even with max_record = SIZE_MAX). */
            if (d->want > (UINT64_MAX - 9) / 10 ||
                d->want * 10 + (uint64_t)(c - '0') > d->max_record)
                return rio_fail(d, err,
                                xasprintf("recordio: record length exceeds the "
                                          "maximum of %zu bytes",
                                          d->max_record));
            d->want = d->want * 10 + (uint64_t)(c - '0');
            continue;
        }

        /* RIO_RECORD */
        {
            size_t need = (size_t)d->want - d->have;
            size_t avail = len - i;

            if (d->have == 0 && avail >= need) {
                /* Whole record in this slice: no copy. */
                if (rio_deliver(d, data + i, need, cb, arg, err) < 0)
                    return -1;
                i += need;
                continue;
            }
            if (d->have == 0 && d->cap < need) {
                /* Sized to this record, not max_record: a split 100-byte
                 * record must not cost a max_record allocation. */
                free(d->buf);
                d->buf = xmalloc(need);
                d->cap = need;
            }
            if (avail > need)
                avail = need;
            memcpy(d->buf + d->have, data + i, avail);
            d->have += avail;
            i += avail;
            if (d->have == d->want) {
                if (rio_deliver(d, d->buf, (size_t)d->want, cb, arg, err) < 0)
                    return -1;
                if (d->cap > 65536) {
                    /* Do not pin one huge record's buffer for the stream's life. */
                    free(d->buf);
                    d->buf = NULL;
                    d->cap = 0;
                }
            }
        }
    }
    return 0;
}
