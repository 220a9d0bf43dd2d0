/*
 * store_zk.c: the store's ZooKeeper backend. Key "a/b" is the znode
 * <root>/a/b; parents are created as empty persistent znodes on the first
 * write below them. put with a version is zoo_aset(version) (compare-and-
 * set), STORE_ABSENT is zoo_acreate, STORE_ANY a set that creates the znode
 * when missing. Completions already arrive on the loop (common/zk.c); the
 * front still delivers them in a deferred event. The store borrows the
 * session (zk_ref) and cancels its callbacks when freed.
 */
#define _GNU_SOURCE
#include "store_backend.h"

#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "zk.h"

struct zk_be {
    struct zk *zk;
    char *root; /* "/agora", or "" for the namespace root */
};

static char *znode(struct store *s, const char *key)
{
    struct zk_be *zb = store_be(s);
    return key[0] ? xasprintf("%s/%s", zb->root, key) : xstrdup(zb->root[0] ? zb->root : "/");
}

static void fail(struct store_op *op, int rc, const char *what, int zrc)
{
    store_op_done(op, rc, -1,
                  xasprintf("%s: %s %s: %s", store_name(op->s), what, op->key, zk_error(zrc)));
}

static int map_rc(int zrc)
{
    return zrc == ZBADVERSION || zrc == ZNODEEXISTS ? STORE_CONFLICT : STORE_UNAVAILABLE;
}

static void not_sent(struct store_op *op)
{
    store_op_done(op, STORE_UNAVAILABLE, -1,
                  xasprintf("%s: %s: ZooKeeper session not connected", store_name(op->s), op->key));
}

/* ------------------------------------------------------------ get */

static void got(int rc, const char *data, size_t len, int version, void *arg)
{
    struct store_op *op = arg;
    if (rc == ZNONODE) {
        store_op_done(op, STORE_NOT_FOUND, -1, NULL);
        return;
    }
    if (rc != ZOK) {
        fail(op, STORE_UNAVAILABLE, "get", rc);
        return;
    }
    op->rdata = xmalloc(len + 1);
    if (len)
        memcpy(op->rdata, data, len);
    op->rdata[len] = '\0';
    op->rlen = len;
    store_op_done(op, STORE_OK, version, NULL);
}

static void zs_get(struct store_op *op)
{
    struct zk_be *zb = store_be(op->s);
    char *path = znode(op->s, op->key);
    if (zk_get(zb->zk, path, NULL, got, op) != 0)
        not_sent(op);
    free(path);
}

/* ------------------------------------------------------------ put */

enum { STAGE_SET, STAGE_CREATE, STAGE_PARENTS, STAGE_CREATED_PARENTS };

static void put_step(struct store_op *op);

static void put_set(int rc, int version, void *arg)
{
    struct store_op *op = arg;
    if (rc == ZOK)
        store_op_done(op, STORE_OK, version, NULL);
    else if (rc == ZNONODE && op->expected == STORE_ANY && op->stage == STAGE_SET) {
        op->stage = STAGE_CREATE;
        put_step(op);
    } else if (rc == ZNONODE)
        store_op_done(op, STORE_CONFLICT, -1,
                      xasprintf("%s: %s: expected version %d, but the key is gone",
                                store_name(op->s), op->key, op->expected));
    else if (rc == ZBADVERSION)
        store_op_done(op, STORE_CONFLICT, -1,
                      xasprintf("%s: %s: not at version %d any more (another writer)",
                                store_name(op->s), op->key, op->expected));
    else
        fail(op, STORE_UNAVAILABLE, "set", rc);
}

static void put_created(int rc, const char *value, void *arg)
{
    struct store_op *op = arg;
    if (rc == ZOK) {
        store_op_done(op, STORE_OK, 0, NULL);
    } else if (rc == ZNONODE && op->stage == STAGE_CREATE) {
        op->stage = STAGE_PARENTS;
        put_step(op);
    } else if (rc == ZNODEEXISTS && op->expected == STORE_ANY) {
        op->expected = -1; /* zoo_aset's "any version" */
        op->stage = STAGE_SET;
        put_step(op);
    } else if (rc == ZNODEEXISTS) {
        store_op_done(op, STORE_CONFLICT, -1,
                      xasprintf("%s: %s: expected no key, but it exists (another writer)",
                                store_name(op->s), op->key));
    } else {
        fail(op, map_rc(rc), "create", rc);
    }
}

static void put_parents(int rc, int version, void *arg)
{
    struct store_op *op = arg;
    if (rc != ZOK) {
        fail(op, STORE_UNAVAILABLE, "create the parents of", rc);
        return;
    }
    op->stage = STAGE_CREATED_PARENTS;
    put_step(op);
}

static void put_step(struct store_op *op)
{
    struct zk_be *zb = store_be(op->s);
    char *path = znode(op->s, op->key);
    int rc = 0;
    if (op->stage == STAGE_SET) {
        int v = op->expected >= 0 ? op->expected : -1;
        rc = zk_set(zb->zk, path, op->data, op->len, v, put_set, op);
    } else if (op->stage == STAGE_PARENTS) {
        *strrchr(path, '/') = '\0';
        rc = path[0] ? zk_ensure_path(zb->zk, path, put_parents, op) : -1;
    } else {
        rc = zk_create(zb->zk, path, op->data, op->len, 0, put_created, op);
    }
    if (rc != 0)
        not_sent(op);
    free(path);
}

static void zs_put(struct store_op *op)
{
    op->stage = op->expected == STORE_ABSENT ? STAGE_CREATE : STAGE_SET;
    put_step(op);
}

/* --------------------------------------------------------- delete */

static void deleted(int rc, int version, void *arg)
{
    struct store_op *op = arg;
    if (rc == ZOK)
        store_op_done(op, STORE_OK, -1, NULL);
    else if (rc == ZNONODE)
        store_op_done(op, op->expected == STORE_ANY ? STORE_NOT_FOUND : STORE_CONFLICT, -1,
                      op->expected == STORE_ANY
                          ? NULL
                          : xasprintf("%s: %s: expected version %d, but the key is gone",
                                      store_name(op->s), op->key, op->expected));
    else if (rc == ZNOTEMPTY)
        store_op_done(
            op, STORE_INVALID, -1,
            xasprintf("%s: %s is a folder of keys, not a value", store_name(op->s), op->key));
    else
        fail(op, map_rc(rc), "delete", rc);
}

static void zs_del(struct store_op *op)
{
    struct zk_be *zb = store_be(op->s);
    char *path = znode(op->s, op->key);
    if (zk_delete(zb->zk, path, op->expected >= 0 ? op->expected : -1, deleted, op) != 0)
        not_sent(op);
    free(path);
}

/* ----------------------------------------------------------- list */

static void listed(int rc, char **children, size_t n, void *arg)
{
    struct store_op *op = arg;
    if (rc == ZNONODE) {
        store_op_done(op, STORE_OK, -1, NULL);
        return;
    }
    if (rc != ZOK) {
        fail(op, STORE_UNAVAILABLE, "list", rc);
        return;
    }
    op->names = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        op->names[i] = xstrdup(children[i]);
    op->nnames = n;
    store_op_done(op, STORE_OK, -1, NULL);
}

static void zs_list(struct store_op *op)
{
    struct zk_be *zb = store_be(op->s);
    char *path = znode(op->s, op->key);
    if (zk_children(zb->zk, path, NULL, listed, op) != 0)
        not_sent(op);
    free(path);
}

/* ------------------------------------------------------ lifecycle */

static int zs_put_sync(struct store *s, const char *key, const void *data, size_t len, int expected,
                       int *version, char **err)
{
    struct zk_be *zb = store_be(s);
    if (expected == STORE_ABSENT) {
        *err = xasprintf("%s: %s: a blocking put cannot create a key", store_name(s), key);
        return STORE_INVALID;
    }
    char *path = znode(s, key);
    int zrc = zk_set_sync(zb->zk, path, data, len, expected >= 0 ? expected : -1, version);
    free(path);
    if (zrc == ZOK)
        return STORE_OK;
    *err = xasprintf("%s: set %s: %s", store_name(s), key, zk_error(zrc));
    return zrc == ZBADVERSION || zrc == ZNONODE ? STORE_CONFLICT : STORE_UNAVAILABLE;
}

static void zs_free(struct store *s)
{
    struct zk_be *zb = store_be(s);
    for (struct store_op *op = store_ops(s); op; op = op->next)
        zk_cancel(zb->zk, op);
    zk_free(zb->zk); /* our reference */
    free(zb->root);
    free(zb);
}

static const struct store_backend zk_backend = {
    .kind = "zk",
    .get = zs_get,
    .put = zs_put,
    .del = zs_del,
    .list = zs_list,
    .put_sync = zs_put_sync,
    .free = zs_free,
};

struct store *store_zk_new(struct event_base *base, struct zk *zk, const char *root)
{
    struct zk_be *zb = xcalloc(1, sizeof(*zb));
    zb->zk = zk_ref(zk);
    size_t n = strlen(root);
    while (n > 0 && root[n - 1] == '/')
        n--;
    zb->root = xstrndup(root, n);
    return store_new_backend(base, &zk_backend, zb, zb->root[0] ? zb->root : "/");
}
