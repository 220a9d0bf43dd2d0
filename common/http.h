/*
 * http: HTTP/1.1 server and client on libevent's evhttp, for the daemons'
 * single event loop. Nothing here blocks.
 *
 * Server: binding, request accessors, replies and streams. Daemons route
 * through the REST layer (rest.h: route tables, one error formatter),
 * installed with http_server_set_handler(); a plain route list remains for
 * tests. Handlers answer exactly once, with http_reply*() or by turning the
 * request into a stream with http_stream_start().
 *
 * Client: one-shot calls (http_call) and long-lived streaming requests
 * (http_sub) whose body arrives chunk by chunk, for RecordIO event streams
 * and Server-Sent Events. Redirects are not followed here: the caller sees
 * the 3xx and decides (see http_parse_location).
 */
#ifndef AGORA_HTTP_H
#define AGORA_HTTP_H

#include <stddef.h>
#include <stdbool.h>
#include <jansson.h>

struct event_base;
struct evhttp_request;
struct evkeyvalq;

/* ---------------------------------------------------------------- server */

struct http_server;
typedef void (*http_handler_fn)(struct evhttp_request *req, void *arg);

/* Bind ip:port (port 0 = any free port). max_body limits request bodies
 * and headers size. NULL with *err on failure. */
struct http_server *http_server_new(struct event_base *base, const char *ip, int port,
                                    size_t max_body, char **err);
void http_server_free(struct http_server *s);
/* Deadlines of servers created afterwards (process-wide; <= 0 keeps the
 * current value). header_secs: the longest silence while a connection's
 * first request (line, headers, body) is being received. idle_secs: the
 * longest silence once a request was read (slow handler, idle keep-alive,
 * later requests). Streams are never cut by either. See http_server.c. */
#define HTTP_DEFAULT_HEADER_TIMEOUT 10.0
#define HTTP_DEFAULT_IDLE_TIMEOUT 60.0
void http_server_set_timeouts(double header_secs, double idle_secs);
/* Connection caps and the request deadline, process-wide (http_conn.c):
 * at most max_conns connections over all servers, max_per_peer from one
 * peer address that is not registered (see http_stream_set_registered), a
 * tenth of max_conns kept for registered ones; a request must arrive in
 * full within body_secs of its first byte (streams never are cut). 0 (or
 * <= 0 for body_secs) derives the caps from RLIMIT_NOFILE / keeps the
 * deadline. Call before the first server. */
#define HTTP_DEFAULT_BODY_TIMEOUT 60.0
void http_server_set_limits(long max_conns, long max_per_peer, double body_secs);
/* The port actually bound. */
int http_server_port(const struct http_server *s);
/* method: "GET", "POST", ... or NULL for any. prefix: match path as a
 * prefix (e.g. "/files/") instead of exactly. Routes are tried in order. */
void http_server_route(struct http_server *s, const char *method, const char *path, bool prefix,
                       http_handler_fn fn, void *arg);
/* Hand every request to fn instead of the route list (the REST layer,
 * rest.h, installs its dispatcher here). NULL restores the list. */
void http_server_set_handler(struct http_server *s, http_handler_fn fn, void *arg);
/* The max_body given to http_server_new. evhttp itself accepts bodies up
 * to twice that (and answers larger ones 413 itself), so that the
 * dispatcher can refuse a body over the limit in the server's format. */
size_t http_server_max_body(const struct http_server *s);
/* Is req's body over the server's max_body? */
bool http_server_body_too_large(const struct http_server *s, struct evhttp_request *req);

/* Request accessors. Strings are owned by the request. */
const char *http_req_method(struct evhttp_request *req);
/* Decoded path without the query string; "/" at least. */
const char *http_req_path(struct evhttp_request *req);
const char *http_req_header(struct evhttp_request *req, const char *name);
/* Value of ?key=... (decoded, caller frees) or NULL when absent. */
char *http_req_query(struct evhttp_request *req, const char *key);
/* Whole request body, NUL-terminated (not counted in *len); owned by the
 * request and valid until the reply. Never NULL. */
const char *http_req_body(struct evhttp_request *req, size_t *len);
/* The peer's address, "ip". Owned by the connection. */
const char *http_req_peer(struct evhttp_request *req);

/* Add a response header before replying or starting a stream. */
void http_add_header(struct evhttp_request *req, const char *name, const char *value);
void http_reply(struct evhttp_request *req, int code, const char *content_type, const void *body,
                size_t len);
/* Replies with len bytes of the open file fd from its start, and closes
 * fd: libevent sends them from the file (sendfile or mmap where it can),
 * so a large file is neither read whole into memory nor on the loop at
 * once. */
void http_reply_file(struct evhttp_request *req, int code, const char *content_type, int fd,
                     size_t len);
/* Replies with compact JSON; takes ownership of body (json_decref). */
void http_reply_json(struct evhttp_request *req, int code, json_t *body);
/* Replies text/plain with the formatted message and a trailing newline. */
void http_reply_text(struct evhttp_request *req, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A chunked response kept open: event streams to frameworks and slaves. */
struct http_stream;
/* Called once when the peer goes away (never after http_stream_close).
 * The stream is freed right after the callback returns. */
typedef void (*http_stream_close_fn)(struct http_stream *st, void *arg);
struct http_stream *http_stream_start(struct evhttp_request *req, int code,
                                      const char *content_type, http_stream_close_fn on_close,
                                      void *arg);
/* The stream's peer is a registered slave or framework (a successful
 * SUBSCRIBE): while it is open, and for a grace period after, connections
 * from its address may use the reserved slots and are not held to the
 * per-peer cap. */
void http_stream_set_registered(struct http_stream *st);
/* Queue bytes as one chunk. -1 when the stream is already gone. */
int http_stream_send(struct http_stream *st, const void *data, size_t len);
/* A chunk formatted once (its HTTP/1.1 chunk framing included) and shared,
 * immutable and reference-counted, by any number of streams: what a
 * broadcast to many streams queues without copying it for each. */
struct http_chunk;
/* Copies data once; the chunk starts with one reference. len > 0. */
struct http_chunk *http_chunk_new(const void *data, size_t len);
/* Drops one reference; the last one frees it (streams hold their own
 * until the bytes are written or the connection is freed). */
void http_chunk_unref(struct http_chunk *ch);
size_t http_chunk_len(const struct http_chunk *ch); /* payload bytes */
/* Queue ch on st (a reference, not a copy, unless it is small). -1 when
 * the stream is already gone. */
int http_stream_send_chunk(struct http_stream *st, struct http_chunk *ch);
/* Bytes queued but not yet written to the socket (for backpressure). */
size_t http_stream_pending(const struct http_stream *st);
/* End the response, close the connection and free st; on_close not called. */
void http_stream_close(struct http_stream *st);

/* ---------------------------------------------------------------- client */

struct http_header {
    const char *name;
    const char *value;
};

struct http_response {
    int status;                /* 0 when no response: error says why */
    const char *error;         /* NULL unless status == 0 */
    struct evkeyvalq *headers; /* response headers (NULL when status == 0) */
    const char *body;          /* NUL-terminated, never NULL */
    size_t len;
};

typedef void (*http_response_fn)(const struct http_response *resp, void *arg);

struct http_call;
/* Send one request; cb runs exactly once (unless cancelled), on the loop,
 * never from within http_call_start itself. timeout_secs bounds connect +
 * response (0: no overall deadline). NULL only on bad arguments. */
struct http_call *http_call_start(struct event_base *base, const char *host, int port,
                                  const char *method, const char *path,
                                  const struct http_header *headers, size_t nheaders,
                                  const void *body, size_t len, double timeout_secs,
                                  http_response_fn cb, void *arg);
/* The same, in plain HTTP even when the process speaks TLS (http_tls.h):
 * for a task's own endpoints (health checks). Never pooled with TLS calls
 * (callers send Connection: close). */
struct http_call *http_call_start_plain(struct event_base *base, const char *host, int port,
                                        const char *method, const char *path,
                                        const struct http_header *headers, size_t nheaders,
                                        const void *body, size_t len, double timeout_secs,
                                        http_response_fn cb, void *arg);
/* cb will not be called; frees the call. */
void http_call_cancel(struct http_call *c);

/* Keep-alive pool of http_call connections, per event_base and host:port,
 * used transparently by http_call_start: a connection whose response was
 * complete and did not say "Connection: close" waits idle (at most
 * max_idle per host:port, at most idle_secs) for the next call to the same
 * host:port. An idle connection is checked for a peer close before reuse;
 * an idempotent call (GET HEAD PUT DELETE OPTIONS) that fails on a reused
 * connection is retried once on a fresh one. A request carrying its own
 * "Connection: close" is never pooled. http_subs are not pooled. */
struct http_pool_stats {
    unsigned long connects; /* connections created for calls */
    unsigned long reuses;   /* calls sent on a pooled connection */
    unsigned long stale;    /* pooled connections found closed and dropped */
    unsigned long retries;  /* idempotent calls retried after a reused one failed */
    unsigned long expired;  /* idle connections closed after idle_secs */
    unsigned long idle;     /* connections idle in the pool now */
};
/* Defaults: 15 s (evhttp servers close idle connections after 50 s) and 32.
 * max_idle 0 disables pooling. Applies to connections pooled afterwards. */
void http_pool_configure(double idle_secs, size_t max_idle);
void http_pool_get_stats(struct http_pool_stats *out);
/* Close base's idle connections now (before event_base_free, optional:
 * connections of a freed base are recognised and never reused). */
void http_pool_flush(struct event_base *base);

/* A long-lived request whose response body is consumed as it arrives. */
struct http_sub;
struct http_sub_callbacks {
    /* Status line and headers arrived. For a non-2xx status the (small) body
   * still goes through on_data, then on_close. */
    void (*on_response)(struct http_sub *s, int status, struct evkeyvalq *headers, void *arg);
    /* A piece of the body (not aligned to chunks or records). */
    void (*on_data)(struct http_sub *s, const char *data, size_t len, void *arg);
    /* The stream ended (reason: "eof", "connection refused", "timeout", ...).
   * Called exactly once unless http_sub_close was called; the sub is freed
   * right after it returns. */
    void (*on_close)(struct http_sub *s, const char *reason, void *arg);
};
/* connect_timeout_secs bounds connecting and receiving the headers; the
 * body may then stay open forever. NULL only on bad arguments. */
struct http_sub *http_sub_open(struct event_base *base, const char *host, int port,
                               const char *method, const char *path,
                               const struct http_header *headers, size_t nheaders, const void *body,
                               size_t len, double connect_timeout_secs,
                               const struct http_sub_callbacks *cbs, void *arg);
/* Close now; no callback runs afterwards. Safe to call from a callback. */
void http_sub_close(struct http_sub *s);

/* Case-insensitive header lookup on a response's headers (NULL if absent). */
const char *http_header_get(struct evkeyvalq *headers, const char *name);

/* Parse "host:port", "http://host:port/..." or "//host:port/..." into host
 * (caller frees) and port (default_port when absent); "https://..." too
 * once TLS is on for clients (http_tls_configure). 0 ok, -1 bad input. */
int http_parse_hostport(const char *s, int default_port, char **host, int *port);

#endif
