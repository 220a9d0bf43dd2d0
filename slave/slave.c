/*
 * slave: the master connection and the task bookkeeping of agora-slave.
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
 * (common/detector.h): when the leader changes the slave drops its
 * connection and re-registers with the new one after a jittered delay
 * (uniform in [0.5s, --registration_backoff_factor]), so thousands of
 * slaves do not hit a fresh leader at once; while no leader is known it
 * waits. It never talks to a master ZooKeeper no longer names.
 *
 * Also owns frameworks and tasks: RUN_TASK, KILL_TASK, ACKNOWLEDGE,
 * SHUTDOWN_FRAMEWORK, the mapping of container exits to task states (as the
 * Mesos command executor does), and the deferred frees of retired objects.
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

#define BACKOFF_MIN 0.5
#define BACKOFF_MAX 30.0
#define DEFAULT_PING_INTERVAL 15.0
#define DEFAULT_MAX_MISSED_PINGS 5
#define MAX_EVENT_SIZE (16 * 1024 * 1024)
#define MAX_COMPLETED_TASKS 1000
#define MAX_COMPLETED_FRAMEWORKS 50
#define SLAVE_ZK_SESSION_TIMEOUT 10.0 /* detection only: nothing ephemeral */

static void slave_schedule_connect(struct slave *s, double ceiling);
static void free_deferred_cb(evutil_socket_t fd, short what, void *arg);

/* ------------------------------------------------------------- helpers */

double slave_now(void)
{
    struct timeval tv;

    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static struct timeval secs_tv(double secs)
{
    struct timeval tv;

    if (secs < 0)
        secs = 0;
    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* Deep copy of a message through its wire form. */
static void *pb_dup(const ProtobufCMessage *m)
{
    size_t len = protobuf_c_message_get_packed_size(m);
    uint8_t *buf = xmalloc(len ? len : 1);
    ProtobufCMessage *copy;

    protobuf_c_message_pack(m, buf);
    copy = protobuf_c_message_unpack(m->descriptor, &agora_pb_allocator, len, buf);
    free(buf);
    return copy;
}

static void pb_free(void *m)
{
    if (m != NULL)
        protobuf_c_message_free_unpacked(m, &agora_pb_allocator);
}

/* ------------------------------------------------------- child watchers */

struct child_watch {
    pid_t pid;
    child_exit_fn fn;
    void *arg;
    UT_hash_handle hh;
};

static struct child_watch *child_watches;

void slave_watch_child(pid_t pid, child_exit_fn fn, void *arg)
{
    struct child_watch *w = xcalloc(1, sizeof(*w));

    w->pid = pid;
    w->fn = fn;
    w->arg = arg;
    HASH_ADD(hh, child_watches, pid, sizeof(pid_t), w);
}

void slave_unwatch_child(pid_t pid)
{
    struct child_watch *w;

    HASH_FIND(hh, child_watches, &pid, sizeof(pid_t), w);
    if (w != NULL) {
        HASH_DEL(child_watches, w);
        free(w);
    }
}

void slave_reap_children(struct slave *s)
{
    pid_t pid;
    int status;
    struct child_watch *w;

    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        HASH_FIND(hh, child_watches, &pid, sizeof(pid_t), w);
        if (w == NULL)
            continue; /* monitors: watched by pidfd, only reaped here */
        HASH_DEL(child_watches, w);
        w->fn(pid, status, w->arg);
        free(w);
    }
}

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
    slave_disconnect(s, why, false, BACKOFF_MIN);
}

static void ping_watchdog_reset(struct slave *s)
{
    struct timeval tv = secs_tv(s->ping_timeout);

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
    *len = agora__slave__call__get_packed_size(&call);
    buf = xmalloc(*len ? *len : 1);
    agora__slave__call__pack(&call, buf);

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
    struct http_header hdrs[3] = {
        { "Content-Type", "application/x-protobuf" },
        { "Accept", "application/x-protobuf" },
        { "Mesos-Stream-Id", s->stream_id },
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
    len = agora__slave__call__get_packed_size(&call);
    buf = xmalloc(len ? len : 1);
    agora__slave__call__pack(&call, buf);
    if (s->pong_call != NULL)
        http_call_cancel(s->pong_call);
    s->pong_call = http_call_start(s->base, s->master_host, s->master_port, "POST",
                                   "/internal/v1/slave", hdrs, 3, buf, len, 10.0, pong_cb, s);
    free(buf);
}

static void on_registered(struct slave *s, const Agora__Slave__Event__Registered *r)
{
    double interval = DEFAULT_PING_INTERVAL;
    unsigned missed = DEFAULT_MAX_MISSED_PINGS;

    if (r == NULL || r->agent_id == NULL || r->agent_id->value == NULL ||
        r->agent_id->value[0] == '\0' || strchr(r->agent_id->value, '/') != NULL) {
        slave_disconnect(s, "REGISTERED without a valid agent_id", false, BACKOFF_MAX);
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

static bool valid_path_component(const char *id)
{
    return id != NULL && id[0] != '\0' && strlen(id) < 256 && strchr(id, '/') == NULL &&
           strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

struct framework *slave_find_framework(struct slave *s, const char *id)
{
    struct framework *fw = NULL;

    if (id != NULL)
        HASH_FIND_STR(s->frameworks, id, fw);
    return fw;
}

struct framework *slave_add_framework(struct slave *s, const Mesos__V1__FrameworkInfo *info)
{
    struct framework *fw = slave_find_framework(s, info->id->value);

    if (fw != NULL) {
        pb_free(fw->info);
        fw->info = pb_dup(&info->base);
        return fw;
    }
    fw = xcalloc(1, sizeof(*fw));
    fw->id = xstrdup(info->id->value);
    fw->info = pb_dup(&info->base);
    fw->completed_tasks = json_array();
    HASH_ADD_KEYPTR(hh, s->frameworks, fw->id, strlen(fw->id), fw);
    return fw;
}

struct task *slave_find_task(struct slave *s, const char *fw_id, const char *task_id)
{
    struct framework *fw = slave_find_framework(s, fw_id);
    struct task *t = NULL;

    if (fw != NULL && task_id != NULL)
        HASH_FIND_STR(fw->tasks, task_id, t);
    return t;
}

struct task *task_new(struct framework *fw, Mesos__V1__TaskInfo *info)
{
    struct task *t = xcalloc(1, sizeof(*t));

    t->id = xstrdup(info->task_id->value);
    t->fw = fw;
    t->info = info;
    t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
    su_init(&t->updates);
    return t;
}

static void task_free(struct slave *s, struct task *t)
{
    if (t->health != NULL)
        health_stop(t->health);
    if (s->containerizer != NULL)
        s->containerizer->destroy(s->containerizer, t);
    su_cleanup(&t->updates);
    pb_free(t->info);
    pb_free(t->latest);
    free(t->id);
    free(t->container_id);
    free(t->sandbox);
    free(t->meta_dir);
    free(t);
}

static void framework_free(struct framework *fw)
{
    pb_free(fw->info);
    json_decref(fw->completed_tasks);
    free(fw->id);
    free(fw);
}

static bool fw_has_capability(struct framework *fw, Mesos__V1__FrameworkInfo__Capability__Type c)
{
    size_t i;

    for (i = 0; i < fw->info->n_capabilities; i++)
        if (fw->info->capabilities[i]->has_type && fw->info->capabilities[i]->type == c)
            return true;
    return false;
}

void slave_task_update(struct slave *s, struct task *t, Mesos__V1__TaskState state,
                       const char *message, int reason, int healthy)
{
    Mesos__V1__TaskStatus *st = xcalloc(1, sizeof(*st));
    uint8_t uuid[16];

    mesos__v1__task_status__init(st);
    st->task_id = xcalloc(1, sizeof(*st->task_id));
    mesos__v1__task_id__init(st->task_id);
    st->task_id->value = xstrdup(t->id);
    st->state = state;
    if (message != NULL)
        st->message = xstrdup(message);
    st->has_source = 1;
    st->source = (reason == MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED ||
                  reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID)
                     ? MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT
                     : MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    if (reason >= 0) {
        st->has_reason = 1;
        st->reason = (Mesos__V1__TaskStatus__Reason)reason;
    }
    if (s->agent_id != NULL) {
        st->agent_id = xcalloc(1, sizeof(*st->agent_id));
        mesos__v1__agent_id__init(st->agent_id);
        st->agent_id->value = xstrdup(s->agent_id);
    }
    st->executor_id = xcalloc(1, sizeof(*st->executor_id));
    mesos__v1__executor_id__init(st->executor_id);
    st->executor_id->value = xstrdup(t->id);
    st->has_timestamp = 1;
    st->timestamp = slave_now();
    id_uuid_bytes(uuid);
    st->has_uuid = 1;
    st->uuid.len = 16;
    st->uuid.data = xmalloc(16);
    memcpy(st->uuid.data, uuid, 16);
    if (healthy >= 0) {
        st->has_healthy = 1;
        st->healthy = healthy ? 1 : 0;
    }
    if (t->container_id != NULL) {
        st->container_status = xcalloc(1, sizeof(*st->container_status));
        mesos__v1__container_status__init(st->container_status);
        st->container_status->container_id = xcalloc(1, sizeof(Mesos__V1__ContainerID));
        mesos__v1__container_id__init(st->container_status->container_id);
        st->container_status->container_id->value = xstrdup(t->container_id);
        if (t->monitor_pid > 0) {
            st->container_status->has_executor_pid = 1;
            st->container_status->executor_pid = (uint32_t)t->monitor_pid;
        }
    }
    log_info("task %s of framework %s: %s -> %s%s%s", t->id, t->fw->id, task_state_name(t->state),
             task_state_name(state), message ? ": " : "", message ? message : "");
    pb_free(t->latest);
    t->latest = pb_dup(&st->base);
    t->state = state;
    if (task_state_terminal(state))
        t->terminal = true;
    su_enqueue(s, t, st);
}

void slave_task_running(struct slave *s, struct task *t)
{
    if (t->terminal || t->state != MESOS__V1__TASK_STATE__TASK_STARTING)
        return;
    slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_RUNNING, NULL, -1, -1);
    if (t->info->health_check != NULL && t->health == NULL && !t->killed)
        t->health = health_start(s, t);
}

void slave_task_exited(struct slave *s, struct task *t, int wait_status, const char *launch_error)
{
    Mesos__V1__TaskState state;
    int reason = -1, healthy = -1;
    char *msg;

    if (t->health != NULL) {
        health_stop(t->health);
        t->health = NULL;
    }
    if (t->terminal)
        return;
    if (launch_error != NULL) {
        state = MESOS__V1__TASK_STATE__TASK_FAILED;
        reason = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED;
        msg = xstrdup(launch_error);
    } else if (wait_status < 0) {
        state = MESOS__V1__TASK_STATE__TASK_FAILED;
        reason = MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED;
        msg = xstrdup("Task monitor exited without an exit status");
    } else {
        if (WIFEXITED(wait_status))
            msg = xasprintf("Command exited with status %d", WEXITSTATUS(wait_status));
        else if (WIFSIGNALED(wait_status))
            msg = xasprintf("Command terminated with signal %s", strsignal(WTERMSIG(wait_status)));
        else
            msg = xasprintf("Command ended with wait status %d", wait_status);
        if (t->killed || t->fw->shutting_down) {
            state = MESOS__V1__TASK_STATE__TASK_KILLED;
            if (t->health_kill) {
                reason = MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
                healthy = 0;
            }
        } else if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
            state = MESOS__V1__TASK_STATE__TASK_FINISHED;
        } else {
            state = MESOS__V1__TASK_STATE__TASK_FAILED;
            if (cgroups_oom_killed(t->container_id)) {
                reason = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY;
                free(msg);
                msg = xstrdup("Memory limit exceeded");
            }
        }
    }
    switch (state) {
    case MESOS__V1__TASK_STATE__TASK_FINISHED:
        metric_inc(s->m_tasks_finished, 1);
        break;
    case MESOS__V1__TASK_STATE__TASK_KILLED:
        metric_inc(s->m_tasks_killed, 1);
        break;
    default:
        metric_inc(s->m_tasks_failed, 1);
        break;
    }
    slave_task_update(s, t, state, msg, reason, healthy);
    free(msg);
    slave_task_maybe_complete(s, t);
}

void slave_kill_task(struct slave *s, struct task *t, double grace, bool health)
{
    if (t->terminal || t->killed)
        return;
    t->killed = true;
    t->health_kill = health;
    ckpt_task_file(t, "killed", "1\n");
    if (t->health != NULL) {
        health_stop(t->health);
        t->health = NULL;
    }
    if (grace < 0) {
        if (t->info->kill_policy != NULL && t->info->kill_policy->grace_period != NULL)
            grace = (double)t->info->kill_policy->grace_period->nanoseconds / 1e9;
        else
            grace = s->flags->executor_shutdown_grace_period;
    }
    if (fw_has_capability(t->fw, MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE))
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_KILLING, NULL, -1, health ? 0 : -1);
    if (t->cont != NULL)
        s->containerizer->kill(s->containerizer, t, grace);
    else
        slave_task_exited(s, t, SIGKILL, NULL);
}

static void framework_maybe_complete(struct slave *s, struct framework *fw)
{
    json_t *j;

    if (HASH_COUNT(fw->tasks) > 0)
        return;
    j = json_pack("{s:s, s:s, s:s, s:[], s:o}", "id", fw->id, "name",
                  fw->info->name ? fw->info->name : "", "user",
                  fw->info->user ? fw->info->user : "", "executors", "completed_executors",
                  json_copy(fw->completed_tasks));
    json_array_append_new(s->completed_frameworks, j);
    while (json_array_size(s->completed_frameworks) > MAX_COMPLETED_FRAMEWORKS)
        json_array_remove(s->completed_frameworks, 0);
    HASH_DEL(s->frameworks, fw);
    ckpt_framework_remove(s, fw);
    log_info("framework %s has no more tasks on this slave", fw->id);
    s->dead_fws = xrealloc(s->dead_fws, (s->ndead_fws + 1) * sizeof(*s->dead_fws));
    s->dead_fws[s->ndead_fws++] = fw;
    event_active(s->free_ev, EV_TIMEOUT, 0);
}

void slave_task_maybe_complete(struct slave *s, struct task *t)
{
    struct framework *fw = t->fw;

    if (!t->terminal)
        return;
    /* A framework being shut down will not acknowledge anything. */
    if (t->updates.head != NULL && !fw->shutting_down)
        return;
    HASH_DEL(fw->tasks, t);
    json_array_append_new(fw->completed_tasks, slave_task_json(s, t));
    while (json_array_size(fw->completed_tasks) > MAX_COMPLETED_TASKS)
        json_array_remove(fw->completed_tasks, 0);
    ckpt_task_remove(s, t);
    if (t->health != NULL) {
        health_stop(t->health);
        t->health = NULL;
    }
    su_cleanup(&t->updates);
    s->dead_tasks = xrealloc(s->dead_tasks, (s->ndead_tasks + 1) * sizeof(*s->dead_tasks));
    s->dead_tasks[s->ndead_tasks++] = t;
    event_active(s->free_ev, EV_TIMEOUT, 0);
    framework_maybe_complete(s, fw);
}

static void on_run_task(struct slave *s, const Agora__Slave__Event__RunTask *rt)
{
    struct framework *fw;
    struct task *t;
    char cid[ID_UUID_STRLEN], *err = NULL;
    Mesos__V1__TaskInfo *ti;
    const char *tid;

    if (rt == NULL || rt->framework_info == NULL || rt->framework_info->id == NULL ||
        rt->task == NULL || rt->task->task_id == NULL) {
        log_warn("RUN_TASK without framework_info.id or task.task_id: ignored");
        return;
    }
    if (!valid_path_component(rt->framework_info->id->value)) {
        log_warn("RUN_TASK: framework_info.id '%s' is not usable as a directory name: ignored",
                 rt->framework_info->id->value);
        return;
    }
    tid = rt->task->task_id->value;
    if (slave_find_task(s, rt->framework_info->id->value, tid) != NULL) {
        log_warn("RUN_TASK: task %s of framework %s already exists: ignored", tid,
                 rt->framework_info->id->value);
        return;
    }
    fw = slave_add_framework(s, rt->framework_info);
    fw->shutting_down = false;
    ckpt_framework(s, fw);
    ti = pb_dup(&rt->task->base);
    t = task_new(fw, ti);
    id_uuid_string(cid);
    t->container_id = xstrdup(cid);
    t->launched_at = slave_now();
    if (valid_path_component(tid)) {
        t->sandbox = xasprintf("%s/slaves/%s/frameworks/%s/executors/%s/runs/%s",
                               s->flags->work_dir, s->agent_id, fw->id, tid, cid);
        t->meta_dir = xasprintf("%s/meta/frameworks/%s/tasks/%s", s->flags->work_dir, fw->id, tid);
    } else {
        t->sandbox = xstrdup("");
        t->meta_dir =
            xasprintf("%s/meta/frameworks/%s/tasks/invalid-%s", s->flags->work_dir, fw->id, cid);
    }
    HASH_ADD_KEYPTR(hh, fw->tasks, t->id, strlen(t->id), t);
    ckpt_task(s, t);
    metric_inc(s->m_tasks_launched, 1);

    if (!valid_path_component(tid)) {
        err = xasprintf("task_id: '%s' is not a valid task id (empty, '.', '..' or has '/')", tid);
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_ERROR, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, -1);
        goto fail;
    }
    /* A Docker task without a command runs the image's entrypoint. */
    if (ti->executor != NULL ||
        (ti->command == NULL && (ti->container == NULL ||
                                 ti->container->type != MESOS__V1__CONTAINER_INFO__TYPE__DOCKER))) {
        err = xstrdup(ti->executor != NULL ? "task.executor: custom executors are not supported"
                                           : "task.command: missing");
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_ERROR, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, -1);
        goto fail;
    }
    if (mkdir_p(t->sandbox) < 0) {
        err = xasprintf("Failed to create sandbox %s: %s", t->sandbox, strerror(errno));
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_FAILED, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, -1);
        goto fail;
    }
    slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_STARTING, NULL, -1, -1);
    if (s->containerizer->launch(s->containerizer, t, &err) < 0) {
        log_warn("task %s: launch failed: %s", t->id, err);
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_FAILED, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, -1);
        metric_inc(s->m_tasks_failed, 1);
        goto fail;
    }
    return;
fail:
    free(err);
    slave_task_maybe_complete(s, t);
}

static void on_kill_task(struct slave *s, const Agora__Slave__Event__KillTask *kt)
{
    struct task *t;
    double grace = -1;

    if (kt == NULL || kt->framework_id == NULL || kt->task_id == NULL)
        return;
    t = slave_find_task(s, kt->framework_id->value, kt->task_id->value);
    if (t == NULL) {
        log_warn("KILL_TASK: unknown task %s of framework %s", kt->task_id->value,
                 kt->framework_id->value);
        return;
    }
    if (kt->kill_policy != NULL && kt->kill_policy->grace_period != NULL)
        grace = (double)kt->kill_policy->grace_period->nanoseconds / 1e9;
    log_info("killing task %s of framework %s", t->id, t->fw->id);
    slave_kill_task(s, t, grace, false);
}

static void on_acknowledge(struct slave *s, const Agora__Slave__Event__Acknowledge *a)
{
    struct task *t;

    if (a == NULL || a->framework_id == NULL || a->task_id == NULL)
        return;
    t = slave_find_task(s, a->framework_id->value, a->task_id->value);
    if (t == NULL) {
        log_debug("ACKNOWLEDGE for unknown task %s", a->task_id->value);
        return;
    }
    su_acknowledge(s, t, a->uuid.data, a->uuid.len);
}

static void on_shutdown_framework(struct slave *s, const Agora__Slave__Event__ShutdownFramework *sf)
{
    struct framework *fw;
    struct task *t, *tmp, **all;
    size_t n = 0, i;

    if (sf == NULL || sf->framework_id == NULL)
        return;
    fw = slave_find_framework(s, sf->framework_id->value);
    if (fw == NULL)
        return;
    log_info("shutting down framework %s", fw->id);
    fw->shutting_down = true;
    all = xcalloc(HASH_COUNT(fw->tasks) + 1, sizeof(*all));
    HASH_ITER (hh, fw->tasks, t, tmp)
        all[n++] = t;
    /* Iterate over a copy: completing a task removes it from the hash. */
    for (i = 0; i < n; i++) {
        if (all[i]->terminal)
            slave_task_maybe_complete(s, all[i]);
        else
            slave_kill_task(s, all[i], -1, false);
    }
    free(all);
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
        on_run_task(s, ev->run_task);
        break;
    case AGORA__SLAVE__EVENT__TYPE__KILL_TASK:
        on_kill_task(s, ev->kill_task);
        break;
    case AGORA__SLAVE__EVENT__TYPE__ACKNOWLEDGE:
        on_acknowledge(s, ev->acknowledge);
        break;
    case AGORA__SLAVE__EVENT__TYPE__SHUTDOWN_FRAMEWORK:
        on_shutdown_framework(s, ev->shutdown_framework);
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
        slave_disconnect(s, why, false, BACKOFF_MAX);
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
            slave_disconnect(s, why, false, BACKOFF_MIN);
            free(why);
        }
    }
    free(err);
}

static void sub_on_close(struct http_sub *sub, const char *reason, void *arg)
{
    struct slave *s = arg;

    s->sub = NULL;
    slave_disconnect(s, reason, true, BACKOFF_MIN);
}

static void connect_cb(evutil_socket_t fd, short what, void *arg)
{
    struct slave *s = arg;
    static const struct http_sub_callbacks cbs = { sub_on_response, sub_on_data, sub_on_close };
    struct http_header hdrs[2] = {
        { "Content-Type", "application/x-protobuf" },
        { "Accept", "application/x-protobuf" },
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
                           hdrs, 2, body, len, 10.0, &cbs, s);
    free(body);
    if (s->sub == NULL)
        slave_disconnect(s, "cannot open a connection", true, BACKOFF_MAX);
}

/* ceiling: BACKOFF_MIN normally; BACKOFF_MAX after the master refused us
 * with an ERROR event. The delay is uniform in [0.5s, backoff]; backoff doubles per
 * failed attempt up to 30s and is reset by REGISTERED. */
static void slave_schedule_connect(struct slave *s, double ceiling)
{
    double delay;
    struct timeval tv;

    if (ceiling > s->backoff)
        s->backoff = ceiling;
    delay = BACKOFF_MIN + (s->backoff - BACKOFF_MIN) * ((double)random() / (double)RAND_MAX);
    if (delay < BACKOFF_MIN)
        delay = BACKOFF_MIN;
    s->backoff *= 2;
    if (s->backoff > BACKOFF_MAX)
        s->backoff = BACKOFF_MAX;
    if (s->backoff < BACKOFF_MIN)
        s->backoff = BACKOFF_MIN;
    tv = secs_tv(delay);
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
                                                           : BACKOFF_MIN;
    event_del(s->backoff_timer);
    if (s->state != MASTER_DISCONNECTED)
        slave_disconnect(s, "the leading master changed", false, 0);
    else if (host != NULL)
        slave_schedule_connect(s, 0);
}

/* ------------------------------------------------- resources, attributes */

static void detect_resources(struct slave *s, struct resources *r)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    double mem_mb = (double)pages * (double)psize / (1024.0 * 1024.0);
    double disk_mb = 0;
    struct statvfs vfs;

    if (ncpu < 1)
        ncpu = 1;
    mem_mb -= 1024;
    if (mem_mb < 256)
        mem_mb = 256;
    if (statvfs(s->flags->work_dir, &vfs) == 0) {
        disk_mb = (double)vfs.f_blocks * (double)vfs.f_frsize / (1024.0 * 1024.0);
        /* As Mesos: leave 5GB for the system, or half of a small disk. */
        disk_mb = disk_mb >= 10240 ? disk_mb - 5120 : disk_mb / 2;
    }
    res_add_scalar(r, "cpus", "*", (double)ncpu);
    res_add_scalar(r, "mem", "*", (double)(long long)mem_mb);
    res_add_scalar(r, "disk", "*", (double)(long long)disk_mb);
    res_add_range(r, "ports", "*", 31000, 32000);
}

static bool res_has(const struct resources *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, name) == 0)
            return true;
    return false;
}

static int setup_resources(struct slave *s, char **err)
{
    struct resources detected, *r = &s->resources;
    static const char *names[] = { "cpus", "mem", "disk", "ports" };
    size_t i, j;
    char *text;

    res_init(r);
    if (s->flags->resources != NULL && s->flags->resources[0] != '\0') {
        char *perr = NULL;
        if (res_parse(s->flags->resources, NULL, r, &perr) < 0) {
            *err = xasprintf("--resources: %s", perr);
            free(perr);
            return -1;
        }
    }
    /* Detected amounts fill in what --resources leaves out (as Mesos). */
    res_init(&detected);
    detect_resources(s, &detected);
    for (i = 0; i < 4; i++) {
        if (res_has(r, names[i]))
            continue;
        for (j = 0; j < detected.n; j++) {
            if (strcmp(detected.v[j].name, names[i]) != 0)
                continue;
            if (detected.v[j].type == RES_SCALAR)
                res_add_scalar(r, names[i], "*", (double)detected.v[j].milli / 1000.0);
            else if (detected.v[j].type == RES_RANGES && detected.v[j].nranges > 0)
                res_add_range(r, names[i], "*", detected.v[j].ranges[0].begin,
                              detected.v[j].ranges[0].end);
        }
    }
    res_cleanup(&detected);
    text = res_format(r);
    log_info("resources: %s", text);
    free(text);
    return 0;
}

static Mesos__V1__Value__Scalar *new_scalar(double v)
{
    Mesos__V1__Value__Scalar *sc = xcalloc(1, sizeof(*sc));

    mesos__v1__value__scalar__init(sc);
    sc->value = v;
    return sc;
}

/* "rack:a;zone:b;weight:2;slots:[1-4];disks:{a,b}" as Mesos parses it. */
static int setup_attributes(struct slave *s, char **err)
{
    char *text, *save = NULL, *item, *colon, *end;
    Mesos__V1__Attribute *a;
    double d;

    if (s->flags->attributes == NULL || s->flags->attributes[0] == '\0')
        return 0;
    text = xstrdup(s->flags->attributes);
    for (item = strtok_r(text, ";", &save); item != NULL; item = strtok_r(NULL, ";", &save)) {
        colon = strchr(item, ':');
        if (colon == NULL || colon == item || colon[1] == '\0') {
            *err = xasprintf("--attributes: '%s' is not name:value", item);
            free(text);
            return -1;
        }
        *colon = '\0';
        a = xcalloc(1, sizeof(*a));
        mesos__v1__attribute__init(a);
        a->name = xstrdup(item);
        errno = 0;
        d = strtod(colon + 1, &end);
        if (errno == 0 && *end == '\0') {
            a->type = MESOS__V1__VALUE__TYPE__SCALAR;
            a->scalar = new_scalar(d);
        } else if (colon[1] == '[' || colon[1] == '{') {
            struct resources r;
            char *spec = xasprintf("x:%s", colon + 1), *perr = NULL;
            size_t i;
            res_init(&r);
            if (res_parse(spec, NULL, &r, &perr) < 0 || r.n != 1) {
                *err = xasprintf("--attributes: '%s': %s", colon + 1, perr ? perr : "bad value");
                free(perr);
                free(spec);
                res_cleanup(&r);
                pb_free(a);
                free(text);
                return -1;
            }
            if (r.v[0].type == RES_RANGES) {
                a->type = MESOS__V1__VALUE__TYPE__RANGES;
                a->ranges = xcalloc(1, sizeof(*a->ranges));
                mesos__v1__value__ranges__init(a->ranges);
                a->ranges->n_range = r.v[0].nranges;
                a->ranges->range = xcalloc(r.v[0].nranges + 1, sizeof(*a->ranges->range));
                for (i = 0; i < r.v[0].nranges; i++) {
                    a->ranges->range[i] = xcalloc(1, sizeof(Mesos__V1__Value__Range));
                    mesos__v1__value__range__init(a->ranges->range[i]);
                    a->ranges->range[i]->begin = r.v[0].ranges[i].begin;
                    a->ranges->range[i]->end = r.v[0].ranges[i].end;
                }
            } else {
                a->type = MESOS__V1__VALUE__TYPE__SET;
                a->set = xcalloc(1, sizeof(*a->set));
                mesos__v1__value__set__init(a->set);
                a->set->n_item = r.v[0].nitems;
                a->set->item = xcalloc(r.v[0].nitems + 1, sizeof(char *));
                for (i = 0; i < r.v[0].nitems; i++)
                    a->set->item[i] = xstrdup(r.v[0].items[i]);
            }
            res_cleanup(&r);
            free(spec);
        } else {
            a->type = MESOS__V1__VALUE__TYPE__TEXT;
            a->text = xcalloc(1, sizeof(*a->text));
            mesos__v1__value__text__init(a->text);
            a->text->value = xstrdup(colon + 1);
        }
        s->attributes = xrealloc(s->attributes, (s->nattributes + 1) * sizeof(*s->attributes));
        s->attributes[s->nattributes++] = a;
    }
    free(text);
    return 0;
}

/* ------------------------------------------------------------- lifecycle */

static double metric_active_tasks(void *arg)
{
    struct slave *s = arg;
    struct framework *fw, *tmp;
    double n = 0;

    HASH_ITER (hh, s->frameworks, fw, tmp)
        n += HASH_COUNT(fw->tasks);
    return n;
}

static double metric_registered(void *arg)
{
    struct slave *s = arg;

    return s->state == MASTER_REGISTERED ? 1 : 0;
}

struct slave *slave_new(struct event_base *base, struct slave_flags *flags, char **err)
{
    struct slave *s = xcalloc(1, sizeof(*s));
    char host[HOST_NAME_MAX + 1];

    s->base = base;
    s->flags = flags;
    s->start_time = slave_now();
    s->completed_frameworks = json_array();
    s->backoff =
        flags->registration_backoff_factor > 0 ? flags->registration_backoff_factor : BACKOFF_MIN;
    srandom((unsigned)(getpid() ^ (long)(s->start_time * 1000)));
    if (flags->master == NULL || flags->master[0] == '\0') {
        *err = xstrdup("--master: required (HOST:PORT)");
        goto fail;
    }
    char *e = NULL;
    s->follow = master_follow_new(flags->master, &e);
    if (s->follow == NULL ||
        master_follow_start(s->follow, base, SLAVE_ZK_SESSION_TIMEOUT, on_leader, s, &e) < 0) {
        *err = xasprintf("--master=%s: %s", flags->master, e);
        free(e);
        goto fail;
    }
    if (!master_follow_zk(s->follow)) {
        const char *first = NULL;
        master_follow_candidate(s->follow, 0, &first, &s->master_port);
        s->master_host = xstrdup(first);
    }
    if (flags->hostname != NULL && flags->hostname[0] != '\0') {
        s->hostname = xstrdup(flags->hostname);
    } else {
        if (gethostname(host, sizeof(host)) < 0)
            snprintf(host, sizeof(host), "%s", flags->ip);
        host[sizeof(host) - 1] = '\0';
        s->hostname = xstrdup(host);
    }
    if (mkdir_p(flags->work_dir) < 0) {
        *err = xasprintf("--work_dir=%s: %s", flags->work_dir, strerror(errno));
        goto fail;
    }
    /* Sandboxes and MESOS_SANDBOX must be absolute paths. */
    {
        char *abs = realpath(flags->work_dir, NULL);
        if (abs == NULL) {
            *err = xasprintf("--work_dir=%s: %s", flags->work_dir, strerror(errno));
            goto fail;
        }
        free(flags->work_dir);
        flags->work_dir = abs;
    }
    if (setup_resources(s, err) < 0 || setup_attributes(s, err) < 0)
        goto fail;
    s->containerizer = composing_containerizer_new(s, err);
    if (s->containerizer == NULL)
        goto fail;
    s->backoff_timer = evtimer_new(base, connect_cb, s);
    s->free_ev = event_new(base, -1, 0, free_deferred_cb, s);
    s->ping_timer = evtimer_new(base, ping_watchdog_cb, s);
    s->ping_timeout = DEFAULT_PING_INTERVAL * DEFAULT_MAX_MISSED_PINGS;

    s->m_tasks_launched =
        metrics_counter("agora_slave_tasks_launched_total", "Tasks received from the master");
    s->m_tasks_finished =
        metrics_counter("agora_slave_tasks_finished_total", "Tasks that exited 0");
    s->m_tasks_failed = metrics_counter("agora_slave_tasks_failed_total", "Tasks that failed");
    s->m_tasks_killed = metrics_counter("agora_slave_tasks_killed_total", "Tasks killed");
    s->m_updates_sent = metrics_counter("agora_slave_status_updates_sent_total",
                                        "Status update sends, retries included");
    s->m_updates_acked = metrics_counter("agora_slave_status_updates_acknowledged_total",
                                         "Status updates acknowledged");
    s->m_registrations =
        metrics_counter("agora_slave_registrations_total", "Successful (re-)registrations");
    s->m_disconnects =
        metrics_counter("agora_slave_master_disconnects_total", "Lost master connections");
    metrics_gauge_fn("agora_slave_tasks_active", "Tasks not yet retired", metric_active_tasks, s);
    metrics_gauge_fn("agora_slave_registered", "1 while registered with a master",
                     metric_registered, s);
    return s;
fail:
    slave_free(s);
    return NULL;
}

int slave_start(struct slave *s, char **err)
{
    struct timeval now = { 0, 0 };

    if (ckpt_recover(s, err) < 0)
        return -1;
    if (s->containerizer->recovered != NULL)
        s->containerizer->recovered(s->containerizer);
    /* First attempt right away; the backoff applies to retries. */
    event_add(s->backoff_timer, &now);
    return 0;
}

static void free_deferred(struct slave *s)
{
    size_t i;

    for (i = 0; i < s->ndead_tasks; i++)
        task_free(s, s->dead_tasks[i]);
    free(s->dead_tasks);
    s->dead_tasks = NULL;
    s->ndead_tasks = 0;
    for (i = 0; i < s->ndead_fws; i++)
        framework_free(s->dead_fws[i]);
    free(s->dead_fws);
    s->dead_fws = NULL;
    s->ndead_fws = 0;
}

static void free_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    free_deferred(arg);
}

bool slave_container_in_use(const char *cid, void *arg)
{
    struct slave *s = arg;
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;

    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        HASH_ITER (hh, fw->tasks, t, ttmp) {
            if (t->container_id != NULL && strcmp(t->container_id, cid) == 0)
                return true;
        }
    }
    return false;
}

void slave_cron(struct slave *s)
{
    free_deferred(s);
    if (s->cron_ticks++ % 30 == 0)
        cgroups_sweep(slave_container_in_use, s);
}

void slave_free(struct slave *s)
{
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;
    struct child_watch *w, *wtmp;
    size_t i;

    if (s == NULL)
        return;
    master_follow_free(s->follow);
    if (s->sub != NULL)
        http_sub_close(s->sub);
    if (s->pong_call != NULL)
        http_call_cancel(s->pong_call);
    if (s->decoder != NULL)
        rio_decoder_free(s->decoder);
    free_deferred(s);
    /* Running tasks are left to their monitors; a restart re-adopts them. */
    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        HASH_ITER (hh, fw->tasks, t, ttmp) {
            HASH_DEL(fw->tasks, t);
            task_free(s, t);
        }
        HASH_DEL(s->frameworks, fw);
        framework_free(fw);
    }
    HASH_ITER (hh, child_watches, w, wtmp) {
        HASH_DEL(child_watches, w);
        free(w);
    }
    if (s->containerizer != NULL)
        s->containerizer->free(s->containerizer);
    if (s->backoff_timer != NULL)
        event_free(s->backoff_timer);
    if (s->ping_timer != NULL)
        event_free(s->ping_timer);
    if (s->free_ev != NULL)
        event_free(s->free_ev);
    for (i = 0; i < s->nattributes; i++)
        pb_free(s->attributes[i]);
    free(s->attributes);
    res_cleanup(&s->resources);
    json_decref(s->completed_frameworks);
    free(s->agent_id);
    free(s->hostname);
    free(s->master_host);
    free(s->master_hostname);
    free(s->stream_id);
    free(s);
}

/* ------------------------------------------------------------- /state */

json_t *slave_task_json(struct slave *s, struct task *t)
{
    struct resources r;
    char *err = NULL;
    json_t *task, *statuses, *exec, *res_json;

    res_init(&r);
    if (res_from_pb(t->info->resources, t->info->n_resources, &r, &err) < 0)
        free(err);
    res_json = res_to_json_summary(&r);
    res_cleanup(&r);
    statuses = json_array();
    if (t->latest != NULL)
        json_array_append_new(statuses,
                              json_pack("{s:s, s:f}", "state", task_state_name(t->latest->state),
                                        "timestamp", t->latest->timestamp));
    task = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:I, s:I}", "id", t->id, "name",
                     t->info->name ? t->info->name : "", "framework_id", t->fw->id, "executor_id",
                     "", "slave_id", s->agent_id ? s->agent_id : "", "state",
                     task_state_name(t->state), "resources", json_deep_copy(res_json), "statuses",
                     statuses, "container_id", t->container_id ? t->container_id : "", "pid",
                     (json_int_t)t->task_pid, "monitor_pid", (json_int_t)t->monitor_pid);
    if (t->latest != NULL && t->latest->has_healthy)
        json_object_set_new(task, "healthy", json_boolean(t->latest->healthy));
    /* The command executor of Mesos: one executor per task, id = task id. */
    exec =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:[o], s:[], s:[]}", "id", t->id, "name",
                  "Command Executor", "source", t->id, "container",
                  t->container_id ? t->container_id : "", "directory", t->sandbox ? t->sandbox : "",
                  "resources", res_json, "tasks", task, "queued_tasks", "completed_tasks");
    if (t->terminal) {
        /* Completed: the task moves to completed_tasks. */
        json_t *tasks = json_object_get(exec, "tasks");
        json_object_set(exec, "completed_tasks", tasks);
        json_object_set_new(exec, "tasks", json_array());
    }
    return exec;
}
