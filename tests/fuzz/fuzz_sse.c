/*
 * fuzz_sse: libFuzzer target for the Server-Sent Events parser.
 *
 * Besides crashes and sanitizer findings it checks the parser's central
 * promise: the first two input bytes pick two cut points, and parsing the
 * rest in three feeds must give exactly the events (type, id, data), the retry
 * and the verdict of parsing it in one.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "sse.h"

#define FUZZ_MAX_EVENT 4096

struct digest {
    uint64_t hash; /* FNV-1a over the events' fields and boundaries */
    size_t count;
};

static void mix(struct digest *d, const char *s, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++)
        d->hash = (d->hash ^ (unsigned char)s[i]) * 1099511628211ULL;
    d->hash = (d->hash ^ 0x1ff) * 1099511628211ULL; /* field boundary */
}

static int on_event(const struct sse_event *ev, void *arg)
{
    struct digest *d = arg;

    if (ev->data[ev->len] != '\0')
        abort();
    mix(d, ev->type, strlen(ev->type));
    mix(d, ev->id, strlen(ev->id));
    mix(d, ev->data, ev->len);
    d->count++;
    return 0;
}

/* Parse p in three feeds, cut at a <= b. */
static int parse(const char *p, size_t n, size_t a, size_t b, struct digest *out)
{
    struct sse_parser *ps = sse_parser_new(FUZZ_MAX_EVENT);
    size_t cuts[4] = { 0, a, b, n };
    int rc = 0, k;

    out->hash = 14695981039346656037ULL;
    out->count = 0;
    for (k = 0; k < 3 && rc == 0; k++) {
        char *err = NULL;

        rc = sse_parser_feed(ps, p + cuts[k], cuts[k + 1] - cuts[k], on_event, out, &err);
        free(err);
    }
    if (rc == 0) {
        char retry[32];
        size_t k2 = 0;
        long r = sse_parser_retry(ps);

        while (k2 < sizeof(retry) && r > 0) {
            retry[k2++] = (char)('0' + r % 10);
            r /= 10;
        }
        mix(out, retry, k2);
        mix(out, sse_parser_last_id(ps), strlen(sse_parser_last_id(ps)));
    }
    sse_parser_free(ps);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct digest one, three;
    size_t n, a, b;

    /* The first two bytes pick the cuts; the rest is the stream. */
    if (size < 2)
        return 0;
    n = size - 2;
    a = data[0] % (n + 1);
    b = a + data[1] % (n - a + 1);
    if (parse((const char *)data + 2, n, n, n, &one) !=
            parse((const char *)data + 2, n, a, b, &three) ||
        one.count != three.count || one.hash != three.hash)
        abort();
    return 0;
}
