/*
 * http_proxy.c: see http_proxy.h. Every forwarded request is an http_sub
 * (common/http_client.c), so short answers and endless event streams take
 * the same path: the status and headers are relayed when they arrive,
 * then the body as one reply (short answers) or chunk by chunk (streams:
 * text/event-stream, or no Content-Length).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "http_proxy.h"
#include "log.h"
#include "mem.h"

#define PROXY_MAX_BODY (64u * 1024u * 1024u)

struct proxy {
    struct evhttp_request *req; /* the client's request */
    struct http_sub *sub;       /* to the upstream */
    struct http_stream *stream; /* streaming: the client's response */
    struct evbuffer *body;      /* buffered: the upstream body so far */
    int status;
    bool streaming;
    bool answered;
    char *pass_hdrs[16]; /* names of the headers relayed */
    size_t npass;
    struct http_header add[8]; /* added to the answer (copies) */
    size_t nadd;
    char *what; /* names the upstream in a 503 */
    http_proxy_fail_fn fail;
    void *arg;
};

static void proxy_free(struct proxy *px)
{
    for (size_t k = 0; k < px->npass; k++)
        free(px->pass_hdrs[k]);
    for (size_t k = 0; k < px->nadd; k++) {
        free((char *)px->add[k].name);
        free((char *)px->add[k].value);
    }
    if (px->body != NULL)
        evbuffer_free(px->body);
    free(px->what);
    free(px);
}

static void answer_fail(struct proxy *px, const char *why)
{
    char *msg = xasprintf("%s could not be reached: %s", px->what, why);

    if (px->fail != NULL)
        px->fail(px->req, 503, msg, px->arg);
    else
        http_reply_text(px->req, 503, "%s", msg);
    free(msg);
    px->answered = true;
}

static void copy_headers(struct proxy *px, struct evkeyvalq *from)
{
    static const char *const always[] = { "Content-Type", "Location", "Cache-Control" };

    for (size_t k = 0; k < sizeof(always) / sizeof(always[0]); k++) {
        const char *v = http_header_get(from, always[k]);

        if (v != NULL)
            http_add_header(px->req, always[k], v);
    }
    for (size_t k = 0; k < px->npass; k++) {
        const char *v = http_header_get(from, px->pass_hdrs[k]);

        if (v != NULL)
            http_add_header(px->req, px->pass_hdrs[k], v);
    }
    for (size_t k = 0; k < px->nadd; k++)
        http_add_header(px->req, px->add[k].name, px->add[k].value);
}

static void on_client_gone(struct http_stream *st, void *arg)
{
    struct proxy *px = arg;

    px->stream = NULL;
    http_sub_close(px->sub); /* no callback runs afterwards */
    proxy_free(px);
}

static void on_response(struct http_sub *s, int status, struct evkeyvalq *headers, void *arg)
{
    struct proxy *px = arg;
    const char *ct = http_header_get(headers, "Content-Type");
    const char *cl = http_header_get(headers, "Content-Length");

    px->status = status;
    px->streaming = status >= 200 && status < 300 &&
                    ((ct != NULL && strncasecmp(ct, "text/event-stream", 17) == 0) || cl == NULL);
    if (px->streaming) {
        copy_headers(px, headers);
        px->stream = http_stream_start(px->req, status, ct ? ct : "application/octet-stream",
                                       on_client_gone, px);
        px->answered = true;
    } else {
        copy_headers(px, headers);
    }
}

static void on_data(struct http_sub *s, const char *data, size_t len, void *arg)
{
    struct proxy *px = arg;

    if (px->streaming) {
        if (px->stream != NULL)
            http_stream_send(px->stream, data, len);
        return;
    }
    if (evbuffer_get_length(px->body) + len <= PROXY_MAX_BODY)
        evbuffer_add(px->body, data, len);
}

static void on_close(struct http_sub *s, const char *reason, void *arg)
{
    struct proxy *px = arg;

    if (px->streaming) {
        if (px->stream != NULL)
            http_stream_close(px->stream);
    } else if (px->status == 0) {
        answer_fail(px, reason);
    } else {
        size_t len = evbuffer_get_length(px->body);
        const char *ct =
            evhttp_find_header(evhttp_request_get_output_headers(px->req), "Content-Type");

        /* http_reply sets Content-Type itself: take ours out first. */
        char *ctype = xstrdup(ct ? ct : "application/json");

        evhttp_remove_header(evhttp_request_get_output_headers(px->req), "Content-Type");
        http_reply(px->req, px->status, ctype, evbuffer_pullup(px->body, -1), len);
        free(ctype);
    }
    proxy_free(px);
}

static void proxy_start(struct event_base *base, struct evhttp_request *req, const char *host,
                        int port, const char *uri, const char *what, const char *const *pass,
                        const struct http_header *add, size_t nadd, double timeout_secs,
                        http_proxy_fail_fn fail, void *arg)
{
    static const char *const fwd[] = { "Content-Type", "Accept", "Authorization", "Last-Event-ID" };
    static const struct http_sub_callbacks cbs = { on_response, on_data, on_close };
    struct proxy *px = xcalloc(1, sizeof(*px));
    struct http_header hdrs[8];
    size_t nh = 0, len = 0;
    const char *body = http_req_body(req, &len);

    px->req = req;
    px->what = xstrdup(what);
    px->body = evbuffer_new();
    px->fail = fail;
    px->arg = arg;
    for (size_t k = 0; pass != NULL && pass[k] != NULL && k < 16; k++)
        px->pass_hdrs[px->npass++] = xstrdup(pass[k]);
    for (size_t k = 0; k < nadd && k < 8; k++) {
        px->add[k].name = xstrdup(add[k].name);
        px->add[k].value = xstrdup(add[k].value);
        px->nadd++;
    }
    for (size_t k = 0; k < sizeof(fwd) / sizeof(fwd[0]); k++) {
        const char *v = http_req_header(req, fwd[k]);

        if (v != NULL) {
            hdrs[nh].name = fwd[k];
            hdrs[nh].value = v;
            nh++;
        }
    }
    px->sub = http_sub_open(base, host, port, http_req_method(req), uri ? uri : "/", hdrs, nh, body,
                            len, timeout_secs, &cbs, px);
    if (px->sub == NULL) {
        answer_fail(px, "bad upstream address");
        proxy_free(px);
    }
}

void http_proxy_forward(struct event_base *base, struct evhttp_request *req, const char *host,
                        int port, const char *const *pass, const struct http_header *add,
                        size_t nadd, double timeout_secs, http_proxy_fail_fn fail, void *arg)
{
    proxy_start(base, req, host, port, evhttp_request_get_uri(req), "the leader", pass, add, nadd,
                timeout_secs, fail, arg);
}

void http_proxy_forward_uri(struct event_base *base, struct evhttp_request *req, const char *host,
                            int port, const char *uri, const char *what, double timeout_secs,
                            http_proxy_fail_fn fail, void *arg)
{
    static const char *const pass[] = { "WWW-Authenticate", NULL };

    proxy_start(base, req, host, port, uri, what, pass, NULL, 0, timeout_secs, fail, arg);
}
