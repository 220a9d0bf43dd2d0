/*
 * ha: Pacer in a quorum (--zk=zk://h1:p1,h2:p2,h3:p3/pacer), as Marathon
 * runs: every instance contends for the leadership with an ephemeral
 * sequential znode <path>/leader/member_N holding {"id", "hostPort"}
 * (common/contender.h; the lowest leads) and follows who leads
 * (common/detector.h). The state lives in the ZooKeeper store under
 * <path>/state, one znode per key (state.c's layout).
 *
 *   STANDBY --elected--> LOADING --state read--> LEADING
 *      |                                            |
 *      +--- every REST call proxied to the leader   +--- DEPOSED: exit(1)
 *           (X-Marathon-Leader on the answer)
 *
 * A standby serves /ping, /health, /metrics and /v2/leader itself and
 * proxies every other call (/v2/events included, as a stream) to the
 * leader; while no leader is known, or while this instance is elected but
 * still loading, the answer is 503. Losing the leadership (session lost or
 * expired, another candidacy lowest) or a write refused by version ends
 * the process at once with exit code 1, as a deposed master does: nothing
 * it holds in memory can be trusted after another instance may have led,
 * and its supervisor restarts it as a fresh standby. Safety rests on the
 * contender: a leader's znode lives as long as its session, so no other
 * instance is elected while it can still write — or, sooner, until its
 * process is gone: a standby's liveness stream to it ended by EOF/reset
 * (common/liveness.h) makes the standby delete the leader's znode.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "pacer.h"
#include "contender.h"
#include "daemon.h"
#include "detector.h"
#include "http.h"
#include "ids.h"
#include "liveness.h"
#include "log.h"
#include "mem.h"
#include "rest.h"
#include "store.h"
#include "zk.h"

#define MEMBER_PREFIX "member_"

struct pacer_ha {
    struct zk *zk;
    char *hosts, *path;
    char *leader_dir;        /* <path>/leader */
    char id[ID_UUID_STRLEN]; /* this instance's, in its candidacy */
    struct contender *contender;
    struct detector *detector;
    struct liveness *liveness; /* standby: our connection to the leader's process */
    char *leader;              /* "host:port" of the leader, NULL: none known */
    char *leader_host;
    int leader_port;
    bool leader_is_me;
    struct event *exit_ev; /* abdication: exit once the answer is out */
};

static void stand_down(struct pacer *p, const char *why)
{
    log_error("no longer the leader (%s): exiting so that nothing stale acts", why);
    p->leading = false;
    daemon_exit(p->daemon, 1);
}

static void on_deposed(struct store *s, const char *key, const char *why, void *arg)
{
    stand_down(arg, "a write to the store was refused: another instance writes it");
}

static void on_contender(struct contender *c, enum contender_state st, void *arg)
{
    struct pacer *p = arg;
    struct pacer_ha *ha = p->ha;
    char *root;

    switch (st) {
    case CONTENDER_CONNECTING:
    case CONTENDER_STANDBY:
        log_info("standing by: %s", st == CONTENDER_STANDBY ? "candidacy created" : "connecting");
        break;
    case CONTENDER_LEADING:
        log_info("elected: loading the state from ZooKeeper %s/state", ha->path);
        root = xasprintf("%s/state", strcmp(ha->path, "/") == 0 ? "" : ha->path);
        p->store = store_zk_new(p->base, ha->zk, root);
        free(root);
        store_set_deposed(p->store, on_deposed, p);
        state_load(p, pacer_loaded);
        break;
    case CONTENDER_DEPOSED:
        stand_down(p, "session lost or expired, or another candidacy is the lowest");
        break;
    }
}

static void on_leader(struct detector *d, const char *name, const char *data, size_t len, void *arg)
{
    struct pacer *p = arg;
    struct pacer_ha *ha = p->ha;
    json_t *j = data ? json_loadb(data, len, 0, NULL) : NULL;
    const char *id = json_string_value(json_object_get(j, "id"));
    const char *hp = json_string_value(json_object_get(j, "hostPort"));

    free(ha->leader);
    free(ha->leader_host);
    ha->leader = ha->leader_host = NULL;
    ha->leader_is_me = id != NULL && strcmp(id, ha->id) == 0;
    if (hp != NULL && http_parse_hostport(hp, 8080, &ha->leader_host, &ha->leader_port) == 0) {
        ha->leader = xstrdup(hp);
        log_info("the leader is %s (%s)%s", hp, name ? name : "?",
                 ha->leader_is_me ? ": this instance" : "");
    } else {
        log_info("no leader known");
    }
    if (ha->leader != NULL && !ha->leader_is_me)
        liveness_follow(ha->liveness, name, detector_leader_version(d), ha->leader_host,
                        ha->leader_port);
    else
        liveness_follow(ha->liveness, NULL, -1, NULL, 0);
    json_decref(j);
}

void pacer_ha_handle_alive(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    struct pacer_ha *ha = p->ha;

    liveness_serve(rq->req, ha != NULL ? contender_name(ha->contender) : NULL);
}

/* rest's leader check: lead, proxy to the leader, or 503. */
static bool leader_fn(void *arg, const char **host, int *port)
{
    struct pacer *p = arg;
    struct pacer_ha *ha = p->ha;

    if (p->leading)
        return true;
    *host = NULL;
    if (ha->leader != NULL && !ha->leader_is_me) {
        *host = ha->leader_host;
        *port = ha->leader_port;
    }
    return false; /* no leader, or elected and still loading: 503 */
}

const char *pacer_leader(const struct pacer *p)
{
    if (p->ha == NULL)
        return p->hostport;
    return p->ha->leader;
}

static void exit_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pacer *p = arg;

    daemon_exit(p->daemon, 0);
}

void pacer_abdicate(struct pacer *p, const char *why)
{
    struct timeval tv = { 0, 200 * 1000 };

    log_info("abdicating (%s): exiting; a standby takes over", why);
    p->leading = false;
    if (p->ha->exit_ev == NULL)
        p->ha->exit_ev = evtimer_new(p->base, exit_cb, p);
    evtimer_add(p->ha->exit_ev, &tv);
}

int pacer_ha_start(struct pacer *p, char **err)
{
    struct pacer_ha *ha = xcalloc(1, sizeof(*ha));
    char *e = NULL, *payload;

    p->ha = ha;
    if (zk_parse_url(p->flags->zk, &ha->hosts, &ha->path, &e) != 0) {
        *err = xasprintf("--zk: %s", e);
        free(e);
        return -1;
    }
    ha->zk = zk_new(p->base, ha->hosts, p->flags->zk_session_timeout, NULL, NULL, &e);
    if (ha->zk == NULL) {
        *err = xasprintf("--zk=%s: %s", p->flags->zk, e);
        free(e);
        return -1;
    }
    id_uuid_string(ha->id);
    ha->leader_dir = xasprintf("%s/leader", strcmp(ha->path, "/") == 0 ? "" : ha->path);
    payload = xasprintf("{\"id\":\"%s\",\"hostPort\":\"%s\"}", ha->id, p->hostport);
    ha->contender = contender_new(ha->zk, ha->leader_dir, MEMBER_PREFIX, payload, strlen(payload),
                                  on_contender, p);
    ha->detector = detector_new(ha->zk, ha->leader_dir, MEMBER_PREFIX, on_leader, p);
    ha->liveness = liveness_new(p->base, ha->zk, ha->leader_dir, PACER_ALIVE_ROUTE);
    free(payload);
    rest_server_set_leader(p->rest, leader_fn);
    rest_server_set_proxy(p->rest, p->base, "X-Marathon-Leader");
    log_info("agora-pacer %s on http://%s contending for the leadership in %s%s", PACER_VERSION,
             p->hostport, ha->hosts, ha->leader_dir);
    return 0;
}

void pacer_ha_free(struct pacer *p)
{
    struct pacer_ha *ha = p->ha;

    if (ha == NULL)
        return;
    contender_free(ha->contender);
    detector_free(ha->detector);
    liveness_free(ha->liveness);
    if (ha->zk != NULL)
        zk_free(ha->zk);
    if (ha->exit_ev != NULL)
        event_free(ha->exit_ev);
    free(ha->leader);
    free(ha->leader_host);
    free(ha->leader_dir);
    free(ha->hosts);
    free(ha->path);
    free(ha);
    p->ha = NULL;
}
