/*
 * libagora-scheduler: the C API Agora frameworks are written against.
 *
 * A struct agora_scheduler is one framework's connection to the master
 * through the Mesos v1 scheduler HTTP API: it SUBSCRIBEs (POST
 * /api/v1/scheduler, a long-lived RecordIO stream of Events), turns each
 * event into a callback, and sends the framework's calls (ACCEPT, DECLINE,
 * KILL, ACKNOWLEDGE, ...) as separate POSTs carrying the Mesos-Stream-Id
 * of the subscription. It follows a 307 to the leading master, watches the
 * master's heartbeats, and after a lost connection re-subscribes with the
 * framework id it was given, so a framework with a failover_timeout keeps
 * its tasks across master failover and short network trouble.
 *
 * Threading: everything runs on one libevent event_base. Either pass your
 * own (agora_scheduler_new(base, ...) then agora_scheduler_start(), and
 * dispatch the base yourself), or pass NULL and call the blocking
 * agora_scheduler_run(), which dispatches a base of its own in the calling
 * thread. Calls (accept, decline, ...), timers and agora_scheduler_finish()
 * must be used on the loop thread, typically from a callback; every
 * callback (events, call results, timers, log_fn) runs on it. Only
 * agora_scheduler_stop() may be called from any thread. No callback runs
 * after a stop.
 *
 * Calls are asynchronous: each returns once the call is queued. How it
 * ended (accepted with 202, refused, or never answered because the master
 * died) reaches the callbacks' call_done and, for the _ex variants, a
 * per-call function with the caller's context pointer.
 *
 * Duplicates: a repeated terminal status update of a task is dropped by
 * the library unless keep_duplicates is set (see the update callback).
 *
 * Memory: offers and statuses handed to callbacks are the decoded
 * protobuf-c messages of the event and are valid only during the callback;
 * copy what you need. Messages you build (agora_task_new) stay yours:
 * calls serialize them before returning.
 *
 * Encoding: protobuf (application/x-protobuf) on the wire by default;
 * set agora_scheduler_config.json for application/json.
 *
 * Building: the SDK installs this header with agora/mesos.pb-c.h (the
 * Mesos v1 messages, whose link names carry an agora_ prefix), the shared
 * and static libraries, agora-scheduler.pc, agora-scheduler-static.pc and
 * the CMake package AgoraScheduler:
 *   cc app.c $(pkg-config --cflags --libs agora-scheduler)
 *   find_package(AgoraScheduler 1 REQUIRED)
 *   target_link_libraries(app PRIVATE AgoraScheduler::agora-scheduler)
 * The shared library exports only agora_* symbols.
 */
#ifndef AGORA_SCHEDULER_H
#define AGORA_SCHEDULER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos.pb-c.h" /* beside this file once installed */

#ifdef __cplusplus
extern "C" {
#endif

/* What is declared here is the library's API: visible even to a framework,
 * or the library itself, compiled with -fvisibility=hidden. */
#pragma GCC visibility push(default)

struct event_base;
struct agora_scheduler;

/* Log levels of the library's messages (see agora_scheduler_config). */
enum agora_log_level {
    AGORA_LOG_DEFAULT = 0, /* leave the level as it is (info at start) */
    AGORA_LOG_DEBUG,
    AGORA_LOG_INFO,
    AGORA_LOG_WARN,
    AGORA_LOG_ERROR,
    AGORA_LOG_OFF, /* nothing */
};

/* A log line of the library ("2026-12-03T12:00:00.000Z W calls.c:80] ..."),
 * without the newline; valid only during the call. Called on the thread
 * that logs (the loop thread). */
typedef void (*agora_log_fn)(enum agora_log_level level, const char *line, void *ctx);

/* The calls a framework makes; the values are those of Mesos v1's
 * Call.Type. */
enum agora_call_type {
    AGORA_CALL_TEARDOWN = 2,
    AGORA_CALL_ACCEPT = 3,
    AGORA_CALL_DECLINE = 4,
    AGORA_CALL_REVIVE = 5,
    AGORA_CALL_KILL = 6,
    AGORA_CALL_ACKNOWLEDGE = 8,
    AGORA_CALL_RECONCILE = 9,
    AGORA_CALL_MESSAGE = 10,
    AGORA_CALL_SUPPRESS = 12,
};

/* How one call ended; see agora_scheduler_callbacks.call_done. */
struct agora_call_result {
    enum agora_call_type type;
    bool ok;           /* the master accepted it (202) */
    int http_status;   /* the master's answer; 0 when none came (connection
                          refused or reset, the master died, 10 s timeout) */
    const char *error; /* NULL when ok; else why: "connection reset by peer",
                          "timeout", or the start of the master's error body */
    void *ctx;         /* the ctx given to the _ex call; NULL for the others */
    bool cancelled;    /* the scheduler was stopped or freed with the call
                          pending: nothing was learned ("scheduler stopped") */
};

/* Per-call completion (the _ex calls): runs exactly once on the loop
 * thread when the master answered the call or could not be reached, or,
 * with result->cancelled, from agora_scheduler_stop()/free() when the
 * call was still pending (free ctx there; make no calls). result is valid
 * only during the call. */
typedef void (*agora_call_done_fn)(struct agora_scheduler *s,
                                   const struct agora_call_result *result, void *ctx);

/* ------------------------------------------------------------ connection */

/* Connection state; see agora_scheduler_state(). */
enum agora_scheduler_state {
    AGORA_SCHED_DISCONNECTED = 0, /* not connected; a reconnect may be pending */
    AGORA_SCHED_CONNECTING,       /* SUBSCRIBE sent, SUBSCRIBED not yet received */
    AGORA_SCHED_SUBSCRIBED,       /* calls are accepted; events flow */
};

/* What a framework tells the master about itself, and how to reach it.
 * Zero-initialise, then set what you need: every zero field has a
 * sensible default. The library copies all strings. */
struct agora_scheduler_config {
    const char *master;      /* "HOST:PORT", "h1:p1,h2:p2" tried in turn,
                                    or "zk://h1:p1,.../path" to follow the
                                    leader ZooKeeper names (its session is
                                    opened by agora_scheduler_start) */
    const char *name;        /* FrameworkInfo.name (required) */
    const char *user;        /* NULL: the user running the process */
    const char *role;        /* NULL: "*" */
    const char *principal;   /* NULL: none */
    const char *hostname;    /* NULL: gethostname() */
    double failover_timeout; /* seconds the master keeps the framework and
                                    its tasks after the scheduler disconnected
                                    (process exit, network); 0: removed as
                                    soon as the stream closes. Across a master
                                    failover the new leader waits at least
                                    60 s for every registered framework to
                                    re-subscribe, whatever this says; time
                                    already spent disconnected counts */
    bool checkpoint;         /* FrameworkInfo.checkpoint */
    const int *capabilities; /* MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__* */
    size_t ncapabilities;
    const char *framework_id;       /* re-subscribe as this framework (failover) */
    bool manual_acknowledge;        /* false: each status update that carries a
                                    uuid is acknowledged right after the update
                                    callback returns; true: call
                                    agora_scheduler_acknowledge() yourself */
    bool json;                      /* speak application/json instead of protobuf */
    double zk_session_timeout;      /* zk:// masters: the ZooKeeper session
                                    timeout in seconds (0: 10 s) */
    const char *secret;             /* with principal: HTTP Basic credentials sent
                                    on every call, for a master started with
                                    --authenticate_frameworks (NULL: none) */
    bool ssl;                       /* speak TLS to the master (as a master with
                                    --ssl_cert requires); the first scheduler
                                    of the process sets it for all of them */
    const char *ssl_ca;             /* PEM CA bundle to verify the master with
                                    (NULL: the system's); implies ssl */
    bool ssl_insecure;              /* do not verify the master's certificate */
    enum agora_log_level log_level; /* the library's log level; logging is
                                    process-wide, so the last scheduler
                                    created with a level sets it */
    agora_log_fn log_fn;            /* NULL: lines go to stderr; else to log_fn
                                    (process-wide too: the last scheduler
                                    created with a log_fn sets it) */
    void *log_ctx;                  /* passed to log_fn */
    bool keep_duplicates;           /* false: a repeated terminal update of a task
                                    is acknowledged and dropped (see update);
                                    true: every update reaches the framework */
};

/* The framework's event handlers. Any may be NULL. Each runs on the loop
 * thread and receives the scheduler and the arg given to
 * agora_scheduler_new(). Pointers passed in are valid only during the
 * call. Do not agora_scheduler_free() from inside a callback. */
struct agora_scheduler_callbacks {
    /* SUBSCRIBED: the master accepted the framework (also after every
     * re-subscription). framework_id is the id to persist for failover.
     * resubscribed is true when the framework came with an id (given in
     * the config, or by an earlier SUBSCRIBED of this scheduler: after a
     * master failover or a lost connection): the master may hold tasks of
     * it, and statuses may have changed while it was away, so this is when
     * to reconcile (agora_scheduler_reconcile). false: a new framework. */
    void (*subscribed)(struct agora_scheduler *s, const char *framework_id,
                       double heartbeat_interval_secs, bool resubscribed, void *arg);
    /* OFFERS: accept (agora_scheduler_launch/_accept) or decline each one. */
    void (*offers)(struct agora_scheduler *s, const Mesos__V1__Offer *const *offers, size_t n,
                   void *arg);
    /* RESCIND: the offer is no longer valid; do not use it. */
    void (*rescind)(struct agora_scheduler *s, const char *offer_id, void *arg);
    /* UPDATE: a task status update (acknowledged automatically unless
     * manual_acknowledge). A task's updates arrive in order, but the same
     * terminal state can come more than once: a slave retries an update
     * whose acknowledgement was lost with a master, and a reconciliation
     * answers with the latest state again. Unless keep_duplicates, the
     * library delivers only the first terminal update of a task id (the
     * last 65536 task ids are remembered) and acknowledges the repeats
     * itself; a non-terminal update of a task id forgets its terminal
     * state, so a task id reused for a new task is delivered again. */
    void (*update)(struct agora_scheduler *s, const Mesos__V1__TaskStatus *status, void *arg);
    /* MESSAGE: opaque data from an executor. */
    void (*message)(struct agora_scheduler *s, const char *agent_id, const char *executor_id,
                    const void *data, size_t len, void *arg);
    /* FAILURE: an agent was lost (executor_id NULL), or an executor exited
   * (status is its wait status, -1 when unknown). */
    void (*failure)(struct agora_scheduler *s, const char *agent_id, const char *executor_id,
                    int status, void *arg);
    /* ERROR from the master, or a SUBSCRIBE the master refused (4xx). The
   * framework cannot continue: the library stops reconnecting. Typically
   * log and agora_scheduler_stop(). */
    void (*error)(struct agora_scheduler *s, const char *message, void *arg);
    /* The subscription was lost (reason: "eof", "heartbeat timeout", ...).
   * The library reconnects by itself; calls fail until subscribed() runs
   * again. Offers received before are void. */
    void (*disconnected)(struct agora_scheduler *s, const char *reason, void *arg);
    /* Every call (other than SUBSCRIBE) that was sent, once it ends: ok
     * when the master answered 202; otherwise the status and error say
     * why, e.g. an ACCEPT in flight to a master that died (http_status 0):
     * its tasks may or may not have been launched, so reconcile them after
     * the next subscribed(). Runs after the call's own agora_call_done_fn,
     * if any. A 202 says the master took the call, not that the tasks run:
     * their fate comes as updates. Calls that returned -1 were not sent
     * and end here never. */
    void (*call_done)(struct agora_scheduler *s, const struct agora_call_result *result, void *arg);
};

/* Create a scheduler. base: the event_base to run on, or NULL to have
 * agora_scheduler_run() use a base of its own. cfg and cbs are copied.
 * Nothing is sent, not even to ZooKeeper, until agora_scheduler_start() or
 * agora_scheduler_run(). Returns NULL with *err set (caller frees) on a bad
 * configuration, naming the field (e.g. "master: 'zk://h:2181': a path is
 * required (e.g. zk://127.0.0.1:2181/agora)"). */
struct agora_scheduler *agora_scheduler_new(struct event_base *base,
                                            const struct agora_scheduler_config *cfg,
                                            const struct agora_scheduler_callbacks *cbs, void *arg,
                                            char **err);

/* Begin subscribing (non-blocking); with a zk:// master this opens the
 * ZooKeeper session and subscribes once a leader is known. Returns 0, or -1
 * if already started or the session cannot be created. */
int agora_scheduler_start(struct agora_scheduler *s);

/* Start if needed and dispatch the scheduler's event_base in the calling
 * thread until agora_scheduler_stop(). Returns 0 after a stop, -1 if the
 * loop failed. */
int agora_scheduler_run(struct agora_scheduler *s);

/* Stop: no more callbacks and no reconnection from now on. The
 * subscription stays open until the calls already in flight are answered
 * (at most 5 s), so a teardown or final acknowledgement sent just before
 * is not lost (a master rejects calls of a framework whose stream is
 * gone); then it is closed and agora_scheduler_run(), if dispatching,
 * returns. Safe from callbacks and from any thread (libevent's pthreads
 * locking is enabled for the base run() creates; for your own base, call
 * evthread_use_pthreads() before creating it). */
void agora_scheduler_stop(struct agora_scheduler *s);

/* Free the scheduler: cancels pending calls and the subscription, without
 * any callback. Not from inside a callback; the loop must not be running
 * this scheduler's events on another thread. NULL is ignored. */
void agora_scheduler_free(struct agora_scheduler *s);

/* The base the scheduler runs on (its own when created with NULL): add
 * your timers and signal events to it. */
struct event_base *agora_scheduler_base(const struct agora_scheduler *s);

enum agora_scheduler_state agora_scheduler_state(const struct agora_scheduler *s);
/* "DISCONNECTED", "CONNECTING", "SUBSCRIBED". */
const char *agora_scheduler_state_name(enum agora_scheduler_state st);

/* The framework id (NULL before the first SUBSCRIBED unless configured).
 * Owned by the scheduler. */
const char *agora_scheduler_framework_id(const struct agora_scheduler *s);
/* The master currently talked to, "host:port" (owned by the scheduler). */
const char *agora_scheduler_master(const struct agora_scheduler *s);

/* ----------------------------------------------------------------- calls */

/* Every call below is sent asynchronously and returns 0 once queued, or -1
 * when the scheduler is not SUBSCRIBED or an argument is invalid (nothing
 * is sent, and nothing is reported later). Once a sent call ends, its
 * result goes to call_done (and the _ex call's done): an answer other than
 * 202 is also logged, and a 307 or 503 (leadership moved) makes the
 * scheduler re-subscribe. Calls are never queued across reconnections:
 * offers and stream ids die with the connection.
 *
 * refuse_seconds: how long the master keeps the declined (or unused)
 * resources from this framework. 0 re-offers them at once; a negative
 * value sends no Filters, so the master applies its default refusal of
 * 5 s (as Mesos does): it does NOT mean "no filter", and a framework that
 * still has tasks to place waits 5 s for those resources. */

/* Launch tasks on one offer (an ACCEPT with one LAUNCH operation). A task
 * whose agent_id is NULL gets the offer's; the offer's allocation_info is
 * copied into task resources that lack one. The tasks stay the caller's
 * and are only read (not even temporarily written, so the same tasks may
 * be shared): the pointee is not const-qualified only because C does not
 * convert a TaskInfo ** to const TaskInfo *const * without a cast.
 * Resources of the offer that no task uses are declined for
 * refuse_seconds. n == 0 declines the offer.
 *
 * Const rule of this API: what the library hands to a callback is const
 * (offers, statuses: read-only and valid during the call); what a call
 * takes is only read, and stays the caller's. */
int agora_scheduler_launch(struct agora_scheduler *s, const Mesos__V1__Offer *offer,
                           Mesos__V1__TaskInfo *const *tasks, size_t n, double refuse_seconds);
/* The same, with done(s, result, ctx) called once when the ACCEPT ends
 * (see struct agora_call_result); done may be NULL. When it returns -1,
 * done is never called. */
int agora_scheduler_launch_ex(struct agora_scheduler *s, const Mesos__V1__Offer *offer,
                              Mesos__V1__TaskInfo *const *tasks, size_t n, double refuse_seconds,
                              agora_call_done_fn done, void *ctx);

/* General ACCEPT: operations applied in order against the offers (all on
 * the same agent). Operations stay the caller's and are only read. */
int agora_scheduler_accept(struct agora_scheduler *s, const char *const *offer_ids, size_t noffers,
                           Mesos__V1__Offer__Operation *const *ops, size_t nops,
                           double refuse_seconds);
int agora_scheduler_accept_ex(struct agora_scheduler *s, const char *const *offer_ids,
                              size_t noffers, Mesos__V1__Offer__Operation *const *ops, size_t nops,
                              double refuse_seconds, agora_call_done_fn done, void *ctx);

/* DECLINE one offer; its resources are not re-offered to this framework
 * for refuse_seconds. */
int agora_scheduler_decline(struct agora_scheduler *s, const char *offer_id, double refuse_seconds);

/* REVIVE: remove all filters and resume offers after a suppress. */
int agora_scheduler_revive(struct agora_scheduler *s);
/* SUPPRESS: ask for no more offers until agora_scheduler_revive(). */
int agora_scheduler_suppress(struct agora_scheduler *s);

/* KILL a task. agent_id may be NULL when unknown. */
int agora_scheduler_kill(struct agora_scheduler *s, const char *task_id, const char *agent_id);
int agora_scheduler_kill_ex(struct agora_scheduler *s, const char *task_id, const char *agent_id,
                            agora_call_done_fn done, void *ctx);
/* KILL the task a status is about, with the status's agent_id when it
 * has one; -1 (nothing sent) when status or its task_id is NULL. */
int agora_scheduler_kill_status(struct agora_scheduler *s, const Mesos__V1__TaskStatus *status);

/* ACKNOWLEDGE a status update (only needed with manual_acknowledge).
 * Returns 0 without sending when the status carries no uuid (those need
 * no acknowledgement). */
int agora_scheduler_acknowledge(struct agora_scheduler *s, const Mesos__V1__TaskStatus *status);

/* RECONCILE: n == 0 asks for the latest status of every task the master
 * knows of (implicit); otherwise of the given task ids (agent_ids may be
 * NULL, or hold NULL entries). The answers arrive as update callbacks.
 * Give the agent ids you know: a master that has just taken over knows a
 * task only once its slave re-registered, and answers for a task of a
 * known slave that has not come back yet only then (ask again later);
 * without the agent id it answers TASK_LOST at once (TASK_UNKNOWN for a
 * PARTITION_AWARE framework). Implicit reconciliation names only the
 * tasks the master knows now. */
int agora_scheduler_reconcile(struct agora_scheduler *s, const char *const *task_ids,
                              const char *const *agent_ids, size_t n);

/* MESSAGE: opaque data to an executor. */
int agora_scheduler_message(struct agora_scheduler *s, const char *agent_id,
                            const char *executor_id, const void *data, size_t len);

/* TEARDOWN: the master kills all tasks and forgets the framework. The
 * library stops reconnecting; follow with agora_scheduler_stop(). */
int agora_scheduler_teardown(struct agora_scheduler *s);

/* The end of a framework that is done: TEARDOWN when subscribed, then
 * agora_scheduler_stop() (which waits for the teardown to be answered).
 * Returns 0 when the teardown was sent, -1 when not subscribed (the
 * scheduler is stopped all the same; a framework with a failover_timeout
 * then stays registered until it expires). Loop thread only. */
int agora_scheduler_finish(struct agora_scheduler *s);

/* ---------------------------------------------------------------- timers */

/* A timer on the scheduler's event_base, so a framework needs no libevent
 * header for a retry or a periodic reconcile. */
struct agora_timer;
typedef void (*agora_timer_fn)(struct agora_scheduler *s, void *ctx);

/* Call fn(s, ctx) on the loop thread after ms milliseconds, then every ms
 * when repeat. Timers fire while the loop runs and the scheduler is not
 * stopped (a stop silences them). The timer is owned by the scheduler: a
 * one-shot timer is gone once fn returns, and agora_scheduler_free()
 * frees those still pending. Returns NULL when ms is 0 with repeat or fn
 * is NULL. Loop thread only (or before the loop runs). */
struct agora_timer *agora_scheduler_add_timer(struct agora_scheduler *s, unsigned ms, bool repeat,
                                              agora_timer_fn fn, void *ctx);
/* Cancel and free a pending timer (also from its own fn). NULL is
 * ignored; a fired one-shot timer must not be passed. */
void agora_scheduler_cancel_timer(struct agora_scheduler *s, struct agora_timer *t);

/* ------------------------------------------------------- task helpers */

/* A TaskInfo running cmd with /bin/sh -c, asking for cpus and mem (MB) of
 * unreserved ("*") resources. agent_id may be NULL (agora_scheduler_launch
 * fills in the offer's). Strings are copied. Free with agora_task_free(). */
Mesos__V1__TaskInfo *agora_task_new(const char *name, const char *task_id, const char *agent_id,
                                    const char *cmd, double cpus, double mem);
/* Add a scalar resource (e.g. "disk", "gpus"). */
void agora_task_add_scalar(Mesos__V1__TaskInfo *task, const char *name, double value);
/* Add the given ports (one "ports" ranges resource, merged). Choose them
 * from the offer with agora_resources_ports(). */
void agora_task_add_ports(Mesos__V1__TaskInfo *task, const uint64_t *ports, size_t n);
/* Set an environment variable of the task's command. */
void agora_task_set_env(Mesos__V1__TaskInfo *task, const char *name, const char *value);
/* Use role for every resource of the task (for frameworks whose offers
 * hold resources reserved for their role). */
void agora_task_set_role(Mesos__V1__TaskInfo *task, const char *role);
/* NULL is ignored. */
void agora_task_free(Mesos__V1__TaskInfo *task);

/* ------------------------------------------------- resource arithmetic */

/* What is left of an offer while a framework packs tasks into it. */
struct agora_resources;

/* The resources of an offer; NULL if the offer's resources are malformed
 * (*err, if non-NULL, says which; caller frees). Free with
 * agora_resources_free(). */
struct agora_resources *agora_resources_from_offer(const Mesos__V1__Offer *offer, char **err);
/* true when every resource of task is available in r. */
bool agora_resources_fits(const struct agora_resources *r, const Mesos__V1__TaskInfo *task);
/* Subtract task's resources from r: 0, or -1 (r unchanged) when they do
 * not fit. */
int agora_resources_take(struct agora_resources *r, const Mesos__V1__TaskInfo *task);
/* Total of a scalar over all roles (e.g. "cpus"); 0 when absent. */
double agora_resources_scalar(const struct agora_resources *r, const char *name);
/* Up to max available ports, ascending; returns how many. */
size_t agora_resources_ports(const struct agora_resources *r, uint64_t *out, size_t max);
/* What one task needs, in plain numbers, to check or pack offers before
 * building any TaskInfo. Zero fields ask for nothing. */
struct agora_need {
    double cpus;
    double mem;       /* MB */
    double disk;      /* MB */
    size_t ports;     /* how many ports, any of the offer's */
    const char *role; /* role of every resource; NULL: unreserved ("*") */
};
/* true when one task of need fits in r (false for a NULL argument or a
 * negative amount). */
bool agora_resources_fits_need(const struct agora_resources *r, const struct agora_need *need);
/* Take up to max tasks of need from r, as many as fit; returns how many.
 * ports, when need->ports > 0 and non-NULL, receives need->ports ports per
 * task taken (room for max * need->ports), task i's at ports[i *
 * need->ports]: give them to agora_task_add_ports(). Then build exactly
 * that many TaskInfos (agora_task_new(..., need->cpus, need->mem)). */
size_t agora_resources_pack(struct agora_resources *r, const struct agora_need *need, size_t max,
                            uint64_t *ports);

/* "cpus:1.5;mem:512;ports:[31000-31009]" (caller frees). */
char *agora_resources_format(const struct agora_resources *r);
/* NULL is ignored. */
void agora_resources_free(struct agora_resources *r);

/* -------------------------------------------------------- task states */

/* "TASK_RUNNING", ... ("TASK_?" for unknown values). */
const char *agora_task_state_name(int state);
/* true for states after which a task never runs again (FINISHED, FAILED,
 * KILLED, ERROR, LOST, DROPPED, GONE, GONE_BY_OPERATOR). */
bool agora_task_state_terminal(int state);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
