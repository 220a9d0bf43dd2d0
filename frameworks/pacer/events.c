/*
 * events: Marathon's event bus on /v2/events (Server-Sent Events through
 * common/sse.c). Every event is "event: <eventType>" and one "data:" line
 * of JSON with eventType and timestamp, with the payloads Marathon 1.10
 * sends (strict clients such as python3-marathon build typed objects from
 * them: a deployment plan holds only id, version, original, target and
 * steps; a group only id, apps, groups, pods, dependencies, version).
 *
 * Subscribers filter with ?event_type= (repeatable) and choose
 * ?plan-format=light (plans without original and target). A subscriber
 * that falls behind is dropped by the hub, never slowing Pacer down.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "pacer.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "rest.h"
#include "sse.h"
#include "timeutil.h"

#define MAX_TYPES 32

/* What one subscriber asked for. */
struct sub {
    char *types[MAX_TYPES];
    size_t ntypes;
    bool light;
    char *remote;
    struct pacer *p;
};

static bool sub_wants(const struct sub *s, const char *type)
{
    if (s->ntypes == 0)
        return true;
    for (size_t k = 0; k < s->ntypes; k++) {
        if (strcmp(s->types[k], type) == 0)
            return true;
    }
    return false;
}

/* The hub's filter: the event's payload comes in both plan formats; the
 * filter sends the light one (rendered once per event, for the first
 * subscriber that wants it) to those that asked for it and tells the hub
 * not to send them the default. */
struct pending {
    const char *type;
    json_t *full, *light;
    char *light_data; /* light, rendered; NULL until needed */
};
static struct pending *current;

static bool filter(struct sse_client *c, const char *type, const char *data, size_t len, void *arg)
{
    struct sub *s = arg;

    (void)data;
    (void)len;
    if (!sub_wants(s, type))
        return false;
    if (current != NULL && current->light != NULL && s->light) {
        if (current->light_data == NULL)
            current->light_data = json_dumps(current->light, JSON_COMPACT);
        if (current->light_data != NULL)
            sse_client_send(c, type, NULL, current->light_data, strlen(current->light_data));
        return false;
    }
    return true;
}

static void stamp(json_t *ev, const char *type)
{
    char ts[TIME_ISO_LEN];

    json_object_set_new(ev, "eventType", json_string(type));
    json_object_set_new(ev, "timestamp", json_string(time_format_iso8601(time_now(), ts)));
}

static void post2(struct pacer *p, const char *type, json_t *full, json_t *light)
{
    struct pending pd = { type, full, light, NULL };
    char *data;

    stamp(full, type);
    if (light != NULL)
        stamp(light, type);
    if (p->hub == NULL || sse_hub_count(p->hub) == 0)
        goto out;
    data = json_dumps(full, JSON_COMPACT);
    if (data == NULL)
        goto out;
    {
        struct pending *saved = current;

        current = &pd;
        sse_hub_broadcast(p->hub, type, NULL, data, strlen(data));
        current = saved;
    }
    free(data);
    free(pd.light_data);
out:
    json_decref(full);
    json_decref(light);
}

void events_post(struct pacer *p, const char *type, json_t *ev)
{
    post2(p, type, ev, NULL);
}

static json_t *ports_json(const struct instance *i)
{
    json_t *a = json_array();

    for (size_t k = 0; k < i->nports; k++)
        json_array_append_new(a, json_integer((json_int_t)i->ports[k]));
    return a;
}

void events_status_update(struct pacer *p, const struct instance *i, const char *state)
{
    events_post(p, "status_update_event",
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:[{s:s, s:s}], s:s}", "slaveId",
                          i->agent_id, "taskId", i->task_id, "taskStatus", state, "message",
                          i->message ? i->message : "", "appId", i->app_id, "host", i->host,
                          "ports", ports_json(i), "ipAddresses", "ipAddress", "127.0.0.1",
                          "protocol", "IPv4", "version", i->version));
}

void events_instance_changed(struct pacer *p, const struct instance *i)
{
    events_post(p, "instance_changed_event",
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "instanceId", i->instance_id, "slaveId",
                          i->agent_id, "condition", instance_condition(i), "host", i->host,
                          "runSpecId", i->app_id, "runSpecVersion", i->version));
}

static json_t *first_health_check(const struct instance *i)
{
    json_t *hcs = i->app ? json_object_get(i->app->def, "healthChecks") : NULL;
    json_t *hc = json_array_get(hcs, 0);

    return hc ? json_deep_copy(hc) : json_object();
}

void events_health_changed(struct pacer *p, const struct instance *i)
{
    events_post(p, "health_status_changed_event",
                json_pack("{s:s, s:s, s:s, s:s, s:b}", "appId", i->app_id, "taskId", i->task_id,
                          "instanceId", i->instance_id, "version", i->version, "alive",
                          i->healthy == 1));
    events_post(p, "instance_health_changed_event",
                json_pack("{s:s, s:s, s:s, s:b}", "instanceId", i->instance_id, "runSpecId",
                          i->app_id, "runSpecVersion", i->version, "healthy", i->healthy == 1));
}

void events_failed_health_check(struct pacer *p, const struct instance *i)
{
    events_post(p, "failed_health_check_event",
                json_pack("{s:s, s:s, s:s, s:o}", "appId", i->app_id, "taskId", i->task_id,
                          "instanceId", i->instance_id, "healthCheck", first_health_check(i)));
}

void events_unhealthy_kill(struct pacer *p, const struct instance *i)
{
    events_post(p, "unhealthy_instance_kill_event",
                json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "appId", i->app_id, "taskId",
                          i->task_id, "instanceId", i->instance_id, "version", i->version, "reason",
                          i->last_failure_cause ? i->last_failure_cause : "health check failed",
                          "host", i->host, "slaveId", i->agent_id));
}

/* A group as Marathon's plans carry it: the root with the apps of defs. */
static json_t *plan_group(const json_t *defs, const char *version)
{
    json_t *apps = json_array(), *v;
    const char *id;

    json_object_foreach((json_t *)defs, id, v)
    {
        if (json_is_object(v))
            json_array_append(apps, v);
    }
    return json_pack("{s:s, s:o, s:[], s:[], s:[], s:s}", "id", "/", "apps", apps, "groups", "pods",
                     "dependencies", "version", version);
}

static json_t *plan_json(const struct deployment *d, bool light)
{
    json_t *plan = json_pack("{s:s, s:s, s:o}", "id", d->id, "version", d->version, "steps",
                             deploy_steps_json(d));

    if (!light) {
        json_object_set_new(plan, "original", plan_group(d->original, d->version));
        json_object_set_new(plan, "target", plan_group(d->target, d->version));
    }
    return plan;
}

static json_t *current_step(const struct deployment *d)
{
    size_t s = d->current < d->nsteps ? d->current : d->nsteps - 1;

    return json_pack("{s:o}", "actions", deploy_actions_json(d, d->nsteps ? s : 0));
}

void events_deployment(struct pacer *p, const char *type, const struct deployment *d)
{
    json_t *full, *light;

    if (p->hub == NULL || sse_hub_count(p->hub) == 0)
        return;
    full = json_pack("{s:o}", "plan", plan_json(d, false));
    light = json_pack("{s:o}", "plan", plan_json(d, true));
    if (strcmp(type, "deployment_info") == 0 || strcmp(type, "deployment_step_success") == 0 ||
        strcmp(type, "deployment_step_failure") == 0) {
        json_object_set_new(full, "currentStep", current_step(d));
        json_object_set_new(light, "currentStep", current_step(d));
    } else {
        json_object_set_new(full, "id", json_string(d->id));
        json_object_set_new(light, "id", json_string(d->id));
    }
    post2(p, type, full, light);
}

void events_api_post(struct pacer *p, struct rest_req *rq, const json_t *def)
{
    events_post(p, "api_post_event",
                json_pack("{s:s, s:s, s:O}", "clientIp", http_req_peer(rq->req), "uri",
                          http_req_path(rq->req), "appDefinition", def));
}

/* ------------------------------------------------------------ /v2/events */

static void sub_free(struct sub *s)
{
    for (size_t k = 0; k < s->ntypes; k++)
        free(s->types[k]);
    free(s->remote);
    free(s);
}

struct detached {
    struct pacer *p;
    char *remote;
};

static void post_detached(evutil_socket_t fd, short what, void *arg)
{
    struct detached *d = arg;

    events_post(d->p, "event_stream_detached", json_pack("{s:s}", "remoteAddress", d->remote));
    free(d->remote);
    free(d);
}

static void on_close(struct sse_client *c, const char *reason, void *arg)
{
    struct sub *s = arg;
    struct detached *d;
    struct timeval now = { 0, 0 };

    log_debug("event stream of %s closed: %s", s->remote, reason);
    if (s->p->stopping) { /* the hub is being freed: no one to tell */
        sub_free(s);
        return;
    }
    d = xcalloc(1, sizeof(*d));
    /* Not from here: the hub may be in the middle of a broadcast that
     * dropped this subscriber, and a nested broadcast could drop the next
     * one under its feet. */
    d->p = s->p;
    d->remote = xstrdup(s->remote);
    if (event_base_once(s->p->base, -1, EV_TIMEOUT, post_detached, d, &now) < 0) {
        free(d->remote);
        free(d);
    }
    sub_free(s);
}

void api_events(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    static const char *const offers[] = { "text/event-stream" };
    const char *q = rest_req_query(rq);
    struct sub *s;
    struct sse_client *c;
    char *fmt;
    json_t *ev;
    char *data;

    if (rest_negotiate(http_req_header(rq->req, "Accept"), offers, 1) < 0) {
        rest_error(rq, 406, "/v2/events answers text/event-stream only");
        return;
    }
    s = xcalloc(1, sizeof(*s));
    s->p = p;
    s->remote = xstrdup(http_req_peer(rq->req));
    for (size_t k = 0; k < rest_query_count(q, "event_type") && s->ntypes < MAX_TYPES; k++) {
        char *t = rest_query_get(q, "event_type", k);

        if (t != NULL && *t)
            s->types[s->ntypes++] = t;
        else
            free(t);
    }
    fmt = rest_query_get(q, "plan-format", 0);
    s->light = fmt != NULL && strcmp(fmt, "light") == 0;
    free(fmt);
    c = sse_hub_add(p->hub, rq->req, filter, on_close, s);
    if (c == NULL) {
        sub_free(s);
        return;
    }
    /* The subscriber's own attach event first, then everyone's. */
    ev = json_pack("{s:s}", "remoteAddress", s->remote);
    stamp(ev, "event_stream_attached");
    data = json_dumps(ev, JSON_COMPACT);
    if (sub_wants(s, "event_stream_attached"))
        sse_client_send(c, "event_stream_attached", NULL, data, strlen(data));
    free(data);
    json_decref(ev);
}
