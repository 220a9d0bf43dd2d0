/*
 * http_client: the client half of http.h on libevent's evhttp — one-shot
 * calls (http_call) and long-lived streaming requests (http_sub), plus
 * the small URL helpers.
 *
 * Each sub owns one evhttp_connection. A call takes a connection from the
 * keep-alive pool (per event_base and host:port) or makes one, and gives
 * it back when the response was complete and allowed keep-alive. While a
 * connection is idle evhttp watches it for EOF and resets it when the peer
 * closes; before reuse we also peek at the socket (a FIN that arrived in
 * this loop iteration is not yet processed). Non-idempotent requests
 * (POSTs: most slave and scheduler calls) thus go out on a connection
 * known open; only the FIN-in-flight race remains, and for idempotent
 * methods a failure on a reused connection is retried once on a new one.
 * Pool entries are tied to their base by their idle timer: event_base_free
 * deletes every pending event, so an entry whose timer is not pending
 * belongs to a freed base and is never touched again (a test may free a
 * base and get a new one at the same address).
 *
 * Lifetimes. evhttp keeps using a connection after invoking our request,
 * header and chunk callbacks (and in some paths invokes the request
 * callback from inside evhttp_make_request), so a connection is never freed
 * from inside one of its own callbacks. Instead:
 *  - a call records the outcome in its libevent callbacks (copying status,
 *    headers and body, since libevent frees the request on return) and
 *    delivers it from its own zero-delay event, where freeing is safe; so
 *    the user callback never runs inside http_call_start;
 *  - a sub delivers on_response/on_data/on_close synchronously (data is
 *    not copied), counts how deep it is in its own callbacks, and when
 *    closed from inside one (or after on_close) frees itself from its own
 *    zero-delay event instead. A closed sub ignores any further libevent
 *    callback, so no user callback runs after http_sub_close.
 * Timeouts are our own timers, because evhttp's are inactivity timeouts per
 * read/write and a sub needs "until the headers arrive" only.
 */
#include "http.h"
#include "http_tls.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "log.h"
#include "mem.h"
#include "timeutil.h"

#define HTTP_CLIENT_MAX_BODY (64 * 1024 * 1024)
#define HTTP_CLIENT_MAX_HEADERS (64 * 1024)
/* evhttp cannot disable its timeouts; "forever" is ten years. */
#define HTTP_FOREVER_SECS (10 * 365 * 86400)
/* Idle pooled connections: below evhttp's 50 s server-side idle timeout. */
#define HTTP_POOL_IDLE_SECS 15.0
#define HTTP_POOL_MAX_IDLE 32

/* ------------------------------------------------------------ helpers */

static int http_cmd_parse(const char *m, enum evhttp_cmd_type *out)
{
    static const struct {
        const char *name;
        enum evhttp_cmd_type type;
    } cmds[] = {
        { "GET", EVHTTP_REQ_GET },       { "POST", EVHTTP_REQ_POST },
        { "HEAD", EVHTTP_REQ_HEAD },     { "PUT", EVHTTP_REQ_PUT },
        { "DELETE", EVHTTP_REQ_DELETE }, { "OPTIONS", EVHTTP_REQ_OPTIONS },
        { "PATCH", EVHTTP_REQ_PATCH },
    };
    size_t i;

    for (i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
        if (strcmp(m, cmds[i].name) == 0) {
            *out = cmds[i].type;
            return 0;
        }
    }
    return -1;
}

static const char *http_error_reason(enum evhttp_request_error e)
{
    switch (e) {
    case EVREQ_HTTP_TIMEOUT:
        return "timeout";
    case EVREQ_HTTP_EOF:
        return "connection closed";
    case EVREQ_HTTP_INVALID_HEADER:
        return "invalid response header";
    case EVREQ_HTTP_BUFFER_ERROR:
        return "connection error";
    case EVREQ_HTTP_REQUEST_CANCEL:
        return "cancelled";
    case EVREQ_HTTP_DATA_TOO_LONG:
        return "response too large";
    }
    return "connection error";
}

/* Reason for a request that got no response. errno is what libevent left
 * (it restores the socket error before calling back on a failed request). */
static char *http_failure_reason(bool have_err, enum evhttp_request_error e, int saved_errno)
{
    if (have_err && e != EVREQ_HTTP_EOF)
        return xstrdup(http_error_reason(e));
    /* A refused connect reaches us through evhttp's connect cleanup, which
     * has already closed the socket: errno is then ENOTCONN. */
    if (saved_errno == ECONNREFUSED || (!have_err && saved_errno == ENOTCONN))
        return xstrdup("connection refused");
    if (saved_errno == ECONNRESET)
        return xstrdup("connection reset");
    if (saved_errno == EHOSTUNREACH || saved_errno == ENETUNREACH)
        return xstrdup("host unreachable");
    if (have_err)
        return xstrdup(http_error_reason(e));
    return xstrdup("cannot connect");
}

/* A Connection header value lists the "close" token (case-insensitive). */
static bool http_has_close(const char *v)
{
    for (; *v; v++) {
        if (strncasecmp(v, "close", 5) == 0)
            return true;
    }
    return false;
}

const char *http_header_get(struct evkeyvalq *headers, const char *name)
{
    return headers ? evhttp_find_header(headers, name) : NULL;
}

int http_parse_hostport(const char *s, int default_port, char **host, int *port)
{
    const char *p, *h, *hend, *end;
    long v = default_port;

    *host = NULL;
    if (s == NULL)
        return -1;
    p = s;
    if (strncmp(p, "http://", 7) == 0)
        p += 7;
    else if (strncmp(p, "https://", 8) == 0 && http_tls_client_enabled())
        p += 8; /* TLS is the process's (--ssl_*), not the URL's: only with it on */
    else if (strncmp(p, "//", 2) == 0)
        p += 2;
    else if (strstr(p, "://") != NULL)
        return -1; /* https and others: not spoken here */
    /* The authority ends at the path, query or fragment. */
    end = p + strcspn(p, "/?#");
    if (memchr(p, '@', (size_t)(end - p)))
        p = (const char *)memchr(p, '@', (size_t)(end - p)) + 1; /* drop userinfo */
    if (*p == '[') {
        /* [v6]:port */
        h = p + 1;
        hend = memchr(h, ']', (size_t)(end - h));
        if (hend == NULL)
            return -1;
        p = hend + 1;
    } else {
        h = p;
        hend = memchr(h, ':', (size_t)(end - h));
        if (hend == NULL)
            hend = end;
        p = hend;
    }
    if (hend == h)
        return -1;
    /* A name or an IPv4 address: nothing a resolver would choke on. */
    for (const char *c = h; *hend != ']' && c < hend; c++)
        if (!isalnum((unsigned char)*c) && *c != '.' && *c != '-' && *c != '_')
            return -1;
    if (p < end) {
        char *e;
        if (*p != ':' || p + 1 == end || !isdigit((unsigned char)p[1]))
            return -1;
        errno = 0;
        v = strtol(p + 1, &e, 10);
        if (e != end || errno != 0)
            return -1;
    }
    if (v <= 0 || v > 65535)
        return -1;
    *host = xstrndup(h, (size_t)(hend - h));
    *port = (int)v;
    return 0;
}

/* Build a connection to host:port with our defaults. */
static struct evhttp_connection *http_conn_new(struct event_base *base, const char *host, int port,
                                               double timeout_secs, bool plain)
{
    struct evhttp_connection *evcon;
    struct bufferevent *tls = plain ? NULL : http_tls_client_bev(base, host);
    if (!plain && http_tls_client_enabled() && tls == NULL)
        return NULL; /* never fall back to plain when TLS is on */

    /* No evdns base: libevent resolves names with a blocking getaddrinfo.
     * Agora passes IP literals or names from /etc/hosts, which resolve
     * without the network. With TLS on (http_tls.h) the connection runs
     * over a TLS bufferevent. */
    evcon =
        tls ? evhttp_connection_base_bufferevent_new(base, NULL, tls, host, (unsigned short)port)
            : evhttp_connection_base_new(base, NULL, host, (unsigned short)port);
    if (evcon == NULL)
        return NULL;
    /* Agora listens on IPv4; "localhost" must not resolve to ::1 first. */
    if (strchr(host, ':') == NULL)
        evhttp_connection_set_family(evcon, AF_INET);
    evhttp_connection_set_max_headers_size(evcon, HTTP_CLIENT_MAX_HEADERS);
    evhttp_connection_set_retries(evcon, 0);
    if (timeout_secs > 0) {
        struct timeval tv;
        tv = time_tv(timeout_secs);
        evhttp_connection_set_timeout_tv(evcon, &tv);
    }
    return evcon;
}

/* Client sockets are created inside evhttp; mark them close-on-exec so a
 * task forked by the slave does not keep our connections open. */
static void http_conn_cloexec(struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;

    if (fd >= 0)
        fcntl(fd, F_SETFD, fcntl(fd, F_GETFD) | FD_CLOEXEC);
}

/* Fill a request: Host, caller's headers, body, Content-Length. */
static void http_req_fill(struct evhttp_request *req, const char *host, int port,
                          const struct http_header *headers, size_t nheaders, const void *body,
                          size_t len, bool close)
{
    struct evkeyvalq *out = evhttp_request_get_output_headers(req);
    char hostport[300];
    size_t i;

    snprintf(hostport, sizeof(hostport), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, port);
    evhttp_add_header(out, "Host", hostport);
    for (i = 0; i < nheaders; i++) {
        if (headers[i].name && headers[i].value &&
            evhttp_add_header(out, headers[i].name, headers[i].value) < 0)
            log_warn("http: dropped invalid request header '%s'", headers[i].name);
    }
    if (close) {
        while (evhttp_remove_header(out, "Connection") == 0)
            ;
        evhttp_add_header(out, "Connection", "close");
    }
    if (len) {
        evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    }
    /* evhttp adds Content-Length only for POST and PUT. */
    if (evhttp_find_header(out, "Content-Length") == NULL) {
        char n[32];
        snprintf(n, sizeof(n), "%zu", len);
        if (len ||
            evhttp_request_get_command(req) & (EVHTTP_REQ_POST | EVHTTP_REQ_PUT | EVHTTP_REQ_PATCH))
            evhttp_add_header(out, "Content-Length", n);
    }
}

static bool http_args_ok(struct event_base *base, const char *host, int port, const char *method,
                         const char *path, enum evhttp_cmd_type *cmd)
{
    if (base == NULL || host == NULL || *host == '\0' || path == NULL || path[0] != '/' ||
        method == NULL || port <= 0 || port > 65535)
        return false;
    if (http_cmd_parse(method, cmd) < 0)
        return false;
    return true;
}

/* ------------------------------------------------------------ pool */

struct http_pool_conn {
    TAILQ_ENTRY(http_pool_conn) next;
    struct http_pool *pool;
    struct evhttp_connection *evcon;
    struct event *timer; /* idle deadline; not pending once the base is freed */
};

struct http_pool {
    TAILQ_ENTRY(http_pool) next;
    struct event_base *base;
    char *host;
    int port;
    TAILQ_HEAD(http_pool_conn_list, http_pool_conn) idle; /* most recently used first */
    size_t nidle;
};

static TAILQ_HEAD(, http_pool) http_pools = TAILQ_HEAD_INITIALIZER(http_pools);
/* Entries of freed bases: unusable, not freeable, kept reachable. */
static TAILQ_HEAD(, http_pool_conn) http_pool_orphans = TAILQ_HEAD_INITIALIZER(http_pool_orphans);
static double http_pool_idle_secs = HTTP_POOL_IDLE_SECS;
static size_t http_pool_max_idle = HTTP_POOL_MAX_IDLE;
static struct http_pool_stats http_pool_stats;

void http_pool_configure(double idle_secs, size_t max_idle)
{
    http_pool_idle_secs = idle_secs > 0 ? idle_secs : HTTP_POOL_IDLE_SECS;
    http_pool_max_idle = max_idle;
}

void http_pool_get_stats(struct http_pool_stats *out)
{
    *out = http_pool_stats;
}

static struct http_pool *http_pool_find(struct event_base *base, const char *host, int port,
                                        bool create)
{
    struct http_pool *p;

    TAILQ_FOREACH (p, &http_pools, next) {
        if (p->base == base && p->port == port && strcmp(p->host, host) == 0)
            return p;
    }
    if (!create)
        return NULL;
    p = xcalloc(1, sizeof(*p));
    p->base = base;
    p->host = xstrdup(host);
    p->port = port;
    TAILQ_INIT(&p->idle);
    TAILQ_INSERT_TAIL(&http_pools, p, next);
    return p;
}

/* Unlink pc from its pool; false when its base is gone (pc is orphaned). */
static bool http_pool_unlink(struct http_pool_conn *pc)
{
    TAILQ_REMOVE(&pc->pool->idle, pc, next);
    pc->pool->nidle--;
    http_pool_stats.idle--;
    /* Not event_pending(): that would lock the (possibly freed) base. A
     * timer that has fired but whose callback has not run yet is active,
     * not pending: its base is alive, and freeing pc (event_free) cancels
     * the callback. */
    if (!(pc->timer->ev_evcallback.evcb_flags &
          (EVLIST_TIMEOUT | EVLIST_ACTIVE | EVLIST_ACTIVE_LATER))) {
        TAILQ_INSERT_TAIL(&http_pool_orphans, pc, next);
        return false;
    }
    return true;
}

static void http_pool_conn_free(struct http_pool_conn *pc)
{
    event_free(pc->timer);
    if (pc->evcon)
        evhttp_connection_free(pc->evcon);
    free(pc);
}

/* An idle connection is usable: it has a socket, and the socket shows
 * neither EOF nor unsolicited bytes. */
static bool http_conn_alive(struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evhttp_connection_get_bufferevent(evcon);
    evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
    char b;

    if (fd < 0 || (bev && evbuffer_get_length(bufferevent_get_input(bev)) > 0))
        return false;
    if (recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) >= 0)
        return false;
    return errno == EAGAIN || errno == EWOULDBLOCK;
}

static void http_pool_on_idle(evutil_socket_t fd, short what, void *arg)
{
    struct http_pool_conn *pc = arg;

    (void)fd;
    (void)what;
    TAILQ_REMOVE(&pc->pool->idle, pc, next);
    pc->pool->nidle--;
    http_pool_stats.idle--;
    http_pool_stats.expired++;
    log_debug("http: pooled connection to %s:%d idle for %.0f s, closed", pc->pool->host,
              pc->pool->port, http_pool_idle_secs);
    http_pool_conn_free(pc); /* a timer callback: freeing is safe */
}

/* A usable idle connection to host:port, or NULL. */
static struct evhttp_connection *http_pool_take(struct event_base *base, const char *host, int port)
{
    struct http_pool *p = http_pool_find(base, host, port, false);
    struct http_pool_conn *pc;

    while (p && (pc = TAILQ_FIRST(&p->idle)) != NULL) {
        struct evhttp_connection *evcon = pc->evcon;

        if (!http_pool_unlink(pc))
            continue;
        pc->evcon = NULL;
        http_pool_conn_free(pc);
        if (http_conn_alive(evcon))
            return evcon;
        http_pool_stats.stale++;
        log_debug("http: pooled connection to %s:%d was closed by the peer", host, port);
        evhttp_connection_free(evcon);
    }
    return NULL;
}

/* Keep evcon for the next call to host:port (or free it: pool full). Must
 * not run inside one of evcon's evhttp callbacks. */
static void http_pool_put(struct event_base *base, const char *host, int port,
                          struct evhttp_connection *evcon)
{
    struct http_pool *p;
    struct http_pool_conn *pc;
    struct timeval tv;

    if (http_pool_max_idle == 0 || !http_conn_alive(evcon)) {
        evhttp_connection_free(evcon);
        return;
    }
    p = http_pool_find(base, host, port, true);
    while (p->nidle >= http_pool_max_idle) {
        pc = TAILQ_LAST(&p->idle, http_pool_conn_list);
        if (http_pool_unlink(pc))
            http_pool_conn_free(pc);
    }
    pc = xcalloc(1, sizeof(*pc));
    pc->pool = p;
    pc->evcon = evcon;
    pc->timer = evtimer_new(base, http_pool_on_idle, pc);
    tv = time_tv(http_pool_idle_secs);
    evtimer_add(pc->timer, &tv);
    TAILQ_INSERT_HEAD(&p->idle, pc, next);
    p->nidle++;
    http_pool_stats.idle++;
}

void http_pool_flush(struct event_base *base)
{
    struct http_pool *p;
    struct http_pool_conn *pc;

    TAILQ_FOREACH (p, &http_pools, next) {
        if (p->base != base)
            continue;
        while ((pc = TAILQ_FIRST(&p->idle)) != NULL) {
            if (http_pool_unlink(pc))
                http_pool_conn_free(pc);
        }
    }
}

/* ------------------------------------------------------------ calls */

struct http_call {
    struct event_base *base;
    struct evhttp_connection *evcon; /* NULL once freed or given back to the pool */
    struct event *timer;             /* overall deadline */
    struct event *deliver;           /* runs the user callback, then frees */
    http_response_fn cb;
    void *arg;
    bool done;       /* outcome recorded, delivery scheduled */
    bool delivering; /* inside cb: cancel is a no-op */
    bool have_err;
    enum evhttp_request_error err;
    int status; /* 0: failed, see error */
    char *error;
    struct evkeyvalq headers; /* copied response headers */
    struct evbuffer *body;    /* response body (moved out of evhttp) */
    /* The request, kept to send it again (retry on a fresh connection). */
    char *host;
    int port;
    enum evhttp_cmd_type cmd;
    char *path;
    struct http_header *req_headers; /* copies of the caller's headers */
    size_t nreq_headers;
    char *req_body;
    size_t req_len;
    double timeout_secs;
    bool reused;   /* evcon came from the pool */
    bool retried;  /* already sent a second time */
    bool no_reuse; /* the caller asked for Connection: close */
    bool plain;    /* plain HTTP even with TLS on (http_call_start_plain) */
};

static void http_call_free(struct http_call *c)
{
    size_t i;

    if (c->evcon)
        evhttp_connection_free(c->evcon);
    event_free(c->timer);
    event_free(c->deliver);
    evhttp_clear_headers(&c->headers);
    evbuffer_free(c->body);
    free(c->error);
    free(c->host);
    free(c->path);
    for (i = 0; i < c->nreq_headers; i++) {
        free((char *)c->req_headers[i].name);
        free((char *)c->req_headers[i].value);
    }
    free(c->req_headers);
    free(c->req_body);
    free(c);
}

/* The response was complete and allows keep-alive on this connection. */
static bool http_call_keepalive(const struct http_call *c)
{
    const char *conn = evhttp_find_header(&c->headers, "Connection");

    if (c->status == 0 || c->no_reuse || c->evcon == NULL)
        return false;
    return conn == NULL || !http_has_close(conn);
}

static bool http_cmd_idempotent(enum evhttp_cmd_type cmd)
{
    return cmd & (EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_PUT | EVHTTP_REQ_DELETE |
                  EVHTTP_REQ_OPTIONS);
}

static void http_call_run_cb(struct http_call *c)
{
    struct http_response resp;

    memset(&resp, 0, sizeof(resp));
    resp.status = c->status;
    resp.error = c->status == 0 ? (c->error ? c->error : "connection failed") : NULL;
    resp.headers = c->status == 0 ? NULL : &c->headers;
    evbuffer_add(c->body, "", 1);
    resp.len = evbuffer_get_length(c->body) - 1;
    resp.body = (const char *)evbuffer_pullup(c->body, -1);
    if (http_call_keepalive(c)) {
        /* Before cb, so that a call cb starts can reuse it at once. */
        http_pool_put(c->base, c->host, c->port, c->evcon);
        c->evcon = NULL;
    }
    c->delivering = true;
    c->cb(&resp, c->arg);
    http_call_free(c);
}

static int http_call_send(struct http_call *c);

/* A reused connection failed before any response: the peer closed it
 * while it was idle (a FIN we had not seen yet). Send an idempotent
 * request once more, on a new connection. Runs from our own event, where
 * the old connection may be freed. 0 when resent. */
static int http_call_retry(struct http_call *c)
{
    if (c->status != 0 || !c->reused || c->retried || !http_cmd_idempotent(c->cmd) ||
        c->evcon == NULL)
        return -1;
    log_debug("http: retrying %s:%d%s on a new connection (%s)", c->host, c->port, c->path,
              c->error ? c->error : "?");
    http_pool_stats.retries++;
    evhttp_connection_free(c->evcon);
    c->evcon = NULL;
    c->retried = true;
    c->reused = false;
    c->done = false;
    c->have_err = false;
    free(c->error);
    c->error = NULL;
    if (http_call_send(c) < 0 && !c->done)
        return -1;
    return 0;
}

static void http_call_deliver(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    if (http_call_retry(arg) == 0)
        return;
    http_call_run_cb(arg);
}

static void http_call_record_failure(struct http_call *c, const char *reason)
{
    c->status = 0;
    free(c->error);
    c->error = xstrdup(reason);
    c->done = true;
    event_del(c->timer);
    event_active(c->deliver, EV_TIMEOUT, 1);
}

static void http_call_on_error(enum evhttp_request_error e, void *arg)
{
    struct http_call *c = arg;

    c->have_err = true;
    c->err = e;
}

/* evhttp's request callback: record only (see file comment). */
static void http_call_on_done(struct evhttp_request *req, void *arg)
{
    struct http_call *c = arg;
    int saved_errno = errno;
    struct evkeyval *kv;

    if (c->done)
        return;
    if (req == NULL || evhttp_request_get_response_code(req) == 0) {
        char *reason = http_failure_reason(c->have_err, c->err, saved_errno);
        http_call_record_failure(c, reason);
        free(reason);
        return;
    }
    c->status = evhttp_request_get_response_code(req);
    TAILQ_FOREACH (kv, evhttp_request_get_input_headers(req), next)
        evhttp_add_header(&c->headers, kv->key, kv->value);
    evbuffer_add_buffer(c->body, evhttp_request_get_input_buffer(req));
    c->done = true;
    event_del(c->timer);
    event_active(c->deliver, EV_TIMEOUT, 1);
}

/* Our deadline: we are in a timer callback, so the connection can go now. */
static void http_call_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct http_call *c = arg;

    (void)fd;
    (void)what;
    if (c->done)
        return;
    evhttp_connection_free(c->evcon);
    c->evcon = NULL;
    c->done = true;
    c->status = 0;
    free(c->error);
    c->error = xstrdup("timeout");
    http_call_run_cb(c);
}

/* Send c's request on a pooled or new connection. -1 (failure recorded,
 * delivery scheduled) when it cannot be sent. */
static int http_call_send(struct http_call *c)
{
    struct evhttp_request *req;

    c->evcon = c->retried || c->no_reuse ? NULL : http_pool_take(c->base, c->host, c->port);
    c->reused = c->evcon != NULL;
    if (c->reused) {
        http_pool_stats.reuses++;
        if (c->timeout_secs > 0) {
            struct timeval tv;
            tv = time_tv(c->timeout_secs);
            evhttp_connection_set_timeout_tv(c->evcon, &tv);
        } else {
            evhttp_connection_set_timeout(c->evcon, -1); /* evhttp's default */
        }
    } else {
        c->evcon = http_conn_new(c->base, c->host, c->port, c->timeout_secs, c->plain);
        if (c->evcon == NULL) {
            http_call_record_failure(c, "cannot create connection");
            return -1;
        }
        http_pool_stats.connects++;
        evhttp_connection_set_max_body_size(c->evcon, HTTP_CLIENT_MAX_BODY);
    }
    req = evhttp_request_new(http_call_on_done, c);
    evhttp_request_set_error_cb(req, http_call_on_error);
    http_req_fill(req, c->host, c->port, c->req_headers, c->nreq_headers, c->req_body, c->req_len,
                  false);
    /* Any callback evhttp runs from in here only records (c->done). */
    if (evhttp_make_request(c->evcon, req, c->cmd, c->path) < 0) {
        if (!c->done)
            http_call_record_failure(c, "cannot send request");
        return -1;
    }
    http_conn_cloexec(c->evcon);
    return 0;
}

static struct http_call *http_call_begin(struct event_base *base, const char *host, int port,
                                         const char *method, const char *path,
                                         const struct http_header *headers, size_t nheaders,
                                         const void *body, size_t len, double timeout_secs,
                                         http_response_fn cb, void *arg, bool plain)
{
    struct http_call *c;
    enum evhttp_cmd_type cmd;
    size_t i;

    if (!http_args_ok(base, host, port, method, path, &cmd) || cb == NULL ||
        (len && body == NULL) || !(timeout_secs >= 0) || timeout_secs > HTTP_FOREVER_SECS)
        return NULL;
    c = xcalloc(1, sizeof(*c));
    c->base = base;
    c->cb = cb;
    c->arg = arg;
    c->host = xstrdup(host);
    c->port = port;
    c->cmd = cmd;
    c->path = xstrdup(path);
    c->timeout_secs = timeout_secs;
    c->plain = plain;
    c->req_headers = xcalloc(nheaders ? nheaders : 1, sizeof(*c->req_headers));
    for (i = 0; i < nheaders; i++) {
        if (headers[i].name == NULL || headers[i].value == NULL)
            continue;
        if (strcasecmp(headers[i].name, "Connection") == 0 && http_has_close(headers[i].value))
            c->no_reuse = true;
        c->req_headers[c->nreq_headers].name = xstrdup(headers[i].name);
        c->req_headers[c->nreq_headers].value = xstrdup(headers[i].value);
        c->nreq_headers++;
    }
    if (len) {
        c->req_body = xmalloc(len);
        memcpy(c->req_body, body, len);
        c->req_len = len;
    }
    TAILQ_INIT(&c->headers);
    c->body = evbuffer_new();
    c->timer = evtimer_new(base, http_call_on_timeout, c);
    c->deliver = event_new(base, -1, 0, http_call_deliver, c);
    if (timeout_secs > 0) {
        struct timeval tv;
        tv = time_tv(timeout_secs);
        evtimer_add(c->timer, &tv);
    }
    if (http_call_send(c) == 0)
        log_debug("http: %s %s://%s:%d%s%s", method, plain ? "http" : http_tls_scheme(), host, port,
                  path, c->reused ? " (reused connection)" : "");
    return c;
}

struct http_call *http_call_start(struct event_base *base, const char *host, int port,
                                  const char *method, const char *path,
                                  const struct http_header *headers, size_t nheaders,
                                  const void *body, size_t len, double timeout_secs,
                                  http_response_fn cb, void *arg)
{
    return http_call_begin(base, host, port, method, path, headers, nheaders, body, len,
                           timeout_secs, cb, arg, false);
}

struct http_call *http_call_start_plain(struct event_base *base, const char *host, int port,
                                        const char *method, const char *path,
                                        const struct http_header *headers, size_t nheaders,
                                        const void *body, size_t len, double timeout_secs,
                                        http_response_fn cb, void *arg)
{
    return http_call_begin(base, host, port, method, path, headers, nheaders, body, len,
                           timeout_secs, cb, arg, true);
}

void http_call_cancel(struct http_call *c)
{
    if (c == NULL || c->delivering)
        return; /* inside its own callback: freed when that returns */
    http_call_free(c);
}

/* ------------------------------------------------------------ subs */

enum http_sub_state {
    SUB_CONNECTING, /* request sent, waiting for status and headers */
    SUB_STREAMING,  /* headers seen, body flowing through on_data */
    SUB_CLOSED,     /* closed by us or ended; no callback runs any more */
};

static const char *const http_sub_state_names[] = {
    [SUB_CONNECTING] = "CONNECTING",
    [SUB_STREAMING] = "STREAMING",
    [SUB_CLOSED] = "CLOSED",
};

struct http_sub {
    enum http_sub_state state;
    struct event_base *base;
    struct evhttp_connection *evcon; /* NULL once freed */
    struct event *timer;             /* connect + headers deadline */
    struct event *reaper;            /* frees the sub outside evhttp callbacks */
    struct http_sub_callbacks cbs;
    void *arg;
    int in_cb;    /* depth inside this sub's evhttp callbacks */
    bool opening; /* inside http_sub_open */
    bool have_err;
    enum evhttp_request_error err;
    char *pending_reason; /* on_close to run from the reaper */
    char desc[320];       /* "POST host:port/path", for logs */
};

static void http_sub_set_state(struct http_sub *s, enum http_sub_state to)
{
    if (s->state == to)
        return;
    log_debug("http: sub %s %s -> %s", s->desc, http_sub_state_names[s->state],
              http_sub_state_names[to]);
    s->state = to;
}

static void http_sub_free(struct http_sub *s)
{
    if (s->evcon)
        evhttp_connection_free(s->evcon);
    event_free(s->timer);
    event_free(s->reaper);
    free(s->pending_reason);
    free(s);
}

/* Runs on the loop, outside any evhttp callback of this sub: deliver an
 * on_close that could not run earlier, then free. */
static void http_sub_reap(evutil_socket_t fd, short what, void *arg)
{
    struct http_sub *s = arg;

    (void)fd;
    (void)what;
    if (s->state != SUB_CLOSED && s->pending_reason) {
        http_sub_set_state(s, SUB_CLOSED);
        if (s->cbs.on_close)
            s->cbs.on_close(s, s->pending_reason, s->arg);
    }
    http_sub_free(s);
}

/* The stream ended (any reason). Called from evhttp callbacks or timers. */
static void http_sub_finish(struct http_sub *s, const char *reason)
{
    if (s->state == SUB_CLOSED)
        return;
    event_del(s->timer);
    if (s->opening) {
        /* Never call back before http_sub_open has returned s. */
        free(s->pending_reason);
        s->pending_reason = xstrdup(reason);
        event_active(s->reaper, EV_TIMEOUT, 1);
        return;
    }
    log_debug("http: sub %s ended: %s", s->desc, reason);
    http_sub_set_state(s, SUB_CLOSED);
    if (s->cbs.on_close)
        s->cbs.on_close(s, reason, s->arg);
    /* evhttp is still on the stack: free from the loop. */
    event_active(s->reaper, EV_TIMEOUT, 1);
}

static int http_sub_on_headers(struct evhttp_request *req, void *arg)
{
    struct http_sub *s = arg;
    struct bufferevent *bev;
    int status = evhttp_request_get_response_code(req);

    if (s->state != SUB_CONNECTING)
        return 0;
    event_del(s->timer);
    /* From here the body may legitimately stay silent forever. */
    evhttp_connection_set_timeout(s->evcon, HTTP_FOREVER_SECS);
    bev = evhttp_connection_get_bufferevent(s->evcon);
    if (bev)
        bufferevent_set_timeouts(bev, NULL, NULL);
    http_sub_set_state(s, SUB_STREAMING);
    s->in_cb++;
    if (s->cbs.on_response)
        s->cbs.on_response(s, status, evhttp_request_get_input_headers(req), s->arg);
    s->in_cb--;
    return 0;
}

static void http_sub_on_chunk(struct evhttp_request *req, void *arg)
{
    struct http_sub *s = arg;
    struct evbuffer *buf = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(buf);

    if (s->state != SUB_STREAMING || n == 0 || s->cbs.on_data == NULL)
        return;
    s->in_cb++;
    /* evhttp drains the buffer after we return. */
    s->cbs.on_data(s, (const char *)evbuffer_pullup(buf, -1), n, s->arg);
    s->in_cb--;
}

static void http_sub_on_error(enum evhttp_request_error e, void *arg)
{
    struct http_sub *s = arg;

    s->have_err = true;
    s->err = e;
}

static void http_sub_on_done(struct evhttp_request *req, void *arg)
{
    struct http_sub *s = arg;
    int saved_errno = errno;
    char *reason;

    if (s->state == SUB_CLOSED)
        return;
    log_debug("http: sub %s done: req=%p code=%d have_err=%d err=%d errno=%d", s->desc, (void *)req,
              req ? evhttp_request_get_response_code(req) : -1, s->have_err, (int)s->err,
              saved_errno);
    if (req != NULL && evhttp_request_get_response_code(req) != 0 && !s->have_err) {
        reason = xstrdup("eof");
    } else if (s->state == SUB_STREAMING && (!s->have_err || s->err == EVREQ_HTTP_EOF)) {
        /* Body cut short after the headers: the peer went away. */
        reason = xstrdup("connection closed");
    } else {
        reason = http_failure_reason(s->have_err, s->err, saved_errno);
    }
    s->in_cb++;
    http_sub_finish(s, reason);
    s->in_cb--;
    free(reason);
}

static void http_sub_on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct http_sub *s = arg;

    (void)fd;
    (void)what;
    if (s->state != SUB_CONNECTING)
        return;
    log_debug("http: sub %s timed out waiting for the response", s->desc);
    /* A timer callback: the connection can be freed right here. */
    evhttp_connection_free(s->evcon);
    s->evcon = NULL;
    http_sub_set_state(s, SUB_CLOSED);
    if (s->cbs.on_close)
        s->cbs.on_close(s, "timeout", s->arg);
    http_sub_free(s);
}

struct http_sub *http_sub_open(struct event_base *base, const char *host, int port,
                               const char *method, const char *path,
                               const struct http_header *headers, size_t nheaders, const void *body,
                               size_t len, double connect_timeout_secs,
                               const struct http_sub_callbacks *cbs, void *arg)
{
    struct http_sub *s;
    struct evhttp_request *req;
    enum evhttp_cmd_type cmd;

    if (!http_args_ok(base, host, port, method, path, &cmd) || cbs == NULL ||
        (len && body == NULL) || !(connect_timeout_secs >= 0) ||
        connect_timeout_secs > HTTP_FOREVER_SECS)
        return NULL;
    s = xcalloc(1, sizeof(*s));
    s->state = SUB_CONNECTING;
    s->base = base;
    s->cbs = *cbs;
    s->arg = arg;
    s->opening = true;
    snprintf(s->desc, sizeof(s->desc), "%s %s:%d%s", method, host, port, path);
    s->timer = evtimer_new(base, http_sub_on_timeout, s);
    s->reaper = event_new(base, -1, 0, http_sub_reap, s);
    if (connect_timeout_secs > 0) {
        struct timeval tv;
        tv = time_tv(connect_timeout_secs);
        evtimer_add(s->timer, &tv);
    }

    s->evcon = http_conn_new(base, host, port, connect_timeout_secs, false);
    if (s->evcon == NULL) {
        http_sub_finish(s, "cannot create connection");
        goto out;
    }
    req = evhttp_request_new(http_sub_on_done, s);
    evhttp_request_set_header_cb(req, http_sub_on_headers);
    evhttp_request_set_chunked_cb(req, http_sub_on_chunk);
    evhttp_request_set_error_cb(req, http_sub_on_error);
    http_req_fill(req, host, port, headers, nheaders, body, len, false);
    if (evhttp_make_request(s->evcon, req, cmd, path) < 0) {
        http_sub_finish(s, "cannot send request");
        goto out;
    }
    http_conn_cloexec(s->evcon);
    log_debug("http: sub %s opened", s->desc);
out:
    s->opening = false;
    return s;
}

void http_sub_close(struct http_sub *s)
{
    if (s == NULL || s->state == SUB_CLOSED)
        return; /* includes: from inside its own on_close */
    log_debug("http: sub %s closed by us", s->desc);
    http_sub_set_state(s, SUB_CLOSED);
    event_del(s->timer);
    if (s->in_cb > 0 || s->pending_reason) {
        /* evhttp is on the stack (or the reaper is already due): defer. */
        event_active(s->reaper, EV_TIMEOUT, 1);
        return;
    }
    http_sub_free(s);
}
