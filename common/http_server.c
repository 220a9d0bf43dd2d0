/*
 * http_server: the server half of http.h on libevent's evhttp — binding,
 * the route table, request accessors, replies, and long-lived chunked
 * streams (http_stream).
 *
 * evhttp enforces the body and header limits itself: a request whose
 * Content-Length (or chunked body) exceeds max_body is answered 413 by
 * libevent before any handler runs. The server runs with
 * EVHTTP_SERVER_LINGERING_CLOSE so that libevent drains the rest of an
 * oversized body before closing; without it the close would reset the
 * connection and the client would usually see ECONNRESET instead of 413.
 *
 * Deadlines and accept back-off (a hostile client must not stall the
 * daemon). Until its first request has been read, a connection may stay
 * silent at most http_header_timeout seconds (evhttp's connection timeout,
 * reset by every byte received: it bounds the request line, the headers
 * and the body alike); once a request has been dispatched the connection's
 * timeout becomes http_idle_timeout, which bounds a slow handler, an idle
 * keep-alive connection and the requests that follow on it. Streams
 * replace both with their own (no read timeout, a write timeout), so the
 * deadlines never cut a scheduler, slave, operator or SSE stream.
 * When accept() fails for lack of descriptors (EMFILE, ENFILE) or memory,
 * libevent would retry at once, forever, and log every failure; our error
 * callback instead disables the listener and re-enables it on a timer
 * (HTTP_ACCEPT_BACKOFF_MIN doubling to _MAX), so the daemon keeps serving
 * the connections it has and pending ones wait in the kernel's queue.
 *
 * Stream lifetime (the subtle part). A stream is a request whose reply was
 * started with evhttp_send_reply_start and not yet ended. When the peer goes
 * away, evhttp (EOF on the read side, which it keeps enabled for close
 * detection, or a write error) detaches the unfinished request from its
 * connection (req->evcon = NULL) and frees the connection, calling the
 * connection's closecb first. Our closecb therefore: runs on_close once,
 * frees the detached request (evhttp_request_free, libevent will not), and
 * frees the stream. When the connection is freed for another reason (the
 * whole server is freed) the request is still attached and libevent frees
 * it; we only run on_close. http_stream_close clears the closecb before
 * ending the reply, so on_close can never run after it.
 */
#include "http.h"

#include <errno.h>
#include <netdb.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>

#include "http_conn.h"
#include "http_tls.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "timeutil.h"

#define HTTP_MAX_HEADERS_SIZE (64 * 1024)
/* evhttp buffers bodies up to this multiple of max_body, so that a body a
 * little over the limit reaches the dispatcher, which answers 413 in the
 * server's own format. Beyond it libevent answers 413 itself (its HTML
 * page); either way no more than this is ever buffered. */
#define HTTP_BODY_CEILING 2
/* Largest write of a stream's backlog per writable event. */
#define HTTP_STREAM_MAX_SINGLE_WRITE (256 * 1024)
/* Room for a chunk header ("<hex>\r\n" of a size_t, NUL). */
#define HTTP_CHUNK_HDR_MAX 24
/* Shared chunks smaller than this are copied instead of referenced. */
#define HTTP_CHUNK_COPY_MAX 512
/* A stream whose peer does not read for this long is dropped. */
#define HTTP_STREAM_WRITE_TIMEOUT_SECS 60
/* Listener pause after a failed accept(): doubles while accept keeps
 * failing, back to the minimum once it works for a while. */
#define HTTP_ACCEPT_BACKOFF_MIN 0.05
#define HTTP_ACCEPT_BACKOFF_MAX 1.6
/* Pseudo-headers we stash on the request: a ':' can never appear in a
 * header name that came off the wire, so clients cannot forge them. */
#define HDR_PATH ":agora-path"
#define HDR_BODY_NUL ":agora-body-nul"

struct http_route {
    char *method; /* NULL: any method */
    char *path;
    bool prefix; /* match path as a prefix */
    http_handler_fn fn;
    void *arg;
    struct http_route *next;
};

struct http_server {
    struct event_base *base;
    struct evhttp *http;
    struct evhttp_bound_socket *bound;
    int port;                  /* port actually bound */
    size_t max_body;           /* our limit; evhttp's is HTTP_BODY_CEILING x it */
    struct http_route *routes; /* in registration order */
    struct http_route **routes_tail;
    http_handler_fn handler; /* replaces the route list when set (rest.c) */
    void *handler_arg;
    struct evconnlistener *lev;   /* owned by http (evhttp_bind_listener) */
    struct event *accept_resume;  /* re-enables lev after a failed accept */
    double accept_backoff;        /* current pause, seconds */
    double accept_resumed_at;     /* time_mono of the last re-enable */
    struct timeval idle_tv;       /* connection timeout once a request was read */
    struct http_admit *admit;     /* caps on new connections (http_conn.c) */
    struct http_server *next_srv; /* in http_servers */
};

/* Process-wide defaults for servers created afterwards (daemon flags). */
static double http_header_timeout = HTTP_DEFAULT_HEADER_TIMEOUT;
static double http_idle_timeout = HTTP_DEFAULT_IDLE_TIMEOUT;
/* Every live server: the listener's error callback gets evhttp's arg, not
 * ours, so it finds its server here. */
static struct http_server *http_servers;

void http_server_set_timeouts(double header_secs, double idle_secs)
{
    if (header_secs > 0)
        http_header_timeout = header_secs;
    if (idle_secs > 0)
        http_idle_timeout = idle_secs;
}

/* ------------------------------------------------------------ helpers */

static const char *http_cmd_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return "UNKNOWN";
}

const char *http_req_method(struct evhttp_request *req)
{
    return http_cmd_name(evhttp_request_get_command(req));
}

/* Remove every instance of a header (evhttp_remove_header drops one). */
static void remove_all_headers(struct evkeyvalq *h, const char *name)
{
    while (evhttp_remove_header(h, name) == 0)
        ;
}

const char *http_req_path(struct evhttp_request *req)
{
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const struct evhttp_uri *uri;
    const char *raw, *cached;
    char *decoded;

    cached = evhttp_find_header(in, HDR_PATH);
    if (cached)
        return cached;
    uri = evhttp_request_get_evhttp_uri(req);
    raw = uri ? evhttp_uri_get_path(uri) : NULL;
    if (raw == NULL || *raw == '\0')
        raw = "/";
    size_t len;
    decoded = evhttp_uridecode(raw, 0, &len);
    if (decoded == NULL)
        return "/";
    /* Kept on the request so its lifetime is the request's. A decoded
     * path holding CR/LF is refused by evhttp_add_header, one holding a NUL
     * ("%00") or not starting with '/' (evhttp takes "GET x HTTP/1.1") would
     * be cut or unanchored (fuzz_http: an empty path read before its first
     * byte); such a path is never a real route, so "/" (which then 404s or
     * lists) is fine. */
    if (strlen(decoded) != len || decoded[0] != '/' ||
        evhttp_add_header(in, HDR_PATH, decoded) < 0) {
        free(decoded);
        return "/";
    }
    free(decoded);
    return evhttp_find_header(in, HDR_PATH);
}

const char *http_req_header(struct evhttp_request *req, const char *name)
{
    if (name[0] == ':')
        return NULL; /* our pseudo-headers are not the client's */
    return evhttp_find_header(evhttp_request_get_input_headers(req), name);
}

char *http_req_query(struct evhttp_request *req, const char *key)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
    struct evkeyvalq kv;
    const char *v;
    char *out = NULL;

    if (q == NULL)
        return NULL;
    TAILQ_INIT(&kv);
    if (evhttp_parse_query_str(q, &kv) < 0)
        goto out;
    v = evhttp_find_header(&kv, key);
    if (v)
        out = xstrdup(v);
out:
    evhttp_clear_headers(&kv);
    return out;
}

const char *http_req_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *b = evhttp_request_get_input_buffer(req);
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    size_t n;
    const char *p;

    /* Append a NUL once (remembered by a pseudo-header) so the body can be
     * handed to string parsers; it is not counted in *len. */
    if (evhttp_find_header(in, HDR_BODY_NUL) == NULL) {
        evbuffer_add(b, "", 1);
        evhttp_add_header(in, HDR_BODY_NUL, "1");
    }
    n = evbuffer_get_length(b);
    p = (const char *)evbuffer_pullup(b, -1);
    if (len)
        *len = n ? n - 1 : 0;
    return p ? p : "";
}

const char *http_req_peer(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    char *addr = NULL;
    ev_uint16_t port = 0;

    if (evcon == NULL)
        return "";
    evhttp_connection_get_peer(evcon, &addr, &port);
    return addr ? addr : "";
}

void http_add_header(struct evhttp_request *req, const char *name, const char *value)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    if (evhttp_add_header(out, name, value) < 0)
        log_warn("http: dropped invalid response header '%s'", name);
}

void http_reply(struct evhttp_request *req, int code, const char *content_type, const void *body,
                size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    if (content_type && evhttp_find_header(out, "Content-Type") == NULL)
        evhttp_add_header(out, "Content-Type", content_type);
    if (len)
        evbuffer_add(buf, body, len);
    /* NULL reason: libevent supplies the standard phrase for the code. */
    evhttp_send_reply(req, code, NULL, buf);
    evbuffer_free(buf);
}

void http_reply_file(struct evhttp_request *req, int code, const char *content_type, int fd,
                     size_t len)
{
    struct evbuffer *buf = evbuffer_new();
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);

    if (content_type && evhttp_find_header(out, "Content-Type") == NULL)
        evhttp_add_header(out, "Content-Type", content_type);
    struct evbuffer_file_segment *seg =
        len ? evbuffer_file_segment_new(fd, 0, (ev_off_t)len, EVBUF_FS_CLOSE_ON_FREE) : NULL;
    int rc = 0;

    /* The segment owns fd (closed when the last reference goes); our
     * reference is dropped once the buffer holds its own. */
    if (seg == NULL)
        close(fd);
    else {
        rc = evbuffer_add_file_segment(buf, seg, 0, (ev_off_t)len);
        evbuffer_file_segment_free(seg);
    }
    if ((len && seg == NULL) || rc != 0) {
        evbuffer_free(buf);
        http_reply_text(req, 500, "cannot send the file");
        return;
    }
    evhttp_send_reply(req, code, NULL, buf);
    evbuffer_free(buf);
}

void http_reply_json(struct evhttp_request *req, int code, json_t *body)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;

    if (body && text == NULL) {
        http_reply_text(req, 500, "cannot encode the JSON response");
    } else {
        http_reply(req, code, "application/json", text ? text : "null", text ? strlen(text) : 4);
    }
    free(text);
    json_decref(body);
}

void http_reply_text(struct evhttp_request *req, int code, const char *fmt, ...)
{
    va_list ap;
    char *msg, *line;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    line = xasprintf("%s\n", msg);
    http_reply(req, code, "text/plain; charset=utf-8", line, strlen(line));
    free(line);
    free(msg);
}

/* ------------------------------------------------------------ routing */

static bool route_path_matches(const struct http_route *r, const char *path)
{
    if (r->prefix)
        return strncmp(path, r->path, strlen(r->path)) == 0;
    return strcmp(path, r->path) == 0;
}

static bool route_method_matches(const struct http_route *r, const char *method)
{
    return r->method == NULL || strcmp(r->method, method) == 0;
}

/* evhttp's catch-all callback: every request that passed libevent's own
 * checks (size limits, allowed methods, parse errors) arrives here. */
static void http_server_dispatch(struct evhttp_request *req, void *arg)
{
    struct http_server *s = arg;
    const char *method = http_req_method(req);
    const char *path = http_req_path(req);
    struct http_route *r, *get_route = NULL;
    bool path_known = false;
    char allow[128] = "";

    log_debug("http: %s %s from %s", method, path, http_req_peer(req));
    /* The request is in: from now on the idle deadline applies (a stream
     * started by the handler replaces it with its own). */
    if (evhttp_request_get_connection(req)) {
        evhttp_connection_set_timeout_tv(evhttp_request_get_connection(req), &s->idle_tv);
        http_conn_request_in(http_conn_of(evhttp_request_get_connection(req)));
    }
    if (s->handler) {
        /* The handler (rest.c) checks http_server_body_too_large itself. */
        s->handler(req, s->handler_arg);
        return;
    }
    if (http_server_body_too_large(s, req)) {
        http_reply_text(req, 413, "request body over the limit of %zu bytes", s->max_body);
        return;
    }
    for (r = s->routes; r; r = r->next) {
        if (!route_path_matches(r, path))
            continue;
        path_known = true;
        if (route_method_matches(r, method)) {
            r->fn(req, r->arg);
            return;
        }
        if (get_route == NULL && r->method && strcmp(r->method, "GET") == 0)
            get_route = r;
        /* Collect the Allow header for a possible 405. */
        if (r->method && strstr(allow, r->method) == NULL &&
            strlen(allow) + strlen(r->method) + 3 < sizeof(allow)) {
            if (allow[0])
                strcat(allow, ", ");
            strcat(allow, r->method);
        }
    }
    /* HEAD is GET without a body; evhttp drops the body for HEAD itself. */
    if (get_route && strcmp(method, "HEAD") == 0) {
        get_route->fn(req, get_route->arg);
        return;
    }
    if (path_known) {
        if (allow[0])
            http_add_header(req, "Allow", allow);
        http_reply_text(req, 405, "method %s not allowed on %s", method, path);
        return;
    }
    http_reply_text(req, 404, "no such path: %s", path);
}

bool http_server_body_too_large(const struct http_server *s, struct evhttp_request *req)
{
    size_t n = evbuffer_get_length(evhttp_request_get_input_buffer(req));
    struct evkeyvalq *in = evhttp_request_get_input_headers(req);

    /* http_req_body's NUL is not the client's. */
    if (n && evhttp_find_header(in, HDR_BODY_NUL))
        n--;
    return n > s->max_body;
}

size_t http_server_max_body(const struct http_server *s)
{
    return s->max_body;
}

void http_server_set_handler(struct http_server *s, http_handler_fn fn, void *arg)
{
    s->handler = fn;
    s->handler_arg = arg;
}

void http_server_route(struct http_server *s, const char *method, const char *path, bool prefix,
                       http_handler_fn fn, void *arg)
{
    struct http_route *r = xcalloc(1, sizeof(*r));

    r->method = method ? xstrdup(method) : NULL;
    r->path = xstrdup(path);
    r->prefix = prefix;
    r->fn = fn;
    r->arg = arg;
    *s->routes_tail = r;
    s->routes_tail = &r->next;
}

/* ------------------------------------------------------------ server */

static struct metric *http_metric_accept_errors(void)
{
    static struct metric *m;

    if (m == NULL)
        m = metrics_counter("agora_http_accept_errors_total",
                            "accept() failures (EMFILE, ENFILE, ENOMEM...) of HTTP listeners");
    return m;
}

static struct metric *http_metric_accept_pauses(void)
{
    static struct metric *m;

    if (m == NULL)
        m = metrics_counter("agora_http_accept_pauses_total",
                            "times an HTTP listener stopped accepting to back off");
    return m;
}

static void http_server_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    struct http_server *s = arg;

    (void)fd;
    (void)what;
    s->accept_resumed_at = time_mono();
    evconnlistener_enable(s->lev);
}

/* evconnlistener's error callback: accept() failed with something other
 * than EAGAIN/EINTR/ECONNABORTED. Without it libevent logs and retries at
 * once, which spins at 100 % CPU while descriptors are exhausted. */
static void http_server_accept_error(struct evconnlistener *lev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    struct http_server *s;
    struct timeval tv;

    (void)arg;
    for (s = http_servers; s && s->lev != lev; s = s->next_srv)
        ;
    metric_inc(http_metric_accept_errors(), 1);
    if (s == NULL) {
        evconnlistener_disable(lev);
        return;
    }
    /* Failing again soon after a resume: wait longer; otherwise the
     * shortage was new and the short pause is enough. */
    if (s->accept_backoff == 0 || time_mono() - s->accept_resumed_at > 2 * s->accept_backoff)
        s->accept_backoff = HTTP_ACCEPT_BACKOFF_MIN;
    else if (s->accept_backoff < HTTP_ACCEPT_BACKOFF_MAX)
        s->accept_backoff *= 2;
    log_warn("http: accept() on port %d failed: %s; not accepting for %.2f s", s->port,
             strerror(err), s->accept_backoff);
    metric_inc(http_metric_accept_pauses(), 1);
    evconnlistener_disable(lev);
    tv = time_tv(s->accept_backoff);
    event_add(s->accept_resume, &tv);
}

/* evhttp's hook for each accepted connection's bufferevent (TLS when on),
 * and our only way to see the connection before its first byte: the
 * admission (http_conn.c) decides on it later in this loop iteration. The
 * plain one is what evhttp would make itself. */
static struct bufferevent *http_server_bev(struct event_base *base, void *arg)
{
    struct http_server *s = arg;
    struct bufferevent *bev;

    if (http_tls_server_enabled()) {
        bev = http_tls_server_bev(base);
        if (bev)
            bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    } else {
        bev = bufferevent_socket_new(base, -1, 0);
    }
    if (bev)
        http_admit_bev(s->admit, bev);
    return bev;
}

struct http_server *http_server_new(struct event_base *base, const char *ip, int port,
                                    size_t max_body, char **err)
{
    struct http_server *s = NULL;
    struct addrinfo hints, *ai = NULL;
    struct evconnlistener *lev = NULL;
    struct sockaddr_storage ss;
    socklen_t sslen = sizeof(ss);
    char portstr[16];
    int rc;

    if (port < 0 || port > 65535) {
        if (err)
            *err = xasprintf("invalid port %d (expected 0-65535)", port);
        return NULL;
    }
    if (ip == NULL || *ip == '\0')
        ip = "0.0.0.0";
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    snprintf(portstr, sizeof(portstr), "%d", port);
    rc = getaddrinfo(ip, portstr, &hints, &ai);
    if (rc != 0) {
        if (err)
            *err = xasprintf("cannot resolve listen address '%s': %s", ip, gai_strerror(rc));
        goto fail;
    }

    /* A deep accept queue: after a master failover thousands of slaves
     * reconnect within a second, and an overflowing queue costs each of
     * them a SYN retransmit of 1, 3, 7, 15 s (the kernel caps this at
     * net.core.somaxconn). */
    enum { HTTP_LISTEN_BACKLOG = 4096 };
    /* Our own listener rather than evhttp_bind_socket: CLOSE_ON_EXEC so
     * that accepted connections are not inherited by the tasks a slave
     * forks (a leaked fd would hide a peer's close from us), REUSEABLE
     * (SO_REUSEADDR) for fast restarts. */
    lev = evconnlistener_new_bind(base, NULL, NULL,
                                  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
                                  HTTP_LISTEN_BACKLOG, ai->ai_addr, (int)ai->ai_addrlen);
    if (lev == NULL) {
        if (err)
            *err = xasprintf("cannot listen on %s:%d: %s", ip, port, strerror(errno));
        goto fail;
    }

    s = xcalloc(1, sizeof(*s));
    s->base = base;
    s->routes_tail = &s->routes;
    s->http = evhttp_new(base);
    if (s->http == NULL) {
        if (err)
            *err = xasprintf("evhttp_new failed");
        goto fail;
    }
    s->bound = evhttp_bind_listener(s->http, lev);
    if (s->bound == NULL) {
        if (err)
            *err = xasprintf("cannot attach listener on %s:%d", ip, port);
        goto fail;
    }
    s->lev = lev;
    lev = NULL; /* owned by s->http now */
    evconnlistener_set_error_cb(s->lev, http_server_accept_error);
    s->accept_resume = evtimer_new(base, http_server_accept_resume, s);

    if (getsockname(evhttp_bound_socket_get_fd(s->bound), (struct sockaddr *)&ss, &sslen) < 0) {
        if (err)
            *err = xasprintf("getsockname on %s:%d: %s", ip, port, strerror(errno));
        goto fail;
    }
    s->port = ss.ss_family == AF_INET6 ? ntohs(((struct sockaddr_in6 *)&ss)->sin6_port)
                                       : ntohs(((struct sockaddr_in *)&ss)->sin_port);

    s->max_body = max_body;
    evhttp_set_max_body_size(s->http, max_body > (size_t)EV_SSIZE_MAX / HTTP_BODY_CEILING
                                          ? EV_SSIZE_MAX
                                          : (ev_ssize_t)(max_body * HTTP_BODY_CEILING));
    evhttp_set_max_headers_size(s->http, HTTP_MAX_HEADERS_SIZE);
    evhttp_set_flags(s->http, EVHTTP_SERVER_LINGERING_CLOSE);
    evhttp_set_allowed_methods(s->http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
                                            EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD |
                                            EVHTTP_REQ_OPTIONS);
    evhttp_set_gencb(s->http, http_server_dispatch, s);
    s->admit = http_admit_new(base, s->port);
    evhttp_set_bevcb(s->http, http_server_bev, s);
    {
        struct timeval htv = time_tv(http_header_timeout);

        evhttp_set_timeout_tv(s->http, &htv);
        s->idle_tv = time_tv(http_idle_timeout);
    }
    s->next_srv = http_servers;
    http_servers = s;
    http_metric_accept_errors();
    http_metric_accept_pauses();
    freeaddrinfo(ai);
    log_info("http: listening on %s:%d", ip, s->port);
    return s;

fail:
    if (lev)
        evconnlistener_free(lev);
    if (ai)
        freeaddrinfo(ai);
    if (s) {
        if (s->http)
            evhttp_free(s->http);
        if (s->accept_resume)
            event_free(s->accept_resume);
        free(s);
    }
    return NULL;
}

int http_server_port(const struct http_server *s)
{
    return s->port;
}

void http_server_free(struct http_server *s)
{
    struct http_route *r, *next;
    struct http_server **pp;

    if (s == NULL)
        return;
    for (pp = &http_servers; *pp; pp = &(*pp)->next_srv) {
        if (*pp == s) {
            *pp = s->next_srv;
            break;
        }
    }
    event_free(s->accept_resume);
    /* Frees every connection; open streams get their on_close. */
    evhttp_free(s->http);
    http_admit_free(s->admit);
    for (r = s->routes; r; r = next) {
        next = r->next;
        free(r->method);
        free(r->path);
        free(r);
    }
    free(s);
}

/* ------------------------------------------------------------ streams */

enum http_stream_state {
    STREAM_OPEN,    /* reply started, chunks may be sent */
    STREAM_CLOSING, /* peer gone, on_close running; freed right after */
};

static const char *const http_stream_state_names[] = {
    [STREAM_OPEN] = "OPEN",
    [STREAM_CLOSING] = "CLOSING",
};

/* How a stream's body goes out (fixed when the reply starts). */
enum http_stream_framing {
    FRAMING_CHUNKED, /* HTTP/1.1: each send is one chunk */
    FRAMING_PLAIN,   /* HTTP/1.0: raw bytes until the connection closes */
    FRAMING_NONE,    /* HEAD or a bodiless status: sends are dropped */
};

struct http_stream {
    enum http_stream_state state;
    enum http_stream_framing framing;
    struct evhttp_request *req;      /* the request being answered */
    struct evhttp_connection *evcon; /* its connection */
    struct http_conn *conn;          /* its accounting, NULL if none; outlives st */
    http_stream_close_fn on_close;
    void *arg;
    char peer[64]; /* for logs */
};

static void http_stream_set_state(struct http_stream *st, enum http_stream_state to)
{
    log_debug("http: stream to %s %s -> %s", st->peer, http_stream_state_names[st->state],
              http_stream_state_names[to]);
    st->state = to;
}

/* The connection is being freed: peer closed, write error or timeout, or
 * the server is being freed. See the file comment for the request's fate. */
static void http_stream_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct http_stream *st = arg;
    bool detached = evhttp_request_get_connection(st->req) == NULL;

    (void)evcon;
    http_stream_set_state(st, STREAM_CLOSING);
    if (st->on_close)
        st->on_close(st, st->arg);
    /* An unfinished request that evhttp detached is ours to free now. */
    if (detached)
        evhttp_request_free(st->req);
    free(st);
}

struct http_stream *http_stream_start(struct evhttp_request *req, int code,
                                      const char *content_type, http_stream_close_fn on_close,
                                      void *arg)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    struct http_stream *st;
    struct timeval wtv = { HTTP_STREAM_WRITE_TIMEOUT_SECS, 0 };
    const char *peer;

    if (evcon == NULL) {
        /* Peer already gone (only possible for a deferred start). */
        evhttp_request_free(req);
        return NULL;
    }
    st = xcalloc(1, sizeof(*st));
    st->state = STREAM_OPEN;
    st->req = req;
    st->evcon = evcon;
    st->on_close = on_close;
    st->arg = arg;
    peer = http_req_peer(req);
    snprintf(st->peer, sizeof(st->peer), "%s", peer);

    if (content_type && evhttp_find_header(out, "Content-Type") == NULL)
        evhttp_add_header(out, "Content-Type", content_type);
    /* The connection ends with the stream (http_stream_close's contract). */
    remove_all_headers(out, "Connection");
    evhttp_add_header(out, "Connection", "close");
    evhttp_send_reply_start(req, code, NULL);
    /* evhttp chose the framing; sends write to the socket's buffer
     * themselves (see http_stream_output), so they must know it. */
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD || code < 200 || code == 204 ||
        code == 304)
        st->framing = FRAMING_NONE;
    else if (evhttp_find_header(out, "Transfer-Encoding") != NULL)
        st->framing = FRAMING_CHUNKED;
    else
        st->framing = FRAMING_PLAIN;
    /* The connection's accounting owns evhttp's close callback. */
    st->conn = http_conn_of(evcon);
    if (st->conn)
        http_conn_set_stream(st->conn, http_stream_conn_closed, st);
    else
        evhttp_connection_set_closecb(evcon, http_stream_conn_closed, st);
    /* A stream's backlog goes out in large writes: by default a
     * bufferevent writes at most 16 KiB per writable event. */
    bufferevent_set_max_single_write(evhttp_connection_get_bufferevent(evcon),
                                     HTTP_STREAM_MAX_SINGLE_WRITE);
    /* evhttp keeps reading for close detection, with its default read
     * timeout: that would drop every quiet stream after 50 s. Streams have
     * no read timeout; a peer that stops reading still times out on write. */
    bufferevent_set_timeouts(evhttp_connection_get_bufferevent(evcon), NULL, &wtv);
    log_debug("http: stream to %s started (%d)", st->peer, code);
    return st;
}

/* The socket's output buffer of an open stream, NULL when it is gone.
 *
 * Sends append to it directly instead of through evhttp_send_reply_chunk
 * (which needs a temporary evbuffer per chunk, formats the chunk header
 * with a printf and re-enables the bufferevent every time): that is what
 * evhttp_send_reply_chunk does, minus the per-call overhead. The
 * bufferevent's callbacks are evhttp's since evhttp_send_reply_start, so
 * evhttp still sees write errors and the peer's EOF, and
 * evhttp_send_reply_end still writes the last chunk after these bytes. */
static struct evbuffer *http_stream_output(struct http_stream *st, struct bufferevent **bevp)
{
    struct bufferevent *bev;

    if (st == NULL || st->state != STREAM_OPEN || evhttp_request_get_connection(st->req) == NULL)
        return NULL;
    bev = evhttp_connection_get_bufferevent(st->evcon);
    if (bev == NULL)
        return NULL;
    *bevp = bev;
    return bufferevent_get_output(bev);
}

/* The write event must be on for the bytes to go (evhttp turned it on). */
static void http_stream_kick(struct bufferevent *bev)
{
    if ((bufferevent_get_enabled(bev) & EV_WRITE) == 0)
        bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static size_t http_chunk_header(char *hdr, size_t len)
{
    return (size_t)snprintf(hdr, HTTP_CHUNK_HDR_MAX, "%zx\r\n", len);
}

int http_stream_send(struct http_stream *st, const void *data, size_t len)
{
    struct bufferevent *bev = NULL;
    struct evbuffer *out = http_stream_output(st, &bev);
    char hdr[HTTP_CHUNK_HDR_MAX];

    if (out == NULL)
        return -1;
    if (len == 0 || st->framing == FRAMING_NONE)
        return 0; /* an empty chunk would end the chunked body */
    if (st->framing == FRAMING_CHUNKED)
        evbuffer_add(out, hdr, http_chunk_header(hdr, len));
    evbuffer_add(out, data, len);
    if (st->framing == FRAMING_CHUNKED)
        evbuffer_add(out, "\r\n", 2);
    http_stream_kick(bev);
    return 0;
}

/* One allocation: the refcount, then "<hex>\r\n" <payload> "\r\n". */
struct http_chunk {
    unsigned long refs;
    size_t len;     /* payload bytes */
    size_t hdr_len; /* bytes of "<hex>\r\n" before the payload */
    char bytes[];
};

struct http_chunk *http_chunk_new(const void *data, size_t len)
{
    char hdr[HTTP_CHUNK_HDR_MAX];
    size_t hl = http_chunk_header(hdr, len);
    struct http_chunk *ch = xmalloc(sizeof(*ch) + hl + len + 2);

    ch->refs = 1;
    ch->len = len;
    ch->hdr_len = hl;
    memcpy(ch->bytes, hdr, hl);
    if (len)
        memcpy(ch->bytes + hl, data, len);
    memcpy(ch->bytes + hl + len, "\r\n", 2);
    return ch;
}

void http_chunk_unref(struct http_chunk *ch)
{
    if (ch != NULL && --ch->refs == 0)
        free(ch);
}

size_t http_chunk_len(const struct http_chunk *ch)
{
    return ch->len;
}

/* evbuffer's cleanup of a reference: the bytes were written or dropped. */
static void http_chunk_release(const void *data, size_t len, void *arg)
{
    (void)data;
    (void)len;
    http_chunk_unref(arg);
}

int http_stream_send_chunk(struct http_stream *st, struct http_chunk *ch)
{
    struct bufferevent *bev = NULL;
    struct evbuffer *out = http_stream_output(st, &bev);
    const char *p;
    size_t n;

    if (out == NULL)
        return -1;
    if (ch->len == 0 || st->framing == FRAMING_NONE)
        return 0;
    p = st->framing == FRAMING_CHUNKED ? ch->bytes : ch->bytes + ch->hdr_len;
    n = st->framing == FRAMING_CHUNKED ? ch->hdr_len + ch->len + 2 : ch->len;
    /* Small: a copy into the buffer's last chain is cheaper than a
     * reference (a chain of its own, allocated and freed). */
    if (n < HTTP_CHUNK_COPY_MAX) {
        evbuffer_add(out, p, n);
    } else {
        ch->refs++;
        if (evbuffer_add_reference(out, p, n, http_chunk_release, ch) < 0) {
            ch->refs--;
            return -1;
        }
    }
    http_stream_kick(bev);
    return 0;
}

size_t http_stream_pending(const struct http_stream *st)
{
    struct bufferevent *bev;

    if (st == NULL || st->state != STREAM_OPEN)
        return 0;
    bev = evhttp_connection_get_bufferevent(st->evcon);
    return bev ? evbuffer_get_length(bufferevent_get_output(bev)) : 0;
}

void http_stream_set_registered(struct http_stream *st)
{
    if (st && st->state == STREAM_OPEN && st->conn)
        http_conn_set_registered(st->conn);
}

void http_stream_close(struct http_stream *st)
{
    if (st == NULL)
        return;
    /* From inside its own on_close: the stream is freed when that returns. */
    if (st->state == STREAM_CLOSING)
        return;
    log_debug("http: stream to %s closed by us", st->peer);
    /* No on_close after this point, whatever happens to the connection. */
    if (st->conn)
        http_conn_set_close(st->conn, NULL, NULL);
    else
        evhttp_connection_set_closecb(st->evcon, NULL, NULL);
    /* Writes the last chunk; with "Connection: close" evhttp frees the
     * request and the connection once it is flushed (or fails). */
    evhttp_send_reply_end(st->req);
    free(st);
}
