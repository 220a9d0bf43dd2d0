/*
 * pacer: the state every part of agora-pacer shares.
 *
 * One struct pacer per process, on one event loop. It holds the apps
 * (struct papp, by id), their instances (struct instance, by task id, and
 * on a list per app), the deployments in flight (struct deployment) and
 * the connections: the scheduler (libagora-scheduler), the REST server,
 * the SSE hub of /v2/events and the store.
 *
 * Where things are decided:
 *   deployments.c  plans, their steps, and the per-app convergence that
 *                  launches and kills instances (rolling upgrade rules)
 *   offers.c       offers -> launches (placement.c, taskinfo.c), declines,
 *                  suppress/revive, the launch queue and its backoff
 *   instances.c    status updates -> instance state and health
 *   state.c        persistence of apps, versions, deployments, instances
 *                  and the framework id, and the reload after a restart
 *   events.c       Marathon's event bus payloads onto /v2/events
 *   api_*.c        the REST v2 handlers; routes.c their table
 */
#ifndef PACER_PACER_H
#define PACER_PACER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>
#include <uthash.h>
#include <utlist.h>

#include "agora/scheduler.h"
#include "app.h"
#include "constraints.h"

#define PACER_VERSION "1.10.0-agora"
#define PACER_MAX_PORTS 64
#define PACER_MAX_VERSIONS 50 /* versions kept per app (Marathon's zk_max_versions) */

struct event;
struct event_base;
struct store;
struct http_server;
struct rest_server;
struct rest_req;
struct sse_hub;
struct daemon;
struct evhttp_request;
struct write_done;
struct sync_waiter;

struct pacer_flags {
    char *master;
    char *ip;
    int http_port;
    int port; /* --port: the DESIGN's common name for --http_port (-1: unset) */
    char *work_dir;
    char *framework_name;
    char *role;
    char *user;
    char *hostname;
    double failover_timeout;
    char *service_ports; /* "10000-20000" */
    char *zk;            /* zk://h1:p1,.../pacer: HA (state and leader latch there) */
    double zk_session_timeout;
    double decline_seconds;
    double task_launch_timeout;
    double reconcile_interval;
    bool json;
    double event_heartbeat;
    char *http_credentials;          /* "user:password,..." (Marathon's), full access */
    char *http_readonly_credentials; /* same form, GET only */
    char *mesos_principal;           /* --mesos_authentication_principal */
    char *mesos_secret_file;         /* --mesos_authentication_secret_file */
    char *acls;                      /* --acls: who may change which apps (authz.c) */
};

/* An instance: one task of an app (Marathon 1.10 runs one task per
 * instance for apps). */
struct instance {
    UT_hash_handle hh;            /* pacer.instances by task_id */
    struct instance *prev, *next; /* papp.instances */
    char *task_id;                /* "<app>.instance-<uuid>._app.1" */
    char *instance_id;            /* "<app>.instance-<uuid>" */
    char *app_id;
    struct papp *app;     /* owner (kept alive until its instances end) */
    char *version;        /* app version it was launched with */
    char *config_version; /* lastConfigChangeAt of that version */
    char *agent_id;
    char *host;
    uint64_t ports[PACER_MAX_PORTS]; /* host ports */
    size_t nports;
    struct cons_attr *attrs; /* the agent's attributes (constraints) */
    size_t nattrs;
    int state;                /* Mesos TaskState; -1 = launch sent, no status yet */
    bool killing;             /* a kill was sent (scale down, upgrade, delete) */
    double staged_at;         /* wall clock, seconds */
    double started_at;        /* first TASK_RUNNING, 0 before */
    double unreachable_since; /* 0 unless TASK_UNREACHABLE */
    double kill_sent_mono;
    double launched_mono;
    /* health, from TaskStatus.healthy (the slave runs the checks) */
    bool has_health; /* the app has health checks */
    int healthy;     /* -1 unknown, 0, 1 */
    int consecutive_failures;
    double first_success, last_success, last_failure; /* 0 = never */
    char *last_failure_cause;
    char *message;   /* last status message */
    int last_reason; /* last TaskStatus.reason, -1 none */
    bool persisted;
    bool reconciling; /* reloaded after a restart: state not yet known */
};

/* Why offers did not fit, counted since the app started waiting. */
enum queue_reason {
    QR_ROLE,
    QR_CONSTRAINT,
    QR_CPUS,
    QR_MEM,
    QR_DISK,
    QR_GPUS,
    QR_PORTS,
    QR_DECLINED_SCARCE,
    QR_COUNT
};

struct papp {
    UT_hash_handle hh; /* pacer.apps by id */
    char *id;
    json_t *def; /* canonical JSON of the current version */
    struct app_spec spec;
    struct constraints *cons;
    int service_ports[PACER_MAX_PORTS]; /* assigned, one per app port */
    size_t nservice_ports;
    char *last_config_change;   /* versionInfo.lastConfigChangeAt */
    char *last_scaling;         /* versionInfo.lastScalingAt */
    json_t *versions;           /* array of version strings, oldest first */
    struct instance *instances; /* utlist DL */
    size_t ninstances;
    struct deployment *deployment; /* the deployment that holds this app, or NULL */
    bool upgrading;                /* a Restart/Start action of a deployment is on it */
    bool held; /* its deployment reaches it in a later step: untouched till then */
    /* launch queue and backoff */
    int waiting;         /* instances to launch now (from the last converge) */
    double delay;        /* current backoff, seconds (0 = none) */
    double launch_after; /* wall clock: no launch before */
    double queued_since; /* wall clock the app began waiting (0: not waiting) */
    unsigned long processed_offers, unused_offers;
    unsigned long rejected[QR_COUNT];
    unsigned long rejected_constraint[8]; /* per constraint index */
    double last_unused_offer;
    json_t *last_task_failure;  /* Marathon's TaskFailure, or NULL */
    bool removed;               /* deleted: on pacer.dying until its instances end */
    struct papp *dprev, *dnext; /* pacer.dying */
    char *waiting_for;          /* what convergence waits for (deployments' why) */
};

/* One change turned into a plan of steps (deployments.c). */
enum deploy_action { DA_START, DA_SCALE, DA_RESTART, DA_STOP };

struct deploy_step_action {
    enum deploy_action action;
    char *app_id;
};

struct deploy_step {
    struct deploy_step_action *actions;
    size_t nactions;
};

struct deployment {
    UT_hash_handle hh;              /* pacer.deployments by id */
    struct deployment *prev, *next; /* pacer.deployment_list, oldest first */
    char *id;
    char *version;    /* the target version (timestamp) */
    json_t *original; /* {app id: canonical def or null} before */
    json_t *target;   /* {app id: canonical def or null} after */
    struct deploy_step *steps;
    size_t nsteps;
    size_t current; /* index of the step running (0-based) */
    double started_mono;
    bool cancelled;
};

struct pacer {
    struct pacer_flags *flags;
    struct daemon *daemon;
    struct event_base *base;
    struct store *store;
    struct http_server *http;
    struct rest_server *rest;
    struct auth_creds *http_creds, *http_creds_ro; /* --http_credentials, NULL: open */
    struct acls *acls;                             /* --acls, NULL: everyone may change all */
    char *mesos_secret; /* read from --mesos_authentication_secret_file */
    struct sse_hub *hub;
    struct agora_scheduler *sched;
    char *framework_id;
    char *hostport; /* "host:port" this Pacer answers on */
    struct papp *apps;
    struct papp *dying; /* removed apps whose instances are still being killed */
    struct instance *instances;
    struct deployment *deployments;
    struct deployment *deployment_list;
    json_t *groups;            /* explicitly created (empty) groups: {id: version} */
    struct event *converge_ev; /* deferred convergence pass */
    bool suppressed;
    double last_revive_mono;
    bool reconciled; /* implicit reconciliation answered */
    double subscribed_mono;
    double last_reconcile_mono; /* last implicit reconciliation asked for */
    int service_port_min, service_port_max;
    unsigned char *service_port_used; /* bitmap over [min, max] */
    bool stopping;
    bool leading;        /* standalone, or elected in ZooKeeper and loaded */
    struct pacer_ha *ha; /* NULL standalone (ha.c) */
    long last_waiting;
    /* durability barrier (state.c): writes issued, lowest not completed */
    unsigned long writes_issued, writes_low;
    struct write_done *writes_done;
    struct sync_waiter *sync_waiters; /* instances waiting at the last interest check */
    /* metrics (common/metrics.h; /metrics renders them) */
    struct metric *m_launched, *m_killed, *m_offers, *m_declined, *m_updates;
    struct metric *m_deployments, *m_deploy_seconds, *m_converge_passes;
    double converge_last_mono; /* when the last convergence pass ran */
};

/* ------------------------------------------------------------ pacer.c */
struct pacer *pacer_new(struct daemon *d, struct pacer_flags *flags, char **err);
void pacer_free(struct pacer *p);
void pacer_cron(struct pacer *p);
/* Ask for a convergence pass (coalesced): at the end of this loop turn, or
 * CONVERGE_MIN_GAP after the previous pass when that was more recent. */
void pacer_kick(struct pacer *p);
/* ISO-8601 "now" with milliseconds (caller's buffer of TIME_ISO_LEN). */
const char *pacer_now_iso(char *buf);
/* A new version string: now, ISO-8601 with milliseconds, strictly later
 * than the last one given (caller frees). */
char *pacer_new_version(void);

/* The state is loaded (state_load's done): subscribe and lead. */
void pacer_loaded(struct pacer *p, int rc, const char *why);

/* --------------------------------------------------------------- ha.c */
struct pacer_ha;
/* --zk: contend for the leadership, follow the leader, proxy to it. */
int pacer_ha_start(struct pacer *p, char **err);
void pacer_ha_free(struct pacer *p);
/* GET PACER_ALIVE_ROUTE?znode=N, served by every instance itself: a
 * standby's liveness stream to the leader (common/liveness.h). */
#define PACER_ALIVE_ROUTE "/internal/alive"
void pacer_ha_handle_alive(struct rest_req *rq);
/* The leader's "host:port" (this Pacer's when leading), or NULL. */
const char *pacer_leader(const struct pacer *p);
/* DELETE /v2/leader: give the leadership up (the process exits). */
void pacer_abdicate(struct pacer *p, const char *why);

/* ------------------------------------------------------------ apps.c */
struct papp *papp_find(struct pacer *p, const char *id);
/* Install def (canonical) as app id's current version: creates the app
 * or replaces its definition; records the version. config_change: the
 * version changes what instances run (not a pure scale). */
struct papp *papp_put(struct pacer *p, json_t *def, bool config_change);
/* Delete: out of the apps at once; freed when its last instance ends
 * (until then on pacer.dying, and convergence kills its instances). */
void papp_remove(struct pacer *p, struct papp *a);
/* Free now (shutdown). */
void papp_free(struct pacer *p, struct papp *a);
/* Free a removed app once it has no instance left. */
void papp_reap(struct pacer *p, struct papp *a);
void papp_trim_versions(struct pacer *p, struct papp *a);
/* Live = not terminal (killing ones included). */
size_t papp_live(const struct papp *a);
bool instance_live(const struct instance *i);
bool instance_healthy(const struct instance *i);
bool instance_running(const struct instance *i);
int papp_assign_service_ports(struct pacer *p, struct papp *a, char **err);
void papp_release_service_ports(struct pacer *p, struct papp *a);

/* --------------------------------------------------------- instances.c */
void instances_on_update(struct pacer *p, const Mesos__V1__TaskStatus *st);
struct instance *instance_new(struct pacer *p, struct papp *a, const char *agent_id,
                              const char *host);
void instance_kill(struct pacer *p, struct instance *i, const char *why);
void instance_forget(struct pacer *p, struct instance *i);
const char *instance_condition(const struct instance *i);

/* -------------------------------------------------------------- authz.c */
/* May the request's principal change app (or group) id? false: answered
 * 403 naming it. */
bool authz_change(struct rest_req *rq, const char *id);
/* ... every app id of a deployment's target ({id: def|null})? */
bool authz_change_target(struct rest_req *rq, const json_t *target);
/* ... every app there is (what is not about one app: the leader)? */
bool authz_change_everything(struct rest_req *rq);

/* -------------------------------------------------------- deployments.c */
/* Converge every app: launch or kill what its target asks for, advance
 * deployments. Called from the deferred converge event. */
void deploy_converge(struct pacer *p);
/* Start a deployment from original -> target ({id: def|null}); takes both
 * references. force: cancel deployments holding these apps first.
 * restart: every app of target restarts (POST .../restart) even if its
 * definition did not change. Returns
 * the deployment, or NULL with *conflicts (new array of deployment ids)
 * when an app is locked and !force. */
struct deployment *deploy_start(struct pacer *p, json_t *original, json_t *target, bool force,
                                bool restart, json_t **conflicts);
struct deployment *deploy_find(struct pacer *p, const char *id);
void deploy_adopt(struct pacer *p, struct deployment *d);
/* Take a deployment reloaded from the store (state.c): its target is
 * applied again where the apps' records lag behind it. */
void deploy_reload(struct pacer *p, struct deployment *d);
/* Stop a deployment where it is (force); rollback starts the reverse. */
void deploy_cancel(struct pacer *p, struct deployment *d, const char *why);
json_t *deploy_json(const struct pacer *p, const struct deployment *d);
/* [{"action", "app"}] of one step; and [{"actions": [...]}] of all. */
json_t *deploy_actions_json(const struct deployment *d, size_t step);
json_t *deploy_steps_json(const struct deployment *d);
const char *deploy_action_name(enum deploy_action a);
void deploy_free(struct deployment *d);

/* ----------------------------------------------------------- offers.c */
void offers_handle(struct pacer *p, const Mesos__V1__Offer *const *offers, size_t n);
/* Suppress or revive to match whether anything waits. */
void offers_update_interest(struct pacer *p);
json_t *queue_json(struct pacer *p);
void queue_reset_delay(struct pacer *p, struct papp *a);
/* A task of a failed / finished instance: grow the app's backoff. */
void queue_backoff(struct pacer *p, struct papp *a);

/* ------------------------------------------------------------ state.c */
/* Load everything (asynchronously); done runs once, on the loop. */
void state_load(struct pacer *p, void (*done)(struct pacer *p, int rc, const char *err));
void state_save_app(struct pacer *p, struct papp *a);
void state_save_version(struct pacer *p, const char *app_id, const json_t *def);
void state_delete_app(struct pacer *p, const char *app_id);
void state_delete_version(struct pacer *p, const char *app_id, const char *version);
json_t *state_load_version(struct pacer *p, const char *app_id, const char *version);
void state_save_instance(struct pacer *p, struct instance *i);
void state_delete_instance(struct pacer *p, struct instance *i);
void state_save_deployment(struct pacer *p, struct deployment *d);
void state_delete_deployment(struct pacer *p, const char *id);
void state_save_framework_id(struct pacer *p);
void state_save_groups(struct pacer *p);
/* Run cb(p, arg) once every write issued so far has completed (never
 * from inside the call): answers and launches wait for what they depend
 * on to be durable, so that a crash loses nothing that was acknowledged
 * and never leaves a task without its record. */
void state_synced(struct pacer *p, void (*cb)(struct pacer *p, void *arg), void (*drop)(void *arg),
                  void *arg);
/* Shutdown: drop (drop(arg)) the waiters that never ran. */
void state_sync_cleanup(struct pacer *p);
/* Answer req with code and body (stolen) once the writes issued so far
 * are durable. */
void pacer_reply_synced(struct pacer *p, struct evhttp_request *req, int code, json_t *body);
/* "apps/<key>" for app id "/a/b" -> "a:b". Caller frees. */
char *state_app_key(const char *app_id);

/* ------------------------------------------------------------ events.c */
/* Send ev (stolen) as an event of type: eventType and timestamp are
 * added. */
void events_post(struct pacer *p, const char *type, json_t *ev);
void events_status_update(struct pacer *p, const struct instance *i, const char *state);
void events_instance_changed(struct pacer *p, const struct instance *i);
void events_health_changed(struct pacer *p, const struct instance *i);
void events_failed_health_check(struct pacer *p, const struct instance *i);
void events_unhealthy_kill(struct pacer *p, const struct instance *i);
/* deployment_info, deployment_success, deployment_failed,
 * deployment_step_success / _failure: with the plan. */
void events_deployment(struct pacer *p, const char *type, const struct deployment *d);
void events_api_post(struct pacer *p, struct rest_req *rq, const json_t *def);

/* ------------------------------------------------------------ render.c */
json_t *render_task(const struct pacer *p, const struct instance *i);
json_t *render_app(struct pacer *p, struct papp *a, unsigned embed);
json_t *render_health_results(const struct instance *i);
/* The same JSON text, written into b (large lists: no jansson tree). */
struct evbuffer;
void render_task_buf(struct evbuffer *b, const struct pacer *p, const struct instance *i);
void render_app_buf(struct evbuffer *b, struct pacer *p, struct papp *a, unsigned embed);
/* Answer req 200 application/json with b's contents (b is freed). */
void pacer_reply_buf(struct evhttp_request *req, struct evbuffer *b);
enum {
    EMBED_TASKS = 1 << 0,
    EMBED_COUNTS = 1 << 1,
    EMBED_DEPLOYMENTS = 1 << 2,
    EMBED_LAST_FAILURE = 1 << 3,
    EMBED_TASK_STATS = 1 << 4,
    EMBED_READINESS = 1 << 5,
};

/* ------------------------------------------------------------ routes.c */
void pacer_routes_attach(struct pacer *p);

/* ------------------------------------------------------------ api_*.c */
/* 409 for a change refused because deployments (conflicts: array of ids,
 * stolen) hold the app or group: Marathon's message naming what ("App",
 * "Group") and {"deployments": [{"id"}]}. */
void api_reply_locked(struct rest_req *rq, const char *what, json_t *conflicts);
void api_apps_get(struct rest_req *rq);
void api_apps_post(struct rest_req *rq);
void api_apps_put_many(struct rest_req *rq);
void api_apps_delete_many(struct rest_req *rq);
void api_app_get(struct rest_req *rq);
void api_app_put(struct rest_req *rq);
void api_app_patch(struct rest_req *rq);
void api_app_delete(struct rest_req *rq);
void api_app_restart(struct rest_req *rq);
void api_app_versions(struct rest_req *rq);
void api_app_version(struct rest_req *rq);
void api_app_tasks_get(struct rest_req *rq);
void api_app_tasks_delete(struct rest_req *rq);
void api_app_task_delete(struct rest_req *rq);
void api_tasks_get(struct rest_req *rq);
void api_tasks_delete(struct rest_req *rq);
void api_deployments_get(struct rest_req *rq);
void api_deployment_get(struct rest_req *rq);
void api_deployment_delete(struct rest_req *rq);
void api_groups_get(struct rest_req *rq);
void api_groups_post(struct rest_req *rq);
void api_groups_put(struct rest_req *rq);
void api_groups_delete(struct rest_req *rq);
void api_queue_get(struct rest_req *rq);
void api_queue_delay_delete(struct rest_req *rq);
void api_info(struct rest_req *rq);
void api_leader(struct rest_req *rq);
void api_leader_delete(struct rest_req *rq);
void api_ping(struct rest_req *rq);
void api_events(struct rest_req *rq);

#endif
