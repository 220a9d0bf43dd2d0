/*
 * fuzz_recordio: libFuzzer target for the RecordIO decoder.
 *
 * Besides crashes and sanitizer findings it checks the decoder's central
 * promise: the first input byte picks a split point, and decoding the rest
 * in two feeds must give exactly the records (and the verdict) of decoding
 * it in one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "recordio.h"

#define FUZZ_MAX_RECORD 4096

struct digest {
    uint64_t hash; /* FNV-1a over records and their boundaries */
    size_t count;
};

static int on_record(const char *data, size_t len, void *arg)
{
    struct digest *d = arg;
    size_t i;

    for (i = 0; i < len; i++)
        d->hash = (d->hash ^ (unsigned char)data[i]) * 1099511628211ULL;
    d->hash = (d->hash ^ 0x1ff) * 1099511628211ULL; /* record boundary */
    d->count++;
    return 0;
}

static int decode(const char *p, size_t n, size_t split, struct digest *out)
{
    struct rio_decoder *d = rio_decoder_new(FUZZ_MAX_RECORD);
    char *err = NULL;
    int rc;

    out->hash = 14695981039346656037ULL;
    out->count = 0;
    rc = rio_decoder_feed(d, p, split, on_record, out, &err);
    free(err);
    err = NULL;
    if (rc == 0) {
        rc = rio_decoder_feed(d, p + split, n - split, on_record, out, &err);
        free(err);
    }
    rio_decoder_free(d);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest whole, split;
    const char *p;
    size_t n, at;
    int rc1, rc2;

    if (size < 1)
        return 0;
    p = (const char *)data + 1;
    n = size - 1;
    at = n ? data[0] % (n + 1) : 0;
    rc1 = decode(p, n, n, &whole);
    rc2 = decode(p, n, at, &split);
    if (rc1 != rc2 || whole.count != split.count || whole.hash != split.hash)
        abort();
    return 0;
}
