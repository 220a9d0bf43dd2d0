/*
 * patch: one task event of /v2/events applied to the kept
 * GET /v2/apps?embed=apps.tasks document, in place.
 *
 * Re-reading the whole document after every event costs about a second
 * at 1,000 apps / 10,000 tasks, so an instance would be routed seconds
 * after its TASK_RUNNING. A status_update_event or a
 * health_status_changed_event carries all that config.c reads of a task
 * (id, host, ports, ipAddresses, state, and alive for its
 * healthCheckResults), so the task is patched as /v2/apps would show it.
 * Anything this cannot be sure of answers -1 and the caller re-reads
 * everything: the document stays a copy of Marathon's, never a guess.
 * Every patch is idempotent (set, not toggle), so the events received
 * while a refresh was in flight can be replayed onto its answer.
 */
#include <string.h>

#include "pacer_lb.h"

/* Running or about to: the task is in /v2/apps with this state. */
static const char *const live_states[] = { "TASK_RUNNING", "TASK_STAGING", "TASK_STARTING" };
/* Still listed by Marathon, but not routable. */
static const char *const held_states[] = { "TASK_KILLING", "TASK_UNREACHABLE", "TASK_LOST",
                                           "TASK_UNKNOWN" };
/* Gone from /v2/apps. */
static const char *const gone_states[] = { "TASK_FINISHED",        "TASK_FAILED",  "TASK_KILLED",
                                           "TASK_ERROR",           "TASK_DROPPED", "TASK_GONE",
                                           "TASK_GONE_BY_OPERATOR" };

static bool in(const char *s, const char *const *list, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        if (strcmp(s, list[k]) == 0)
            return true;
    }
    return false;
}

#define IN(s, list) in((s), (list), sizeof(list) / sizeof(list[0]))

static json_t *find_by(json_t *arr, const char *key, const char *value)
{
    size_t k;
    json_t *o;
    json_array_foreach(arr, k, o)
    {
        const char *v = json_string_value(json_object_get(o, key));
        if (v != NULL && strcmp(v, value) == 0)
            return o;
    }
    return NULL;
}

/* The task of app named by ev's taskId, else by the instanceId its
 * health check results carry (Marathon 1.4+ names only the instance);
 * *index is its place in app's tasks. */
static json_t *find_task(json_t *app, const json_t *ev, size_t *index)
{
    json_t *tasks = json_object_get(app, "tasks");
    const char *tid = json_string_value(json_object_get(ev, "taskId"));
    const char *iid = json_string_value(json_object_get(ev, "instanceId"));
    size_t k;
    json_t *t;
    json_array_foreach(tasks, k, t)
    {
        const char *id = json_string_value(json_object_get(t, "id"));
        if ((tid != NULL && id != NULL && strcmp(id, tid) == 0) ||
            (tid == NULL && iid != NULL &&
             find_by(json_object_get(t, "healthCheckResults"), "instanceId", iid) != NULL)) {
            *index = k;
            return t;
        }
    }
    return NULL;
}

/* Set key of o to a copy of v (when v is not NULL); returns whether o
 * changed. */
static bool set_copy(json_t *o, const char *key, const json_t *v)
{
    if (v == NULL || json_equal(json_object_get(o, key), (json_t *)v))
        return false;
    json_object_set_new(o, key, json_deep_copy(v));
    return true;
}

static bool ports_valid(const json_t *ports)
{
    size_t k;
    const json_t *p;
    if (!json_is_array(ports))
        return false;
    json_array_foreach(ports, k, p)
    {
        if (!json_is_integer(p))
            return false;
    }
    return true;
}

static int status_update(json_t *app, const json_t *ev)
{
    const char *state = json_string_value(json_object_get(ev, "taskStatus"));
    const char *tid = json_string_value(json_object_get(ev, "taskId"));
    if (state == NULL || tid == NULL || *tid == '\0')
        return -1;
    size_t index = 0;
    json_t *task = find_task(app, ev, &index);
    if (IN(state, gone_states)) {
        if (task == NULL)
            return 0;
        json_array_remove(json_object_get(app, "tasks"), index);
        return 1;
    }
    if (IN(state, held_states)) {
        if (task == NULL)
            return 0;
        return set_copy(task, "state", json_object_get(ev, "taskStatus")) ? 1 : 0;
    }
    if (!IN(state, live_states))
        return -1; /* a state this does not know: ask Marathon */
    const json_t *host = json_object_get(ev, "host");
    const json_t *ports = json_object_get(ev, "ports");
    const json_t *ips = json_object_get(ev, "ipAddresses");
    if (!json_is_string(host) || !ports_valid(ports) || (ips != NULL && !json_is_array(ips)))
        return -1;
    if (task == NULL) {
        /* /v2/apps lists the task's addresses from its status; without
         * them here this could route to the host where /v2/apps would
         * not. */
        if (ips == NULL)
            return -1;
        json_t *tasks = json_object_get(app, "tasks");
        if (tasks == NULL) {
            tasks = json_array();
            json_object_set_new(app, "tasks", tasks);
        } else if (!json_is_array(tasks)) {
            return -1;
        }
        task = json_pack("{s:s, s:O, s:[]}", "id", tid, "appId", json_object_get(app, "id"),
                         "healthCheckResults");
        json_array_append_new(tasks, task);
    }
    set_copy(task, "state", json_object_get(ev, "taskStatus"));
    set_copy(task, "host", host);
    set_copy(task, "ports", ports);
    set_copy(task, "ipAddresses", ips);
    set_copy(task, "slaveId", json_object_get(ev, "slaveId"));
    set_copy(task, "version", json_object_get(ev, "version"));
    return 1;
}

static int health_changed(json_t *app, const json_t *ev)
{
    const json_t *alive = json_object_get(ev, "alive");
    const json_t *hcs = json_object_get(app, "healthChecks");
    if (!json_is_boolean(alive))
        return -1;
    /* The event names no health check: with several, which result it
     * sets is not known. */
    if (!json_is_array(hcs) || json_array_size(hcs) != 1)
        return -1;
    size_t index = 0;
    json_t *task = find_task(app, ev, &index);
    if (task == NULL)
        return json_is_true(alive) ? -1 : 0; /* unknown, or gone already */
    json_t *res = json_object_get(task, "healthCheckResults");
    if (res != NULL && !json_is_array(res))
        return -1;
    json_t *r = json_array_get(res, 0);
    if (r == NULL) {
        const char *iid = json_string_value(json_object_get(ev, "instanceId"));
        const json_t *tid = json_object_get(task, "id");
        r = json_object();
        json_object_set_new(r, "alive", json_deep_copy(alive));
        if (tid != NULL)
            json_object_set_new(r, "taskId", json_deep_copy(tid));
        if (iid != NULL)
            json_object_set_new(r, "instanceId", json_string(iid));
        res = json_array();
        json_array_append_new(res, r);
        json_object_set_new(task, "healthCheckResults", res);
        return 1;
    }
    return set_copy(r, "alive", alive) ? 1 : 0;
}

bool lbpatch_handles(const char *type)
{
    return strcmp(type, "status_update_event") == 0 ||
           strcmp(type, "health_status_changed_event") == 0;
}

int lbpatch_apply(json_t *doc, const char *type, const json_t *ev)
{
    if (doc == NULL || !json_is_object(ev) || !lbpatch_handles(type))
        return -1;
    const char *app_id = json_string_value(json_object_get(ev, "appId"));
    if (app_id == NULL)
        return -1;
    json_t *app = find_by(json_object_get(doc, "apps"), "id", app_id);
    if (app == NULL)
        return -1; /* new to us: its definition comes with a refresh */
    return strcmp(type, "status_update_event") == 0 ? status_update(app, ev)
                                                    : health_changed(app, ev);
}
