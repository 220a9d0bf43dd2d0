/*
 * master: the state of agora-master and the operations that change it.
 *
 * This header is internal to master/. It owns the in-memory model:
 * frameworks, slaves, tasks and offers, each in a uthash map keyed by id
 * (O(1) lookups for 50k slaves / 500k tasks), plus the intrusive lists that
 * tie them together (a slave's tasks and offers, a framework's offers), so
 * that no event needs a scan of the whole state.
 *
 * Files of the master and what they own:
 *   master.c        lifecycle, deferred work, frameworks/slaves/tasks model,
 *                   event encoding to framework and slave streams
 *   scheduler_api.c POST /api/v1/scheduler (Mesos v1 scheduler calls)
 *   slave_api.c     POST /internal/v1/slave (proto/slave.proto), pings
 *   offers.c        offers from the allocator, timeouts, rescinds
 *   registry.c      admitted/unreachable/gone slaves and framework records,
 *                   persisted in --work_dir
 *   http_state.c    /master/state, /health, /metrics, /master/redirect,
 *                   POST /api/v1 operator calls
 *   allocator.c     DRF allocation (see allocator.h)
 *   ha.c            ZooKeeper election (--zk): leading, redirects, registry
 *                   load on election, abdication
 *
 * Ownership: the master owns every object; an object that leaves the model
 * is unlinked at once and freed from the deferred queue (master_defer) at
 * the end of the loop turn, so a callback further up the stack that still
 * holds a pointer never sees freed memory.
 */
#ifndef AGORA_MASTER_H
#define AGORA_MASTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uthash.h>
#include <jansson.h>

#include "acls.h"
#include "ids.h"
#include "pbutil.h"
#include "resources.h"
#include "task_state.h"
#include "timeutil.h"
#include "mesos.pb-c.h"
#include "scheduler.pb-c.h"
#include "slave.pb-c.h"

struct event_base;
struct event;
struct evhttp_request;
struct http_server;
struct rest_server;
struct rest_req;
struct http_stream;
struct allocator;
struct metric;
struct master;

#define AGORA_VERSION "1.0.0"

/* Terminal tasks kept per framework for /master/state. */
#define MASTER_MAX_COMPLETED_TASKS 1000
/* Removed frameworks kept for /master/state. */
#define MASTER_MAX_COMPLETED_FRAMEWORKS 50
/* Status history kept per task (oldest dropped first). */
#define MASTER_MAX_TASK_STATUSES 16
/* Kills remembered for tasks whose slave may not have received them
 * (disconnected, unreachable, or a stream that broke): beyond this many a
 * kill is still sent when the slave is connected but not remembered. */
#define MASTER_MAX_PENDING_KILLS 10000
/* A stream whose peer does not read is cut beyond this many queued bytes. */
#define MASTER_MAX_STREAM_PENDING (64u * 1024u * 1024u)

struct flag;

struct master_config {
    char *ip;
    int port; /* the port actually bound */
    char *hostname;
    char *work_dir;
    double slave_ping_timeout;   /* seconds between PINGs */
    int max_slave_ping_timeouts; /* missed PONGs before unreachable */
    double offer_timeout;        /* 0: offers never time out */
    double allocation_interval;
    double allocation_batch; /* recovered resources: a pass this much later */
    double heartbeat_interval;
    char *zk;                        /* zk://hosts/path, NULL standalone */
    double zk_session_timeout;       /* seconds asked of ZooKeeper */
    double slave_reregister_timeout; /* after election: known slaves' deadline */
    uint64_t operator_stream_buffer; /* operator subscriber dropped beyond this backlog */
    int max_operator_subscribers;    /* SUBSCRIBE on /api/v1 beyond it: 503 */
    const char *credentials;         /* --credentials file, NULL: none */
    const char *acls;                /* --acls: JSON text or a file, NULL: none */
    unsigned auth_surfaces;          /* REST_AUTH_* turned on by --authenticate_* */
    const struct flag *flags;        /* main's flag table (GET_FLAGS); may be NULL */
    size_t nflags;
};

/* Response/stream encoding negotiated from Accept (and Message-Accept). */
enum master_enc { ENC_JSON, ENC_PROTOBUF };

/* ------------------------------------------------------------ frameworks */

enum fw_state {
    FW_STATE_ACTIVE,       /* subscribed, stream open */
    FW_STATE_DISCONNECTED, /* stream gone; failover timer running */
    FW_STATE_RECOVERED,    /* known from the registry or a slave only,
                             waiting for the scheduler to re-subscribe */
    FW_STATE_REMOVED,      /* torn down; freed from the deferred queue */
};

struct task;
struct offer;

struct framework {
    struct master *m;
    char *id;
    Mesos__V1__FrameworkInfo *info; /* owned copy, id set */
    enum fw_state state;
    char *role; /* the one role offers are made for */
    bool partition_aware;
    bool suppressed;
    struct http_stream *stream; /* NULL unless ACTIVE */
    char stream_id[ID_UUID_STRLEN];
    enum master_enc enc;   /* encoding of the stream's records */
    bool recordio_wrapped; /* stream is application/recordio */
    struct event *heartbeat_ev;
    struct event *failover_ev;
    struct task *tasks; /* uthash by task id (hh) */
    size_t ntasks;
    struct offer *offers; /* utlist via fw_prev/fw_next */
    size_t noffers;
    struct task **completed; /* ring of MASTER_MAX_COMPLETED_TASKS */
    size_t completed_head, ncompleted;
    struct resources used;    /* non-terminal tasks */
    struct resources offered; /* outstanding offers */
    double registered_time;
    double unregistered_time; /* 0 while connected */
    uint64_t mark;            /* scratch for de-duplicating walks */
    UT_hash_handle hh;
};

/* ---------------------------------------------------------------- slaves */

enum slave_state {
    SLAVE_STATE_CONNECTED,    /* stream open, offered */
    SLAVE_STATE_DISCONNECTED, /* stream gone; pings count as missed */
    SLAVE_STATE_UNREACHABLE,  /* missed too many pings; removed from allocator */
};

/* A task of a non-partition-aware framework that was reported TASK_LOST
 * when its slave became unreachable; killed if the slave comes back. */
struct lost_task {
    char *key; /* "<framework id>\n<task id>" */
    UT_hash_handle hh;
};

struct slave {
    struct master *m;
    char *id;
    Mesos__V1__AgentInfo *info; /* owned copy, id set */
    enum slave_state state;
    char *hostname;
    int port;
    char *pid; /* "slave(1)@host:port" */
    struct http_stream *stream;
    char stream_id[ID_UUID_STRLEN];
    struct resources total;
    struct resources used;
    struct resources offered;
    struct task *tasks; /* utlist via slave_prev/slave_next */
    size_t ntasks;
    struct offer *offers;   /* utlist via slave_prev/slave_next */
    struct lost_task *lost; /* uthash */
    struct event *ping_ev;
    uint64_t ping_seq;
    bool pong_pending;
    int missed_pings;
    bool in_allocator;
    /* Connected, but offered nothing until the registry holds its
     * admission: a task launched on a slave a restarted master would not
     * know is reported lost and launched twice. */
    bool admission_pending;
    double registered_time;
    double reregistered_time;
    double unreachable_time;
    uint64_t reregister_gen;
    uint64_t mark;  /* scratch for de-duplicating walks */
    bool announced; /* AGENT_ADDED sent to operator subscribers, not yet removed */
    UT_hash_handle hh;
};

/* ----------------------------------------------------------------- tasks */

struct task_status_rec {
    Mesos__V1__TaskState state;
    double timestamp;
};

struct task {
    char *id;
    struct framework *fw;
    char *slave_id;
    struct slave *slave;       /* NULL once unlinked */
    Mesos__V1__TaskInfo *info; /* owned copy */
    Mesos__V1__TaskState state;
    Mesos__V1__TaskStatus *latest; /* owned; NULL until the first update */
    struct task_status_rec statuses[MASTER_MAX_TASK_STATUSES];
    size_t nstatuses;
    struct resources res;               /* task + executor resources */
    bool resources_used;                /* counted in used/allocator */
    uint64_t seen_gen;                  /* slave re-registration scratch */
    double launched_at;                 /* RUN_TASK queued (queues.c); 0 once RUNNING */
    bool kill_pending;                  /* framework asked for a kill; re-sent on re-registration */
    Mesos__V1__KillPolicy *kill_policy; /* owned; NULL: the task's own */
    UT_hash_handle hh;                  /* in fw->tasks */
    struct task *slave_prev, *slave_next;
};

/* ---------------------------------------------------------------- offers */

struct offer {
    char *id;
    struct framework *fw;
    struct slave *slave;
    struct resources res;
    struct event *timeout_ev;
    double created;
    UT_hash_handle hh; /* in master->offers */
    struct offer *fw_prev, *fw_next;
    struct offer *slave_prev, *slave_next;
};

/* -------------------------------------------------------------- registry */

struct registry;
struct op_stream;
struct master_ha;
struct zk;
struct store;

/* ---------------------------------------------------------------- master */

struct deferred {
    void (*fn)(void *arg);
    void *arg;
    struct deferred *next;
};

struct master_metrics {
    struct metric *offers_sent, *offers_declined, *offers_accepted, *offers_rescinded,
        *tasks_launched, *tasks_error, *status_updates, *status_update_calls, *slave_registrations,
        *slave_reregistrations, *slaves_unreachable, *framework_subscriptions, *invalid_calls,
        *heartbeats;
};

struct master {
    struct event_base *base;
    struct master_config cfg;
    bool leading;                /* always true standalone; ha.c flips it */
    struct master_ha *ha;        /* NULL standalone */
    int exit_code;               /* main's exit status (1: abdicated) */
    struct event *reregister_ev; /* --slave_reregister_timeout after election */
    char id[ID_UUID_STRLEN];
    char *pid;                   /* "master@ip:port" */
    bool hostname_given;         /* --hostname was set */
    Mesos__V1__MasterInfo *info; /* owned */
    double start_time;
    double elected_time;
    struct http_server *http;
    struct rest_server *rest; /* the route table served on http */
    struct allocator *alloc;
    struct registry *registry;
    bool admissions_pending; /* some slave waits for its admission's write */

    struct framework *frameworks; /* uthash, every state but REMOVED */
    struct slave *slaves;         /* uthash, incl. unreachable */
    struct offer *offers;         /* uthash */
    size_t nframeworks_active, nslaves_connected, nslaves_unreachable;
    size_t task_counts[16]; /* tasks in the model, by TaskState */
    size_t nkills_pending;  /* tasks with kill_pending (MASTER_MAX_PENDING_KILLS) */
    json_t *completed_frameworks[MASTER_MAX_COMPLETED_FRAMEWORKS];
    size_t completed_fw_head, ncompleted_fw;

    uint64_t next_framework_seq, next_slave_seq, next_offer_seq, mark_gen;

    struct deferred *defer_head, *defer_tail;
    struct event *defer_ev;
    struct master_metrics metrics;
    struct op_stream *ops;        /* operator API subscribers */
    struct master_queues *queues; /* queues.c */
    struct auth_creds *creds;     /* --credentials, NULL without */
    struct acls *acls;            /* --acls, NULL: everything allowed */
};

/* queues.c: loop lag and stream backlog gauges in /metrics. */
struct master_queues;
struct master_queues *master_queues_new(struct master *m);
void master_queues_free(struct master_queues *q);
/* A task's RUN_TASK was queued to its slave / its first RUNNING came back:
 * the time between is the slave round trip of a launch, a summary in
 * /metrics. */
void master_queues_launched(struct master *m, struct task *t);
void master_queues_running(struct master *m, struct task *t);

/* master.c -------------------------------------------------------------- */

/* Build the master around an already bound server (routes get registered
 * here). cfg strings are copied. NULL with *err. */
struct master *master_new(struct event_base *base, const struct master_config *cfg,
                          struct http_server *http, char **err);
void master_free(struct master *m);
/* Periodic housekeeping from main's cron timer. */
void master_cron(struct master *m);

const char *fw_state_name(enum fw_state s);
const char *slave_state_name(enum slave_state s);

/* Run fn(arg) at the end of this loop turn, in FIFO order. */
void master_defer(struct master *m, void (*fn)(void *), void *arg);

/* Frameworks. */
struct framework *fw_find(struct master *m, const char *id);
struct framework *fw_create(struct master *m, const char *id, const Mesos__V1__FrameworkInfo *info,
                            enum fw_state state);
void fw_set_state(struct master *m, struct framework *fw, enum fw_state s);
void fw_update_info(struct master *m, struct framework *fw, const Mesos__V1__FrameworkInfo *info);
/* Stream closed or replaced: rescind offers, deactivate, start failover. */
void fw_disconnect(struct master *m, struct framework *fw);
/* Was a framework with this id removed (kept in completed_frameworks)? */
bool fw_is_completed(struct master *m, const char *id);
/* Failover timer of a RECOVERED framework (registry or slave report). */
void fw_recover_timer(struct master *m, struct framework *fw);
/* Same for a framework whose scheduler left at `since` (registry):
 * failover_timeout counts from then. */
void fw_recover_timer_since(struct master *m, struct framework *fw, double since);
/* Kill its tasks, shut it down on slaves, forget it. */
void fw_remove(struct master *m, struct framework *fw, const char *why);
/* Encode and queue one event on the framework's stream (no-op without). */
void fw_send(struct master *m, struct framework *fw, const Mesos__V1__Scheduler__Event *ev);
void fw_send_update(struct master *m, struct framework *fw, const Mesos__V1__TaskStatus *st);
/* Send an UPDATE built by the master (no uuid, SOURCE_MASTER). */
void fw_send_master_update(struct master *m, struct framework *fw, const char *task_id,
                           const char *slave_id, Mesos__V1__TaskState state,
                           Mesos__V1__TaskStatus__Reason reason, const char *message);
const char *fw_role(const Mesos__V1__FrameworkInfo *info);
/* --acls check; a refusal is logged and counted. principal/object NULL:
 * none. */
bool master_authorized(struct master *m, enum acl_action action, const char *principal,
                       const char *object);
/* The user a task runs as: its command's, else its framework's. */
const char *task_user(const struct task *t);
bool fw_info_partition_aware(const Mesos__V1__FrameworkInfo *info);

/* Slaves. */
struct slave *slave_find(struct master *m, const char *id);
void slave_set_state(struct master *m, struct slave *s, enum slave_state st);
void slave_send(struct master *m, struct slave *s, const Agora__Slave__Event *ev);
void slave_send_kill(struct master *m, struct slave *s, const char *fw_id, const char *task_id,
                     const Mesos__V1__KillPolicy *policy);
void slave_send_shutdown_framework(struct master *m, struct slave *s, const char *fw_id);
/* Stream gone: deactivate and rescind; pings keep counting. */
void slave_disconnect(struct master *m, struct slave *s);
/* Missed pings: tasks become UNREACHABLE/LOST, slave leaves the allocator. */
void slave_mark_unreachable(struct master *m, struct slave *s);

/* Tasks. */
struct task *task_find(struct framework *fw, const char *task_id);
/* New task (state taken from status or TASK_STAGING), linked to fw and
 * slave (slave may be NULL only for recovery bookkeeping). */
struct task *task_create(struct master *m, struct framework *fw, struct slave *s,
                         const Mesos__V1__TaskInfo *info, const struct resources *res,
                         Mesos__V1__TaskState state);
/* Apply a state change; recovers resources when it becomes terminal. */
void task_update_state(struct master *m, struct task *t, const Mesos__V1__TaskStatus *st,
                       Mesos__V1__TaskState state);
/* Master-made transition (SOURCE_MASTER, no uuid), told to the framework
 * when send is true. */
void task_master_transition(struct master *m, struct task *t, Mesos__V1__TaskState state,
                            Mesos__V1__TaskStatus__Reason reason, const char *message, bool send);
/* The framework asked for t to be killed: remember it until the task
 * ends, so that a slave that was gone, or whose stream broke with the
 * kill in it, gets it again when it re-registers. policy may be NULL.
 * false: too many kills pending (not remembered). */
bool task_kill_remember(struct master *m, struct task *t, const Mesos__V1__KillPolicy *policy);
/* The kill is done with (the task ended or left the model). */
void task_kill_forget(struct master *m, struct task *t);
/* Unlink a task from the model (into fw's completed ring). */
void task_remove(struct master *m, struct task *t);
/* Stop counting a non-terminal task's resources (used, allocator). */
void task_release_resources(struct master *m, struct task *t, bool recover);

/* scheduler_api.c ------------------------------------------------------- */
void scheduler_api_handle(struct rest_req *rq);

/* slave_api.c ----------------------------------------------------------- */
void slave_api_handle(struct rest_req *rq);
void slave_start_pings(struct master *m, struct slave *s);
/* The registry wrote: slaves whose admission it now holds are offered. */
void slave_admissions_durable(struct master *m);

/* offers.c -------------------------------------------------------------- */
void offers_allocator_cb(const char *framework_id, const char *slave_id,
                         const struct resources *res, void *arg);
struct offer *offer_find(struct master *m, const char *id);
/* Unlink and free an offer; its resources are NOT recovered. */
void offer_remove(struct master *m, struct offer *o);
/* Tell the framework, give the resources back, remove. */
void offer_rescind(struct master *m, struct offer *o, double refuse_secs);
void offers_rescind_framework(struct master *m, struct framework *fw);
void offers_rescind_slave(struct master *m, struct slave *s);

/* ha.c ------------------------------------------------------------------ */
/* Start contending (m->cfg.zk set): leading stays false until elected and
 * the registry is read. 0, or -1 with *err. */
int master_ha_start(struct master *m, char **err);
/* Close the ZooKeeper session (the candidacy goes at once). */
void master_ha_free(struct master *m);
/* The leader other than us, if known: "host", port and its MasterInfo
 * JSON (borrowed). false when we lead or no leader is known. */
bool master_ha_leader(struct master *m, const char **host, int *port, json_t **info);
/* Stop leading at once and exit non-zero (for a supervisor to restart us):
 * the session or the candidacy is gone, or another master wrote the
 * registry. */
void master_abdicate(struct master *m, const char *why);
/* GET MASTER_ALIVE_ROUTE?znode=N: a standby's liveness stream to the
 * leader's process (common/liveness.h); 404 unless N is our candidacy. */
#define MASTER_ALIVE_ROUTE "/internal/alive"
void master_ha_handle_alive(struct rest_req *rq);
/* Elected (or standalone start): arm --slave_reregister_timeout. */
void master_start_reregister_timer(struct master *m);

/* registry.c ------------------------------------------------------------ */
enum reg_slave_state { REG_SLAVE_ADMITTED, REG_SLAVE_UNREACHABLE, REG_SLAVE_GONE, REG_SLAVE_NONE };

struct registry *registry_new(struct master *m, const char *work_dir, char **err);
/* HA: the registry lives under key in store s (taken; the ZooKeeper store
 * on the master's path) instead of the file. Reads it (creating it empty
 * when absent) and calls ready(m, NULL) once loaded, or ready(m, why) on
 * failure. Later flushes are compare-and-set writes; a conflict abdicates. */
void registry_store_load(struct registry *r, struct store *s, const char *key,
                         void (*ready)(struct master *m, const char *err));
/* Changes not yet durable (dirty, or a write in flight)? */
bool registry_pending(struct registry *r);
/* Write what is pending before exiting (synchronously in HA mode). */
void registry_flush_final(struct registry *r);
/* Framework disconnected at time t (0: connected); kept so that a new
 * leader counts failover_timeout from the real disconnection. */
void registry_framework_disconnected(struct registry *r, const char *id, double t);
/* Registry slaves ADMITTED but not in the model: mark them UNREACHABLE. */
size_t registry_mark_missing_unreachable(struct registry *r);
void registry_free(struct registry *r);
enum reg_slave_state registry_slave_state(struct registry *r, const char *id);
void registry_slave_set(struct registry *r, const char *id, const char *hostname,
                        enum reg_slave_state st);
/* The slave's record as last set is written (or there is nowhere to write). */
bool registry_slave_durable(struct registry *r, const char *id);
void registry_framework_put(struct registry *r, const Mesos__V1__FrameworkInfo *info);
void registry_framework_remove(struct registry *r, const char *id);
bool registry_framework_known(struct registry *r, const char *id);
/* Recreate RECOVERED frameworks for every record (at startup). */
void registry_recover_frameworks(struct registry *r);
/* Write now if anything changed (normally done shortly after a change). */
void registry_flush(struct registry *r);

/* http_state.c ---------------------------------------------------------- */
void http_state_handle_state(struct rest_req *rq);
void http_state_handle_redirect(struct rest_req *rq);
void http_state_handle_metrics_snapshot(struct rest_req *rq);
void http_state_handle_operator(struct rest_req *rq);

/* ui.c: the web UI's files at "/" and its read-only slave relay. */
void master_ui_attach(struct master *m);
void master_ui_handle_agent(struct rest_req *rq);
/* The v1 operator API's views of the model (new references), shared by
 * the GET_* calls and the operator event stream. */
json_t *v1_task_json(const struct task *t);
json_t *v1_framework_json(const struct framework *fw);
json_t *v1_agent_json(const struct slave *s);
json_t *v1_get_state_json(struct master *m, const char *who);

/* operator_stream.c ------------------------------------------------------ */
/* The operator API's SUBSCRIBE stream: subscribers, the events the model's
 * state changes produce, heartbeats. Every op_event_* is a no-op (nothing
 * is encoded) while nobody subscribes. */
struct op_stream *op_stream_new(struct master *m);
void op_stream_free(struct op_stream *os);
/* Answer a SUBSCRIBE call: SUBSCRIBED (with GET_STATE), then events, in
 * enc (JSON or protobuf), each a RecordIO record. */
void op_stream_subscribe(struct master *m, struct rest_req *rq, enum master_enc enc);
/* Close every subscriber (the master stops leading or exits). */
void op_stream_close_all(struct op_stream *os);
void op_event_task_added(struct master *m, const struct task *t);
void op_event_task_updated(struct master *m, const struct task *t);
void op_event_agent_added(struct master *m, const struct slave *s);
void op_event_agent_removed(struct master *m, const struct slave *s);
void op_event_framework_added(struct master *m, const struct framework *fw);
void op_event_framework_updated(struct master *m, const struct framework *fw);
void op_event_framework_removed(struct master *m, const struct framework *fw);

/* routes.c -------------------------------------------------------------- */
/* Serve the master's route table on m->http (leader-only routes included). */
void master_routes_attach(struct master *m);
/* Parse Accept (and Message-Accept); 0 ok, -1 not acceptable. */
int master_negotiate_accept(struct evhttp_request *req, enum master_enc *enc, bool *recordio);
json_t *state_framework_json(struct master *m, struct framework *fw);
json_t *state_task_json(const struct task *t);

#endif
