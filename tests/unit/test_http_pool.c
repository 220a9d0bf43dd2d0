/*
 * test_http_pool: the keep-alive pool behind http_call_start, against a
 * real evhttp server on 127.0.0.1 that counts the connections it accepted
 * (distinct peer ports): reuse for sequential calls, a server that closes
 * idle connections, the idle timeout, Connection: close in either
 * direction, cancel, the pool bound, a freed event_base, and (with a raw
 * server that drops a reused connection on its second request) the single
 * retry of idempotent requests only.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "http.h"
#include "log.h"
#include "mem.h"

#include "loop.h"

#define MAX_PEERS 64

struct fixture {
    struct event_base *base;
    struct evhttp *http;
    int port;
    int peers[MAX_PEERS]; /* client ports seen: one per accepted connection */
    int npeers;
    int requests;
};

static struct fixture F;

static void note_peer(struct evhttp_request *req)
{
    char *addr;
    ev_uint16_t port;
    int i;

    F.requests++;
    evhttp_connection_get_peer(evhttp_request_get_connection(req), &addr, &port);
    for (i = 0; i < F.npeers; i++) {
        if (F.peers[i] == port)
            return;
    }
    assert_true(F.npeers < MAX_PEERS);
    F.peers[F.npeers++] = port;
}

static void h_any(struct evhttp_request *req, void *arg)
{
    struct evbuffer *b = evbuffer_new();

    (void)arg;
    note_peer(req);
    if (strcmp(evhttp_request_get_uri(req), "/close") == 0)
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    evbuffer_add_printf(b, "ok %s", evhttp_request_get_uri(req));
    evhttp_send_reply(req, 200, "OK", b);
    evbuffer_free(b);
}

static void server_start(void)
{
    struct evhttp_bound_socket *bs;
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);

    F.http = evhttp_new(F.base);
    evhttp_set_gencb(F.http, h_any, NULL);
    evhttp_set_allowed_methods(F.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT);
    bs = evhttp_bind_socket_with_handle(F.http, "127.0.0.1", 0);
    assert_non_null(bs);
    getsockname(evhttp_bound_socket_get_fd(bs), (struct sockaddr *)&sa, &sl);
    F.port = ntohs(sa.sin_port);
}

static int setup(void **state)
{
    (void)state;
    memset(&F, 0, sizeof(F));
    F.base = event_base_new();
    server_start();
    http_pool_configure(15.0, 4);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    http_pool_flush(F.base);
    loop_run_for(F.base, 0.02);
    if (F.http)
        evhttp_free(F.http);
    event_base_free(F.base);
    memset(&F, 0, sizeof(F));
    return 0;
}

/* ------------------------------------------------------------ calls */

struct result {
    bool done;
    int status;
    char body[128];
    char error[64];
};

static void on_resp(const struct http_response *r, void *arg)
{
    struct result *res = arg;

    res->done = true;
    res->status = r->status;
    snprintf(res->body, sizeof(res->body), "%s", r->body);
    snprintf(res->error, sizeof(res->error), "%s", r->error ? r->error : "");
}

static struct result call_to(int port, const char *method, const char *path,
                             const struct http_header *h, size_t nh)
{
    bool body = strcmp(method, "POST") == 0 || strcmp(method, "PUT") == 0;
    struct result r;

    memset(&r, 0, sizeof(r));
    assert_non_null(http_call_start(F.base, "127.0.0.1", port, method, path, h, nh,
                                    body ? "{}" : NULL, body ? 2 : 0, 5.0, on_resp, &r));
    run_until(F.base, r.done);
    return r;
}

static struct result call(const char *method, const char *path)
{
    return call_to(F.port, method, path, NULL, 0);
}

static struct http_pool_stats stats(void)
{
    struct http_pool_stats s;
    http_pool_get_stats(&s);
    return s;
}

/* ------------------------------------------------------------ tests */

static void test_reuse(void **state)
{
    struct http_pool_stats before = stats(), after;
    struct result r;

    (void)state;
    r = call("GET", "/a");
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok /a");
    r = call("POST", "/b");
    assert_int_equal(r.status, 200);
    r = call("PUT", "/c");
    assert_int_equal(r.status, 200);
    assert_int_equal(F.requests, 3);
    assert_int_equal(F.npeers, 1); /* one accepted connection */
    after = stats();
    assert_int_equal(after.connects - before.connects, 1);
    assert_int_equal(after.reuses - before.reuses, 2);
    assert_int_equal(after.idle, 1);
}

/* Parallel calls make parallel connections, all pooled (up to the bound)
 * and reused by the next round. */
static void test_parallel_and_bound(void **state)
{
    struct result r[6];
    int i;

    (void)state;
    http_pool_configure(15.0, 4);
    memset(r, 0, sizeof(r));
    for (i = 0; i < 6; i++)
        assert_non_null(http_call_start(F.base, "127.0.0.1", F.port, "GET", "/p", NULL, 0, NULL, 0,
                                        5.0, on_resp, &r[i]));
    run_until(F.base, r[0].done && r[1].done && r[2].done && r[3].done && r[4].done && r[5].done);
    assert_int_equal(F.npeers, 6);
    assert_int_equal(stats().idle, 4); /* the bound */
    memset(r, 0, sizeof(r));
    for (i = 0; i < 4; i++)
        assert_non_null(http_call_start(F.base, "127.0.0.1", F.port, "GET", "/p", NULL, 0, NULL, 0,
                                        5.0, on_resp, &r[i]));
    run_until(F.base, r[0].done && r[1].done && r[2].done && r[3].done);
    assert_int_equal(F.npeers, 6); /* no new connection */
}

/* The server drops idle connections (evhttp's timeout, here 1 s): the next
 * call, a POST, must still succeed, on a new connection. */
static void test_server_closes_idle(void **state)
{
    struct http_pool_stats before;
    struct result r;

    (void)state;
    evhttp_set_timeout(F.http, 1);
    r = call("POST", "/x");
    assert_int_equal(r.status, 200);
    loop_run_for(F.base, 1.5);
    before = stats();
    r = call("POST", "/y");
    assert_int_equal(r.status, 200);
    assert_int_equal(F.npeers, 2);
    assert_int_equal(stats().retries - before.retries, 0); /* detected, not retried */
    assert_int_equal(stats().stale - before.stale, 1);
}

static void test_idle_timeout(void **state)
{
    struct http_pool_stats before = stats();
    struct result r;

    (void)state;
    http_pool_configure(0.3, 4);
    r = call("GET", "/x");
    assert_int_equal(r.status, 200);
    assert_int_equal(stats().idle, 1);
    loop_run_for(F.base, 0.6);
    assert_int_equal(stats().idle, 0);
    assert_int_equal(stats().expired - before.expired, 1);
    r = call("GET", "/y");
    assert_int_equal(r.status, 200);
    assert_int_equal(F.npeers, 2);
}

/* The pooled connection's idle timer has fired (its callback is active,
 * not yet run) when a call takes that connection in the same loop turn:
 * the take must cancel the timer, not treat the pool as orphaned (which
 * corrupted the lists and later closed an fd another socket then held,
 * dropping a slave's subscription stream every 30 s). */
struct take_race {
    struct result r;
    bool started;
};

static void start_call_cb(evutil_socket_t fd, short what, void *arg)
{
    struct take_race *t = arg;

    (void)fd;
    (void)what;
    t->started = http_call_start(F.base, "127.0.0.1", F.port, "GET", "/race", NULL, 0, NULL, 0,
                                 5.0, on_resp, &t->r) != NULL;
}

static void test_take_while_idle_timer_fires(void **state)
{
    struct take_race t;
    struct event *ev;
    struct timeval tv = { 0, 100 * 1000 };
    struct http_pool_stats before;
    struct result r;

    (void)state;
    memset(&t, 0, sizeof(t));
    http_pool_configure(0.2, 4);
    r = call("GET", "/x");
    assert_int_equal(r.status, 200);
    assert_int_equal(stats().idle, 1);
    before = stats();
    /* Ours expires first; after the sleep both are due in one loop turn,
     * and ours runs first. */
    ev = evtimer_new(F.base, start_call_cb, &t);
    evtimer_add(ev, &tv);
    usleep(300 * 1000);
    run_until(F.base, t.r.done);
    assert_true(t.started);
    assert_int_equal(t.r.status, 200);
    assert_int_equal(stats().reuses - before.reuses, 1);
    assert_int_equal(stats().expired - before.expired, 0);
    assert_int_equal(stats().idle, 1); /* back in the pool, once */
    r = call("GET", "/y");
    assert_int_equal(r.status, 200);
    event_free(ev);
}

static void test_connection_close(void **state)
{
    static const struct http_header close_hdr[] = { { "Connection", "close" } };
    struct result r;

    (void)state;
    /* The server says close: not pooled. */
    r = call("GET", "/close");
    assert_int_equal(r.status, 200);
    assert_int_equal(stats().idle, 0);
    r = call("GET", "/a");
    assert_int_equal(F.npeers, 2);
    assert_int_equal(stats().idle, 1);
    /* The caller says close: not reused, not pooled. */
    r = call_to(F.port, "GET", "/b", close_hdr, 1);
    assert_int_equal(r.status, 200);
    assert_int_equal(stats().idle, 1);
    r = call("GET", "/c");
    assert_int_equal(r.status, 200);
}

static void test_cancel(void **state)
{
    struct http_call *c;
    struct result r;

    (void)state;
    memset(&r, 0, sizeof(r));
    c = http_call_start(F.base, "127.0.0.1", F.port, "GET", "/x", NULL, 0, NULL, 0, 5.0, on_resp,
                        &r);
    http_call_cancel(c);
    loop_run_for(F.base, 0.1);
    assert_false(r.done);
    assert_int_equal(stats().idle, 0);
    r = call("GET", "/y");
    assert_int_equal(r.status, 200);
}

/* A base freed with connections still pooled: a new base (maybe at the
 * same address) must never reuse them. */
static void test_base_freed(void **state)
{
    struct result r;

    (void)state;
    r = call("GET", "/x");
    assert_int_equal(stats().idle, 1);
    evhttp_free(F.http);
    event_base_free(F.base);
    F.base = event_base_new();
    server_start();
    F.npeers = 0;
    r = call("GET", "/y");
    assert_int_equal(r.status, 200);
    assert_int_equal(F.npeers, 1);
}

/* ------------------------------------------------------------ retry */

/* A raw HTTP server: answers the first request of each connection with
 * keep-alive, then closes the connection on its second request without
 * answering — the "pooled connection turned out closed" race. */
struct raw_conn {
    int served;
};

static int raw_accepts;

static void raw_read(struct bufferevent *bev, void *arg)
{
    struct raw_conn *rc = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr end = evbuffer_search(in, "\r\n\r\n", 4, NULL);

    if (end.pos < 0)
        return;
    evbuffer_drain(in, (size_t)end.pos + 4);
    evbuffer_drain(in, evbuffer_get_length(in)); /* the "{}" body, if any */
    if (rc->served++ == 0) {
        evbuffer_add_printf(bufferevent_get_output(bev),
                            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        return;
    }
    bufferevent_free(bev);
    free(rc);
}

static void raw_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    bufferevent_free(bev);
    free(arg);
}

static void raw_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int sl,
                       void *arg)
{
    struct bufferevent *bev = bufferevent_socket_new(F.base, fd, BEV_OPT_CLOSE_ON_FREE);
    struct raw_conn *rc = xcalloc(1, sizeof(*rc));

    (void)l;
    (void)sa;
    (void)sl;
    (void)arg;
    raw_accepts++;
    bufferevent_setcb(bev, raw_read, NULL, raw_event, rc);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

static void test_retry_idempotent_only(void **state)
{
    struct sockaddr_in sa;
    socklen_t sl = sizeof(sa);
    struct evconnlistener *l;
    struct http_pool_stats before;
    struct result r;
    int port;

    (void)state;
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    l = evconnlistener_new_bind(F.base, raw_accept, NULL, LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE,
                                16, (struct sockaddr *)&sa, sizeof(sa));
    assert_non_null(l);
    getsockname(evconnlistener_get_fd(l), (struct sockaddr *)&sa, &sl);
    port = ntohs(sa.sin_port);
    raw_accepts = 0;

    r = call_to(port, "GET", "/1", NULL, 0);
    assert_int_equal(r.status, 200);
    before = stats();
    /* Reused, dropped on the second request: GET is retried once. */
    r = call_to(port, "GET", "/2", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "ok");
    assert_int_equal(stats().retries - before.retries, 1);
    assert_int_equal(raw_accepts, 2);
    /* The same for a POST: not retried, the caller sees the failure. */
    r = call_to(port, "POST", "/3", NULL, 0);
    assert_int_equal(r.status, 0);
    assert_true(r.error[0] != '\0');
    assert_int_equal(stats().retries - before.retries, 1);
    assert_int_equal(raw_accepts, 2);
    evconnlistener_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_reuse, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parallel_and_bound, setup, teardown),
        cmocka_unit_test_setup_teardown(test_server_closes_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_idle_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_while_idle_timer_fires, setup, teardown),
        cmocka_unit_test_setup_teardown(test_connection_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cancel, setup, teardown),
        cmocka_unit_test_setup_teardown(test_base_freed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retry_idempotent_only, setup, teardown),
    };

    mem_init();
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_LVL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
