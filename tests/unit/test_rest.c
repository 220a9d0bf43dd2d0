/*
 * test_rest: common/rest.c — pattern matching (greedy ids, suffix routes,
 * repeated slashes, precedence), 404 versus 405 with Allow, HEAD falling
 * back to GET, Accept negotiation (q-values, parameters, wildcards),
 * Content-Type checks, query helpers, the formatters, and in-process over
 * HTTP: 413 and 405 bodies from the server's formatter, leader-only 307
 * (keeping path and query) and 503, JSON bodies; built-in static files
 * (static_assets.h, rest_static_mount): the generated table, lookups that
 * refuse traversal, Content-Type, ETag and 304, Cache-Control, 404, 405,
 * the leader-only mount.
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
#include <time.h>

#include <event2/event.h>
#include <event2/http.h>

#include "http.h"
#include "log.h"
#include "mem.h"
#include "rest.h"
#include "static_assets.h"
#include "attributes.h"

/* ------------------------------------------------------------ matching */

static void h_noop(struct rest_req *rq)
{
    (void)rq;
}
static void h_app(struct rest_req *rq)
{
    (void)rq;
}
static void h_tasks(struct rest_req *rq)
{
    (void)rq;
}
static void h_task(struct rest_req *rq)
{
    (void)rq;
}
static void h_restart(struct rest_req *rq)
{
    (void)rq;
}
static void h_version(struct rest_req *rq)
{
    (void)rq;
}

static const struct rest_route marathon[] = {
    { "GET", "/v2/apps", h_noop, 0, NULL },
    { "POST", "/v2/apps", h_noop, 0, NULL },
    { "GET", "/v2/apps/{id*}", h_app, 0, NULL },
    { "PUT", "/v2/apps/{id*}", h_app, 0, NULL },
    { "DELETE", "/v2/apps/{id*}", h_app, 0, NULL },
    { "GET", "/v2/apps/{id*}/tasks", h_tasks, 0, NULL },
    { "DELETE", "/v2/apps/{id*}/tasks/{task_id}", h_task, 0, NULL },
    { "POST", "/v2/apps/{id*}/restart", h_restart, 0, NULL },
    { "GET", "/v2/apps/{id*}/versions/{version}", h_version, 0, NULL },
    { "GET", "/v2/groups/{id*}", h_noop, 0, NULL },
};
#define NMARATHON (sizeof(marathon) / sizeof(marathon[0]))

struct m {
    enum rest_match_result r;
    const struct rest_route *route;
    struct rest_param params[REST_MAX_PARAMS];
    int n;
    char buf[512];
    char allow[128];
};

static struct m *match(const char *method, const char *path)
{
    static struct m m;

    memset(&m, 0, sizeof(m));
    m.r = rest_table_match(marathon, NMARATHON, method, path, &m.route, m.params, &m.n, m.buf,
                           m.allow, sizeof(m.allow));
    return &m;
}

static const char *param(const struct m *m, const char *name)
{
    struct rest_req rq = { 0 };

    memcpy(rq.params, m->params, sizeof(rq.params));
    rq.nparams = m->n;
    return rest_param(&rq, name);
}

static void test_greedy_and_suffix(void **state)
{
    struct m *m;

    (void)state;
    m = match("GET", "/v2/apps/web");
    assert_int_equal(m->r, REST_MATCH_OK);
    assert_ptr_equal(m->route->fn, h_app);
    assert_string_equal(param(m, "id"), "web");

    m = match("GET", "/v2/apps/a/b");
    assert_ptr_equal(m->route->fn, h_app);
    assert_string_equal(param(m, "id"), "a/b");

    /* A literal suffix beats the bare greedy route. */
    m = match("GET", "/v2/apps/a/b/tasks");
    assert_ptr_equal(m->route->fn, h_tasks);
    assert_string_equal(param(m, "id"), "a/b");
    m = match("GET", "/v2/apps/x/tasks");
    assert_ptr_equal(m->route->fn, h_tasks);
    assert_string_equal(param(m, "id"), "x");

    m = match("DELETE", "/v2/apps/a/b/tasks/t1");
    assert_ptr_equal(m->route->fn, h_task);
    assert_string_equal(param(m, "id"), "a/b");
    assert_string_equal(param(m, "task_id"), "t1");
    assert_null(param(m, "nope"));

    m = match("POST", "/v2/apps/prod/db/restart");
    assert_ptr_equal(m->route->fn, h_restart);
    assert_string_equal(param(m, "id"), "prod/db");

    m = match("GET", "/v2/apps/prod/db/versions/2024-01-01T00:00:00Z");
    assert_ptr_equal(m->route->fn, h_version);
    assert_string_equal(param(m, "id"), "prod/db");
    assert_string_equal(param(m, "version"), "2024-01-01T00:00:00Z");

    m = match("GET", "/v2/groups/a/b/c");
    assert_string_equal(param(m, "id"), "a/b/c");

    /* A greedy parameter needs at least one segment. */
    m = match("GET", "/v2/groups");
    assert_int_equal(m->r, REST_MATCH_NOT_FOUND);
    m = match("GET", "/v2/groups/");
    assert_int_equal(m->r, REST_MATCH_NOT_FOUND);
}

/* A path of thousands of segments: the greedy id and the task id are right,
 * the values fit the documented buffer (strlen + 1 + REST_MAX_PARAMS) with
 * slashes collapsed, and no route is mistaken for another. */
static void test_many_segments(void **state)
{
    enum { SEGS = 4000 };
    size_t cap = 3 * SEGS + 64;
    char *path = xmalloc(cap), *want = xmalloc(cap), *buf;
    size_t n = 0, w = 0;
    struct rest_param params[REST_MAX_PARAMS];
    const struct rest_route *route;
    int np;
    char allow[128];

    (void)state;
    n += (size_t)snprintf(path, cap, "/v2/apps");
    for (int i = 0; i < SEGS; i++) {
        n += (size_t)snprintf(path + n, cap - n, i % 7 == 0 ? "//a" : "/a");
        w += (size_t)snprintf(want + w, cap - w, i == 0 ? "a" : "/a");
    }
    snprintf(path + n, cap - n, "/tasks/t9");
    buf = xmalloc(strlen(path) + 1 + REST_MAX_PARAMS);
    assert_int_equal(rest_table_match(marathon, NMARATHON, "DELETE", path, &route, params, &np, buf,
                                      allow, sizeof(allow)),
                     REST_MATCH_OK);
    assert_ptr_equal(route->fn, h_task);
    struct rest_req rq = { 0 };
    memcpy(rq.params, params, sizeof(rq.params));
    rq.nparams = np;
    assert_string_equal(rest_param(&rq, "id"), want);
    assert_string_equal(rest_param(&rq, "task_id"), "t9");
    /* GET has only the bare greedy route for it: the whole rest is the id. */
    assert_int_equal(rest_table_match(marathon, NMARATHON, "GET", path, &route, params, &np, buf,
                                      allow, sizeof(allow)),
                     REST_MATCH_OK);
    assert_ptr_equal(route->fn, h_app);
    free(buf);
    free(want);
    free(path);
}

static void test_slashes(void **state)
{
    struct m *m;

    (void)state;
    m = match("GET", "/v2/apps//web");
    assert_int_equal(m->r, REST_MATCH_OK);
    assert_ptr_equal(m->route->fn, h_app);
    assert_string_equal(param(m, "id"), "web");
    m = match("GET", "//v2///apps/a//b//tasks/");
    assert_ptr_equal(m->route->fn, h_tasks);
    assert_string_equal(param(m, "id"), "a/b");
    m = match("GET", "/v2/apps/");
    assert_ptr_equal(m->route->fn, h_noop);
}

static void test_404_405(void **state)
{
    struct m *m;

    (void)state;
    m = match("GET", "/v3/apps");
    assert_int_equal(m->r, REST_MATCH_NOT_FOUND);
    m = match("GET", "/v2/app");
    assert_int_equal(m->r, REST_MATCH_NOT_FOUND);
    m = match("PATCH", "/v2/apps/web");
    assert_int_equal(m->r, REST_MATCH_NO_METHOD);
    assert_string_equal(m->allow, "GET, PUT, DELETE");
    m = match("DELETE", "/v2/apps");
    assert_int_equal(m->r, REST_MATCH_NO_METHOD);
    assert_string_equal(m->allow, "GET, POST");
    /* The tasks path: only GET on the suffix route, but the bare greedy
     * route matches too (id "web/tasks"), so its methods are allowed. */
    m = match("POST", "/v2/apps/web/tasks");
    assert_int_equal(m->r, REST_MATCH_NO_METHOD);
    assert_non_null(strstr(m->allow, "GET"));
    /* HEAD falls back to GET. */
    m = match("HEAD", "/v2/apps/web/tasks");
    assert_int_equal(m->r, REST_MATCH_OK);
    assert_ptr_equal(m->route->fn, h_tasks);
    /* Literal beats parameter at the same position. */
    static const struct rest_route t[] = {
        { "GET", "/a/{x}", h_app, 0, NULL },
        { "GET", "/a/search", h_tasks, 0, NULL },
        { "GET", "/a/{x*}", h_task, 0, NULL },
    };
    struct rest_param p[REST_MAX_PARAMS];
    int n;
    char buf[64], allow[64];
    const struct rest_route *r;
    assert_int_equal(rest_table_match(t, 3, "GET", "/a/search", &r, p, &n, buf, allow, 64),
                     REST_MATCH_OK);
    assert_ptr_equal(r->fn, h_tasks);
    rest_table_match(t, 3, "GET", "/a/b", &r, p, &n, buf, allow, 64);
    assert_ptr_equal(r->fn, h_app); /* one segment: {x} beats {x*} */
    rest_table_match(t, 3, "GET", "/a/b/c", &r, p, &n, buf, allow, 64);
    assert_ptr_equal(r->fn, h_task);
}

/* ------------------------------------------------------------ media */

static void test_negotiate(void **state)
{
    static const char *const offers[] = { "application/json", "application/x-protobuf",
                                          "application/recordio" };
    static const char *const text[] = { "text/plain; version=0.0.4", "application/json" };

    (void)state;
    assert_int_equal(rest_negotiate(NULL, offers, 3), 0);
    assert_int_equal(rest_negotiate("", offers, 3), 0);
    assert_int_equal(rest_negotiate("*/*", offers, 3), 0);
    assert_int_equal(rest_negotiate("application/*", offers, 3), 0);
    assert_int_equal(rest_negotiate("application/x-protobuf", offers, 3), 1);
    assert_int_equal(rest_negotiate("Application/X-Protobuf", offers, 3), 1);
    assert_int_equal(rest_negotiate("application/recordio", offers, 3), 2);
    assert_int_equal(rest_negotiate("text/html", offers, 3), -1);
    /* q-values: the client's preference wins over the server's order. */
    assert_int_equal(rest_negotiate("application/json;q=0.2, application/x-protobuf", offers, 3),
                     1);
    assert_int_equal(
        rest_negotiate("application/json; q=0.9 ,application/x-protobuf;q=0.5", offers, 3), 0);
    /* q=0 refuses; the most specific range decides. */
    assert_int_equal(rest_negotiate("application/json;q=0", offers, 3), -1);
    assert_int_equal(rest_negotiate("*/*, application/json;q=0", offers, 3), 1);
    assert_int_equal(rest_negotiate("text/html, */*;q=0.1", offers, 3), 0);
    /* Parameters: a range refuses an offer whose same parameter differs. */
    assert_int_equal(rest_negotiate("text/plain;version=0.0.4", text, 2), 0);
    assert_int_equal(rest_negotiate("text/plain;version=1.0", text, 2), -1);
    assert_int_equal(rest_negotiate("text/plain", text, 2), 0);
    assert_int_equal(rest_negotiate("text/plain;version=9;q=1, application/json;q=0.5", text, 2),
                     1);
    /* A parameter the offer does not have does not refuse it: clients send
     * "application/json; charset=utf-8" and got JSON before. */
    assert_int_equal(rest_negotiate("application/json; charset=utf-8", offers, 3), 0);
    assert_int_equal(
        rest_negotiate("application/x-protobuf; proto=mesos.v1.scheduler.Event", offers, 3), 1);
    assert_int_equal(rest_negotiate("text/plain; charset=utf-8; version=0.0.4", text, 2), 0);

    assert_true(rest_media_is("application/json", "application/json"));
    assert_true(rest_media_is(" Application/JSON; charset=utf-8", "application/json"));
    assert_true(rest_media_is("application/json ;charset=utf-8", "application/json"));
    assert_false(rest_media_is("application/jsonx", "application/json"));
    assert_false(rest_media_is("application/json-seq", "application/json"));
    assert_false(rest_media_is(NULL, "application/json"));
    assert_false(rest_media_is("", "application/json"));
}

/* ------------------------------------------------------------ queries */

static void test_query(void **state)
{
    const char *q = "embed=apps.tasks&embed=apps.counts&force=True&n=42&bad=x&e=&name=a%20b+c";
    char *v, *err = NULL;
    bool b;
    long long n;

    (void)state;
    v = rest_query_get(q, "embed", 0);
    assert_string_equal(v, "apps.tasks");
    free(v);
    v = rest_query_get(q, "embed", 1);
    assert_string_equal(v, "apps.counts");
    free(v);
    assert_null(rest_query_get(q, "embed", 2));
    assert_int_equal(rest_query_count(q, "embed"), 2);
    assert_int_equal(rest_query_count(q, "nope"), 0);
    assert_int_equal(rest_query_count(NULL, "embed"), 0);
    v = rest_query_get(q, "name", 0);
    assert_string_equal(v, "a b c");
    free(v);
    v = rest_query_get(q, "e", 0);
    assert_string_equal(v, "");
    free(v);

    assert_int_equal(rest_query_bool(q, "force", false, &b, &err), 0);
    assert_true(b);
    assert_int_equal(rest_query_bool(q, "absent", true, &b, &err), 0);
    assert_true(b);
    assert_int_equal(rest_query_bool("f=0", "f", true, &b, &err), 0);
    assert_false(b);
    assert_int_equal(rest_query_bool("f=False", "f", true, &b, &err), 0);
    assert_false(b);
    assert_int_equal(rest_query_bool("f=1", "f", false, &b, &err), 0);
    assert_true(b);
    assert_int_equal(rest_query_bool("f=yes", "f", false, &b, &err), -1);
    assert_non_null(strstr(err, "yes"));
    free(err);
    err = NULL;

    assert_int_equal(rest_query_int(q, "n", 0, 100, 7, &n, &err), 0);
    assert_int_equal(n, 42);
    assert_int_equal(rest_query_int(q, "absent", 0, 100, 7, &n, &err), 0);
    assert_int_equal(n, 7);
    assert_int_equal(rest_query_int(q, "n", 0, 10, 7, &n, &err), -1);
    assert_non_null(strstr(err, "42"));
    free(err);
    err = NULL;
    assert_int_equal(rest_query_int(q, "bad", 0, 10, 7, &n, &err), -1);
    free(err);
    err = NULL;
    assert_int_equal(rest_query_int("n=99999999999999999999", "n", 0, 10, 7, &n, &err), -1);
    free(err);
}

static void test_formatters(void **state)
{
    const char *ct = NULL;
    char *body;
    json_t *details = json_pack("[{s:s, s:[s]}]", "path", "/id", "errors", "must not be empty");

    (void)state;
    body = rest_format_text(404, "no such path: /x", NULL, &ct);
    assert_string_equal(body, "no such path: /x\n");
    assert_true(rest_media_is(ct, "text/plain"));
    free(body);
    body = rest_format_json(422, "Object is not valid", details, &ct);
    assert_string_equal(body, "{\"message\":\"Object is not valid\",\"details\":[{\"path\":\"/"
                              "id\",\"errors\":[\"must not be empty\"]}]}");
    assert_string_equal(ct, "application/json");
    free(body);
    json_decref(details);
}

/* ------------------------------------------------------------ attributes */

static void test_attributes(void **state)
{
    Mesos__V1__Value__Scalar sc = MESOS__V1__VALUE__SCALAR__INIT;
    Mesos__V1__Value__Text tx = MESOS__V1__VALUE__TEXT__INIT;
    Mesos__V1__Value__Range r1 = MESOS__V1__VALUE__RANGE__INIT, r2 = MESOS__V1__VALUE__RANGE__INIT;
    Mesos__V1__Value__Range *rv[] = { &r1, &r2 };
    Mesos__V1__Value__Ranges rs = MESOS__V1__VALUE__RANGES__INIT;
    char *items[] = { "a", "b" };
    Mesos__V1__Value__Set set = MESOS__V1__VALUE__SET__INIT;
    Mesos__V1__Attribute a[4] = { MESOS__V1__ATTRIBUTE__INIT, MESOS__V1__ATTRIBUTE__INIT,
                                  MESOS__V1__ATTRIBUTE__INIT, MESOS__V1__ATTRIBUTE__INIT };
    Mesos__V1__Attribute *av[] = { &a[0], &a[1], &a[2], &a[3] };
    json_t *j;
    char *text;

    (void)state;
    sc.value = 2.5;
    tx.value = "east";
    r1.begin = 31000;
    r1.end = 32000;
    r2.begin = 33000;
    r2.end = 33001;
    rs.n_range = 2;
    rs.range = rv;
    set.n_item = 2;
    set.item = items;
    a[0].name = "weight";
    a[0].type = MESOS__V1__VALUE__TYPE__SCALAR;
    a[0].scalar = &sc;
    a[1].name = "zone";
    a[1].type = MESOS__V1__VALUE__TYPE__TEXT;
    a[1].text = &tx;
    a[2].name = "ports";
    a[2].type = MESOS__V1__VALUE__TYPE__RANGES;
    a[2].ranges = &rs;
    a[3].name = "disks";
    a[3].type = MESOS__V1__VALUE__TYPE__SET;
    a[3].set = &set;
    j = attributes_to_json(av, 4);
    text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal(text, "{\"disks\":\"{a, b}\",\"ports\":\"[31000-32000, 33000-33001]\","
                              "\"weight\":2.5,\"zone\":\"east\"}");
    free(text);
    json_decref(j);
    j = attributes_to_json(NULL, 0);
    assert_int_equal(json_object_size(j), 0);
    json_decref(j);
}

/* ------------------------------------------------------------ over HTTP */

#define MAX_BODY 1024

static struct event_base *base;
static struct http_server *srv;
static struct rest_server *rs;
static bool leading = true;
static const char *leader_host;

static void h_echo_id(struct rest_req *rq)
{
    http_reply_text(rq->req, 200, "%s", rest_param(rq, "id"));
}

static void h_json_body(struct rest_req *rq)
{
    http_reply_json(rq->req, 200, json_incref(rq->json));
}

/* Answers which of the route's media types the body had. */
static void h_consumed(struct rest_req *rq)
{
    http_reply_text(rq->req, 200, "%d", rq->consumed);
}

static const char *const typed[] = { "application/json", "application/x-protobuf", NULL };

static const struct rest_route test_routes[] = {
    { "POST", "/typed", h_consumed, 0, typed },
    { "GET", "/v2/apps/{id*}", h_echo_id, 0, NULL },
    { "POST", "/v2/apps", h_json_body, REST_JSON_BODY, NULL },
    { "POST", "/write/{id}", h_echo_id, REST_LEADER_ONLY, NULL },
    { "GET", "/health", rest_handle_health, 0, NULL },
};

static bool is_leading(void *arg, const char **host, int *port)
{
    (void)arg;
    *host = leader_host;
    *port = 5050;
    return leading;
}

struct result {
    bool done;
    int status;
    char *body;
    size_t len;
    char *ctype;
    char *location;
    char *allow;
    char *etag;
    char *cache_control;
    char *csp;
    char *nosniff;
};

static void on_resp(const struct http_response *resp, void *arg)
{
    struct result *r = arg;
    const char *v;

    static const struct {
        const char *name;
        size_t off;
    } keep[] = {
        { "Content-Type", offsetof(struct result, ctype) },
        { "Location", offsetof(struct result, location) },
        { "Allow", offsetof(struct result, allow) },
        { "ETag", offsetof(struct result, etag) },
        { "Cache-Control", offsetof(struct result, cache_control) },
        { "Content-Security-Policy", offsetof(struct result, csp) },
        { "X-Content-Type-Options", offsetof(struct result, nosniff) },
    };

    r->status = resp->status;
    r->body = xstrdup(resp->body);
    r->len = resp->len;
    for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++)
        if (resp->headers && (v = http_header_get(resp->headers, keep[i].name)))
            *(char **)((char *)r + keep[i].off) = xstrdup(v);
    r->done = true;
}

static void result_free(struct result *r)
{
    free(r->body);
    free(r->ctype);
    free(r->location);
    free(r->allow);
    free(r->etag);
    free(r->cache_control);
    free(r->csp);
    free(r->nosniff);
    memset(r, 0, sizeof(*r));
}

/* One call with request headers, run to its answer. */
static void do_call_hdrs(struct result *r, const char *method, const char *path,
                         const struct http_header *h, size_t nh, const char *body, size_t len)
{
    struct timespec ts;
    double end;

    result_free(r);
    assert_non_null(http_call_start(base, "127.0.0.1", http_server_port(srv), method, path, h, nh,
                                    body, len, 5.0, on_resp, r));
    clock_gettime(CLOCK_MONOTONIC, &ts);
    end = (double)ts.tv_sec + 10;
    while (!r->done) {
        event_base_loop(base, EVLOOP_ONCE);
        clock_gettime(CLOCK_MONOTONIC, &ts);
        assert_true((double)ts.tv_sec < end);
    }
}

/* One call with an optional Content-Type. */
static void do_call_ct(struct result *r, const char *method, const char *path, const char *ctype,
                       const char *body, size_t len)
{
    struct http_header h = { "Content-Type", ctype };

    do_call_hdrs(r, method, path, &h, ctype ? 1 : 0, body, len);
}

static void do_call(struct result *r, const char *method, const char *path, const char *body,
                    size_t len)
{
    do_call_ct(r, method, path, NULL, body, len);
}

/* Status, and Content-Type and body unless NULL. */
static void expect(const struct result *r, int status, const char *ctype, const char *body)
{
    assert_int_equal(r->status, status);
    if (ctype)
        assert_string_equal(r->ctype, ctype);
    if (body)
        assert_string_equal(r->body, body);
}

static int setup(void **state)
{
    char *err = NULL;

    (void)state;
    base = event_base_new();
    srv = http_server_new(base, "127.0.0.1", 0, MAX_BODY, &err);
    assert_non_null(srv);
    rs = rest_server_attach(srv, test_routes, sizeof(test_routes) / sizeof(test_routes[0]), NULL,
                            rest_format_json);
    rest_server_set_leader(rs, is_leading);
    leading = true;
    leader_host = NULL;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    http_server_free(srv);
    rest_server_free(rs);
    event_base_loop(base, EVLOOP_NONBLOCK);
    event_base_free(base);
    return 0;
}

static void test_http_dispatch(void **state)
{
    struct result r = { 0 };
    char *big = xmalloc(MAX_BODY + 1);

    (void)state;
    do_call(&r, "GET", "/v2/apps//a/b%2Fc", NULL, 0);
    expect(&r, 200, NULL, "a/b/c\n");
    do_call(&r, "GET", "/nope", NULL, 0);
    expect(&r, 404, "application/json", "{\"message\":\"no such path: /nope\"}");
    do_call(&r, "DELETE", "/v2/apps", NULL, 0);
    expect(&r, 405, "application/json", NULL);
    assert_string_equal(r.allow, "POST");
    do_call(&r, "POST", "/v2/apps", "{\"id\": \"x\"}", 11);
    expect(&r, 200, NULL, "{\"id\":\"x\"}");
    do_call(&r, "POST", "/v2/apps", "{bad", 4);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"message\""));

    /* 413 from the server's formatter, not libevent's HTML page. */
    memset(big, ' ', MAX_BODY + 1);
    do_call(&r, "POST", "/v2/apps", big, MAX_BODY + 1);
    assert_int_equal(r.status, 413);
    assert_string_equal(r.ctype, "application/json");
    assert_non_null(strstr(r.body, "\"message\":\"Request body is over the limit"));
    /* Exactly at the limit is fine ("{", blanks, "}"). */
    big[0] = '{';
    big[MAX_BODY - 1] = '}';
    do_call(&r, "POST", "/v2/apps", big, MAX_BODY);
    assert_int_equal(r.status, 200);
    free(big);

    do_call(&r, "HEAD", "/health", NULL, 0);
    assert_int_equal(r.status, 200);

    /* 415 from the route's consumes list, in one place; parameters and
     * case do not matter, and the handler learns which type it got. */
    do_call_ct(&r, "POST", "/typed", "application/x-protobuf", "x", 1);
    expect(&r, 200, NULL, "1\n");
    do_call_ct(&r, "POST", "/typed", "Application/JSON; charset=utf-8", "{}", 2);
    expect(&r, 200, NULL, "0\n");
    do_call_ct(&r, "POST", "/typed", "text/plain", "x", 1);
    expect(&r, 415, "application/json",
           "{\"message\":\"Expecting 'Content-Type' of application/json or "
           "application/x-protobuf, got 'text/plain'\"}");
    do_call(&r, "POST", "/typed", "x", 1);
    expect(&r, 415, "application/json", NULL);
    result_free(&r);
}

static void test_http_leader(void **state)
{
    struct result r = { 0 };

    (void)state;
    do_call(&r, "POST", "/write/x", "", 0);
    assert_int_equal(r.status, 200);
    leading = false;
    leader_host = "10.0.0.7";
    do_call(&r, "POST", "/write/x?force=true&a=%2F", "", 0);
    assert_int_equal(r.status, 307);
    assert_string_equal(r.location, "//10.0.0.7:5050/write/x?force=true&a=%2F");
    assert_non_null(strstr(r.body, "10.0.0.7:5050"));
    leader_host = NULL;
    do_call(&r, "POST", "/write/x", "", 0);
    assert_int_equal(r.status, 503);
    assert_string_equal(r.body, "{\"message\":\"No leader elected\"}");
    /* Routes without the flag are served by any instance. */
    do_call(&r, "GET", "/health", NULL, 0);
    assert_int_equal(r.status, 200);
    result_free(&r);
}

/* ------------------------------------------------------------ static files */

/* tests/unit/static_fixture, built in by agora_embed_assets (CMakeLists). */
extern const struct static_assets test_assets;

static const char *lookup_path(const char *rel)
{
    const struct static_asset *a = NULL;
    enum static_lookup r = static_assets_lookup(&test_assets, rel, &a);

    if (r == STATIC_REFUSED)
        return "REFUSED";
    if (r == STATIC_NOT_FOUND) {
        assert_null(a);
        return "NOT_FOUND";
    }
    assert_non_null(a);
    return a->path;
}

static void test_static_lookup(void **state)
{
    const struct static_asset *a;

    (void)state;
    /* The generated table: sorted, typed, hidden files left out. */
    assert_int_equal(test_assets.n, 5);
    for (size_t i = 1; i < test_assets.n; i++)
        assert_true(strcmp(test_assets.files[i - 1].path, test_assets.files[i].path) < 0);
    a = static_assets_find(&test_assets, "index.html");
    assert_non_null(a);
    assert_string_equal(a->content_type, "text/html; charset=utf-8");
    assert_int_equal(a->len, strlen("<!doctype html>\n<title>fixture</title>\n"));
    assert_memory_equal(a->data, "<!doctype html>\n<title>fixture</title>\n", a->len);
    assert_int_equal(a->data[a->len], '\0');
    assert_int_equal(a->etag[0], '"');
    assert_int_equal(a->etag[strlen(a->etag) - 1], '"');
    assert_string_equal(static_assets_find(&test_assets, "app.js")->content_type,
                        "text/javascript; charset=utf-8");
    assert_string_equal(static_assets_find(&test_assets, "css/site.css")->content_type,
                        "text/css; charset=utf-8");
    assert_string_equal(static_assets_find(&test_assets, "data.json")->content_type,
                        "application/json");
    assert_null(static_assets_find(&test_assets, ".hidden"));
    assert_string_not_equal(static_assets_find(&test_assets, "app.js")->etag, a->etag);

    static const struct {
        const char *rel, *want;
    } cases[] = {
        { "", "index.html" },
        { "/", "index.html" },
        { "//", "index.html" },
        { "/app.js", "app.js" },
        { "//css///site.css", "css/site.css" },
        { "/docs/", "docs/index.html" },
        { "/docs", "NOT_FOUND" }, /* a folder without its slash */
        { "/css/", "NOT_FOUND" },
        { "/nope.js", "NOT_FOUND" },
        { "/.hidden", "NOT_FOUND" },
        { "/APP.JS", "NOT_FOUND" },
        /* Traversal, in every spelling that reaches the lookup decoded. */
        { "/../app.js", "REFUSED" },
        { "/css/../app.js", "REFUSED" },
        { "/css/..", "REFUSED" },
        { "/./app.js", "REFUSED" },
        { "..", "REFUSED" },
        { "/..\\app.js", "REFUSED" },
        { "/css\\site.css", "REFUSED" },
        { "/app.js\n", "REFUSED" },
        { "/...js", "NOT_FOUND" }, /* only "." and ".." segments */
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *got = lookup_path(cases[i].rel);

        if (strcmp(got, cases[i].want) != 0)
            fail_msg("lookup of '%s': %s, expected %s", cases[i].rel, got, cases[i].want);
    }

    /* Names at the length limit, with and without a folder's index.html
     * to append (found by fuzz_static: an overflow by one). */
    char edge[600];
    snprintf(edge, sizeof(edge), "/%0255d/%0256d/", 0, 0);
    assert_string_equal(lookup_path(edge), "NOT_FOUND");
    edge[strlen(edge) - 1] = '\0';
    assert_string_equal(lookup_path(edge), "NOT_FOUND");
    snprintf(edge, sizeof(edge), "/%0255d/%0257d", 0, 0);
    assert_string_equal(lookup_path(edge), "NOT_FOUND");

    char *longp = xmalloc(4096);
    memset(longp, 'a', 4095);
    longp[0] = '/';
    longp[4095] = '\0';
    assert_string_equal(lookup_path(longp), "NOT_FOUND");
    free(longp);

    assert_true(static_etag_matches("\"abc\"", "\"abc\""));
    assert_true(static_etag_matches("\"x\", \"abc\"", "\"abc\""));
    assert_true(static_etag_matches("W/\"abc\"", "\"abc\""));
    assert_true(static_etag_matches(" * ", "\"abc\""));
    assert_false(static_etag_matches("\"abcd\"", "\"abc\""));
    assert_false(static_etag_matches("\"ab\"", "\"abc\""));
    assert_false(static_etag_matches("", "\"abc\""));
    assert_false(static_etag_matches(NULL, "\"abc\""));
}

static int setup_static(void **state)
{
    setup(state);
    rest_static_mount(rs, "/", &test_assets, 0);
    rest_static_mount(rs, "/ui/", &test_assets, REST_LEADER_ONLY);
    return 0;
}

static void test_http_static(void **state)
{
    struct result r = { 0 };
    const struct static_asset *js = static_assets_find(&test_assets, "app.js");

    (void)state;
    do_call(&r, "GET", "/ui/", NULL, 0);
    expect(&r, 200, "text/html; charset=utf-8", "<!doctype html>\n<title>fixture</title>\n");
    assert_string_equal(r.etag, static_assets_find(&test_assets, "index.html")->etag);
    assert_string_equal(r.cache_control, "no-cache");
    assert_string_equal(r.nosniff, "nosniff");
    assert_non_null(r.csp);
    assert_non_null(strstr(r.csp, "default-src 'self'"));
    do_call(&r, "GET", "/ui/app.js", NULL, 0);
    expect(&r, 200, "text/javascript; charset=utf-8", "export const x = 1;\n");
    assert_string_equal(r.etag, js->etag);
    assert_null(r.csp); /* pages only */
    do_call(&r, "GET", "/ui/css/site.css", NULL, 0);
    expect(&r, 200, "text/css; charset=utf-8", NULL);
    do_call(&r, "GET", "/ui/data.json", NULL, 0);
    expect(&r, 200, "application/json", "{\"a\": 1}\n");
    do_call(&r, "GET", "/ui/docs/", NULL, 0);
    expect(&r, 200, "text/html; charset=utf-8", "<p>docs</p>\n");
    /* The mount's own path gets its slash, query kept. */
    do_call(&r, "GET", "/ui?x=1", NULL, 0);
    assert_int_equal(r.status, 301);
    assert_string_equal(r.location, "/ui/?x=1");
    /* The root mount serves what no route and no longer mount takes. */
    do_call(&r, "GET", "/", NULL, 0);
    expect(&r, 200, "text/html; charset=utf-8", NULL);
    do_call(&r, "GET", "/app.js", NULL, 0);
    expect(&r, 200, "text/javascript; charset=utf-8", NULL);
    do_call(&r, "GET", "/health", NULL, 0); /* the route table first */
    expect(&r, 200, "text/plain", "");
    do_call(&r, "HEAD", "/ui/app.js", NULL, 0);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.len, 0);

    /* Revalidation. */
    struct http_header inm = { "If-None-Match", js->etag };
    do_call_hdrs(&r, "GET", "/ui/app.js", &inm, 1, NULL, 0);
    assert_int_equal(r.status, 304);
    assert_int_equal(r.len, 0);
    assert_string_equal(r.etag, js->etag);
    inm.value = "\"stale\"";
    do_call_hdrs(&r, "GET", "/ui/app.js", &inm, 1, NULL, 0);
    assert_int_equal(r.status, 200);

    /* 404 through the server's formatter, traversal included. */
    static const char *const missing[] = {
        "/ui/nope.js",
        "/ui/.hidden",
        "/ui/../ui/app.js",
        "/ui/%2e%2e/ui/app.js",
        "/ui/css/%2E%2E/app.js",
        "/ui/./app.js",
        "/%2e%2e/etc/passwd",
        "/ui/css%5c..%5capp.js",
        "/ui/css/",
        "/nope",
    };
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        do_call(&r, "GET", missing[i], NULL, 0);
        assert_int_equal(r.status, 404);
        assert_string_equal(r.ctype, "application/json");
        assert_non_null(strstr(r.body, "\"message\":\"no such path"));
    }
    /* Files are read-only. */
    do_call(&r, "POST", "/ui/app.js", "", 0);
    expect(&r, 405, "application/json", NULL);
    assert_string_equal(r.allow, "GET, HEAD");
    do_call(&r, "DELETE", "/ui/nope.js", NULL, 0);
    assert_int_equal(r.status, 404);

    /* A leader-only mount on a standby: 307 for files, 404 still its own. */
    leading = false;
    leader_host = "10.0.0.7";
    do_call(&r, "GET", "/ui/app.js?v=2", NULL, 0);
    assert_int_equal(r.status, 307);
    assert_string_equal(r.location, "//10.0.0.7:5050/ui/app.js?v=2");
    do_call(&r, "GET", "/ui/nope.js", NULL, 0);
    assert_int_equal(r.status, 404);
    do_call(&r, "GET", "/app.js", NULL, 0); /* the root mount has no flag */
    assert_int_equal(r.status, 200);
    leader_host = NULL;
    do_call(&r, "GET", "/ui/", NULL, 0);
    assert_int_equal(r.status, 503);
    result_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_greedy_and_suffix),
        cmocka_unit_test(test_many_segments),
        cmocka_unit_test(test_slashes),
        cmocka_unit_test(test_404_405),
        cmocka_unit_test(test_negotiate),
        cmocka_unit_test(test_query),
        cmocka_unit_test(test_formatters),
        cmocka_unit_test(test_attributes),
        cmocka_unit_test_setup_teardown(test_http_dispatch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_http_leader, setup, teardown),
        cmocka_unit_test(test_static_lookup),
        cmocka_unit_test_setup_teardown(test_http_static, setup_static, teardown),
    };

    mem_init();
    log_set_level(getenv("AGORA_TEST_DEBUG") ? LOG_LVL_DEBUG : LOG_LVL_WARN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
