/*
 * test_docker: common/docker.c — the log frame demultiplexer (any split of
 * the input gives the same output), image name splitting, query escaping,
 * error messages, and the libcurl multi-socket client on a libevent loop
 * against a fake engine (evhttp on a unix socket in this process): calls,
 * JSON bodies, engine errors, streamed bodies, cancellation, and a socket
 * nobody listens on.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "docker.h"
#include "mem.h"

/* ------------------------------------------------------------------ demux */

struct frames {
    char out[256], err[256];
    size_t nout, nerr;
};

static void on_frame(int stream, const char *data, size_t len, void *arg)
{
    struct frames *f = arg;

    if (stream == 1) {
        memcpy(f->out + f->nout, data, len);
        f->nout += len;
    } else {
        memcpy(f->err + f->nerr, data, len);
        f->nerr += len;
    }
}

static size_t frame(char *buf, int stream, const char *payload)
{
    size_t n = strlen(payload);

    buf[0] = (char)stream;
    buf[1] = buf[2] = buf[3] = 0;
    buf[4] = (char)((n >> 24) & 0xff);
    buf[5] = (char)((n >> 16) & 0xff);
    buf[6] = (char)((n >> 8) & 0xff);
    buf[7] = (char)(n & 0xff);
    memcpy(buf + 8, payload, n);
    return n + 8;
}

static void test_demux_any_split(void **state)
{
    char body[256];
    size_t len = 0, split, i;
    struct docker_demux d;
    struct frames f;

    len += frame(body + len, 1, "hello\n");
    len += frame(body + len, 2, "oops\n");
    len += frame(body + len, 1, "");
    len += frame(body + len, 1, "world\n");
    for (split = 0; split <= len; split++) {
        memset(&f, 0, sizeof(f));
        docker_demux_init(&d);
        docker_demux_feed(&d, body, split, on_frame, &f);
        docker_demux_feed(&d, body + split, len - split, on_frame, &f);
        assert_int_equal(f.nout, 12);
        assert_memory_equal(f.out, "hello\nworld\n", 12);
        assert_int_equal(f.nerr, 5);
        assert_memory_equal(f.err, "oops\n", 5);
    }
    memset(&f, 0, sizeof(f));
    docker_demux_init(&d);
    for (i = 0; i < len; i++)
        docker_demux_feed(&d, body + i, 1, on_frame, &f);
    assert_int_equal(f.nout, 12);
    assert_int_equal(f.nerr, 5);
}

/* ---------------------------------------------------------------- helpers */

static void check_split(const char *image, const char *repo, const char *tag)
{
    char *r, *t;

    docker_image_split(image, &r, &t);
    assert_string_equal(r, repo);
    assert_string_equal(t, tag);
    free(r);
    free(t);
}

static void test_image_split(void **state)
{
    check_split("busybox", "busybox", "latest");
    check_split("busybox:1.36", "busybox", "1.36");
    check_split("registry:5000/team/app", "registry:5000/team/app", "latest");
    check_split("registry:5000/team/app:v2", "registry:5000/team/app", "v2");
    check_split("app@sha256:abc", "app", "sha256:abc");
}

static void test_escape_and_errors(void **state)
{
    char *e = docker_escape("{\"label\":[\"a=b c\"]}");
    struct docker_response r;

    assert_string_equal(e, "%7B%22label%22%3A%5B%22a%3Db%20c%22%5D%7D");
    free(e);
    memset(&r, 0, sizeof(r));
    r.status = 0;
    r.error = "cannot connect";
    r.body = "";
    e = docker_error_message(&r);
    assert_string_equal(e, "cannot connect");
    free(e);
    r.status = 500;
    r.error = NULL;
    r.body = "boom\n";
    r.len = 5;
    e = docker_error_message(&r);
    assert_string_equal(e, "HTTP 500: boom");
    free(e);
    r.json = json_pack("{s:s}", "message", "No such image: x");
    e = docker_error_message(&r);
    assert_string_equal(e, "No such image: x");
    free(e);
    json_decref(r.json);
    assert_false(docker_socket_answers("/nonexistent/agora/docker.sock"));
}

/* ------------------------------------------------------- the fake engine */

struct fake {
    struct event_base *base;
    struct evhttp *http;
    char path[108];
    int pending; /* callbacks still expected */
    int status[8];
    char *body[8];
    char *message[8];
    char streamed[256];
    size_t nstreamed;
};

static void fake_handler(struct evhttp_request *req, void *arg)
{
    const char *uri = evhttp_request_get_uri(req);
    struct evbuffer *out = evbuffer_new();
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    char fr[64];
    size_t n;

    if (strcmp(uri, "/" DOCKER_API_VERSION "/version") == 0) {
        evbuffer_add_printf(out, "{\"Version\":\"fake\"}");
        evhttp_send_reply(req, 200, "OK", out);
    } else if (strncmp(uri, "/" DOCKER_API_VERSION "/containers/nope/json", 30) == 0) {
        evbuffer_add_printf(out, "{\"message\":\"No such container: nope\"}");
        evhttp_send_reply(req, 404, "Not Found", out);
    } else if (strcmp(uri, "/" DOCKER_API_VERSION "/echo") == 0) {
        evbuffer_add_buffer(out, in);
        evhttp_send_reply(req, 201, "Created", out);
    } else if (strcmp(uri, "/" DOCKER_API_VERSION "/logs") == 0) {
        evhttp_send_reply_start(req, 200, "OK");
        n = frame(fr, 1, "line one\n");
        evbuffer_add(out, fr, n);
        evhttp_send_reply_chunk(req, out);
        n = frame(fr, 2, "line two\n");
        evbuffer_add(out, fr, n);
        evhttp_send_reply_chunk(req, out);
        evhttp_send_reply_end(req);
    } else {
        evhttp_send_reply(req, 500, "Internal", out);
    }
    evbuffer_free(out);
}

static int fake_start(struct fake *f)
{
    struct sockaddr_un sa;
    int fd;

    memset(f, 0, sizeof(*f));
    snprintf(f->path, sizeof(f->path), "/tmp/agora-test-docker-%d.sock", (int)getpid());
    unlink(f->path);
    f->base = event_base_new();
    f->http = evhttp_new(f->base);
    evhttp_set_gencb(f->http, fake_handler, f);
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, f->path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 16) < 0)
        return -1;
    return evhttp_accept_socket(f->http, fd);
}

static void fake_stop(struct fake *f)
{
    int i;

    evhttp_free(f->http);
    event_base_free(f->base);
    unlink(f->path);
    for (i = 0; i < 8; i++) {
        free(f->body[i]);
        free(f->message[i]);
    }
}

struct slot {
    struct fake *f;
    int i;
};

static void on_resp(const struct docker_response *r, void *arg)
{
    struct slot *s = arg;

    s->f->status[s->i] = r->status;
    s->f->body[s->i] = xstrdup(r->body);
    s->f->message[s->i] = r->status >= 200 && r->status < 300 ? NULL : docker_error_message(r);
    if (--s->f->pending == 0)
        event_base_loopexit(s->f->base, NULL);
}

static int on_stream(const char *data, size_t len, void *arg)
{
    struct slot *s = arg;

    memcpy(s->f->streamed + s->f->nstreamed, data, len);
    s->f->nstreamed += len;
    return 0;
}

static void never(const struct docker_response *r, void *arg)
{
    fail_msg("a cancelled request's callback ran");
}

static void test_client_against_fake_engine(void **state)
{
    struct fake f;
    struct docker_client *dc;
    struct slot slots[5];
    struct docker_demux d;
    struct frames fr;
    struct timeval limit = { 10, 0 };
    json_t *body = json_pack("{s:s}", "Image", "busybox");
    int i;

    assert_int_equal(fake_start(&f), 0);
    assert_true(docker_socket_answers(f.path));
    dc = docker_client_new(f.base, f.path);
    for (i = 0; i < 5; i++) {
        slots[i].f = &f;
        slots[i].i = i;
    }
    f.pending = 4;
    docker_call(dc, "GET", "/version", NULL, 5, on_resp, &slots[0]);
    docker_call(dc, "GET", "/containers/nope/json", NULL, 5, on_resp, &slots[1]);
    docker_call(dc, "POST", "/echo", body, 5, on_resp, &slots[2]);
    docker_stream(dc, "GET", "/logs", NULL, 5, on_stream, on_resp, &slots[3]);
    docker_call_cancel(docker_call(dc, "GET", "/version", NULL, 5, never, &slots[4]));
    event_base_loopexit(f.base, &limit);
    event_base_dispatch(f.base);
    assert_int_equal(f.pending, 0);

    assert_int_equal(f.status[0], 200);
    assert_string_equal(f.body[0], "{\"Version\":\"fake\"}");
    assert_int_equal(f.status[1], 404);
    assert_string_equal(f.message[1], "No such container: nope");
    assert_int_equal(f.status[2], 201);
    assert_string_equal(f.body[2], "{\"Image\":\"busybox\"}");
    assert_int_equal(f.status[3], 200);
    assert_string_equal(f.body[3], "");
    memset(&fr, 0, sizeof(fr));
    docker_demux_init(&d);
    docker_demux_feed(&d, f.streamed, f.nstreamed, on_frame, &fr);
    assert_int_equal(fr.nout, 9);
    assert_memory_equal(fr.out, "line one\n", 9);
    assert_int_equal(fr.nerr, 9);
    docker_client_free(dc);

    /* Nobody on the socket: a transport error, status 0. */
    dc = docker_client_new(f.base, "/nonexistent/agora/docker.sock");
    f.pending = 1;
    docker_call(dc, "GET", "/version", NULL, 5, on_resp, &slots[4]);
    event_base_loopexit(f.base, &limit);
    event_base_dispatch(f.base);
    assert_int_equal(f.pending, 0);
    assert_int_equal(f.status[4], 0);
    assert_non_null(strstr(f.message[4], "/nonexistent/agora/docker.sock"));
    docker_client_free(dc);
    json_decref(body);
    fake_stop(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_demux_any_split),
        cmocka_unit_test(test_image_split),
        cmocka_unit_test(test_escape_and_errors),
        cmocka_unit_test(test_client_against_fake_engine),
    };

    mem_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
