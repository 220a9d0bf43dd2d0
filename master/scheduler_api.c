/*
 * scheduler_api.c: POST /api/v1/scheduler, the Mesos v1 scheduler HTTP API.
 *
 * Owns request decoding (JSON or protobuf by Content-Type, response
 * encoding by Accept), call validation with Mesos' messages, SUBSCRIBE and
 * the framework's event stream (SUBSCRIBED, HEARTBEAT), and every other
 * call: TEARDOWN, ACCEPT (LAUNCH, LAUNCH_GROUP), DECLINE, REVIVE, SUPPRESS,
 * KILL, SHUTDOWN, ACKNOWLEDGE, RECONCILE, MESSAGE, REQUEST. Non-SUBSCRIBE
 * calls must carry the Mesos-Stream-Id of the framework's current stream
 * and answer 202 with an empty body; their effects reach the scheduler as
 * events on the stream.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>
#include <event2/http.h>
#include <utlist.h>

#include "master.h"
#include "allocator.h"
#include "http.h"
#include "host_policy.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "pbjson.h"
#include "rest.h"

#define CT_JSON "application/json"
#define CT_PROTOBUF "application/x-protobuf"
#define CT_RECORDIO "application/recordio"

/* ------------------------------------------------------------- validation */

static const char *call_type_name(int type)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&mesos__v1__scheduler__call__type__descriptor, type);
    return v ? v->name : "UNKNOWN";
}

/* Structural checks of a decoded Call, with Mesos' wording. 0 ok, -1 with
 * *err (caller frees). */
static int call_validate(const Mesos__V1__Scheduler__Call *c, char **err)
{
    if (!c->has_type || c->type == MESOS__V1__SCHEDULER__CALL__TYPE__UNKNOWN) {
        *err = xstrdup("Expecting 'type' to be present");
        return -1;
    }
    if (c->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
        if (!c->subscribe) {
            *err = xstrdup("Expecting 'subscribe' to be present");
            return -1;
        }
        const Mesos__V1__FrameworkInfo *fi = c->subscribe->framework_info;
        if (!fi) {
            *err = xstrdup("Expecting 'subscribe.framework_info' to be present");
            return -1;
        }
        if (fi->id && c->framework_id && strcmp(fi->id->value, c->framework_id->value) != 0) {
            *err = xstrdup("'framework_id' differs from 'subscribe.framework_info.id'");
            return -1;
        }
        if (fi->id && !fi->id->value[0]) {
            *err = xstrdup("Expecting 'subscribe.framework_info.id.value' to be non-empty");
            return -1;
        }
        if (fi->has_failover_timeout &&
            !(fi->failover_timeout >= 0 && isfinite(fi->failover_timeout))) {
            *err = xasprintf("Expecting 'subscribe.framework_info.failover_timeout' to be a "
                             "non-negative number, got %g",
                             fi->failover_timeout);
            return -1;
        }
        if (fi->n_roles > 1) {
            *err = xasprintf("Expecting at most one role in 'subscribe.framework_info.roles', got "
                             "%zu (multiple roles are not supported)",
                             fi->n_roles);
            return -1;
        }
        const char *role = fw_role(fi);
        if (!role[0] || strchr(role, '/') || strcmp(role, ".") == 0 || strcmp(role, "..") == 0 ||
            strchr(role, ' ')) {
            *err = xasprintf("Invalid role '%s' in 'subscribe.framework_info'", role);
            return -1;
        }
        return 0;
    }
    if (!c->framework_id) {
        *err = xstrdup("Expecting 'framework_id' to be present");
        return -1;
    }
    switch (c->type) {
    case MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN:
    case MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE:
    case MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS:
        return 0;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT:
        if (!c->accept)
            *err = xstrdup("Expecting 'accept' to be present");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE:
        if (!c->decline)
            *err = xstrdup("Expecting 'decline' to be present");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT_INVERSE_OFFERS:
        if (!c->accept_inverse_offers)
            *err = xstrdup("Expecting 'accept_inverse_offers' to be present");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE_INVERSE_OFFERS:
        if (!c->decline_inverse_offers)
            *err = xstrdup("Expecting 'decline_inverse_offers' to be present");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__KILL:
        if (!c->kill)
            *err = xstrdup("Expecting 'kill' to be present");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN:
        if (!c->shutdown)
            *err = xstrdup("Expecting 'shutdown' to be present");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE:
        if (!c->acknowledge)
            *err = xstrdup("Expecting 'acknowledge' to be present");
        else if (c->acknowledge->uuid.len != 16)
            *err = xasprintf("Expecting 'acknowledge.uuid' to be a 16-byte UUID, got %zu bytes",
                             c->acknowledge->uuid.len);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE:
        if (!c->reconcile)
            *err = xstrdup("Expecting 'reconcile' to be present");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE:
        if (!c->message)
            *err = xstrdup("Expecting 'message' to be present");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__REQUEST:
        if (!c->request)
            *err = xstrdup("Expecting 'request' to be present");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE_OPERATION_STATUS:
    case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE_OPERATIONS:
        *err = xasprintf("Call type '%s' is not supported", call_type_name(c->type));
        break;
    default:
        *err = xasprintf("Unknown call type %d", (int)c->type);
        break;
    }
    return *err ? -1 : 0;
}

/* -------------------------------------------------------------- SUBSCRIBE */

static void fw_stream_closed(struct http_stream *st, void *arg)
{
    struct framework *fw = arg;
    if (fw->stream != st)
        return;
    log_info("framework %s: event stream closed by the scheduler", fw->id);
    fw->stream = NULL;
    fw_disconnect(fw->m, fw);
}

static void fw_heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct framework *fw = arg;
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT;
    fw_send(fw->m, fw, &ev);
    metric_inc(fw->m->metrics.heartbeats, 1);
}

/* Encode one event for a stream that is not (yet) a framework's. */
static void send_error_and_close(struct evhttp_request *req, const char *ct, enum master_enc enc,
                                 const char *message)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Error er = MESOS__V1__SCHEDULER__EVENT__ERROR__INIT;
    er.message = (char *)message;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR;
    ev.error = &er;
    char *data;
    size_t len;
    if (enc == ENC_JSON) {
        data = pbjson_encode_string(&ev.base, &len);
    } else {
        data = (char *)pb_pack(&ev.base, &len);
    }
    char *hdr = xasprintf("%zu\n", len);
    struct http_stream *st = http_stream_start(req, 200, ct, NULL, NULL);
    if (st) {
        http_stream_send(st, hdr, strlen(hdr));
        http_stream_send(st, data, len);
        http_stream_close(st);
    }
    free(hdr);
    free(data);
}

/* Principals equal, absent counting as one value. */
static bool same_principal(const char *a, const char *b)
{
    return (a == NULL && b == NULL) || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

static void handle_subscribe(struct master *m, struct rest_req *rq,
                             const Mesos__V1__Scheduler__Call *call, enum master_enc enc,
                             bool recordio)
{
    struct evhttp_request *req = rq->req;
    /* A copy: an authenticated framework that leaves out its principal
     * gets its credentials' (as Mesos sets it), so that ACLs keyed on the
     * principal (run_tasks, teardown_frameworks) cannot be sidestepped. */
    Mesos__V1__FrameworkInfo info_copy = *call->subscribe->framework_info;
    const Mesos__V1__FrameworkInfo *info = &info_copy;
    const char *ct = recordio ? CT_RECORDIO : (enc == ENC_JSON ? CT_JSON : CT_PROTOBUF);
    char *new_id = NULL;

    if (http_req_header(req, "Mesos-Stream-Id")) {
        rest_error(rq, 400, "Subscribe calls should not include the 'Mesos-Stream-Id' header");
        return;
    }
    if (!master_authorized(m, ACL_REGISTER_FRAMEWORKS,
                           rq->principal ? rq->principal : info->principal, fw_role(info))) {
        rest_error(rq, 403, "Not authorized to use role '%s'", fw_role(info));
        return;
    }
    /* Authenticated: the framework is who its credentials say (Mesos). */
    if (rq->principal && info->principal && strcmp(info->principal, rq->principal) != 0) {
        rest_error(rq, 403,
                   "Authenticated principal '%s' does not match principal '%s' set in "
                   "`FrameworkInfo`",
                   rq->principal, info->principal);
        return;
    }
    if (rq->principal && !info->principal) {
        log_warn("framework '%s' authenticated as '%s' without a principal in FrameworkInfo; "
                 "setting it",
                 info->name ? info->name : "", rq->principal);
        info_copy.principal = (char *)rq->principal;
    }
    const char *id =
        info->id ? info->id->value : (call->framework_id ? call->framework_id->value : NULL);
    if (recordio)
        http_add_header(req, "Message-Content-Type", enc == ENC_JSON ? CT_JSON : CT_PROTOBUF);
    if (id && fw_is_completed(m, id)) {
        log_info("framework %s tried to subscribe after removal", id);
        send_error_and_close(req, ct, enc, "Framework has been removed");
        return;
    }

    struct framework *fw = id ? fw_find(m, id) : NULL;
    if (fw && !same_principal(fw->info->principal, info->principal)) {
        /* Else any principal could take a framework over by its id. */
        rest_error(rq, 403, "Changing framework's principal is not allowed");
        return;
    }
    if (fw) {
        if (fw->state == FW_STATE_ACTIVE && fw->stream) {
            Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
            Mesos__V1__Scheduler__Event__Error er = MESOS__V1__SCHEDULER__EVENT__ERROR__INIT;
            er.message = "Framework failed over";
            ev.has_type = 1;
            ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR;
            ev.error = &er;
            fw_send(m, fw, &ev);
            if (fw->stream)
                http_stream_close(fw->stream);
            fw->stream = NULL;
            log_info("framework %s failed over to a new scheduler connection", fw->id);
        }
        offers_rescind_framework(m, fw);
        if (fw->failover_ev)
            evtimer_del(fw->failover_ev);
        fw_update_info(m, fw, info);
    } else {
        if (!id) {
            new_id = xasprintf("%s-%04llu", m->id, (unsigned long long)m->next_framework_seq++);
            id = new_id;
        } else if (!registry_framework_known(m->registry, id)) {
            /* A scheduler re-subscribing after a master failover whose record
       * was lost: accept it under its id, as Mesos does. */
            log_info("framework %s is unknown; accepting its re-subscription", id);
        }
        fw = fw_create(m, id, info, FW_STATE_RECOVERED);
    }
    registry_framework_put(m->registry, fw->info);
    registry_framework_disconnected(m->registry, fw->id, 0);

    id_uuid_string(fw->stream_id);
    http_add_header(req, "Mesos-Stream-Id", fw->stream_id);
    fw->stream = http_stream_start(req, 200, ct, fw_stream_closed, fw);
    /* Its address keeps reserved connection slots (http_conn.c). */
    http_stream_set_registered(fw->stream);
    fw->enc = enc;
    fw->recordio_wrapped = recordio;
    fw->unregistered_time = 0;
    fw_set_state(m, fw, FW_STATE_ACTIVE);
    metric_inc(m->metrics.framework_subscriptions, 1);

    bool suppress = false;
    for (size_t i = 0; i < call->subscribe->n_suppressed_roles; i++)
        if (strcmp(call->subscribe->suppressed_roles[i], fw->role) == 0)
            suppress = true;
    alloc_activate_framework(m->alloc, fw->id);
    if (suppress && !fw->suppressed)
        alloc_suppress(m->alloc, fw->id);
    else if (!suppress && fw->suppressed)
        alloc_revive(m->alloc, fw->id);
    fw->suppressed = suppress;

    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Subscribed sub = MESOS__V1__SCHEDULER__EVENT__SUBSCRIBED__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = fw->id;
    sub.framework_id = &fid;
    sub.has_heartbeat_interval_seconds = 1;
    sub.heartbeat_interval_seconds = m->cfg.heartbeat_interval;
    sub.master_info = m->info;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
    ev.subscribed = &sub;
    fw_send(m, fw, &ev);

    if (!fw->heartbeat_ev)
        fw->heartbeat_ev = event_new(m->base, -1, EV_PERSIST, fw_heartbeat, fw);
    double hb = m->cfg.heartbeat_interval > 0 ? m->cfg.heartbeat_interval : 15;
    struct timeval tv = { (time_t)hb, (suseconds_t)((hb - floor(hb)) * 1e6) };
    evtimer_add(fw->heartbeat_ev, &tv);
    /* The stream id stays out of info logs: with it, a call passes as the
     * framework's where authentication is off. */
    log_info("framework %s (%s) subscribed, %s%s", fw->id, fw->info->name,
             enc == ENC_JSON ? "json" : "protobuf", recordio ? " in recordio" : "");
    log_debug("framework %s: stream %s", fw->id, fw->stream_id);
    alloc_request(m->alloc);
    free(new_id);
    if (!fw->stream) /* the connection was already gone */
        fw_disconnect(m, fw);
}

/* ----------------------------------------------------------------- ACCEPT */

/* Checks one task against the offered slave and what is left of the
 * offers. On success *res gets the task's (+ executor's) resources. */
static int task_validate(struct master *m, struct framework *fw, struct slave *s,
                         const Mesos__V1__TaskInfo *ti, const Mesos__V1__ExecutorInfo *group_exec,
                         const struct resources *avail, struct resources *res, char **err)
{
    const char *tid = ti->task_id->value;
    if (!tid[0] || strchr(tid, '/') || strcmp(tid, ".") == 0 || strcmp(tid, "..") == 0) {
        *err = xasprintf("Task ID '%s' is invalid: it must be non-empty, not '.' or '..', "
                         "and contain no '/'",
                         tid);
        return -1;
    }
    if (task_find(fw, tid)) {
        *err = xasprintf("Task has duplicate ID: %s", tid);
        return -1;
    }
    if (strcmp(ti->agent_id->value, s->id) != 0) {
        *err = xasprintf("Task uses invalid agent: %s (offers are for agent %s)",
                         ti->agent_id->value, s->id);
        return -1;
    }
    const Mesos__V1__ExecutorInfo *exec = group_exec ? group_exec : ti->executor;
    if (group_exec && ti->executor) {
        *err = xstrdup("Task in a task group must not have 'executor' set");
        return -1;
    }
    if (!group_exec && !ti->command && !ti->executor && !ti->container) {
        *err = xstrdup("Task should have at least one (but not both) of CommandInfo or "
                       "ExecutorInfo present");
        return -1;
    }
    if (!group_exec && ti->command && ti->executor) {
        *err = xstrdup("Task should have at least one (but not both) of CommandInfo or "
                       "ExecutorInfo present");
        return -1;
    }
    char *rerr = NULL;
    if (res_from_pb(ti->resources, ti->n_resources, res, &rerr) != 0) {
        *err = xasprintf("Task %s: invalid resources: %s", tid, rerr);
        free(rerr);
        return -1;
    }
    if (res_empty(res)) {
        *err = xasprintf("Task %s uses no resources", tid);
        return -1;
    }
    if (exec && exec->n_resources) {
        struct resources er;
        res_init(&er);
        if (res_from_pb(exec->resources, exec->n_resources, &er, &rerr) != 0) {
            *err = xasprintf("Executor of task %s: invalid resources: %s", tid, rerr);
            free(rerr);
            res_cleanup(&er);
            return -1;
        }
        res_add(res, &er);
        res_cleanup(&er);
    }
    if (!res_contains(avail, res)) {
        char *want = res_format(res), *have = res_format(avail);
        *err = xasprintf("Task %s uses more resources %s than available %s", tid, want, have);
        free(want);
        free(have);
        return -1;
    }
    return 0;
}

static void task_launch(struct master *m, struct framework *fw, struct slave *s,
                        const Mesos__V1__TaskInfo *ti, const Mesos__V1__ExecutorInfo *group_exec,
                        const struct resources *res)
{
    Mesos__V1__TaskInfo copy = *ti;
    if (group_exec)
        copy.executor = (Mesos__V1__ExecutorInfo *)group_exec;
    struct task *t = task_create(m, fw, s, &copy, res, MESOS__V1__TASK_STATE__TASK_STAGING);

    Agora__Slave__Event ev = AGORA__SLAVE__EVENT__INIT;
    Agora__Slave__Event__RunTask rt = AGORA__SLAVE__EVENT__RUN_TASK__INIT;
    rt.framework_info = fw->info;
    rt.task = t->info;
    ev.has_type = 1;
    ev.type = AGORA__SLAVE__EVENT__TYPE__RUN_TASK;
    ev.run_task = &rt;
    slave_send(m, s, &ev);
    metric_inc(m->metrics.tasks_launched, 1);
    master_queues_launched(m, t);
    /* Debug, not info: at 10,000 tasks/s a line per task was ~3 MB/s of log
   * and a write(2) each (tasks_launched_total counts them). */
    log_debug("launching task %s of framework %s on slave %s", t->id, fw->id, s->id);
}

static void task_refuse(struct master *m, struct framework *fw, const char *task_id,
                        const char *slave_id, Mesos__V1__TaskStatus__Reason reason, const char *msg)
{
    log_info("task %s of framework %s refused: %s", task_id, fw->id, msg);
    fw_send_master_update(m, fw, task_id, slave_id, MESOS__V1__TASK_STATE__TASK_ERROR, reason, msg);
    metric_inc(m->metrics.tasks_error, 1);
}

/* The ACL action that decides one host request of a task. */
static enum acl_action host_ask_action(enum host_ask_kind kind)
{
    switch (kind) {
    case HOST_ASK_PRIVILEGED:
        return ACL_LAUNCH_PRIVILEGED_CONTAINERS;
    case HOST_ASK_CAPABILITY:
        return ACL_ADD_CAPABILITIES;
    case HOST_ASK_HOST_PATH:
        break;
    }
    return ACL_MOUNT_HOST_PATHS;
}

/* --acls run_tasks: may the framework's principal run ti as its user?
 * And launch_privileged_containers, add_capabilities, mount_host_paths
 * for what ti asks of the slave's host (the slave's own flags decide
 * again when it gets the task). */
static bool task_authorized(struct master *m, const struct framework *fw,
                            const Mesos__V1__TaskInfo *ti, char **err)
{
    const char *user = ti->command && ti->command->user ? ti->command->user : fw->info->user;
    struct host_asks asks;
    char *e = NULL;
    bool ok = true;

    if (!master_authorized(m, ACL_RUN_TASKS, fw->info->principal, user)) {
        *err = xasprintf("Not authorized to launch task %s as user '%s'", ti->task_id->value,
                         user ? user : "");
        return false;
    }
    if (m->acls == NULL)
        return true;
    if (host_asks_scan(ti, &asks, &e) < 0) {
        free(e); /* a bad volume: task_validate or the slave names it */
        return true;
    }
    for (size_t i = 0; i < asks.n && ok; i++) {
        const struct host_ask *a = &asks.v[i];
        enum acl_action act = host_ask_action(a->kind);
        const char *object = a->kind == HOST_ASK_PRIVILEGED ? user : a->value;
        if (!master_authorized(m, act, fw->info->principal, object)) {
            ok = false;
            if (a->kind == HOST_ASK_PRIVILEGED)
                *err = xasprintf("Not authorized to launch task %s: %s (%s)", ti->task_id->value,
                                 a->field, acl_action_name(act));
            else
                *err = xasprintf("Not authorized to launch task %s: %s '%s' (%s)",
                                 ti->task_id->value, a->field, a->value, acl_action_name(act));
        }
    }
    host_asks_cleanup(&asks);
    return ok;
}

static void op_launch(struct master *m, struct framework *fw, struct slave *s,
                      const Mesos__V1__Offer__Operation__Launch *l, struct resources *avail)
{
    for (size_t i = 0; i < l->n_task_infos; i++) {
        const Mesos__V1__TaskInfo *ti = l->task_infos[i];
        struct resources res;
        char *err = NULL;
        res_init(&res);
        if (!task_authorized(m, fw, ti, &err)) {
            task_refuse(m, fw, ti->task_id->value, s->id,
                        MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNAUTHORIZED, err);
            free(err);
        } else if (task_validate(m, fw, s, ti, NULL, avail, &res, &err) != 0) {
            task_refuse(m, fw, ti->task_id->value, s->id,
                        MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, err);
            free(err);
        } else {
            res_subtract(avail, &res);
            task_launch(m, fw, s, ti, NULL, &res);
        }
        res_cleanup(&res);
    }
}

static void op_launch_group(struct master *m, struct framework *fw, struct slave *s,
                            const Mesos__V1__Offer__Operation__LaunchGroup *lg,
                            struct resources *avail)
{
    const Mesos__V1__TaskGroupInfo *g = lg->task_group;
    size_t n = g->n_tasks;
    struct resources *res = xcalloc(n ? n : 1, sizeof(*res));
    struct resources left;
    char *err = NULL;
    res_init(&left);
    res_copy(&left, avail);

    if (n == 0)
        err = xstrdup("Task group is empty");
    for (size_t i = 0; i < n && !err; i++) {
        res_init(&res[i]);
        for (size_t j = 0; j < i && !err; j++)
            if (strcmp(g->tasks[j]->task_id->value, g->tasks[i]->task_id->value) == 0)
                err =
                    xasprintf("Task group has duplicate task ID: %s", g->tasks[i]->task_id->value);
        if (!task_authorized(m, fw, g->tasks[i], &err))
            break;
        /* The executor's resources are charged once, with the first task. */
        if (!err && task_validate(m, fw, s, g->tasks[i], i == 0 ? lg->executor : NULL, &left,
                                  &res[i], &err) == 0)
            res_subtract(&left, &res[i]);
    }
    if (err) {
        for (size_t i = 0; i < n; i++)
            task_refuse(m, fw, g->tasks[i]->task_id->value, s->id,
                        MESOS__V1__TASK_STATUS__REASON__REASON_TASK_GROUP_INVALID, err);
        free(err);
    } else {
        for (size_t i = 0; i < n; i++) {
            res_subtract(avail, &res[i]);
            task_launch(m, fw, s, g->tasks[i], lg->executor, &res[i]);
        }
    }
    for (size_t i = 0; i < n; i++)
        res_cleanup(&res[i]);
    free(res);
    res_cleanup(&left);
}

static double filters_refuse(const Mesos__V1__Filters *f)
{
    if (!f || !f->has_refuse_seconds)
        return 5.0;
    if (!(f->refuse_seconds >= 0) || !isfinite(f->refuse_seconds))
        return 5.0;
    return f->refuse_seconds;
}

/* Every task an ACCEPT with bad offers would have launched is dropped. */
static void accept_drop_tasks(struct master *m, struct framework *fw,
                              const Mesos__V1__Scheduler__Call__Accept *a, const char *why)
{
    Mesos__V1__TaskState st = fw->partition_aware ? MESOS__V1__TASK_STATE__TASK_DROPPED
                                                  : MESOS__V1__TASK_STATE__TASK_LOST;
    for (size_t i = 0; i < a->n_operations; i++) {
        const Mesos__V1__Offer__Operation *op = a->operations[i];
        Mesos__V1__TaskInfo **tasks = NULL;
        size_t n = 0;
        if (op->launch) {
            tasks = op->launch->task_infos;
            n = op->launch->n_task_infos;
        } else if (op->launch_group && op->launch_group->task_group) {
            tasks = op->launch_group->task_group->tasks;
            n = op->launch_group->task_group->n_tasks;
        }
        for (size_t j = 0; j < n; j++)
            fw_send_master_update(m, fw, tasks[j]->task_id->value, tasks[j]->agent_id->value, st,
                                  MESOS__V1__TASK_STATUS__REASON__REASON_INVALID_OFFERS, why);
    }
}

static void call_accept(struct master *m, struct framework *fw,
                        const Mesos__V1__Scheduler__Call__Accept *a)
{
    size_t n = a->n_offer_ids;
    struct offer **offers = xcalloc(n ? n : 1, sizeof(*offers));
    char *err = NULL;
    double refuse = filters_refuse(a->filters);

    if (n == 0)
        err = xstrdup("No offers specified in 'accept.offer_ids'");
    for (size_t i = 0; i < n; i++) {
        const char *oid = a->offer_ids[i]->value;
        struct offer *o = offer_find(m, oid);
        for (size_t j = 0; j < i && o; j++)
            if (offers[j] == o) {
                if (!err)
                    err = xasprintf("Duplicate offer %s in 'accept.offer_ids'", oid);
                o = NULL;
            }
        if (o && o->fw != fw) {
            if (!err)
                err = xasprintf("Offer %s has invalid framework", oid);
            o = NULL;
        }
        if (!o && !err)
            err = xasprintf("Offer %s is no longer valid", oid);
        if (o && offers[0] && o->slave != offers[0]->slave && !err)
            err = xasprintf("Aggregated offers must belong to one single agent: offer %s is on %s, "
                            "not %s",
                            oid, o->slave->id, offers[0]->slave->id);
        offers[i] = o;
    }

    if (err) {
        log_info("framework %s: ACCEPT refused: %s", fw->id, err);
        for (size_t i = 0; i < n; i++) {
            if (!offers[i])
                continue;
            if (offers[i]->slave->in_allocator)
                alloc_recover(m->alloc, fw->id, offers[i]->slave->id, &offers[i]->res, 0);
            offer_remove(m, offers[i]);
        }
        accept_drop_tasks(m, fw, a, err);
        free(err);
        free(offers);
        return;
    }

    struct slave *s = offers[0]->slave;
    struct resources avail;
    res_init(&avail);
    for (size_t i = 0; i < n; i++) {
        res_add(&avail, &offers[i]->res);
        offer_remove(m, offers[i]);
    }
    free(offers);
    metric_inc(m->metrics.offers_accepted, (double)n);

    for (size_t i = 0; i < a->n_operations; i++) {
        const Mesos__V1__Offer__Operation *op = a->operations[i];
        int type = op->has_type ? (int)op->type : 0;
        if (type == MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH && op->launch) {
            op_launch(m, fw, s, op->launch, &avail);
        } else if (type == MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH_GROUP && op->launch_group) {
            op_launch_group(m, fw, s, op->launch_group, &avail);
        } else {
            const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
                &mesos__v1__offer__operation__type__descriptor, type);
            log_warn("framework %s: offer operation %s is not supported; ignored", fw->id,
                     v ? v->name : "UNKNOWN");
        }
    }
    if (s->in_allocator)
        alloc_recover(m->alloc, fw->id, s->id, &avail, refuse);
    res_cleanup(&avail);
}

/* ----------------------------------------------------------- other calls */

static void call_decline(struct master *m, struct framework *fw,
                         const Mesos__V1__Scheduler__Call__Decline *d)
{
    double refuse = filters_refuse(d->filters);
    for (size_t i = 0; i < d->n_offer_ids; i++) {
        struct offer *o = offer_find(m, d->offer_ids[i]->value);
        if (!o || o->fw != fw) {
            log_debug("framework %s declined unknown offer %s", fw->id, d->offer_ids[i]->value);
            continue;
        }
        if (o->slave->in_allocator)
            alloc_recover(m->alloc, fw->id, o->slave->id, &o->res, refuse);
        offer_remove(m, o);
        metric_inc(m->metrics.offers_declined, 1);
    }
}

/* Answer for one task as Mesos' reconciliation does. */
static void reconcile_one(struct master *m, struct framework *fw, const char *task_id,
                          const char *agent_id)
{
    struct task *t = task_find(fw, task_id);
    if (t) {
        Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
        Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
        Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
        if (t->latest) {
            st = *t->latest;
            st.has_uuid = 0; /* reconciliation answers need no ack */
            st.uuid.data = NULL;
            st.uuid.len = 0;
        }
        tid.value = t->id;
        aid.value = t->slave_id;
        st.task_id = &tid;
        st.agent_id = &aid;
        st.state = t->state;
        st.has_source = 1;
        st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_MASTER;
        st.has_reason = 1;
        st.reason = MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION;
        st.message = "Reconciliation: Latest task state";
        st.has_timestamp = 1;
        st.timestamp = time_now();
        fw_send_update(m, fw, &st);
        return;
    }
    Mesos__V1__TaskState state;
    const char *msg;
    struct slave *s = agent_id ? slave_find(m, agent_id) : NULL;
    enum reg_slave_state rs =
        agent_id && !s ? registry_slave_state(m->registry, agent_id) : REG_SLAVE_NONE;
    if (rs == REG_SLAVE_ADMITTED) {
        /* Admitted before a master restart and not re-registered yet: its
     * report will tell; answering now would be a lie (Mesos: no-op). */
        log_debug("framework %s: reconciliation of task %s deferred: slave %s not re-registered",
                  fw->id, task_id, agent_id);
        return;
    }
    if (!fw->partition_aware) {
        state = MESOS__V1__TASK_STATE__TASK_LOST;
        msg = "Reconciliation: Task is unknown";
    } else if ((s && s->state == SLAVE_STATE_UNREACHABLE) || rs == REG_SLAVE_UNREACHABLE) {
        state = MESOS__V1__TASK_STATE__TASK_UNREACHABLE;
        msg = "Reconciliation: Task is unreachable";
    } else if (rs == REG_SLAVE_GONE) {
        state = MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR;
        msg = "Reconciliation: Task is gone";
    } else if (s) {
        state = MESOS__V1__TASK_STATE__TASK_GONE;
        msg = "Reconciliation: Task is unknown to the agent";
    } else {
        state = MESOS__V1__TASK_STATE__TASK_UNKNOWN;
        msg = "Reconciliation: Task is unknown";
    }
    fw_send_master_update(m, fw, task_id, agent_id, state,
                          MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION, msg);
}

static void call_reconcile(struct master *m, struct framework *fw,
                           const Mesos__V1__Scheduler__Call__Reconcile *r)
{
    if (r->n_tasks == 0) {
        struct task *t, *tmp;
        HASH_ITER (hh, fw->tasks, t, tmp)
            reconcile_one(m, fw, t->id, t->slave_id);
        return;
    }
    for (size_t i = 0; i < r->n_tasks; i++)
        reconcile_one(m, fw, r->tasks[i]->task_id->value,
                      r->tasks[i]->agent_id ? r->tasks[i]->agent_id->value : NULL);
}

static void call_kill(struct master *m, struct framework *fw,
                      const Mesos__V1__Scheduler__Call__Kill *k)
{
    struct task *t = task_find(fw, k->task_id->value);
    if (!t) {
        log_info("framework %s: KILL of unknown task %s; reconciling", fw->id, k->task_id->value);
        reconcile_one(m, fw, k->task_id->value, k->agent_id ? k->agent_id->value : NULL);
        return;
    }
    if (task_state_terminal(t->state))
        return;
    const Mesos__V1__KillPolicy *policy = k->kill_policy ? k->kill_policy : t->info->kill_policy;
    /* Remembered even when sent: a stream that breaks (the slave paused,
     * the network cut) loses what was queued on it, and the slave's
     * re-registration is where the master learns the task still runs. */
    bool kept = task_kill_remember(m, t, policy);
    if (!t->slave || t->slave->state != SLAVE_STATE_CONNECTED) {
        log_info("framework %s: task %s is on slave %s which is %s; kill %s", fw->id, t->id,
                 t->slave_id, t->slave ? slave_state_name(t->slave->state) : "gone",
                 kept ? "queued for its re-registration" : "dropped (queue full)");
        return;
    }
    log_info("framework %s: killing task %s on slave %s", fw->id, t->id, t->slave_id);
    slave_send_kill(m, t->slave, fw->id, t->id, policy);
}

static void call_acknowledge(struct master *m, struct framework *fw,
                             const Mesos__V1__Scheduler__Call__Acknowledge *a)
{
    struct slave *s = slave_find(m, a->agent_id->value);
    struct task *t = task_find(fw, a->task_id->value);
    if (s && s->state == SLAVE_STATE_CONNECTED) {
        Agora__Slave__Event ev = AGORA__SLAVE__EVENT__INIT;
        Agora__Slave__Event__Acknowledge ack = AGORA__SLAVE__EVENT__ACKNOWLEDGE__INIT;
        Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
        fid.value = fw->id;
        ack.framework_id = &fid;
        ack.task_id = a->task_id;
        ack.uuid = a->uuid;
        ev.has_type = 1;
        ev.type = AGORA__SLAVE__EVENT__TYPE__ACKNOWLEDGE;
        ev.acknowledge = &ack;
        slave_send(m, s, &ev);
    } else {
        log_info("framework %s: acknowledgement for task %s dropped: slave %s is %s", fw->id,
                 a->task_id->value, a->agent_id->value, s ? slave_state_name(s->state) : "unknown");
    }
    /* A terminal task leaves the model once its terminal update is acked. */
    if (t && task_state_terminal(t->state) && t->latest && t->latest->has_uuid &&
        t->latest->uuid.len == a->uuid.len &&
        memcmp(t->latest->uuid.data, a->uuid.data, a->uuid.len) == 0)
        task_remove(m, t);
}

/* ---------------------------------------------------------------- handler */

void scheduler_api_handle(struct rest_req *rq)
{
    struct evhttp_request *req = rq->req;
    struct master *m = rq->arg;
    Mesos__V1__Scheduler__Call *call = NULL;
    char *err = NULL;
    enum master_enc enc;
    bool recordio;

    bool json = rq->consumed == 0; /* the route consumes JSON or protobuf */
    if (master_negotiate_accept(req, &enc, &recordio) != 0) {
        rest_error(rq, 406,
                   "Expecting 'Accept' to allow %s or %s (or %s with "
                   "'Message-Accept'), got '%s'",
                   CT_JSON, CT_PROTOBUF, CT_RECORDIO, http_req_header(req, "Accept"));
        goto out;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    if (json) {
        call = (Mesos__V1__Scheduler__Call *)pbjson_decode_string(
            &mesos__v1__scheduler__call__descriptor, body, len, &err);
    } else {
        call = mesos__v1__scheduler__call__unpack(&agora_pb_allocator, len, (const uint8_t *)body);
        if (!call)
            err = xstrdup("invalid protobuf message (or a required field is missing)");
    }
    if (!call) {
        metric_inc(m->metrics.invalid_calls, 1);
        rest_error(rq, 400, "Failed to parse body into Call: %s", err ? err : "?");
        goto out;
    }
    if (call_validate(call, &err) != 0) {
        metric_inc(m->metrics.invalid_calls, 1);
        rest_error(rq, 400, "Failed to validate scheduler::Call: %s", err);
        goto out;
    }
    if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
        handle_subscribe(m, rq, call, enc, recordio);
        goto out;
    }

    struct framework *fw = fw_find(m, call->framework_id->value);
    if (!fw || fw->state != FW_STATE_ACTIVE) {
        rest_error(rq, 403, "Framework is not subscribed");
        goto out;
    }
    const char *sid = http_req_header(req, "Mesos-Stream-Id");
    if (!sid) {
        rest_error(rq, 403,
                   "All non-subscribe calls should include the 'Mesos-Stream-Id' "
                   "header");
        goto out;
    }
    if (strcmp(sid, fw->stream_id) != 0) {
        rest_error(rq, 403,
                   "The stream ID '%s' included in this request didn't match the "
                   "stream ID currently associated with framework ID %s",
                   sid, fw->id);
        goto out;
    }
    if (rq->principal && !same_principal(rq->principal, fw->info->principal)) {
        rest_error(rq, 403,
                   "Authenticated principal '%s' does not match principal '%s' used to "
                   "subscribe",
                   rq->principal, fw->info->principal ? fw->info->principal : "");
        goto out;
    }
    log_debug("framework %s: %s", fw->id, call_type_name(call->type));

    switch (call->type) {
    case MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN:
        fw_remove(m, fw, "the scheduler asked for TEARDOWN");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT:
        call_accept(m, fw, call->accept);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE:
        call_decline(m, fw, call->decline);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE:
        fw->suppressed = false;
        alloc_revive(m->alloc, fw->id);
        alloc_request(m->alloc);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS:
        fw->suppressed = true;
        alloc_suppress(m->alloc, fw->id);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__KILL:
        call_kill(m, fw, call->kill);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__SHUTDOWN:
        /* Agora has no custom executors to shut down. */
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE:
        call_acknowledge(m, fw, call->acknowledge);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE:
        call_reconcile(m, fw, call->reconcile);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE:
        log_debug("framework %s: MESSAGE for executor %s dropped (no executors)", fw->id,
                  call->message->executor_id->value);
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__REQUEST:
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT_INVERSE_OFFERS:
    case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE_INVERSE_OFFERS:
        /* Nothing to do: no resource requests, no inverse offers. */
        break;
    default:
        break;
    }
    http_reply(req, 202, NULL, "", 0);

out:
    free(err);
    if (call)
        protobuf_c_message_free_unpacked(&call->base, json ? NULL : &agora_pb_allocator);
}
