/*
 * render: Marathon's JSON for tasks and apps with their runtime fields
 * (tasksRunning, tasksHealthy, deployments, tasks, lastTaskFailure,
 * taskStats, versionInfo), shared by /v2/apps, /v2/tasks, /v2/groups and
 * the queue. Only keys Marathon has: strict clients fail on others.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "pacer.h"
#include "http.h"
#include "mem.h"
#include "timeutil.h"

static json_t *iso_or_null(double t)
{
    char ts[TIME_ISO_LEN];

    return t > 0 ? json_string(time_format_iso8601(t, ts)) : json_null();
}

json_t *render_health_results(const struct instance *i)
{
    json_t *list = json_array();

    if (!i->has_health || (i->healthy < 0 && i->last_failure == 0))
        return list;
    json_array_append_new(
        list, json_pack("{s:b, s:i, s:o, s:o, s:o, s:s, s:s, s:s}", "alive", i->healthy == 1,
                        "consecutiveFailures", i->consecutive_failures, "firstSuccess",
                        iso_or_null(i->first_success), "lastFailure", iso_or_null(i->last_failure),
                        "lastSuccess", iso_or_null(i->last_success), "lastFailureCause",
                        i->last_failure_cause ? i->last_failure_cause : "", "instanceId",
                        i->instance_id, "taskId", i->task_id));
    return list;
}

json_t *render_task(const struct pacer *p, const struct instance *i)
{
    json_t *ports = json_array(), *sports = json_array();
    const char *state = i->state < 0 ? "TASK_STAGING" : agora_task_state_name(i->state);
    char ts[TIME_ISO_LEN];

    if (i->killing && instance_live(i))
        state = "TASK_KILLING";
    for (size_t k = 0; k < i->nports; k++)
        json_array_append_new(ports, json_integer((json_int_t)i->ports[k]));
    for (size_t k = 0; i->app && k < i->app->nservice_ports; k++)
        json_array_append_new(sports, json_integer(i->app->service_ports[k]));
    return json_pack("{s:s, s:o, s:s, s:s, s:[{s:s, s:s}], s:o, s:o, s:s, s:s, s:o, s:s, s:s, "
                     "s:[]}",
                     "appId", i->app_id, "healthCheckResults", render_health_results(i), "host",
                     i->host, "id", i->task_id, "ipAddresses", "ipAddress", "127.0.0.1", "protocol",
                     "IPv4", "ports", ports, "servicePorts", sports, "slaveId", i->agent_id,
                     "stagedAt", time_format_iso8601(i->staged_at, ts), "startedAt",
                     iso_or_null(i->started_at), "state", state, "version", i->version,
                     "localVolumes");
}

struct counts {
    int staged, running, healthy, unhealthy;
};

static void count(const struct papp *a, struct counts *c)
{
    const struct instance *i;

    memset(c, 0, sizeof(*c));
    DL_FOREACH (a->instances, i) {
        if (!instance_live(i))
            continue;
        if (instance_running(i)) {
            c->running++;
            if (i->has_health && i->healthy == 1 && !i->killing)
                c->healthy++;
            else if (i->has_health && i->healthy == 0)
                c->unhealthy++;
        } else {
            c->staged++;
        }
    }
}

static json_t *task_stats(const struct papp *a)
{
    struct counts c;
    json_t *stats = json_object();

    count(a, &c);
    if (c.staged + c.running > 0)
        json_object_set_new(stats, "totalSummary",
                            json_pack("{s:{s:{s:i, s:i, s:i, s:i}}}", "stats", "counts", "staged",
                                      c.staged, "running", c.running, "healthy", c.healthy,
                                      "unhealthy", c.unhealthy));
    return stats;
}

json_t *render_app(struct pacer *p, struct papp *a, unsigned embed)
{
    json_t *j = json_deep_copy(a->def);
    struct counts c;

    count(a, &c);
    json_object_set_new(j, "tasksStaged", json_integer(c.staged));
    json_object_set_new(j, "tasksRunning", json_integer(c.running));
    json_object_set_new(j, "tasksHealthy", json_integer(c.healthy));
    json_object_set_new(j, "tasksUnhealthy", json_integer(c.unhealthy));
    json_object_set_new(j, "versionInfo",
                        json_pack("{s:s, s:s}", "lastScalingAt", a->last_scaling,
                                  "lastConfigChangeAt", a->last_config_change));
    {
        json_t *deps = json_array();

        if (a->deployment != NULL)
            json_array_append_new(deps, json_pack("{s:s}", "id", a->deployment->id));
        json_object_set_new(j, "deployments", deps);
    }
    if (embed & EMBED_TASKS) {
        json_t *tasks = json_array();
        const struct instance *i;

        DL_FOREACH (a->instances, i) {
            if (instance_live(i))
                json_array_append_new(tasks, render_task(p, i));
        }
        json_object_set_new(j, "tasks", tasks);
    }
    if ((embed & EMBED_LAST_FAILURE) && a->last_task_failure != NULL)
        json_object_set(j, "lastTaskFailure", a->last_task_failure);
    if (embed & EMBED_TASK_STATS)
        json_object_set_new(j, "taskStats", task_stats(a));
    if (embed & EMBED_READINESS)
        json_object_set_new(j, "readinessCheckResults", json_array());
    return j;
}

/* ------------------------------------------------- tasks, written directly */

/* Lists of thousands of tasks (GET /v2/apps?embed=apps.tasks, /v2/tasks)
 * are written straight into the answer's buffer: building and freeing a
 * jansson tree per task was two thirds of such a request (perf). The text
 * is the JSON render_task gives (tests compare the two). */
static void put_str(struct evbuffer *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *c = (const unsigned char *)(s ? s : "");
    const unsigned char *run = c;

    evbuffer_add(b, "\"", 1);
    for (; *c; c++) {
        if (*c >= 0x20 && *c != '"' && *c != '\\')
            continue;
        evbuffer_add(b, run, (size_t)(c - run));
        if (*c == '"' || *c == '\\') {
            char e[2] = { '\\', (char)*c };

            evbuffer_add(b, e, 2);
        } else {
            char e[6] = { '\\', 'u', '0', '0', hex[*c >> 4], hex[*c & 15] };

            evbuffer_add(b, e, 6);
        }
        run = c + 1;
    }
    evbuffer_add(b, run, (size_t)(c - run));
    evbuffer_add(b, "\"", 1);
}

static void put_iso(struct evbuffer *b, double t)
{
    char ts[TIME_ISO_LEN];

    if (t > 0)
        evbuffer_add_printf(b, "\"%s\"", time_format_iso8601(t, ts));
    else
        evbuffer_add(b, "null", 4);
}

void render_task_buf(struct evbuffer *b, const struct pacer *p, const struct instance *i)
{
    const char *state = i->state < 0 ? "TASK_STAGING" : agora_task_state_name(i->state);

    if (i->killing && instance_live(i))
        state = "TASK_KILLING";
    evbuffer_add_printf(b, "{\"appId\":");
    put_str(b, i->app_id);
    evbuffer_add_printf(b, ",\"healthCheckResults\":[");
    if (i->has_health && !(i->healthy < 0 && i->last_failure == 0)) {
        evbuffer_add_printf(b, "{\"alive\":%s,\"consecutiveFailures\":%d,\"firstSuccess\":",
                            i->healthy == 1 ? "true" : "false", i->consecutive_failures);
        put_iso(b, i->first_success);
        evbuffer_add_printf(b, ",\"lastFailure\":");
        put_iso(b, i->last_failure);
        evbuffer_add_printf(b, ",\"lastSuccess\":");
        put_iso(b, i->last_success);
        evbuffer_add_printf(b, ",\"lastFailureCause\":");
        put_str(b, i->last_failure_cause ? i->last_failure_cause : "");
        evbuffer_add_printf(b, ",\"instanceId\":");
        put_str(b, i->instance_id);
        evbuffer_add_printf(b, ",\"taskId\":");
        put_str(b, i->task_id);
        evbuffer_add(b, "}", 1);
    }
    evbuffer_add_printf(b, "],\"host\":");
    put_str(b, i->host);
    evbuffer_add_printf(b, ",\"id\":");
    put_str(b, i->task_id);
    evbuffer_add_printf(b, ",\"ipAddresses\":[{\"ipAddress\":\"127.0.0.1\",\"protocol\":\"IPv4\"}],"
                           "\"ports\":[");
    for (size_t k = 0; k < i->nports; k++)
        evbuffer_add_printf(b, "%s%llu", k ? "," : "", (unsigned long long)i->ports[k]);
    evbuffer_add_printf(b, "],\"servicePorts\":[");
    for (size_t k = 0; i->app && k < i->app->nservice_ports; k++)
        evbuffer_add_printf(b, "%s%d", k ? "," : "", i->app->service_ports[k]);
    evbuffer_add_printf(b, "],\"slaveId\":");
    put_str(b, i->agent_id);
    evbuffer_add_printf(b, ",\"stagedAt\":");
    put_iso(b, i->staged_at);
    evbuffer_add_printf(b, ",\"startedAt\":");
    put_iso(b, i->started_at);
    evbuffer_add_printf(b, ",\"state\":\"%s\",\"version\":", state);
    put_str(b, i->version);
    evbuffer_add_printf(b, ",\"localVolumes\":[]}");
}

/* app's JSON (render_app without tasks) with its live tasks appended. */
void render_app_buf(struct evbuffer *b, struct pacer *p, struct papp *a, unsigned embed)
{
    json_t *j = render_app(p, a, embed & ~(unsigned)EMBED_TASKS);
    char *s = json_dumps(j, JSON_COMPACT);
    size_t n = s ? strlen(s) : 0;
    const struct instance *i;
    bool first = true;

    json_decref(j);
    if (n < 2) { /* cannot happen: an app is an object */
        free(s);
        evbuffer_add(b, "{}", 2);
        return;
    }
    evbuffer_add(b, s, n - 1); /* without the closing brace */
    free(s);
    if (!(embed & EMBED_TASKS)) {
        evbuffer_add(b, "}", 1);
        return;
    }
    evbuffer_add_printf(b, ",\"tasks\":[");
    DL_FOREACH (a->instances, i) {
        if (!instance_live(i))
            continue;
        if (!first)
            evbuffer_add(b, ",", 1);
        first = false;
        render_task_buf(b, p, i);
    }
    evbuffer_add(b, "]}", 2);
}

void pacer_reply_buf(struct evhttp_request *req, struct evbuffer *b)
{
    size_t len = evbuffer_get_length(b);

    http_reply(req, 200, "application/json", evbuffer_pullup(b, -1), len);
    evbuffer_free(b);
}
