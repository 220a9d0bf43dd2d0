/*
 * store_backend: what store.c (the common front: key checks, the per-key
 * write queue, coalescing, versions known, deposed) shares with its two
 * backends, store_file.c and store_zk.c. Not for store users.
 *
 * A backend gets one struct store_op at a time per key for writes (any
 * number of gets and lists) and finishes each with store_op_done(), from
 * any context: the front delivers the result in a deferred event.
 */
#ifndef AGORA_STORE_BACKEND_H
#define AGORA_STORE_BACKEND_H

#include "store.h"

enum store_op_kind { STORE_OP_GET, STORE_OP_PUT, STORE_OP_DELETE, STORE_OP_LIST };

struct store_op {
    struct store *s;
    enum store_op_kind kind;
    char *key;
    char *data; /* PUT: the value to write */
    size_t len;
    int expected; /* PUT/DELETE: version, STORE_ABSENT or STORE_ANY */
    int stage;    /* the backend's own progress (retries) */
    /* result, set by store_op_done */
    int rc, version;
    char *rdata; /* GET: copy of the value */
    size_t rlen;
    char **names; /* LIST */
    size_t nnames;
    char *err;
    /* front */
    store_get_fn get_cb;
    store_put_fn put_cb;
    store_list_fn list_cb;
    void *arg;
    struct store_waiter *waiters; /* puts coalesced into this one */
    struct store_key *k;          /* writes: the key's queue */
    struct store_op *qnext;       /* next write queued on k */
    struct event *ev;             /* deferred completion */
    struct store_op *prev, *next; /* s->ops */
};

struct store_backend {
    const char *kind; /* "file", "zk" */
    void (*get)(struct store_op *op);
    void (*put)(struct store_op *op);
    void (*del)(struct store_op *op);
    void (*list)(struct store_op *op);
    int (*put_sync)(struct store *s, const char *key, const void *data, size_t len, int expected,
                    int *version, char **err);
    int (*get_sync)(struct store *s, const char *key, char **data, size_t *len, int *version,
                    char **err);   /* NULL: not supported */
    void (*free)(struct store *s); /* ops are still listed; the front frees them */
};

/* Front constructor for a backend; be is the backend's state. */
struct store *store_new_backend(struct event_base *base, const struct store_backend *ops, void *be,
                                const char *where);
void *store_be(struct store *s);
struct store_op *store_ops(struct store *s); /* in flight, for backend free */
/* Finish op: rc, version; err (taken, may be NULL). Deferred delivery. */
void store_op_done(struct store_op *op, int rc, int version, char *err);

#endif
