/*
 * contender.c: the leader-contention recipe (contender.h has the contract).
 * It creates the candidacy znode (after the folder), follows the group with
 * its own detector to learn whether the lowest znode is its own, and turns
 * session changes into the contender's states.
 */
#define _GNU_SOURCE
#include "contender.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "detector.h"
#include "log.h"
#include "mem.h"
#include "zk.h"

struct contender {
    struct zk *zk;
    char *dir;
    char *prefix;
    char *data;
    size_t len;
    contender_fn fn;
    void *arg;
    enum contender_state state;
    char *name;       /* our znode, NULL while none */
    bool creating;    /* request in flight */
    bool lowest_ours; /* the detector's last lowest znode carries our payload */
    struct detector *detector;
    struct zk_listener *listener;
};

static const char *const contender_state_names[] = {
    [CONTENDER_CONNECTING] = "CONNECTING",
    [CONTENDER_STANDBY] = "STANDBY",
    [CONTENDER_LEADING] = "LEADING",
    [CONTENDER_DEPOSED] = "DEPOSED",
};

const char *contender_state_name(enum contender_state st)
{
    if ((size_t)st >= sizeof(contender_state_names) / sizeof(contender_state_names[0]))
        return "UNKNOWN";
    return contender_state_names[st];
}

static void contender_set_state(struct contender *c, enum contender_state st, const char *why)
{
    if (c->state == st || c->state == CONTENDER_DEPOSED)
        return;
    log_info("contender %s/%s: %s -> %s (%s)", c->dir, c->name ? c->name : c->prefix,
             contender_state_name(c->state), contender_state_name(st), why);
    c->state = st;
    if (c->fn)
        c->fn(c, st, c->arg);
}

static void contender_create(struct contender *c);

static void contender_created(int rc, const char *value, void *arg)
{
    struct contender *c = arg;
    c->creating = false;
    if (rc != ZOK || !value) {
        log_warn("zookeeper: cannot create the candidacy under %s: %s", c->dir, zk_error(rc));
        if (rc == ZCONNECTIONLOSS || rc == ZOPERATIONTIMEOUT || rc == ZNONODE)
            contender_create(c); /* retried once connected (or right away) */
        return;
    }
    const char *slash = strrchr(value, '/');
    free(c->name);
    c->name = xstrdup(slash ? slash + 1 : value);
    log_info("zookeeper: contending as %s/%s", c->dir, c->name);
    contender_set_state(c, CONTENDER_STANDBY, "candidacy created");
    /* The detector may have seen it first. */
    const char *leader = detector_leader(c->detector);
    if (leader && (c->lowest_ours || strcmp(leader, c->name) == 0))
        contender_set_state(c, CONTENDER_LEADING, "our znode is the lowest");
}

static void contender_ensured(int rc, int version, void *arg)
{
    struct contender *c = arg;
    if (rc != ZOK) {
        c->creating = false;
        log_warn("zookeeper: cannot create %s: %s", c->dir, zk_error(rc));
        return;
    }
    char *path = xasprintf("%s/%s", c->dir, c->prefix);
    if (zk_create(c->zk, path, c->data, c->len, ZOO_EPHEMERAL_SEQUENTIAL, contender_created, c) !=
        0)
        c->creating = false;
    free(path);
}

static void contender_create(struct contender *c)
{
    if (c->name || c->creating || c->state == CONTENDER_DEPOSED ||
        zk_state(c->zk) != ZK_STATE_CONNECTED)
        return;
    c->creating = true;
    if (zk_ensure_path(c->zk, c->dir, contender_ensured, c) != 0)
        c->creating = false;
}

static void contender_on_leader(struct detector *d, const char *name, const char *data, size_t len,
                                void *arg)
{
    struct contender *c = arg;
    bool ours = name && ((c->name && strcmp(name, c->name) == 0) ||
                         (len == c->len && memcmp(data, c->data, len) == 0));
    c->lowest_ours = name && len == c->len && memcmp(data, c->data, len) == 0;
    if (ours && c->state == CONTENDER_STANDBY)
        contender_set_state(c, CONTENDER_LEADING, "our znode is the lowest");
    else if (!ours && c->state == CONTENDER_LEADING)
        contender_set_state(c, CONTENDER_DEPOSED,
                            name ? "another znode is the lowest" : "our candidacy is gone");
}

static void contender_on_session(struct zk *zk, enum zk_state st, void *arg)
{
    struct contender *c = arg;
    if ((st == ZK_STATE_LOST || st == ZK_STATE_EXPIRED) && c->state == CONTENDER_LEADING) {
        contender_set_state(c, CONTENDER_DEPOSED,
                            st == ZK_STATE_LOST ? "ZooKeeper session lost (disconnected too long)"
                                                : "ZooKeeper session expired");
    } else if (st == ZK_STATE_EXPIRED && c->name) {
        log_warn("zookeeper: candidacy %s/%s lost with the session", c->dir, c->name);
        free(c->name);
        c->name = NULL;
        contender_set_state(c, CONTENDER_CONNECTING, "session expired");
    } else if (st == ZK_STATE_CONNECTED) {
        contender_create(c);
    }
}

struct contender *contender_new(struct zk *zk, const char *dir, const char *prefix,
                                const char *data, size_t len, contender_fn on_state, void *arg)
{
    struct contender *c = xcalloc(1, sizeof(*c));
    c->zk = zk_ref(zk);
    c->dir = xstrdup(dir);
    c->prefix = xstrdup(prefix);
    c->data = xmalloc(len + 1);
    memcpy(c->data, data, len);
    c->len = len;
    c->fn = on_state;
    c->arg = arg;
    c->state = CONTENDER_CONNECTING;
    /* Session changes reach the contender before its detector. */
    c->listener = zk_listen(zk, contender_on_session, c);
    c->detector = detector_new(zk, dir, prefix, contender_on_leader, c);
    contender_create(c);
    return c;
}

void contender_free(struct contender *c)
{
    if (!c)
        return;
    zk_cancel(c->zk, c);
    zk_unlisten(c->listener);
    detector_free(c->detector);
    zk_free(c->zk);
    free(c->dir);
    free(c->prefix);
    free(c->data);
    free(c->name);
    free(c);
}

enum contender_state contender_state(const struct contender *c)
{
    return c->state;
}

const char *contender_name(const struct contender *c)
{
    return c->name;
}
