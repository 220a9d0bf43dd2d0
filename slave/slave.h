/*
 * slave: the agora-slave daemon's shared state and the functions its
 * modules call on each other.
 *
 * One struct slave per process, driven by one libevent loop. It owns the
 * master connection (slave.c), the frameworks and their tasks (slave.c),
 * the containerizer (containerizer.h, process.c), the status update
 * streams (status_updates.c), health checks (health.c), checkpoints
 * (checkpoint.c) and the HTTP endpoints (http_api.c).
 *
 * Ownership: a struct framework owns its tasks; a task owns its TaskInfo,
 * its update queue, its health checker and whatever its container holds.
 * Frameworks and tasks are never freed inside a callback: they go to the
 * slave's deferred-free list, emptied by slave_cron() and at shutdown.
 */
#ifndef AGORA_SLAVE_H
#define AGORA_SLAVE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <jansson.h>
#include <uthash.h>

#include "mesos.pb-c.h"
#include "slave.pb-c.h"
#include "pbutil.h"
#include "host_policy.h"
#include "resources.h"
#include "task_state.h"
#include "timeutil.h"

struct event_base;
struct event;
struct http_sub;
struct http_call;
struct http_server;
struct rest_server;
struct rest_req;
struct rio_decoder;
struct containerizer;
struct health;
struct metric;
struct master_follow;
struct gc;
struct auth_creds;
struct acls;

#define SLAVE_VERSION "0.1.0"

/* Parsed command line (main.c fills it, the slave reads it). */
struct slave_flags {
    char *ip;        /* listen address */
    int port;        /* 0 = any */
    char *port_file; /* written once bound */
    char *work_dir;  /* sandboxes and meta/ */
    char *log_level;
    char *master;     /* HOST:PORT or zk://hosts/path */
    char *resources;  /* Mesos text syntax or NULL = detect */
    char *attributes; /* "rack:a;zone:b" */
    char *hostname;
    char *isolation;                       /* cgroups|none, NULL = auto */
    char *containerizers;                  /* "docker,process", NULL = auto */
    char *docker_socket;                   /* Docker Engine API unix socket */
    double docker_pull_timeout;            /* seconds, one image pull */
    char *docker_publish_ip;               /* host address of BRIDGE port mappings */
    double executor_shutdown_grace_period; /* seconds */
    double registration_backoff_factor;    /* seconds */
    double zk_session_timeout;             /* zk:// masters: seconds */
    char *credential;                      /* file: this slave's principal and secret */
    double gc_delay;                       /* seconds a finished task's sandbox is kept */
    double disk_watch_interval;            /* seconds between disk usage checks */
    double gc_disk_headroom;               /* 0..1: the delay is 0 at 1 - headroom used */
    uint64_t task_log_max_size;            /* bytes of a task's stdout/stderr before rotation */
    int task_log_files;                    /* rotated copies kept (stdout.1, ...) */
    double orphan_sweep_interval;          /* seconds between orphan sweeps (orphans.c) */
    bool switch_user;                      /* run tasks as their user (task_user.c) */
    bool docker_allow_privileged;          /* host_policy: container.docker.privileged */
    char *allowed_capabilities;            /* host_policy: cap-add, comma list */
    char *allowed_host_paths;              /* host_policy: bind-mount sources, comma list */
    char *http_credentials;                /* file: who may call the HTTP endpoints */
    bool authenticate_http_readonly;       /* /state, /files, /metrics, /api/v1 need them */
    bool authenticate_http_readwrite;      /* endpoints that change something (/api/v1) */
    char *acls;                            /* --acls: access_sandboxes, view_* */
};

/* Who a task runs as when it is not the slave's own user (task_user.c). */
struct task_user {
    char *name, *home;
    uid_t uid;
    gid_t gid;
    gid_t *groups; /* supplementary, the primary among them */
    size_t ngroups;
};

/* The master connection (see slave.c for the transitions). */
enum master_conn_state {
    MASTER_DISCONNECTED = 0, /* waiting for the backoff timer */
    MASTER_CONNECTING,       /* SUBSCRIBE posted, no response yet */
    MASTER_REGISTERING,      /* 200 received, waiting for REGISTERED */
    MASTER_REGISTERED,       /* events flowing, updates may be sent */
};
const char *master_conn_state_name(enum master_conn_state s);

/* Ordered, checkpointed stream of status updates of one task. */
struct su_entry {
    Mesos__V1__TaskStatus *status; /* owned (protobuf_c_message_free_unpacked) */
    struct su_entry *next;
};

struct su_queue {
    struct su_entry *head, *tail;
    size_t len;
    struct event *retry;       /* resend timer of the head */
    double backoff;            /* next resend delay, 1s..60s */
    bool batched;              /* head waits in the slave's next STATUS_UPDATE call */
    bool sent;                 /* head was sent at least once */
    struct slave *retry_slave; /* for the retry timer's callback */
};

/* Where a task is in its life on this slave. */
struct task {
    char *id;                  /* hash key: task id */
    struct framework *fw;      /* owner */
    Mesos__V1__TaskInfo *info; /* owned */
    char *container_id;
    char *sandbox;                 /* absolute sandbox path */
    char *meta_dir;                /* checkpoint dir of the task */
    Mesos__V1__TaskState state;    /* latest state generated */
    Mesos__V1__TaskStatus *latest; /* latest status generated (owned) */
    double launched_at;            /* wall clock */
    bool terminal;                 /* a terminal update was generated */
    bool killed;                   /* we killed it: exit -> TASK_KILLED */
    bool health_kill;              /* killed because of health checks */
    struct task_user *user;        /* NULL: runs as the slave's own user */
    pid_t monitor_pid;
    pid_t task_pid; /* also the task's process group */
    void *cont;     /* containerizer private state */
    struct su_queue updates;
    struct health *health; /* NULL without a health check */
    UT_hash_handle hh;
};

struct framework {
    char *id;                       /* hash key */
    Mesos__V1__FrameworkInfo *info; /* owned */
    struct task *tasks;             /* active: non-terminal or unacknowledged */
    json_t *completed_tasks;        /* JSON array for /state (completed executors) */
    bool shutting_down;
    UT_hash_handle hh;
};

struct slave {
    struct event_base *base;
    struct slave_flags *flags;
    char *agent_id; /* NULL until first registration */
    char *hostname;
    int http_port; /* bound port */
    struct resources resources;
    Mesos__V1__Attribute **attributes;
    size_t nattributes;
    double start_time;

    /* master connection */
    enum master_conn_state state;
    char *auth_header; /* "Basic ..." from --credential, NULL without */
    char *master_host;
    int master_port;
    struct http_sub *sub;
    struct rio_decoder *decoder;
    char *stream_id;
    struct event *backoff_timer;
    double backoff;           /* current backoff ceiling, seconds */
    struct event *ping_timer; /* watchdog: no PING for this long -> reconnect */
    double ping_timeout;
    struct http_call *pong_call;
    char *master_hostname;        /* from REGISTERED, for /state */
    struct master_follow *follow; /* --master; for zk:// master_host is the leader it saw */

    struct framework *frameworks;
    json_t *completed_frameworks; /* JSON array for /state */

    struct containerizer *containerizer;
    struct gc *gc;                  /* sandbox garbage collection (gc.c) */
    struct orphans *orphans;        /* orphan containers and processes (orphans.c) */
    struct host_policy host_policy; /* what tasks may ask of the host (flags) */
    struct http_server *http;
    struct rest_server *rest;      /* the route table served on http */
    struct auth_creds *http_creds; /* --http_credentials, NULL without */
    unsigned http_auth;            /* REST_AUTH_* surfaces authenticated */
    struct acls *acls;             /* --acls, NULL: everything allowed */
    struct event *free_ev;         /* runs the deferred frees next iteration */
    /* status_updates.c: heads to send in this loop turn's STATUS_UPDATE
     * call (NULL: taken back), and the calls in flight */
    bool master_batches; /* REGISTERED said batched_updates */
    struct task **su_batch;
    size_t su_batch_n, su_batch_cap;
    struct event *su_flush_ev;
    struct su_call *su_calls;
    unsigned cron_ticks;

    /* deferred frees */
    struct task **dead_tasks;
    size_t ndead_tasks;
    struct framework **dead_fws;
    size_t ndead_fws;

    struct metric *m_tasks_launched, *m_tasks_finished, *m_tasks_failed, *m_tasks_killed,
        *m_updates_sent, *m_updates_acked, *m_registrations, *m_disconnects;
};

/* --- slave.c ------------------------------------------------------------ */
struct slave *slave_new(struct event_base *base, struct slave_flags *flags, char **err);
void slave_free(struct slave *s);
/* Recover checkpointed state, then start connecting to the master. */
int slave_start(struct slave *s, char **err);
/* Once a second: deferred frees, pid polling. */
void slave_cron(struct slave *s);
/* SIGCHLD: reap children, dispatch to watchers. */
void slave_reap_children(struct slave *s);
/* True when a known task (any framework) runs in container cid; arg is the
 * struct slave (the shape cgroups_sweep wants). */
bool slave_container_in_use(const char *cid, void *arg);

typedef void (*child_exit_fn)(pid_t pid, int wait_status, void *arg);
/* Call fn when our child pid is reaped. */
void slave_watch_child(pid_t pid, child_exit_fn fn, void *arg);
void slave_unwatch_child(pid_t pid);

struct framework *slave_find_framework(struct slave *s, const char *id);
struct framework *slave_add_framework(struct slave *s, const Mesos__V1__FrameworkInfo *info);
struct task *slave_find_task(struct slave *s, const char *fw_id, const char *task_id);
/* A new task struct (not yet in a framework). */
struct task *task_new(struct framework *fw, Mesos__V1__TaskInfo *info /* owned */);

/* Generate a status update for a task: records latest state, enqueues it
 * (status_updates) and checkpoints. message may be NULL; reason < 0 for
 * none; healthy < 0 for none. */
void slave_task_update(struct slave *s, struct task *t, Mesos__V1__TaskState state,
                       const char *message, int reason, int healthy);
/* Containerizer callbacks. */
void slave_task_running(struct slave *s, struct task *t);
/* The container ended. wait_status < 0 when unknown; launch_error set when
 * the command could not be started. */
void slave_task_exited(struct slave *s, struct task *t, int wait_status, const char *launch_error);
/* Kill a task: TASK_KILLING if the framework understands it, then the
 * containerizer's graceful kill. grace < 0 = default. */
void slave_kill_task(struct slave *s, struct task *t, double grace, bool health);
/* Task is terminal and all its updates acknowledged: retire it. */
void slave_task_maybe_complete(struct slave *s, struct task *t);

/* The task as /state shows it: its command executor (id = task id) with
 * the task under "tasks", or under "completed_tasks" once terminal. */
json_t *slave_task_json(struct slave *s, struct task *t);

/* --- status_updates.c ----------------------------------------------------- */
void su_init(struct su_queue *q);
/* The slave's side of batching (event, calls in flight). */
void su_slave_init(struct slave *s);
void su_slave_free(struct slave *s);
void su_cleanup(struct su_queue *q);
/* Append (takes ownership) and try to send. */
void su_enqueue(struct slave *s, struct task *t, Mesos__V1__TaskStatus *st);
/* Matching uuid of the head: pop it and send the next. 0 matched, -1 not. */
int su_acknowledge(struct slave *s, struct task *t, const uint8_t *uuid, size_t len);
/* (Re)start sending of every task's head, e.g. after registration. */
void su_resume_all(struct slave *s);
/* Stop retries and in-flight calls (disconnect). */
void su_pause_all(struct slave *s);
/* Serialize / parse the queue for checkpoints. */
char *su_serialize(const struct su_queue *q, size_t *len);
int su_deserialize(struct su_queue *q, const char *data, size_t len, char **err);

/* --- slave.c, master_conn.c, tasks.c, detect.c (one daemon, split by concern) */
#define SLAVE_BACKOFF_MIN 0.5
#define SLAVE_BACKOFF_MAX 30.0
#define SLAVE_DEFAULT_PING_INTERVAL 15.0
#define SLAVE_DEFAULT_MAX_MISSED_PINGS 5
/* master_conn.c: --master, the backoff and ping timers. 0, or -1 with *err. */
int slave_conn_init(struct slave *s, char **err);
/* Connect after a jittered delay in [SLAVE_BACKOFF_MIN, ceiling]. */
void slave_schedule_connect(struct slave *s, double ceiling);
/* tasks.c: the master's task events, and the frees of retired objects. */
void slave_on_run_task(struct slave *s, const Agora__Slave__Event__RunTask *rt);
void slave_on_kill_task(struct slave *s, const Agora__Slave__Event__KillTask *kt);
void slave_on_acknowledge(struct slave *s, const Agora__Slave__Event__Acknowledge *a);
void slave_on_shutdown_framework(struct slave *s, const Agora__Slave__Event__ShutdownFramework *sf);
void slave_task_free(struct slave *s, struct task *t);
void slave_framework_free(struct framework *fw);
/* detect.c: s->resources and s->attributes from the host and the flags. */
int slave_setup_resources(struct slave *s, char **err);
int slave_setup_attributes(struct slave *s, char **err);

/* --- checkpoint.c --------------------------------------------------------- */
char *ckpt_meta_dir(struct slave *s);
int ckpt_slave_id(struct slave *s);
int ckpt_framework(struct slave *s, struct framework *fw);
/* Writes task.info, container.id, sandbox path. */
int ckpt_task(struct slave *s, struct task *t);
int ckpt_task_updates(struct slave *s, struct task *t);
int ckpt_task_file(struct task *t, const char *name, const char *text);
/* Remove a task's checkpoint (done with it). */
void ckpt_task_remove(struct slave *s, struct task *t);
void ckpt_framework_remove(struct slave *s, struct framework *fw);
/* Read meta/: agent id, frameworks and tasks; re-adopt or finish tasks. */
int ckpt_recover(struct slave *s, char **err);

/* --- orphans.c: containers and processes no task owns ------------------ */
struct orphans;
/* Sweeps every --orphan_sweep_interval from now on. */
struct orphans *orphans_new(struct slave *s);
void orphans_free(struct orphans *o);
/* One sweep now (at recovery): containers through the containerizer's
 * recovered hook, processes through /proc. */
void orphans_sweep(struct orphans *o);
/* SIGKILL every process whose MESOS_SANDBOX lies under sandbox_root and
 * whose MESOS_CONTAINER_ID in_use() does not claim; how many. */
size_t orphans_kill_processes(const char *sandbox_root, bool (*in_use)(const char *cid, void *arg),
                              void *arg);

/* --- gc.c: sandboxes of finished tasks, removed after --gc_delay -------- */
struct gc *gc_new(struct slave *s);
void gc_free(struct gc *gc);
/* Schedule a retired task's sandbox (absolute path) for removal; sets its
 * mtime to now, the record a restarted slave goes by. */
void gc_schedule(struct gc *gc, const char *sandbox);
/* After recovery: schedule every sandbox no task owns, at its mtime. */
void gc_recover(struct gc *gc);
/* Whether path, or a directory above it, was collected (recently). */
bool gc_collected(struct gc *gc, const char *path);
/* How long sandboxes are kept at this disk usage (Mesos' max allowed
 * age): gc_delay * max(0, 1 - headroom - usage). */
double gc_max_age(double gc_delay, double headroom, double usage);

/* --- task_host.c: what a task may ask of the host --------------------- */
/* Whether ti's host requests pass this slave's flags; false with *err
 * naming the field and the flag (TASK_ERROR). */
bool slave_host_allows(struct slave *s, const Mesos__V1__TaskInfo *ti, char **err);

/* --- task_user.c: --switch_user ------------------------------------------ */
/* Whom t runs as and whose sandbox it has: CommandInfo.user, else
 * FrameworkInfo.user; NULL when neither is set (borrowed). */
const char *task_user_name(const struct task *t);
/* Set t->user from the task's (else its framework's) user: 0 (NULL when
 * the task runs as the slave's own user), or -1 with *err naming the user
 * (unknown here; or another user than the slave's while it is not root). */
int task_user_resolve(struct slave *s, struct task *t, char **err);
/* Give the (new, empty) sandbox to t->user. 0, or -1 with *err. */
int task_user_own_sandbox(const struct task *t, char **err);
/* In a forked child before exec: become u (NULL: stay). Only system
 * calls, no name service. 0, or -1 with errno. */
int task_user_switch(const struct task_user *u);
void task_user_free(struct task_user *u);

/* --- health.c ------------------------------------------------------------- */
struct health *health_start(struct slave *s, struct task *t);
void health_stop(struct health *h);

/* --- http_api.c ----------------------------------------------------------- */
int http_api_start(struct slave *s, char **err);
void slave_http_state(struct rest_req *rq);
/* POST /api/v1: the v1 agent API's GET_HEALTH, GET_STATE, GET_CONTAINERS. */
void slave_http_api_v1(struct rest_req *rq);
void slave_http_browse(struct rest_req *rq);
void slave_http_read(struct rest_req *rq);
void slave_http_download(struct rest_req *rq);

/* --- http_authz.c: who may call and read what over HTTP ---------------- */
/* --http_credentials, --authenticate_http_*, --acls: 0, or -1 with *err. */
int slave_http_authz_init(struct slave *s, char **err);
void slave_http_authz_free(struct slave *s);
/* view_frameworks / view_tasks / view_containers for principal (NULL:
 * anonymous); user: the framework's, task's, container's task's. */
bool slave_may_view_framework(struct slave *s, const char *principal, const char *user);
bool slave_may_view_task(struct slave *s, const char *principal, const char *user);
bool slave_may_view_container(struct slave *s, const char *principal, const char *user);
/* access_sandboxes: may principal read real (a realpath below root, the
 * realpath of <work_dir>/slaves)? The object is the user of the task
 * whose sandbox holds it; a path above every sandbox needs the right to
 * all of them. */
bool slave_may_access_sandbox(struct slave *s, const char *principal, const char *root,
                              const char *real);
/* Remove from frameworks (a /state JSON array) the frameworks and the
 * executors principal may not see. */
void slave_state_filter(struct slave *s, const char *principal, json_t *frameworks);

/* --- routes.c ------------------------------------------------------------- */
/* Serve the slave's route table on s->http. */
void slave_routes_attach(struct slave *s);
/* GET /state's JSON as principal (NULL: anonymous) may see it (--acls). */
json_t *slave_state_json(struct slave *s, const char *principal);

/* --- environment (process.c) --------------------------------------------- */
/* Environment for a task or its COMMAND health check: NULL-terminated,
 * caller frees with env_free. */
char **task_environment(struct slave *s, struct task *t);
void env_free(char **env);
/* In a child the slave forked, before anything else: default signal
 * dispositions (libevent's handlers would write to the slave's signal
 * socketpair), nothing blocked, every fd above 2 closed but keep (-1:
 * none). Async-signal-safe. */
void slave_child_reset(int keep);

#endif
