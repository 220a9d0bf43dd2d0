/*
 * mem: allocation wrappers that abort on out-of-memory (as Redis zmalloc).
 *
 * Agora never handles a failed malloc locally: a daemon that cannot
 * allocate is restarted by its supervisor. mem_init() routes libevent and
 * jansson through these wrappers; agora_pb_allocator does it for
 * protobuf-c (pass it, or NULL for the same behaviour, to unpack/free).
 */
#ifndef AGORA_MEM_H
#define AGORA_MEM_H

#include <stdarg.h>
#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

void *xmalloc(size_t size);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *ptr, size_t size);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a freshly allocated string; caller frees. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The same with a va_list (ap is consumed). */
char *xvasprintf(const char *fmt, va_list ap) __attribute__((format(printf, 1, 0)));

/* Install the wrappers into libevent and jansson. Call once, first in main. */
void mem_init(void);

/* protobuf-c allocator backed by xmalloc/free. */
extern ProtobufCAllocator agora_pb_allocator;

#endif
