/*
 * model: the lean copy of Marathon's apps that pacer-lb keeps.
 *
 * GET /v2/apps?embed=apps.tasks at 1,000 apps / 10,000 tasks is 5.2 MB
 * of JSON, ~90 MB as jansson objects: commands, environments, resources,
 * timestamps, every health check result's history. pacer-lb reads a
 * small part of it (config.c, patch.c, lb.c), so only that part is kept,
 * in the same shape (the same readers work on both):
 *   app:  id, labels, portDefinitions[].port,
 *         container.portMappings[].servicePort (and container.docker's),
 *         healthChecks[].protocol/portIndex, version,
 *         versionInfo.lastConfigChangeAt, tasks
 *   task: id, state, host, ports, ipAddresses[].ipAddress,
 *         healthCheckResults[].alive/instanceId/taskId
 * Arrays keep their length (config.c counts ports and health checks).
 * A field absent from the input stays absent. Values are copied, not
 * shared with the input: the copy is allocated in one run after the
 * parse, so once the input is freed its pages are whole and go back to
 * the system (malloc_trim); shared strings and numbers would pin one
 * live object in nearly every page of the parse (~100 MB RSS kept at
 * 10,000 tasks).
 */
#include "pacer_lb.h"

/* A new object with the keys of src named in keys (NULL-terminated). */
static json_t *pick(const json_t *src, const char *const *keys)
{
    json_t *o = json_object();
    for (; *keys != NULL; keys++) {
        json_t *v = json_object_get(src, *keys);
        if (v != NULL)
            json_object_set_new(o, *keys, json_deep_copy(v));
    }
    return o;
}

/* src[key] as an array of pick(element, keys), when it is an array. */
static void pick_array(json_t *dst, const json_t *src, const char *key, const char *const *keys)
{
    const json_t *arr = json_object_get(src, key);
    if (!json_is_array(arr))
        return;
    json_t *out = json_array();
    size_t k;
    const json_t *e;
    json_array_foreach(arr, k, e)
    {
        json_array_append_new(out, json_is_object(e) ? pick(e, keys) : json_null());
    }
    json_object_set_new(dst, key, out);
}

json_t *lbmodel_task(const json_t *task)
{
    static const char *const keys[] = { "id", "state", "host", "ports", NULL };
    static const char *const ip_keys[] = { "ipAddress", NULL };
    static const char *const hc_keys[] = { "alive", "instanceId", "taskId", NULL };
    json_t *t = pick(task, keys);
    pick_array(t, task, "ipAddresses", ip_keys);
    pick_array(t, task, "healthCheckResults", hc_keys);
    return t;
}

json_t *lbmodel_app(const json_t *app)
{
    static const char *const keys[] = { "id", "labels", "version", NULL };
    static const char *const pd_keys[] = { "port", NULL };
    static const char *const pm_keys[] = { "servicePort", NULL };
    static const char *const hc_keys[] = { "protocol", "portIndex", NULL };
    static const char *const vi_keys[] = { "lastConfigChangeAt", NULL };
    if (!json_is_object(app))
        return json_null();
    json_t *a = pick(app, keys);
    pick_array(a, app, "portDefinitions", pd_keys);
    pick_array(a, app, "healthChecks", hc_keys);
    const json_t *c = json_object_get(app, "container");
    if (json_is_object(c)) {
        json_t *lc = json_object();
        pick_array(lc, c, "portMappings", pm_keys);
        const json_t *d = json_object_get(c, "docker");
        if (json_is_object(d)) {
            json_t *ld = json_object();
            pick_array(ld, d, "portMappings", pm_keys);
            json_object_set_new(lc, "docker", ld);
        }
        json_object_set_new(a, "container", lc);
    }
    const json_t *vi = json_object_get(app, "versionInfo");
    if (json_is_object(vi))
        json_object_set_new(a, "versionInfo", pick(vi, vi_keys));
    const json_t *tasks = json_object_get(app, "tasks");
    if (json_is_array(tasks)) {
        json_t *out = json_array();
        size_t k;
        const json_t *t;
        json_array_foreach(tasks, k, t)
        {
            json_array_append_new(out, json_is_object(t) ? lbmodel_task(t) : json_null());
        }
        json_object_set_new(a, "tasks", out);
    }
    return a;
}

json_t *lbmodel_doc(const json_t *doc)
{
    const json_t *apps = json_object_get(doc, "apps");
    if (!json_is_array(apps))
        return NULL;
    json_t *out = json_array();
    size_t k;
    const json_t *app;
    json_array_foreach(apps, k, app)
    {
        json_array_append_new(out, lbmodel_app(app));
    }
    return json_pack("{s:o}", "apps", out);
}
