/*
 * sched_internal: the scheduler struct shared by the files of
 * libagora-scheduler (scheduler.c: connection and events; calls.c:
 * encoding and sending calls; tasks.c needs none of it). Not installed.
 */
#ifndef AGORA_SCHED_INTERNAL_H
#define AGORA_SCHED_INTERNAL_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include "agora/scheduler.h"
#include "scheduler.pb-c.h"

struct event;
struct http_sub;
struct http_call;
struct rio_decoder;
struct master_follow;
struct sched_dedup;

#define SCHED_API_PATH "/api/v1/scheduler"
#define SCHED_CT_PROTOBUF "application/x-protobuf"
#define SCHED_CT_JSON "application/json"

/* One call in flight (POST answered asynchronously). */
struct sched_call {
    TAILQ_ENTRY(sched_call) link;
    struct agora_scheduler *s;
    struct http_call *hc;
    int type;                /* Mesos__V1__Scheduler__Call__Type */
    char *stream_id;         /* stream it was sent on (stale 307s are ignored) */
    agora_call_done_fn done; /* the _ex calls' completion, or NULL */
    void *ctx;
};
TAILQ_HEAD(sched_call_list, sched_call);

struct agora_scheduler {
    struct event_base *base;
    bool own_base; /* created by us for agora_scheduler_run() */
    struct agora_scheduler_callbacks cbs;
    void *arg;

    /* FrameworkInfo, copied from the config */
    char *name, *user, *role, *principal, *hostname;
    char *auth_header; /* "Basic ..." from principal + secret, NULL without */
    double failover_timeout;
    double zk_session_timeout; /* zk:// masters; seconds */
    bool checkpoint;
    int *caps;
    size_t ncaps;
    char *framework_id; /* configured, then the one SUBSCRIBED gave */
    bool manual_ack;
    bool json;

    /* where to connect */
    struct master_follow *follow; /* --master: candidates, or the zk:// leader */
    size_t master_idx;            /* candidate tried next after a failure */
    char *redirect_host;          /* leader named by a 307: tried next, once */
    int redirect_port;
    int redirects;  /* consecutive 307s, to stop ping-pong */
    char *cur_host; /* master of the current/last attempt */
    int cur_port;
    char *cur_master; /* "host:port" of cur_host/cur_port */
    /* --master=zk://: the leader ZooKeeper names replaces the candidates */
    char *leader_host; /* NULL while no leader is known */
    int leader_port;

    /* the subscription */
    enum agora_scheduler_state state;
    struct http_sub *sub;
    int sub_status;  /* HTTP status of the SUBSCRIBE response */
    char *stream_id; /* Mesos-Stream-Id of the current stream */
    struct rio_decoder *rio;
    char errbody[512]; /* body of a non-200 SUBSCRIBE response */
    size_t errlen;
    char *decode_err; /* why the last record could not be decoded */
    double heartbeat_secs;
    struct event *watchdog_ev; /* no event for too long -> disconnected */
    struct event *reconnect_ev;
    double backoff; /* next reconnect delay bound, seconds */
    uint64_t rng;   /* xorshift state for the jitter */

    bool sent_with_id; /* the last SUBSCRIBE carried a framework id */
    bool started;
    bool fatal;        /* ERROR or refused SUBSCRIBE: no reconnect */
    bool tearing_down; /* TEARDOWN sent: no reconnect */

    /* stopping */
    struct event *stop_ev; /* activated by agora_scheduler_stop() */
    atomic_bool stop_requested;
    bool stopping;          /* stop handled on the loop */
    bool running;           /* inside agora_scheduler_run() */
    struct event *drain_ev; /* bounds the wait for calls in flight */

    struct sched_call_list calls;
    size_t ncalls;

    struct sched_dedup *dedup;        /* terminal updates seen; NULL: keep_duplicates */
    TAILQ_HEAD(, agora_timer) timers; /* agora_scheduler_add_timer's, pending */
};

/* calls.c */
/* Serialize a call in the scheduler's encoding; *out is the caller's. */
void sched_encode_call(const struct agora_scheduler *s, const Mesos__V1__Scheduler__Call *call,
                       char **out, size_t *len);
/* Content type of the scheduler's encoding. */
const char *sched_content_type(const struct agora_scheduler *s);
/* Free every call in flight without callbacks. */
void sched_calls_cancel_all(struct agora_scheduler *s);
/* Encode and POST a call of type (framework_id filled in); done/ctx as for
 * the _ex calls. -1 when not subscribed or it cannot be sent. */
int sched_send(struct agora_scheduler *s, Mesos__V1__Scheduler__Call *call, int type,
               agora_call_done_fn done, void *ctx);

/* timers.c */
/* Free every timer without firing it. */
void sched_timers_free_all(struct agora_scheduler *s);

/* scheduler.c */
/* A call came back with 307/503: leadership moved; re-subscribe. location
 * is the 307's Location header or NULL. */
void sched_leader_lost(struct agora_scheduler *s, const char *stream_id, const char *location);
/* The last call in flight finished (ends a stop's drain). */
void sched_calls_drained(struct agora_scheduler *s);

#endif
