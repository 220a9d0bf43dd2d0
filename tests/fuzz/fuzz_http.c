/*
 * fuzz_http: libFuzzer target for the request path of the common HTTP
 * server — bytes from a real TCP peer through evhttp (common/http_server.c)
 * into the REST dispatcher (common/rest.c): request line and header
 * parsing, the body limits (Content-Length, chunked, 413), pipelined
 * requests on one keep-alive connection, route matching with greedy and
 * named parameters, 404/405 with Allow, HTTP Basic against a credentials
 * file and a read-only one (401/403), the leader check (307/503), the
 * Content-Type check (415), JSON bodies (400), the query and header
 * accessors, the built-in files (ETag, 304, ".." refused) and a stream
 * started and ended at once.
 *
 * The first input byte is not sent: its bit 0 says whether the server
 * leads, bit 1 whether a leader is known (for the 307). The rest is written
 * as is to a fresh connection to 127.0.0.1, then the write side is shut;
 * the loop runs until the server has closed the connection (it must: it
 * saw EOF). Besides crashes, leaks and sanitizer findings it checks that
 * whatever the server answers starts with an HTTP/x.y status line.
 * Loopback TCP rather than a socketpair because evhttp only takes
 * connections from a listener, and this is the listener the daemons use.
 */
#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <event2/event.h>
#include <event2/http.h>

#include "auth.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "rest.h"
#include "static_assets.h"

#define MAX_BODY 1024

static struct event_base *base;
static struct http_server *srv;
static struct rest_server *rs;
static struct auth_creds *creds, *readonly;
static int port;
static bool leading, leader_known;

/* Echo what the dispatcher decoded, through every accessor a handler uses. */
static void h_echo(struct rest_req *rq)
{
    json_t *o = json_object();
    json_t *params = json_object();
    size_t len;
    const char *body = http_req_body(rq->req, &len);
    char *embed = http_req_query(rq->req, "embed");
    const char *q = rest_req_query(rq);
    bool force = false;
    long long offset = 0;
    char *err = NULL;

    for (int i = 0; i < rq->nparams; i++) {
        char *name = xstrndup(rq->params[i].name, rq->params[i].name_len);
        json_object_set_new(params, name, json_string(rq->params[i].value));
        free(name);
    }
    json_object_set_new(o, "params", params);
    json_object_set_new(o, "path", json_string(rq->path));
    json_object_set_new(o, "method", json_string(http_req_method(rq->req)));
    json_object_set_new(o, "peer", json_string(http_req_peer(rq->req)));
    json_object_set_new(o, "len", json_integer((json_int_t)len));
    json_object_set_new(o, "nul_at_end", json_boolean(body[len] == '\0'));
    if (embed)
        json_object_set_new(o, "embed", json_string(embed));
    free(embed);
    if (rest_query_bool(q, "force", false, &force, &err) < 0) {
        json_decref(o);
        rest_error(rq, 400, "%s", err);
        free(err);
        return;
    }
    if (rest_query_int(q, "offset", -10, 1000, 0, &offset, &err) < 0) {
        json_decref(o);
        rest_error(rq, 400, "%s", err);
        free(err);
        return;
    }
    json_object_set_new(o, "embeds", json_integer((json_int_t)rest_query_count(q, "embed")));
    if (rq->principal)
        json_object_set_new(o, "principal", json_string(rq->principal));
    if (rq->json)
        json_object_set(o, "json", rq->json);
    const char *accept = http_req_header(rq->req, "Accept");
    static const char *const offers[] = { "application/json", "text/plain" };
    if (rest_negotiate(accept, offers, 2) == 1) {
        json_decref(o);
        http_reply_text(rq->req, 200, "%s", rq->path);
        return;
    }
    http_add_header(rq->req, "X-Params", rest_param(rq, "id") ? rest_param(rq, "id") : "-");
    http_reply_json(rq->req, force ? 201 : 200, o);
}

static void h_stream(struct rest_req *rq)
{
    struct http_stream *st = http_stream_start(rq->req, 200, "application/json", NULL, NULL);

    if (st == NULL)
        return;
    http_stream_send(st, "{}\n", 3);
    http_stream_close(st);
}

static const char *const json_only[] = { "application/json", NULL };
static const char *const sched_types[] = { "application/json", "application/x-protobuf", NULL };

static const struct rest_route routes[] = {
    { "GET", "/health", rest_handle_health, 0, NULL },
    { "GET", "/v2/apps", h_echo, REST_AUTH_READONLY, NULL },
    { "POST", "/v2/apps", h_echo, REST_AUTH_READWRITE | REST_LEADER_ONLY | REST_JSON_BODY,
      json_only },
    { "GET", "/v2/apps/{id*}", h_echo, REST_AUTH_READONLY, NULL },
    { "PUT", "/v2/apps/{id*}", h_echo, REST_AUTH_READWRITE | REST_JSON_BODY, NULL },
    { "PATCH", "/v2/apps/{id*}", h_echo, REST_AUTH_READWRITE | REST_JSON_BODY, json_only },
    { "GET", "/v2/apps/{id*}/tasks", h_echo, REST_AUTH_READONLY, NULL },
    { "DELETE", "/v2/apps/{id*}/tasks/{task_id}", h_echo, REST_AUTH_READWRITE, NULL },
    { "GET", "/v2/apps/{id*}/versions/{version}", h_echo, REST_AUTH_READONLY, NULL },
    { "POST", "/api/v1/scheduler", h_echo, REST_AUTH_FRAMEWORK | REST_LEADER_ONLY, sched_types },
    { "POST", "/slave(1)/api/v1", h_echo, REST_AUTH_AGENT, NULL },
    { "GET", "/master/state", h_echo, REST_AUTH_READONLY | REST_LEADER_ONLY, NULL },
    { "GET", "/files/{a}/{b}", h_echo, 0, NULL },
    { "GET", "/stream", h_stream, 0, NULL },
};

static const unsigned char page[] = "<html></html>";
static const struct static_asset files[] = {
    { "app.js", "text/javascript; charset=utf-8", page, sizeof(page) - 1, "\"e1\"" },
    { "index.html", "text/html; charset=utf-8", page, sizeof(page) - 1, "\"e2\"" },
};
static const struct static_assets assets = { "fuzz", files, 2 };

static bool is_leading(void *arg, const char **host, int *p)
{
    (void)arg;
    *host = leader_known ? "10.0.0.2" : NULL;
    *p = 5050;
    return leading;
}

static void setup(void)
{
    char *err = NULL;
    static const char cred_text[] = "{\"credentials\": [{\"principal\": \"alice\", \"secret\": "
                                    "\"s3cret\"}, {\"principal\": \"agent\", \"secret\": \"a\"}]}";
    static const char ro_text[] = "viewer v\n";

    log_set_level(LOG_LVL_ERROR);
    base = event_base_new();
    srv = http_server_new(base, "127.0.0.1", 0, MAX_BODY, &err);
    if (srv == NULL) {
        fprintf(stderr, "fuzz_http: %s\n", err);
        abort();
    }
    port = http_server_port(srv);
    rs =
        rest_server_attach(srv, routes, sizeof(routes) / sizeof(routes[0]), NULL, rest_format_json);
    rest_server_set_leader(rs, is_leading);
    creds = auth_creds_parse(cred_text, sizeof(cred_text) - 1, &err);
    readonly = auth_creds_parse(ro_text, sizeof(ro_text) - 1, &err);
    if (creds == NULL || readonly == NULL)
        abort();
    rest_server_set_auth(rs, REST_AUTH_ALL, creds, "fuzz");
    rest_server_set_auth_readonly(rs, readonly);
    rest_static_mount(rs, "/ui/", &assets, REST_AUTH_READONLY);
    rest_static_mount(rs, "/", &assets, 0);
}

struct client {
    int fd;
    bool closed;
    size_t got;    /* bytes of response seen */
    char head[16]; /* their beginning */
};

static void on_client_read(evutil_socket_t fd, short what, void *arg)
{
    struct client *c = arg;
    char buf[16384];
    ssize_t n;

    (void)what;
    for (;;) {
        n = read(fd, buf, sizeof(buf));
        if (n > 0) {
            if (c->got < sizeof(c->head))
                memcpy(c->head + c->got, buf,
                       (size_t)n < sizeof(c->head) - c->got ? (size_t)n : sizeof(c->head) - c->got);
            c->got += (size_t)n;
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        c->closed = true; /* EOF or reset */
        return;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct sockaddr_in sa;
    struct client c = { .fd = -1 };
    struct event *ev;
    size_t off = 0;

    if (base == NULL)
        setup();
    if (size < 1)
        return 0;
    leading = data[0] & 1;
    leader_known = data[0] & 2;
    data++;
    size--;

    c.fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (c.fd < 0)
        abort();
    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    /* Blocking on purpose: on loopback the kernel completes the handshake
     * and buffers the request before the server's loop even accepts. */
    if (connect(c.fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("fuzz_http: connect");
        abort();
    }
    while (off < size) {
        ssize_t n = write(c.fd, data + off, size - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* the server may refuse early; what it answered is read below */
        off += (size_t)n;
    }
    shutdown(c.fd, SHUT_WR);
    fcntl(c.fd, F_SETFL, fcntl(c.fd, F_GETFL) | O_NONBLOCK);
    ev = event_new(base, c.fd, EV_READ | EV_PERSIST, on_client_read, &c);
    event_add(ev, NULL);
    while (!c.closed)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(ev);
    close(c.fd);
    /* Let the server free what it still holds of the connection. */
    event_base_loop(base, EVLOOP_NONBLOCK);
    /* evhttp answers in the request's version, as it parsed it: "HTTP/0.1"
     * to "HTTP/0.1", "HTTP/1.-1" to "HTTP/1.4444444444" (its sscanf
     * overflows). Both only reach the client that sent them. */
    if (c.got > 0 && (c.got < 9 || memcmp(c.head, "HTTP/", 5) != 0)) {
        fprintf(stderr, "fuzz_http: answer does not start with a status line: %.*s\n",
                (int)(c.got < sizeof(c.head) ? c.got : sizeof(c.head)), c.head);
        abort();
    }
    return 0;
}
