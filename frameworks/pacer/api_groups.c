/*
 * api_groups: /v2/groups — the tree of groups that app ids form ("/a/b/c"
 * is app c in group /a/b), plus groups created empty on purpose
 * (pacer.groups). GET renders it; POST creates a group with its apps and
 * subgroups; PUT replaces one (apps it no longer lists are removed) or
 * scales every app in it (scaleBy); DELETE removes it with all its apps.
 * Each change is one deployment.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pacer.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "rest.h"
#include "timeutil.h"

/* Is id inside group g (at any depth)? */
static bool under(const char *id, const char *g)
{
    size_t n = strlen(g);

    if (strcmp(g, "/") == 0)
        return true;
    return strncmp(id, g, n) == 0 && id[n] == '/';
}

/* The direct child of g that leads to id ("/a" for id "/a/b/c" in "/"). */
static char *child_of(const char *g, const char *id)
{
    size_t n = strcmp(g, "/") == 0 ? 1 : strlen(g) + 1;
    const char *slash = strchr(id + n, '/');

    return slash ? xstrndup(id, (size_t)(slash - id)) : NULL;
}

static bool group_exists(struct pacer *p, const char *g)
{
    struct papp *a, *tmp;
    const char *k;
    json_t *v;

    if (strcmp(g, "/") == 0 || json_object_get(p->groups, g) != NULL)
        return true;
    HASH_ITER (hh, p->apps, a, tmp) {
        if (under(a->id, g))
            return true;
    }
    json_object_foreach(p->groups, k, v)
    {
        if (under(k, g))
            return true;
    }
    return false;
}

static json_t *render_group(struct pacer *p, const char *g, bool with_apps, bool with_groups)
{
    json_t *apps = json_array(), *groups = json_array(), *children = json_object(), *v;
    struct papp *a, *tmp;
    const char *k;
    char ts[TIME_ISO_LEN];
    const char *version = json_string_value(json_object_get(p->groups, g));

    HASH_ITER (hh, p->apps, a, tmp) {
        char *c;

        if (!under(a->id, g))
            continue;
        c = child_of(g, a->id);
        if (c == NULL) {
            if (with_apps)
                json_array_append_new(apps, render_app(p, a, 0));
        } else {
            json_object_set_new(children, c, json_true());
        }
        free(c);
    }
    json_object_foreach(p->groups, k, v)
    {
        char *c;

        if (strcmp(k, g) == 0 || !under(k, g))
            continue;
        c = child_of(g, k);
        json_object_set_new(children, c ? c : k, json_true());
        free(c);
    }
    if (with_groups) {
        json_object_foreach(children, k, v)
        {
            json_array_append_new(groups, render_group(p, k, with_apps, with_groups));
        }
    }
    json_decref(children);
    return json_pack("{s:s, s:o, s:o, s:[], s:[], s:s}", "id", g, "apps", apps, "groups", groups,
                     "pods", "dependencies", "version",
                     version ? version : time_format_iso8601(time_now(), ts));
}

static char *group_id(struct rest_req *rq)
{
    const char *raw = rest_param(rq, "id");
    char *e = NULL, *id;

    if (raw == NULL || *raw == '\0')
        return xstrdup("/");
    id = appid_resolve("/", raw, true, &e);
    if (id == NULL) {
        rest_error(rq, 404, "Group '%s' does not exist: %s", raw, e);
        free(e);
    }
    return id;
}

void api_groups_get(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *g = group_id(rq);
    const char *q = rest_req_query(rq);
    size_t nembed = rest_query_count(q, "embed");
    bool apps = nembed == 0, groups = nembed == 0;

    if (g == NULL)
        return;
    for (size_t k = 0; k < nembed; k++) {
        char *v = rest_query_get(q, "embed", k);

        if (v && strcmp(v, "group.apps") == 0)
            apps = true;
        if (v && strcmp(v, "group.groups") == 0)
            groups = true;
        free(v);
    }
    if (!group_exists(p, g))
        rest_error(rq, 404, "Group '%s' does not exist", g);
    else
        http_reply_json(rq->req, 200, render_group(p, g, apps, groups));
    free(g);
}

/* Collect the apps of a group body (and its subgroups) into target,
 * normalized relative to their group; errors into details with paths
 * prefixed by where they are in the body. */
static void collect(struct pacer *p, const json_t *body, const char *gid, const char *version,
                    const char *path, json_t *target, json_t *details, json_t *new_groups)
{
    json_t *apps = json_object_get(body, "apps"), *groups = json_object_get(body, "groups"), *v;
    size_t k;

    if (strcmp(gid, "/") != 0) /* the root always exists */
        json_object_set_new(new_groups, gid, json_string(version));
    json_array_foreach(apps, k, v)
    {
        json_t *det = NULL, *def = app_normalize(v, gid, NULL, version, &det), *e;
        size_t i;

        if (def == NULL) {
            json_array_foreach(det, i, e)
            {
                char *pp = xasprintf("%s/apps(%zu)%s", path, k,
                                     json_string_value(json_object_get(e, "path")));

                json_object_set_new(e, "path", json_string(pp));
                free(pp);
                json_array_append(details, e);
            }
            json_decref(det);
            continue;
        }
        json_object_set_new(target, json_string_value(json_object_get(def, "id")), def);
    }
    json_array_foreach(groups, k, v)
    {
        char *e = NULL, *sub;
        const char *raw = json_string_value(json_object_get(v, "id"));

        sub = raw ? appid_resolve(gid, raw, false, &e) : NULL;
        if (sub == NULL) {
            char *pp = xasprintf("%s/groups(%zu)/id", path, k);

            json_array_append_new(
                details, json_pack("{s:s, s:[s]}", "path", pp, "errors", e ? e : "is required"));
            free(pp);
            free(e);
            continue;
        }
        {
            char *pp = xasprintf("%s/groups(%zu)", path, k);

            collect(p, v, sub, version, pp, target, details, new_groups);
            free(pp);
        }
        free(sub);
    }
}

static bool run_group_change(struct rest_req *rq, const char *g, json_t *target, bool force,
                             int code)
{
    struct pacer *p = rq->arg;
    json_t *original = json_object(), *conflicts = NULL, *v;
    const char *id;
    struct deployment *d;

    /* The group itself too: one with no apps yet is still someone's. */
    if (!authz_change(rq, g) || !authz_change_target(rq, target)) {
        json_decref(original);
        json_decref(target);
        return false;
    }
    json_object_foreach(target, id, v)
    {
        struct papp *a = papp_find(p, id);

        json_object_set(original, id, a ? a->def : json_null());
    }
    d = deploy_start(p, original, target, force, false, &conflicts);
    if (d == NULL) {
        api_reply_locked(rq, "Group", conflicts);
        return false;
    }
    events_post(p, "group_change_success",
                json_pack("{s:s, s:s}", "groupId", g, "version", d->version));
    http_add_header(rq->req, "Marathon-Deployment-Id", d->id);
    pacer_reply_synced(p, rq->req, code,
                       json_pack("{s:s, s:s}", "deploymentId", d->id, "version", d->version));
    return true;
}

static bool force_of(struct rest_req *rq, bool *force)
{
    char *e = NULL;

    if (rest_query_bool(rest_req_query(rq), "force", false, force, &e) < 0) {
        rest_error(rq, 400, "%s", e);
        free(e);
        return false;
    }
    return true;
}

static void change_group(struct rest_req *rq, const char *g, bool create)
{
    struct pacer *p = rq->arg;
    json_t *target = json_object(), *details = json_array(), *new_groups = json_object(), *v;
    const char *k;
    char ts[TIME_ISO_LEN];
    bool force;
    json_t *scale_by = json_object_get(rq->json, "scaleBy");
    struct papp *a, *tmp;

    {
        char *nv = pacer_new_version();

        snprintf(ts, sizeof(ts), "%s", nv);
        free(nv);
    }
    if (!force_of(rq, &force))
        goto out;
    if (!json_is_object(rq->json)) {
        json_array_append_new(
            details, json_pack("{s:s, s:[s]}", "path", "/", "errors", "expected an object"));
        rest_error_details(rq, 422, details, "Object is not valid");
        goto out;
    }
    if (scale_by != NULL) {
        double by = json_number_value(scale_by);

        if (!json_is_number(scale_by) || by < 0) {
            json_array_append_new(details, json_pack("{s:s, s:[s]}", "path", "/scaleBy", "errors",
                                                     "must be a number >= 0"));
            rest_error_details(rq, 422, details, "Object is not valid");
            goto out;
        }
        HASH_ITER (hh, p->apps, a, tmp) {
            double n = ceil(a->spec.instances * by);
            json_t *in, *def, *det = NULL;

            if (!under(a->id, g))
                continue;
            if (n > 2147483647.0) {
                json_array_append_new(
                    details, json_pack("{s:s, s:[s]}", "path", "/scaleBy", "errors",
                                       "would give an app more than 2147483647 instances"));
                rest_error_details(rq, 422, details, "Object is not valid");
                goto out;
            }
            /* Through the validation every definition goes through. */
            in = json_deep_copy(a->def);
            json_object_set_new(in, "instances", json_integer((json_int_t)n));
            def = app_normalize(in, "/", a->id, ts, &det);
            json_decref(in);
            if (def == NULL) {
                rest_error_details(rq, 422, det, "Object is not valid");
                json_decref(det);
                goto out;
            }
            json_object_set_new(target, a->id, def);
        }
        run_group_change(rq, g, json_incref(target), force, 200);
        goto out;
    }
    collect(p, rq->json, g, ts, "", target, details, new_groups);
    if (json_array_size(details) > 0) {
        rest_error_details(rq, 422, details, "Object is not valid");
        goto out;
    }
    if (!create) {
        /* A group update replaces the group: its apps not named go. */
        HASH_ITER (hh, p->apps, a, tmp) {
            if (under(a->id, g) && json_object_get(target, a->id) == NULL)
                json_object_set_new(target, a->id, json_null());
        }
    }
    if (run_group_change(rq, g, json_incref(target), force, create ? 201 : 200)) {
        json_object_foreach(new_groups, k, v)
        {
            json_object_set(p->groups, k, v);
        }
        state_save_groups(p);
    }
out:
    json_decref(target);
    json_decref(details);
    json_decref(new_groups);
}

void api_groups_post(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *e = NULL, *g;
    const char *raw = json_string_value(json_object_get(rq->json, "id"));
    const char *base = rest_param(rq, "id");
    char *b = base ? appid_resolve("/", base, true, &e) : xstrdup("/");

    if (b == NULL || raw == NULL) {
        json_t *details =
            json_pack("[{s:s, s:[s]}]", "path", "/id", "errors", e ? e : "is required");

        rest_error_details(rq, 422, details, "Object is not valid");
        json_decref(details);
        free(e);
        free(b);
        return;
    }
    g = appid_resolve(b, raw, false, &e);
    free(b);
    if (g == NULL) {
        json_t *details = json_pack("[{s:s, s:[s]}]", "path", "/id", "errors", e);

        rest_error_details(rq, 422, details, "Object is not valid");
        json_decref(details);
        free(e);
        return;
    }
    if (group_exists(p, g) || papp_find(p, g) != NULL)
        rest_error(rq, 409, "Group %s is already created. Use PUT to change this group.", g);
    else
        change_group(rq, g, true);
    free(g);
}

void api_groups_put(struct rest_req *rq)
{
    char *g = group_id(rq);

    if (g == NULL)
        return;
    change_group(rq, g, !group_exists(rq->arg, g));
    free(g);
}

void api_groups_delete(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *g = group_id(rq);
    json_t *target, *v;
    struct papp *a, *tmp;
    bool force;
    const char *k;
    void *it;

    if (g == NULL)
        return;
    if (!force_of(rq, &force))
        goto out;
    if (!group_exists(p, g)) {
        rest_error(rq, 404, "Group '%s' does not exist", g);
        goto out;
    }
    target = json_object();
    HASH_ITER (hh, p->apps, a, tmp) {
        if (under(a->id, g))
            json_object_set_new(target, a->id, json_null());
    }
    if (run_group_change(rq, g, target, force, 200)) {
        for (it = json_object_iter(p->groups); it != NULL;) {
            k = json_object_iter_key(it);
            v = json_object_iter_value(it);
            it = json_object_iter_next(p->groups, it);
            if (strcmp(k, g) == 0 || under(k, g))
                json_object_del(p->groups, k);
            (void)v;
        }
        state_save_groups(p);
    }
out:
    free(g);
}
