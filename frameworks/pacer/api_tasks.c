/*
 * api_tasks: tasks — /v2/tasks (JSON, or text/plain for the old HAProxy
 * bridges: "appId<TAB>servicePort<TAB>host:port<TAB>..." per line),
 * POST /v2/tasks/delete, and an app's /v2/apps/{id}/tasks (GET, DELETE
 * with host/scale/wipe) and /v2/apps/{id}/tasks/{taskId} (DELETE).
 *
 * Killing without scale lets convergence replace the instance; with
 * scale=true the app's instances are lowered by the number killed (a new
 * version and a ScaleApplication deployment), the killed instances being
 * the ones that go.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>

#include "pacer.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "rest.h"
#include "timeutil.h"

static const char *const task_types[] = { "application/json", "text/plain" };

static int want_text(struct rest_req *rq)
{
    int k = rest_negotiate(http_req_header(rq->req, "Accept"), task_types, 2);

    if (k < 0)
        rest_error(rq, 406, "tasks are served as application/json or text/plain");
    return k;
}

/* ?status=running|staging|killing (any case; status[] too, as older
 * clients send it); unknown values are ignored, as in Marathon. */
static bool status_match(const struct instance *i, const char *status)
{
    if (status == NULL)
        return true;
    if (strcasecmp(status, "running") == 0)
        return instance_running(i) && !i->killing;
    if (strcasecmp(status, "staging") == 0)
        return i->state < 0 || i->state == MESOS__V1__TASK_STATE__TASK_STAGING ||
               i->state == MESOS__V1__TASK_STATE__TASK_STARTING;
    if (strcasecmp(status, "killing") == 0)
        return i->killing;
    return true;
}

static void text_app(struct evbuffer *b, const struct papp *a)
{
    char *clean = xstrdup(a->id + 1);
    const struct instance *i;

    for (char *c = clean; *c; c++) {
        if (*c == '/')
            *c = '_';
    }
    if (a->nservice_ports == 0) {
        evbuffer_add_printf(b, "%s\t \t", clean);
        DL_FOREACH (a->instances, i) {
            if (instance_running(i))
                evbuffer_add_printf(b, "%s\t", i->host);
        }
        evbuffer_add_printf(b, "\n");
    }
    for (size_t k = 0; k < a->nservice_ports; k++) {
        evbuffer_add_printf(b, "%s\t%d\t", clean, a->service_ports[k]);
        DL_FOREACH (a->instances, i) {
            if (instance_running(i) && k < i->nports)
                evbuffer_add_printf(b, "%s:%llu\t", i->host, (unsigned long long)i->ports[k]);
        }
        evbuffer_add_printf(b, "\n");
    }
    free(clean);
}

static void reply_text(struct rest_req *rq, struct papp **apps, size_t n)
{
    struct evbuffer *b = evbuffer_new();
    size_t len;
    char *s;

    for (size_t k = 0; k < n; k++)
        text_app(b, apps[k]);
    len = evbuffer_get_length(b);
    s = xmalloc(len + 1);
    evbuffer_remove(b, s, len);
    http_reply(rq->req, 200, "text/plain", s, len);
    free(s);
    evbuffer_free(b);
}

void api_tasks_get(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *status = rest_query_get(rest_req_query(rq), "status", 0);

    if (status == NULL)
        status = rest_query_get(rest_req_query(rq), "status[]", 0);
    int fmt = want_text(rq);
    struct papp *a, *tmp;

    if (fmt < 0)
        goto out;
    if (fmt == 1) {
        size_t n = 0;
        struct papp **list = xcalloc(HASH_COUNT(p->apps) + 1, sizeof(*list));

        HASH_ITER (hh, p->apps, a, tmp) {
            list[n++] = a;
        }
        reply_text(rq, list, n);
        free(list);
    } else {
        struct evbuffer *out = evbuffer_new();
        bool first = true;

        evbuffer_add(out, "{\"tasks\":[", 10);
        HASH_ITER (hh, p->apps, a, tmp) {
            struct instance *i;

            DL_FOREACH (a->instances, i) {
                if (!instance_live(i) || !status_match(i, status))
                    continue;
                if (!first)
                    evbuffer_add(out, ",", 1);
                first = false;
                render_task_buf(out, p, i);
            }
        }
        evbuffer_add(out, "]}", 2);
        pacer_reply_buf(rq->req, out);
    }
out:
    free(status);
}

static char *app_id_of(struct rest_req *rq)
{
    char *e = NULL, *id = appid_resolve("/", rest_param(rq, "id"), false, &e);

    if (id == NULL) {
        rest_error(rq, 404, "App '%s' does not exist: %s", rest_param(rq, "id"), e);
        free(e);
    }
    return id;
}

void api_app_tasks_get(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *id = app_id_of(rq);
    struct papp *a;
    int fmt;

    if (id == NULL)
        return;
    a = papp_find(p, id);
    if (a == NULL) {
        rest_error(rq, 404, "App '%s' does not exist", id);
        goto out;
    }
    fmt = want_text(rq);
    if (fmt == 1) {
        reply_text(rq, &a, 1);
    } else if (fmt == 0) {
        json_t *tasks = json_array();
        struct instance *i;

        DL_FOREACH (a->instances, i) {
            if (instance_live(i))
                json_array_append_new(tasks, render_task(p, i));
        }
        http_reply_json(rq->req, 200, json_pack("{s:o}", "tasks", tasks));
    }
out:
    free(id);
}

/* Lower the instances of each app of `by` ({app id: count}) in one new
 * version each and one deployment (the instances to go are killing
 * already). NULL when answered 409. */
static struct deployment *scale_down_many(struct rest_req *rq, json_t *by, bool force)
{
    struct pacer *p = rq->arg;
    json_t *original = json_object(), *target = json_object(), *conflicts = NULL, *v;
    char *version = pacer_new_version();
    const char *id;
    struct deployment *d;

    json_object_foreach(by, id, v)
    {
        struct papp *a = papp_find(p, id);
        json_t *def;
        json_int_t n;

        if (a == NULL)
            continue;
        n = a->spec.instances - json_integer_value(v);
        def = json_deep_copy(a->def);
        json_object_set_new(def, "instances", json_integer(n < 0 ? 0 : n));
        json_object_set_new(def, "version", json_string(version));
        json_object_set(original, a->id, a->def);
        json_object_set_new(target, a->id, def);
    }
    free(version);
    d = deploy_start(p, original, target, force, false, &conflicts);
    if (d == NULL)
        api_reply_locked(rq, "App", conflicts);
    return d;
}

static struct deployment *scale_down(struct rest_req *rq, struct papp *a, int by, bool force)
{
    json_t *m = json_pack("{s:i}", a->id, by);
    struct deployment *d = scale_down_many(rq, m, force);

    json_decref(m);
    return d;
}

/* Kill i; with wipe, forget it at once (Marathon's wipe: its record goes
 * now, whatever the task does; a later update of it is an unknown task's). */
static void kill_one(struct pacer *p, struct instance *i, const char *why, bool wipe)
{
    struct papp *a = i->app;

    instance_kill(p, i, why);
    if (wipe) {
        state_delete_instance(p, i);
        instance_forget(p, i);
        if (a != NULL)
            papp_reap(p, a);
    }
}

/* A kill with scale=true on an app a deployment holds: 409 (before any
 * kill) unless force. */
static bool locked(struct rest_req *rq, struct papp *a, bool scale, bool force)
{
    if (!authz_change(rq, a->id))
        return true; /* answered 403 */
    if (!scale || force || a->deployment == NULL)
        return false;
    api_reply_locked(rq, "App", json_pack("[s]", a->deployment->id));
    return true;
}

static void reply_scaled(struct rest_req *rq, const struct deployment *d)
{
    http_add_header(rq->req, "Marathon-Deployment-Id", d->id);
    pacer_reply_synced(rq->arg, rq->req, 200,
                       json_pack("{s:s, s:s}", "deploymentId", d->id, "version", d->version));
}

static bool flags_of(struct rest_req *rq, bool *scale, bool *wipe, bool *force)
{
    const char *q = rest_req_query(rq);
    char *e = NULL;

    if (rest_query_bool(q, "scale", false, scale, &e) < 0 ||
        rest_query_bool(q, "wipe", false, wipe, &e) < 0 ||
        rest_query_bool(q, "force", false, force, &e) < 0) {
        rest_error(rq, 400, "%s", e);
        free(e);
        return false;
    }
    if (*scale && *wipe) {
        rest_error(rq, 400, "scale and wipe cannot be used together");
        return false;
    }
    return true;
}

void api_app_tasks_delete(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *id = app_id_of(rq), *host = NULL;
    struct papp *a;
    struct instance *i, *itmp;
    json_t *killed;
    bool scale, wipe, force;
    int n = 0;

    if (id == NULL)
        return;
    if (!flags_of(rq, &scale, &wipe, &force))
        goto out;
    a = papp_find(p, id);
    if (a == NULL) {
        rest_error(rq, 404, "App '%s' does not exist", id);
        goto out;
    }
    if (locked(rq, a, scale, force))
        goto out;
    host = rest_query_get(rest_req_query(rq), "host", 0);
    killed = json_array();
    DL_FOREACH_SAFE (a->instances, i, itmp) { /* kill_one may free i (wipe) */
        if (!instance_live(i) || i->killing ||
            (host && strcmp(host, "*") != 0 && strcmp(host, i->host) != 0))
            continue;
        json_array_append_new(killed, render_task(p, i));
        kill_one(p, i, "killed through the API", wipe);
        n++;
    }
    if (scale) {
        struct deployment *d = scale_down(rq, a, n, force);

        if (d != NULL)
            reply_scaled(rq, d);
        json_decref(killed);
    } else {
        http_reply_json(rq->req, 200, json_pack("{s:o}", "tasks", killed));
    }
    pacer_kick(p);
out:
    free(host);
    free(id);
}

void api_app_task_delete(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *id = app_id_of(rq);
    const char *task_id = rest_param(rq, "taskId");
    struct instance *i = NULL;
    struct papp *a;
    bool scale, wipe, force;

    if (id == NULL)
        return;
    if (!flags_of(rq, &scale, &wipe, &force))
        goto out;
    a = papp_find(p, id);
    if (a == NULL) {
        rest_error(rq, 404, "App '%s' does not exist", id);
        goto out;
    }
    HASH_FIND_STR(p->instances, task_id, i);
    if (i == NULL || i->app != a || !instance_live(i)) {
        rest_error(rq, 404, "Task '%s' does not exist", task_id);
        goto out;
    }
    if (locked(rq, a, scale, force))
        goto out;
    {
        json_t *task = render_task(p, i);

        kill_one(p, i, "killed through the API", wipe);
        if (scale) {
            struct deployment *d = scale_down(rq, a, 1, force);

            if (d != NULL)
                reply_scaled(rq, d);
            json_decref(task);
        } else {
            http_reply_json(rq->req, 200, json_pack("{s:o}", "task", task));
        }
    }
    pacer_kick(p);
out:
    free(id);
}

/* POST /v2/tasks/delete {"ids": [...]} */
void api_tasks_delete(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    json_t *ids = json_object_get(rq->json, "ids"), *v, *details;
    bool scale, wipe, force;
    size_t k;

    if (!flags_of(rq, &scale, &wipe, &force))
        return;
    if (!json_is_array(ids)) {
        details =
            json_pack("[{s:s, s:[s]}]", "path", "/ids", "errors", "must be an array of task ids");
        rest_error_details(rq, 422, details, "Object is not valid");
        json_decref(details);
        return;
    }
    json_array_foreach(ids, k, v)
    {
        if (!json_is_string(v)) {
            char *path = xasprintf("/ids(%zu)", k);

            details = json_pack("[{s:s, s:[s]}]", "path", path, "errors", "must be a string");
            rest_error_details(rq, 422, details, "Object is not valid");
            json_decref(details);
            free(path);
            return;
        }
    }
    {
        /* Kill, then (scale) one scale-down deployment for all apps. */
        struct deployment *last = NULL;

        /* Locks first: a refused request kills nothing. */
        json_array_foreach(ids, k, v)
        {
            struct instance *i = NULL;

            HASH_FIND_STR(p->instances, json_string_value(v), i);
            if (i != NULL && i->app != NULL && !i->app->removed && locked(rq, i->app, scale, force))
                return; /* 403 or 409 */
        }
        json_t *by = json_object(), *killed = json_array();

        json_array_foreach(ids, k, v)
        {
            struct instance *i = NULL;

            HASH_FIND_STR(p->instances, json_string_value(v), i);
            if (i == NULL || i->app == NULL || i->app->removed || !instance_live(i) || i->killing)
                continue;
            json_object_set_new(
                by, i->app->id,
                json_integer(json_integer_value(json_object_get(by, i->app->id)) + 1));
            json_array_append_new(killed, render_task(p, i));
            kill_one(p, i, "killed through /v2/tasks/delete", wipe);
        }
        pacer_kick(p);
        if (scale && json_object_size(by) > 0) {
            last = scale_down_many(rq, by, true); /* locks were checked above */
            if (last != NULL)
                reply_scaled(rq, last);
        } else {
            http_reply_json(rq->req, 200, json_pack("{s:O}", "tasks", killed));
        }
        json_decref(by);
        json_decref(killed);
    }
}
