/*
 * calls.c: agora-bench's pool of keep-alive HTTP connections for the small
 * POSTs of the slave protocol and the scheduler API, plus the clock and
 * quantile helpers every part uses.
 *
 * evhttp's client sends one request at a time per connection, which made
 * the bench, not the master, the bottleneck (a round trip per call). So
 * calls are pipelined here over a few raw keep-alive connections: requests
 * are written back to back, answers are matched in order; a new call goes
 * to the connection with the fewest in flight. Compared with a connection
 * per call (what agora-slave does) this also saves the master an accept
 * and a close per call and keeps TIME_WAIT sockets out of the way.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/socket.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "bench.h"
#include "mem.h"

uint64_t bench_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

double bench_now(void)
{
    return (double)bench_now_ns() / 1e9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_backoff_delay(double backoff)
{
    double d = 0.5 + (backoff - 0.5) * ((double)random() / (double)RAND_MAX);
    return d < 0.5 ? 0.5 : d;
}

double bench_quantile(double *v, size_t n, double q)
{
    if (n == 0)
        return NAN;
    qsort(v, n, sizeof(*v), cmp_double);
    size_t idx = (size_t)ceil(q * (double)n);
    return v[idx ? idx - 1 : 0];
}

/* One pipelined connection: requests are written back to back and the
 * answers come back in order (the master's evhttp reads the next request
 * of a keep-alive connection as soon as it answered the previous one). */
struct pool_conn {
    struct call_pool *pool;
    struct bufferevent *bev;       /* NULL until the first call (and after EOF) */
    struct pool_call *head, *tail; /* calls awaiting their answer, in order */
    size_t inflight;
};

struct call_pool {
    struct event_base *base;
    struct sockaddr_in dst, src;
    bool bind_src;
    char hostport[300];
    struct pool_conn *conns;
    int nconns;
    uint64_t errors;
    size_t inflight;
};

struct pool_call {
    call_done_fn done;
    void *arg;
    struct pool_call *next;
};

static void conn_fail_all(struct pool_conn *c)
{
    struct pool_call *pc = c->head;
    c->head = c->tail = NULL;
    c->pool->inflight -= c->inflight;
    c->inflight = 0;
    while (pc) {
        struct pool_call *next = pc->next;
        c->pool->errors++;
        if (pc->done)
            pc->done(0, pc->arg);
        free(pc);
        pc = next;
    }
}

static void conn_drop(struct pool_conn *c)
{
    if (c->bev)
        bufferevent_free(c->bev);
    c->bev = NULL;
    conn_fail_all(c);
}

/* Parse as many complete answers as the input holds. Answers of the
 * master's call endpoints always carry Content-Length (only streams are
 * chunked). */
static void conn_read(struct bufferevent *bev, void *arg)
{
    struct pool_conn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        struct evbuffer_ptr eoh = evbuffer_search(in, "\r\n\r\n", 4, NULL);
        if (eoh.pos < 0)
            return;
        size_t hlen = (size_t)eoh.pos + 4;
        char *h = (char *)evbuffer_pullup(in, (ev_ssize_t)hlen);
        int status = 0;
        if (hlen < 12 || sscanf(h, "HTTP/1.%*d %d", &status) != 1) {
            fprintf(stderr, "agora-bench: bad answer from the master; dropping a connection\n");
            conn_drop(c);
            return;
        }
        size_t clen = 0;
        for (char *p = h; p && p < h + hlen; p = memchr(p, '\n', (size_t)(h + hlen - p))) {
            if (*p == '\n')
                p++;
            if (strncasecmp(p, "Content-Length:", 15) == 0)
                clen = strtoul(p + 15, NULL, 10);
        }
        if (evbuffer_get_length(in) < hlen + clen)
            return;
        evbuffer_drain(in, hlen + clen);
        struct pool_call *pc = c->head;
        if (!pc)
            continue; /* not ours: ignore */
        c->head = pc->next;
        if (!c->head)
            c->tail = NULL;
        c->inflight--;
        c->pool->inflight--;
        if (status != 202 && status != 200)
            c->pool->errors++;
        if (pc->done)
            pc->done(status, pc->arg);
        free(pc);
    }
}

static void conn_event(struct bufferevent *bev, short what, void *arg)
{
    struct pool_conn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT)) {
        if (c->inflight)
            fprintf(stderr, "agora-bench: call connection lost with %zu calls in flight\n",
                    c->inflight);
        conn_drop(c);
    }
}

static int conn_open(struct call_pool *p, struct pool_conn *c)
{
    evutil_socket_t fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    if (p->bind_src && bind(fd, (struct sockaddr *)&p->src, sizeof(p->src)) != 0) {
        evutil_closesocket(fd);
        return -1;
    }
    evutil_make_socket_nonblocking(fd);
    c->bev = bufferevent_socket_new(p->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, conn_read, NULL, conn_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
    if (bufferevent_socket_connect(c->bev, (struct sockaddr *)&p->dst, sizeof(p->dst)) != 0) {
        bufferevent_free(c->bev);
        c->bev = NULL;
        return -1;
    }
    return 0;
}

static void set_dst(struct call_pool *p, const char *host, int port)
{
    snprintf(p->hostport, sizeof(p->hostport), "%s:%d", host, port);
    p->dst.sin_family = AF_INET;
    p->dst.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, strcmp(host, "localhost") == 0 ? "127.0.0.1" : host, &p->dst.sin_addr) !=
        1) {
        fprintf(stderr, "agora-bench: the master's host must be an IPv4 address, got '%s'\n", host);
        exit(2);
    }
}

struct call_pool *call_pool_new(struct event_base *base, const char *host, int port,
                                const char *local_ip, int nconns)
{
    struct call_pool *p = xcalloc(1, sizeof(*p));
    p->base = base;
    set_dst(p, host, port);
    if (local_ip) {
        p->bind_src = true;
        p->src.sin_family = AF_INET;
        inet_pton(AF_INET, local_ip, &p->src.sin_addr);
    }
    p->nconns = nconns > 0 ? nconns : 1;
    p->conns = xcalloc((size_t)p->nconns, sizeof(*p->conns));
    for (int i = 0; i < p->nconns; i++)
        p->conns[i].pool = p;
    return p;
}

void call_pool_free(struct call_pool *p)
{
    if (!p)
        return;
    for (int i = 0; i < p->nconns; i++)
        conn_drop(&p->conns[i]);
    free(p->conns);
    free(p);
}

void call_pool_set_master(struct call_pool *p, const char *host, int port)
{
    for (int i = 0; i < p->nconns; i++)
        conn_drop(&p->conns[i]);
    set_dst(p, host, port);
}

void call_pool_post(struct call_pool *p, const char *path, const char *content_type,
                    const char *accept, const char *stream_id, const void *body, size_t len,
                    call_done_fn done, void *arg)
{
    struct pool_conn *best = &p->conns[0];
    for (int i = 1; i < p->nconns && best->inflight; i++)
        if (p->conns[i].inflight < best->inflight)
            best = &p->conns[i];
    if (!best->bev && conn_open(p, best) != 0) {
        p->errors++;
        if (done)
            done(0, arg);
        return;
    }
    struct pool_call *pc = xcalloc(1, sizeof(*pc));
    pc->done = done;
    pc->arg = arg;
    if (best->tail)
        best->tail->next = pc;
    else
        best->head = pc;
    best->tail = pc;
    best->inflight++;
    p->inflight++;
    struct evbuffer *out = bufferevent_get_output(best->bev);
    evbuffer_add_printf(out,
                        "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: %s\r\n%s%s%s%s%s%s"
                        "Content-Length: %zu\r\n\r\n",
                        path, p->hostport, content_type, accept ? "Accept: " : "",
                        accept ? accept : "", accept ? "\r\n" : "",
                        stream_id ? "Mesos-Stream-Id: " : "", stream_id ? stream_id : "",
                        stream_id ? "\r\n" : "", len);
    evbuffer_add(out, body, len);
}

uint64_t call_pool_errors(const struct call_pool *p)
{
    return p->errors;
}
