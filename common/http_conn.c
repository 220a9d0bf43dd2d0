/*
 * http_conn: admission of the HTTP servers' connections (a global and a
 * per-peer cap, with a reserve for registered slaves and frameworks) and
 * the deadline for receiving a whole request.
 *
 * Why caps. Every connection costs a descriptor, and the file limit
 * (RLIMIT_NOFILE) is shared with everything else the daemon opens: the
 * work_dir and log files, sockets to slaves, ZooKeeper and Docker, the
 * sandboxes' pipes. A client that opens connections up to the limit leaves
 * the daemon unable to open any of those, and then unable to accept its own
 * slaves. So connections stop well below the limit (HTTP_CONN_HEADROOM), one
 * peer address may hold only part of them, and the last HTTP_CONN_RESERVE of
 * them go only to registered peers.
 *
 * Registered peers (the reserve). A decision must be taken when the
 * connection is accepted, before any byte of a request, so the only thing
 * known is the peer's address. A peer address is "registered" while a stream
 * that its daemon marked with http_stream_set_registered is open from it — a
 * slave's or a framework's SUBSCRIBE on the master, pacer-lb's /v2/events on
 * Pacer — and for HTTP_CONN_REGISTERED_GRACE after the last one closed, so
 * that a slave or scheduler whose stream broke (or which restarted) can
 * re-subscribe, and so that their calls (STATUS_UPDATE, PONG, ACCEPT, ...
 * on connections of their own) get through while an attacker holds every
 * general slot. Only a successful SUBSCRIBE marks a stream (with
 * authentication on, that takes credentials), so an attacker cannot make
 * itself registered short of registering. Registered peers are held to the
 * global cap only, not the per-peer one: many slaves or frameworks may share
 * an address (NAT, the loopback quickstart, the bench). A master that has
 * just been elected knows no registered peer yet; until its slaves are back
 * they compete for the general slots, the per-peer cap keeping one attacking
 * address from taking them all.
 *
 * How (libevent 2.1 has no accept hook in evhttp: evhttp_set_newreqcb is
 * 2.2, evhttp_get_request is static). The server's bevcb runs synchronously
 * inside evhttp's accept callback and only returns a bufferevent; we make
 * that bufferevent ourselves, keep a reference on it and activate a
 * deferred event, which runs in the same loop iteration, before the new
 * socket can be read. There the bufferevent has its fd and its callbacks,
 * whose argument is the evhttp_connection (evhttp's own
 * bufferevent_setcb(bev, ..., evcon), checked against
 * evhttp_connection_get_bufferevent): the connection is counted and given
 * our close callback, or refused with evhttp_connection_free — nothing was
 * read from it, nothing is dispatched. Counting ends in that close callback
 * (evhttp calls it exactly once when it frees or resets a server
 * connection); streams put their own callback in ours
 * (http_conn_set_stream), so both run.
 *
 * The body deadline. evhttp's connection timeout (--http_header_timeout) is a
 * read timeout: every byte restarts it, so a client trickling a byte every
 * few seconds holds a connection forever. We watch the connection's input
 * buffer: the first bytes of a request (on a connection idle or whose
 * previous request was dispatched) start a timer of --http_body_timeout,
 * stopped when the request is dispatched; at expiry the socket is shut
 * down, which evhttp sees as the peer going away (its usual path, which
 * also detaches a request a handler may still hold). The deadline therefore
 * bounds the whole request, headers and body, from its first byte. Streams
 * never get one: their connection leaves the scheme for good. A pipelined
 * request sent while a slow handler still works on the previous one is
 * bounded from its arrival, like any other.
 */
#include "http_conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "timeutil.h"

/* Descriptors left to the daemon itself: a tenth of the limit, at least
 * this many. */
#define HTTP_CONN_HEADROOM_MIN 128
/* Share of the global cap kept for registered peers (1/N). */
#define HTTP_CONN_RESERVE_DIV 10
/* Default per-peer cap: this share of the global cap (1/N). */
#define HTTP_CONN_PER_PEER_DIV 4
/* A peer stays registered this long after its last registered stream
 * closed: a slave re-registers within seconds, a scheduler after its
 * failover, a restarted daemon after its recovery. */
#define HTTP_CONN_REGISTERED_GRACE (15 * 60.0)
#define HTTP_CONN_PEER_BUCKETS 4096

enum http_conn_state {
    CONN_IDLE,      /* between requests: no deadline */
    CONN_RECEIVING, /* a request's first bytes are in: deadline running */
    CONN_HANDLING,  /* the request was dispatched: no deadline */
    CONN_STREAM,    /* carries a stream: never a deadline */
};

static const char *const http_conn_state_names[] = {
    [CONN_IDLE] = "IDLE",
    [CONN_RECEIVING] = "RECEIVING",
    [CONN_HANDLING] = "HANDLING",
    [CONN_STREAM] = "STREAM",
};

struct http_peer {
    char addr[INET6_ADDRSTRLEN];
    long conns;             /* admitted connections open from addr */
    long streams;           /* registered streams open from addr */
    double registered_till; /* time_mono; registered while streams or before */
    struct http_peer *next; /* hash chain */
};

struct http_conn {
    enum http_conn_state state;
    struct evhttp_connection *evcon;
    struct bufferevent *bev;
    struct evbuffer_cb_entry *in_cb; /* on bev's input: a request's first bytes */
    int fd;
    int port; /* of the server, for logs */
    struct http_peer *peer;
    struct event *deadline;
    bool registered; /* counted in peer->streams */
    http_conn_close_fn on_close;
    void *on_close_arg;
};

struct http_admit {
    struct event_base *base;
    int port;
    struct event *check;          /* deferred: decides the pending bevs */
    struct bufferevent **pending; /* referenced (bufferevent_incref) */
    size_t npending, cap;
};

/* Limits: set by flags (0 = derive), derived once. */
static long conf_max, conf_per_peer;
static double conf_body_timeout = HTTP_DEFAULT_BODY_TIMEOUT;
static bool limits_derived;
static struct {
    long max;      /* global cap */
    long reserved; /* of max, only for registered peers */
    long per_peer; /* cap per peer address not registered */
    double body_timeout;
} limits;

static long total_conns; /* admitted and open, every server */
static struct http_peer *peers[HTTP_CONN_PEER_BUCKETS];
static struct http_conn **by_fd; /* index: fd */
static size_t nby_fd;

void http_server_set_limits(long max_conns, long max_per_peer, double body_secs)
{
    conf_max = max_conns > 0 ? max_conns : 0;
    conf_per_peer = max_per_peer > 0 ? max_per_peer : 0;
    if (body_secs > 0)
        conf_body_timeout = body_secs;
    limits_derived = false;
}

static void derive_limits(void)
{
    struct rlimit rl;
    long nofile = 1024, headroom;

    if (limits_derived)
        return;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        nofile = rl.rlim_cur > 1L << 24 ? 1L << 24 : (long)rl.rlim_cur;
    else if (rl.rlim_cur == RLIM_INFINITY)
        nofile = 1L << 24;
    headroom = nofile / 10 > HTTP_CONN_HEADROOM_MIN ? nofile / 10 : HTTP_CONN_HEADROOM_MIN;
    limits.max = conf_max ? conf_max : (nofile > 2 * headroom ? nofile - headroom : nofile / 2);
    if (limits.max < 1)
        limits.max = 1;
    limits.reserved = limits.max / HTTP_CONN_RESERVE_DIV;
    limits.per_peer = conf_per_peer ? conf_per_peer : limits.max / HTTP_CONN_PER_PEER_DIV;
    if (limits.per_peer < 1)
        limits.per_peer = 1;
    limits.body_timeout = conf_body_timeout;
    limits_derived = true;
    if (limits.max > nofile)
        log_warn("http: --max_connections=%ld is above the file limit (%ld): accept() will "
                 "fail with EMFILE first",
                 limits.max, nofile);
    log_info("http: at most %ld connections (%ld of them for registered peers), %ld per "
             "other peer; file limit %ld; whole request within %.0f s",
             limits.max, limits.reserved, limits.per_peer, nofile, limits.body_timeout);
}

/* ------------------------------------------------------------ metrics */

static double metric_open_conns(void *arg)
{
    (void)arg;
    return (double)total_conns;
}

static struct metric *metric_refused(void)
{
    static struct metric *m;

    if (m == NULL)
        m = metrics_counter("agora_http_connections_refused_total",
                            "connections closed at once: global or per-peer cap reached");
    return m;
}

static struct metric *metric_deadline(void)
{
    static struct metric *m;

    if (m == NULL)
        m = metrics_counter("agora_http_request_deadline_closed_total",
                            "connections closed because a request did not arrive in full "
                            "within --http_body_timeout");
    return m;
}

static void metrics_register(void)
{
    static bool done;

    if (done)
        return;
    done = true;
    metrics_gauge_fn("agora_http_connections", "HTTP connections open (admitted)",
                     metric_open_conns, NULL);
    metric_refused();
    metric_deadline();
}

/* ------------------------------------------------------------ peers */

static unsigned peer_hash(const char *addr)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (; *addr; addr++)
        h = (h ^ (unsigned char)*addr) * 16777619u;
    return h % HTTP_CONN_PEER_BUCKETS;
}

static bool peer_registered(const struct http_peer *p, double now)
{
    return p->streams > 0 || now < p->registered_till;
}

static bool peer_unused(const struct http_peer *p, double now)
{
    return p->conns == 0 && !peer_registered(p, now);
}

/* The peer of addr, created when create. Unused peers met on the way are
 * freed, addr's own too when !create, so the table holds only peers with
 * connections or a grace. */
static struct http_peer *peer_get(const char *addr, bool create)
{
    unsigned h = peer_hash(addr);
    struct http_peer **pp = &peers[h], *p, *found = NULL;
    double now = time_mono();

    while ((p = *pp) != NULL) {
        bool mine = strcmp(p->addr, addr) == 0;

        if (peer_unused(p, now) && !(mine && create)) {
            *pp = p->next;
            free(p);
            continue;
        }
        if (mine)
            found = p;
        pp = &p->next;
    }
    if (found || !create)
        return found;
    p = xcalloc(1, sizeof(*p));
    snprintf(p->addr, sizeof(p->addr), "%s", addr);
    p->next = peers[h];
    peers[h] = p;
    return p;
}

/* "a.b.c.d" or an IPv6 address; IPv4-mapped IPv6 as IPv4. */
static int peer_addr_of_fd(int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);

    if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return inet_ntop(AF_INET, &((struct sockaddr_in *)&ss)->sin_addr, out, len) ? 0 : -1;
    if (ss.ss_family == AF_INET6) {
        const struct in6_addr *a6 = &((struct sockaddr_in6 *)&ss)->sin6_addr;

        if (IN6_IS_ADDR_V4MAPPED(a6))
            return inet_ntop(AF_INET, &a6->s6_addr[12], out, len) ? 0 : -1;
        return inet_ntop(AF_INET6, a6, out, len) ? 0 : -1;
    }
    snprintf(out, len, "local");
    return 0;
}

/* ------------------------------------------------------------ connections */

static void http_conn_set_state(struct http_conn *c, enum http_conn_state to)
{
    if (c->state == to)
        return;
    log_debug("http: connection %d from %s %s -> %s", c->fd, c->peer->addr,
              http_conn_state_names[c->state], http_conn_state_names[to]);
    c->state = to;
}

struct http_conn *http_conn_of(struct evhttp_connection *evcon)
{
    struct bufferevent *bev = evcon ? evhttp_connection_get_bufferevent(evcon) : NULL;
    int fd = bev ? (int)bufferevent_getfd(bev) : -1;

    if (fd < 0 || (size_t)fd >= nby_fd || by_fd[fd] == NULL || by_fd[fd]->evcon != evcon)
        return NULL;
    return by_fd[fd];
}

/* Bytes arrived (or were consumed): a request starts on an idle
 * connection, or the next one after a dispatched request. */
static void http_conn_input(struct evbuffer *buf, const struct evbuffer_cb_info *info, void *arg)
{
    struct http_conn *c = arg;
    struct timeval tv;

    (void)buf;
    if (info->n_added == 0 || (c->state != CONN_IDLE && c->state != CONN_HANDLING))
        return;
    http_conn_set_state(c, CONN_RECEIVING);
    tv = time_tv(limits.body_timeout);
    event_add(c->deadline, &tv);
}

static void http_conn_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct http_conn *c = arg;

    (void)fd;
    (void)what;
    if (c->state != CONN_RECEIVING)
        return;
    log_warn("http: closing connection from %s on port %d: request not received in full "
             "within %.0f s (--http_body_timeout)",
             c->peer->addr, c->port, limits.body_timeout);
    metric_inc(metric_deadline(), 1);
    /* To evhttp this is the peer going away: it frees the connection on
     * its next read, through the path that any early close takes. */
    shutdown(c->fd, SHUT_RDWR);
}

static void http_conn_release_stream(struct http_conn *c)
{
    if (!c->registered)
        return;
    c->registered = false;
    if (--c->peer->streams == 0)
        c->peer->registered_till = time_mono() + HTTP_CONN_REGISTERED_GRACE;
}

/* evhttp's close callback of every admitted connection. */
static void http_conn_closed(struct evhttp_connection *evcon, void *arg)
{
    struct http_conn *c = arg;
    http_conn_close_fn fn = c->on_close;
    void *fn_arg = c->on_close_arg;

    /* evhttp may drain the input buffer after this (connection reset). */
    evbuffer_remove_cb_entry(bufferevent_get_input(c->bev), c->in_cb);
    event_free(c->deadline);
    http_conn_release_stream(c);
    c->peer->conns--;
    total_conns--;
    if ((size_t)c->fd < nby_fd && by_fd[c->fd] == c)
        by_fd[c->fd] = NULL;
    free(c);
    if (fn)
        fn(evcon, fn_arg);
}

void http_conn_request_in(struct http_conn *c)
{
    if (c == NULL || c->state == CONN_STREAM)
        return;
    event_del(c->deadline);
    http_conn_set_state(c, CONN_HANDLING);
}

void http_conn_set_close(struct http_conn *c, http_conn_close_fn on_close, void *arg)
{
    c->on_close = on_close;
    c->on_close_arg = arg;
}

void http_conn_set_stream(struct http_conn *c, http_conn_close_fn on_close, void *arg)
{
    event_del(c->deadline);
    http_conn_set_state(c, CONN_STREAM);
    http_conn_set_close(c, on_close, arg);
}

void http_conn_set_registered(struct http_conn *c)
{
    if (c->registered)
        return;
    c->registered = true;
    c->peer->streams++;
}

static void by_fd_put(int fd, struct http_conn *c)
{
    if ((size_t)fd >= nby_fd) {
        size_t n = nby_fd ? nby_fd : 1024;

        while (n <= (size_t)fd)
            n *= 2;
        by_fd = xrealloc(by_fd, n * sizeof(*by_fd));
        memset(by_fd + nby_fd, 0, (n - nby_fd) * sizeof(*by_fd));
        nby_fd = n;
    }
    by_fd[fd] = c;
}

/* Why a new connection from p may not stay, NULL when it may. */
static const char *admit_refusal(const struct http_peer *p)
{
    bool reg = peer_registered(p, time_mono());

    if (total_conns >= limits.max)
        return "the connection cap (--max_connections) is reached";
    if (reg)
        return NULL;
    if (total_conns >= limits.max - limits.reserved)
        return "only the slots reserved for registered slaves and frameworks are left";
    if (p->conns >= limits.per_peer)
        return "its address has --max_connections_per_peer connections open";
    return NULL;
}

static void admit_one(struct http_admit *a, struct bufferevent *bev)
{
    bufferevent_data_cb readcb = NULL;
    void *cbarg = NULL;
    struct evhttp_connection *evcon;
    char addr[INET6_ADDRSTRLEN];
    struct http_peer *p;
    struct http_conn *c;
    const char *why;
    int fd = (int)bufferevent_getfd(bev);

    bufferevent_getcb(bev, &readcb, NULL, NULL, &cbarg);
    /* No callbacks: evhttp freed the connection already (it failed to set
     * it up); our reference kept the bufferevent itself alive. */
    if (readcb == NULL || cbarg == NULL || fd < 0)
        return;
    evcon = cbarg;
    if (evhttp_connection_get_bufferevent(evcon) != bev) {
        log_warn("http: cannot tell the connection of a new socket; not counted");
        return;
    }
    if (peer_addr_of_fd(fd, addr, sizeof(addr)) < 0) {
        evhttp_connection_free(evcon); /* already gone (ENOTCONN) */
        return;
    }
    p = peer_get(addr, true);
    why = admit_refusal(p);
    if (why) {
        log_warn("http: refusing a connection from %s on port %d: %s", addr, a->port, why);
        metric_inc(metric_refused(), 1);
        evhttp_connection_free(evcon);
        peer_get(addr, false); /* frees p when nothing else holds it */
        return;
    }
    c = xcalloc(1, sizeof(*c));
    c->state = CONN_IDLE;
    c->evcon = evcon;
    c->bev = bev;
    c->fd = fd;
    c->port = a->port;
    c->peer = p;
    c->deadline = evtimer_new(a->base, http_conn_deadline, c);
    c->in_cb = evbuffer_add_cb(bufferevent_get_input(bev), http_conn_input, c);
    p->conns++;
    total_conns++;
    by_fd_put(fd, c);
    evhttp_connection_set_closecb(evcon, http_conn_closed, c);
}

static void admit_check(evutil_socket_t fd, short what, void *arg)
{
    struct http_admit *a = arg;
    size_t i;

    (void)fd;
    (void)what;
    derive_limits();
    for (i = 0; i < a->npending; i++) {
        admit_one(a, a->pending[i]);
        bufferevent_decref(a->pending[i]);
    }
    a->npending = 0;
}

void http_admit_bev(struct http_admit *a, struct bufferevent *bev)
{
    if (a->npending == a->cap) {
        a->cap = a->cap ? 2 * a->cap : 64;
        a->pending = xrealloc(a->pending, a->cap * sizeof(*a->pending));
    }
    bufferevent_incref(bev);
    a->pending[a->npending++] = bev;
    event_active(a->check, EV_TIMEOUT, 1);
}

struct http_admit *http_admit_new(struct event_base *base, int port)
{
    struct http_admit *a = xcalloc(1, sizeof(*a));

    a->base = base;
    a->port = port;
    a->check = event_new(base, -1, 0, admit_check, a);
    derive_limits();
    metrics_register();
    return a;
}

void http_admit_free(struct http_admit *a)
{
    size_t i;

    if (a == NULL)
        return;
    for (i = 0; i < a->npending; i++)
        bufferevent_decref(a->pending[i]);
    event_free(a->check);
    free(a->pending);
    free(a);
}
