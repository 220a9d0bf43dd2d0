/*
 * fuzz_pbjson: libFuzzer target for the JSON side of the scheduler API.
 *
 * Input: JSON text, decoded as a mesos.v1.scheduler.Call (the message a
 * framework POSTs). Properties checked:
 *   - decode either succeeds with no error, or fails with an error that is
 *     valid UTF-8 (it becomes a JSON error body) and frees everything
 *     (ASan's leak check);
 *   - whatever decodes, encodes, and the encoding decodes again to a
 *     message with identical packed bytes (no precision, enum, bytes or
 *     presence information lost on the way).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "pbjson.h"
#include "scheduler.pb-c.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t *pack(const ProtobufCMessage *m, size_t *len)
{
    *len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(*len);
    protobuf_c_message_pack(m, buf);
    return buf;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const ProtobufCMessageDescriptor *desc = &mesos__v1__scheduler__call__descriptor;
    char *err = NULL;
    ProtobufCMessage *m1, *m2;
    char *text;
    size_t tlen, n1, n2;
    uint8_t *p1, *p2;

    m1 = pbjson_decode_string(desc, (const char *)data, size, &err);
    if (m1 == NULL) {
        json_t *j;
        if (err == NULL) {
            fprintf(stderr, "decode failed without an error message\n");
            abort();
        }
        j = json_string(err);
        if (j == NULL) {
            fprintf(stderr, "error message is not valid UTF-8: %s\n", err);
            abort();
        }
        json_decref(j);
        free(err);
        return 0;
    }
    if (err != NULL) {
        fprintf(stderr, "decode succeeded but set an error: %s\n", err);
        abort();
    }

    text = pbjson_encode_string(m1, &tlen);
    m2 = pbjson_decode_string(desc, text, tlen, &err);
    if (m2 == NULL) {
        fprintf(stderr, "re-decode failed: %s\nencoded: %s\n", err, text);
        abort();
    }
    p1 = pack(m1, &n1);
    p2 = pack(m2, &n2);
    if (n1 != n2 || memcmp(p1, p2, n1) != 0) {
        fprintf(stderr, "round trip changed the message\nencoded: %s\n", text);
        abort();
    }
    free(p1);
    free(p2);
    free(text);
    protobuf_c_message_free_unpacked(m1, NULL);
    protobuf_c_message_free_unpacked(m2, NULL);
    return 0;
}
