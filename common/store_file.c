/*
 * store_file.c: the store's file backend. Key "a/b" is the file <dir>/a/b,
 * written by atomic_write (temp file, fsync, rename, fsync of the folder),
 * so a reader sees the old or the new value, never a mix. The file holds
 * the value only (an existing file such as the master's registry.pb reads
 * unchanged); versions live in memory here: 0 for a file first seen, +1 per
 * write, and a file whose inode changed behind our back counts as a write
 * by another writer. Work is done at once and the result delivered by the
 * front in a deferred event, so both backends share one contract.
 */
#define _GNU_SOURCE
#include "store_backend.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uthash.h>

#include "atomic_file.h"
#include "mem.h"

struct fkey {
    char *key;
    int version; /* in memory only */
    ino_t ino;   /* the file's inode when we last saw or wrote it */
    UT_hash_handle hh;
};

struct file_be {
    char *dir;
    struct fkey *keys;
};

static char *key_path(struct file_be *fb, const char *key)
{
    return key[0] ? xasprintf("%s/%s", fb->dir, key) : xstrdup(fb->dir);
}

/* The key's current version (-1: absent), or -2 with *err. */
static int current(struct store *s, struct file_be *fb, const char *key, const char *path,
                   char **err)
{
    struct fkey *fk = NULL;
    HASH_FIND_STR(fb->keys, key, fk);
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno != ENOENT && errno != ENOTDIR) {
            *err = xasprintf("%s: %s: %s", store_name(s), key, strerror(errno));
            return -2;
        }
        if (fk) {
            HASH_DELETE(hh, fb->keys, fk);
            free(fk->key);
            free(fk);
        }
        return -1;
    }
    if (S_ISDIR(st.st_mode)) {
        *err = xasprintf("%s: %s is a folder of keys, not a value", store_name(s), key);
        return -2;
    }
    if (!fk) {
        fk = xcalloc(1, sizeof(*fk));
        fk->key = xstrdup(key);
        fk->ino = st.st_ino;
        HASH_ADD_KEYPTR(hh, fb->keys, fk->key, strlen(fk->key), fk);
    } else if (fk->ino != st.st_ino) {
        fk->version++; /* replaced by someone else */
        fk->ino = st.st_ino;
    }
    return fk->version;
}

static int conflict(struct store *s, const char *key, int cur, int expected, char **err)
{
    if (expected == STORE_ANY || (expected == STORE_ABSENT && cur == -1) ||
        (expected >= 0 && cur == expected))
        return 0;
    *err = cur == -1 ? xasprintf("%s: %s: expected version %d, but the key is gone", store_name(s),
                                 key, expected)
                     : xasprintf("%s: %s: expected %s%d, found version %d", store_name(s), key,
                                 expected == STORE_ABSENT ? "no key, " : "version ",
                                 expected == STORE_ABSENT ? -1 : expected, cur);
    return -1;
}

static int put_now(struct store *s, const char *key, const void *data, size_t len, int expected,
                   int *version, char **err)
{
    struct file_be *fb = store_be(s);
    char *path = key_path(fb, key);
    int rc = STORE_UNAVAILABLE;
    int cur = current(s, fb, key, path, err);
    if (cur == -2) {
        rc = STORE_INVALID;
        goto out;
    }
    if (conflict(s, key, cur, expected, err) != 0) {
        rc = STORE_CONFLICT;
        goto out;
    }
    char *slash = strrchr(path, '/');
    *slash = '\0';
    int mk = mkdir_p(path);
    *slash = '/';
    if (mk != 0) {
        *err =
            xasprintf("%s: %s: cannot create its folder: %s", store_name(s), key, strerror(errno));
        goto out;
    }
    char *werr = NULL;
    if (atomic_write(path, data, len, &werr) != 0) {
        *err = xasprintf("%s: %s: %s", store_name(s), key, werr);
        free(werr);
        goto out;
    }
    struct stat st;
    struct fkey *fk = NULL;
    HASH_FIND_STR(fb->keys, key, fk);
    if (!fk) {
        fk = xcalloc(1, sizeof(*fk));
        fk->key = xstrdup(key);
        fk->version = -1;
        HASH_ADD_KEYPTR(hh, fb->keys, fk->key, strlen(fk->key), fk);
    }
    fk->version = cur + 1;
    fk->ino = stat(path, &st) == 0 ? st.st_ino : 0;
    *version = fk->version;
    rc = STORE_OK;
out:
    free(path);
    return rc;
}

static void file_put(struct store_op *op)
{
    char *err = NULL;
    int v = -1;
    int rc = put_now(op->s, op->key, op->data, op->len, op->expected, &v, &err);
    store_op_done(op, rc, v, err);
}

static int get_now(struct store *s, const char *key, char **data, size_t *len, int *version,
                   char **err)
{
    struct file_be *fb = store_be(s);
    char *path = key_path(fb, key);
    int rc = STORE_OK;
    int cur = current(s, fb, key, path, err);
    if (cur == -2) {
        rc = STORE_INVALID;
    } else if (cur == -1) {
        rc = STORE_NOT_FOUND;
    } else if (file_read_all(path, store_max_value(s), data, len) != 0) {
        rc = errno == ENOENT ? STORE_NOT_FOUND : STORE_UNAVAILABLE;
        *err = xasprintf("%s: %s: %s", store_name(s), key, strerror(errno));
    }
    *version = rc == STORE_OK ? cur : -1;
    free(path);
    return rc;
}

static void file_get(struct store_op *op)
{
    char *err = NULL;
    int v = -1;
    int rc = get_now(op->s, op->key, &op->rdata, &op->rlen, &v, &err);
    store_op_done(op, rc, v, err);
}

static void file_del(struct store_op *op)
{
    struct file_be *fb = store_be(op->s);
    char *path = key_path(fb, op->key), *err = NULL;
    int cur = current(op->s, fb, op->key, path, &err);
    if (cur == -2) {
        store_op_done(op, STORE_INVALID, -1, err);
    } else if (cur == -1 && op->expected == STORE_ANY) {
        store_op_done(op, STORE_NOT_FOUND, -1, NULL);
    } else if (conflict(op->s, op->key, cur, op->expected, &err) != 0) {
        store_op_done(op, STORE_CONFLICT, -1, err);
    } else if (unlink(path) != 0) {
        store_op_done(op, STORE_UNAVAILABLE, -1,
                      xasprintf("%s: %s: %s", store_name(op->s), op->key, strerror(errno)));
    } else {
        current(op->s, fb, op->key, path, &err); /* forgets it */
        store_op_done(op, STORE_OK, -1, NULL);
    }
    free(path);
}

static void file_list(struct store_op *op)
{
    struct file_be *fb = store_be(op->s);
    char *path = key_path(fb, op->key);
    DIR *d = opendir(path);
    if (!d) {
        if (errno == ENOENT)
            store_op_done(op, STORE_OK, -1, NULL);
        else
            store_op_done(
                op, errno == ENOTDIR ? STORE_INVALID : STORE_UNAVAILABLE, -1,
                xasprintf("%s: list %s: %s", store_name(op->s), op->key, strerror(errno)));
        free(path);
        return;
    }
    size_t cap = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        /* dot files and atomic_write's temp files are not keys */
        if (e->d_name[0] == '.' || strstr(e->d_name, ".tmp."))
            continue;
        if (op->nnames == cap) {
            cap = cap ? 2 * cap : 16;
            op->names = xrealloc(op->names, cap * sizeof(char *));
        }
        op->names[op->nnames++] = xstrdup(e->d_name);
    }
    closedir(d);
    store_op_done(op, STORE_OK, -1, NULL);
    free(path);
}

static void file_free(struct store *s)
{
    struct file_be *fb = store_be(s);
    struct fkey *fk, *tmp;
    HASH_ITER (hh, fb->keys, fk, tmp) {
        HASH_DELETE(hh, fb->keys, fk);
        free(fk->key);
        free(fk);
    }
    free(fb->dir);
    free(fb);
}

static const struct store_backend file_backend = {
    .kind = "file",
    .get = file_get,
    .put = file_put,
    .del = file_del,
    .list = file_list,
    .put_sync = put_now,
    .get_sync = get_now,
    .free = file_free,
};

struct store *store_file_new(struct event_base *base, const char *dir, char **err)
{
    if (mkdir_p(dir) != 0) {
        *err = xasprintf("cannot create %s: %s", dir, strerror(errno));
        return NULL;
    }
    struct file_be *fb = xcalloc(1, sizeof(*fb));
    size_t n = strlen(dir);
    while (n > 1 && dir[n - 1] == '/')
        n--;
    fb->dir = xstrndup(dir, n);
    return store_new_backend(base, &file_backend, fb, fb->dir);
}
