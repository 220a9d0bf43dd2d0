/*
 * fuzz_docker_demux: common/docker.c's log frame demultiplexer on random
 * engine output. Checks that it never reads out of bounds and that
 * feeding the input in two pieces (split at a point the input chooses)
 * yields exactly the bytes of feeding it whole, stream by stream.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "docker.h"

struct sink {
    size_t n[3];     /* bytes per stream: other, stdout, stderr */
    uint32_t sum[3]; /* order-sensitive checksum per stream */
};

static void on_frame(int stream, const char *data, size_t len, void *arg)
{
    struct sink *s = arg;
    int k = stream == 1 ? 1 : stream == 2 ? 2 : 0;
    size_t i;

    for (i = 0; i < len; i++)
        s->sum[k] = s->sum[k] * 31u + (unsigned char)data[i];
    s->n[k] += len;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct docker_demux d;
    struct sink whole, parts;
    size_t split;

    if (size == 0)
        return 0;
    split = data[0] % size;
    memset(&whole, 0, sizeof(whole));
    memset(&parts, 0, sizeof(parts));
    docker_demux_init(&d);
    docker_demux_feed(&d, (const char *)data + 1, size - 1, on_frame, &whole);
    docker_demux_init(&d);
    docker_demux_feed(&d, (const char *)data + 1, split, on_frame, &parts);
    docker_demux_feed(&d, (const char *)data + 1 + split, size - 1 - split, on_frame, &parts);
    if (memcmp(&whole, &parts, sizeof(whole)) != 0)
        abort();
    return 0;
}
