/*
 * master_conn.c: agora-slave's connection to the leading master.
 *
 * Owns the connection state machine
 *
 *   DISCONNECTED --backoff timer--> CONNECTING --200 + stream id--> REGISTERING
 *        ^                                                              |
 *        +---- stream closed / error / ping watchdog ---- REGISTERED <--+ (REGISTERED event)
 *
 * with jittered exponential backoff (0.5s .. 30s) between attempts. Each
 * SUBSCRIBE carries the agent id (once known), the tasks still running or
 * with unacknowledged updates, and their frameworks, so that a restarted
 * master learns them back. While REGISTERED, a watchdog of
 * ping_interval x max_missed_pings (from REGISTERED) resets on every PING;
 * when it fires the slave reconnects.
 *
 * With --master=zk://hosts/path the master is whoever ZooKeeper names
 * (common/master_follow.h): when the leader changes the slave drops its
 * connection and re-registers with the new one after a jittered delay
 * (uniform in [0.5s, --registration_backoff_factor]), so thousands of
 * slaves do not hit a fresh leader at once; while no leader is known it
 * waits. It never talks to a master ZooKeeper no longer names.
 *
 * The events that concern tasks are handed to tasks.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "slave.h"
#include "containerizer.h"
#include "atomic_file.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "recordio.h"
#include "master_follow.h"

#define MAX_EVENT_SIZE (16 * 1024 * 1024)

/* ------------------------------------------------------ state machine */

const char *master_conn_state_name(enum master_conn_state st)
{
    static const char *names[] = {
        [MASTER_DISCONNECTED] = "DISCONNECTED",
        [MASTER_CONNECTING] = "CONNECTING",
        [MASTER_REGISTERING] = "REGISTERING",
        [MASTER_REGISTERED] = "REGISTERED",
    };
    return names[st];
}

static void set_state(struct slave *s, enum master_conn_state st)
{
    if (s->state == st)
        return;
    log_info("master connection: %s -> %s", master_conn_state_name(s->state),
             master_conn_state_name(st));
    s->state = st;
}

/* Tear the connection down (not from on_close: the sub is already gone
 * there, pass from_close) and schedule the next attempt. */
static void slave_disconnect(struct slave *s, const char *why, bool from_close, double ceiling)
{
    if (s->sub != NULL && !from_close)
        http_sub_close(s->sub);
    s->sub = NULL;
    if (s->decoder != NULL) {
        rio_decoder_free(s->decoder);
        s->decoder = NULL;
    }
    free(s->stream_id);
    s->stream_id = NULL;
    if (s->pong_call != NULL) {
        http_call_cancel(s->pong_call);
        s->pong_call = NULL;
    }
    event_del(s->ping_timer);
    su_pause_all(s);
    if (s->state != MASTER_DISCONNECTED) {
        log_warn("disconnected from master %s:%d: %s", s->master_host ? s->master_host : "(none)",
                 s->master_port, why);
        metric_inc(s->m_disconnects, 1);
    }
    set_state(s, MASTER_DISCONNECTED);
    slave_schedule_connect(s, ceiling);
}

static void ping_watchdog_cb(evutil_socket_t fd, short what, void *arg)
{
    struct slave *s = arg;
    char why[128];

    snprintf(why, sizeof(why), "no PING from the master for %.1fs", s->ping_timeout);
    slave_disconnect(s, why, false, SLAVE_BACKOFF_MIN);
}

static void ping_watchdog_reset(struct slave *s)
{
    struct timeval tv = time_tv(s->ping_timeout);

    event_add(s->ping_timer, &tv);
}

/* ----------------------------------------------------------- SUBSCRIBE */

static Mesos__V1__AgentInfo *build_agent_info(struct slave *s)
{
    Mesos__V1__AgentInfo *ai = xcalloc(1, sizeof(*ai));
    size_t i;

    mesos__v1__agent_info__init(ai);
    ai->hostname = xstrdup(s->hostname);
    ai->has_port = 1;
    ai->port = s->http_port;
    ai->resources = res_to_pb(&s->resources, &ai->n_resources);
    if (s->nattributes > 0) {
        ai->n_attributes = s->nattributes;
        ai->attributes = xcalloc(s->nattributes, sizeof(*ai->attributes));
        for (i = 0; i < s->nattributes; i++)
            ai->attributes[i] = pb_dup(&s->attributes[i]->base);
    }
    if (s->agent_id != NULL) {
        ai->id = xcalloc(1, sizeof(*ai->id));
        mesos__v1__agent_id__init(ai->id);
        ai->id->value = xstrdup(s->agent_id);
    }
    return ai;
}

static uint8_t *build_subscribe(struct slave *s, size_t *len)
{
    Agora__Slave__Call call = AGORA__SLAVE__CALL__INIT;
    Agora__Slave__Call__Subscribe sub = AGORA__SLAVE__CALL__SUBSCRIBE__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    char *containerizers[4];
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;
    Agora__Slave__Call__Task *ct;
    Mesos__V1__FrameworkID *fids;
    size_t ntasks = 0, nfw = 0, i, k;
    uint8_t *buf;

    sub.agent_info = build_agent_info(s);
    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        ntasks += HASH_COUNT(fw->tasks);
        nfw++;
    }
    sub.tasks = xcalloc(ntasks + 1, sizeof(*sub.tasks));
    sub.frameworks = xcalloc(nfw + 1, sizeof(*sub.frameworks));
    fids = xcalloc(nfw + 1, sizeof(*fids));
    k = 0;
    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        mesos__v1__framework_id__init(&fids[k]);
        fids[k].value = fw->id;
        sub.frameworks[sub.n_frameworks++] = fw->info;
        HASH_ITER (hh, fw->tasks, t, ttmp) {
            ct = xcalloc(1, sizeof(*ct));
            agora__slave__call__task__init(ct);
            ct->task_info = t->info;
            ct->framework_id = &fids[k];
            ct->state = t->state;
            ct->latest_status = t->latest;
            sub.tasks[sub.n_tasks++] = ct;
        }
        k++;
    }
    sub.n_containerizers = composing_containerizer_names(s->containerizer, containerizers, 4);
    sub.containerizers = containerizers;
    sub.version = SLAVE_VERSION;
    call.has_type = 1;
    call.type = AGORA__SLAVE__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    if (s->agent_id != NULL) {
        aid.value = s->agent_id;
        call.agent_id = &aid;
    }
    buf = pb_pack(&call.base, len);

    for (i = 0; i < sub.n_tasks; i++)
        free(sub.tasks[i]);
    free(sub.tasks);
    free(sub.frameworks);
    free(fids);
    pb_free(sub.agent_info);
    log_info("subscribing to master %s:%d (%s, %zu tasks, %zu frameworks)", s->master_host,
             s->master_port, s->agent_id ? s->agent_id : "new slave", ntasks, nfw);
    return buf;
}

/* ---------------------------------------------------------- events */

static void pong_cb(const struct http_response *resp, void *arg)
{
    struct slave *s = arg;

    s->pong_call = NULL;
    if (resp->status != 202 && resp->status != 200)
        log_warn("PONG not accepted: %d %s", resp->status,
                 resp->status == 0 ? resp->error : resp->body);
}

static void send_pong(struct slave *s, const Agora__Slave__Event__Ping *ping)
{
    Agora__Slave__Call call = AGORA__SLAVE__CALL__INIT;
    Agora__Slave__Call__Pong pong = AGORA__SLAVE__CALL__PONG__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    struct http_header hdrs[4] = {
        { "Content-Type", "application/x-protobuf" },
        { "Accept", "application/x-protobuf" },
        { "Mesos-Stream-Id", s->stream_id },
        { "Authorization", s->auth_header },
    };
    uint8_t *buf;
    size_t len;

    if (s->agent_id == NULL || s->stream_id == NULL)
        return;
    if (ping != NULL && ping->has_seq) {
        pong.has_seq = 1;
        pong.seq = ping->seq;
    }
    aid.value = s->agent_id;
    call.has_type = 1;
    call.type = AGORA__SLAVE__CALL__TYPE__PONG;
    call.agent_id = &aid;
    call.pong = &pong;
    buf = pb_pack(&call.base, &len);
    if (s->pong_call != NULL)
        http_call_cancel(s->pong_call);
    s->pong_call =
        http_call_start(s->base, s->master_host, s->master_port, "POST", "/internal/v1/slave", hdrs,
                        s->auth_header ? 4 : 3, buf, len, 10.0, pong_cb, s);
    free(buf);
}

static void on_registered(struct slave *s, const Agora__Slave__Event__Registered *r)
{
    double interval = SLAVE_DEFAULT_PING_INTERVAL;
    unsigned missed = SLAVE_DEFAULT_MAX_MISSED_PINGS;

    if (r == NULL || r->agent_id == NULL || r->agent_id->value == NULL ||
        r->agent_id->value[0] == '\0' || strchr(r->agent_id->value, '/') != NULL) {
        slave_disconnect(s, "REGISTERED without a valid agent_id", false, SLAVE_BACKOFF_MAX);
        return;
    }
    if (s->agent_id != NULL && strcmp(s->agent_id, r->agent_id->value) != 0)
        log_warn("master assigned a new agent id %s (was %s)", r->agent_id->value, s->agent_id);
    if (s->agent_id == NULL || strcmp(s->agent_id, r->agent_id->value) != 0) {
        free(s->agent_id);
        s->agent_id = xstrdup(r->agent_id->value);
        ckpt_slave_id(s);
    }
    if (r->has_ping_interval_seconds && r->ping_interval_seconds > 0)
        interval = r->ping_interval_seconds;
    if (r->has_max_missed_pings && r->max_missed_pings > 0)
        missed = r->max_missed_pings;
    s->master_batches = r->has_batched_updates && r->batched_updates;
    s->ping_timeout = interval * missed;
    free(s->master_hostname);
    s->master_hostname = NULL;
    if (r->master_info != NULL && r->master_info->hostname != NULL)
        s->master_hostname = xstrdup(r->master_info->hostname);
    set_state(s, MASTER_REGISTERED);
    log_info("registered with master %s:%d as %s (ping timeout %.1fs)", s->master_host,
             s->master_port, s->agent_id, s->ping_timeout);
    metric_inc(s->m_registrations, 1);
    s->backoff = s->flags->registration_backoff_factor;
    ping_watchdog_reset(s);
    su_resume_all(s);
}

/* Returns -1 when the connection was torn down (stop decoding). */
static int handle_event(struct slave *s, const Agora__Slave__Event *ev)
{
    Agora__Slave__Event__Type type = ev->has_type ? ev->type : AGORA__SLAVE__EVENT__TYPE__UNKNOWN;

    if (s->state != MASTER_REGISTERED && type != AGORA__SLAVE__EVENT__TYPE__REGISTERED &&
        type != AGORA__SLAVE__EVENT__TYPE__ERROR) {
        log_warn("event %d before REGISTERED: ignored", (int)type);
        return 0;
    }
    switch (type) {
    case AGORA__SLAVE__EVENT__TYPE__REGISTERED:
        on_registered(s, ev->registered);
        return s->state == MASTER_REGISTERED ? 0 : -1;
    case AGORA__SLAVE__EVENT__TYPE__RUN_TASK:
        slave_on_run_task(s, ev->run_task);
        break;
    case AGORA__SLAVE__EVENT__TYPE__KILL_TASK:
        slave_on_kill_task(s, ev->kill_task);
        break;
    case AGORA__SLAVE__EVENT__TYPE__ACKNOWLEDGE:
        slave_on_acknowledge(s, ev->acknowledge);
        break;
    case AGORA__SLAVE__EVENT__TYPE__SHUTDOWN_FRAMEWORK:
        slave_on_shutdown_framework(s, ev->shutdown_framework);
        break;
    case AGORA__SLAVE__EVENT__TYPE__PING:
        ping_watchdog_reset(s);
        send_pong(s, ev->ping);
        break;
    case AGORA__SLAVE__EVENT__TYPE__ERROR: {
        char *why =
            xasprintf("master refused the slave: %s",
                      ev->error && ev->error->message ? ev->error->message : "(no message)");
        log_error("%s", why);
        slave_disconnect(s, why, false, SLAVE_BACKOFF_MAX);
        free(why);
        return -1;
    }
    default:
        log_warn("unknown event type %d: ignored", (int)type);
        break;
    }
    return 0;
}

static int on_record(const char *data, size_t len, void *arg)
{
    struct slave *s = arg;
    Agora__Slave__Event *ev;
    int rc;

    ev = agora__slave__event__unpack(&agora_pb_allocator, len, (const uint8_t *)data);
    if (ev == NULL) {
        log_warn("master sent an event that does not parse (%zu bytes): ignored", len);
        return 0;
    }
    rc = handle_event(s, ev);
    agora__slave__event__free_unpacked(ev, &agora_pb_allocator);
    return rc;
}

/* --------------------------------------------------------- connection */

static bool sub_bad_status;

static void sub_on_response(struct http_sub *sub, int status, struct evkeyvalq *headers, void *arg)
{
    struct slave *s = arg;
    const char *sid;

    if (status != 200) {
        log_warn("master answered SUBSCRIBE with %d", status);
        sub_bad_status = true;
        return;
    }
    sid = http_header_get(headers, "Mesos-Stream-Id");
    if (sid == NULL) {
        log_warn("master's SUBSCRIBE response has no Mesos-Stream-Id");
        sub_bad_status = true;
        return;
    }
    sub_bad_status = false;
    free(s->stream_id);
    s->stream_id = xstrdup(sid);
    s->decoder = rio_decoder_new(MAX_EVENT_SIZE);
    set_state(s, MASTER_REGISTERING);
}

static void sub_on_data(struct http_sub *sub, const char *data, size_t len, void *arg)
{
    struct slave *s = arg;
    char *err = NULL;

    if (sub_bad_status || s->decoder == NULL) {
        log_warn("master: %.*s", (int)(len > 300 ? 300 : len), data);
        return;
    }
    if (rio_decoder_feed(s->decoder, data, len, on_record, s, &err) < 0) {
        if (s->sub == sub) {
            /* Not torn down by an event: the stream itself is bad. */
            char *why = xasprintf("bad event stream: %s", err ? err : "?");
            slave_disconnect(s, why, false, SLAVE_BACKOFF_MIN);
            free(why);
        }
    }
    free(err);
}

static void sub_on_close(struct http_sub *sub, const char *reason, void *arg)
{
    struct slave *s = arg;

    s->sub = NULL;
    slave_disconnect(s, reason, true, SLAVE_BACKOFF_MIN);
}

static void connect_cb(evutil_socket_t fd, short what, void *arg)
{
    struct slave *s = arg;
    static const struct http_sub_callbacks cbs = { sub_on_response, sub_on_data, sub_on_close };
    struct http_header hdrs[3] = {
        { "Content-Type", "application/x-protobuf" },
        { "Accept", "application/x-protobuf" },
        { "Authorization", s->auth_header },
    };
    uint8_t *body;
    size_t len;

    if (s->state != MASTER_DISCONNECTED)
        return;
    if (s->master_host == NULL) {
        log_info("no leading master known yet; waiting for ZooKeeper");
        return;
    }
    body = build_subscribe(s, &len);
    sub_bad_status = false;
    set_state(s, MASTER_CONNECTING);
    s->sub = http_sub_open(s->base, s->master_host, s->master_port, "POST", "/internal/v1/slave",
                           hdrs, s->auth_header ? 3 : 2, body, len, 10.0, &cbs, s);
    free(body);
    if (s->sub == NULL)
        slave_disconnect(s, "cannot open a connection", true, SLAVE_BACKOFF_MAX);
}

/* ceiling: SLAVE_BACKOFF_MIN normally; SLAVE_BACKOFF_MAX after the master refused us
 * with an ERROR event. The delay is uniform in [0.5s, backoff]; backoff doubles per
 * failed attempt up to 30s and is reset by REGISTERED. */
void slave_schedule_connect(struct slave *s, double ceiling)
{
    double delay;
    struct timeval tv;

    if (ceiling > s->backoff)
        s->backoff = ceiling;
    delay = SLAVE_BACKOFF_MIN +
            (s->backoff - SLAVE_BACKOFF_MIN) * ((double)random() / (double)RAND_MAX);
    if (delay < SLAVE_BACKOFF_MIN)
        delay = SLAVE_BACKOFF_MIN;
    s->backoff *= 2;
    if (s->backoff > SLAVE_BACKOFF_MAX)
        s->backoff = SLAVE_BACKOFF_MAX;
    if (s->backoff < SLAVE_BACKOFF_MIN)
        s->backoff = SLAVE_BACKOFF_MIN;
    tv = time_tv(delay);
    log_info("connecting to master %s:%d in %.2fs", s->master_host ? s->master_host : "(none)",
             s->master_port, delay);
    event_add(s->backoff_timer, &tv);
}

/* ZooKeeper named a (new) leading master, or none (host NULL). */
static void on_leader(struct master_follow *f, const char *leader, int port, const char *name,
                      void *arg)
{
    struct slave *s = arg;
    char *host = leader ? xstrdup(leader) : NULL;

    if (host != NULL && s->master_host != NULL && strcmp(host, s->master_host) == 0 &&
        port == s->master_port) {
        free(host);
        return;
    }
    free(s->master_host);
    s->master_host = host;
    s->master_port = port;
    if (host != NULL)
        log_info("leading master is now %s:%d (%s)", host, port, name);
    else
        log_warn("no leading master known");
    /* A fresh leader deserves a fresh, short, jittered backoff. */
    s->backoff = s->flags->registration_backoff_factor > 0 ? s->flags->registration_backoff_factor
                                                           : SLAVE_BACKOFF_MIN;
    event_del(s->backoff_timer);
    if (s->state != MASTER_DISCONNECTED)
        slave_disconnect(s, "the leading master changed", false, 0);
    else if (host != NULL)
        slave_schedule_connect(s, 0);
}

int slave_conn_init(struct slave *s, char **err)
{
    struct slave_flags *flags = s->flags;
    s->backoff = flags->registration_backoff_factor > 0 ? flags->registration_backoff_factor
                                                        : SLAVE_BACKOFF_MIN;
    s->backoff_timer = evtimer_new(s->base, connect_cb, s);
    s->ping_timer = evtimer_new(s->base, ping_watchdog_cb, s);
    s->ping_timeout = SLAVE_DEFAULT_PING_INTERVAL * SLAVE_DEFAULT_MAX_MISSED_PINGS;
    if (flags->master == NULL || flags->master[0] == '\0') {
        *err = xstrdup("--master: required (HOST:PORT)");
        return -1;
    }
    char *e = NULL;
    s->follow = master_follow_new(flags->master, &e);
    if (s->follow == NULL || master_follow_start(s->follow, s->base, s->flags->zk_session_timeout,
                                                 on_leader, s, &e) < 0) {
        *err = xasprintf("--master=%s: %s", flags->master, e);
        free(e);
        return -1;
    }
    if (!master_follow_zk(s->follow)) {
        const char *first = NULL;
        master_follow_candidate(s->follow, 0, &first, &s->master_port);
        s->master_host = xstrdup(first);
    }
    return 0;
}
