/*
 * bench.h: shared declarations of agora-bench, the scale benchmark (issue 5).
 *
 * agora-bench emulates S slaves and F frameworks against a running
 * agora-master, over the master's real protocols: the slave protocol
 * (proto/slave.proto, POST /internal/v1/slave) and the v1 scheduler API
 * (protobuf). The parent process runs the frameworks, watches progress and
 * prints the figures; the slaves are spread over forked child processes
 * (each under the 20,000 open files limit, each on its own 127.0.0.x
 * source address). Every process runs one libevent loop.
 *
 * Parent and children share one anonymous MAP_SHARED region (struct
 * bench_shm, created before fork): progress counters, and per slave the
 * time its resources last became free, so that the framework side can
 * measure offer latency (resource free at the slave -> offer at the
 * framework) on the one CLOCK_MONOTONIC all processes share.
 */
#ifndef AGORA_BENCH_H
#define AGORA_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;
struct evhttp_connection;
struct evhttp_request;
struct evkeyvalq;

/* Hostnames of emulated slaves are BENCH_HOST_PREFIX<index>; frameworks
 * read the index back from Offer.hostname. */
#define BENCH_HOST_PREFIX "bench-slave-"

struct bench_config {
    char *master_host;
    int master_port;
    int slaves;
    int frameworks;
    long tasks;
    double task_duration; /* seconds between RUNNING and FINISHED */
    char *slave_resources;
    /* > 0: slave i offers ports [B + i*N, B + i*N + N - 1] instead of the
     * ports of slave_resources (B: their first begin), so that tasks on
     * different emulated slaves (all 127.0.0.1) never share a port. */
    int ports_per_slave;
    double task_cpus, task_mem;
    int procs;             /* child processes for the slaves */
    int conns_per_proc;    /* keep-alive connections for calls, per process */
    int connect_window;    /* SUBSCRIBEs in flight per child */
    double timeout;        /* whole run, seconds */
    double state_interval; /* GET /master/state every ... (0: never) */
    int master_pid;
    char *zk_url;          /* --master=zk://...: follow the leader (else NULL) */
    double backoff_factor; /* re-registration delay: uniform in [0.5 s, this] */
    bool failover;         /* kill -9 the leader once all tasks run */
    double kill_after;     /* ... this long after the last RUNNING */
};

/* Shared between the parent and the slave processes. */
struct bench_shm {
    uint64_t registered;        /* slaves that got REGISTERED */
    uint64_t subscribe_failed;  /* SUBSCRIBE refused or connection lost */
    uint64_t streams_lost;      /* registered slave streams that closed */
    uint64_t run_tasks;         /* RUN_TASK events received */
    uint64_t updates_sent;      /* status updates sent */
    uint64_t update_calls;      /* STATUS_UPDATE calls that carried them */
    uint64_t call_errors;       /* calls answered other than 202 */
    uint64_t acks;              /* ACKNOWLEDGE events received */
    uint64_t pings;             /* PING events answered */
    uint64_t children_ready;    /* children whose slaves are all registered */
    uint64_t stop;              /* set by the parent: children exit */
    uint64_t reregistered;      /* REGISTERED answers to a re-registration */
    uint64_t last_rereg_ns;     /* when the latest of them arrived */
    uint64_t resubscribe_tries; /* (re-)SUBSCRIBEs sent after the first registration */
    /* Per task (index: the global task number, which is its id): when a
     * slave got its RUN_TASK and when it sent TASK_RUNNING, for the
     * per-stage launch latency. A separate MAP_SHARED region (NULL if none). */
    struct bench_task_stamp *stamps;
    long nstamps;
    uint64_t freed_ns[]; /* per slave: when resources became free (0: not pending) */
};

struct bench_task_stamp {
    uint64_t run_task_ns;     /* RUN_TASK received by the slave (first one) */
    uint64_t running_sent_ns; /* TASK_RUNNING posted by the slave */
};

/* Monotonic nanoseconds (the clock shared by all bench processes). */
uint64_t bench_now_ns(void);
double bench_now(void);

/* ------------------------------------------------------ leader (zk) */

/* Follows the leading master through ZooKeeper (common/zk.h's detector, on
 * a session of this process). fn runs on the loop whenever the leader's
 * address changes; host NULL while none is known. */
struct bench_leader;
typedef void (*bench_leader_fn)(const char *host, int port, void *arg);
struct bench_leader *bench_leader_new(struct event_base *base, const char *zk_url,
                                      bench_leader_fn fn, void *arg);
void bench_leader_free(struct bench_leader *l);

/* Delay before a (re-)SUBSCRIBE as agora-slave draws it: uniform in
 * [0.5 s, backoff] (0.5 s when backoff is smaller). */
double bench_backoff_delay(double backoff);

/* ---------------------------------------------------------- call pool */

/* A few keep-alive connections for the many small POSTs (STATUS_UPDATE,
 * PONG, ACCEPT, ACKNOWLEDGE): the master checks agent or framework id and
 * Mesos-Stream-Id per request, so calls of many slaves or frameworks share
 * connections, which keeps the master's fd count at one per slave. */
struct call_pool;
typedef void (*call_done_fn)(int status, void *arg);

struct call_pool *call_pool_new(struct event_base *base, const char *host, int port,
                                const char *local_ip, int nconns);
void call_pool_free(struct call_pool *p);
/* POST body (copied) with an optional Mesos-Stream-Id. done may be NULL:
 * then only non-202 answers are counted in *errors. */
void call_pool_post(struct call_pool *p, const char *path, const char *content_type,
                    const char *accept, const char *stream_id, const void *body, size_t len,
                    call_done_fn done, void *arg);
uint64_t call_pool_errors(const struct call_pool *p);
/* Point the pool at another master: open connections are dropped (their
 * calls fail with status 0), the next call connects to host:port. */
void call_pool_set_master(struct call_pool *p, const char *host, int port);

/* ------------------------------------------------------------- parts */

/* Child process: run slaves [first, first+count). Returns the exit code. */
int bench_slaves_run(const struct bench_config *cfg, struct bench_shm *shm, int child, int first,
                     int count);

/* Frameworks (in the parent). */
struct bench_fw_stats {
    uint64_t launched, running, finished, failed, offers, declined, accepts, subscribed;
    uint64_t declined_done; /* of declined: the framework had launched its share */
    double first_accept, last_running, last_finished; /* bench_now() */
    double *offer_latency_ms;                         /* samples, grown as needed */
    size_t n_offer_latency, cap_offer_latency;
    double *launch_latency_ms; /* accept -> RUNNING, a sample per task */
    size_t n_launch_latency, cap_launch_latency;
    /* The same path in stages (a sample per task, from the shared stamps):
     * ACCEPT posted -> RUN_TASK at the slave (the master's part),
     * RUN_TASK -> RUNNING posted (the slave's), RUNNING posted -> UPDATE
     * at the framework (the master's part again). */
    double *stage_ms[3];
    size_t n_stage[3], cap_stage[3];
};
struct bench_fws;
struct bench_fws *bench_fws_start(struct event_base *base, const struct bench_config *cfg,
                                  struct bench_shm *shm);
const struct bench_fw_stats *bench_fws_stats(const struct bench_fws *f);
bool bench_fws_all_subscribed(const struct bench_fws *f);
/* The leading master changed (zk runs): drop the streams, re-SUBSCRIBE
 * with the framework ids after a delay uniform in [0, 0.5 s] as
 * libagora-scheduler does. host NULL: no leader known, wait. */
void bench_fws_set_master(struct bench_fws *f, const char *host, int port);
/* Frameworks subscribed again after a leader change, and the last time. */
uint64_t bench_fws_resubscribed(const struct bench_fws *f, double *last);
void bench_fws_free(struct bench_fws *f);

/* Master process figures. */
int bench_find_master_pid(int port);
/* RSS in MB and CPU seconds (user+system) of pid; -1 on error. */
int bench_proc_usage(int pid, double *rss_mb, double *cpu_s);

/* Quantile q of n samples (sorts v in place); NAN when n == 0. */
double bench_quantile(double *v, size_t n, double q);

/* --allocator_only: in-process allocator benchmark; prints the JSON line. */
int bench_allocator_only(const struct bench_config *cfg, int rounds);

#endif
