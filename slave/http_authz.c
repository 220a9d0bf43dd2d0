/*
 * http_authz: who may call the slave's HTTP endpoints and what they may
 * read — Mesos's agent flags --http_credentials, --authenticate_http_readonly,
 * --authenticate_http_readwrite and --acls, on the mechanisms of
 * common/auth.c (HTTP Basic, checked by common/rest.c for the routes of
 * each surface) and common/acls.c.
 *
 * Two ACL actions apply here:
 *   access_sandboxes  /files on a task's sandbox; the object is the user
 *                     the task runs as (CommandInfo.user, else
 *                     FrameworkInfo.user), whether it still runs or not.
 *   view_frameworks,  what /state and GET_STATE list; objects the
 *   view_tasks        framework's and the task's user.
 *   view_containers   what GET_CONTAINERS lists; object the user of the
 *                     container's task.
 * The principal is the authenticated one, NULL when the route's surface
 * is not authenticated (then only ACLs with an ANY subject match).
 */
#include <stdlib.h>
#include <string.h>

#include "slave.h"
#include "acls.h"
#include "auth.h"
#include "jwt.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "rest.h"

int slave_http_authz_init(struct slave *s, char **err)
{
    const struct slave_flags *f = s->flags;
    char *e = NULL;

    s->http_auth = (f->authenticate_http_readonly ? REST_AUTH_READONLY : 0) |
                   (f->authenticate_http_readwrite ? REST_AUTH_READWRITE : 0);
    if (f->acls != NULL && f->acls[0] != '\0') {
        s->acls = acls_load(f->acls, &e);
        if (s->acls == NULL) {
            *err = xasprintf("--acls: %s", e);
            free(e);
            return -1;
        }
        log_info("authorization of the HTTP endpoints by --acls");
    }
    if (f->http_credentials == NULL || f->http_credentials[0] == '\0') {
        if (s->http_auth == 0 || jwt_enabled()) /* tokens only */
            return 0;
        *err = xstrdup("--authenticate_http_readonly/readwrite needs --http_credentials (or "
                       "--jwt_secret_key)");
        return -1;
    }
    s->http_creds = auth_creds_load(f->http_credentials, &e);
    if (s->http_creds == NULL) {
        *err = xasprintf("--http_credentials: %s", e);
        free(e);
        return -1;
    }
    log_info("%zu HTTP credential(s) from %s; authenticated: %s%s", auth_creds_count(s->http_creds),
             f->http_credentials, s->http_auth & REST_AUTH_READONLY ? "http_readonly " : "",
             s->http_auth & REST_AUTH_READWRITE ? "http_readwrite" : "");
    return 0;
}

void slave_http_authz_free(struct slave *s)
{
    auth_creds_free(s->http_creds);
    acls_free(s->acls);
    s->http_creds = NULL;
    s->acls = NULL;
}

static struct metric *denials(void)
{
    static struct metric *m;

    if (m == NULL)
        m = metrics_counter("agora_slave_acl_denials_total", "HTTP requests refused by --acls");
    return m;
}

/* Filters of what a listing shows are not refusals: neither logged nor
 * counted (as the master's /master/state). */
bool slave_may_view_framework(struct slave *s, const char *principal, const char *user)
{
    return acls_allowed(s->acls, ACL_VIEW_FRAMEWORKS, principal, user);
}

bool slave_may_view_task(struct slave *s, const char *principal, const char *user)
{
    return acls_allowed(s->acls, ACL_VIEW_TASKS, principal, user);
}

bool slave_may_view_container(struct slave *s, const char *principal, const char *user)
{
    return acls_allowed(s->acls, ACL_VIEW_CONTAINERS, principal, user);
}

/* The user in an executor of /state (its task's "user"), or NULL. */
static const char *exec_json_user(const json_t *exec)
{
    static const char *const lists[] = { "tasks", "completed_tasks" };

    for (size_t i = 0; i < 2; i++) {
        const json_t *t = json_array_get(json_object_get(exec, lists[i]), 0);
        const char *u = json_string_value(json_object_get(t, "user"));

        if (u != NULL)
            return u;
    }
    return NULL;
}

/* The executor exec_id in a /state framework's executor lists. */
static const json_t *fw_json_exec(const json_t *fw, const char *exec_id)
{
    static const char *const lists[] = { "executors", "completed_executors" };
    const json_t *e;
    size_t i;

    for (size_t l = 0; l < 2; l++)
        json_array_foreach(json_object_get(fw, lists[l]), i, e)
        {
            const char *id = json_string_value(json_object_get(e, "id"));
            if (id != NULL && strcmp(id, exec_id) == 0)
                return e;
        }
    return NULL;
}

/* Whose sandbox is executor exec_id of framework fw_id: the running
 * task's user, else the one the completed task recorded, else the
 * framework's. *known is false when the slave knows neither (gone from
 * its memory, e.g. after a restart), so that only an ACL naming every
 * user can open it. */
static const char *sandbox_user(struct slave *s, const char *fw_id, const char *exec_id,
                                bool *known)
{
    struct framework *fw = slave_find_framework(s, fw_id);
    struct task *t = fw ? slave_find_task(s, fw_id, exec_id) : NULL;
    const json_t *cf, *e;
    size_t i;

    *known = true;
    if (t != NULL)
        return task_user_name(t);
    if (fw != NULL) {
        e = NULL;
        json_array_foreach(fw->completed_tasks, i, e)
        {
            const char *id = json_string_value(json_object_get(e, "id"));
            if (id != NULL && strcmp(id, exec_id) == 0)
                break;
            e = NULL;
        }
        if (e != NULL && exec_json_user(e) != NULL)
            return exec_json_user(e);
        if (fw->info->user != NULL && fw->info->user[0] != '\0')
            return fw->info->user;
        return NULL;
    }
    json_array_foreach(s->completed_frameworks, i, cf)
    {
        const char *id = json_string_value(json_object_get(cf, "id"));
        const char *u;

        if (id == NULL || strcmp(id, fw_id) != 0)
            continue;
        e = fw_json_exec(cf, exec_id);
        u = e ? exec_json_user(e) : NULL;
        if (u == NULL)
            u = json_string_value(json_object_get(cf, "user"));
        return u != NULL && u[0] != '\0' ? u : NULL;
    }
    *known = false;
    return NULL;
}

bool slave_may_access_sandbox(struct slave *s, const char *principal, const char *root,
                              const char *real)
{
    /* <root>/<agent>/frameworks/<fw>/executors/<exec>[/...] */
    char *rel, *seg[5], *save = NULL;
    const char *user;
    bool known, ok;
    int n = 0;

    if (s->acls == NULL)
        return true;
    rel = xstrdup(real + strlen(root));
    for (char *p = strtok_r(rel, "/", &save); p != NULL && n < 5; p = strtok_r(NULL, "/", &save))
        seg[n++] = p;
    if (n < 5 || strcmp(seg[1], "frameworks") != 0 || strcmp(seg[3], "executors") != 0) {
        /* Above the sandboxes: a listing of every task's directory. */
        ok = acls_allowed_all(s->acls, ACL_ACCESS_SANDBOXES, principal);
        if (!ok) {
            metric_inc(denials(), 1);
            log_info("acls: access_sandboxes of every sandbox (%s) by principal '%s' refused", real,
                     principal ? principal : "(none)");
        }
        free(rel);
        return ok;
    }
    user = sandbox_user(s, seg[2], seg[4], &known);
    ok = acls_authorize(s->acls, denials(), ACL_ACCESS_SANDBOXES, principal, user);
    if (!ok && !known)
        log_info("/files: the owner of %s is not known here any more", real);
    free(rel);
    return ok;
}

/* Drop the executors of execs (a /state array) principal may not see. */
static void filter_executors(struct slave *s, const char *principal, json_t *execs)
{
    for (size_t i = json_array_size(execs); i-- > 0;)
        if (!slave_may_view_task(s, principal, exec_json_user(json_array_get(execs, i))))
            json_array_remove(execs, i);
}

void slave_state_filter(struct slave *s, const char *principal, json_t *frameworks)
{
    if (s->acls == NULL)
        return;
    for (size_t i = json_array_size(frameworks); i-- > 0;) {
        json_t *fw = json_array_get(frameworks, i);
        const char *u = json_string_value(json_object_get(fw, "user"));

        if (!slave_may_view_framework(s, principal, u && u[0] ? u : NULL)) {
            json_array_remove(frameworks, i);
            continue;
        }
        filter_executors(s, principal, json_object_get(fw, "executors"));
        filter_executors(s, principal, json_object_get(fw, "completed_executors"));
    }
}
