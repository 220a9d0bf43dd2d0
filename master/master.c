/*
 * master.c: lifecycle of the master and its in-memory model — frameworks,
 * slaves and tasks — with the one set_state() per session kind, the
 * deferred-work queue and the encoding of events onto framework and slave
 * streams. Protocol handling lives in scheduler_api.c and slave_api.c.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include <event2/event.h>
#include <utlist.h>

#include "auth.h"
#include "master.h"
#include "allocator.h"
#include "http.h"
#include "jwt.h"
#include "rest.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "pbjson.h"
#include "recordio.h"
#include "pbutil.h"
#include "timeutil.h"

/* ------------------------------------------------------------- helpers */

static const char *const fw_state_names[] = {
    [FW_STATE_ACTIVE] = "ACTIVE",
    [FW_STATE_DISCONNECTED] = "DISCONNECTED",
    [FW_STATE_RECOVERED] = "RECOVERED",
    [FW_STATE_REMOVED] = "REMOVED",
};

const char *fw_state_name(enum fw_state s)
{
    return s <= FW_STATE_REMOVED ? fw_state_names[s] : "?";
}

static const char *const slave_state_names[] = {
    [SLAVE_STATE_CONNECTED] = "CONNECTED",
    [SLAVE_STATE_DISCONNECTED] = "DISCONNECTED",
    [SLAVE_STATE_UNREACHABLE] = "UNREACHABLE",
};

const char *slave_state_name(enum slave_state s)
{
    return s <= SLAVE_STATE_UNREACHABLE ? slave_state_names[s] : "?";
}

static size_t state_index(Mesos__V1__TaskState s)
{
    return (size_t)s < 16 ? (size_t)s : 15;
}

/* -------------------------------------------------------- deferred work */

void master_defer(struct master *m, void (*fn)(void *), void *arg)
{
    struct deferred *d = xcalloc(1, sizeof(*d));
    d->fn = fn;
    d->arg = arg;
    if (m->defer_tail)
        m->defer_tail->next = d;
    else
        m->defer_head = d;
    m->defer_tail = d;
    event_active(m->defer_ev, EV_TIMEOUT, 0);
}

static void defer_run(evutil_socket_t fd, short what, void *arg)
{
    struct master *m = arg;
    while (m->defer_head) {
        struct deferred *d = m->defer_head;
        m->defer_head = d->next;
        if (!m->defer_head)
            m->defer_tail = NULL;
        d->fn(d->arg);
        free(d);
    }
}

/* ---------------------------------------------------------------- tasks */

static void task_free(struct task *t)
{
    if (!t)
        return;
    free(t->id);
    free(t->slave_id);
    pb_free(t->info);
    pb_free(t->latest);
    pb_free(t->kill_policy);
    res_cleanup(&t->res);
    free(t);
}

bool task_kill_remember(struct master *m, struct task *t, const Mesos__V1__KillPolicy *policy)
{
    if (!t->kill_pending) {
        if (m->nkills_pending >= MASTER_MAX_PENDING_KILLS) {
            log_warn("task %s of framework %s: %zu kills pending already; this one is not kept "
                     "for the slave's return",
                     t->id, t->fw->id, m->nkills_pending);
            return false;
        }
        t->kill_pending = true;
        m->nkills_pending++;
    }
    pb_free(t->kill_policy);
    t->kill_policy = policy ? pb_dup(&policy->base) : NULL;
    return true;
}

void task_kill_forget(struct master *m, struct task *t)
{
    if (!t->kill_pending)
        return;
    t->kill_pending = false;
    m->nkills_pending--;
    pb_free(t->kill_policy);
    t->kill_policy = NULL;
}

static void task_push_status(struct task *t, Mesos__V1__TaskState state, double ts)
{
    if (t->nstatuses == MASTER_MAX_TASK_STATUSES) {
        memmove(&t->statuses[0], &t->statuses[1],
                sizeof(t->statuses[0]) * (MASTER_MAX_TASK_STATUSES - 1));
        t->nstatuses--;
    }
    t->statuses[t->nstatuses].state = state;
    t->statuses[t->nstatuses].timestamp = ts;
    t->nstatuses++;
}

struct task *task_find(struct framework *fw, const char *task_id)
{
    struct task *t = NULL;
    HASH_FIND_STR(fw->tasks, task_id, t);
    return t;
}

struct task *task_create(struct master *m, struct framework *fw, struct slave *s,
                         const Mesos__V1__TaskInfo *info, const struct resources *res,
                         Mesos__V1__TaskState state)
{
    struct task *t = xcalloc(1, sizeof(*t));
    t->id = xstrdup(info->task_id->value);
    t->fw = fw;
    t->slave_id = xstrdup(s ? s->id : info->agent_id->value);
    t->slave = s;
    t->info = pb_dup(&info->base);
    t->state = state;
    res_init(&t->res);
    res_copy(&t->res, res);
    task_push_status(t, state, time_now());
    HASH_ADD_KEYPTR(hh, fw->tasks, t->id, strlen(t->id), t);
    fw->ntasks++;
    if (s) {
        DL_APPEND2(s->tasks, t, slave_prev, slave_next);
        s->ntasks++;
    }
    m->task_counts[state_index(state)]++;
    if (!task_state_terminal(state) && state != MESOS__V1__TASK_STATE__TASK_UNREACHABLE) {
        res_add(&fw->used, &t->res);
        if (s)
            res_add(&s->used, &t->res);
        t->resources_used = true;
    }
    op_event_task_added(m, t);
    return t;
}

void task_release_resources(struct master *m, struct task *t, bool recover)
{
    if (!t->resources_used)
        return;
    t->resources_used = false;
    if (res_subtract(&t->fw->used, &t->res) != 0)
        log_warn("task %s: framework %s used resources out of sync", t->id, t->fw->id);
    if (t->slave) {
        if (res_subtract(&t->slave->used, &t->res) != 0)
            log_warn("task %s: slave %s used resources out of sync", t->id, t->slave->id);
        if (recover && t->slave->in_allocator)
            alloc_recover(m->alloc, t->fw->id, t->slave->id, &t->res, 0);
    }
}

void task_update_state(struct master *m, struct task *t, const Mesos__V1__TaskStatus *st,
                       Mesos__V1__TaskState state)
{
    /* A health result that differs from the last one is an update for
     * operator subscribers too (the web UI shows health live). */
    bool health_changed = false;
    if (st) {
        /* Copy before freeing: st may point into the previous status (the
     * master's own transitions reuse its container_status). */
        Mesos__V1__TaskStatus *old = t->latest;
        health_changed =
            st->has_healthy && (old == NULL || !old->has_healthy || old->healthy != st->healthy);
        t->latest = pb_dup(&st->base);
        pb_free(old);
    }
    bool changed = state != t->state;
    if (changed) {
        log_debug("task %s of framework %s: %s -> %s", t->id, t->fw->id, task_state_name(t->state),
                  task_state_name(state));
        m->task_counts[state_index(t->state)]--;
        m->task_counts[state_index(state)]++;
        t->state = state;
    }
    task_push_status(t, state, st && st->has_timestamp ? st->timestamp : time_now());
    if (task_state_terminal(state) || state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE)
        task_release_resources(m, t, true);
    if (task_state_terminal(state))
        task_kill_forget(m, t);
    if (changed || health_changed)
        op_event_task_updated(m, t);
}

struct master_status {
    Mesos__V1__TaskStatus st;
    Mesos__V1__TaskID tid;
    Mesos__V1__AgentID aid;
    Mesos__V1__TimeInfo unreachable;
};

/* Fill a status made by the master; pointers into ms and the strings. */
static void master_status_init(struct master_status *ms, const char *task_id, const char *slave_id,
                               Mesos__V1__TaskState state, Mesos__V1__TaskStatus__Reason reason,
                               const char *message)
{
    mesos__v1__task_status__init(&ms->st);
    mesos__v1__task_id__init(&ms->tid);
    mesos__v1__agent_id__init(&ms->aid);
    mesos__v1__time_info__init(&ms->unreachable);
    ms->tid.value = (char *)task_id;
    ms->st.task_id = &ms->tid;
    ms->st.state = state;
    ms->st.has_source = 1;
    ms->st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
    ms->st.has_reason = 1;
    ms->st.reason = reason;
    ms->st.message = (char *)message;
    ms->st.has_timestamp = 1;
    ms->st.timestamp = time_now();
    if (slave_id) {
        ms->aid.value = (char *)slave_id;
        ms->st.agent_id = &ms->aid;
    }
    if (state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE) {
        ms->unreachable.nanoseconds = (int64_t)(ms->st.timestamp * 1e9);
        ms->st.unreachable_time = &ms->unreachable;
    }
}

void task_master_transition(struct master *m, struct task *t, Mesos__V1__TaskState state,
                            Mesos__V1__TaskStatus__Reason reason, const char *message, bool send)
{
    struct master_status ms;
    master_status_init(&ms, t->id, t->slave_id, state, reason, message);
    if (t->latest && t->latest->container_status)
        ms.st.container_status = t->latest->container_status;
    task_update_state(m, t, &ms.st, state);
    /* Send the task's own copy: ms borrowed container_status from the
   * previous status, which task_update_state has freed. */
    if (send)
        fw_send_update(m, t->fw, t->latest);
}

void task_remove(struct master *m, struct task *t)
{
    struct framework *fw = t->fw;
    task_release_resources(m, t, true);
    task_kill_forget(m, t);
    HASH_DELETE(hh, fw->tasks, t);
    fw->ntasks--;
    if (t->slave) {
        DL_DELETE2(t->slave->tasks, t, slave_prev, slave_next);
        t->slave->ntasks--;
        t->slave = NULL;
    }
    m->task_counts[state_index(t->state)]--;
    /* Into the completed ring; the evicted oldest entry is referenced from
   * nowhere else. */
    if (!fw->completed)
        fw->completed = xcalloc(MASTER_MAX_COMPLETED_TASKS, sizeof(*fw->completed));
    size_t slot = (fw->completed_head + fw->ncompleted) % MASTER_MAX_COMPLETED_TASKS;
    if (fw->ncompleted == MASTER_MAX_COMPLETED_TASKS) {
        task_free(fw->completed[fw->completed_head]);
        slot = fw->completed_head;
        fw->completed_head = (fw->completed_head + 1) % MASTER_MAX_COMPLETED_TASKS;
    } else {
        fw->ncompleted++;
    }
    fw->completed[slot] = t;
}

/* ----------------------------------------------------------- frameworks */

struct framework *fw_find(struct master *m, const char *id)
{
    struct framework *fw = NULL;
    HASH_FIND_STR(m->frameworks, id, fw);
    return fw;
}

const char *fw_role(const Mesos__V1__FrameworkInfo *info)
{
    /* `roles` (MULTI_ROLE) wins over the deprecated `role`, which Mesos
   * clients still send; only one role is supported. */
    if (info->n_roles > 0)
        return info->roles[0];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    const char *role = info->role;
#pragma GCC diagnostic pop
    return role && role[0] ? role : "*";
}

bool fw_info_partition_aware(const Mesos__V1__FrameworkInfo *info)
{
    for (size_t i = 0; i < info->n_capabilities; i++)
        if (info->capabilities[i]->has_type &&
            info->capabilities[i]->type ==
                MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE)
            return true;
    return false;
}

static Mesos__V1__FrameworkInfo *info_with_id(const Mesos__V1__FrameworkInfo *info, const char *id)
{
    Mesos__V1__FrameworkInfo tmp = *info;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = (char *)id;
    tmp.id = &fid;
    return pb_dup(&tmp.base);
}

void fw_set_state(struct master *m, struct framework *fw, enum fw_state s)
{
    if (fw->state == s)
        return;
    log_info("framework %s (%s): %s -> %s", fw->id, fw->info->name, fw_state_name(fw->state),
             fw_state_name(s));
    if (fw->state == FW_STATE_ACTIVE)
        m->nframeworks_active--;
    if (s == FW_STATE_ACTIVE)
        m->nframeworks_active++;
    fw->state = s;
    if (s != FW_STATE_REMOVED)
        op_event_framework_updated(m, fw);
}

struct framework *fw_create(struct master *m, const char *id, const Mesos__V1__FrameworkInfo *info,
                            enum fw_state state)
{
    struct framework *fw = xcalloc(1, sizeof(*fw));
    fw->m = m;
    fw->id = xstrdup(id);
    fw->info = info_with_id(info, id);
    fw->role = xstrdup(fw_role(info));
    fw->partition_aware = fw_info_partition_aware(info);
    fw->state = state;
    if (state == FW_STATE_ACTIVE)
        m->nframeworks_active++;
    res_init(&fw->used);
    res_init(&fw->offered);
    fw->registered_time = time_now();
    HASH_ADD_KEYPTR(hh, m->frameworks, fw->id, strlen(fw->id), fw);
    alloc_add_framework(m->alloc, fw->id, fw->role, state == FW_STATE_ACTIVE);
    log_info("framework %s (%s) added in state %s, role %s%s", fw->id, info->name,
             fw_state_name(state), fw->role, fw->partition_aware ? ", partition-aware" : "");
    op_event_framework_added(m, fw);
    return fw;
}

void fw_update_info(struct master *m, struct framework *fw, const Mesos__V1__FrameworkInfo *info)
{
    const char *role = fw_role(info);
    if (strcmp(role, fw->role) != 0) {
        /* Typically a framework recovered from a slave report without its
     * FrameworkInfo. The allocator keys shares by role, so re-add the
     * framework under the new role and declare its tasks again; callers
     * have rescinded its offers already. */
        log_info("framework %s: role %s -> %s", fw->id, fw->role, role);
        alloc_remove_framework(m->alloc, fw->id);
        free(fw->role);
        fw->role = xstrdup(role);
        alloc_add_framework(m->alloc, fw->id, fw->role, fw->state == FW_STATE_ACTIVE);
        fw->suppressed = false;
        struct task *t, *tmp;
        HASH_ITER (hh, fw->tasks, t, tmp)
            if (t->resources_used && t->slave && t->slave->in_allocator)
                alloc_add_used(m->alloc, fw->id, t->slave->id, &t->res);
    }
    pb_free(fw->info);
    fw->info = info_with_id(info, fw->id);
    fw->partition_aware = fw_info_partition_aware(info);
    op_event_framework_updated(m, fw);
}

static void fw_free(void *arg)
{
    struct framework *fw = arg;
    struct task *t, *tmp;
    HASH_ITER (hh, fw->tasks, t, tmp) {
        HASH_DELETE(hh, fw->tasks, t);
        task_free(t);
    }
    if (fw->completed) {
        for (size_t i = 0; i < fw->ncompleted; i++)
            task_free(fw->completed[(fw->completed_head + i) % MASTER_MAX_COMPLETED_TASKS]);
        free(fw->completed);
    }
    if (fw->heartbeat_ev)
        event_free(fw->heartbeat_ev);
    if (fw->failover_ev)
        event_free(fw->failover_ev);
    res_cleanup(&fw->used);
    res_cleanup(&fw->offered);
    pb_free(fw->info);
    free(fw->role);
    free(fw->id);
    free(fw);
}

static void fw_failover_expired(evutil_socket_t fd, short what, void *arg)
{
    struct framework *fw = arg;
    log_info("framework %s: failover timeout (%.3fs) expired", fw->id,
             fw->info->has_failover_timeout ? fw->info->failover_timeout : 0.0);
    fw_remove(fw->m, fw, "failover timeout expired");
}

/* Start (or restart) the failover timer: when it fires, the framework and
 * its tasks are removed. Also used for RECOVERED frameworks. */
static void fw_start_failover(struct master *m, struct framework *fw, double secs)
{
    if (!fw->failover_ev)
        fw->failover_ev = evtimer_new(m->base, fw_failover_expired, fw);
    if (!(secs >= 0) || secs > 1e9)
        secs = 1e9; /* "forever", within timeval range */
    struct timeval tv = { (time_t)secs, (suseconds_t)((secs - floor(secs)) * 1e6) };
    evtimer_add(fw->failover_ev, &tv);
}

void fw_recover_timer(struct master *m, struct framework *fw)
{
    /* A recovered framework's scheduler needs time to find the (new) master
   * even when its failover_timeout is 0; give it at least a minute. */
    double secs = fw->info->has_failover_timeout ? fw->info->failover_timeout : 0;
    if (secs < 60)
        secs = 60;
    fw_start_failover(m, fw, secs);
}

void fw_recover_timer_since(struct master *m, struct framework *fw, double since)
{
    double secs = fw->info->has_failover_timeout ? fw->info->failover_timeout : 0;
    double left = since + secs - time_now();
    if (left < 0)
        left = 0;
    fw->unregistered_time = since;
    log_info("framework %s: disconnected %.1fs ago, failover timeout %.3fs: %.3fs left", fw->id,
             time_now() - since, secs, left);
    fw_start_failover(m, fw, left);
}

void fw_disconnect(struct master *m, struct framework *fw)
{
    if (fw->state != FW_STATE_ACTIVE)
        return;
    fw->stream = NULL;
    if (fw->heartbeat_ev)
        evtimer_del(fw->heartbeat_ev);
    fw_set_state(m, fw, FW_STATE_DISCONNECTED);
    fw->unregistered_time = time_now();
    offers_rescind_framework(m, fw);
    alloc_deactivate_framework(m->alloc, fw->id);
    double secs = fw->info->has_failover_timeout ? fw->info->failover_timeout : 0;
    log_info("framework %s disconnected; failover timeout %.3fs", fw->id, secs);
    registry_framework_disconnected(m->registry, fw->id, fw->unregistered_time);
    fw_start_failover(m, fw, secs);
}

static void completed_fw_push(struct master *m, json_t *j)
{
    size_t slot = (m->completed_fw_head + m->ncompleted_fw) % MASTER_MAX_COMPLETED_FRAMEWORKS;
    if (m->ncompleted_fw == MASTER_MAX_COMPLETED_FRAMEWORKS) {
        json_decref(m->completed_frameworks[m->completed_fw_head]);
        slot = m->completed_fw_head;
        m->completed_fw_head = (m->completed_fw_head + 1) % MASTER_MAX_COMPLETED_FRAMEWORKS;
    } else {
        m->ncompleted_fw++;
    }
    m->completed_frameworks[slot] = j;
}

bool fw_is_completed(struct master *m, const char *id)
{
    for (size_t i = 0; i < m->ncompleted_fw; i++) {
        json_t *j =
            m->completed_frameworks[(m->completed_fw_head + i) % MASTER_MAX_COMPLETED_FRAMEWORKS];
        const char *cid = json_string_value(json_object_get(j, "id"));
        if (cid && strcmp(cid, id) == 0)
            return true;
    }
    return false;
}

void fw_remove(struct master *m, struct framework *fw, const char *why)
{
    if (fw->state == FW_STATE_REMOVED)
        return;
    log_info("removing framework %s (%s): %s", fw->id, fw->info->name, why);
    offers_rescind_framework(m, fw);

    /* Tell each slave running its tasks once (mark de-duplicates). */
    uint64_t gen = ++m->mark_gen;
    struct task *t, *tmp;
    HASH_ITER (hh, fw->tasks, t, tmp) {
        if (t->slave && t->slave->mark != gen && t->slave->state == SLAVE_STATE_CONNECTED) {
            t->slave->mark = gen;
            slave_send_shutdown_framework(m, t->slave, fw->id);
        }
        if (!task_state_terminal(t->state))
            task_master_transition(m, t, MESOS__V1__TASK_STATE__TASK_KILLED,
                                   MESOS__V1__TASK_STATUS__REASON__REASON_FRAMEWORK_REMOVED,
                                   "Framework removed", false);
        task_remove(m, t);
    }
    if (fw->stream) {
        http_stream_close(fw->stream);
        fw->stream = NULL;
    }
    if (fw->heartbeat_ev)
        evtimer_del(fw->heartbeat_ev);
    if (fw->failover_ev)
        evtimer_del(fw->failover_ev);
    fw_set_state(m, fw, FW_STATE_REMOVED);
    fw->unregistered_time = time_now();
    op_event_framework_removed(m, fw);
    completed_fw_push(m, state_framework_json(m, fw));
    alloc_remove_framework(m->alloc, fw->id);
    registry_framework_remove(m->registry, fw->id);
    HASH_DELETE(hh, m->frameworks, fw);
    master_defer(m, fw_free, fw);
}

static void fw_disconnect_deferred(void *arg)
{
    struct framework *fw = arg;
    if (fw->state == FW_STATE_ACTIVE && !fw->stream)
        fw_disconnect(fw->m, fw);
}

void fw_send(struct master *m, struct framework *fw, const Mesos__V1__Scheduler__Event *ev)
{
    if (!fw->stream)
        return;
    char *data;
    size_t len;
    if (fw->enc == ENC_JSON) {
        data = pbjson_encode_string(&ev->base, &len);
    } else {
        data = (char *)pb_pack(&ev->base, &len);
    }
    size_t flen;
    char *framed = rio_encode_alloc(data, len, &flen);
    free(data);
    int rc = http_stream_send(fw->stream, framed, flen);
    free(framed);
    if (rc != 0 || http_stream_pending(fw->stream) > MASTER_MAX_STREAM_PENDING) {
        /* The scheduler does not read: cut it off, as if it disconnected; the
     * state change runs deferred because callers may be walking lists. */
        log_warn("framework %s: event stream %s; closing it", fw->id,
                 rc != 0 ? "failed" : "backlog too large");
        if (rc == 0)
            http_stream_close(fw->stream);
        fw->stream = NULL;
        master_defer(m, fw_disconnect_deferred, fw);
    }
}

void fw_send_update(struct master *m, struct framework *fw, const Mesos__V1__TaskStatus *st)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
    up.status = (Mesos__V1__TaskStatus *)st;
    ev.update = &up;
    fw_send(m, fw, &ev);
}

void fw_send_master_update(struct master *m, struct framework *fw, const char *task_id,
                           const char *slave_id, Mesos__V1__TaskState state,
                           Mesos__V1__TaskStatus__Reason reason, const char *message)
{
    struct master_status ms;
    master_status_init(&ms, task_id, slave_id, state, reason, message);
    fw_send_update(m, fw, &ms.st);
}

/* --------------------------------------------------------------- slaves */

struct slave *slave_find(struct master *m, const char *id)
{
    struct slave *s = NULL;
    HASH_FIND_STR(m->slaves, id, s);
    return s;
}

void slave_set_state(struct master *m, struct slave *s, enum slave_state st)
{
    if (s->state == st)
        return;
    log_info("slave %s (%s): %s -> %s", s->id, s->hostname, slave_state_name(s->state),
             slave_state_name(st));
    if (s->state == SLAVE_STATE_CONNECTED)
        m->nslaves_connected--;
    if (s->state == SLAVE_STATE_UNREACHABLE)
        m->nslaves_unreachable--;
    if (st == SLAVE_STATE_CONNECTED)
        m->nslaves_connected++;
    if (st == SLAVE_STATE_UNREACHABLE)
        m->nslaves_unreachable++;
    s->state = st;
    /* Operators hear of a slave when it first connects (or comes back
     * from unreachable) and when it becomes unreachable, as in Mesos. */
    if (st == SLAVE_STATE_CONNECTED && !s->announced) {
        s->announced = true;
        op_event_agent_added(m, s);
    } else if (st == SLAVE_STATE_UNREACHABLE && s->announced) {
        s->announced = false;
        op_event_agent_removed(m, s);
    }
}

static void slave_disconnect_deferred(void *arg)
{
    struct slave *s = arg;
    if (s->state == SLAVE_STATE_CONNECTED && !s->stream)
        slave_disconnect(s->m, s);
}

void slave_send(struct master *m, struct slave *s, const Agora__Slave__Event *ev)
{
    if (!s->stream)
        return;
    size_t len;
    uint8_t *data = pb_pack(&ev->base, &len);
    size_t flen;
    char *framed = rio_encode_alloc(data, len, &flen);
    free(data);
    int rc = http_stream_send(s->stream, framed, flen);
    free(framed);
    if (rc != 0 || http_stream_pending(s->stream) > MASTER_MAX_STREAM_PENDING) {
        log_warn("slave %s: event stream %s; closing it", s->id,
                 rc != 0 ? "failed" : "backlog too large");
        if (rc == 0)
            http_stream_close(s->stream);
        s->stream = NULL;
        master_defer(m, slave_disconnect_deferred, s);
    }
}

void slave_send_kill(struct master *m, struct slave *s, const char *fw_id, const char *task_id,
                     const Mesos__V1__KillPolicy *policy)
{
    Agora__Slave__Event ev = AGORA__SLAVE__EVENT__INIT;
    Agora__Slave__Event__KillTask kt = AGORA__SLAVE__EVENT__KILL_TASK__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    fid.value = (char *)fw_id;
    tid.value = (char *)task_id;
    kt.framework_id = &fid;
    kt.task_id = &tid;
    kt.kill_policy = (Mesos__V1__KillPolicy *)policy;
    ev.has_type = 1;
    ev.type = AGORA__SLAVE__EVENT__TYPE__KILL_TASK;
    ev.kill_task = &kt;
    slave_send(m, s, &ev);
}

void slave_send_shutdown_framework(struct master *m, struct slave *s, const char *fw_id)
{
    Agora__Slave__Event ev = AGORA__SLAVE__EVENT__INIT;
    Agora__Slave__Event__ShutdownFramework sf = AGORA__SLAVE__EVENT__SHUTDOWN_FRAMEWORK__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = (char *)fw_id;
    sf.framework_id = &fid;
    ev.has_type = 1;
    ev.type = AGORA__SLAVE__EVENT__TYPE__SHUTDOWN_FRAMEWORK;
    ev.shutdown_framework = &sf;
    slave_send(m, s, &ev);
}

void slave_disconnect(struct master *m, struct slave *s)
{
    if (s->state != SLAVE_STATE_CONNECTED)
        return;
    s->stream = NULL;
    slave_set_state(m, s, SLAVE_STATE_DISCONNECTED);
    offers_rescind_slave(m, s);
    if (s->in_allocator)
        alloc_deactivate_slave(m->alloc, s->id);
}

static void lost_key(char *buf, size_t n, const char *fw_id, const char *task_id)
{
    snprintf(buf, n, "%s\n%s", fw_id, task_id);
}

void slave_mark_unreachable(struct master *m, struct slave *s)
{
    if (s->state == SLAVE_STATE_UNREACHABLE)
        return;
    log_warn("slave %s (%s) is unreachable: %d pings missed", s->id, s->hostname, s->missed_pings);
    if (s->stream) {
        http_stream_close(s->stream);
        s->stream = NULL;
    }
    if (s->ping_ev)
        evtimer_del(s->ping_ev);
    offers_rescind_slave(m, s);
    if (s->in_allocator) {
        alloc_remove_slave(m->alloc, s->id);
        s->in_allocator = false;
    }
    slave_set_state(m, s, SLAVE_STATE_UNREACHABLE);
    s->unreachable_time = time_now();
    metric_inc(m->metrics.slaves_unreachable, 1);

    char *msg = xasprintf("Agent %s is unreachable", s->id);
    struct task *t, *tmp;
    DL_FOREACH_SAFE2(s->tasks, t, tmp, slave_next)
    {
        if (task_state_terminal(t->state) || t->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE)
            continue;
        if (t->fw->partition_aware) {
            task_master_transition(m, t, MESOS__V1__TASK_STATE__TASK_UNREACHABLE,
                                   MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED, msg, true);
        } else {
            char key[1024];
            lost_key(key, sizeof(key), t->fw->id, t->id);
            struct lost_task *lt = NULL;
            HASH_FIND_STR(s->lost, key, lt);
            if (!lt) {
                lt = xcalloc(1, sizeof(*lt));
                lt->key = xstrdup(key);
                HASH_ADD_KEYPTR(hh, s->lost, lt->key, strlen(lt->key), lt);
            }
            task_master_transition(m, t, MESOS__V1__TASK_STATE__TASK_LOST,
                                   MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REMOVED, msg, true);
            task_remove(m, t);
        }
    }
    free(msg);

    /* Mesos tells every framework that an agent was lost. */
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Failure fl = MESOS__V1__SCHEDULER__EVENT__FAILURE__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = s->id;
    fl.agent_id = &aid;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE;
    ev.failure = &fl;
    struct framework *fw, *ftmp;
    HASH_ITER (hh, m->frameworks, fw, ftmp)
        if (fw->state == FW_STATE_ACTIVE)
            fw_send(m, fw, &ev);

    registry_slave_set(m->registry, s->id, s->hostname, REG_SLAVE_UNREACHABLE);
}

static void slave_free(struct slave *s)
{
    struct lost_task *lt, *ltmp;
    HASH_ITER (hh, s->lost, lt, ltmp) {
        HASH_DELETE(hh, s->lost, lt);
        free(lt->key);
        free(lt);
    }
    if (s->ping_ev)
        event_free(s->ping_ev);
    res_cleanup(&s->total);
    res_cleanup(&s->used);
    res_cleanup(&s->offered);
    pb_free(s->info);
    free(s->hostname);
    free(s->pid);
    free(s->id);
    free(s);
}

/* ------------------------------------------------------------- metrics */

static double g_fw_active(void *arg)
{
    return (double)((struct master *)arg)->nframeworks_active;
}

static double g_fw_total(void *arg)
{
    return (double)HASH_COUNT(((struct master *)arg)->frameworks);
}

static double g_slaves_connected(void *arg)
{
    return (double)((struct master *)arg)->nslaves_connected;
}

static double g_slaves_unreachable(void *arg)
{
    return (double)((struct master *)arg)->nslaves_unreachable;
}

static double g_slaves_total(void *arg)
{
    return (double)HASH_COUNT(((struct master *)arg)->slaves);
}

static double g_offers(void *arg)
{
    return (double)HASH_COUNT(((struct master *)arg)->offers);
}

static double g_elected(void *arg)
{
    return ((struct master *)arg)->leading ? 1 : 0;
}

static double g_uptime(void *arg)
{
    return time_now() - ((struct master *)arg)->start_time;
}

static double g_alloc_cycles(void *arg)
{
    struct alloc_stats st;
    alloc_get_stats(((struct master *)arg)->alloc, &st);
    return (double)st.cycles;
}

static double g_alloc_last_ms(void *arg)
{
    struct alloc_stats st;
    alloc_get_stats(((struct master *)arg)->alloc, &st);
    return st.last_cycle_ms;
}

/* One gauge per task state; arg is &m->task_counts[state]. */
static double g_task_count(void *arg)
{
    return (double)*(size_t *)arg;
}

static void metrics_setup(struct master *m)
{
    struct master_metrics *mm = &m->metrics;
    mm->offers_sent =
        metrics_counter("agora_master_offers_sent_total", "Offers sent to frameworks");
    mm->offers_declined = metrics_counter("agora_master_offers_declined_total", "Offers declined");
    mm->offers_accepted = metrics_counter("agora_master_offers_accepted_total", "Offers accepted");
    mm->offers_rescinded = metrics_counter("agora_master_offers_rescinded_total",
                                           "Offers rescinded (timeout, slave or framework gone)");
    mm->tasks_launched =
        metrics_counter("agora_master_tasks_launched_total", "Tasks sent to slaves");
    mm->tasks_error = metrics_counter("agora_master_tasks_refused_total",
                                      "Tasks refused by validation (TASK_ERROR)");
    mm->status_updates =
        metrics_counter("agora_master_status_updates_total", "Status updates received from slaves");
    mm->status_update_calls = metrics_counter(
        "agora_master_status_update_calls_total",
        "STATUS_UPDATE calls received from slaves (each carries one or more updates)");
    mm->slave_registrations =
        metrics_counter("agora_master_slave_registrations_total", "Slaves registered");
    mm->slave_reregistrations =
        metrics_counter("agora_master_slave_reregistrations_total", "Slaves re-registered");
    mm->slaves_unreachable =
        metrics_counter("agora_master_slave_unreachable_total", "Slaves marked unreachable");
    mm->framework_subscriptions =
        metrics_counter("agora_master_framework_subscriptions_total", "SUBSCRIBE calls accepted");
    mm->invalid_calls = metrics_counter("agora_master_invalid_calls_total",
                                        "Scheduler or slave calls refused as invalid");
    mm->heartbeats = metrics_counter("agora_master_heartbeats_sent_total", "HEARTBEAT events sent");
    metrics_gauge_fn("agora_master_frameworks_active", "Frameworks subscribed", g_fw_active, m);
    metrics_gauge_fn("agora_master_frameworks", "Frameworks known (any state)", g_fw_total, m);
    metrics_gauge_fn("agora_master_slaves_active", "Slaves connected", g_slaves_connected, m);
    metrics_gauge_fn("agora_master_slaves_unreachable", "Slaves unreachable", g_slaves_unreachable,
                     m);
    metrics_gauge_fn("agora_master_slaves", "Slaves known (any state)", g_slaves_total, m);
    metrics_gauge_fn("agora_master_offers_outstanding", "Offers not yet answered", g_offers, m);
    metrics_gauge_fn("agora_master_kills_pending",
                     "Kills kept until their task ends (re-sent when its slave re-registers)",
                     g_task_count, &m->nkills_pending);
    metrics_gauge_fn("agora_master_elected", "1 when this master leads", g_elected, m);
    metrics_gauge_fn("agora_master_uptime_seconds", "Seconds since start", g_uptime, m);
    metrics_gauge_fn("agora_master_allocation_cycles_total", "Allocation passes run",
                     g_alloc_cycles, m);
    metrics_gauge_fn("agora_master_allocation_last_cycle_ms", "Duration of the last pass",
                     g_alloc_last_ms, m);
    for (int s = 0; s < 14; s++) {
        const char *name = task_state_name((Mesos__V1__TaskState)s);
        if (!name || strncmp(name, "TASK_", 5) != 0)
            continue;
        char metric_name[96];
        char lower[48];
        size_t i;
        for (i = 0; name[5 + i] && i < sizeof(lower) - 1; i++)
            lower[i] =
                (char)(name[5 + i] >= 'A' && name[5 + i] <= 'Z' ? name[5 + i] + 32 : name[5 + i]);
        lower[i] = '\0';
        snprintf(metric_name, sizeof(metric_name), "agora_master_tasks_%s", lower);
        metrics_gauge_fn(metric_name, "Tasks in this state (known to the master)", g_task_count,
                         &m->task_counts[s]);
    }
}

/* ------------------------------------------------------------- lifecycle */

/* --acls: refusals are logged and counted. */
bool master_authorized(struct master *m, enum acl_action action, const char *principal,
                       const char *object)
{
    static struct metric *denied;
    if (denied == NULL && m->acls != NULL)
        denied = metrics_counter("agora_master_acl_denials_total",
                                 "requests refused by --acls (any action)");
    return acls_authorize(m->acls, denied, action, principal, object);
}

const char *task_user(const struct task *t)
{
    const Mesos__V1__TaskInfo *ti = t->info;
    if (ti && ti->command && ti->command->user)
        return ti->command->user;
    return t->fw && t->fw->info ? t->fw->info->user : NULL;
}

/* --credentials (Mesos also takes "file://PATH"), required by every
 * --authenticate_* surface turned on. */
static int master_auth_setup(struct master *m, char **err)
{
    const char *path = m->cfg.credentials;
    const char *acls = m->cfg.acls;
    m->cfg.credentials = NULL; /* main's; not kept */
    m->cfg.acls = NULL;
    if (acls) {
        char *e = NULL;
        m->acls = acls_load(acls, &e);
        if (m->acls == NULL) {
            *err = xasprintf("--acls: %s", e);
            free(e);
            return -1;
        }
        log_info("authorization by --acls");
    }
    if (m->cfg.auth_surfaces && path == NULL && !jwt_enabled()) {
        *err = xstrdup("--authenticate_* needs --credentials (or --jwt_secret_key)");
        return -1;
    }
    if (path == NULL)
        return 0;
    char *e = NULL;
    m->creds = auth_creds_load(path, &e);
    if (m->creds == NULL) {
        *err = xasprintf("--credentials: %s", e);
        free(e);
        return -1;
    }
    log_info("%zu credential(s) from %s; authenticated: %s%s%s%s", auth_creds_count(m->creds), path,
             m->cfg.auth_surfaces & REST_AUTH_FRAMEWORK ? "frameworks " : "",
             m->cfg.auth_surfaces & REST_AUTH_AGENT ? "agents " : "",
             m->cfg.auth_surfaces & REST_AUTH_READONLY ? "http_readonly " : "",
             m->cfg.auth_surfaces & REST_AUTH_READWRITE ? "http_readwrite" : "");
    return 0;
}

struct master *master_new(struct event_base *base, const struct master_config *cfg,
                          struct http_server *http, char **err)
{
    struct master *m = xcalloc(1, sizeof(*m));
    m->base = base;
    m->cfg = *cfg;
    m->cfg.ip = xstrdup(cfg->ip);
    m->cfg.work_dir = xstrdup(cfg->work_dir);
    if (cfg->hostname && cfg->hostname[0]) {
        m->hostname_given = true;
        m->cfg.hostname = xstrdup(cfg->hostname);
    } else {
        char hn[256];
        if (gethostname(hn, sizeof(hn)) != 0 || !hn[0])
            snprintf(hn, sizeof(hn), "%s", cfg->ip);
        hn[sizeof(hn) - 1] = '\0';
        m->cfg.hostname = xstrdup(hn);
    }
    m->http = http;
    /* Standalone, the only master leads; with --zk, ha.c decides. */
    m->leading = !(cfg->zk && cfg->zk[0]);
    m->cfg.zk = m->leading ? NULL : xstrdup(cfg->zk);
    m->start_time = time_now();
    m->elected_time = m->start_time;
    id_uuid_string(m->id);
    m->pid = xasprintf("master@%s:%d", m->cfg.ip, m->cfg.port);
    m->next_framework_seq = 0;
    m->next_slave_seq = 0;

    Mesos__V1__MasterInfo mi = MESOS__V1__MASTER_INFO__INIT;
    Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;
    struct in_addr ina;
    if (inet_pton(AF_INET, m->cfg.ip, &ina) != 1)
        ina.s_addr = 0;
    mi.id = m->id;
    mi.ip = ina.s_addr;
    mi.port = (uint32_t)m->cfg.port;
    mi.pid = m->pid;
    mi.hostname = m->cfg.hostname;
    mi.version = AGORA_VERSION;
    addr.hostname = m->cfg.hostname;
    addr.ip = m->cfg.ip;
    addr.port = m->cfg.port;
    mi.address = &addr;
    m->info = pb_dup(&mi.base);

    m->defer_ev = event_new(base, -1, 0, defer_run, m);
    struct alloc_callbacks cbs = { .offer = offers_allocator_cb };
    m->alloc = alloc_new(base, cfg->allocation_interval, &cbs, m);
    alloc_set_batch(m->alloc, cfg->allocation_batch);
    metrics_setup(m);
    m->queues = master_queues_new(m);

    m->registry = registry_new(m, m->cfg.work_dir, err);
    if (!m->registry)
        goto fail;
    if (m->leading) {
        registry_recover_frameworks(m->registry);
        master_start_reregister_timer(m);
    }

    if (master_auth_setup(m, err) != 0)
        goto fail;
    m->ops = op_stream_new(m);
    master_routes_attach(m);
    log_info("master %s (%s) started on %s:%d, version %s, work_dir %s", m->id, m->cfg.hostname,
             m->cfg.ip, m->cfg.port, AGORA_VERSION, m->cfg.work_dir);
    if (m->cfg.zk && master_ha_start(m, err) != 0)
        goto fail;
    return m;

fail:
    master_free(m);
    return NULL;
}

void master_cron(struct master *m)
{
    registry_flush(m->registry);
}

void master_free(struct master *m)
{
    if (!m)
        return;
    op_stream_free(m->ops);
    m->ops = NULL;
    auth_creds_free(m->creds);
    acls_free(m->acls);
    /* Deferred work may reference objects freed below: run it first. */
    if (m->defer_ev)
        defer_run(-1, 0, m);
    if (m->registry)
        registry_flush_final(m->registry);
    /* Our ZooKeeper session ends here, so a successor takes over at once. */
    master_ha_free(m);
    if (m->reregister_ev)
        event_free(m->reregister_ev);
    /* Close streams first so no callback reaches a half-freed model. */
    struct offer *o, *otmp;
    HASH_ITER (hh, m->offers, o, otmp)
        offer_remove(m, o);
    struct framework *fw, *ftmp;
    HASH_ITER (hh, m->frameworks, fw, ftmp) {
        if (fw->stream)
            http_stream_close(fw->stream);
        fw->stream = NULL;
        HASH_DELETE(hh, m->frameworks, fw);
        fw_free(fw);
    }
    struct slave *s, *stmp;
    HASH_ITER (hh, m->slaves, s, stmp) {
        if (s->stream)
            http_stream_close(s->stream);
        s->stream = NULL;
        HASH_DELETE(hh, m->slaves, s);
        slave_free(s);
    }
    for (size_t i = 0; i < m->ncompleted_fw; i++)
        json_decref(
            m->completed_frameworks[(m->completed_fw_head + i) % MASTER_MAX_COMPLETED_FRAMEWORKS]);
    if (m->registry)
        registry_free(m->registry);
    if (m->alloc)
        alloc_free(m->alloc);
    if (m->defer_ev)
        event_free(m->defer_ev);
    master_queues_free(m->queues);
    pb_free(m->info);
    free(m->pid);
    free(m->cfg.ip);
    free(m->cfg.work_dir);
    free(m->cfg.hostname);
    free(m->cfg.zk);
    if (m->rest) {
        http_server_set_handler(m->http, NULL, NULL); /* the server may outlive us */
        rest_server_free(m->rest);
    }
    free(m);
}
