/*
 * instances: what Pacer knows of each task it launched — created when an
 * offer is accepted (offers.c), changed by status updates (state,
 * health), ended when the task is terminal. Status updates for tasks
 * Pacer does not know (it never launched them, or forgot them) are killed:
 * after a restart with state lost, nothing runs unowned.
 *
 * Health comes from TaskStatus.healthy, which the slave's checker sets
 * (slave/health.c): true on the first success and on recovery, false on
 * every counted failure; the slave itself kills a task whose failures
 * reach maxConsecutiveFailures, and reports it TASK_KILLED with reason
 * REASON_TASK_HEALTH_CHECK_STATUS_UPDATED.
 */
#include <stdlib.h>
#include <string.h>

#include "pacer.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "mem.h"
#include "timeutil.h"

/* "/prod/web" -> "prod_web", the prefix of Marathon's task ids. */
static char *id_prefix(const char *app_id)
{
    char *s = xstrdup(app_id[0] == '/' ? app_id + 1 : app_id);

    for (char *c = s; *c; c++) {
        if (*c == '/')
            *c = '_';
    }
    return s;
}

struct instance *instance_new(struct pacer *p, struct papp *a, const char *agent_id,
                              const char *host)
{
    struct instance *i = xcalloc(1, sizeof(*i));
    char uuid[ID_UUID_STRLEN];
    char *prefix = id_prefix(a->id);

    id_uuid_string(uuid);
    i->instance_id = xasprintf("%s.instance-%s", prefix, uuid);
    i->task_id = xasprintf("%s._app.1", i->instance_id);
    free(prefix);
    i->app_id = xstrdup(a->id);
    i->app = a;
    i->version = xstrdup(json_string_value(json_object_get(a->def, "version")));
    i->config_version = xstrdup(a->last_config_change);
    i->agent_id = xstrdup(agent_id);
    i->host = xstrdup(host);
    i->state = -1;
    i->healthy = -1;
    i->last_reason = -1;
    i->has_health = a->spec.nhealth_checks > 0;
    i->staged_at = time_now();
    i->launched_mono = time_mono();
    HASH_ADD_KEYPTR(hh, p->instances, i->task_id, strlen(i->task_id), i);
    DL_APPEND(a->instances, i);
    a->ninstances++;
    return i;
}

const char *instance_condition(const struct instance *i)
{
    if (i->state < 0)
        return "Created";
    switch (i->state) {
    case MESOS__V1__TASK_STATE__TASK_STAGING:
        return i->killing ? "Killing" : "Staging";
    case MESOS__V1__TASK_STATE__TASK_STARTING:
        return i->killing ? "Killing" : "Starting";
    case MESOS__V1__TASK_STATE__TASK_RUNNING:
        return i->killing ? "Killing" : "Running";
    case MESOS__V1__TASK_STATE__TASK_KILLING:
        return "Killing";
    case MESOS__V1__TASK_STATE__TASK_FINISHED:
        return "Finished";
    case MESOS__V1__TASK_STATE__TASK_FAILED:
        return "Failed";
    case MESOS__V1__TASK_STATE__TASK_KILLED:
        return "Killed";
    case MESOS__V1__TASK_STATE__TASK_ERROR:
        return "Error";
    case MESOS__V1__TASK_STATE__TASK_LOST:
        return "Gone";
    case MESOS__V1__TASK_STATE__TASK_DROPPED:
        return "Dropped";
    case MESOS__V1__TASK_STATE__TASK_UNREACHABLE:
        return "Unreachable";
    case MESOS__V1__TASK_STATE__TASK_GONE:
        return "Gone";
    case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR:
        return "GoneByOperator";
    default:
        return "Unknown";
    }
}

void instance_kill(struct pacer *p, struct instance *i, const char *why)
{
    if (!instance_live(i))
        return;
    if (!i->killing) {
        log_info("killing %s (%s)", i->task_id, why);
        metric_inc(p->m_killed, 1);
    }
    i->killing = true;
    i->kill_sent_mono = time_mono();
    agora_scheduler_kill(p->sched, i->task_id, i->agent_id);
}

/* Forget i in memory (the store record is the caller's business). */
void instance_forget(struct pacer *p, struct instance *i)
{
    struct papp *a = i->app;

    if (a != NULL) {
        DL_DELETE(a->instances, i);
        a->ninstances--;
    }
    HASH_DEL(p->instances, i);
    free(i->task_id);
    free(i->instance_id);
    free(i->app_id);
    free(i->version);
    free(i->config_version);
    free(i->agent_id);
    free(i->host);
    for (size_t k = 0; k < i->nattrs; k++) {
        free((char *)i->attrs[k].name);
        free((char *)i->attrs[k].value);
    }
    free(i->attrs);
    free(i->last_failure_cause);
    free(i->message);
    free(i);
}

static bool failure_state(int st)
{
    switch (st) {
    case MESOS__V1__TASK_STATE__TASK_FAILED:
    case MESOS__V1__TASK_STATE__TASK_ERROR:
    case MESOS__V1__TASK_STATE__TASK_LOST:
    case MESOS__V1__TASK_STATE__TASK_DROPPED:
    case MESOS__V1__TASK_STATE__TASK_GONE:
    case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR:
    case MESOS__V1__TASK_STATE__TASK_UNKNOWN:
        return true;
    default:
        return false;
    }
}

static void record_failure(struct papp *a, const struct instance *i, const char *state)
{
    char ts[TIME_ISO_LEN];

    json_decref(a->last_task_failure);
    a->last_task_failure = json_pack(
        "{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "appId", a->id, "host", i->host, "message",
        i->message ? i->message : "", "state", state, "taskId", i->task_id, "timestamp",
        time_format_iso8601(time_now(), ts), "version", i->version, "slaveId", i->agent_id);
}

static void update_health(struct pacer *p, struct instance *i, const Mesos__V1__TaskStatus *st)
{
    double now = time_now();
    int was = i->healthy;

    if (!st->has_healthy)
        return;
    if (st->healthy) {
        if (i->first_success == 0)
            i->first_success = now;
        i->last_success = now;
        i->consecutive_failures = 0;
        i->healthy = 1;
    } else {
        i->last_failure = now;
        i->consecutive_failures++;
        free(i->last_failure_cause);
        i->last_failure_cause =
            xstrdup(st->message && *st->message ? st->message : "health check failed");
        i->healthy = 0;
        events_failed_health_check(p, i);
    }
    if (was != i->healthy)
        events_health_changed(p, i);
}

void instances_on_update(struct pacer *p, const Mesos__V1__TaskStatus *st)
{
    const char *task_id = st->task_id ? st->task_id->value : NULL;
    const char *state = agora_task_state_name(st->state);
    struct instance *i = NULL;
    struct papp *a;
    bool terminal;

    if (task_id == NULL)
        return;
    metric_inc(p->m_updates, 1);
    HASH_FIND_STR(p->instances, task_id, i);
    terminal =
        agora_task_state_terminal(st->state) || st->state == MESOS__V1__TASK_STATE__TASK_UNKNOWN;
    if (i == NULL) {
        if (!terminal) {
            log_warn("task %s (%s) is not one Pacer knows: killing it", task_id, state);
            agora_scheduler_kill(p->sched, task_id, st->agent_id ? st->agent_id->value : NULL);
        }
        return;
    }
    a = i->app;
    i->reconciling = false;
    if (i->state != (int)st->state)
        log_info("task %s: %s -> %s%s%s", task_id,
                 i->state < 0 ? "CREATED" : agora_task_state_name(i->state), state,
                 st->message && *st->message ? ": " : "", st->message ? st->message : "");
    if (st->message != NULL && *st->message) {
        free(i->message);
        i->message = xstrdup(st->message);
    }
    i->last_reason = st->has_reason ? (int)st->reason : -1;
    if (st->state == MESOS__V1__TASK_STATE__TASK_RUNNING && i->started_at == 0)
        i->started_at = st->has_timestamp ? st->timestamp : time_now();
    if (st->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE && i->unreachable_since == 0)
        i->unreachable_since = time_now();
    else if (st->state != MESOS__V1__TASK_STATE__TASK_UNREACHABLE)
        i->unreachable_since = 0;
    if (st->state == MESOS__V1__TASK_STATE__TASK_KILLING)
        i->killing = true;
    {
        bool changed = i->state != (int)st->state;

        i->state = (int)st->state;
        if (!terminal)
            update_health(p, i, st);
        if (changed) {
            events_status_update(p, i, state);
            events_instance_changed(p, i);
        }
    }
    if (!terminal) {
        pacer_kick(p);
        return;
    }
    /* Terminal: learn from it, then forget it. */
    if (a != NULL) {
        bool health_kill =
            st->has_reason &&
            st->reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;

        if (health_kill) {
            events_unhealthy_kill(p, i);
            record_failure(a, i, state);
        } else if (failure_state(st->state)) {
            record_failure(a, i, state);
        }
        /* A task that ended by itself makes the next launch wait longer. */
        if (!i->killing &&
            (failure_state(st->state) || st->state == MESOS__V1__TASK_STATE__TASK_FINISHED))
            queue_backoff(p, a);
    }
    state_delete_instance(p, i);
    instance_forget(p, i);
    if (a != NULL)
        papp_reap(p, a);
    pacer_kick(p);
}
