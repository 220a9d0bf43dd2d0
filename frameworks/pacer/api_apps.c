/*
 * api_apps: /v2/apps — list, create, update (one app or many; partial by
 * default), patch, delete, restart, versions, and the tasks of an app.
 * Every change becomes a deployment (deployments.c); answers carry
 * Marathon's shapes: 201 + Location + Marathon-Deployment-Id for a
 * create, {"deploymentId", "version"} for changes, 409 with the
 * deployments that hold a locked app (force=true overrides), 422 with
 * every invalid field.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "pacer.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "rest.h"
#include "store.h"
#include "timeutil.h"

/* ----------------------------------------------------------- helpers */

static bool query_flag(struct rest_req *rq, const char *key, bool def, bool *out)
{
    char *e = NULL;

    if (rest_query_bool(rest_req_query(rq), key, def, out, &e) < 0) {
        rest_error(rq, 400, "%s", e);
        free(e);
        return false;
    }
    return true;
}

/* The app id of the path, resolved; 400-class errors answered. */
static char *path_app_id(struct rest_req *rq)
{
    char *e = NULL, *id = appid_resolve("/", rest_param(rq, "id"), false, &e);

    if (id == NULL) {
        json_t *details = json_pack("[{s:s, s:[s]}]", "path", "/id", "errors", e);

        rest_error_details(rq, 422, details, "Object is not valid");
        json_decref(details);
        free(e);
    }
    return id;
}

void api_reply_locked(struct rest_req *rq, const char *what, json_t *conflicts)
{
    json_t *deps = json_array(), *v;
    size_t k;
    const char *first = json_string_value(json_array_get(conflicts, 0));
    char *msg = xasprintf("%s is locked by one or more deployments. Override with the option "
                          "'?force=true'. View details at '/v2/deployments/%s'.",
                          what, first ? first : "");

    json_array_foreach(conflicts, k, v)
    {
        json_array_append_new(deps, json_pack("{s:O}", "id", v));
    }
    http_reply_json(rq->req, 409, json_pack("{s:s, s:o}", "message", msg, "deployments", deps));
    free(msg);
    json_decref(conflicts);
}
static void reply_deployment(struct rest_req *rq, int code, const struct deployment *d)
{
    http_add_header(rq->req, "Marathon-Deployment-Id", d->id);
    pacer_reply_synced(rq->arg, rq->req, code,
                       json_pack("{s:s, s:s}", "deploymentId", d->id, "version", d->version));
}

static void reply_invalid(struct rest_req *rq, json_t *details)
{
    rest_error_details(rq, 422, details, "Object is not valid");
    json_decref(details);
}

/* Run target ({id: def|null}) as one deployment from the current state.
 * NULL when it answered already (409). */
static struct deployment *deploy_apps(struct rest_req *rq, json_t *target, bool force)
{
    struct pacer *p = rq->arg;
    json_t *original = json_object(), *conflicts = NULL, *v;
    const char *id;
    struct deployment *d;

    if (!authz_change_target(rq, target)) {
        json_decref(original);
        json_decref(target);
        return NULL;
    }
    json_object_foreach(target, id, v)
    {
        struct papp *a = papp_find(p, id);

        json_object_set(original, id, a ? a->def : json_null());
    }
    d = deploy_start(p, original, target, force, false, &conflicts);
    if (d == NULL)
        api_reply_locked(rq, "App", conflicts);
    return d;
}

/* ------------------------------------------------------------- embed */

/* embed values: "apps.tasks", "app.tasks", "group.apps.tasks" or bare
 * "tasks" all mean the same (clients send either; python3-marathon sends
 * app.tasks to /v2/apps). */
static unsigned parse_embed(struct rest_req *rq)
{
    static const char *const prefixes[] = { "group.apps.", "apps.", "app.", "" };
    const char *q = rest_req_query(rq);
    size_t n = rest_query_count(q, "embed");
    unsigned embed = 0;

    for (size_t k = 0; k < n; k++) {
        char *v = rest_query_get(q, "embed", k);
        const char *what = NULL;

        for (size_t i = 0; v != NULL && i < 4 && what == NULL; i++) {
            if (strncmp(v, prefixes[i], strlen(prefixes[i])) == 0)
                what = v + strlen(prefixes[i]);
        }
        if (what != NULL) {
            if (strcmp(what, "tasks") == 0)
                embed |= EMBED_TASKS;
            else if (strcmp(what, "counts") == 0)
                embed |= EMBED_COUNTS;
            else if (strcmp(what, "deployments") == 0)
                embed |= EMBED_DEPLOYMENTS;
            else if (strcmp(what, "lastTaskFailure") == 0 || strcmp(what, "failures") == 0)
                embed |= EMBED_LAST_FAILURE;
            else if (strcmp(what, "taskStats") == 0)
                embed |= EMBED_TASK_STATS;
            else if (strcmp(what, "readiness") == 0)
                embed |= EMBED_READINESS;
        }
        free(v);
    }
    return embed;
}

/* label selector: "key", "key==value", "key!=value" (comma-separated, all
 * must hold). */
static bool label_match(const json_t *labels, const char *sel)
{
    char *copy = xstrdup(sel), *save = NULL, *term;
    bool ok = true;

    for (term = strtok_r(copy, ",", &save); term && ok; term = strtok_r(NULL, ",", &save)) {
        char *op;
        const char *have;

        while (*term == ' ')
            term++;
        if ((op = strstr(term, "==")) != NULL || (op = strstr(term, "!=")) != NULL) {
            bool eq = op[0] == '=';

            *op = '\0';
            have = json_string_value(json_object_get(labels, term));
            ok = eq ? (have && strcmp(have, op + 2) == 0) : (!have || strcmp(have, op + 2) != 0);
        } else {
            ok = json_object_get(labels, term) != NULL;
        }
    }
    free(copy);
    return ok;
}

void api_apps_get(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    const char *q = rest_req_query(rq);
    char *cmd = rest_query_get(q, "cmd", 0), *id = rest_query_get(q, "id", 0);
    char *label = rest_query_get(q, "label", 0);
    unsigned embed = parse_embed(rq);
    struct evbuffer *out = evbuffer_new();
    bool first = true;
    struct papp **sorted, *a, *tmp;
    size_t n = 0, k;

    sorted = xcalloc(HASH_COUNT(p->apps) + 1, sizeof(*sorted));
    HASH_ITER (hh, p->apps, a, tmp) {
        sorted[n++] = a;
    }
    for (k = 0; k < n; k++) {
        a = sorted[k];
        if (cmd && (a->spec.cmd == NULL || strstr(a->spec.cmd, cmd) == NULL))
            continue;
        if (id && strstr(a->id, id) == NULL)
            continue;
        if (label && !label_match(a->spec.labels, label))
            continue;
        evbuffer_add(out, first ? "{\"apps\":[" : ",", first ? 9 : 1);
        first = false;
        render_app_buf(out, p, a, embed);
    }
    if (first)
        evbuffer_add(out, "{\"apps\":[", 9);
    evbuffer_add(out, "]}", 2);
    free(sorted);
    free(cmd);
    free(id);
    free(label);
    pacer_reply_buf(rq->req, out);
}

void api_app_get(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *id = path_app_id(rq);
    struct papp *a;
    unsigned embed;

    if (id == NULL)
        return;
    a = papp_find(p, id);
    if (a == NULL) {
        rest_error(rq, 404, "App '%s' does not exist", id);
        free(id);
        return;
    }
    embed = parse_embed(rq);
    if (embed == 0)
        embed = EMBED_TASKS | EMBED_COUNTS | EMBED_DEPLOYMENTS | EMBED_LAST_FAILURE |
                EMBED_TASK_STATS | EMBED_READINESS;
    http_reply_json(rq->req, 200, json_pack("{s:o}", "app", render_app(p, a, embed)));
    free(id);
}

/* ----------------------------------------------------------- create */

void api_apps_post(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    json_t *details = NULL, *def, *target;
    char *version, *loc;
    const char *id;
    struct deployment *d;
    struct papp *a;
    bool force;

    if (!query_flag(rq, "force", false, &force))
        return;
    if (!json_is_object(rq->json)) {
        details = json_pack("[{s:s, s:[s]}]", "path", "/", "errors", "expected an object");
        reply_invalid(rq, details);
        return;
    }
    version = pacer_new_version();
    def = app_normalize(rq->json, "/", NULL, version, &details);
    free(version);
    if (def == NULL) {
        reply_invalid(rq, details);
        return;
    }
    id = json_string_value(json_object_get(def, "id"));
    if (!authz_change(rq, id)) {
        json_decref(def);
        return;
    }
    if (papp_find(p, id) != NULL) {
        rest_error(rq, 409, "An app with id [%s] already exists.", id);
        json_decref(def);
        return;
    }
    /* A new app cannot be locked: the event may go before the deployment's. */
    events_api_post(p, rq, def);
    target = json_object();
    json_object_set(target, id, def);
    d = deploy_apps(rq, target, force);
    if (d == NULL) {
        json_decref(def);
        return;
    }
    a = papp_find(p, json_string_value(json_object_get(def, "id")));
    loc = xasprintf("/v2/apps%s", a->id);
    http_add_header(rq->req, "Location", loc);
    http_add_header(rq->req, "Marathon-Deployment-Id", d->id);
    pacer_reply_synced(p, rq->req, 201, render_app(p, a, EMBED_TASKS | EMBED_COUNTS));
    free(loc);
    json_decref(def);
}

/* ------------------------------------------------------------ update */

/* The new definition of one app for a PUT/PATCH body (NULL with *details
 * on invalid input). partial: lay body over the current definition. */
static json_t *updated_def(struct pacer *p, const json_t *body, const char *id_hint, bool partial,
                           const char *version, json_t **details)
{
    json_t *in, *def;
    char *e = NULL, *id = NULL;
    const char *raw = json_string_value(json_object_get(body, "id"));
    struct papp *a;

    if (!json_is_object(body)) {
        *details = json_pack("[{s:s, s:[s]}]", "path", "/", "errors", "expected an object");
        return NULL;
    }
    /* PUT /v2/apps/{id}: the URL's id wins over the body's (Marathon). */
    if (id_hint != NULL)
        id = xstrdup(id_hint);
    else if (raw != NULL)
        id = appid_resolve("/", raw, false, &e);
    if (id == NULL) {
        *details = json_pack("[{s:s, s:[s]}]", "path", "/id", "errors", e ? e : "is required");
        free(e);
        return NULL;
    }
    a = papp_find(p, id);
    if (a != NULL && partial)
        in = app_merge(a->def, body);
    else
        in = json_deep_copy(body);
    if (id_hint != NULL)
        json_object_set_new(in, "id", json_string(id));
    def = app_normalize(in, "/", id, version, details);
    json_decref(in);
    free(id);
    return def;
}

static void put_apps(struct rest_req *rq, const json_t *list, const char *id_hint, bool patch)
{
    struct pacer *p = rq->arg;
    json_t *target = json_object(), *details = json_array(), *v;
    char *version = pacer_new_version();
    bool partial = true, force, created = false;
    size_t k;
    struct deployment *d;

    if (!query_flag(rq, "force", false, &force) ||
        (!patch && !query_flag(rq, "partialUpdate", true, &partial)))
        goto out;
    json_array_foreach(list, k, v)
    {
        json_t *det = NULL, *def = updated_def(p, v, id_hint, partial, version, &det);
        size_t i;
        json_t *e;

        if (def == NULL) {
            /* Paths of a list are prefixed with the index, as Marathon. */
            json_array_foreach(det, i, e)
            {
                if (json_array_size(list) > 1 || id_hint == NULL) {
                    char *path =
                        xasprintf("/%zu%s", k, json_string_value(json_object_get(e, "path")));

                    json_object_set_new(e, "path", json_string(path));
                    free(path);
                }
                json_array_append(details, e);
            }
            json_decref(det);
            continue;
        }
        if (patch && papp_find(p, json_string_value(json_object_get(def, "id"))) == NULL) {
            rest_error(rq, 404, "App '%s' does not exist",
                       json_string_value(json_object_get(def, "id")));
            json_decref(def);
            goto out;
        }
        created |= papp_find(p, json_string_value(json_object_get(def, "id"))) == NULL;
        json_object_set_new(target, json_string_value(json_object_get(def, "id")), def);
    }
    if (json_array_size(details) > 0) {
        rest_error_details(rq, 422, details, "Object is not valid");
        goto out;
    }
    /* An unchanged definition still makes a new version, as Marathon. */
    d = deploy_apps(rq, json_incref(target), force);
    if (d != NULL && created && id_hint) {
        char *loc = xasprintf("/v2/apps%s", id_hint);

        http_add_header(rq->req, "Location", loc);
        free(loc);
    }
    if (d != NULL)
        reply_deployment(rq, created && id_hint ? 201 : 200, d);
out:
    json_decref(target);
    json_decref(details);
    free(version);
}

/* PUT /v2/apps/{id} with {"version": "<old>"} only: restore that version. */
struct restore {
    struct rest_req rq; /* copy: the route's request outlives the handler */
    struct evhttp_request *req;
    char *id;
    bool force;
};

static void restore_loaded(int rc, const char *data, size_t len, int version, const char *err,
                           void *arg)
{
    struct restore *r = arg;
    struct pacer *p = r->rq.arg;
    json_t *old = rc == STORE_OK ? json_loadb(data, len, 0, NULL) : NULL;

    if (old == NULL) {
        rest_error(&r->rq, 404, "App '%s' has no version %s", r->id,
                   rc == STORE_OK ? "(unreadable)" : "like that");
    } else {
        char *v = pacer_new_version();
        json_t *details = NULL, *def;

        json_object_del(old, "version");
        def = app_normalize(old, "/", r->id, v, &details);
        free(v);
        if (def == NULL) {
            reply_invalid(&r->rq, details);
        } else {
            json_t *target = json_object();
            struct deployment *d;

            json_object_set_new(target, r->id, def);
            d = deploy_apps(&r->rq, target, r->force);
            if (d != NULL)
                reply_deployment(&r->rq, 200, d);
        }
        json_decref(old);
    }
    (void)p;
    free(r->id);
    free(r);
}

void api_app_put(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *id = path_app_id(rq);
    const char *ver = json_string_value(json_object_get(rq->json, "version"));

    if (id == NULL)
        return;
    if (ver != NULL && json_object_size(rq->json) == 1) {
        struct restore *r = xcalloc(1, sizeof(*r));
        char *k = state_app_key(id), *key = xasprintf("versions/%s/%s", k, ver);

        bool answered = !query_flag(rq, "force", false, &r->force);

        if (answered || papp_find(p, id) == NULL) {
            if (!answered)
                rest_error(rq, 404, "App '%s' does not exist", id);
            free(r);
            free(k);
            free(key);
            free(id);
            return;
        }
        r->rq = *rq;
        r->rq.json = NULL;
        r->id = id;
        store_get(p->store, key, restore_loaded, r);
        free(k);
        free(key);
        return;
    }
    {
        json_t *list = json_pack("[O]", rq->json);

        put_apps(rq, list, id, false);
        json_decref(list);
    }
    free(id);
}

void api_app_patch(struct rest_req *rq)
{
    char *id = path_app_id(rq);
    json_t *list;

    if (id == NULL)
        return;
    list = json_pack("[O]", rq->json);
    put_apps(rq, list, id, true);
    json_decref(list);
    free(id);
}

void api_apps_put_many(struct rest_req *rq)
{
    if (!json_is_array(rq->json)) {
        json_t *list = json_pack("[O]", rq->json);

        put_apps(rq, list, NULL, strcmp(http_req_method(rq->req), "PATCH") == 0);
        json_decref(list);
        return;
    }
    put_apps(rq, rq->json, NULL, strcmp(http_req_method(rq->req), "PATCH") == 0);
}

void api_apps_delete_many(struct rest_req *rq)
{
    rest_error(rq, 405, "DELETE /v2/apps needs an app id: DELETE /v2/apps/{appId}");
}

/* ----------------------------------------------------- delete, restart */

void api_app_delete(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *id = path_app_id(rq);
    json_t *target;
    struct deployment *d;
    bool force;

    if (id == NULL)
        return;
    if (!query_flag(rq, "force", true, &force))
        goto out;
    if (papp_find(p, id) == NULL) {
        rest_error(rq, 404, "App '%s' does not exist", id);
        goto out;
    }
    target = json_object();
    json_object_set_new(target, id, json_null());
    d = deploy_apps(rq, target, force);
    if (d != NULL)
        reply_deployment(rq, 200, d);
out:
    free(id);
}

void api_app_restart(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *id = path_app_id(rq), *version;
    json_t *def, *target;
    struct papp *a;
    struct deployment *d;
    bool force;

    if (id == NULL)
        return;
    if (!query_flag(rq, "force", false, &force))
        goto out;
    a = papp_find(p, id);
    if (a == NULL) {
        rest_error(rq, 404, "App '%s' does not exist", id);
        goto out;
    }
    if (!authz_change(rq, id))
        goto out;
    version = pacer_new_version();
    def = json_deep_copy(a->def);
    json_object_set_new(def, "version", json_string(version));
    free(version);
    target = json_object();
    json_object_set_new(target, id, def);
    /* A restart is a config change with the same definition. */
    {
        json_t *original = json_object(), *conflicts = NULL;

        json_object_set(original, id, a->def);
        d = deploy_start(p, original, target, force, true, &conflicts);
        if (d == NULL) {
            api_reply_locked(rq, "App", conflicts);
            goto out;
        }
    }
    reply_deployment(rq, 200, d);
out:
    free(id);
}

/* ---------------------------------------------------------- versions */

void api_app_versions(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *id = path_app_id(rq);
    struct papp *a;
    json_t *list;

    if (id == NULL)
        return;
    a = papp_find(p, id);
    if (a == NULL) {
        rest_error(rq, 404, "App '%s' does not exist", id);
        free(id);
        return;
    }
    list = json_array();
    for (size_t k = json_array_size(a->versions); k > 0; k--)
        json_array_append(list, json_array_get(a->versions, k - 1));
    http_reply_json(rq->req, 200, json_pack("{s:o}", "versions", list));
    free(id);
}

struct version_get {
    struct rest_req rq;
    char *id;
};

static void version_loaded(int rc, const char *data, size_t len, int version, const char *err,
                           void *arg)
{
    struct version_get *g = arg;
    json_t *j = rc == STORE_OK ? json_loadb(data, len, 0, NULL) : NULL;

    if (j == NULL)
        rest_error(&g->rq, 404, "App '%s' has no such version", g->id);
    else
        http_reply_json(g->rq.req, 200, j);
    free(g->id);
    free(g);
}

void api_app_version(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *id = path_app_id(rq), *k, *key;
    struct version_get *g;

    if (id == NULL)
        return;
    if (papp_find(p, id) == NULL) {
        rest_error(rq, 404, "App '%s' does not exist", id);
        free(id);
        return;
    }
    k = state_app_key(id);
    key = xasprintf("versions/%s/%s", k, rest_param(rq, "version"));
    g = xcalloc(1, sizeof(*g));
    g->rq = *rq;
    g->rq.json = NULL;
    g->id = id;
    store_get(p->store, key, version_loaded, g);
    free(k);
    free(key);
}
