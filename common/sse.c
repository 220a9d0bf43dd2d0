/*
 * sse: Server-Sent Events — the framing, a broadcasting hub on top of
 * http_stream, and the incremental WHATWG EventSource parser.
 *
 * Hub. Every subscriber is an http_stream. Before anything is queued for a
 * subscriber the hub compares what is still unsent on its socket
 * (http_stream_pending) plus the new bytes with max_pending; over the bound
 * the subscriber is dropped: a log line, its socket shut down (so evhttp
 * frees the connection at once instead of waiting for the stream's write
 * timeout with the backlog still in memory), its stream closed and its
 * on_close run. Memory per subscriber is thus bounded by max_pending plus
 * the socket's own buffer.
 *
 * Parser. A line-oriented state machine fed arbitrary slices: the current
 * line is accumulated until CR, LF or CRLF (a CR ending one feed swallows
 * an LF starting the next), then interpreted as a field; an empty line
 * dispatches. The BOM check keeps its state across feeds too, so any split
 * of the bytes gives the same events. Buffers grow with the event being
 * read, up to max_event, and are released after a large one.
 */
#include "sse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http.h"
#include "log.h"
#include "mem.h"
#include "timeutil.h"

#define SSE_HEARTBEAT ": heartbeat\n\n"
/* Buffers above this are freed after their event, not kept for the stream. */
#define SSE_KEEP_BUF 65536

static bool sse_has_newline(const char *s)
{
    return s && strpbrk(s, "\r\n") != NULL;
}

/* ---------------------------------------------------------------- buffers */

struct sse_buf {
    char *p;
    size_t len;
    size_t cap;
};

static void sse_buf_set(struct sse_buf *b, const char *s, size_t n)
{
    if (n + 1 > b->cap) {
        b->cap = n + 1 > 2 * b->cap ? n + 1 : 2 * b->cap;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p, s, n);
    b->p[n] = '\0';
    b->len = n;
}

/* Append n bytes, keeping a NUL after them. */
static void sse_buf_add(struct sse_buf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t want = b->len + n + 1;
        b->cap = want > 2 * b->cap ? want : 2 * b->cap;
        b->p = xrealloc(b->p, b->cap);
    }
    if (n)
        memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sse_buf_reset(struct sse_buf *b)
{
    b->len = 0;
    if (b->cap > SSE_KEEP_BUF) {
        free(b->p);
        b->p = NULL;
        b->cap = 0;
    } else if (b->p) {
        b->p[0] = '\0';
    }
}

static void sse_buf_cleanup(struct sse_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof(*b));
}

/* ---------------------------------------------------------------- framing */

/* sse_format into a plain buffer (appended). */
static int sse_format_buf(struct sse_buf *out, const char *type, const char *id, const char *data,
                          size_t len)
{
    size_t i = 0;

    if (sse_has_newline(type) || sse_has_newline(id))
        return -1;
    if (type && *type) {
        sse_buf_add(out, "event: ", 7);
        sse_buf_add(out, type, strlen(type));
        sse_buf_add(out, "\n", 1);
    }
    if (id) {
        sse_buf_add(out, "id: ", 4);
        sse_buf_add(out, id, strlen(id));
        sse_buf_add(out, "\n", 1);
    }
    for (;;) {
        const char *nl = i < len ? memchr(data + i, '\n', len - i) : NULL;
        size_t end = nl ? (size_t)(nl - data) : len;
        const char *cr = end > i ? memchr(data + i, '\r', end - i) : NULL;
        size_t j = cr ? (size_t)(cr - data) : end;

        sse_buf_add(out, "data: ", 6);
        sse_buf_add(out, data + i, j - i);
        sse_buf_add(out, "\n", 1);
        if (j == len)
            break;
        if (data[j] == '\r' && j + 1 < len && data[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    sse_buf_add(out, "\n", 1);
    return 0;
}

int sse_format(struct evbuffer *out, const char *type, const char *id, const char *data, size_t len)
{
    struct sse_buf b = { NULL, 0, 0 };
    int rc = sse_format_buf(&b, type, id, data, len);

    if (rc == 0)
        evbuffer_add(out, b.p, b.len);
    sse_buf_cleanup(&b);
    return rc;
}

/* ---------------------------------------------------------------- hub */

struct sse_client {
    TAILQ_ENTRY(sse_client) next;
    struct sse_hub *hub;
    struct http_stream *st;
    struct evhttp_connection *evcon; /* the stream's connection, to shut it down */
    sse_filter_fn filter;
    sse_close_fn on_close;
    void *arg;
    /* This turn, c's bytes are not the hub's batch (a filter said no, a
     * private send, or c joined mid-turn): they are in own instead. */
    bool own_turn;
    struct sse_buf own;
    char peer[64]; /* for logs */
};

struct sse_hub {
    struct event_base *base;
    TAILQ_HEAD(, sse_client) clients;
    struct event *heartbeat; /* NULL when heartbeat_secs is 0 */
    struct event *flush;     /* end of the loop turn: write the turn's bytes */
    bool flush_armed;
    struct sse_buf batch;  /* this turn's events, formatted, for everyone */
    unsigned long removed; /* subscribers removed, ever (filters may drop) */
    size_t max_pending;    /* unsent bytes a subscriber may have */
    size_t count;          /* subscribers */
    unsigned long dropped; /* slow consumers dropped */
    unsigned long chunks;  /* chunks queued (tests, docs) */
    unsigned long shared;  /* ... of which references to a shared batch */
};

static void sse_client_remove(struct sse_client *c)
{
    TAILQ_REMOVE(&c->hub->clients, c, next);
    c->hub->count--;
    c->hub->removed++;
}

static void sse_client_free(struct sse_client *c)
{
    sse_buf_cleanup(&c->own);
    free(c);
}

/* The subscriber went away by itself; its stream is freed after this. */
static void sse_client_stream_closed(struct http_stream *st, void *arg)
{
    struct sse_client *c = arg;

    (void)st;
    log_debug("sse: subscriber %s left", c->peer);
    sse_client_remove(c);
    if (c->on_close)
        c->on_close(c, "peer closed", c->arg);
    sse_client_free(c);
}

/* Bytes queued for c this turn, not yet on its stream. */
static size_t sse_client_queued(const struct sse_client *c)
{
    return c->own_turn ? c->own.len : c->hub->batch.len;
}

/* c leaves the shared batch for the rest of the turn: what it has of the
 * batch so far is copied to its own bytes. */
static void sse_client_diverge(struct sse_client *c)
{
    if (c->own_turn)
        return;
    c->own_turn = true;
    c->own.len = 0;
    sse_buf_add(&c->own, c->hub->batch.p, c->hub->batch.len);
}

/* Write c's bytes of this turn to its stream (shared: the turn's batch as
 * one chunk, NULL when nobody follows the batch). */
static void sse_client_flush(struct sse_client *c, struct http_chunk *shared)
{
    struct sse_hub *h = c->hub;

    if (c->own_turn) {
        if (c->own.len) {
            http_stream_send(c->st, c->own.p, c->own.len);
            h->chunks++;
        }
        c->own_turn = false;
        sse_buf_reset(&c->own);
    } else if (shared != NULL) {
        http_stream_send_chunk(c->st, shared);
        h->chunks++;
        h->shared++;
    } else if (h->batch.len) {
        /* c alone, before the turn ends (it is being closed). */
        http_stream_send(c->st, h->batch.p, h->batch.len);
        h->chunks++;
    }
}

/* End c now, running its on_close with reason (NULL: no callback). An
 * orderly end (not abort_conn) first writes what c was sent this turn. */
static void sse_client_end(struct sse_client *c, const char *reason, bool abort_conn)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(c->evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

    if (!abort_conn)
        sse_client_flush(c, NULL);
    sse_client_remove(c);
    /* Shut the socket first: evhttp then fails the connection on its next
     * write instead of flushing a backlog the peer is not reading. */
    if (abort_conn && fd >= 0)
        shutdown(fd, SHUT_RDWR);
    http_stream_close(c->st);
    if (reason && c->on_close)
        c->on_close(c, reason, c->arg);
    sse_client_free(c);
}

static void sse_client_drop(struct sse_client *c, size_t pending, size_t len)
{
    c->hub->dropped++;
    log_warn("sse: dropping slow subscriber %s: %zu bytes unsent, %zu more would exceed %zu",
             c->peer, pending, len, c->hub->max_pending);
    sse_client_end(c, "slow consumer", true);
}

/* May c take len more bytes? Otherwise it is dropped (false). */
static bool sse_client_room(struct sse_client *c, size_t len)
{
    size_t pending = http_stream_pending(c->st) + sse_client_queued(c);

    if (pending + len > c->hub->max_pending) {
        sse_client_drop(c, pending, len);
        return false;
    }
    return true;
}

/* The end of the loop turn: one chunk per subscriber for all of the turn's
 * events. Those that took every event (the usual case) share one
 * immutable chunk, framed once and referenced by each stream. */
static void sse_hub_on_flush(evutil_socket_t fd, short what, void *arg)
{
    struct sse_hub *h = arg;
    struct http_chunk *shared = NULL;
    struct sse_client *c;

    (void)fd;
    (void)what;
    h->flush_armed = false;
    TAILQ_FOREACH (c, &h->clients, next) {
        if (!c->own_turn && h->batch.len && shared == NULL)
            shared = http_chunk_new(h->batch.p, h->batch.len);
        sse_client_flush(c, shared);
    }
    http_chunk_unref(shared);
    sse_buf_reset(&h->batch);
}

static void sse_hub_arm(struct sse_hub *h)
{
    if (!h->flush_armed) {
        h->flush_armed = true;
        event_active(h->flush, EV_TIMEOUT, 1);
    }
}

int sse_client_send_raw(struct sse_client *c, const char *bytes, size_t len)
{
    if (len == 0)
        return 0;
    if (!sse_client_room(c, len))
        return -1;
    sse_client_diverge(c);
    sse_buf_add(&c->own, bytes, len);
    sse_hub_arm(c->hub);
    return 0;
}

int sse_client_send(struct sse_client *c, const char *type, const char *id, const char *data,
                    size_t len)
{
    struct sse_buf b = { NULL, 0, 0 };
    int rc = -1;

    if (sse_format_buf(&b, type, id, data, len) == 0)
        rc = sse_client_send_raw(c, b.p, b.len);
    sse_buf_cleanup(&b);
    return rc;
}

/* Queue the formatted event (bytes, n) for every subscriber (whose filter
 * accepts type and data, when filtered). */
static int sse_hub_queue(struct sse_hub *h, const char *bytes, size_t n, bool filtered,
                         const char *type, const char *data, size_t len)
{
    struct sse_client *c, *tmp;
    const char *t = type && *type ? type : "message";
    int sent = 0;

    if (TAILQ_EMPTY(&h->clients))
        return 0;
    for (c = TAILQ_FIRST(&h->clients); c; c = tmp) {
        tmp = TAILQ_NEXT(c, next); /* c may be dropped */
        if (filtered && c->filter) {
            unsigned long removed = h->removed;

            if (!c->filter(c, t, data, len, c->arg)) {
                /* The filter may have sent c a variant, and that may have
                 * dropped c (only c: the filter's contract). */
                if (h->removed == removed)
                    sse_client_diverge(c);
                continue;
            }
            if (h->removed != removed)
                continue;
        }
        if (!sse_client_room(c, n))
            continue;
        if (c->own_turn)
            sse_buf_add(&c->own, bytes, n);
        sent++;
    }
    /* After the loop: a filter's private send goes before this event. */
    sse_buf_add(&h->batch, bytes, n);
    sse_hub_arm(h);
    return sent;
}

int sse_hub_broadcast(struct sse_hub *h, const char *type, const char *id, const char *data,
                      size_t len)
{
    struct sse_buf ev = { NULL, 0, 0 };
    int sent = 0;

    if (TAILQ_EMPTY(&h->clients))
        return 0;
    if (sse_format_buf(&ev, type, id, data, len) == 0)
        sent = sse_hub_queue(h, ev.p, ev.len, true, type, data, len);
    sse_buf_cleanup(&ev);
    return sent;
}

static void sse_hub_on_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct sse_hub *h = arg;

    (void)fd;
    (void)what;
    sse_hub_queue(h, SSE_HEARTBEAT, sizeof(SSE_HEARTBEAT) - 1, false, NULL, NULL, 0);
}

struct sse_hub *sse_hub_new(struct event_base *base, double heartbeat_secs, size_t max_pending)
{
    struct sse_hub *h = xcalloc(1, sizeof(*h));

    h->base = base;
    h->max_pending = max_pending;
    TAILQ_INIT(&h->clients);
    h->flush = event_new(base, -1, 0, sse_hub_on_flush, h);
    if (heartbeat_secs > 0) {
        struct timeval tv;

        tv = time_tv(heartbeat_secs);
        h->heartbeat = event_new(base, -1, EV_PERSIST, sse_hub_on_heartbeat, h);
        event_add(h->heartbeat, &tv);
    }
    return h;
}

void sse_hub_free(struct sse_hub *h)
{
    if (h == NULL)
        return;
    while (!TAILQ_EMPTY(&h->clients))
        sse_client_end(TAILQ_FIRST(&h->clients), "hub freed", false);
    if (h->heartbeat)
        event_free(h->heartbeat);
    event_free(h->flush);
    sse_buf_cleanup(&h->batch);
    free(h);
}

struct sse_client *sse_hub_add(struct sse_hub *h, struct evhttp_request *req, sse_filter_fn filter,
                               sse_close_fn on_close, void *arg)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct sse_client *c = xcalloc(1, sizeof(*c));

    c->hub = h;
    c->evcon = evcon;
    c->filter = filter;
    c->on_close = on_close;
    c->arg = arg;
    snprintf(c->peer, sizeof(c->peer), "%s", evcon ? http_req_peer(req) : "?");
    http_add_header(req, "Cache-Control", "no-cache");
    c->st = http_stream_start(req, 200, "text/event-stream", sse_client_stream_closed, c);
    if (c->st == NULL) {
        free(c);
        return NULL;
    }
    /* An event subscriber (pacer-lb on Pacer) is a registered client: its
     * address keeps reserved connection slots (http_conn.c). */
    http_stream_set_registered(c->st);
    /* Joining mid-turn: none of the turn's earlier events are c's. */
    c->own_turn = h->batch.len > 0;
    TAILQ_INSERT_TAIL(&h->clients, c, next);
    h->count++;
    log_debug("sse: subscriber %s joined (%zu)", c->peer, h->count);
    return c;
}

void sse_client_close(struct sse_client *c)
{
    if (c)
        sse_client_end(c, NULL, false);
}

size_t sse_hub_count(const struct sse_hub *h)
{
    return h->count;
}

unsigned long sse_hub_dropped(const struct sse_hub *h)
{
    return h->dropped;
}

void sse_hub_stats(const struct sse_hub *h, unsigned long *chunks, unsigned long *shared)
{
    if (chunks)
        *chunks = h->chunks;
    if (shared)
        *shared = h->shared;
}

/* ---------------------------------------------------------------- parser */

enum sse_parser_state {
    SSE_BOM,    /* at the start: maybe inside a UTF-8 byte order mark */
    SSE_LINES,  /* reading lines */
    SSE_FAILED, /* oversized or stopped by the callback: refuse all */
};

struct sse_parser {
    enum sse_parser_state state;
    size_t max_event;    /* largest line and largest event data accepted */
    int bom_have;        /* bytes of the BOM matched so far */
    bool after_cr;       /* the last line ended with CR: skip one LF */
    struct sse_buf line; /* the current, unterminated line */
    struct sse_buf data; /* data buffer of the event being read */
    struct sse_buf type; /* event type buffer */
    struct sse_buf id;   /* last event id buffer */
    char *last_id;       /* last event id string (dispatched) */
    long retry;          /* last valid retry: in ms, -1 none */
};

static const unsigned char sse_bom[3] = { 0xef, 0xbb, 0xbf };

struct sse_parser *sse_parser_new(size_t max_event)
{
    struct sse_parser *p = xcalloc(1, sizeof(*p));

    p->state = SSE_BOM;
    p->max_event = max_event;
    p->retry = -1;
    p->last_id = xstrdup("");
    return p;
}

void sse_parser_free(struct sse_parser *p)
{
    if (p == NULL)
        return;
    sse_buf_cleanup(&p->line);
    sse_buf_cleanup(&p->data);
    sse_buf_cleanup(&p->type);
    sse_buf_cleanup(&p->id);
    free(p->last_id);
    free(p);
}

long sse_parser_retry(const struct sse_parser *p)
{
    return p->retry;
}

const char *sse_parser_last_id(const struct sse_parser *p)
{
    return p->last_id;
}

static int sse_fail(struct sse_parser *p, char **err, char *msg)
{
    p->state = SSE_FAILED;
    sse_buf_cleanup(&p->line);
    sse_buf_cleanup(&p->data);
    sse_buf_cleanup(&p->type);
    if (err)
        *err = msg;
    else
        free(msg);
    return -1;
}

/* An empty line: dispatch the event being read (WHATWG "dispatch"). */
static int sse_dispatch(struct sse_parser *p, sse_event_fn cb, void *arg, char **err)
{
    struct sse_event ev;
    int rc;

    free(p->last_id);
    p->last_id = xstrndup(p->id.p ? p->id.p : "", p->id.len);
    if (p->data.len == 0) {
        sse_buf_reset(&p->type);
        return 0;
    }
    p->data.p[--p->data.len] = '\0'; /* the last line's '\n' */
    ev.type = p->type.len ? p->type.p : "message";
    ev.data = p->data.p;
    ev.len = p->data.len;
    ev.id = p->last_id;
    rc = cb(&ev, arg);
    sse_buf_reset(&p->data);
    sse_buf_reset(&p->type);
    if (rc < 0)
        return sse_fail(p, err, xstrdup("sse: parsing stopped by the consumer"));
    return 0;
}

static bool sse_field_is(const char *f, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(f, name, n) == 0;
}

/* One complete line (without its terminator). */
static int sse_line(struct sse_parser *p, const char *s, size_t n, sse_event_fn cb, void *arg,
                    char **err)
{
    const char *colon, *v;
    size_t fn, vn;

    if (n == 0)
        return sse_dispatch(p, cb, arg, err);
    if (s[0] == ':')
        return 0; /* comment */
    colon = memchr(s, ':', n);
    fn = colon ? (size_t)(colon - s) : n;
    v = colon ? colon + 1 : s + n;
    vn = n - (size_t)(v - s);
    if (vn && *v == ' ') {
        v++;
        vn--;
    }
    if (sse_field_is(s, fn, "event")) {
        sse_buf_set(&p->type, v, vn);
    } else if (sse_field_is(s, fn, "data")) {
        if (p->data.len + vn > p->max_event)
            return sse_fail(
                p, err,
                xasprintf("sse: event data exceeds the maximum of %zu bytes", p->max_event));
        sse_buf_add(&p->data, v, vn);
        sse_buf_add(&p->data, "\n", 1);
    } else if (sse_field_is(s, fn, "id")) {
        if (memchr(v, '\0', vn) == NULL)
            sse_buf_set(&p->id, v, vn);
    } else if (sse_field_is(s, fn, "retry")) {
        long ms = 0;
        size_t i;

        for (i = 0; i < vn && v[i] >= '0' && v[i] <= '9' && ms <= 1000000000L; i++)
            ms = ms * 10 + (v[i] - '0');
        if (vn > 0 && i == vn)
            p->retry = ms;
    }
    /* Any other field is ignored. */
    return 0;
}

int sse_parser_feed(struct sse_parser *p, const char *data, size_t len, sse_event_fn cb, void *arg,
                    char **err)
{
    size_t i = 0;

    if (err)
        *err = NULL;
    if (p->state == SSE_FAILED)
        return sse_fail(p, err, xstrdup("sse: parser already failed; close the stream"));

    while (p->state == SSE_BOM && i < len) {
        if ((unsigned char)data[i] == sse_bom[p->bom_have]) {
            i++;
            if (++p->bom_have == 3)
                p->state = SSE_LINES;
            continue;
        }
        /* Not a BOM: what matched so far is ordinary line content. */
        sse_buf_add(&p->line, (const char *)sse_bom, (size_t)p->bom_have);
        p->state = SSE_LINES;
    }

    while (i < len) {
        size_t j = i;

        if (p->after_cr) {
            p->after_cr = false;
            if (data[i] == '\n') {
                i++;
                continue;
            }
        }
        while (j < len && data[j] != '\r' && data[j] != '\n')
            j++;
        if (p->line.len + (j - i) > p->max_event)
            return sse_fail(p, err,
                            xasprintf("sse: line exceeds the maximum of %zu bytes", p->max_event));
        if (j == len) {
            sse_buf_add(&p->line, data + i, j - i);
            break;
        }
        p->after_cr = data[j] == '\r';
        if (p->line.len == 0) {
            /* Whole line in this feed: no copy. */
            if (sse_line(p, data + i, j - i, cb, arg, err) < 0)
                return -1;
        } else {
            sse_buf_add(&p->line, data + i, j - i);
            if (sse_line(p, p->line.p, p->line.len, cb, arg, err) < 0)
                return -1;
            sse_buf_reset(&p->line);
        }
        i = j + 1;
    }
    return 0;
}
