/*
 * liveness.c: the standby's liveness connection to the leader's process
 * (liveness.h has the contract, docs/internals/zookeeper.md the safety
 * argument).
 */
#define _GNU_SOURCE
#include "liveness.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>

#include "http.h"
#include "log.h"
#include "mem.h"
#include "zk.h"

#define LIVENESS_CONNECT_TIMEOUT 2.0 /* connect + headers */
#define LIVENESS_RETRY_SECS 0.5

struct liveness {
    struct event_base *base;
    struct zk *zk;
    char *dir;
    char *route;
    enum liveness_state state;
    char *name; /* the followed leader's znode, NULL: none */
    int version;
    char *host;
    int port;
    struct http_sub *sub;
    struct event *retry_ev;
};

static const char *const liveness_state_names[] = {
    [LIVENESS_IDLE] = "IDLE",
    [LIVENESS_CONNECTING] = "CONNECTING",
    [LIVENESS_ESTABLISHED] = "ESTABLISHED",
    [LIVENESS_WAITING] = "WAITING",
    [LIVENESS_DELETING] = "DELETING",
    [LIVENESS_DONE] = "DONE",
};

const char *liveness_state_name(enum liveness_state st)
{
    if ((size_t)st >= sizeof(liveness_state_names) / sizeof(liveness_state_names[0]))
        return "UNKNOWN";
    return liveness_state_names[st];
}

static void liveness_set_state(struct liveness *l, enum liveness_state st, const char *why)
{
    if (l->state == st)
        return;
    log_info("liveness of %s/%s (%s:%d): %s -> %s (%s)", l->dir, l->name ? l->name : "-",
             l->host ? l->host : "-", l->port, liveness_state_name(l->state),
             liveness_state_name(st), why);
    l->state = st;
}

static void liveness_connect(struct liveness *l);

static void liveness_on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct liveness *l = arg;
    if (l->state == LIVENESS_WAITING)
        liveness_connect(l);
}

static void liveness_wait(struct liveness *l, const char *why)
{
    liveness_set_state(l, LIVENESS_WAITING, why);
    struct timeval tv = { 0, (suseconds_t)(LIVENESS_RETRY_SECS * 1e6) };
    evtimer_add(l->retry_ev, &tv);
}

static void liveness_deleted(int rc, int version, void *arg)
{
    struct liveness *l = arg;
    if (l->state != LIVENESS_DELETING)
        return; /* another leader followed meanwhile */
    if (rc == ZOK)
        liveness_set_state(l, LIVENESS_DONE, "leader's znode deleted");
    else
        liveness_set_state(l, LIVENESS_DONE, zk_error(rc));
}

static void liveness_on_response(struct http_sub *s, int status, struct evkeyvalq *headers,
                                 void *arg)
{
    struct liveness *l = arg;
    if (status == 200)
        liveness_set_state(l, LIVENESS_ESTABLISHED, "the leader's process answered");
}

static void liveness_on_data(struct http_sub *s, const char *data, size_t len, void *arg)
{
}

static void liveness_on_close(struct http_sub *s, const char *reason, void *arg)
{
    struct liveness *l = arg;
    l->sub = NULL;
    /* Only a stream the leader's process had answered, ended by the peer:
     * never a timeout, a refusal, or a connection that was never ours. */
    bool gone = strcmp(reason, "eof") == 0 || strcmp(reason, "connection closed") == 0 ||
                strcmp(reason, "connection reset") == 0;
    if (l->state != LIVENESS_ESTABLISHED || !gone) {
        liveness_wait(l, reason);
        return;
    }
    char *why = xasprintf("stream ended (%s): the leader's process is gone", reason);
    liveness_set_state(l, LIVENESS_DELETING, why);
    free(why);
    char *path = xasprintf("%s/%s", l->dir, l->name);
    if (zk_delete(l->zk, path, l->version, liveness_deleted, l) != 0)
        liveness_set_state(l, LIVENESS_DONE, "cannot delete now: the session timeout decides");
    free(path);
}

static void liveness_connect(struct liveness *l)
{
    static const struct http_sub_callbacks cbs = {
        .on_response = liveness_on_response,
        .on_data = liveness_on_data,
        .on_close = liveness_on_close,
    };
    char *path = xasprintf("%s?znode=%s", l->route, l->name);
    liveness_set_state(l, LIVENESS_CONNECTING, "following the leader");
    l->sub = http_sub_open(l->base, l->host, l->port, "GET", path, NULL, 0, NULL, 0,
                           LIVENESS_CONNECT_TIMEOUT, &cbs, l);
    free(path);
    if (!l->sub)
        liveness_wait(l, "cannot open the request");
}

static void liveness_reset(struct liveness *l)
{
    if (l->sub)
        http_sub_close(l->sub);
    l->sub = NULL;
    evtimer_del(l->retry_ev);
    free(l->name);
    free(l->host);
    l->name = l->host = NULL;
    l->port = 0;
}

void liveness_follow(struct liveness *l, const char *name, int version, const char *host, int port)
{
    if (name && l->name && strcmp(name, l->name) == 0)
        return;
    liveness_reset(l);
    if (!name || !host) {
        liveness_set_state(l, LIVENESS_IDLE, "no other leader");
        return;
    }
    l->name = xstrdup(name);
    l->version = version;
    l->host = xstrdup(host);
    l->port = port;
    liveness_connect(l);
}

struct liveness *liveness_new(struct event_base *base, struct zk *zk, const char *dir,
                              const char *route)
{
    struct liveness *l = xcalloc(1, sizeof(*l));
    l->base = base;
    l->zk = zk_ref(zk);
    l->dir = xstrdup(dir);
    l->route = xstrdup(route);
    l->state = LIVENESS_IDLE;
    l->retry_ev = evtimer_new(base, liveness_on_retry, l);
    return l;
}

void liveness_free(struct liveness *l)
{
    if (!l)
        return;
    liveness_reset(l);
    zk_cancel(l->zk, l);
    zk_free(l->zk);
    event_free(l->retry_ev);
    free(l->dir);
    free(l->route);
    free(l);
}

enum liveness_state liveness_state(const struct liveness *l)
{
    return l->state;
}

/* Served streams hold a duplicate of their socket: freeing the HTTP server
 * after liveness_linger() then sends no FIN; the process's exit does. */
static bool liveness_lingering;

static void liveness_served_closed(struct http_stream *st, void *arg)
{
    int fd = (int)(intptr_t)arg;
    if (!liveness_lingering)
        close(fd); /* the standby went away (or we stopped following) */
}

void liveness_linger(void)
{
    liveness_lingering = true;
}

void liveness_serve(struct evhttp_request *req, const char *own_name)
{
    char *znode = http_req_query(req, "znode");
    bool ours = znode && own_name && strcmp(znode, own_name) == 0;
    free(znode);
    if (!ours) {
        http_reply_text(req, 404, "not this process's candidacy");
        return;
    }
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    int fd = evcon ? dup(bufferevent_getfd(evhttp_connection_get_bufferevent(evcon))) : -1;
    if (fd < 0) {
        http_reply_text(req, 503, "cannot hold the stream");
        return;
    }
    /* Never written to and never ended: it ends when this process does. */
    if (!http_stream_start(req, 200, "text/plain", liveness_served_closed, (void *)(intptr_t)fd))
        close(fd);
}
