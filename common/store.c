/*
 * store.c: the front of the durable store (store.h has the contract). It
 * owns what both backends share: key and size checks, the per-key write
 * queue (one write in flight, later puts coalesced into the last waiting
 * one), the versions last seen per key, the deposed callback, and the
 * deferred delivery of every result on the loop. store_file.c and
 * store_zk.c only move bytes.
 */
#define _GNU_SOURCE
#include "store_backend.h"

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "log.h"
#include "mem.h"
#include <uthash.h>

#define VERSION_UNKNOWN (-3)

struct store_waiter {
    store_put_fn cb;
    void *arg;
    struct store_waiter *next;
};

struct store_key {
    char *key;
    int version;                  /* last seen; -1 absent; VERSION_UNKNOWN */
    struct store_op *head, *tail; /* writes; head is in flight */
    UT_hash_handle hh;
};

struct store {
    struct event_base *base;
    const struct store_backend *be_ops;
    void *be;
    char *name;
    store_deposed_fn deposed;
    void *deposed_arg;
    struct store_key *keys;
    struct store_op *ops;
    size_t max_value; /* values over this are refused (STORE_TOO_BIG) */
};

static const char *const store_rc_names[] = {
    [STORE_OK] = "OK",
    [STORE_NOT_FOUND] = "NOT_FOUND",
    [STORE_CONFLICT] = "CONFLICT",
    [STORE_TOO_BIG] = "TOO_BIG",
    [STORE_INVALID] = "INVALID",
    [STORE_UNAVAILABLE] = "UNAVAILABLE",
};

const char *store_rc_name(int rc)
{
    if (rc < 0 || (size_t)rc >= sizeof(store_rc_names) / sizeof(store_rc_names[0]))
        return "UNKNOWN";
    return store_rc_names[rc];
}

struct store *store_new_backend(struct event_base *base, const struct store_backend *ops, void *be,
                                const char *where)
{
    struct store *s = xcalloc(1, sizeof(*s));
    s->base = base;
    s->be_ops = ops;
    s->be = be;
    s->name = xasprintf("%s:%s", ops->kind, where);
    s->max_value = STORE_MAX_VALUE;
    return s;
}

int store_set_max_value(struct store *s, size_t bytes)
{
    /* ZooKeeper refuses a request over its jute.maxbuffer (1 MB by default),
     * so only a file store may hold more. */
    if (bytes > STORE_MAX_VALUE && strcmp(s->be_ops->kind, "file") != 0)
        return -1;
    s->max_value = bytes;
    return 0;
}

size_t store_max_value(const struct store *s)
{
    return s->max_value;
}

void *store_be(struct store *s)
{
    return s->be;
}

struct store_op *store_ops(struct store *s)
{
    return s->ops;
}

const char *store_name(const struct store *s)
{
    return s->name;
}

void store_set_deposed(struct store *s, store_deposed_fn fn, void *arg)
{
    s->deposed = fn;
    s->deposed_arg = arg;
}

static void op_free(struct store_op *op)
{
    struct store *s = op->s;
    if (op->prev)
        op->prev->next = op->next;
    else if (s->ops == op)
        s->ops = op->next;
    if (op->next)
        op->next->prev = op->prev;
    while (op->waiters) {
        struct store_waiter *w = op->waiters;
        op->waiters = w->next;
        free(w);
    }
    for (size_t i = 0; i < op->nnames; i++)
        free(op->names[i]);
    free(op->names);
    if (op->ev)
        event_free(op->ev);
    free(op->key);
    free(op->data);
    free(op->rdata);
    free(op->err);
    free(op);
}

void store_free(struct store *s)
{
    if (!s)
        return;
    if (s->be_ops->free)
        s->be_ops->free(s);
    while (s->ops)
        op_free(s->ops);
    struct store_key *k, *tmp;
    HASH_ITER (hh, s->keys, k, tmp) {
        HASH_DELETE(hh, s->keys, k);
        free(k->key);
        free(k);
    }
    free(s->name);
    free(s);
}

static void op_fire(evutil_socket_t fd, short what, void *arg);

static struct store_op *op_new(struct store *s, enum store_op_kind kind, const char *key, void *arg)
{
    struct store_op *op = xcalloc(1, sizeof(*op));
    op->s = s;
    op->kind = kind;
    op->key = xstrdup(key ? key : "");
    op->arg = arg;
    op->ev = event_new(s->base, -1, 0, op_fire, op);
    op->next = s->ops;
    if (s->ops)
        s->ops->prev = op;
    s->ops = op;
    return op;
}

void store_op_done(struct store_op *op, int rc, int version, char *err)
{
    op->rc = rc;
    op->version = version;
    free(op->err);
    op->err = err;
    event_active(op->ev, EV_TIMEOUT, 0);
}

/* Keys: segments of [A-Za-z0-9_.:-] not starting with '.'; a prefix may
 * also be "" (the root). */
static bool key_valid(const char *key, bool prefix)
{
    size_t n = strlen(key);
    if (n == 0)
        return prefix;
    if (n > STORE_MAX_KEY)
        return false;
    const char *seg = key;
    for (const char *p = key;; p++) {
        if (*p == '/' || *p == '\0') {
            if (p == seg || *seg == '.')
                return false;
            if (*p == '\0')
                return true;
            seg = p + 1;
            continue;
        }
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == ':' || c == '-'))
            return false;
    }
}

static struct store_key *key_get(struct store *s, const char *key)
{
    struct store_key *k = NULL;
    HASH_FIND_STR(s->keys, key, k);
    if (!k) {
        k = xcalloc(1, sizeof(*k));
        k->key = xstrdup(key);
        k->version = VERSION_UNKNOWN;
        HASH_ADD_KEYPTR(hh, s->keys, k->key, strlen(k->key), k);
    }
    return k;
}

/* STORE_KNOWN: the version this store last saw for the key; a key never
 * seen must not exist (a put) or may be anything (a delete). */
static void resolve_known(struct store_op *op)
{
    struct store_key *k = op->k;

    if (op->expected != STORE_KNOWN)
        return;
    if (k != NULL && k->version != VERSION_UNKNOWN)
        op->expected = k->version >= 0 ? k->version : STORE_ABSENT;
    else
        op->expected = op->kind == STORE_OP_PUT ? STORE_ABSENT : STORE_ANY;
    if (op->kind == STORE_OP_DELETE && op->expected == STORE_ABSENT)
        op->expected = STORE_ANY;
}

static void op_send(struct store_op *op)
{
    struct store *s = op->s;
    if (op->kind == STORE_OP_PUT || op->kind == STORE_OP_DELETE)
        resolve_known(op);
    switch (op->kind) {
    case STORE_OP_GET:
        s->be_ops->get(op);
        break;
    case STORE_OP_PUT:
        s->be_ops->put(op);
        break;
    case STORE_OP_DELETE:
        s->be_ops->del(op);
        break;
    case STORE_OP_LIST:
        s->be_ops->list(op);
        break;
    }
}

static void op_callback(struct store_op *op)
{
    const char *err = op->rc == STORE_OK ? NULL : op->err ? op->err : store_rc_name(op->rc);
    switch (op->kind) {
    case STORE_OP_GET:
        if (op->get_cb)
            op->get_cb(op->rc, op->rdata, op->rlen, op->version, err, op->arg);
        break;
    case STORE_OP_LIST:
        if (op->list_cb)
            op->list_cb(op->rc, op->names, op->nnames, err, op->arg);
        break;
    case STORE_OP_PUT:
    case STORE_OP_DELETE:
        if (op->put_cb)
            op->put_cb(op->rc, op->version, err, op->arg);
        for (struct store_waiter *w = op->waiters; w; w = w->next)
            if (w->cb)
                w->cb(op->rc, op->version, err, w->arg);
        break;
    }
}

/* The write at the head of k finished: unlink it, send the next one (it
 * builds on the version just produced), or fail them all on a conflict. */
static void write_finished(struct store_op *op)
{
    struct store_key *k = op->k;
    k->head = op->qnext;
    if (!k->head)
        k->tail = NULL;
    op->qnext = NULL;
    if (op->rc == STORE_OK)
        k->version = op->kind == STORE_OP_PUT ? op->version : -1;
    else if (op->rc == STORE_CONFLICT || op->rc == STORE_NOT_FOUND)
        k->version = VERSION_UNKNOWN;
    if (op->rc == STORE_CONFLICT) {
        struct store_op *q = k->head;
        k->head = k->tail = NULL;
        while (q) {
            struct store_op *next = q->qnext;
            q->rc = STORE_CONFLICT;
            q->version = -1;
            q->err =
                xasprintf("%s: %s: an earlier write lost to another writer", op->s->name, q->key);
            op_callback(q);
            op_free(q);
            q = next;
        }
        return;
    }
    struct store_op *next = k->head;
    if (!next)
        return;
    if (next->expected != STORE_ANY && k->version != VERSION_UNKNOWN)
        next->expected = k->version >= 0 ? k->version : STORE_ABSENT;
    op_send(next);
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void op_fire(evutil_socket_t fd, short what, void *arg)
{
    struct store_op *op = arg;
    struct store *s = op->s;
    if (op->k) {
        if (op->rc == STORE_CONFLICT && s->deposed)
            s->deposed(s, op->key, op->err ? op->err : "version conflict", s->deposed_arg);
        write_finished(op);
    } else if (op->kind == STORE_OP_LIST && op->nnames > 1) {
        qsort(op->names, op->nnames, sizeof(char *), name_cmp);
    } else if (op->kind == STORE_OP_GET && op->rc == STORE_OK) {
        key_get(s, op->key)->version = op->version;
    }
    op_callback(op);
    op_free(op);
}

static int check_key(struct store_op *op, const char *key, bool prefix)
{
    if (key_valid(key, prefix))
        return 0;
    store_op_done(op, STORE_INVALID, -1,
                  xasprintf("%s: invalid key '%s' (segments of [A-Za-z0-9_.:-] separated by '/', "
                            "none empty or starting with '.', at most %d bytes)",
                            op->s->name, key, STORE_MAX_KEY));
    return -1;
}

void store_get(struct store *s, const char *key, store_get_fn cb, void *arg)
{
    struct store_op *op = op_new(s, STORE_OP_GET, key, arg);
    op->get_cb = cb;
    if (check_key(op, key, false) == 0)
        op_send(op);
}

void store_list(struct store *s, const char *prefix, store_list_fn cb, void *arg)
{
    size_t n = strlen(prefix);
    while (n > 0 && prefix[n - 1] == '/')
        n--;
    char *p = xstrndup(prefix, n);
    struct store_op *op = op_new(s, STORE_OP_LIST, p, arg);
    op->list_cb = cb;
    if (check_key(op, p, true) == 0)
        op_send(op);
    free(p);
}

static void write_enqueue(struct store_op *op)
{
    struct store_key *k = key_get(op->s, op->key);
    op->k = k;
    if (!k->head) {
        k->head = k->tail = op;
        op_send(op);
        return;
    }
    k->tail->qnext = op;
    k->tail = op;
}

void store_put(struct store *s, const char *key, const void *data, size_t len, int expected,
               store_put_fn cb, void *arg)
{
    struct store_key *k = NULL;
    HASH_FIND_STR(s->keys, key, k);
    /* Coalesce into a put waiting behind the one in flight. */
    if (k && k->tail && k->tail != k->head && k->tail->kind == STORE_OP_PUT &&
        len <= s->max_value) {
        struct store_op *t = k->tail;
        free(t->data);
        t->data = xmalloc(len ? len : 1);
        memcpy(t->data, data, len);
        t->len = len;
        if (expected == STORE_ANY)
            t->expected = STORE_ANY;
        struct store_waiter *w = xcalloc(1, sizeof(*w)), **pp = &t->waiters;
        w->cb = cb;
        w->arg = arg;
        while (*pp)
            pp = &(*pp)->next;
        *pp = w;
        return;
    }
    struct store_op *op = op_new(s, STORE_OP_PUT, key, arg);
    op->put_cb = cb;
    op->expected = expected;
    if (check_key(op, key, false) != 0)
        return;
    if (len > s->max_value) {
        store_op_done(op, STORE_TOO_BIG, -1,
                      xasprintf("%s: %s: value of %zu bytes refused (at most %zu)", s->name, key,
                                len, s->max_value));
        return;
    }
    op->data = xmalloc(len ? len : 1);
    memcpy(op->data, data, len);
    op->len = len;
    write_enqueue(op);
}

void store_delete(struct store *s, const char *key, int expected, store_put_fn cb, void *arg)
{
    struct store_op *op = op_new(s, STORE_OP_DELETE, key, arg);
    op->put_cb = cb;
    op->expected = expected == STORE_ABSENT ? STORE_ANY : expected;
    if (check_key(op, key, false) == 0)
        write_enqueue(op);
}

bool store_writing(struct store *s, const char *key)
{
    struct store_key *k = NULL;
    HASH_FIND_STR(s->keys, key, k);
    return k && k->head;
}

int store_put_sync(struct store *s, const char *key, const void *data, size_t len, int expected,
                   int *version, char **err)
{
    if (!key_valid(key, false)) {
        *err = xasprintf("%s: invalid key '%s'", s->name, key);
        return STORE_INVALID;
    }
    if (len > s->max_value) {
        *err = xasprintf("%s: %s: value of %zu bytes refused (at most %zu)", s->name, key, len,
                         s->max_value);
        return STORE_TOO_BIG;
    }
    struct store_key *k = NULL;
    HASH_FIND_STR(s->keys, key, k);
    if (k && k->head) {
        /* Only the head was sent; it lands first (one session, in order). */
        struct store_op *h = k->head;
        if (h->kind == STORE_OP_DELETE)
            expected = STORE_ABSENT;
        else if (h->expected >= 0)
            expected = h->expected + 1;
        else if (h->expected == STORE_ABSENT)
            expected = 0;
    } else if (k && k->version != VERSION_UNKNOWN) {
        expected = k->version >= 0 ? k->version : STORE_ABSENT;
    }
    int v = -1;
    int rc = s->be_ops->put_sync(s, key, data, len, expected, &v, err);
    if (rc == STORE_OK) {
        if (k && !k->head)
            k->version = v;
        if (version)
            *version = v;
    }
    return rc;
}

int store_get_sync(struct store *s, const char *key, char **data, size_t *len, int *version,
                   char **err)
{
    *version = -1;
    if (!key_valid(key, false)) {
        *err = xasprintf("%s: invalid key '%s'", s->name, key);
        return STORE_INVALID;
    }
    if (!s->be_ops->get_sync) {
        *err = xasprintf("%s: %s: no blocking get on this backend", s->name, key);
        return STORE_UNAVAILABLE;
    }
    int rc = s->be_ops->get_sync(s, key, data, len, version, err);
    if (rc == STORE_OK)
        key_get(s, key)->version = *version;
    return rc;
}
