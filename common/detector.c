/*
 * detector.c: the leader-detection recipe (detector.h has the contract).
 * get_children(<dir>) with a watch; the lowest <prefix>N child leads; its
 * data is read and reported when the leader changes. A change of the group
 * while a list or a read is in flight marks relist, so the answer reported
 * is never older than the last watch event.
 */
#define _GNU_SOURCE
#include "detector.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "mem.h"
#include "zk.h"

struct detector {
    struct zk *zk;
    char *dir;
    char *prefix;
    detector_fn fn;
    void *arg;
    struct zk_watch *watch; /* children of dir */
    struct zk_listener *listener;
    char *leader; /* znode name reported last, NULL: none */
    int leader_version;
    char *fetching; /* znode whose data is being read */
    bool listing, relist;
};

static void detector_list(struct detector *d);

long long detector_sequence(const char *prefix, const char *name)
{
    size_t pl = strlen(prefix);
    if (strncmp(name, prefix, pl) != 0 || !name[pl])
        return -1;
    char *end;
    long long v = strtoll(name + pl, &end, 10);
    return *end || v < 0 ? -1 : v;
}

static void detector_report(struct detector *d, const char *name, int version, const char *data,
                            size_t len)
{
    if (!name && !d->leader)
        return;
    free(d->leader);
    d->leader = name ? xstrdup(name) : NULL;
    d->leader_version = name ? version : -1;
    log_info("zookeeper: leader under %s is %s", d->dir, name ? name : "(none)");
    if (d->fn)
        d->fn(d, name, data, len, d->arg);
}

static void detector_got_data(int rc, const char *data, size_t len, int version, void *arg)
{
    struct detector *d = arg;
    char *name = d->fetching;
    d->fetching = NULL;
    if (rc == ZOK && name && !d->relist)
        detector_report(d, name, version, data ? data : "", data ? len : 0);
    else if (rc == ZNONODE || d->relist)
        detector_list(d); /* gone meanwhile, or the group changed */
    free(name);
}

static void detector_ensured(int rc, int version, void *arg)
{
    struct detector *d = arg;
    if (rc == ZOK)
        detector_list(d);
    else
        log_warn("zookeeper: cannot create %s: %s", d->dir, zk_error(rc));
}

static void detector_got_children(int rc, char **children, size_t n, void *arg)
{
    struct detector *d = arg;
    d->listing = false;
    if (rc == ZNONODE) {
        /* Nobody contended yet: create the group so the watch can be set. */
        if (zk_ensure_path(d->zk, d->dir, detector_ensured, d) != 0)
            log_warn("zookeeper: cannot create %s", d->dir);
        return;
    }
    if (rc != ZOK) {
        log_warn("zookeeper: cannot list %s: %s", d->dir, zk_error(rc));
        return; /* listed again on the next CONNECTED */
    }
    if (d->relist) {
        d->relist = false;
        detector_list(d);
        return;
    }
    const char *best = NULL;
    long long best_seq = -1;
    for (size_t i = 0; i < n; i++) {
        long long seq = detector_sequence(d->prefix, children[i]);
        if (seq >= 0 && (best_seq < 0 || seq < best_seq)) {
            best_seq = seq;
            best = children[i];
        }
    }
    if (!best) {
        detector_report(d, NULL, -1, NULL, 0);
        return;
    }
    if (d->leader && strcmp(d->leader, best) == 0)
        return;
    char *path = xasprintf("%s/%s", d->dir, best);
    free(d->fetching);
    d->fetching = xstrdup(best);
    if (zk_get(d->zk, path, NULL, detector_got_data, d) != 0) {
        free(d->fetching);
        d->fetching = NULL;
    }
    free(path);
}

static void detector_list(struct detector *d)
{
    if (zk_state(d->zk) != ZK_STATE_CONNECTED)
        return;
    if (d->listing || d->fetching) {
        d->relist = true;
        return;
    }
    d->relist = false;
    d->listing = true;
    if (zk_children(d->zk, d->dir, d->watch, detector_got_children, d) != 0)
        d->listing = false;
}

static void detector_on_watch(int type, const char *path, void *arg)
{
    detector_list(arg);
}

static void detector_on_state(struct zk *zk, enum zk_state st, void *arg)
{
    struct detector *d = arg;
    if (st == ZK_STATE_CONNECTED) {
        /* requests of a closed handle never complete here */
        d->listing = false;
        detector_list(d);
    } else if (st == ZK_STATE_LOST || st == ZK_STATE_EXPIRED) {
        detector_report(d, NULL, -1, NULL, 0);
    }
}

struct detector *detector_new(struct zk *zk, const char *dir, const char *prefix,
                              detector_fn on_leader, void *arg)
{
    struct detector *d = xcalloc(1, sizeof(*d));
    d->zk = zk_ref(zk);
    d->dir = xstrdup(dir);
    d->prefix = xstrdup(prefix);
    d->fn = on_leader;
    d->arg = arg;
    d->watch = zk_watch_new(zk, detector_on_watch, d);
    d->listener = zk_listen(zk, detector_on_state, d);
    detector_list(d);
    return d;
}

void detector_free(struct detector *d)
{
    if (!d)
        return;
    zk_cancel(d->zk, d);
    zk_watch_free(d->watch);
    zk_unlisten(d->listener);
    zk_free(d->zk);
    free(d->dir);
    free(d->prefix);
    free(d->leader);
    free(d->fetching);
    free(d);
}

const char *detector_leader(const struct detector *d)
{
    return d->leader;
}

int detector_leader_version(const struct detector *d)
{
    return d->leader ? d->leader_version : -1;
}
