/*
 * slave_api.c: POST /internal/v1/slave, the master side of the slave
 * protocol (proto/slave.proto), always application/x-protobuf.
 *
 * Owns slave admission (SUBSCRIBE without agent_id), re-registration
 * (SUBSCRIBE with agent_id: the slave's report of its tasks is reconciled
 * with what the master knows), STATUS_UPDATE (task state, forwarded to
 * the framework as UPDATE), PONG, and the PING timer that finds
 * unreachable slaves: every --slave_ping_timeout a PING goes down the
 * stream; a slave that leaves --max_slave_ping_timeouts PINGs unanswered in
 * a row (or has no stream for that long) is marked unreachable.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <utlist.h>

#include "master.h"
#include "allocator.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "recordio.h"
#include "rest.h"

#define CT_PROTOBUF "application/x-protobuf"

/* ------------------------------------------------------------------ pings */

static void slave_ping(evutil_socket_t fd, short what, void *arg)
{
    struct slave *s = arg;
    struct master *m = s->m;
    if (s->state == SLAVE_STATE_UNREACHABLE) {
        evtimer_del(s->ping_ev);
        return;
    }
    if (s->pong_pending || !s->stream) {
        s->missed_pings++;
        log_debug("slave %s: %d ping(s) missed", s->id, s->missed_pings);
        if (s->missed_pings >= m->cfg.max_slave_ping_timeouts) {
            slave_mark_unreachable(m, s);
            return;
        }
    }
    if (!s->stream)
        return;
    Agora__Slave__Event ev = AGORA__SLAVE__EVENT__INIT;
    Agora__Slave__Event__Ping ping = AGORA__SLAVE__EVENT__PING__INIT;
    ping.has_seq = 1;
    ping.seq = ++s->ping_seq;
    ev.has_type = 1;
    ev.type = AGORA__SLAVE__EVENT__TYPE__PING;
    ev.ping = &ping;
    s->pong_pending = true;
    slave_send(m, s, &ev);
}

void slave_start_pings(struct master *m, struct slave *s)
{
    double secs = m->cfg.slave_ping_timeout > 0 ? m->cfg.slave_ping_timeout : 15;
    struct timeval tv = { (time_t)secs, (suseconds_t)((secs - floor(secs)) * 1e6) };
    if (!s->ping_ev)
        s->ping_ev = event_new(m->base, -1, EV_PERSIST, slave_ping, s);
    s->missed_pings = 0;
    s->pong_pending = false;
    evtimer_add(s->ping_ev, &tv);
}

/* -------------------------------------------------------------- SUBSCRIBE */

static void slave_stream_closed(struct http_stream *st, void *arg)
{
    struct slave *s = arg;
    if (s->stream != st)
        return;
    log_info("slave %s: event stream closed by the slave", s->id);
    s->stream = NULL;
    slave_disconnect(s->m, s);
}

static void refuse_slave(struct evhttp_request *req, const char *message)
{
    Agora__Slave__Event ev = AGORA__SLAVE__EVENT__INIT;
    Agora__Slave__Event__Error er = AGORA__SLAVE__EVENT__ERROR__INIT;
    er.message = (char *)message;
    ev.has_type = 1;
    ev.type = AGORA__SLAVE__EVENT__TYPE__ERROR;
    ev.error = &er;
    size_t len;
    uint8_t *data = pb_pack(&ev.base, &len);
    size_t flen;
    char *framed = rio_encode_alloc(data, len, &flen);
    struct http_stream *st = http_stream_start(req, 200, CT_PROTOBUF, NULL, NULL);
    if (st) {
        http_stream_send(st, framed, flen);
        http_stream_close(st);
    }
    free(framed);
    free(data);
}

/* Count a (non-terminal, reachable) task's resources again after the
 * slave's report; the allocator learns them in one go afterwards. */
static void task_count_resources(struct task *t)
{
    if (t->resources_used || task_state_terminal(t->state) ||
        t->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE)
        return;
    res_add(&t->fw->used, &t->res);
    if (t->slave)
        res_add(&t->slave->used, &t->res);
    t->resources_used = true;
}

static struct framework *framework_for_report(struct master *m, const char *fw_id,
                                              const Agora__Slave__Call__Subscribe *sub)
{
    struct framework *fw = fw_find(m, fw_id);
    if (fw)
        return fw;
    const Mesos__V1__FrameworkInfo *info = NULL;
    for (size_t i = 0; i < sub->n_frameworks; i++)
        if (sub->frameworks[i]->id && strcmp(sub->frameworks[i]->id->value, fw_id) == 0)
            info = sub->frameworks[i];
    Mesos__V1__FrameworkInfo fallback = MESOS__V1__FRAMEWORK_INFO__INIT;
    if (!info) {
        fallback.user = "";
        fallback.name = "";
        info = &fallback;
    }
    fw = fw_create(m, fw_id, info, FW_STATE_RECOVERED);
    registry_framework_put(m->registry, fw->info);
    fw_recover_timer(m, fw);
    return fw;
}

/* Reconcile the slave's task report with the master's view. */
static void slave_reconcile_tasks(struct master *m, struct slave *s,
                                  const Agora__Slave__Call__Subscribe *sub)
{
    uint64_t gen = ++s->reregister_gen;

    for (size_t i = 0; i < sub->n_tasks; i++) {
        const Agora__Slave__Call__Task *rt = sub->tasks[i];
        const char *fw_id = rt->framework_id->value;
        const char *task_id = rt->task_info->task_id->value;
        if (fw_is_completed(m, fw_id)) {
            log_info("slave %s reports task %s of removed framework %s; shutting it down", s->id,
                     task_id, fw_id);
            slave_send_shutdown_framework(m, s, fw_id);
            continue;
        }
        struct framework *fw = framework_for_report(m, fw_id, sub);
        struct task *t = task_find(fw, task_id);
        if (t && strcmp(t->slave_id, s->id) != 0) {
            log_warn(
                "slave %s reports task %s of framework %s that the master places on %s; ignored",
                s->id, task_id, fw_id, t->slave_id);
            continue;
        }
        if (t) {
            t->seen_gen = gen;
            if (t->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE &&
                task_state_terminal(rt->state))
                /* It ended while away: the slave's own terminal update,
                 * re-sent after this re-registration until acknowledged,
                 * tells the framework; a master-made one too would make
                 * two terminal updates (two TASK_KILLED for one kill). */
                task_update_state(m, t, rt->latest_status, rt->state);
            else if (t->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE)
                /* Partition-aware frameworks see their task come back. */
                task_master_transition(m, t, rt->state,
                                       MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REREGISTERED,
                                       "Agent reregistered", true);
            else if (rt->state != t->state)
                task_update_state(m, t, rt->latest_status, rt->state);
            task_count_resources(t);
            if (t->kill_pending && !task_state_terminal(rt->state)) {
                log_info("slave %s: delivering the kill of task %s of framework %s asked while "
                         "it was away",
                         s->id, task_id, fw_id);
                slave_send_kill(m, s, fw_id, task_id,
                                t->kill_policy ? t->kill_policy : t->info->kill_policy);
            }
            continue;
        }
        char key[1024];
        snprintf(key, sizeof(key), "%s\n%s", fw_id, task_id);
        struct lost_task *lt = NULL;
        HASH_FIND_STR(s->lost, key, lt);
        if (lt) {
            HASH_DELETE(hh, s->lost, lt);
            free(lt->key);
            free(lt);
            if (!fw->partition_aware) {
                /* Reported TASK_LOST to a framework that cannot take it back. */
                if (!task_state_terminal(rt->state)) {
                    log_info("slave %s: killing task %s of framework %s, reported lost earlier",
                             s->id, task_id, fw_id);
                    slave_send_kill(m, s, fw_id, task_id, rt->task_info->kill_policy);
                }
                continue;
            }
        }
        struct resources res;
        char *err = NULL;
        res_init(&res);
        if (res_from_pb(rt->task_info->resources, rt->task_info->n_resources, &res, &err) != 0) {
            log_warn("slave %s: task %s has bad resources (%s); counted as none", s->id, task_id,
                     err);
            free(err);
            err = NULL;
        }
        const Mesos__V1__ExecutorInfo *ex = rt->task_info->executor;
        if (ex && ex->n_resources) {
            struct resources er;
            res_init(&er);
            if (res_from_pb(ex->resources, ex->n_resources, &er, &err) == 0)
                res_add(&res, &er);
            free(err);
            res_cleanup(&er);
        }
        t = task_create(m, fw, s, rt->task_info, &res, rt->state);
        res_cleanup(&res);
        if (rt->latest_status)
            t->latest = pb_dup(&rt->latest_status->base);
        t->seen_gen = gen;
        log_info("slave %s: recovered task %s of framework %s in %s", s->id, task_id, fw_id,
                 task_state_name(rt->state));
    }

    /* Tasks the master placed here that the slave does not know any more. */
    struct task *t, *tmp;
    DL_FOREACH_SAFE2(s->tasks, t, tmp, slave_next)
    {
        if (t->seen_gen == gen)
            continue;
        if (!task_state_terminal(t->state)) {
            Mesos__V1__TaskState st;
            if (!t->fw->partition_aware)
                st = MESOS__V1__TASK_STATE__TASK_LOST;
            else if (t->state == MESOS__V1__TASK_STATE__TASK_STAGING)
                st = MESOS__V1__TASK_STATE__TASK_DROPPED;
            else
                st = MESOS__V1__TASK_STATE__TASK_GONE;
            task_master_transition(m, t, st,
                                   MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_REREGISTERED,
                                   "Task not known to the agent after it reregistered", true);
        }
        task_remove(m, t);
    }
}

/* From now on the slave's resources are offered. */
static void slave_enter_allocator(struct master *m, struct slave *s)
{
    alloc_add_slave(m->alloc, s->id, &s->total);
    s->in_allocator = true;
    struct task *t;
    DL_FOREACH2 (s->tasks, t, slave_next)
        if (t->resources_used)
            alloc_add_used(m->alloc, t->fw->id, s->id, &t->res);
    alloc_request(m->alloc);
}

void slave_admissions_durable(struct master *m)
{
    if (!m->admissions_pending)
        return;
    bool left = false;
    struct slave *s, *tmp;
    HASH_ITER (hh, m->slaves, s, tmp) {
        if (!s->admission_pending)
            continue;
        if (!registry_slave_durable(m->registry, s->id)) {
            left = true;
            continue;
        }
        s->admission_pending = false;
        /* One that went away meanwhile enters at its next SUBSCRIBE. */
        if (s->state == SLAVE_STATE_CONNECTED && !s->in_allocator)
            slave_enter_allocator(m, s);
    }
    m->admissions_pending = left;
}

static void handle_subscribe(struct master *m, struct rest_req *rq, const Agora__Slave__Call *call)
{
    struct evhttp_request *req = rq->req;
    const Agora__Slave__Call__Subscribe *sub = call->subscribe;
    const Mesos__V1__AgentInfo *ai = sub->agent_info;
    struct resources total;
    char *err = NULL;
    char *new_id = NULL;
    res_init(&total);

    if (!ai->hostname || !ai->hostname[0]) {
        rest_error(rq, 400, "Expecting 'subscribe.agent_info.hostname' to be non-empty");
        goto out;
    }
    if (res_from_pb(ai->resources, ai->n_resources, &total, &err) != 0) {
        rest_error(rq, 400, "Invalid 'subscribe.agent_info.resources': %s", err);
        goto out;
    }
    const char *id = call->agent_id ? call->agent_id->value : (ai->id ? ai->id->value : NULL);
    if (id && !id[0]) {
        rest_error(rq, 400, "Expecting 'agent_id.value' to be non-empty");
        goto out;
    }
    if (id && registry_slave_state(m->registry, id) == REG_SLAVE_GONE) {
        log_warn("slave %s (%s) is gone; refusing its re-registration", id, ai->hostname);
        refuse_slave(req, "Agent has been marked gone");
        goto out;
    }
    struct slave *s = id ? slave_find(m, id) : NULL;
    bool rereg = id != NULL;
    if (!s) {
        if (!id) {
            new_id = xasprintf("%s-S%llu", m->id, (unsigned long long)m->next_slave_seq++);
            id = new_id;
        }
        s = xcalloc(1, sizeof(*s));
        s->m = m;
        s->id = xstrdup(id);
        s->state = SLAVE_STATE_DISCONNECTED;
        res_init(&s->total);
        res_init(&s->used);
        res_init(&s->offered);
        s->registered_time = time_now();
        HASH_ADD_KEYPTR(hh, m->slaves, s->id, strlen(s->id), s);
    } else {
        if (s->stream) {
            log_info("slave %s re-subscribed; replacing its old stream", s->id);
            http_stream_close(s->stream);
            s->stream = NULL;
        }
        offers_rescind_slave(m, s);
        if (s->in_allocator) {
            alloc_remove_slave(m->alloc, s->id);
            s->in_allocator = false;
        }
        struct task *t;
        DL_FOREACH2 (s->tasks, t, slave_next)
            task_release_resources(m, t, false);
    }
    if (rereg)
        s->reregistered_time = time_now();

    /* The slave's description, with its id. */
    Mesos__V1__AgentInfo tmp = *ai;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = s->id;
    tmp.id = &aid;
    pb_free(s->info);
    s->info = pb_dup(&tmp.base);
    free(s->hostname);
    s->hostname = xstrdup(ai->hostname);
    s->port = ai->has_port ? ai->port : 5051;
    free(s->pid);
    s->pid =
        xasprintf("slave(1)@%s:%d", http_req_peer(req) ? http_req_peer(req) : s->hostname, s->port);
    res_cleanup(&s->total);
    res_copy(&s->total, &total);
    registry_slave_set(m->registry, s->id, s->hostname, REG_SLAVE_ADMITTED);

    id_uuid_string(s->stream_id);
    http_add_header(req, "Mesos-Stream-Id", s->stream_id);
    s->stream = http_stream_start(req, 200, CT_PROTOBUF, slave_stream_closed, s);
    /* Its address keeps reserved connection slots (http_conn.c). */
    http_stream_set_registered(s->stream);
    slave_set_state(m, s, SLAVE_STATE_CONNECTED);

    Agora__Slave__Event ev = AGORA__SLAVE__EVENT__INIT;
    Agora__Slave__Event__Registered reg = AGORA__SLAVE__EVENT__REGISTERED__INIT;
    reg.agent_id = &aid;
    reg.master_info = m->info;
    reg.has_ping_interval_seconds = 1;
    reg.ping_interval_seconds = m->cfg.slave_ping_timeout;
    reg.has_max_missed_pings = 1;
    reg.max_missed_pings = (uint32_t)m->cfg.max_slave_ping_timeouts;
    reg.has_batched_updates = 1;
    reg.batched_updates = 1;
    ev.has_type = 1;
    ev.type = AGORA__SLAVE__EVENT__TYPE__REGISTERED;
    ev.registered = &reg;
    slave_send(m, s, &ev);

    slave_reconcile_tasks(m, s, sub);

    if (registry_slave_durable(m->registry, s->id)) {
        slave_enter_allocator(m, s);
    } else {
        log_debug("slave %s: offered once the registry holds its admission", s->id);
        s->admission_pending = true;
        m->admissions_pending = true;
    }
    slave_start_pings(m, s);

    char *rs = res_format(&s->total);
    log_info("slave %s (%s, %s) %s with %s and %zu task(s)", s->id, s->hostname, s->pid,
             rereg ? "re-registered" : "registered", rs, s->ntasks);
    free(rs);
    metric_inc(rereg ? m->metrics.slave_reregistrations : m->metrics.slave_registrations, 1);
    if (!s->stream) /* the connection was already gone */
        slave_disconnect(m, s);

out:
    res_cleanup(&total);
    free(err);
    free(new_id);
}

/* ---------------------------------------------------------- STATUS_UPDATE */

static void handle_status_update(struct master *m, struct slave *s,
                                 const Agora__Slave__Call__StatusUpdate *su)
{
    const Mesos__V1__TaskStatus *st = su->status;
    const char *fw_id = su->framework_id->value;
    metric_inc(m->metrics.status_updates, 1);

    /* Forwarded status always names the slave. */
    Mesos__V1__TaskStatus fwd = *st;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = s->id;
    fwd.agent_id = &aid;
    if (!fwd.has_timestamp) {
        fwd.has_timestamp = 1;
        fwd.timestamp = time_now();
    }

    struct framework *fw = fw_find(m, fw_id);
    if (!fw) {
        if (fw_is_completed(m, fw_id)) {
            log_info("status update for task %s of removed framework %s; shutting it down on %s",
                     st->task_id->value, fw_id, s->id);
            slave_send_shutdown_framework(m, s, fw_id);
        } else {
            log_warn("status update %s for task %s of unknown framework %s dropped",
                     task_state_name(st->state), st->task_id->value, fw_id);
        }
        return;
    }
    struct task *t = task_find(fw, st->task_id->value);
    if (t && strcmp(t->slave_id, s->id) != 0) {
        log_warn("slave %s sent an update for task %s, which runs on %s; dropped", s->id, t->id,
                 t->slave_id);
        return;
    }
    bool duplicate = t && t->latest && st->has_uuid && t->latest->has_uuid &&
                     t->latest->uuid.len == st->uuid.len &&
                     memcmp(t->latest->uuid.data, st->uuid.data, st->uuid.len) == 0;
    /* A copy of an older update that arrives after the task ended (a
     * resend still in flight when its acknowledgement came, now that calls
     * carry several updates and are not cancelled one by one): a task
     * never leaves a terminal state. */
    if (t && !duplicate && task_state_terminal(t->state) && !task_state_terminal(st->state)) {
        log_info("task %s of framework %s: %s after %s, a late copy; dropped", t->id, fw->id,
                 task_state_name(st->state), task_state_name(t->state));
        return;
    }
    if (t && !duplicate) {
        /* The routine states of a healthy task only at debug (a line per
     * update cost a write(2) each at 10,000s of tasks/s); the others stay
     * at info. */
        bool routine = st->state == MESOS__V1__TASK_STATE__TASK_STARTING ||
                       st->state == MESOS__V1__TASK_STATE__TASK_RUNNING ||
                       st->state == MESOS__V1__TASK_STATE__TASK_FINISHED;
        log_msg(routine ? LOG_LVL_DEBUG : LOG_LVL_INFO, __FILE__, __LINE__,
                "task %s of framework %s: %s (from slave %s)", t->id, fw->id,
                task_state_name(st->state), s->id);
        if (st->state == MESOS__V1__TASK_STATE__TASK_RUNNING)
            master_queues_running(m, t);
        task_update_state(m, t, &fwd, st->state);
    } else if (!t) {
        log_info("status update %s for task %s of framework %s unknown to the master; forwarding",
                 task_state_name(st->state), st->task_id->value, fw_id);
    }
    if (fw->state == FW_STATE_ACTIVE)
        fw_send_update(m, fw, &fwd);
    else
        log_debug("framework %s not connected; update for task %s held by the slave", fw->id,
                  st->task_id->value);
    /* Without a uuid nobody acknowledges: a terminal task leaves now. */
    if (t && task_state_terminal(t->state) && !st->has_uuid)
        task_remove(m, t);
}

/* ----------------------------------------------------------------- handler */

void slave_api_handle(struct rest_req *rq)
{
    struct evhttp_request *req = rq->req;
    struct master *m = rq->arg;
    Agora__Slave__Call *call = NULL;

    size_t len;
    const char *body = http_req_body(req, &len);
    call = agora__slave__call__unpack(&agora_pb_allocator, len, (const uint8_t *)body);
    if (!call) {
        metric_inc(m->metrics.invalid_calls, 1);
        rest_error(rq, 400, "Failed to parse body into agora.slave.Call");
        goto out;
    }
    if (!call->has_type || call->type == AGORA__SLAVE__CALL__TYPE__UNKNOWN) {
        rest_error(rq, 400, "Expecting 'type' to be present");
        goto out;
    }
    if (call->type == AGORA__SLAVE__CALL__TYPE__SUBSCRIBE) {
        if (!call->subscribe) {
            rest_error(rq, 400, "Expecting 'subscribe' to be present");
            goto out;
        }
        handle_subscribe(m, rq, call);
        goto out;
    }
    if (!call->agent_id) {
        rest_error(rq, 400, "Expecting 'agent_id' to be present");
        goto out;
    }
    struct slave *s = slave_find(m, call->agent_id->value);
    if (!s || s->state != SLAVE_STATE_CONNECTED) {
        rest_error(rq, 403, "Agent %s is not subscribed", call->agent_id->value);
        goto out;
    }
    const char *sid = http_req_header(req, "Mesos-Stream-Id");
    if (!sid || strcmp(sid, s->stream_id) != 0) {
        rest_error(rq, 403,
                   "The stream ID '%s' included in this request didn't match the "
                   "stream ID currently associated with agent ID %s",
                   sid ? sid : "", s->id);
        goto out;
    }
    switch (call->type) {
    case AGORA__SLAVE__CALL__TYPE__STATUS_UPDATE:
        if (!call->status_update) {
            rest_error(rq, 400, "Expecting 'status_update' to be present");
            goto out;
        }
        handle_status_update(m, s, call->status_update);
        for (size_t k = 0; k < call->n_status_updates; k++)
            handle_status_update(m, s, call->status_updates[k]);
        metric_inc(m->metrics.status_update_calls, 1);
        break;
    case AGORA__SLAVE__CALL__TYPE__PONG:
        s->pong_pending = false;
        s->missed_pings = 0;
        break;
    default:
        rest_error(rq, 400, "Unknown call type %d", (int)call->type);
        goto out;
    }
    http_reply(req, 202, NULL, "", 0);

out:
    if (call)
        agora__slave__call__free_unpacked(call, &agora_pb_allocator);
}
