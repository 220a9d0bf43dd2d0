/*
 * test_http: common/http_server.c and http_client.c against each other,
 * in-process on one event_base: routing (404/405/HEAD/prefix), limits
 * (413), calls (normal, refused, cancelled), streams received by subs,
 * timeouts, the connection caps and the body deadline, and the lifetime rules (on_close exactly once, closing from
 * inside callbacks).
 *
 * Every wait is bounded: run_until() spins the loop until a condition
 * holds or a deadline passes, and the test fails on the deadline.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <errno.h>
#include <unistd.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http.h"
#include "log.h"
#include "mem.h"

#define MAX_BODY 1024
#define DEADLINE_SECS 10.0

struct fixture {
    struct event_base *base;
    struct http_server *srv;
    int port;
};

static struct fixture F;

/* ------------------------------------------------------------ loop helpers */

static double now_secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run the loop until *flag is true; false when the deadline passed. A
 * 20 ms ticker keeps EVLOOP_ONCE from blocking past the deadline. */
static bool run_until_flag(volatile bool *flag, double secs)
{
    struct event *t = event_new(F.base, -1, EV_PERSIST, tick, NULL);
    struct timeval tv = { 0, 20000 };
    double end = now_secs() + secs;

    event_add(t, &tv);
    while (!*flag && now_secs() < end)
        event_base_loop(F.base, EVLOOP_ONCE);
    event_free(t);
    return *flag;
}

/* Let the loop run for a while: to show something does NOT happen. */
static void run_for(double secs)
{
    bool never = false;
    run_until_flag(&never, secs);
}

#define run_until(cond)                                                   \
    do {                                                                  \
        double end_ = now_secs() + DEADLINE_SECS;                         \
        struct event *t_ = event_new(F.base, -1, EV_PERSIST, tick, NULL); \
        struct timeval tv_ = { 0, 20000 };                                \
        event_add(t_, &tv_);                                              \
        while (!(cond) && now_secs() < end_)                              \
            event_base_loop(F.base, EVLOOP_ONCE);                         \
        event_free(t_);                                                   \
        assert_true(cond);                                                \
    } while (0)

/* ------------------------------------------------------------ handlers */

static void h_hello(struct evhttp_request *req, void *arg)
{
    (void)arg;
    http_add_header(req, "X-Test", "yes");
    http_reply_text(req, 200, "hello");
}

static void h_echo(struct evhttp_request *req, void *arg)
{
    size_t len;
    const char *body = http_req_body(req, &len);

    (void)arg;
    assert_int_equal(body[len], '\0');
    http_reply(req, 200, "application/octet-stream", body, len);
}

static void h_query(struct evhttp_request *req, void *arg)
{
    char *v = http_req_query(req, "key");

    (void)arg;
    http_reply_text(req, 200, "%s|%s", http_req_path(req), v ? v : "(none)");
    free(v);
}

static void h_json(struct evhttp_request *req, void *arg)
{
    (void)arg;
    http_reply_json(req, 201, json_pack("{s:i}", "n", 42));
}

/* A stream: three chunks at once, then closed by the server. */
static void h_stream(struct evhttp_request *req, void *arg)
{
    struct http_stream *st = http_stream_start(req, 200, "text/plain", NULL, NULL);

    (void)arg;
    assert_non_null(st);
    assert_int_equal(http_stream_send(st, "one\n", 4), 0);
    assert_int_equal(http_stream_send(st, "", 0), 0);
    assert_int_equal(http_stream_send(st, "two\n", 4), 0);
    assert_int_equal(http_stream_send(st, "three\n", 6), 0);
    http_stream_close(st);
}

/* A stream left open; the test observes its on_close. */
static struct http_stream *held_stream;
static int held_closes;
static bool held_close_reenter;

static void held_on_close(struct http_stream *st, void *arg)
{
    (void)arg;
    assert_ptr_equal(st, held_stream);
    held_closes++;
    if (held_close_reenter)
        http_stream_close(st); /* must be a harmless no-op */
    held_stream = NULL;
}

static void h_hold(struct evhttp_request *req, void *arg)
{
    (void)arg;
    held_stream = http_stream_start(req, 200, "application/recordio", held_on_close, NULL);
    assert_non_null(held_stream);
    assert_int_equal(http_stream_send(held_stream, "5\nhello", 7), 0);
}

/* Never answers at once: the client's timeout must fire. */
static struct evhttp_request *silent_req;

static void h_silent(struct evhttp_request *req, void *arg)
{
    (void)arg;
    silent_req = req;
}

static void h_files(struct evhttp_request *req, void *arg)
{
    (void)arg;
    http_reply_text(req, 200, "file %s", http_req_path(req));
}

/* ------------------------------------------------------------ client helpers */

struct result {
    bool done;
    int calls;
    int status;
    char *error;
    char *body;
    size_t len;
    char *ctype;
    char *xtest;
    char *allow;
};

static void result_reset(struct result *r)
{
    free(r->error);
    free(r->body);
    free(r->ctype);
    free(r->xtest);
    free(r->allow);
    memset(r, 0, sizeof(*r));
}

static char *dup_or_null(const char *s)
{
    return s ? xstrdup(s) : NULL;
}

static void on_response(const struct http_response *resp, void *arg)
{
    struct result *r = arg;

    r->calls++;
    r->done = true;
    r->status = resp->status;
    r->error = dup_or_null(resp->error);
    assert_non_null(resp->body);
    assert_int_equal(resp->body[resp->len], '\0');
    r->body = xmalloc(resp->len + 1);
    memcpy(r->body, resp->body, resp->len + 1);
    r->len = resp->len;
    if (resp->status) {
        assert_non_null(resp->headers);
        r->ctype = dup_or_null(http_header_get(resp->headers, "content-type"));
        r->xtest = dup_or_null(http_header_get(resp->headers, "X-Test"));
        r->allow = dup_or_null(http_header_get(resp->headers, "Allow"));
    } else {
        assert_null(resp->headers);
        assert_non_null(resp->error);
    }
}

static void call(struct result *r, const char *method, const char *path, const void *body,
                 size_t len)
{
    struct http_call *c;

    result_reset(r);
    c = http_call_start(F.base, "127.0.0.1", F.port, method, path, NULL, 0, body, len, 5.0,
                        on_response, r);
    assert_non_null(c);
    assert_false(r->done); /* never synchronous */
    run_until(r->done);
    assert_int_equal(r->calls, 1);
}

/* ------------------------------------------------------------ setup */

static int setup(void **state)
{
    char *err = NULL;

    (void)state;
    F.base = event_base_new();
    F.srv = http_server_new(F.base, "127.0.0.1", 0, MAX_BODY, &err);
    assert_non_null(F.srv);
    F.port = http_server_port(F.srv);
    assert_true(F.port > 0);
    http_server_route(F.srv, "GET", "/hello", false, h_hello, NULL);
    http_server_route(F.srv, "POST", "/echo", false, h_echo, NULL);
    http_server_route(F.srv, "PATCH", "/echo", false, h_echo, NULL);
    http_server_route(F.srv, "GET", "/q x", false, h_query, NULL);
    http_server_route(F.srv, "POST", "/json", false, h_json, NULL);
    http_server_route(F.srv, "GET", "/stream", false, h_stream, NULL);
    http_server_route(F.srv, "POST", "/hold", false, h_hold, NULL);
    http_server_route(F.srv, "GET", "/silent", false, h_silent, NULL);
    http_server_route(F.srv, NULL, "/files/", true, h_files, NULL);
    held_stream = NULL;
    held_closes = 0;
    held_close_reenter = false;
    silent_req = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    /* Let deferred frees (subs closed from callbacks) run. */
    run_for(0.05);
    http_server_free(F.srv);
    event_base_free(F.base);
    memset(&F, 0, sizeof(F));
    return 0;
}

/* ------------------------------------------------------------ tests */

static void test_call_ok(void **state)
{
    struct result r = { 0 };

    (void)state;
    call(&r, "GET", "/hello", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello\n");
    assert_non_null(r.ctype);
    assert_non_null(strstr(r.ctype, "text/plain"));
    assert_string_equal(r.xtest, "yes");

    /* HEAD is served by the GET route, without a body. */
    call(&r, "HEAD", "/hello", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);

    call(&r, "POST", "/echo", "abc\0def", 7);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 7);
    assert_memory_equal(r.body, "abc\0def", 7);

    /* PATCH carries its body too (evhttp adds Content-Length only for
     * POST and PUT; the client must add it). */
    call(&r, "PATCH", "/echo", "xyz", 3);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "xyz");

    call(&r, "POST", "/json", "{}", 2);
    assert_int_equal(r.status, 201);
    assert_string_equal(r.body, "{\"n\":42}");
    assert_string_equal(r.ctype, "application/json");

    call(&r, "GET", "/q%20x?key=a%20b&other=1", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "/q x|a b\n");

    call(&r, "DELETE", "/files/a/b.txt", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "file /files/a/b.txt\n");
    result_reset(&r);
}

static void test_404_405(void **state)
{
    struct result r = { 0 };

    (void)state;
    call(&r, "GET", "/nope", NULL, 0);
    assert_int_equal(r.status, 404);
    assert_non_null(strstr(r.body, "/nope"));

    call(&r, "DELETE", "/hello", NULL, 0);
    assert_int_equal(r.status, 405);
    assert_non_null(r.allow);
    assert_string_equal(r.allow, "GET");

    call(&r, "GET", "/echo", NULL, 0);
    assert_int_equal(r.status, 405);
    assert_string_equal(r.allow, "POST, PATCH");

    /* A "%00" does not cut the path short into another route ("/q x"):
     * such a path is no route at all. */
    call(&r, "GET", "/q%20x%00/y?key=a", NULL, 0);
    assert_int_equal(r.status, 404);
    result_reset(&r);
}

static void test_413(void **state)
{
    struct result r = { 0 };
    size_t big = 64 * 1024;
    char *body = xmalloc(big);

    (void)state;
    memset(body, 'x', big);
    call(&r, "POST", "/echo", body, MAX_BODY + 1);
    assert_int_equal(r.status, 413);
    call(&r, "POST", "/echo", body, big);
    assert_int_equal(r.status, 413);
    /* Exactly at the limit is fine. */
    call(&r, "POST", "/echo", body, MAX_BODY);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, MAX_BODY);
    /* The server is still healthy. */
    call(&r, "GET", "/hello", NULL, 0);
    assert_int_equal(r.status, 200);
    free(body);
    result_reset(&r);
}

static int find_free_port(void)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd); /* bound but never listening: connecting is refused */
    return port;
}

static void test_call_errors(void **state)
{
    struct result r = { 0 };
    struct http_call *c;
    int dead = find_free_port();

    (void)state;
    c = http_call_start(F.base, "127.0.0.1", dead, "GET", "/", NULL, 0, NULL, 0, 5.0, on_response,
                        &r);
    assert_non_null(c);
    assert_false(r.done);
    run_until(r.done);
    assert_int_equal(r.status, 0);
    assert_non_null(r.error);
    assert_string_equal(r.body, "");

    /* Timeout: the handler never answers. */
    result_reset(&r);
    c = http_call_start(F.base, "127.0.0.1", F.port, "GET", "/silent", NULL, 0, NULL, 0, 0.3,
                        on_response, &r);
    run_until(r.done);
    assert_int_equal(r.status, 0);
    assert_string_equal(r.error, "timeout");
    assert_int_equal(r.calls, 1);
    assert_non_null(silent_req);
    /* Answering a request whose client left frees it (no leak). */
    run_for(0.1);
    http_reply_text(silent_req, 200, "late");

    /* Cancel: no callback, ever. */
    result_reset(&r);
    c = http_call_start(F.base, "127.0.0.1", F.port, "GET", "/hello", NULL, 0, NULL, 0, 5.0,
                        on_response, &r);
    http_call_cancel(c);
    run_for(0.2);
    assert_false(r.done);

    /* Bad arguments. */
    assert_null(http_call_start(F.base, "127.0.0.1", F.port, "BREW", "/", NULL, 0, NULL, 0, 1,
                                on_response, &r));
    assert_null(
        http_call_start(F.base, "127.0.0.1", 0, "GET", "/", NULL, 0, NULL, 0, 1, on_response, &r));
    assert_null(http_call_start(F.base, "127.0.0.1", F.port, "GET", "nopath", NULL, 0, NULL, 0, 1,
                                on_response, &r));
    result_reset(&r);
}

/* ------------------------------------------------------------ subs */

struct subres {
    int responses;
    int status;
    char *ctype;
    char data[256];
    size_t len;
    int datas;
    int closes;
    char reason[64];
    bool close_in_data;  /* http_sub_close from inside on_data */
    bool close_in_close; /* http_sub_close from inside on_close (no-op) */
    struct http_sub *sub;
};

static void sub_on_response(struct http_sub *s, int status, struct evkeyvalq *h, void *arg)
{
    struct subres *r = arg;

    assert_ptr_equal(s, r->sub);
    r->responses++;
    r->status = status;
    free(r->ctype);
    r->ctype = dup_or_null(http_header_get(h, "Content-Type"));
}

static void sub_on_data(struct http_sub *s, const char *data, size_t len, void *arg)
{
    struct subres *r = arg;

    assert_ptr_equal(s, r->sub);
    assert_true(r->len + len < sizeof(r->data));
    memcpy(r->data + r->len, data, len);
    r->len += len;
    r->datas++;
    if (r->close_in_data) {
        http_sub_close(s);
        http_sub_close(s); /* twice: still harmless */
    }
}

static void sub_on_close(struct http_sub *s, const char *reason, void *arg)
{
    struct subres *r = arg;

    assert_ptr_equal(s, r->sub);
    r->closes++;
    snprintf(r->reason, sizeof(r->reason), "%s", reason);
    if (r->close_in_close)
        http_sub_close(s);
}

static const struct http_sub_callbacks sub_cbs = {
    .on_response = sub_on_response,
    .on_data = sub_on_data,
    .on_close = sub_on_close,
};

static void test_sub_stream(void **state)
{
    struct subres r;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.close_in_close = true;
    r.sub = http_sub_open(F.base, "127.0.0.1", F.port, "GET", "/stream", NULL, 0, NULL, 0, 5.0,
                          &sub_cbs, &r);
    assert_non_null(r.sub);
    run_until(r.closes == 1);
    assert_int_equal(r.responses, 1);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.ctype, "text/plain");
    r.data[r.len] = '\0';
    assert_string_equal(r.data, "one\ntwo\nthree\n");
    assert_string_equal(r.reason, "eof");
    run_for(0.1);
    assert_int_equal(r.closes, 1);
    free(r.ctype);
}

/* A non-2xx answer still goes through on_data, then on_close. */
static void test_sub_404(void **state)
{
    struct subres r;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.sub = http_sub_open(F.base, "127.0.0.1", F.port, "GET", "/none", NULL, 0, NULL, 0, 5.0,
                          &sub_cbs, &r);
    run_until(r.closes == 1);
    assert_int_equal(r.status, 404);
    assert_true(r.len > 0);
    free(r.ctype);
}

/* The client goes away from inside on_data: the server's on_close runs
 * exactly once, and the client sees no callback after its close. */
static void test_stream_peer_close(void **state)
{
    struct subres r;
    const struct http_header hdr[] = { { "Content-Type", "application/json" } };

    (void)state;
    memset(&r, 0, sizeof(r));
    r.close_in_data = true;
    held_close_reenter = true;
    r.sub = http_sub_open(F.base, "127.0.0.1", F.port, "POST", "/hold", hdr, 1, "{}", 2, 5.0,
                          &sub_cbs, &r);
    assert_non_null(r.sub);
    run_until(r.datas == 1);
    r.data[r.len] = '\0';
    assert_string_equal(r.data, "5\nhello");
    run_until(held_closes == 1);
    assert_null(held_stream);
    run_for(0.2);
    assert_int_equal(held_closes, 1);
    assert_int_equal(r.datas, 1);
    assert_int_equal(r.closes, 0); /* closed by us: no on_close */
    free(r.ctype);
}

/* The server ends a held stream; the sub sees eof once. Sending after
 * the peer left and closing the server with a live stream are covered. */
static void test_stream_server_close(void **state)
{
    struct subres r;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.sub = http_sub_open(F.base, "127.0.0.1", F.port, "POST", "/hold", NULL, 0, NULL, 0, 5.0,
                          &sub_cbs, &r);
    run_until(r.datas >= 1 && held_stream != NULL);
    assert_int_equal(http_stream_send(held_stream, "3\nabc", 5), 0);
    run_until(r.len == 12);
    assert_true(http_stream_pending(held_stream) == 0);
    http_stream_close(held_stream);
    held_stream = NULL;
    run_until(r.closes == 1);
    assert_string_equal(r.reason, "eof");
    assert_int_equal(held_closes, 0); /* closed by us: no on_close */
    free(r.ctype);

    /* A live stream when the server is freed: its on_close runs. */
    memset(&r, 0, sizeof(r));
    r.sub = http_sub_open(F.base, "127.0.0.1", F.port, "POST", "/hold", NULL, 0, NULL, 0, 5.0,
                          &sub_cbs, &r);
    run_until(r.datas >= 1 && held_stream != NULL);
    http_server_free(F.srv);
    F.srv = NULL;
    assert_int_equal(held_closes, 1);
    run_until(r.closes == 1);
    assert_string_equal(r.reason, "connection closed");
    free(r.ctype);
    /* teardown must not free the server twice */
    F.srv = http_server_new(F.base, "127.0.0.1", 0, MAX_BODY, NULL);
    assert_non_null(F.srv);
}

static void test_sub_errors(void **state)
{
    struct subres r;
    int dead = find_free_port();

    (void)state;
    /* Refused: on_close runs later, never inside http_sub_open. */
    memset(&r, 0, sizeof(r));
    r.sub =
        http_sub_open(F.base, "127.0.0.1", dead, "GET", "/", NULL, 0, NULL, 0, 5.0, &sub_cbs, &r);
    assert_non_null(r.sub);
    assert_int_equal(r.closes, 0);
    run_until(r.closes == 1);
    assert_int_equal(r.responses, 0);
    assert_string_equal(r.reason, "connection refused");

    /* No headers within the timeout. */
    memset(&r, 0, sizeof(r));
    r.sub = http_sub_open(F.base, "127.0.0.1", F.port, "GET", "/silent", NULL, 0, NULL, 0, 0.3,
                          &sub_cbs, &r);
    run_until(r.closes == 1);
    assert_string_equal(r.reason, "timeout");
    run_for(0.1);
    assert_non_null(silent_req);
    http_reply_text(silent_req, 200, "late");

    /* Closed by the owner before anything happened. */
    memset(&r, 0, sizeof(r));
    r.sub = http_sub_open(F.base, "127.0.0.1", F.port, "GET", "/stream", NULL, 0, NULL, 0, 5.0,
                          &sub_cbs, &r);
    http_sub_close(r.sub);
    run_for(0.2);
    assert_int_equal(r.responses + r.datas + r.closes, 0);

    /* Refused then closed before the deferred on_close ran. */
    memset(&r, 0, sizeof(r));
    r.sub =
        http_sub_open(F.base, "127.0.0.1", dead, "GET", "/", NULL, 0, NULL, 0, 5.0, &sub_cbs, &r);
    http_sub_close(r.sub);
    run_for(0.2);
    assert_int_equal(r.closes, 0);
}

/* A stream stays open while idle for longer than evhttp's default
 * timeouts would allow, in principle; here: idle for a while, then data. */
static void test_stream_idle_then_data(void **state)
{
    struct subres r;

    (void)state;
    memset(&r, 0, sizeof(r));
    r.sub = http_sub_open(F.base, "127.0.0.1", F.port, "POST", "/hold", NULL, 0, NULL, 0, 0.5,
                          &sub_cbs, &r);
    run_until(r.datas == 1);
    run_for(1.0); /* longer than the sub's connect timeout */
    assert_int_equal(r.closes, 0);
    assert_int_equal(http_stream_send(held_stream, "1\nx", 3), 0);
    run_until(r.len == 10);
    http_sub_close(r.sub);
    run_until(held_closes == 1);
    free(r.ctype);
}

static void test_parse_hostport(void **state)
{
    char *h;
    int p;

    (void)state;
    assert_int_equal(http_parse_hostport("10.0.0.1:5050", 80, &h, &p), 0);
    assert_string_equal(h, "10.0.0.1");
    assert_int_equal(p, 5050);
    free(h);
    assert_int_equal(http_parse_hostport("http://master.example:5051/master/redirect", 80, &h, &p),
                     0);
    assert_string_equal(h, "master.example");
    assert_int_equal(p, 5051);
    free(h);
    assert_int_equal(http_parse_hostport("//127.0.0.1:5050/api/v1/scheduler", 80, &h, &p), 0);
    assert_string_equal(h, "127.0.0.1");
    assert_int_equal(p, 5050);
    free(h);
    assert_int_equal(http_parse_hostport("localhost", 5050, &h, &p), 0);
    assert_string_equal(h, "localhost");
    assert_int_equal(p, 5050);
    free(h);
    assert_int_equal(http_parse_hostport("[::1]:8080", 80, &h, &p), 0);
    assert_string_equal(h, "::1");
    assert_int_equal(p, 8080);
    free(h);
    assert_int_equal(http_parse_hostport("host:", 80, &h, &p), -1);
    assert_int_equal(http_parse_hostport("host:99999", 80, &h, &p), -1);
    assert_int_equal(http_parse_hostport("host:12ab", 80, &h, &p), -1);
    assert_int_equal(http_parse_hostport(":5050", 80, &h, &p), -1);
    assert_int_equal(http_parse_hostport("https://x:1/", 80, &h, &p), -1);
    assert_int_equal(http_parse_hostport("", 80, &h, &p), -1);
    assert_int_equal(http_parse_hostport("not a host:80", 80, &h, &p), -1);
    assert_int_equal(http_parse_hostport("http://a,b:80/", 80, &h, &p), -1);
}

/* ------------------------------------------------------------ admission */

/* A socket connected from src (another loopback address) to the server,
 * with bytes sent on it. */
static int raw_connect(const char *src, const char *bytes)
{
    struct sockaddr_in a = { .sin_family = AF_INET };
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(fd >= 0);
    inet_pton(AF_INET, src, &a.sin_addr);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    a.sin_port = htons((uint16_t)F.port);
    assert_int_equal(connect(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    if (bytes)
        assert_true(send(fd, bytes, strlen(bytes), 0) > 0);
    return fd;
}

/* Has the server closed fd (EOF or reset)? */
static bool raw_closed(int fd)
{
    char b[256];
    ssize_t n = recv(fd, b, sizeof(b), MSG_DONTWAIT);

    return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

/* --max_connections_per_peer=2: the third connection from 127.0.0.2 is
 * closed at once, one from 127.0.0.3 stays; closing one makes room. */
static void test_per_peer_cap(void **state)
{
    int fds[4], i, closed = 0;

    (void)state;
    http_server_set_limits(100, 2, 0);
    for (i = 0; i < 3; i++)
        fds[i] = raw_connect("127.0.0.2", "GET / HT");
    fds[3] = raw_connect("127.0.0.3", "GET / HT");
    run_until(raw_closed(fds[2]));
    run_for(0.2);
    for (i = 0; i < 4; i++)
        closed += raw_closed(fds[i]);
    assert_int_equal(closed, 1);
    close(fds[0]);
    run_for(0.1);
    fds[0] = raw_connect("127.0.0.2", "GET / HT");
    run_for(0.2);
    assert_false(raw_closed(fds[0]));
    for (i = 0; i < 4; i++)
        close(fds[i]);
    http_server_set_limits(0, 0, 0);
}

/* A body trickled a byte every 50 ms is cut at the body deadline (0.5 s),
 * which the header timeout (reset by every byte) never would. */
static void test_body_deadline(void **state)
{
    int fd;
    double t0;

    (void)state;
    http_server_set_limits(0, 0, 0.5);
    fd = raw_connect("127.0.0.1", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n");
    t0 = now_secs();
    while (!raw_closed(fd) && now_secs() - t0 < 3) {
        if (send(fd, "x", 1, MSG_NOSIGNAL) < 0)
            break;
        run_for(0.05);
    }
    assert_true(now_secs() - t0 > 0.4);
    assert_true(now_secs() - t0 < 1.5);
    close(fd);
    http_server_set_limits(0, 0, HTTP_DEFAULT_BODY_TIMEOUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_call_ok, setup, teardown),
        cmocka_unit_test_setup_teardown(test_404_405, setup, teardown),
        cmocka_unit_test_setup_teardown(test_413, setup, teardown),
        cmocka_unit_test_setup_teardown(test_call_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_404, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_peer_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_server_close, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sub_errors, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stream_idle_then_data, setup, teardown),
        cmocka_unit_test_setup_teardown(test_per_peer_cap, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_deadline, setup, teardown),
        cmocka_unit_test(test_parse_hostport),
    };

    mem_init();
    if (getenv("AGORA_TEST_DEBUG"))
        log_set_level(LOG_LVL_DEBUG);
    else
        log_set_level(LOG_LVL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
