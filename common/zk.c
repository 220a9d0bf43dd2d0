/*
 * zk: the ZooKeeper session on the libevent loop (see zk.h for the contract
 * and the session states). The recipes built on it are common/contender.c,
 * common/detector.c and common/store_zk.c.
 *
 * Threads: the mt client calls completions and watchers on its own
 * completion thread. Those functions only copy what they got into a
 * struct zk_result, append it to zk->queue under zk->lock and write a byte
 * to a pipe; zk_pipe_cb() on the loop drains the queue and runs the real
 * callbacks. Request contexts (struct zk_op) are freed on the loop after
 * their single completion; watch targets (struct zk_watch) live until
 * zk_free because the client may deliver session events to them at any
 * time; session listeners likewise. With host names, the handle itself
 * is made on a short-lived thread (zk_open_thread) so that resolving them
 * never blocks the loop.
 */
#define _GNU_SOURCE
#include "zk.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>
#include <zookeeper/zookeeper.h>

#include "fdio.h"
#include "log.h"
#include "mem.h"

enum zk_op_kind { ZK_OP_DATA, ZK_OP_STRING, ZK_OP_CHILDREN, ZK_OP_STAT, ZK_OP_ENSURE };

/* One request in flight. */
struct zk_op {
    struct zk *zk;
    enum zk_op_kind kind;
    union {
        zk_data_fn data;
        zk_string_fn string;
        zk_children_fn children;
        zk_stat_fn stat;
    } cb;
    void *arg;
    char *path;                /* ZK_OP_ENSURE: the full path */
    size_t pos;                /* ZK_OP_ENSURE: end of the prefix being created */
    struct zk_op *prev, *next; /* zk->ops */
};

struct zk_watch {
    struct zk *zk;
    zk_watch_fn fn;
    void *arg;
    bool dead; /* zk_watch_free'd: drop its events */
    struct zk_watch *next;
};

enum zk_result_kind { ZK_RES_OP, ZK_RES_WATCH, ZK_RES_SESSION, ZK_RES_OPENED };

/* What a ZooKeeper thread hands to the loop. */
struct zk_result {
    enum zk_result_kind kind;
    struct zk_op *op;
    struct zk_watch *watch;
    zhandle_t *zh; /* ZK_RES_SESSION: the handle it is about; ZK_RES_OPENED: the new one */
    int rc, version, type, state;
    char *data; /* copy; also the created path (STRING) */
    size_t len;
    char **strings;
    size_t nstrings;
    char *path;
    struct zk_result *next;
};

struct zk_listener {
    zk_state_fn fn;
    void *arg;
    bool dead; /* zk_unlisten'd; freed by zk_free */
    struct zk_listener *next;
};

struct zk {
    struct event_base *base;
    char *hosts;
    double requested_timeout;
    zhandle_t *zh;
    enum zk_state state;
    zk_state_fn on_state;
    void *arg;
    int pipefd[2];
    struct event *pipe_ev;
    struct event *grace_ev;  /* SUSPENDED -> LOST */
    struct event *reopen_ev; /* EXPIRED -> new session, outside callbacks */
    pthread_t opener;        /* zk_open_thread, while opener_running */
    bool opener_running;
    pthread_mutex_t lock;
    struct zk_result *q_head, *q_tail;
    struct zk_op *ops;
    struct zk_watch *watches;
    struct zk_listener *listeners; /* in registration order */
    bool closing;
    int refs; /* zk_new's reference + zk_ref's; the last zk_free closes */
};

static const char *const zk_state_names[] = {
    [ZK_STATE_CONNECTING] = "CONNECTING", [ZK_STATE_CONNECTED] = "CONNECTED",
    [ZK_STATE_SUSPENDED] = "SUSPENDED",   [ZK_STATE_LOST] = "LOST",
    [ZK_STATE_EXPIRED] = "EXPIRED",       [ZK_STATE_CLOSED] = "CLOSED",
};

const char *zk_state_name(enum zk_state st)
{
    if ((size_t)st >= sizeof(zk_state_names) / sizeof(zk_state_names[0]))
        return "UNKNOWN";
    return zk_state_names[st];
}

const char *zk_error(int rc)
{
    return zerror(rc);
}

/* ------------------------------------------------------------- url */

int zk_parse_url(const char *url, char **hosts, char **path, char **err)
{
    if (!url || strncmp(url, "zk://", 5) != 0) {
        *err = xasprintf("'%s' is not a zk://host:port,.../path URL", url ? url : "");
        return -1;
    }
    const char *h = url + 5;
    const char *slash = strchr(h, '/');
    if (slash == h || !*h) {
        *err = xasprintf("'%s': no ZooKeeper host given", url);
        return -1;
    }
    size_t plen = slash ? strlen(slash) : 0;
    while (plen > 1 && slash[plen - 1] == '/')
        plen--;
    if (!slash || plen <= 1) {
        *err = xasprintf("'%s': a path is required (e.g. zk://127.0.0.1:2181/agora)", url);
        return -1;
    }
    if (strchr(h, '@')) {
        *err = xasprintf("'%s': credentials in the URL are not supported", url);
        return -1;
    }
    *hosts = xstrndup(h, (size_t)(slash - h));
    *path = xstrndup(slash, plen);
    return 0;
}

/* ----------------------------------------------- ZooKeeper threads */

static void zk_push(struct zk *zk, struct zk_result *r)
{
    pthread_mutex_lock(&zk->lock);
    if (zk->q_tail)
        zk->q_tail->next = r;
    else
        zk->q_head = r;
    zk->q_tail = r;
    pthread_mutex_unlock(&zk->lock);
    /* A full pipe already has a wake-up pending. */
    ssize_t n = fdio_write_all(zk->pipefd[1], "z", 1);
    (void)n;
}

static struct zk_result *op_result(const void *ctx, int rc)
{
    struct zk_op *op = (struct zk_op *)(uintptr_t)ctx;
    struct zk_result *r = xcalloc(1, sizeof(*r));
    r->kind = ZK_RES_OP;
    r->op = op;
    r->rc = rc;
    return r;
}

static void th_data(int rc, const char *value, int value_len, const struct Stat *stat,
                    const void *ctx)
{
    struct zk_result *r = op_result(ctx, rc);
    if (rc == ZOK && value && value_len > 0) {
        r->data = xmalloc((size_t)value_len + 1);
        memcpy(r->data, value, (size_t)value_len);
        r->data[value_len] = '\0';
        r->len = (size_t)value_len;
    }
    r->version = stat ? stat->version : -1;
    zk_push(r->op->zk, r);
}

static void th_string(int rc, const char *value, const void *ctx)
{
    struct zk_result *r = op_result(ctx, rc);
    if (rc == ZOK && value)
        r->data = xstrdup(value);
    zk_push(r->op->zk, r);
}

static void th_strings(int rc, const struct String_vector *strings, const void *ctx)
{
    struct zk_result *r = op_result(ctx, rc);
    if (rc == ZOK && strings && strings->count > 0) {
        r->strings = xcalloc((size_t)strings->count, sizeof(char *));
        for (int i = 0; i < strings->count; i++)
            r->strings[i] = xstrdup(strings->data[i]);
        r->nstrings = (size_t)strings->count;
    }
    zk_push(r->op->zk, r);
}

static void th_void(int rc, const void *ctx)
{
    struct zk_result *r = op_result(ctx, rc);
    zk_push(r->op->zk, r);
}

static void th_stat(int rc, const struct Stat *stat, const void *ctx)
{
    struct zk_result *r = op_result(ctx, rc);
    r->version = stat ? stat->version : -1;
    zk_push(r->op->zk, r);
}

/* The session watcher (context: struct zk). */
static void th_session(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    if (type != ZOO_SESSION_EVENT)
        return;
    struct zk_result *r = xcalloc(1, sizeof(*r));
    r->kind = ZK_RES_SESSION;
    r->zh = zh;
    r->state = state;
    zk_push(ctx, r);
}

/* Node watchers (context: struct zk_watch). The client also delivers
 * session events to them; those are the session watcher's business. */
static void th_watch(zhandle_t *zh, int type, int state, const char *path, void *ctx)
{
    struct zk_watch *w = ctx;
    if (type == ZOO_SESSION_EVENT)
        return;
    struct zk_result *r = xcalloc(1, sizeof(*r));
    r->kind = ZK_RES_WATCH;
    r->watch = w;
    r->type = type;
    r->path = xstrdup(path ? path : "");
    zk_push(w->zk, r);
}

/* -------------------------------------------------------- the loop */

static void zk_set_state(struct zk *zk, enum zk_state st)
{
    if (zk->state == st)
        return;
    log_info("zookeeper %s: session %s -> %s", zk->hosts, zk_state_name(zk->state),
             zk_state_name(st));
    zk->state = st;
    /* The owner first: a leader that must stop leading does so before the
   * recipes report what follows from the same change. */
    if (zk->on_state && !zk->closing)
        zk->on_state(zk, st, zk->arg);
    for (struct zk_listener *l = zk->listeners; l; l = l->next)
        if (!l->dead && !zk->closing)
            l->fn(zk, st, l->arg);
}

/* Whether every host of "h1:p1,h2:p2" is an IP literal, which
 * zookeeper_init() turns into addresses without asking a resolver. */
static bool zk_hosts_numeric(const char *hosts)
{
    const char *p = hosts;
    while (*p) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        char *h = xstrndup(p, n);
        char *colon = strrchr(h, ':');
        if (colon)
            *colon = '\0';
        unsigned char buf[sizeof(struct in6_addr)];
        bool numeric = inet_pton(AF_INET, h, buf) == 1 || inet_pton(AF_INET6, h, buf) == 1;
        free(h);
        if (!numeric)
            return false;
        p += n;
        if (*p == ',')
            p++;
    }
    return true;
}

/* zookeeper_init() resolves host names with getaddrinfo() in the calling
 * thread, which may wait seconds for a DNS server. With names it runs on
 * this short-lived thread; the handle reaches the loop as ZK_RES_OPENED
 * (zk_adopt). Its own re-resolutions later happen on the client's I/O
 * thread, never on ours. */
static void *zk_open_thread(void *arg)
{
    struct zk *zk = arg;
    struct zk_result *r = xcalloc(1, sizeof(*r));
    r->kind = ZK_RES_OPENED;
    r->zh = zookeeper_init(zk->hosts, th_session, (int)(zk->requested_timeout * 1000), NULL, zk, 0);
    r->rc = r->zh ? 0 : errno;
    zk_push(zk, r);
    return NULL;
}

/* 0: a handle exists (IP literals) or is on its way (names). */
static int zk_open(struct zk *zk)
{
    if (!zk_hosts_numeric(zk->hosts)) {
        int rc = pthread_create(&zk->opener, NULL, zk_open_thread, zk);
        if (rc != 0) {
            log_error("zookeeper %s: cannot start the resolver thread: %s", zk->hosts,
                      strerror(rc));
            return -1;
        }
        zk->opener_running = true;
        return 0;
    }
    zk->zh =
        zookeeper_init(zk->hosts, th_session, (int)(zk->requested_timeout * 1000), NULL, zk, 0);
    if (!zk->zh) {
        log_error("zookeeper %s: cannot create a session: %s", zk->hosts, strerror(errno));
        return -1;
    }
    return 0;
}

static void zk_on_session(struct zk *zk, const struct zk_result *r);

/* The handle zk_open_thread made. Session events it delivered before this
 * were dropped (they named a handle zk->zh was not yet): its state now
 * stands for them. */
static void zk_adopt(struct zk *zk, struct zk_result *r)
{
    pthread_join(zk->opener, NULL);
    zk->opener_running = false;
    if (!r->zh) {
        log_error("zookeeper %s: cannot create a session: %s", zk->hosts, strerror(r->rc));
        struct timeval tv = { 1, 0 };
        evtimer_add(zk->reopen_ev, &tv);
        return;
    }
    zk->zh = r->zh;
    r->zh = NULL;
    struct zk_result now = { .kind = ZK_RES_SESSION, .zh = zk->zh, .state = zoo_state(zk->zh) };
    zk_on_session(zk, &now);
}

static void zk_reopen_cb(evutil_socket_t fd, short what, void *arg)
{
    struct zk *zk = arg;
    /* The expired handle has no connection left, so closing it is quick;
   * its pending requests complete with ZCLOSING through the queue. */
    if (zk->zh)
        zookeeper_close(zk->zh);
    zk->zh = NULL;
    zk_set_state(zk, ZK_STATE_CONNECTING);
    if (zk_open(zk) != 0) {
        struct timeval tv = { 1, 0 };
        evtimer_add(zk->reopen_ev, &tv);
    }
}

static void zk_grace_cb(evutil_socket_t fd, short what, void *arg)
{
    struct zk *zk = arg;
    if (zk->state == ZK_STATE_SUSPENDED)
        zk_set_state(zk, ZK_STATE_LOST);
}

static void zk_on_session(struct zk *zk, const struct zk_result *r)
{
    if (r->zh != zk->zh)
        return; /* about a handle closed since */
    if (r->state == ZOO_CONNECTED_STATE) {
        evtimer_del(zk->grace_ev);
        zk_set_state(zk, ZK_STATE_CONNECTED);
    } else if (r->state == ZOO_CONNECTING_STATE || r->state == ZOO_ASSOCIATING_STATE) {
        if (zk->state == ZK_STATE_CONNECTED) {
            /* The servers expire the session a session timeout after they last
       * heard from us; we noticed the silence up to 2/3 of it late. */
            double grace = zk_session_timeout(zk) / 3;
            struct timeval tv = { (time_t)grace,
                                  (suseconds_t)((grace - (double)(time_t)grace) * 1e6) };
            evtimer_add(zk->grace_ev, &tv);
            zk_set_state(zk, ZK_STATE_SUSPENDED);
        }
    } else if (r->state == ZOO_EXPIRED_SESSION_STATE || r->state == ZOO_AUTH_FAILED_STATE) {
        evtimer_del(zk->grace_ev);
        zk_set_state(zk, ZK_STATE_EXPIRED);
        struct timeval now = { 0, 0 };
        evtimer_add(zk->reopen_ev, &now);
    }
}

static void op_free(struct zk_op *op)
{
    struct zk *zk = op->zk;
    if (op->prev)
        op->prev->next = op->next;
    else
        zk->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    free(op->path);
    free(op);
}

static struct zk_op *op_new(struct zk *zk, enum zk_op_kind kind, void *arg)
{
    struct zk_op *op = xcalloc(1, sizeof(*op));
    op->zk = zk;
    op->kind = kind;
    op->arg = arg;
    op->next = zk->ops;
    if (zk->ops)
        zk->ops->prev = op;
    zk->ops = op;
    return op;
}

static int ensure_next(struct zk_op *op);

static void zk_on_op(struct zk *zk, struct zk_result *r)
{
    struct zk_op *op = r->op;
    switch (op->kind) {
    case ZK_OP_DATA:
        if (op->cb.data)
            op->cb.data(r->rc, r->data, r->len, r->version, op->arg);
        break;
    case ZK_OP_STRING:
        if (op->cb.string)
            op->cb.string(r->rc, r->data, op->arg);
        break;
    case ZK_OP_CHILDREN:
        if (op->cb.children)
            op->cb.children(r->rc, r->strings, r->nstrings, op->arg);
        break;
    case ZK_OP_STAT:
        if (op->cb.stat)
            op->cb.stat(r->rc, r->version, op->arg);
        break;
    case ZK_OP_ENSURE:
        if ((r->rc == ZOK || r->rc == ZNODEEXISTS) && op->path[op->pos] != '\0') {
            if (ensure_next(op) == 0)
                return; /* op lives on */
            if (op->cb.stat)
                op->cb.stat(ZINVALIDSTATE, -1, op->arg);
        } else if (op->cb.stat) {
            op->cb.stat(r->rc == ZNODEEXISTS ? ZOK : r->rc, -1, op->arg);
        }
        break;
    }
    op_free(op);
}

static void result_free(struct zk_result *r)
{
    for (size_t i = 0; i < r->nstrings; i++)
        free(r->strings[i]);
    free(r->strings);
    free(r->data);
    free(r->path);
    free(r);
}

static void zk_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
    struct zk *zk = arg;
    char buf[256];
    while (fdio_read(fd, buf, sizeof(buf)) > 0)
        ;
    pthread_mutex_lock(&zk->lock);
    struct zk_result *r = zk->q_head;
    zk->q_head = zk->q_tail = NULL;
    pthread_mutex_unlock(&zk->lock);
    while (r) {
        struct zk_result *next = r->next;
        if (r->kind == ZK_RES_SESSION)
            zk_on_session(zk, r);
        else if (r->kind == ZK_RES_OPENED)
            zk_adopt(zk, r);
        else if (r->kind == ZK_RES_OP)
            zk_on_op(zk, r);
        else if (!r->watch->dead)
            r->watch->fn(r->type, r->path, r->watch->arg);
        result_free(r);
        r = next;
    }
}

/* ------------------------------------------------------ lifecycle */

struct zk *zk_new(struct event_base *base, const char *hosts, double session_timeout,
                  zk_state_fn on_state, void *arg, char **err)
{
    static bool log_set;
    if (!log_set) {
        /* The client writes its own lines to stderr, several per reconnect
     * attempt (tens a second while no server answers): only with
     * --log_level=debug. zk_set_state() logs what matters. */
        zoo_set_debug_level(log_get_level() <= LOG_LVL_DEBUG ? ZOO_LOG_LEVEL_WARN : (ZooLogLevel)0);
        log_set = true;
    }
    struct zk *zk = xcalloc(1, sizeof(*zk));
    zk->base = base;
    zk->hosts = xstrdup(hosts);
    zk->requested_timeout = session_timeout;
    zk->on_state = on_state;
    zk->arg = arg;
    zk->state = ZK_STATE_CONNECTING;
    zk->refs = 1;
    zk->pipefd[0] = zk->pipefd[1] = -1;
    pthread_mutex_init(&zk->lock, NULL);
    if (pipe2(zk->pipefd, O_NONBLOCK | O_CLOEXEC) != 0) {
        *err = xasprintf("pipe: %s", strerror(errno));
        goto fail;
    }
    zk->pipe_ev = event_new(base, zk->pipefd[0], EV_READ | EV_PERSIST, zk_pipe_cb, zk);
    zk->grace_ev = evtimer_new(base, zk_grace_cb, zk);
    zk->reopen_ev = evtimer_new(base, zk_reopen_cb, zk);
    event_add(zk->pipe_ev, NULL);
    if (zk_open(zk) != 0) {
        *err = xasprintf("cannot start a ZooKeeper session to '%s': %s", hosts, strerror(errno));
        goto fail;
    }
    log_info("zookeeper %s: connecting (session timeout %.3gs)", hosts, session_timeout);
    return zk;
fail:
    zk_free(zk);
    return NULL;
}

struct zk *zk_ref(struct zk *zk)
{
    zk->refs++;
    return zk;
}

void zk_free(struct zk *zk)
{
    if (!zk || --zk->refs > 0)
        return;
    zk->closing = true;
    if (zk->opener_running) {
        /* Its handle, if it made one, is in the queue by now: adopt it so
         * that it is closed like any other. */
        pthread_join(zk->opener, NULL);
        zk->opener_running = false;
        for (struct zk_result *r = zk->q_head; r; r = r->next)
            if (r->kind == ZK_RES_OPENED && r->zh && !zk->zh) {
                zk->zh = r->zh;
                r->zh = NULL;
            }
    }
    if (zk->zh) {
        /* Sends closeSession (ephemerals go now) and joins the client's
     * threads; pending requests complete with ZCLOSING into the queue. */
        zookeeper_close(zk->zh);
        zk->zh = NULL;
    }
    struct zk_result *r = zk->q_head;
    while (r) {
        struct zk_result *next = r->next;
        result_free(r);
        r = next;
    }
    while (zk->ops)
        op_free(zk->ops);
    while (zk->watches) {
        struct zk_watch *w = zk->watches;
        zk->watches = w->next;
        free(w);
    }
    while (zk->listeners) {
        struct zk_listener *l = zk->listeners;
        zk->listeners = l->next;
        free(l);
    }
    if (zk->pipe_ev)
        event_free(zk->pipe_ev);
    if (zk->grace_ev)
        event_free(zk->grace_ev);
    if (zk->reopen_ev)
        event_free(zk->reopen_ev);
    if (zk->pipefd[0] >= 0)
        close(zk->pipefd[0]);
    if (zk->pipefd[1] >= 0)
        close(zk->pipefd[1]);
    pthread_mutex_destroy(&zk->lock);
    free(zk->hosts);
    free(zk);
}

enum zk_state zk_state(const struct zk *zk)
{
    return zk->state;
}

double zk_session_timeout(const struct zk *zk)
{
    int ms = zk->zh && zk->state != ZK_STATE_CONNECTING ? zoo_recv_timeout(zk->zh) : 0;
    return ms > 0 ? ms / 1000.0 : zk->requested_timeout;
}

struct zk_watch *zk_watch_new(struct zk *zk, zk_watch_fn fn, void *arg)
{
    struct zk_watch *w = xcalloc(1, sizeof(*w));
    w->zk = zk;
    w->fn = fn;
    w->arg = arg;
    w->next = zk->watches;
    zk->watches = w;
    return w;
}

struct zk_listener *zk_listen(struct zk *zk, zk_state_fn fn, void *arg)
{
    struct zk_listener *l = xcalloc(1, sizeof(*l)), **pp = &zk->listeners;
    l->fn = fn;
    l->arg = arg;
    while (*pp)
        pp = &(*pp)->next;
    *pp = l;
    return l;
}

void zk_unlisten(struct zk_listener *l)
{
    if (l)
        l->dead = true;
}

void zk_watch_free(struct zk_watch *w)
{
    /* The client may still hold it: only silence it; zk_free frees it. */
    if (w)
        w->dead = true;
}

/* ------------------------------------------------------- requests */

static int zk_submitted(struct zk_op *op, int rc, const char *what, const char *path)
{
    if (rc == ZOK)
        return 0;
    log_warn("zookeeper: cannot send %s %s: %s", what, path, zerror(rc));
    op_free(op);
    return -1;
}

int zk_create(struct zk *zk, const char *path, const char *data, size_t len, int flags,
              zk_string_fn cb, void *arg)
{
    if (!zk->zh)
        return -1;
    struct zk_op *op = op_new(zk, ZK_OP_STRING, arg);
    op->cb.string = cb;
    return zk_submitted(op,
                        zoo_acreate(zk->zh, path, data, data ? (int)len : -1, &ZOO_OPEN_ACL_UNSAFE,
                                    flags, th_string, op),
                        "create", path);
}

int zk_get(struct zk *zk, const char *path, struct zk_watch *watch, zk_data_fn cb, void *arg)
{
    if (!zk->zh)
        return -1;
    struct zk_op *op = op_new(zk, ZK_OP_DATA, arg);
    op->cb.data = cb;
    int rc = watch ? zoo_awget(zk->zh, path, th_watch, watch, th_data, op)
                   : zoo_aget(zk->zh, path, 0, th_data, op);
    return zk_submitted(op, rc, "get", path);
}

int zk_children(struct zk *zk, const char *path, struct zk_watch *watch, zk_children_fn cb,
                void *arg)
{
    if (!zk->zh)
        return -1;
    struct zk_op *op = op_new(zk, ZK_OP_CHILDREN, arg);
    op->cb.children = cb;
    int rc = watch ? zoo_awget_children(zk->zh, path, th_watch, watch, th_strings, op)
                   : zoo_aget_children(zk->zh, path, 0, th_strings, op);
    return zk_submitted(op, rc, "get_children", path);
}

int zk_set(struct zk *zk, const char *path, const char *data, size_t len, int version,
           zk_stat_fn cb, void *arg)
{
    if (!zk->zh)
        return -1;
    struct zk_op *op = op_new(zk, ZK_OP_STAT, arg);
    op->cb.stat = cb;
    return zk_submitted(op, zoo_aset(zk->zh, path, data, (int)len, version, th_stat, op), "set",
                        path);
}

int zk_delete(struct zk *zk, const char *path, int version, zk_stat_fn cb, void *arg)
{
    if (!zk->zh)
        return -1;
    struct zk_op *op = op_new(zk, ZK_OP_STAT, arg);
    op->cb.stat = cb;
    return zk_submitted(op, zoo_adelete(zk->zh, path, version, th_void, op), "delete", path);
}

void zk_cancel(struct zk *zk, void *arg)
{
    for (struct zk_op *op = zk->ops; op; op = op->next)
        if (op->arg == arg)
            memset(&op->cb, 0, sizeof(op->cb));
}

/* Create the next prefix of op->path ("/a", then "/a/b", ...). */
static int ensure_next(struct zk_op *op)
{
    size_t end = op->pos + 1;
    while (op->path[end] && op->path[end] != '/')
        end++;
    op->pos = end;
    char *prefix = xstrndup(op->path, end);
    int rc = zoo_acreate(op->zk->zh, prefix, NULL, -1, &ZOO_OPEN_ACL_UNSAFE, 0, th_string, op);
    free(prefix);
    return rc == ZOK ? 0 : -1;
}

int zk_ensure_path(struct zk *zk, const char *path, zk_stat_fn cb, void *arg)
{
    if (!zk->zh || path[0] != '/' || !path[1])
        return -1;
    struct zk_op *op = op_new(zk, ZK_OP_ENSURE, arg);
    op->cb.stat = cb;
    op->path = xstrdup(path);
    op->pos = 0;
    if (ensure_next(op) != 0) {
        op_free(op);
        return -1;
    }
    return 0;
}

int zk_set_sync(struct zk *zk, const char *path, const char *data, size_t len, int version,
                int *new_version)
{
    struct Stat st;
    if (!zk->zh)
        return ZINVALIDSTATE;
    int rc = zoo_set2(zk->zh, path, data, (int)len, version, &st);
    if (rc == ZOK && new_version)
        *new_version = st.version;
    return rc;
}

/* ------------------------------------------------------ MasterInfo */

int zk_master_address(const char *data, size_t len, char **host, int *port, char **err)
{
    json_error_t jerr;
    json_t *j = json_loadb(data, len, 0, &jerr);
    int rc = -1;
    if (!j || !json_is_object(j)) {
        *err =
            xasprintf("leader znode is not MasterInfo JSON: %s", j ? "not an object" : jerr.text);
        goto out;
    }
    json_t *addr = json_object_get(j, "address");
    const char *h = json_string_value(json_object_get(addr, "ip"));
    if (!h || !*h || strcmp(h, "0.0.0.0") == 0)
        h = json_string_value(json_object_get(addr, "hostname"));
    if (!h || !*h)
        h = json_string_value(json_object_get(j, "hostname"));
    json_int_t p = json_integer_value(json_object_get(addr, "port"));
    if (p <= 0)
        p = json_integer_value(json_object_get(j, "port"));
    if (!h || !*h || p <= 0 || p > 65535) {
        *err = xstrdup("leader's MasterInfo has no usable address.ip/hostname and port");
        goto out;
    }
    *host = xstrdup(h);
    *port = (int)p;
    rc = 0;
out:
    json_decref(j);
    return rc;
}
