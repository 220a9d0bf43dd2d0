/*
 * mem: allocation wrappers that abort on out-of-memory, and the hooks that
 * route libevent, jansson and protobuf-c through them.
 *
 * Aborting (rather than returning NULL) keeps every caller free of an
 * untestable error path: a daemon that cannot allocate is restarted by its
 * supervisor, and its state is recovered from the registry / checkpoints.
 */
#include "mem.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

/* write(2), not stdio: stdio may itself need memory we lack. */
static void mem_oom(size_t size)
{
    char buf[96];
    int n = snprintf(buf, sizeof(buf), "agora: out of memory allocating %zu bytes\n", size);
    if (n > 0 && write(STDERR_FILENO, buf, (size_t)n) < 0) {
        /* nothing more we can do; abort below either way */
    }
    abort();
}

void *xmalloc(size_t size)
{
    /* malloc(0) may return NULL legitimately; never hand that out. */
    void *p = malloc(size ? size : 1);
    if (p == NULL)
        mem_oom(size);
    return p;
}

void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (p == NULL)
        mem_oom(n * size);
    return p;
}

void *xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (p == NULL)
        mem_oom(size);
    return p;
}

char *xstrdup(const char *s)
{
    size_t len = strlen(s);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len + 1);
    return p;
}

char *xstrndup(const char *s, size_t n)
{
    size_t len = strnlen(s, n);
    char *p = xmalloc(len + 1);
    memcpy(p, s, len);
    p[len] = '\0';
    return p;
}

char *xvasprintf(const char *fmt, va_list ap)
{
    char small[256];
    va_list ap2;
    int n;
    char *p;

    /* Most messages fit the stack buffer: one vsnprintf, one copy. */
    va_copy(ap2, ap);
    n = vsnprintf(small, sizeof(small), fmt, ap);
    if (n < 0)
        abort(); /* only on an invalid format: a programming error */
    p = xmalloc((size_t)n + 1);
    if ((size_t)n < sizeof(small))
        memcpy(p, small, (size_t)n + 1);
    else
        vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}

char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *p;

    va_start(ap, fmt);
    p = xvasprintf(fmt, ap);
    va_end(ap);
    return p;
}

void mem_init(void)
{
    event_set_mem_functions(xmalloc, xrealloc, free);
    json_set_alloc_funcs(xmalloc, free);
}

static void *pb_alloc(void *data, size_t size)
{
    (void)data;
    return xmalloc(size);
}

static void pb_free(void *data, void *ptr)
{
    (void)data;
    free(ptr);
}

ProtobufCAllocator agora_pb_allocator = {
    .alloc = pb_alloc,
    .free = pb_free,
    .allocator_data = NULL,
};
