/*
 * ha.c: the master's side of ZooKeeper election (--zk=zk://hosts/path).
 *
 * Every master contends with an ephemeral sequential znode
 * <path>/json.info_N holding its MasterInfo JSON (common/contender.h) and
 * follows the group to know whom to redirect to (common/detector.h); the
 * lowest sequence leads. This file turns what they report into the
 * master's role:
 *
 *   CONNECTING --candidacy--> STANDBY --we are lowest--> RECOVERING
 *                                                           | registry read
 *   DEPOSED <-- session LOST/EXPIRED, another leader, ---- LEADING
 *               registry written by someone else
 *
 * STANDBY masters answer 307 to the leader they detected (503 while none).
 * RECOVERING reads <path>/registry (a ZooKeeper store on <path>, which
 * borrows the session like the recipes do); only then does m->leading become true
 * and the --slave_reregister_timeout timer start. DEPOSED is final: the
 * master stops serving at once and exits non-zero (as Mesos does) so a
 * supervisor restarts it as a fresh contender; nothing it still has in
 * memory can be trusted after another master may have led.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "master.h"
#include "log.h"
#include "mem.h"
#include "contender.h"
#include "detector.h"
#include "liveness.h"
#include "rest.h"
#include "pbjson.h"
#include "store.h"
#include "zk.h"

enum ha_state {
    HA_STATE_CONNECTING, /* session or candidacy not there yet */
    HA_STATE_STANDBY,    /* candidate; another master (or none) leads */
    HA_STATE_RECOVERING, /* elected; reading the registry */
    HA_STATE_LEADING,    /* m->leading */
    HA_STATE_DEPOSED,    /* lost leadership; the loop is ending */
};

struct master_ha {
    enum ha_state state;
    struct zk *zk;
    char *hosts;                 /* "h1:p1,h2:p2" */
    char *path;                  /* group znode, e.g. "/agora" */
    struct contender *contender; /* our candidacy: decides our role */
    struct detector *detector;   /* whom standbys redirect to */
    struct liveness *liveness;   /* standby: our connection to the leader's process */
    bool leader_is_me;
    char *leader_host; /* another master that leads, or NULL */
    int leader_port;
    json_t *leader_info; /* its MasterInfo JSON */
};

static const char *const ha_state_names[] = {
    [HA_STATE_CONNECTING] = "CONNECTING", [HA_STATE_STANDBY] = "STANDBY",
    [HA_STATE_RECOVERING] = "RECOVERING", [HA_STATE_LEADING] = "LEADING",
    [HA_STATE_DEPOSED] = "DEPOSED",
};

static void ha_set_state(struct master *m, enum ha_state st, const char *why)
{
    struct master_ha *ha = m->ha;
    if (ha->state == st)
        return;
    log_info("master %s: %s -> %s (%s)", m->id, ha_state_names[ha->state], ha_state_names[st], why);
    ha->state = st;
}

void master_abdicate(struct master *m, const char *why)
{
    if (m->ha && m->ha->state == HA_STATE_DEPOSED)
        return;
    log_error("master %s stops leading: %s; exiting for a supervisor to restart it", m->id, why);
    m->leading = false;
    if (m->ha)
        ha_set_state(m, HA_STATE_DEPOSED, why);
    m->exit_code = 1;
    event_base_loopbreak(m->base);
}

/* --------------------------------------------- slave re-registration */

static void reregister_expired(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    if (!m->leading)
        return;
    size_t n = registry_mark_missing_unreachable(m->registry);
    log_info("slave re-registration window (%.1fs) over: %zu slave(s) missing, marked unreachable",
             m->cfg.slave_reregister_timeout, n);
}

void master_start_reregister_timer(struct master *m)
{
    double secs = m->cfg.slave_reregister_timeout;
    if (!(secs > 0))
        return;
    if (!m->reregister_ev)
        m->reregister_ev = evtimer_new(m->base, reregister_expired, m);
    struct timeval tv = { (time_t)secs, (suseconds_t)((secs - (double)(time_t)secs) * 1e6) };
    evtimer_add(m->reregister_ev, &tv);
}

/* ------------------------------------------------------- election */

static void registry_ready(struct master *m, const char *err)
{
    if (!m->ha || m->ha->state != HA_STATE_RECOVERING)
        return; /* deposed meanwhile */
    if (err) {
        master_abdicate(m, err);
        return;
    }
    /* Frameworks come back as RECOVERED with their failover timers; tasks
   * come back with the slaves' re-registrations. */
    registry_recover_frameworks(m->registry);
    m->leading = true;
    m->elected_time = time_now();
    ha_set_state(m, HA_STATE_LEADING, "registry recovered");
    master_start_reregister_timer(m);
}

static void forget_leader(struct master_ha *ha)
{
    free(ha->leader_host);
    ha->leader_host = NULL;
    json_decref(ha->leader_info);
    ha->leader_info = NULL;
    ha->leader_is_me = false;
}

/* Who leads, for redirects; our own role comes from the contender. */
static void on_leader(struct detector *d, const char *name, const char *data, size_t len, void *arg)
{
    struct master *m = arg;
    struct master_ha *ha = m->ha;

    if (ha->state == HA_STATE_DEPOSED)
        return;
    forget_leader(ha);
    if (!name) {
        liveness_follow(ha->liveness, NULL, -1, NULL, 0);
        log_warn("master %s: no leading master known", m->id);
        return;
    }
    json_t *info = json_loadb(data, len, 0, NULL);
    const char *id = json_string_value(json_object_get(info, "id"));
    if (id && strcmp(id, m->id) == 0) {
        ha->leader_is_me = true;
        liveness_follow(ha->liveness, NULL, -1, NULL, 0);
        json_decref(info);
        return;
    }
    char *err = NULL;
    if (zk_master_address(data, len, &ha->leader_host, &ha->leader_port, &err) != 0) {
        log_warn("master %s: leader %s: %s", m->id, name, err);
        liveness_follow(ha->liveness, NULL, -1, NULL, 0);
        free(err);
        json_decref(info);
        return;
    }
    ha->leader_info = info;
    log_info("master %s: leading master is %s:%d (%s)", m->id, ha->leader_host, ha->leader_port,
             name);
    liveness_follow(ha->liveness, name, detector_leader_version(d), ha->leader_host,
                    ha->leader_port);
}

void master_ha_handle_alive(struct rest_req *rq)
{
    struct master *m = rq->arg;
    struct master_ha *ha = m->ha;
    bool candidate = ha && ha->state != HA_STATE_DEPOSED;
    liveness_serve(rq->req, candidate ? contender_name(ha->contender) : NULL);
}

static void on_contender(struct contender *c, enum contender_state st, void *arg)
{
    struct master *m = arg;
    struct master_ha *ha = m->ha;
    switch (st) {
    case CONTENDER_CONNECTING:
        break; /* a standby's session expired: it contends again */
    case CONTENDER_STANDBY:
        ha_set_state(m, HA_STATE_STANDBY, "candidacy created");
        break;
    case CONTENDER_LEADING:
        ha_set_state(m, HA_STATE_RECOVERING, "elected");
        registry_store_load(m->registry, store_zk_new(m->base, ha->zk, ha->path), "registry",
                            registry_ready);
        break;
    case CONTENDER_DEPOSED:
        master_abdicate(m, "lost the leadership in ZooKeeper (session lost or expired, or "
                           "another candidacy is the lowest)");
        break;
    }
}

int master_ha_start(struct master *m, char **err)
{
    struct master_ha *ha = xcalloc(1, sizeof(*ha));
    m->ha = ha;
    ha->state = HA_STATE_CONNECTING;
    char *e = NULL;
    if (zk_parse_url(m->cfg.zk, &ha->hosts, &ha->path, &e) != 0) {
        *err = xasprintf("--zk: %s", e);
        free(e);
        return -1;
    }
    ha->zk = zk_new(m->base, ha->hosts, m->cfg.zk_session_timeout, NULL, NULL, &e);
    if (!ha->zk) {
        *err = xasprintf("--zk=%s: %s", m->cfg.zk, e);
        free(e);
        return -1;
    }
    json_t *mi = pbjson_encode(&m->info->base);
    char *info = json_dumps(mi, JSON_COMPACT);
    json_decref(mi);
    ha->contender =
        contender_new(ha->zk, ha->path, ZK_LEADER_PREFIX, info, strlen(info), on_contender, m);
    ha->liveness = liveness_new(m->base, ha->zk, ha->path, MASTER_ALIVE_ROUTE);
    ha->detector = detector_new(ha->zk, ha->path, ZK_LEADER_PREFIX, on_leader, m);
    free(info);
    log_info("master %s: contending for leadership in %s%s", m->id, ha->hosts, ha->path);
    return 0;
}

void master_ha_free(struct master *m)
{
    struct master_ha *ha = m->ha;
    if (!ha)
        return;
    /* Each holds a reference on the session, as the registry's store does:
     * it (and our candidacy) ends with the last of them, in any order. */
    contender_free(ha->contender);
    detector_free(ha->detector);
    liveness_free(ha->liveness);
    zk_free(ha->zk);
    forget_leader(ha);
    free(ha->hosts);
    free(ha->path);
    free(ha);
    m->ha = NULL;
}

bool master_ha_leader(struct master *m, const char **host, int *port, json_t **info)
{
    struct master_ha *ha = m->ha;
    if (!ha || ha->leader_is_me || !ha->leader_host || ha->state == HA_STATE_DEPOSED)
        return false;
    *host = ha->leader_host;
    *port = ha->leader_port;
    if (info)
        *info = ha->leader_info;
    return true;
}
