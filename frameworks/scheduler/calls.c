/*
 * calls: the framework's calls to the master (everything but SUBSCRIBE,
 * which scheduler.c sends as the event stream request). Each call is one
 * POST /api/v1/scheduler carrying Mesos-Stream-Id, answered 202; the calls
 * in flight are listed so that stop can wait for them and free can cancel
 * them.
 */
#include <stdlib.h>
#include <string.h>

#include "sched_internal.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "pbjson.h"
#include "pbutil.h"

#define SCHED_CALL_TIMEOUT 10.0

const char *sched_content_type(const struct agora_scheduler *s)
{
    return s->json ? SCHED_CT_JSON : SCHED_CT_PROTOBUF;
}

void sched_encode_call(const struct agora_scheduler *s, const Mesos__V1__Scheduler__Call *call,
                       char **out, size_t *len)
{
    if (s->json) {
        *out = pbjson_encode_string(&call->base, len);
        return;
    }
    *out = (char *)pb_pack(&call->base, len);
}

static const char *sched_call_type_name(int type)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value(&mesos__v1__scheduler__call__type__descriptor, type);
    return v ? v->name : "UNKNOWN";
}

static void sched_call_free(struct sched_call *c)
{
    free(c->stream_id);
    free(c);
}

/* Tell the framework how a call ended: its own done first (always, so
 * that its ctx can be freed), then the scheduler-wide call_done (not
 * after a stop: no callbacks then). */
static void sched_call_report(struct agora_scheduler *s, const struct sched_call *c,
                              const struct http_response *resp)
{
    char buf[256];
    struct agora_call_result r = {
        .type = (enum agora_call_type)c->type,
        .ok = resp->status == 202 || resp->status == 200,
        .http_status = resp->status,
        .ctx = c->ctx,
    };

    if (!c->done && (s->stopping || !s->cbs.call_done))
        return;
    if (!r.ok) {
        if (resp->status == 0) {
            r.error = resp->error ? resp->error : "no answer";
        } else {
            snprintf(buf, sizeof(buf), "HTTP %d %.*s", resp->status,
                     (int)(resp->len > 200 ? 200 : resp->len), resp->body ? resp->body : "");
            r.error = buf;
        }
    }
    if (c->done)
        c->done(s, &r, c->ctx);
    if (s->cbs.call_done && !s->stopping)
        s->cbs.call_done(s, &r, s->arg);
}

static void sched_call_done(const struct http_response *resp, void *arg)
{
    struct sched_call *c = arg;
    struct agora_scheduler *s = c->s;

    TAILQ_REMOVE(&s->calls, c, link);
    s->ncalls--;
    sched_call_report(s, c, resp);
    if (resp->status == 202 || resp->status == 200) {
        log_debug("scheduler %s: %s accepted", s->name, sched_call_type_name(c->type));
    } else if (resp->status == 307 || resp->status == 503) {
        const char *loc = resp->status == 307 ? http_header_get(resp->headers, "Location") : NULL;
        log_warn("scheduler %s: %s answered %d: leadership moved", s->name,
                 sched_call_type_name(c->type), resp->status);
        sched_leader_lost(s, c->stream_id, loc);
    } else if (resp->status == 0) {
        log_warn("scheduler %s: %s not answered: %s", s->name, sched_call_type_name(c->type),
                 resp->error ? resp->error : "?");
    } else {
        log_warn("scheduler %s: %s refused: %d %.*s", s->name, sched_call_type_name(c->type),
                 resp->status, (int)(resp->len > 300 ? 300 : resp->len), resp->body);
    }
    sched_call_free(c);
    if (s->ncalls == 0)
        sched_calls_drained(s);
}

void sched_calls_cancel_all(struct agora_scheduler *s)
{
    struct sched_call *c;

    while ((c = TAILQ_FIRST(&s->calls)) != NULL) {
        TAILQ_REMOVE(&s->calls, c, link);
        http_call_cancel(c->hc);
        if (c->done) {
            struct agora_call_result r = { .type = (enum agora_call_type)c->type,
                                           .error = "scheduler stopped",
                                           .ctx = c->ctx,
                                           .cancelled = true };
            c->done(s, &r, c->ctx);
        }
        sched_call_free(c);
    }
    s->ncalls = 0;
}

int sched_send(struct agora_scheduler *s, Mesos__V1__Scheduler__Call *call, int type,
               agora_call_done_fn done, void *ctx)
{
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    struct sched_call *c = NULL;
    char *body = NULL;
    size_t len = 0;

    if (s->state != AGORA_SCHED_SUBSCRIBED || !s->framework_id) {
        log_debug("scheduler %s: %s dropped: %s", s->name, sched_call_type_name(type),
                  agora_scheduler_state_name(s->state));
        return -1;
    }
    fid.value = s->framework_id;
    call->framework_id = &fid;
    call->has_type = 1;
    call->type = type;
    sched_encode_call(s, call, &body, &len);

    struct http_header hdrs[4] = {
        { "Content-Type", sched_content_type(s) },
        { "Accept", sched_content_type(s) },
    };
    size_t nhdrs = 2;
    if (s->stream_id)
        hdrs[nhdrs++] = (struct http_header){ "Mesos-Stream-Id", s->stream_id };
    if (s->auth_header)
        hdrs[nhdrs++] = (struct http_header){ "Authorization", s->auth_header };
    c = xcalloc(1, sizeof(*c));
    c->s = s;
    c->type = type;
    c->done = done;
    c->ctx = ctx;
    c->stream_id = s->stream_id ? xstrdup(s->stream_id) : NULL;
    c->hc = http_call_start(s->base, s->cur_host, s->cur_port, "POST", SCHED_API_PATH, hdrs, nhdrs,
                            body, len, SCHED_CALL_TIMEOUT, sched_call_done, c);
    free(body);
    if (!c->hc) {
        log_warn("scheduler %s: cannot send %s", s->name, sched_call_type_name(type));
        sched_call_free(c);
        return -1;
    }
    TAILQ_INSERT_TAIL(&s->calls, c, link);
    s->ncalls++;
    return 0;
}

static Mesos__V1__Filters *sched_filters(Mesos__V1__Filters *f, double refuse_seconds)
{
    if (refuse_seconds < 0)
        return NULL;
    mesos__v1__filters__init(f);
    f->has_refuse_seconds = 1;
    f->refuse_seconds = refuse_seconds;
    return f;
}

int agora_scheduler_accept(struct agora_scheduler *s, const char *const *offer_ids, size_t noffers,
                           Mesos__V1__Offer__Operation *const *ops, size_t nops,
                           double refuse_seconds)
{
    return agora_scheduler_accept_ex(s, offer_ids, noffers, ops, nops, refuse_seconds, NULL, NULL);
}

int agora_scheduler_accept_ex(struct agora_scheduler *s, const char *const *offer_ids,
                              size_t noffers, Mesos__V1__Offer__Operation *const *ops, size_t nops,
                              double refuse_seconds, agora_call_done_fn done, void *ctx)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Accept accept = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
    Mesos__V1__Filters filters;
    Mesos__V1__OfferID *ids = NULL, **idp = NULL;
    int rc = -1;

    if (noffers == 0 || !offer_ids)
        return -1;
    ids = xcalloc(noffers, sizeof(*ids));
    idp = xcalloc(noffers, sizeof(*idp));
    for (size_t i = 0; i < noffers; i++) {
        if (!offer_ids[i])
            goto out;
        mesos__v1__offer_id__init(&ids[i]);
        ids[i].value = (char *)offer_ids[i];
        idp[i] = &ids[i];
    }
    for (size_t i = 0; i < nops; i++)
        if (!ops[i])
            goto out;
    accept.n_offer_ids = noffers;
    accept.offer_ids = idp;
    accept.n_operations = nops;
    accept.operations = (Mesos__V1__Offer__Operation **)ops;
    accept.filters = sched_filters(&filters, refuse_seconds);
    call.accept = &accept;
    rc = sched_send(s, &call, MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT, done, ctx);
out:
    free(ids);
    free(idp);
    return rc;
}

static int sched_decline(struct agora_scheduler *s, const char *offer_id, double refuse_seconds,
                         agora_call_done_fn done, void *ctx);

static bool sched_task_valid(const Mesos__V1__TaskInfo *t)
{
    /* protobuf-c dereferences required fields when packing. */
    if (!t || !t->name || !t->task_id || !t->task_id->value)
        return false;
    for (size_t i = 0; i < t->n_resources; i++)
        if (!t->resources[i] || !t->resources[i]->name)
            return false;
    return true;
}

int agora_scheduler_launch(struct agora_scheduler *s, const Mesos__V1__Offer *offer,
                           Mesos__V1__TaskInfo *const *tasks, size_t n, double refuse_seconds)
{
    return agora_scheduler_launch_ex(s, offer, tasks, n, refuse_seconds, NULL, NULL);
}

int agora_scheduler_launch_ex(struct agora_scheduler *s, const Mesos__V1__Offer *offer,
                              Mesos__V1__TaskInfo *const *tasks, size_t n, double refuse_seconds,
                              agora_call_done_fn done, void *ctx)
{
    Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
    Mesos__V1__Offer__Operation__Launch launch = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
    Mesos__V1__Offer__Operation *opp = &op;
    Mesos__V1__TaskInfo *copies = NULL, **copyp = NULL;
    Mesos__V1__Resource *res = NULL, **resp = NULL;
    size_t nres = 0, k = 0;
    const char *oid;
    int rc = -1;

    if (!offer || !offer->id || !offer->id->value || !offer->agent_id)
        return -1;
    oid = offer->id->value;
    if (n == 0)
        return sched_decline(s, oid, refuse_seconds, done, ctx);
    if (!tasks)
        return -1;
    for (size_t i = 0; i < n; i++) {
        if (!sched_task_valid(tasks[i]))
            return -1;
        nres += tasks[i]->n_resources;
    }

    /* Shallow copies carry the offer's agent id and allocation info into
     * the packed call, so the caller's tasks stay untouched (const). */
    copies = xcalloc(n, sizeof(*copies));
    copyp = xcalloc(n, sizeof(*copyp));
    res = xcalloc(nres ? nres : 1, sizeof(*res));
    resp = xcalloc(nres ? nres : 1, sizeof(*resp));
    for (size_t i = 0; i < n; i++) {
        Mesos__V1__TaskInfo *t = &copies[i];
        *t = *tasks[i];
        if (!t->agent_id)
            t->agent_id = offer->agent_id;
        if (offer->allocation_info) {
            Mesos__V1__Resource **own = &resp[k];
            for (size_t j = 0; j < t->n_resources; j++, k++) {
                res[k] = *t->resources[j];
                if (!res[k].allocation_info)
                    res[k].allocation_info = offer->allocation_info;
                resp[k] = &res[k];
            }
            t->resources = own;
        }
        copyp[i] = t;
    }
    launch.n_task_infos = n;
    launch.task_infos = copyp;
    op.has_type = 1;
    op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
    op.launch = &launch;
    rc = agora_scheduler_accept_ex(s, &oid, 1, &opp, 1, refuse_seconds, done, ctx);
    free(copies);
    free(copyp);
    free(res);
    free(resp);
    return rc;
}

int agora_scheduler_decline(struct agora_scheduler *s, const char *offer_id, double refuse_seconds)
{
    return sched_decline(s, offer_id, refuse_seconds, NULL, NULL);
}

static int sched_decline(struct agora_scheduler *s, const char *offer_id, double refuse_seconds,
                         agora_call_done_fn done, void *ctx)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Decline decline = MESOS__V1__SCHEDULER__CALL__DECLINE__INIT;
    Mesos__V1__Filters filters;
    Mesos__V1__OfferID id = MESOS__V1__OFFER_ID__INIT;
    Mesos__V1__OfferID *idp = &id;

    if (!offer_id)
        return -1;
    id.value = (char *)offer_id;
    decline.n_offer_ids = 1;
    decline.offer_ids = &idp;
    decline.filters = sched_filters(&filters, refuse_seconds);
    call.decline = &decline;
    return sched_send(s, &call, MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE, done, ctx);
}

int agora_scheduler_revive(struct agora_scheduler *s)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Revive revive = MESOS__V1__SCHEDULER__CALL__REVIVE__INIT;

    call.revive = &revive;
    return sched_send(s, &call, MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE, NULL, NULL);
}

int agora_scheduler_suppress(struct agora_scheduler *s)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Suppress suppress = MESOS__V1__SCHEDULER__CALL__SUPPRESS__INIT;

    call.suppress = &suppress;
    return sched_send(s, &call, MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS, NULL, NULL);
}

int agora_scheduler_kill(struct agora_scheduler *s, const char *task_id, const char *agent_id)
{
    return agora_scheduler_kill_ex(s, task_id, agent_id, NULL, NULL);
}

int agora_scheduler_kill_status(struct agora_scheduler *s, const Mesos__V1__TaskStatus *status)
{
    if (!status || !status->task_id || !status->task_id->value)
        return -1;
    return agora_scheduler_kill_ex(s, status->task_id->value,
                                   status->agent_id ? status->agent_id->value : NULL, NULL, NULL);
}

int agora_scheduler_kill_ex(struct agora_scheduler *s, const char *task_id, const char *agent_id,
                            agora_call_done_fn done, void *ctx)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Kill kill = MESOS__V1__SCHEDULER__CALL__KILL__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;

    if (!task_id)
        return -1;
    tid.value = (char *)task_id;
    kill.task_id = &tid;
    if (agent_id) {
        aid.value = (char *)agent_id;
        kill.agent_id = &aid;
    }
    call.kill = &kill;
    return sched_send(s, &call, MESOS__V1__SCHEDULER__CALL__TYPE__KILL, done, ctx);
}

int agora_scheduler_acknowledge(struct agora_scheduler *s, const Mesos__V1__TaskStatus *status)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Acknowledge ack = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;

    if (!status || !status->task_id)
        return -1;
    if (!status->has_uuid || status->uuid.len == 0)
        return 0; /* master-generated update: nothing to acknowledge */
    if (s->tearing_down)
        return 0; /* the framework is gone with its updates: the master would say 403 */
    if (!status->agent_id) {
        log_warn("scheduler %s: update of %s has a uuid but no agent_id; not acknowledged", s->name,
                 status->task_id->value);
        return -1;
    }
    ack.agent_id = status->agent_id;
    ack.task_id = status->task_id;
    ack.uuid = status->uuid;
    call.acknowledge = &ack;
    return sched_send(s, &call, MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE, NULL, NULL);
}

int agora_scheduler_reconcile(struct agora_scheduler *s, const char *const *task_ids,
                              const char *const *agent_ids, size_t n)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Reconcile rec = MESOS__V1__SCHEDULER__CALL__RECONCILE__INIT;
    Mesos__V1__Scheduler__Call__Reconcile__Task *tasks = NULL, **taskp = NULL;
    Mesos__V1__TaskID *tids = NULL;
    Mesos__V1__AgentID *aids = NULL;
    int rc = -1;

    if (n) {
        if (!task_ids)
            return -1;
        tasks = xcalloc(n, sizeof(*tasks));
        taskp = xcalloc(n, sizeof(*taskp));
        tids = xcalloc(n, sizeof(*tids));
        aids = xcalloc(n, sizeof(*aids));
        for (size_t i = 0; i < n; i++) {
            if (!task_ids[i])
                goto out;
            mesos__v1__scheduler__call__reconcile__task__init(&tasks[i]);
            mesos__v1__task_id__init(&tids[i]);
            tids[i].value = (char *)task_ids[i];
            tasks[i].task_id = &tids[i];
            if (agent_ids && agent_ids[i]) {
                mesos__v1__agent_id__init(&aids[i]);
                aids[i].value = (char *)agent_ids[i];
                tasks[i].agent_id = &aids[i];
            }
            taskp[i] = &tasks[i];
        }
        rec.n_tasks = n;
        rec.tasks = taskp;
    }
    call.reconcile = &rec;
    rc = sched_send(s, &call, MESOS__V1__SCHEDULER__CALL__TYPE__RECONCILE, NULL, NULL);
out:
    free(tasks);
    free(taskp);
    free(tids);
    free(aids);
    return rc;
}

int agora_scheduler_message(struct agora_scheduler *s, const char *agent_id,
                            const char *executor_id, const void *data, size_t len)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Message msg = MESOS__V1__SCHEDULER__CALL__MESSAGE__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__ExecutorID eid = MESOS__V1__EXECUTOR_ID__INIT;

    if (!agent_id || !executor_id || (!data && len))
        return -1;
    aid.value = (char *)agent_id;
    eid.value = (char *)executor_id;
    msg.agent_id = &aid;
    msg.executor_id = &eid;
    msg.data.data = (uint8_t *)data;
    msg.data.len = len;
    call.message = &msg;
    return sched_send(s, &call, MESOS__V1__SCHEDULER__CALL__TYPE__MESSAGE, NULL, NULL);
}

int agora_scheduler_teardown(struct agora_scheduler *s)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    int rc = sched_send(s, &call, MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN, NULL, NULL);

    /* The master closes the stream next; do not come back as this framework. */
    if (rc == 0)
        s->tearing_down = true;
    return rc;
}

int agora_scheduler_finish(struct agora_scheduler *s)
{
    int rc = agora_scheduler_teardown(s);

    agora_scheduler_stop(s);
    return rc;
}
