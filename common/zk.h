/*
 * zk: ZooKeeper on a daemon's libevent loop. The recipes built on it live
 * beside it: common/contender.h and common/detector.h (leader election, as
 * Mesos lays it out) and common/store.h (znodes as a durable store).
 *
 * The client is Debian's multi-threaded ZooKeeper C library: its I/O and
 * completion threads never touch Agora state. Every completion and watch
 * event is copied into a queue and handed to the loop through a pipe, so
 * every callback declared here runs on the loop thread, in order. Calls
 * made from the loop only queue a request and never block.
 *
 * Session states (zk_state_name(), one zk_set_state() that logs them):
 *
 *   CONNECTING --> CONNECTED <--> SUSPENDED --(grace)--> LOST
 *        ^                             |                    |
 *        +------------ EXPIRED <-------+--------------------+
 *
 * SUSPENDED: the connection dropped; the session may still be alive on the
 * servers, so ephemeral znodes (a leader's candidacy) still stand. After a
 * third of the negotiated session timeout without reconnecting the state
 * becomes LOST: the servers may expire the session any moment, so nobody may
 * act on its ephemerals any more (a leader must stop leading). EXPIRED: the
 * servers said so; zk.c opens a new session by itself (CONNECTING again).
 * Reconnecting from LOST to the same session goes back to CONNECTED.
 *
 * Error codes passed to callbacks are ZooKeeper's (ZOK, ZNONODE,
 * ZNODEEXISTS, ZBADVERSION, ZCONNECTIONLOSS, ...); zk_error() names them.
 */
#ifndef AGORA_ZK_H
#define AGORA_ZK_H

#include <stdbool.h>
#include <stddef.h>
#include <zookeeper/zookeeper.h> /* error codes (ZOK, ZNONODE...), create flags */

struct event_base;
struct zk;
struct zk_watch;

enum zk_state {
    ZK_STATE_CONNECTING, /* no session yet (or a new one being opened) */
    ZK_STATE_CONNECTED,  /* session established, requests flow */
    ZK_STATE_SUSPENDED,  /* connection lost; session possibly alive */
    ZK_STATE_LOST,       /* suspended for too long: treat ephemerals as gone */
    ZK_STATE_EXPIRED,    /* the servers expired the session (transient) */
    ZK_STATE_CLOSED,     /* zk_free in progress */
};
const char *zk_state_name(enum zk_state st);

/* Parse "zk://h1:p1,h2:p2/path" into its host list and chroot path
 * ("/agora"; no trailing slash). 0, or -1 with *err naming the value. */
int zk_parse_url(const char *url, char **hosts, char **path, char **err);

typedef void (*zk_state_fn)(struct zk *zk, enum zk_state st, void *arg);

/* Open a session to hosts ("h1:p1,h2:p2"). session_timeout in seconds is
 * what we ask for; the servers clamp it to [2, 20] x their tickTime.
 * on_state may be NULL. NULL with *err. */
struct zk *zk_new(struct event_base *base, const char *hosts, double session_timeout,
                  zk_state_fn on_state, void *arg, char **err);
/* Another holder of the session (a store, a contender): each zk_ref is
 * matched by one zk_free, and the last zk_free closes the session, so
 * owner and borrowers may be freed in any order. A borrower cancels its own
 * callbacks first (zk_cancel). Returns zk. */
struct zk *zk_ref(struct zk *zk);
/* Drop a reference; the last one closes the session (its ephemeral znodes
 * go at once) and frees everything, group recipes included. Blocks for the
 * close round trip: call it only at shutdown. No callback runs afterwards. */
void zk_free(struct zk *zk);
enum zk_state zk_state(const struct zk *zk);
/* Negotiated session timeout in seconds (the requested one until connected). */
double zk_session_timeout(const struct zk *zk);
/* ZooKeeper's message for an error code. */
const char *zk_error(int rc);

/* Completions. data/value/children are only valid during the call. */
typedef void (*zk_data_fn)(int rc, const char *data, size_t len, int version, void *arg);
typedef void (*zk_string_fn)(int rc, const char *value, void *arg);
typedef void (*zk_children_fn)(int rc, char **children, size_t n, void *arg);
typedef void (*zk_stat_fn)(int rc, int version, void *arg);
/* A watch fired (node event only; session changes go to zk_state_fn). */
typedef void (*zk_watch_fn)(int type, const char *path, void *arg);

/* Another party told of session changes (a recipe), after the owner's
 * on_state and earlier listeners. Owned by zk; zk_unlisten silences it. */
struct zk_listener;
struct zk_listener *zk_listen(struct zk *zk, zk_state_fn fn, void *arg);
void zk_unlisten(struct zk_listener *l);

/* A reusable watch target, owned by zk (freed by zk_free, or earlier by
 * zk_watch_free, after which events for it are dropped). */
struct zk_watch *zk_watch_new(struct zk *zk, zk_watch_fn fn, void *arg);
void zk_watch_free(struct zk_watch *w);

/* Asynchronous requests: 0 when queued (cb, if not NULL, will run exactly
 * once, unless zk_free comes first), -1 when no request can be queued. */
int zk_create(struct zk *zk, const char *path, const char *data, size_t len, int flags,
              zk_string_fn cb, void *arg);
int zk_get(struct zk *zk, const char *path, struct zk_watch *watch, zk_data_fn cb, void *arg);
int zk_children(struct zk *zk, const char *path, struct zk_watch *watch, zk_children_fn cb,
                void *arg);
/* Compare-and-set: version -1 writes unconditionally. */
int zk_set(struct zk *zk, const char *path, const char *data, size_t len, int version,
           zk_stat_fn cb, void *arg);
/* Delete path if its version is `version` (-1: any). cb gets ZOK, ZNONODE,
 * ZBADVERSION, ZNOTEMPTY, ... and version -1. */
int zk_delete(struct zk *zk, const char *path, int version, zk_stat_fn cb, void *arg);
/* Borrowers (store, recipes) going away before the session: no callback of
 * a request queued with this arg runs any more (the request itself still
 * completes on the servers). */
void zk_cancel(struct zk *zk, void *arg);
/* Create path and its parents as empty persistent znodes; existing ones
 * are fine. cb gets ZOK or the first other error. */
int zk_ensure_path(struct zk *zk, const char *path, zk_stat_fn cb, void *arg);
/* Synchronous set, for shutdown only (blocks up to the session timeout).
 * Returns the ZooKeeper code; *new_version on ZOK. */
int zk_set_sync(struct zk *zk, const char *path, const char *data, size_t len, int version,
                int *new_version);

/* MasterInfo JSON (a json.info_ znode) -> "host", port: address.ip (or
 * address.hostname, then hostname) and address.port (or port). 0, or -1
 * with *err. *host is the caller's. */
int zk_master_address(const char *data, size_t len, char **host, int *port, char **err);

/* The masters' contender prefix (Mesos' layout). */
#define ZK_LEADER_PREFIX "json.info_"

#endif
