/*
 * test_sse: common/sse.c — the framing (event/id/data lines, multi-line
 * data), the parser (the same events for every split of a recorded stream,
 * CRLF/LF/CR, BOM, comments, id and retry, oversized events), and the hub
 * against a real http_server on 127.0.0.1: events and heartbeats reach an
 * http_sub that parses them, and a subscriber that stops reading is
 * dropped once it falls max_pending bytes behind (also within one turn);
 * a loop turn's events go out as one chunk per subscriber, shared by
 * those that took them all; a filter's variant keeps its place; HTTP/1.0
 * gets unframed bytes; closing flushes the turn.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http.h"
#include "log.h"
#include "mem.h"
#include "sse.h"

#include "loop.h"

/* ------------------------------------------------------------ collecting */

struct collected {
    char *text; /* "type|id|data\n" per event */
    size_t len;
    int count;
};

static int collect(const struct sse_event *ev, void *arg)
{
    struct collected *c = arg;
    char *line = xasprintf("%s|%s|%.*s\n", ev->type, ev->id, (int)ev->len, ev->data);
    size_t n = strlen(line);

    assert_int_equal(ev->data[ev->len], '\0');
    c->text = xrealloc(c->text, c->len + n + 1);
    memcpy(c->text + c->len, line, n + 1);
    c->len += n;
    c->count++;
    free(line);
    return 0;
}

static void collected_free(struct collected *c)
{
    free(c->text);
    memset(c, 0, sizeof(*c));
}

static const char *text_of(struct collected *c)
{
    return c->text ? c->text : "";
}

/* Parse s in one feed; returns the feed's result. */
static int parse_all(const char *s, size_t n, size_t max, struct collected *c)
{
    struct sse_parser *p = sse_parser_new(max);
    char *err = NULL;
    int rc = sse_parser_feed(p, s, n, collect, c, &err);

    free(err);
    sse_parser_free(p);
    return rc;
}

/* ------------------------------------------------------------ framing */

static void test_format(void **state)
{
    struct evbuffer *b = evbuffer_new();
    size_t n;

    (void)state;
    assert_int_equal(sse_format(b, "status_update_event", "7", "{\"a\":1}", 7), 0);
    assert_int_equal(sse_format(b, NULL, NULL, "one\ntwo\r\nthree\rfour", 19), 0);
    assert_int_equal(sse_format(b, "", NULL, "", 0), 0);
    assert_int_equal(sse_format(b, "x", NULL, "end\n", 4), 0);
    n = evbuffer_get_length(b);
    {
        const char *want = "event: status_update_event\nid: 7\ndata: {\"a\":1}\n\n"
                           "data: one\ndata: two\ndata: three\ndata: four\n\n"
                           "data: \n\n"
                           "event: x\ndata: end\ndata: \n\n";
        assert_int_equal(n, strlen(want));
        assert_memory_equal(evbuffer_pullup(b, -1), want, n);
    }
    /* CR or LF in the type or id would break the framing. */
    assert_int_equal(sse_format(b, "a\nb", NULL, "x", 1), -1);
    assert_int_equal(sse_format(b, "a", "1\r", "x", 1), -1);
    assert_int_equal(evbuffer_get_length(b), n);
    evbuffer_free(b);
}

/* What sse_format writes, the parser reads back unchanged. */
static void test_format_roundtrip(void **state)
{
    static const char *datas[] = { "", "x", "a\nb", "a\r\nb\rc\n", "\n\n", "{\"k\": \"v\"}" };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(datas) / sizeof(datas[0]); i++) {
        struct evbuffer *b = evbuffer_new();
        struct collected c = { 0 };
        char *want, *norm = xstrdup(datas[i]);
        size_t r, w;

        /* The parser gives lines joined by LF, whatever the terminator. */
        for (r = w = 0; norm[r]; r++) {
            if (norm[r] == '\r') {
                norm[w++] = '\n';
                if (norm[r + 1] == '\n')
                    r++;
            } else {
                norm[w++] = norm[r];
            }
        }
        norm[w] = '\0';
        assert_int_equal(sse_format(b, "t", "9", datas[i], strlen(datas[i])), 0);
        assert_int_equal(
            parse_all((char *)evbuffer_pullup(b, -1), evbuffer_get_length(b), 1024, &c), 0);
        want = xasprintf("t|9|%s\n", norm);
        assert_string_equal(text_of(&c), want);
        free(want);
        free(norm);
        collected_free(&c);
        evbuffer_free(b);
    }
}

/* ------------------------------------------------------------ parser */

/* A recorded stream with every feature: BOM, comments, CRLF, CR, LF,
 * multi-line data, id (persisting, reset), retry, unknown fields, a field
 * without a colon, an event without data (not dispatched), and an
 * unterminated event at the end (never dispatched). */
static const char RECORDED[] = "\xef\xbb\xbf"
                               ": welcome\n"
                               "retry: 1500\n"
                               "event: event_stream_attached\n"
                               "data: {\"remoteAddress\":\"127.0.0.1\"}\n"
                               "\n"
                               "id: 1\r\n"
                               "event:status_update_event\r\n"
                               "data: line one\r\n"
                               "data:  two spaces\r\n"
                               "data\r\n"
                               "\r\n"
                               "data: cr only\rdata: second\r\r"
                               "foo: ignored\n"
                               "event: no_data\n"
                               "\n"
                               "id\n"
                               "retry: 12x\n"
                               "data: after id reset\n"
                               "\n"
                               "data: unterminated\n";

static const char RECORDED_EVENTS[] = "event_stream_attached||{\"remoteAddress\":\"127.0.0.1\"}\n"
                                      "status_update_event|1|line one\n two spaces\n\n"
                                      "message|1|cr only\nsecond\n"
                                      "message||after id reset\n";

static void test_parser_recorded(void **state)
{
    struct sse_parser *p = sse_parser_new(1024);
    struct collected c = { 0 };

    (void)state;
    assert_int_equal(sse_parser_feed(p, RECORDED, sizeof(RECORDED) - 1, collect, &c, NULL), 0);
    assert_string_equal(text_of(&c), RECORDED_EVENTS);
    assert_int_equal(c.count, 4);
    assert_int_equal(sse_parser_retry(p), 1500); /* "12x" is ignored */
    assert_string_equal(sse_parser_last_id(p), "");
    collected_free(&c);
    sse_parser_free(p);
}

/* Every two-way and three-way split, and byte by byte, give the same events. */
static void test_parser_splits(void **state)
{
    size_t n = sizeof(RECORDED) - 1, a, b, i;

    (void)state;
    for (a = 0; a <= n; a++) {
        for (b = a; b <= n; b++) {
            struct sse_parser *p = sse_parser_new(1024);
            struct collected c = { 0 };

            assert_int_equal(sse_parser_feed(p, RECORDED, a, collect, &c, NULL), 0);
            assert_int_equal(sse_parser_feed(p, RECORDED + a, b - a, collect, &c, NULL), 0);
            assert_int_equal(sse_parser_feed(p, RECORDED + b, n - b, collect, &c, NULL), 0);
            if (strcmp(text_of(&c), RECORDED_EVENTS) != 0)
                fail_msg("split at %zu,%zu gave:\n%s", a, b, text_of(&c));
            assert_int_equal(sse_parser_retry(p), 1500);
            collected_free(&c);
            sse_parser_free(p);
        }
    }
    {
        struct sse_parser *p = sse_parser_new(1024);
        struct collected c = { 0 };

        for (i = 0; i < n; i++)
            assert_int_equal(sse_parser_feed(p, RECORDED + i, 1, collect, &c, NULL), 0);
        assert_string_equal(text_of(&c), RECORDED_EVENTS);
        collected_free(&c);
        sse_parser_free(p);
    }
}

static void test_parser_line_endings(void **state)
{
    static const char *const streams[] = {
        "event: e\ndata: a\ndata: b\n\n",
        "event: e\r\ndata: a\r\ndata: b\r\n\r\n",
        "event: e\rdata: a\rdata: b\r\r",
        "event: e\r\ndata: a\rdata: b\n\r\n",
    };
    size_t i;

    (void)state;
    for (i = 0; i < sizeof(streams) / sizeof(streams[0]); i++) {
        struct collected c = { 0 };

        assert_int_equal(parse_all(streams[i], strlen(streams[i]), 64, &c), 0);
        assert_string_equal(text_of(&c), "e||a\nb\n");
        collected_free(&c);
    }
    {
        /* CR at the end of one feed, LF at the start of the next: one ending. */
        struct sse_parser *p = sse_parser_new(64);
        struct collected c = { 0 };

        assert_int_equal(sse_parser_feed(p, "data: x\r", 8, collect, &c, NULL), 0);
        assert_int_equal(sse_parser_feed(p, "\ndata: y\r", 9, collect, &c, NULL), 0);
        assert_int_equal(sse_parser_feed(p, "\n", 1, collect, &c, NULL), 0);
        assert_int_equal(c.count, 0);
        assert_int_equal(sse_parser_feed(p, "\r", 1, collect, &c, NULL), 0);
        assert_string_equal(text_of(&c), "message||x\ny\n");
        /* That CR's LF is swallowed, not a second empty line. */
        assert_int_equal(sse_parser_feed(p, "\ndata: z\n\n", 11, collect, &c, NULL), 0);
        assert_string_equal(text_of(&c), "message||x\ny\nmessage||z\n");
        collected_free(&c);
        sse_parser_free(p);
    }
}

static void test_parser_bom(void **state)
{
    struct collected c = { 0 };

    (void)state;
    /* Only one BOM, only at the start; a partial one is line content. */
    assert_int_equal(parse_all("\xef\xbb\xbf\xef\xbb\xbf"
                               "data: x\n\ndata: y\n\n",
                               24, 64, &c),
                     0);
    assert_string_equal(text_of(&c), "message||y\n");
    collected_free(&c);
    assert_int_equal(parse_all("\xef\xbb"
                               "data: x\n\n",
                               11, 64, &c),
                     0);
    assert_int_equal(c.count, 0); /* field "\xef\xbbdata" is unknown */
    collected_free(&c);
}

static void test_parser_id_retry(void **state)
{
    struct sse_parser *p = sse_parser_new(64);
    struct collected c = { 0 };
    static const char s[] = "id: 42\ndata: a\n\ndata: b\n\nid: 43\n\nretry: 250\nretry: -1\n"
                            "id: with\0nul\ndata: c\n\n";
    size_t n = sizeof(s) - 1;

    (void)state;
    assert_int_equal(sse_parser_retry(p), -1);
    assert_int_equal(sse_parser_feed(p, s, n, collect, &c, NULL), 0);
    /* The id persists; an id-only event sets it without dispatching; an
     * id with NUL is ignored. */
    assert_string_equal(text_of(&c), "message|42|a\nmessage|42|b\nmessage|43|c\n");
    assert_string_equal(sse_parser_last_id(p), "43");
    assert_int_equal(sse_parser_retry(p), 250);
    collected_free(&c);
    sse_parser_free(p);
}

static int stop_at_first(const struct sse_event *ev, void *arg)
{
    (void)ev;
    (*(int *)arg)++;
    return -1;
}

static void test_parser_limits(void **state)
{
    struct sse_parser *p;
    struct collected c = { 0 };
    char *err = NULL;
    char big[200];
    int calls = 0;

    (void)state;
    /* Data accumulated over many lines counts, not just one line. */
    p = sse_parser_new(16);
    assert_int_equal(sse_parser_feed(p, "data: 12345678\n", 15, collect, &c, &err), 0);
    assert_int_equal(sse_parser_feed(p, "data: 12345678\n", 15, collect, &c, &err), -1);
    assert_non_null(err);
    assert_non_null(strstr(err, "16 bytes"));
    free(err);
    /* Refuses everything after an error. */
    assert_int_equal(sse_parser_feed(p, "\n", 1, collect, &c, &err), -1);
    free(err);
    assert_int_equal(c.count, 0);
    sse_parser_free(p);

    /* A line without an end fails as soon as it exceeds the limit. */
    memset(big, 'x', sizeof(big));
    p = sse_parser_new(100);
    assert_int_equal(sse_parser_feed(p, big, 60, collect, &c, NULL), 0);
    assert_int_equal(sse_parser_feed(p, big, 60, collect, &c, &err), -1);
    assert_non_null(strstr(err, "line exceeds"));
    free(err);
    sse_parser_free(p);

    /* Heartbeat comments forever never accumulate. */
    p = sse_parser_new(16);
    for (calls = 0; calls < 1000; calls++)
        assert_int_equal(sse_parser_feed(p, ": heartbeat\n\n", 13, collect, &c, NULL), 0);
    sse_parser_free(p);

    /* The callback stops parsing. */
    calls = 0;
    p = sse_parser_new(64);
    assert_int_equal(sse_parser_feed(p, "data: a\n\ndata: b\n\n", 18, stop_at_first, &calls, &err),
                     -1);
    assert_int_equal(calls, 1);
    assert_non_null(err);
    free(err);
    sse_parser_free(p);
    collected_free(&c);
}

/* ------------------------------------------------------------ hub */

struct fixture {
    struct event_base *base;
    struct http_server *srv;
    struct sse_hub *hub;
    int port;
    int joined;
    int closed;
    char last_reason[64];
    bool filter_odd;         /* subscribers added with the filter below */
    struct sse_client *last; /* the last subscriber added */
};

static struct fixture F;

static void on_sub_close(struct sse_client *c, const char *reason, void *arg)
{
    (void)c;
    (void)arg;
    F.closed++;
    snprintf(F.last_reason, sizeof(F.last_reason), "%s", reason);
}

static bool only_status(struct sse_client *c, const char *type, const char *data, size_t len,
                        void *arg)
{
    (void)c;
    (void)data;
    (void)len;
    (void)arg;
    return strcmp(type, "status_update_event") == 0;
}

/* As Pacer's plan-format=light: status events go out in the subscriber's
 * own variant, sent from the filter, which then refuses the default. */
static bool variant(struct sse_client *c, const char *type, const char *data, size_t len, void *arg)
{
    (void)arg;
    if (strcmp(type, "status_update_event") != 0)
        return true;
    assert_int_equal(sse_client_send(c, type, NULL, "light", 5), 0);
    (void)data;
    (void)len;
    return false;
}

static void h_events(struct evhttp_request *req, void *arg)
{
    char *filter = http_req_query(req, "filter");
    sse_filter_fn fn = NULL;

    (void)arg;
    if (filter)
        fn = strcmp(filter, "variant") == 0 ? variant : only_status;
    F.last = sse_hub_add(F.hub, req, fn, on_sub_close, NULL);
    assert_non_null(F.last);
    F.joined++;
    free(filter);
}

static int setup(void **state)
{
    char *err = NULL;

    (void)state;
    memset(&F, 0, sizeof(F));
    F.base = event_base_new();
    F.srv = http_server_new(F.base, "127.0.0.1", 0, 1024, &err);
    assert_non_null(F.srv);
    F.port = http_server_port(F.srv);
    http_server_route(F.srv, "GET", "/v2/events", false, h_events, NULL);
    return 0;
}

static int teardown(void **state)
{
    struct timeval tv = { 0, 50000 };

    (void)state;
    sse_hub_free(F.hub);
    event_base_loopexit(F.base, &tv);
    event_base_dispatch(F.base);
    http_server_free(F.srv);
    event_base_free(F.base);
    memset(&F, 0, sizeof(F));
    return 0;
}

/* A client: an http_sub feeding a parser. */
struct client {
    struct http_sub *sub;
    struct sse_parser *parser;
    struct collected events;
    int status;
    char ctype[64];
    size_t bytes;
    int heartbeats; /* ": heartbeat" lines seen (raw) */
    bool closed;
    char *raw;
    size_t raw_len;
};

static void cl_on_response(struct http_sub *s, int status, struct evkeyvalq *h, void *arg)
{
    struct client *cl = arg;
    const char *ct = http_header_get(h, "Content-Type");

    (void)s;
    cl->status = status;
    snprintf(cl->ctype, sizeof(cl->ctype), "%s", ct ? ct : "");
}

static void cl_on_data(struct http_sub *s, const char *data, size_t len, void *arg)
{
    struct client *cl = arg;

    (void)s;
    cl->raw = xrealloc(cl->raw, cl->raw_len + len + 1);
    memcpy(cl->raw + cl->raw_len, data, len);
    cl->raw_len += len;
    cl->raw[cl->raw_len] = '\0';
    cl->bytes += len;
    assert_int_equal(sse_parser_feed(cl->parser, data, len, collect, &cl->events, NULL), 0);
}

static void cl_on_close(struct http_sub *s, const char *reason, void *arg)
{
    struct client *cl = arg;

    (void)s;
    (void)reason;
    cl->closed = true;
    cl->sub = NULL;
}

static void client_open(struct client *cl, const char *path)
{
    static const struct http_sub_callbacks cbs = { cl_on_response, cl_on_data, cl_on_close };

    memset(cl, 0, sizeof(*cl));
    cl->parser = sse_parser_new(65536);
    cl->sub =
        http_sub_open(F.base, "127.0.0.1", F.port, "GET", path, NULL, 0, NULL, 0, 5.0, &cbs, cl);
    assert_non_null(cl->sub);
}

static void client_free(struct client *cl)
{
    http_sub_close(cl->sub);
    sse_parser_free(cl->parser);
    collected_free(&cl->events);
    free(cl->raw);
}

static void test_hub_broadcast(void **state)
{
    struct client a, b;
    int joined;

    (void)state;
    F.hub = sse_hub_new(F.base, 0, 1 << 20);
    client_open(&a, "/v2/events");
    client_open(&b, "/v2/events?filter=1");
    run_until(F.base, F.joined == 2 && a.status == 200 && b.status == 200);
    assert_string_equal(a.ctype, "text/event-stream");
    assert_int_equal(sse_hub_count(F.hub), 2);

    assert_int_equal(sse_hub_broadcast(F.hub, "event_stream_attached", NULL, "{\"x\":1}", 7), 1);
    assert_int_equal(sse_hub_broadcast(F.hub, "status_update_event", "5", "l1\nl2", 5), 2);
    assert_int_equal(sse_hub_broadcast(F.hub, "bad\ntype", NULL, "x", 1), 0);
    run_until(F.base, a.events.count == 2 && b.events.count == 1);
    assert_string_equal(a.events.text, "event_stream_attached||{\"x\":1}\n"
                                       "status_update_event|5|l1\nl2\n");
    assert_string_equal(b.events.text, "status_update_event|5|l1\nl2\n");
    /* Multi-line data went out as several data: lines. */
    assert_non_null(strstr(a.raw, "event: status_update_event\nid: 5\ndata: l1\ndata: l2\n\n"));

    /* A subscriber that leaves is removed, with its on_close. */
    http_sub_close(b.sub);
    b.sub = NULL;
    run_until(F.base, F.closed == 1);
    assert_string_equal(F.last_reason, "peer closed");
    assert_int_equal(sse_hub_count(F.hub), 1);
    joined = F.joined;
    assert_int_equal(joined, 2);

    /* Freeing the hub ends the others' streams. */
    sse_hub_free(F.hub);
    F.hub = NULL;
    assert_int_equal(F.closed, 2);
    assert_string_equal(F.last_reason, "hub freed");
    run_until(F.base, a.closed);
    client_free(&a);
    client_free(&b);
}

static void test_hub_heartbeat(void **state)
{
    struct client a;

    (void)state;
    F.hub = sse_hub_new(F.base, 0.05, 1 << 20);
    client_open(&a, "/v2/events");
    run_until(F.base, a.raw && strstr(a.raw, ": heartbeat\n\n: heartbeat\n\n") != NULL);
    assert_int_equal(a.events.count, 0); /* comments dispatch nothing */
    sse_hub_broadcast(F.hub, "e", NULL, "d", 1);
    run_until(F.base, a.events.count == 1);
    client_free(&a);
}

/* A subscriber that never reads: dropped once it is max_pending behind. */
static void test_hub_slow_consumer(void **state)
{
    struct sockaddr_in sa;
    const char *req = "GET /v2/events HTTP/1.1\r\nHost: x\r\n\r\n";
    char chunk[8192];
    int fd, small = 4096, i, sent = 0;
    ssize_t n;
    size_t total = 0;
    bool eof = false;
    double end;

    (void)state;
    F.hub = sse_hub_new(F.base, 0, 64 * 1024);
    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)F.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    run_until(F.base, sse_hub_count(F.hub) == 1);

    memset(chunk, 'x', sizeof(chunk));
    for (i = 0; i < 4000 && sse_hub_count(F.hub) == 1; i++) {
        sent += sse_hub_broadcast(F.hub, "big", NULL, chunk, sizeof(chunk));
        event_base_loop(F.base, EVLOOP_NONBLOCK);
    }
    assert_int_equal(sse_hub_count(F.hub), 0);
    assert_int_equal(sse_hub_dropped(F.hub), 1);
    assert_int_equal(F.closed, 1);
    assert_string_equal(F.last_reason, "slow consumer");
    /* Far less than 4000 events were ever queued: the bound held. */
    assert_true(sent < 1000);

    /* The peer sees its connection end (EOF or reset), not a stall. */
    fcntl(fd, F_SETFL, O_NONBLOCK);
    end = loop_now() + DEADLINE_SECS;
    while (!eof && loop_now() < end) {
        event_base_loop(F.base, EVLOOP_NONBLOCK);
        n = read(fd, chunk, sizeof(chunk));
        if (n > 0)
            total += (size_t)n;
        else if (n == 0 || (errno != EAGAIN && errno != EINTR))
            eof = true;
        else
            usleep(1000);
    }
    assert_true(eof);
    assert_true(total < (size_t)sent * (sizeof(chunk) + 32) + 1024);
    close(fd);
}

/* A raw-socket subscriber: sends req, then reads the whole response. */
static int raw_open(const char *req)
{
    struct sockaddr_in sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0);

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)F.port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    assert_int_equal(write(fd, req, strlen(req)), (ssize_t)strlen(req));
    fcntl(fd, F_SETFL, O_NONBLOCK);
    return fd;
}

/* Run the loop and read fd until want appears in *buf (or the deadline). */
static void raw_read_until(int fd, char **buf, size_t *len, const char *want)
{
    double end = loop_now() + DEADLINE_SECS;
    char tmp[65536];

    while (loop_now() < end && (*buf == NULL || strstr(*buf, want) == NULL)) {
        ssize_t n;

        event_base_loop(F.base, EVLOOP_NONBLOCK);
        n = read(fd, tmp, sizeof(tmp));
        if (n > 0) {
            *buf = xrealloc(*buf, *len + (size_t)n + 1);
            memcpy(*buf + *len, tmp, (size_t)n);
            *len += (size_t)n;
            (*buf)[*len] = '\0';
        } else if (n == 0) {
            break;
        } else {
            usleep(1000);
        }
    }
    assert_non_null(*buf);
    assert_non_null(strstr(*buf, want));
}

#define EV1 "event: a\ndata: 1\n\n"
#define EV2 "event: status_update_event\ndata: 2\n\n"
#define EV3 "event: b\ndata: 3\n\n"

/* Everything of one loop turn goes out as one chunk per subscriber; those
 * that took every event share one chunk; a filtered one gets its own. */
static void test_hub_coalesce(void **state)
{
    const char *req = "GET /v2/events HTTP/1.1\r\nHost: x\r\n\r\n";
    char *ra = NULL, *rb = NULL, *rc = NULL, want[256];
    size_t la = 0, lb = 0, lc = 0;
    unsigned long chunks, shared;
    struct client f;
    int a, b, c;

    (void)state;
    F.hub = sse_hub_new(F.base, 0, 1 << 20);
    a = raw_open(req);
    b = raw_open(req);
    c = raw_open(req);
    client_open(&f, "/v2/events?filter=1");
    run_until(F.base, sse_hub_count(F.hub) == 4 && f.status == 200);
    loop_run_for(F.base, 0.05); /* the response heads are out */

    /* One turn: three events. */
    assert_int_equal(sse_hub_broadcast(F.hub, "a", NULL, "1", 1), 3);
    assert_int_equal(sse_hub_broadcast(F.hub, "status_update_event", NULL, "2", 1), 4);
    assert_int_equal(sse_hub_broadcast(F.hub, "b", NULL, "3", 1), 3);
    snprintf(want, sizeof(want), "\r\n\r\n%zx\r\n" EV1 EV2 EV3 "\r\n", strlen(EV1 EV2 EV3));
    raw_read_until(a, &ra, &la, want);
    raw_read_until(b, &rb, &lb, want);
    raw_read_until(c, &rc, &lc, want);
    /* Nothing else: exactly one chunk after the head. */
    assert_string_equal(strstr(ra, "\r\n\r\n"), want);
    assert_string_equal(strstr(rc, "\r\n\r\n"), want);
    run_until(F.base, f.events.count == 1);
    assert_string_equal(f.events.text, "status_update_event||2\n");
    sse_hub_stats(F.hub, &chunks, &shared);
    assert_int_equal(chunks, 4);
    assert_int_equal(shared, 3);

    /* A large turn (over the copy threshold): referenced, same bytes. */
    {
        char big[3000];
        char *head;

        memset(big, 'y', sizeof(big));
        la = lc = 0;
        free(ra);
        free(rc);
        ra = rc = NULL;
        assert_int_equal(sse_hub_broadcast(F.hub, "big", NULL, big, sizeof(big)), 3);
        raw_read_until(a, &ra, &la, "yyy\n\n\r\n");
        raw_read_until(c, &rc, &lc, "yyy\n\n\r\n");
        assert_int_equal(la, lc);
        assert_memory_equal(ra, rc, la);
        head = xasprintf("%zx\r\nevent: big\ndata: ", sizeof(big) + 19);
        assert_memory_equal(ra, head, strlen(head));
        assert_int_equal(la, strlen(head) + sizeof(big) + 2 + 2);
        free(head);
    }
    sse_hub_stats(F.hub, &chunks, &shared);
    assert_int_equal(shared, 6);

    close(a);
    close(b);
    close(c);
    free(ra);
    free(rb);
    free(rc);
    run_until(F.base, sse_hub_count(F.hub) == 1);
    client_free(&f);
}

/* A filter's own variant goes out in order, between the shared events. */
static void test_hub_variant_order(void **state)
{
    struct client v, all;

    (void)state;
    F.hub = sse_hub_new(F.base, 0, 1 << 20);
    client_open(&v, "/v2/events?filter=variant");
    client_open(&all, "/v2/events");
    run_until(F.base, F.joined == 2 && v.status == 200 && all.status == 200);
    sse_hub_broadcast(F.hub, "a", NULL, "1", 1);
    sse_hub_broadcast(F.hub, "status_update_event", NULL, "full", 4);
    sse_hub_broadcast(F.hub, "b", NULL, "3", 1);
    run_until(F.base, v.events.count == 3 && all.events.count == 3);
    assert_string_equal(v.events.text, "a||1\nstatus_update_event||light\nb||3\n");
    assert_string_equal(all.events.text, "a||1\nstatus_update_event||full\nb||3\n");
    client_free(&v);
    client_free(&all);
}

/* HTTP/1.0: no chunked framing, the events are the raw body. */
static void test_hub_http10(void **state)
{
    char *r = NULL;
    size_t l = 0;
    int fd;

    (void)state;
    F.hub = sse_hub_new(F.base, 0, 1 << 20);
    fd = raw_open("GET /v2/events HTTP/1.0\r\n\r\n");
    run_until(F.base, sse_hub_count(F.hub) == 1);
    sse_hub_broadcast(F.hub, "a", NULL, "1", 1);
    sse_hub_broadcast(F.hub, "b", NULL, "3", 1);
    raw_read_until(fd, &r, &l, EV3);
    assert_string_equal(strstr(r, "\r\n\r\n"), "\r\n\r\n" EV1 EV3);
    close(fd);
    free(r);
}

/* Closing a subscriber (or freeing the hub) in the turn of a broadcast
 * still delivers that turn's events before the stream ends. */
static void test_hub_close_flushes(void **state)
{
    struct client a;

    (void)state;
    F.hub = sse_hub_new(F.base, 0, 1 << 20);
    client_open(&a, "/v2/events");
    run_until(F.base, F.joined == 1 && a.status == 200);
    sse_hub_broadcast(F.hub, "a", NULL, "1", 1);
    assert_int_equal(sse_client_send(F.last, "b", NULL, "3", 1), 0);
    sse_client_close(F.last);
    assert_int_equal(sse_hub_count(F.hub), 0);
    run_until(F.base, a.closed);
    assert_string_equal(a.events.text, "a||1\nb||3\n");
    assert_int_equal(F.closed, 0); /* no on_close after sse_client_close */
    client_free(&a);
}

/* The bound counts what is queued in this turn too: a burst within one
 * turn drops the subscriber before the burst ever reaches its socket. */
static void test_hub_slow_consumer_one_turn(void **state)
{
    struct client a;
    char chunk[8192];
    int i, sent = 0;

    (void)state;
    F.hub = sse_hub_new(F.base, 0, 64 * 1024);
    client_open(&a, "/v2/events");
    run_until(F.base, F.joined == 1 && a.status == 200);
    memset(chunk, 'x', sizeof(chunk));
    for (i = 0; i < 20; i++)
        sent += sse_hub_broadcast(F.hub, "big", NULL, chunk, sizeof(chunk));
    assert_int_equal(sent, 7); /* 7 * 8211 fit in 64 KiB, the 8th not */
    assert_int_equal(sse_hub_count(F.hub), 0);
    assert_int_equal(sse_hub_dropped(F.hub), 1);
    assert_string_equal(F.last_reason, "slow consumer");
    run_until(F.base, a.closed);
    assert_int_equal(a.events.count, 0); /* dropped: the burst never went out */
    client_free(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_format),
        cmocka_unit_test(test_format_roundtrip),
        cmocka_unit_test(test_parser_recorded),
        cmocka_unit_test(test_parser_splits),
        cmocka_unit_test(test_parser_line_endings),
        cmocka_unit_test(test_parser_bom),
        cmocka_unit_test(test_parser_id_retry),
        cmocka_unit_test(test_parser_limits),
        cmocka_unit_test_setup_teardown(test_hub_broadcast, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_heartbeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_slow_consumer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_coalesce, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_variant_order, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_http10, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_close_flushes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hub_slow_consumer_one_turn, setup, teardown),
    };

    mem_init();
    signal(SIGPIPE, SIG_IGN); /* as the daemons do: a dropped peer must not kill us */
    log_set_level(LOG_LVL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
