/*
 * store: durable keyed values with a version per key, on the libevent loop.
 *
 * One contract, two backends:
 *   - files under a folder (store_file_new): key "apps/web" is the file
 *     <dir>/apps/web, written to a temp file, fsynced, renamed over, and the
 *     folder fsynced (atomic_write);
 *   - znodes under a ZooKeeper path (store_zk_new): key "apps/web" is the
 *     znode <root>/apps/web; writes are compare-and-set on the znode version.
 *
 * Keys are '/'-separated names; each segment is made of [A-Za-z0-9_.:-],
 * does not start with '.', and a key is at most STORE_MAX_KEY bytes. '/'
 * maps to nested folders / znodes, so store_list("apps") lists the names
 * directly under apps/. A key is a value or a folder of keys, not both (a
 * znode could be both; a file cannot, so neither backend allows it).
 *
 * Versions: 0 when a key is created, +1 on every write (ZooKeeper's znode
 * version). The file backend keeps the version in memory (the file holds
 * only the value, so existing files stay readable): a key found on disk
 * starts at 0, and a file replaced behind the store's back (another inode)
 * counts as a write by someone else.
 *
 * Every call is asynchronous: its callback runs exactly once, on the loop,
 * never inside the call (the file backend completes in a deferred event),
 * unless store_free comes first. Writes to one key are serialized, one in
 * flight: a put issued while another write to the key is in flight builds
 * on it (it is sent afterwards with the version that write produced, unless
 * it says STORE_ANY), and puts that wait behind the same write coalesce into
 * the last one (every waiter's callback gets that write's result).
 *
 * A version conflict (STORE_CONFLICT: the key is not at the expected
 * version, exists when STORE_ABSENT was expected, or is gone) means another
 * writer won: the owner's deposed callback runs (once per conflict, before
 * the put's callback) and writes queued behind fail with STORE_CONFLICT too.
 *
 * Values larger than STORE_MAX_VALUE are refused (STORE_TOO_BIG) by both
 * backends, below ZooKeeper's default 1 MB jute.maxbuffer.
 */
#ifndef AGORA_STORE_H
#define AGORA_STORE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct store;
struct zk;

enum store_rc {
    STORE_OK,
    STORE_NOT_FOUND,   /* get/delete: no such key */
    STORE_CONFLICT,    /* another writer won (see above) */
    STORE_TOO_BIG,     /* value over STORE_MAX_VALUE */
    STORE_INVALID,     /* bad key */
    STORE_UNAVAILABLE, /* I/O error, ZooKeeper not connected: may be retried */
};
const char *store_rc_name(int rc);

#define STORE_ABSENT (-1) /* put: create; the key must not exist */
#define STORE_ANY (-2)    /* put/delete: whatever the version */
/* put/delete: the version this store last saw for the key (a get, a list
 * followed by gets, its own writes); a key it never saw must be absent for
 * a put, may be anything for a delete. A writer that holds its keys this
 * way learns of any other writer through a conflict (fencing). */
#define STORE_KNOWN (-4)
#define STORE_MAX_KEY 1024
#define STORE_MAX_VALUE (1000u * 1024u)

/* Completions; err names the key and the cause when rc != STORE_OK, data
 * and names are only valid during the call. version is the key's version
 * (-1 when it does not exist). */
typedef void (*store_get_fn)(int rc, const char *data, size_t len, int version, const char *err,
                             void *arg);
typedef void (*store_put_fn)(int rc, int version, const char *err, void *arg);
/* Names directly under the prefix, sorted; none (rc STORE_OK) when the
 * prefix does not exist. */
typedef void (*store_list_fn)(int rc, char **names, size_t n, const char *err, void *arg);
/* Another writer won on key (why says how). */
typedef void (*store_deposed_fn)(struct store *s, const char *key, const char *why, void *arg);

/* Values in files under dir (created if needed). NULL with *err. */
struct store *store_file_new(struct event_base *base, const char *dir, char **err);
/* Values in znodes under root ("/agora"; created on the first write). The
 * store holds a reference on zk (zk_ref) and drops it in store_free. */
struct store *store_zk_new(struct event_base *base, struct zk *zk, const char *root);
/* Who is told of conflicts (NULL: nobody). */
void store_set_deposed(struct store *s, store_deposed_fn fn, void *arg);
/* Pending callbacks are dropped; writes already sent may still land. */
void store_free(struct store *s);
/* Raise (or lower) the largest value this store takes, STORE_MAX_VALUE by
 * default. Only a file store may go above STORE_MAX_VALUE (ZooKeeper's
 * limit): -1 for a ZooKeeper store asked for more. */
int store_set_max_value(struct store *s, size_t bytes);
size_t store_max_value(const struct store *s);
/* "file:<dir>" or "zk:<root>", for messages. */
const char *store_name(const struct store *s);

void store_get(struct store *s, const char *key, store_get_fn cb, void *arg);
/* expected: a version, STORE_ABSENT or STORE_ANY. cb may be NULL. */
void store_put(struct store *s, const char *key, const void *data, size_t len, int expected,
               store_put_fn cb, void *arg);
/* expected: a version or STORE_ANY; deleting a missing key is STORE_NOT_FOUND
 * (STORE_ANY) or STORE_CONFLICT (a version). cb may be NULL. */
void store_delete(struct store *s, const char *key, int expected, store_put_fn cb, void *arg);
void store_list(struct store *s, const char *prefix, store_list_fn cb, void *arg);
/* True while a write to key is in flight or waiting. */
bool store_writing(struct store *s, const char *key);

/* Blocking put, for shutdown after the loop has ended: written with the
 * version the store expects the key to have once the writes it has sent
 * land (expected is used when it knows nothing of the key). Returns a
 * store_rc; *version (may be NULL) on STORE_OK; *err otherwise. */
int store_put_sync(struct store *s, const char *key, const void *data, size_t len, int expected,
                   int *version, char **err);

/* Blocking get, for start-up before the loop runs; file backend only (the
 * ZooKeeper one answers STORE_UNAVAILABLE: use store_get). *data (caller
 * frees, NUL-terminated) and *version on STORE_OK; *err otherwise, except
 * for STORE_NOT_FOUND. */
int store_get_sync(struct store *s, const char *key, char **data, size_t *len, int *version,
                   char **err);

#endif
