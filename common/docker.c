/*
 * docker: the Docker Engine API client of docker.h — libcurl's
 * multi-socket interface on a libevent loop, over the engine's unix socket.
 *
 * Wiring (curl's docs/examples/multi-event.c): curl tells us, through the
 * socket callback, which fds to watch for what, and through the timer
 * callback when to call it back; we turn both into libevent events and
 * hand readiness back with curl_multi_socket_action(), then collect
 * finished transfers with curl_multi_info_read().
 *
 * Lifetimes. libcurl refuses curl_multi_add_handle/remove_handle from
 * inside its own callbacks (and user code runs inside the write callback
 * for streams), so a request is never added or removed where it is
 * created or cancelled: both happen from the client's zero-delay "kick"
 * event. That also gives the docker.h promise that a callback never runs
 * inside the function that started the request. A finished request is
 * removed from the multi handle before its callback runs and freed after
 * it returns.
 */
#define _GNU_SOURCE
#include "docker.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>

#include "log.h"
#include "mem.h"

#define DOCKER_CONNECT_TIMEOUT_MS 10000L
#define DOCKER_ERROR_BODY_MAX 300

struct docker_client {
    struct event_base *base;
    char *socket_path;
    CURLM *multi;
    struct event *timer;       /* curl's timeout */
    struct event *kick;        /* adds new requests, removes cancelled ones */
    struct docker_call *calls; /* every live request */
    int running;               /* transfers curl still runs */
};

/* One socket curl asked us to watch. */
struct docker_sock {
    curl_socket_t fd;
    struct event *ev;
    struct docker_client *dc;
};

enum docker_call_state {
    DOCKER_CALL_PENDING = 0, /* created, not yet handed to curl */
    DOCKER_CALL_ACTIVE,      /* in the multi handle */
    DOCKER_CALL_CANCELLED,   /* to be removed and freed by the kick event */
};

struct docker_call {
    struct docker_client *dc;
    enum docker_call_state state;
    CURL *easy;
    struct curl_slist *headers;
    char *buf; /* collected body (calls, error bodies) */
    size_t len, cap;
    long status; /* response code once headers arrived */
    bool toobig;
    bool aborted; /* on_data asked to stop */
    double timeout;
    docker_data_fn on_data; /* streams only */
    docker_response_fn cb;
    void *arg;
    char errbuf[CURL_ERROR_SIZE];
    struct docker_call *prev, *next;
};

/* ------------------------------------------------------------ libcurl init */

static void *curl_x_calloc(size_t n, size_t size)
{
    return xcalloc(n, size);
}

static void docker_curl_init(void)
{
    static bool done;

    if (done)
        return;
    done = true;
    /* Same out-of-memory policy as the rest of Agora. */
    curl_global_init_mem(CURL_GLOBAL_DEFAULT, xmalloc, free, xrealloc, xstrdup, curl_x_calloc);
}

/* ------------------------------------------------------------ event wiring */

static void check_multi_info(struct docker_client *dc);

static void sock_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct docker_client *dc = arg;
    int action =
        ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);

    curl_multi_socket_action(dc->multi, fd, action, &dc->running);
    check_multi_info(dc);
    if (dc->running <= 0)
        evtimer_del(dc->timer);
}

static void timer_event_cb(evutil_socket_t fd, short what, void *arg)
{
    struct docker_client *dc = arg;

    curl_multi_socket_action(dc->multi, CURL_SOCKET_TIMEOUT, 0, &dc->running);
    check_multi_info(dc);
}

static int curl_socket_cb(CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    struct docker_client *dc = userp;
    struct docker_sock *ds = socketp;
    short kind;

    if (what == CURL_POLL_REMOVE) {
        if (ds != NULL) {
            event_free(ds->ev);
            free(ds);
        }
        return 0;
    }
    kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) | ((what & CURL_POLL_OUT) ? EV_WRITE : 0) |
                   EV_PERSIST);
    if (ds == NULL) {
        ds = xcalloc(1, sizeof(*ds));
        ds->fd = s;
        ds->dc = dc;
        curl_multi_assign(dc->multi, s, ds);
    } else {
        event_free(ds->ev);
    }
    ds->ev = event_new(dc->base, s, kind, sock_event_cb, dc);
    event_add(ds->ev, NULL);
    return 0;
}

static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    struct docker_client *dc = userp;
    struct timeval tv;

    if (timeout_ms < 0) {
        evtimer_del(dc->timer);
        return 0;
    }
    /* 0 means "as soon as possible": next loop iteration, never from here. */
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (timeout_ms % 1000) * 1000;
    evtimer_add(dc->timer, &tv);
    return 0;
}

/* --------------------------------------------------------------- requests */

static void call_unlink(struct docker_call *c)
{
    struct docker_client *dc = c->dc;

    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        dc->calls = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    c->prev = c->next = NULL;
}

/* Unlink, detach from curl and free. Never from inside a curl callback. */
static void call_free(struct docker_call *c)
{
    call_unlink(c);
    if (c->easy != NULL) {
        curl_multi_remove_handle(c->dc->multi, c->easy);
        curl_easy_cleanup(c->easy);
    }
    curl_slist_free_all(c->headers);
    free(c->buf);
    free(c);
}

static void buf_append(struct docker_call *c, const char *data, size_t n)
{
    if (c->len + n + 1 > c->cap) {
        c->cap = (c->len + n + 1) * 2;
        c->buf = xrealloc(c->buf, c->cap);
    }
    memcpy(c->buf + c->len, data, n);
    c->len += n;
    c->buf[c->len] = '\0';
}

static size_t curl_write_cb(char *ptr, size_t size, size_t nmemb, void *userdata)
{
    struct docker_call *c = userdata;
    size_t n = size * nmemb;

    if (c->state == DOCKER_CALL_CANCELLED)
        return 0;
    if (c->status == 0)
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
    if (c->on_data != NULL && c->status >= 200 && c->status < 300) {
        if (c->on_data(ptr, n, c->arg) < 0) {
            c->aborted = true;
            return 0;
        }
        return n;
    }
    if (c->len + n > DOCKER_MAX_BODY) {
        c->toobig = true;
        return 0;
    }
    buf_append(c, ptr, n);
    return n;
}

/* A transfer ended: deliver it (unless cancelled) and free it. */
static void call_finish(struct docker_call *c, CURLcode res)
{
    struct docker_response resp;
    char *error = NULL;
    const char *p;

    if (c->state == DOCKER_CALL_CANCELLED) {
        call_free(c);
        return;
    }
    curl_multi_remove_handle(c->dc->multi, c->easy);
    memset(&resp, 0, sizeof(resp));
    if (c->toobig) {
        error = xasprintf("response body over %d bytes", DOCKER_MAX_BODY);
    } else if (c->aborted) {
        error = xstrdup("aborted");
    } else if (res == CURLE_OPERATION_TIMEDOUT) {
        error = xasprintf("no complete answer from the Docker engine within %.0fs", c->timeout);
    } else if (res == CURLE_COULDNT_CONNECT) {
        error = xasprintf("cannot connect to the Docker engine at %s: %s", c->dc->socket_path,
                          c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
    } else if (res != CURLE_OK) {
        error = xasprintf("Docker engine at %s: %s", c->dc->socket_path,
                          c->errbuf[0] ? c->errbuf : curl_easy_strerror(res));
    }
    if (error == NULL)
        curl_easy_getinfo(c->easy, CURLINFO_RESPONSE_CODE, &c->status);
    resp.status = error != NULL ? 0 : (int)c->status;
    resp.error = error;
    resp.body = c->buf != NULL ? c->buf : "";
    resp.len = c->len;
    for (p = resp.body; *p == ' ' || *p == '\n' || *p == '\r' || *p == '\t'; p++)
        ;
    if (resp.len > 0 && (*p == '{' || *p == '['))
        resp.json = json_loadb(resp.body, resp.len, 0, NULL);
    if (c->cb != NULL)
        c->cb(&resp, c->arg);
    json_decref(resp.json);
    free(error);
    call_free(c);
}

static void check_multi_info(struct docker_client *dc)
{
    CURLMsg *msg;
    int left;
    struct docker_call *c;

    while ((msg = curl_multi_info_read(dc->multi, &left)) != NULL) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        if (c != NULL)
            call_finish(c, msg->data.result);
    }
}

/* Hand pending requests to curl, drop cancelled ones. */
static void kick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct docker_client *dc = arg;
    struct docker_call *c, *next;

    for (c = dc->calls; c != NULL; c = next) {
        next = c->next;
        if (c->state == DOCKER_CALL_CANCELLED) {
            call_free(c);
        } else if (c->state == DOCKER_CALL_PENDING) {
            c->state = DOCKER_CALL_ACTIVE;
            if (curl_multi_add_handle(dc->multi, c->easy) != CURLM_OK) {
                snprintf(c->errbuf, sizeof(c->errbuf), "curl_multi_add_handle failed");
                call_finish(c, CURLE_FAILED_INIT);
            }
        }
    }
}

static struct docker_call *start_request(struct docker_client *dc, const char *method,
                                         const char *path, json_t *body, double timeout_secs,
                                         docker_data_fn on_data, docker_response_fn cb, void *arg)
{
    struct docker_call *c = xcalloc(1, sizeof(*c));
    char *url = xasprintf("http://localhost/%s%s", DOCKER_API_VERSION, path);
    char *json = NULL;

    c->dc = dc;
    c->on_data = on_data;
    c->cb = cb;
    c->arg = arg;
    c->timeout = timeout_secs;
    c->easy = curl_easy_init();
    if (c->easy == NULL) {
        log_error("docker: curl_easy_init failed");
        abort(); /* only fails without memory */
    }
    curl_easy_setopt(c->easy, CURLOPT_URL, url);
    curl_easy_setopt(c->easy, CURLOPT_UNIX_SOCKET_PATH, dc->socket_path);
    curl_easy_setopt(c->easy, CURLOPT_PRIVATE, (char *)c);
    curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, curl_write_cb);
    curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->easy, CURLOPT_ERRORBUFFER, c->errbuf);
    curl_easy_setopt(c->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c->easy, CURLOPT_CONNECTTIMEOUT_MS, DOCKER_CONNECT_TIMEOUT_MS);
    if (timeout_secs > 0)
        curl_easy_setopt(c->easy, CURLOPT_TIMEOUT_MS, (long)(timeout_secs * 1000));
    c->headers = curl_slist_append(c->headers, "Expect:");
    if (strcmp(method, "POST") == 0) {
        curl_easy_setopt(c->easy, CURLOPT_POST, 1L);
        if (body != NULL) {
            json = json_dumps(body, JSON_COMPACT);
            c->headers = curl_slist_append(c->headers, "Content-Type: application/json");
        }
        curl_easy_setopt(c->easy, CURLOPT_POSTFIELDSIZE, (long)(json ? strlen(json) : 0));
        curl_easy_setopt(c->easy, CURLOPT_COPYPOSTFIELDS, json ? json : "");
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c->easy, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, c->headers);
    log_debug("docker: %s %s", method, path);
    free(json);
    free(url);
    c->next = dc->calls;
    if (dc->calls != NULL)
        dc->calls->prev = c;
    dc->calls = c;
    event_active(dc->kick, EV_TIMEOUT, 0);
    return c;
}

struct docker_call *docker_call(struct docker_client *dc, const char *method, const char *path,
                                json_t *body, double timeout_secs, docker_response_fn cb, void *arg)
{
    return start_request(dc, method, path, body, timeout_secs, NULL, cb, arg);
}

struct docker_call *docker_stream(struct docker_client *dc, const char *method, const char *path,
                                  json_t *body, double timeout_secs, docker_data_fn on_data,
                                  docker_response_fn cb, void *arg)
{
    return start_request(dc, method, path, body, timeout_secs, on_data, cb, arg);
}

void docker_call_cancel(struct docker_call *c)
{
    if (c == NULL || c->state == DOCKER_CALL_CANCELLED)
        return;
    c->state = DOCKER_CALL_CANCELLED;
    c->cb = NULL;
    c->on_data = NULL;
    event_active(c->dc->kick, EV_TIMEOUT, 0);
}

/* ----------------------------------------------------------------- client */

struct docker_client *docker_client_new(struct event_base *base, const char *socket_path)
{
    struct docker_client *dc = xcalloc(1, sizeof(*dc));

    docker_curl_init();
    dc->base = base;
    dc->socket_path = xstrdup(socket_path);
    dc->multi = curl_multi_init();
    if (dc->multi == NULL) {
        log_error("docker: curl_multi_init failed");
        abort();
    }
    dc->timer = evtimer_new(base, timer_event_cb, dc);
    dc->kick = event_new(base, -1, 0, kick_cb, dc);
    curl_multi_setopt(dc->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(dc->multi, CURLMOPT_SOCKETDATA, dc);
    curl_multi_setopt(dc->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(dc->multi, CURLMOPT_TIMERDATA, dc);
    return dc;
}

void docker_client_free(struct docker_client *dc)
{
    if (dc == NULL)
        return;
    while (dc->calls != NULL)
        call_free(dc->calls);
    /* Closes the remaining sockets through curl_socket_cb(REMOVE). */
    curl_multi_cleanup(dc->multi);
    event_free(dc->timer);
    event_free(dc->kick);
    free(dc->socket_path);
    free(dc);
}

const char *docker_client_socket(const struct docker_client *dc)
{
    return dc->socket_path;
}

bool docker_socket_answers(const char *socket_path)
{
    struct sockaddr_un sa;
    int fd, rc;
    bool ok;

    if (socket_path == NULL || strlen(socket_path) >= sizeof(sa.sun_path))
        return false;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    strcpy(sa.sun_path, socket_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return false;
    rc = connect(fd, (struct sockaddr *)&sa, sizeof(sa));
    /* EAGAIN: a listener whose backlog is full is still a listener;
     * EINTR: the connection goes on asynchronously, as EINPROGRESS. */
    ok = rc == 0 || errno == EAGAIN || errno == EINPROGRESS || errno == EINTR;
    close(fd);
    return ok;
}

/* ---------------------------------------------------------------- helpers */

char *docker_error_message(const struct docker_response *resp)
{
    json_t *m;
    const char *b;
    size_t n;

    if (resp->status == 0)
        return xstrdup(resp->error ? resp->error : "no response from the Docker engine");
    if (resp->json != NULL && (m = json_object_get(resp->json, "message")) != NULL &&
        json_is_string(m))
        return xstrdup(json_string_value(m));
    b = resp->body;
    n = resp->len;
    while (n > 0 && (b[n - 1] == '\n' || b[n - 1] == '\r' || b[n - 1] == ' '))
        n--;
    if (n == 0)
        return xasprintf("HTTP %d", resp->status);
    if (n > DOCKER_ERROR_BODY_MAX)
        n = DOCKER_ERROR_BODY_MAX;
    return xasprintf("HTTP %d: %.*s", resp->status, (int)n, b);
}

char *docker_escape(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(s), i, k = 0;
    char *out = xmalloc(n * 3 + 1);
    unsigned char ch;

    for (i = 0; i < n; i++) {
        ch = (unsigned char)s[i];
        if ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '-' || ch == '_' || ch == '.' || ch == '~') {
            out[k++] = (char)ch;
        } else {
            out[k++] = '%';
            out[k++] = hex[ch >> 4];
            out[k++] = hex[ch & 15];
        }
    }
    out[k] = '\0';
    return out;
}

void docker_image_split(const char *image, char **repo, char **tag)
{
    const char *at = strchr(image, '@');
    const char *slash = strrchr(image, '/');
    const char *colon = strrchr(image, ':');

    if (at != NULL) {
        *repo = xstrndup(image, (size_t)(at - image));
        *tag = xstrdup(at + 1);
        return;
    }
    /* A colon before the last slash is a registry's port, not a tag. */
    if (colon != NULL && (slash == NULL || colon > slash)) {
        *repo = xstrndup(image, (size_t)(colon - image));
        *tag = xstrdup(colon + 1);
        return;
    }
    *repo = xstrdup(image);
    *tag = xstrdup("latest");
}

/* ------------------------------------------------------------- log frames */

void docker_demux_init(struct docker_demux *d)
{
    memset(d, 0, sizeof(*d));
    d->state = DOCKER_DEMUX_HEADER;
}

void docker_demux_feed(struct docker_demux *d, const char *data, size_t len, docker_frame_fn fn,
                       void *arg)
{
    size_t take;

    while (len > 0) {
        if (d->state == DOCKER_DEMUX_HEADER) {
            take = sizeof(d->header) - d->have;
            if (take > len)
                take = len;
            memcpy(d->header + d->have, data, take);
            d->have += take;
            data += take;
            len -= take;
            if (d->have < sizeof(d->header))
                return;
            d->stream = d->header[0];
            d->left = ((uint32_t)d->header[4] << 24) | ((uint32_t)d->header[5] << 16) |
                      ((uint32_t)d->header[6] << 8) | (uint32_t)d->header[7];
            d->have = 0;
            if (d->left > 0)
                d->state = DOCKER_DEMUX_PAYLOAD;
            continue;
        }
        take = d->left < len ? d->left : len;
        fn(d->stream, data, take, arg);
        data += take;
        len -= take;
        d->left -= (uint32_t)take;
        if (d->left == 0)
            d->state = DOCKER_DEMUX_HEADER;
    }
}
