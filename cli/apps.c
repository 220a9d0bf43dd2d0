/*
 * apps: `agora app ...`, Pacer's apps through its Marathon v2 REST API.
 *
 *   list                    GET /v2/apps
 *   show ID                 GET /v2/apps/ID, and /v2/queue for why
 *                           instances wait
 *   deploy FILE             POST /v2/apps (PUT /v2/apps/ID when it exists)
 *   scale ID N              PUT /v2/apps/ID {"instances": N}
 *   restart ID              POST /v2/apps/ID/restart
 *   rollback ID [VERSION]   a running deployment of the app: DELETE
 *                           /v2/deployments/D (Marathon's rollback);
 *                           else PUT /v2/apps/ID {"version": V}, V the
 *                           given version or the one before the current
 *   destroy ID              DELETE /v2/apps/ID
 *
 * Every change answers with a deployment id; --wait follows it (wait.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mem.h"
#include "timeutil.h"

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

char *cli_app_path(const char *id, const char *suffix)
{
    if (id == NULL || *id == '\0')
        return NULL;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '.' || *p == '/' || *p == '_'))
            return NULL;
    return xasprintf("/v2/apps%s%s%s", id[0] == '/' ? "" : "/", id, suffix);
}

/* "/web" for "web". Caller frees. */
static char *abs_id(const char *id)
{
    return xasprintf("%s%s", id[0] == '/' ? "" : "/", id);
}

/* ------------------------------------------------------------------ list */

static const char *app_status(const json_t *a)
{
    long up, target;
    bool health;
    progress_counts(a, &up, &target, &health);
    if (json_array_size(json_object_get(a, "deployments")) > 0)
        return "deploying";
    if (target == 0)
        return "suspended";
    if (json_integer_value(json_object_get(a, "tasksUnhealthy")) > 0)
        return "unhealthy";
    return up >= target ? "running" : "waiting";
}

static int app_list(struct cli *c)
{
    static const char *const heads[] = { "ID",  "INSTANCES", "STATUS", "CPUS",
                                         "MEM", "VERSION",   "CMD" };
    json_t *doc = cli_pacer(c, "GET", "/v2/apps", NULL, NULL, NULL), *a;
    size_t i;
    if (doc == NULL)
        return CLI_FAIL;
    if (c->json) {
        cli_print_json(doc);
        json_decref(doc);
        return CLI_OK;
    }
    struct table *t = table_new(7, heads, TABLE_FLEX(0) | TABLE_FLEX(5) | TABLE_FLEX(6));
    json_array_foreach(json_object_get(doc, "apps"), i, a)
    {
        long up, target;
        bool health;
        char inst[64], cpus[32], mem[32];
        progress_counts(a, &up, &target, &health);
        snprintf(inst, sizeof(inst), "%ld/%ld%s", up, target, health ? " healthy" : "");
        fmt_num(cpus, sizeof(cpus), json_number_value(json_object_get(a, "cpus")));
        fmt_mb(mem, sizeof(mem), json_number_value(json_object_get(a, "mem")));
        const json_t *docker = json_object_get(json_object_get(a, "container"), "docker");
        const char *cmd = *str(a, "cmd") ? str(a, "cmd") : str(docker, "image");
        const char *cells[] = {
            str(a, "id"), inst, app_status(a), cpus, mem, str(a, "version"), cmd
        };
        table_add(t, cells);
    }
    table_show(t, c);
    json_decref(doc);
    return CLI_OK;
}

/* ------------------------------------------------------------------ show */

static char *ports_text(const json_t *ports)
{
    char *out = xstrdup("");
    const json_t *p;
    size_t i;
    json_array_foreach(ports, i, p)
    {
        char *n = xasprintf("%s%s%lld", out, i ? "," : "", (long long)json_integer_value(p));
        free(out);
        out = n;
    }
    return out;
}

static int app_show(struct cli *c, const char *id)
{
    static const char *const heads[] = { "TASK", "HOST", "PORTS", "STATE", "HEALTH", "STARTED" };
    char *path = cli_app_path(id, "");
    json_t *doc = NULL, *queue = NULL;
    const json_t *a, *tk;
    int rc = CLI_FAIL;
    size_t i;

    if (path == NULL) {
        cli_error("app show: '%s' is not an app id", id);
        return CLI_USAGE;
    }
    if ((doc = cli_pacer(c, "GET", path, NULL, NULL, NULL)) == NULL)
        goto out;
    rc = CLI_OK;
    if (c->json) {
        cli_print_json(doc);
        goto out;
    }
    a = json_object_get(doc, "app");
    long up, target;
    bool health;
    char cpus[32], mem[32], disk[32];
    progress_counts(a, &up, &target, &health);
    const json_t *docker = json_object_get(json_object_get(a, "container"), "docker");
    printf("id          %s\n", str(a, "id"));
    if (*str(a, "cmd"))
        printf("cmd         %s\n", str(a, "cmd"));
    if (*str(docker, "image"))
        printf("image       %s\n", str(docker, "image"));
    printf("status      %s, %ld/%ld %s, %lld staged, %lld unhealthy\n", app_status(a), up, target,
           health ? "healthy" : "running",
           (long long)json_integer_value(json_object_get(a, "tasksStaged")),
           (long long)json_integer_value(json_object_get(a, "tasksUnhealthy")));
    printf("resources   cpus %s, mem %s, disk %s\n",
           fmt_num(cpus, sizeof(cpus), json_number_value(json_object_get(a, "cpus"))),
           fmt_mb(mem, sizeof(mem), json_number_value(json_object_get(a, "mem"))),
           fmt_mb(disk, sizeof(disk), json_number_value(json_object_get(a, "disk"))));
    printf("version     %s\n", str(a, "version"));
    const json_t *labels = json_object_get(a, "labels"), *v;
    const char *key;
    if (json_object_size(labels) > 0) {
        printf("labels     ");
        json_object_foreach((json_t *)labels, key, v)
            printf(" %s=%s", key, json_string_value(v) ? json_string_value(v) : "");
        printf("\n");
    }
    json_array_foreach(json_object_get(a, "deployments"), i, v)
        printf("deployment  %s\n", str(v, "id"));
    const json_t *fail = json_object_get(a, "lastTaskFailure");
    if (fail)
        printf("last failure %s %s: %s\n", str(fail, "state"), str(fail, "timestamp"),
               str(fail, "message"));
    if ((queue = cli_pacer(c, "GET", "/v2/queue", NULL, NULL, NULL)) != NULL) {
        const json_t *item = progress_queue_item(queue, str(a, "id"));
        char *why = item ? progress_not_placed(item) : NULL;
        if (item)
            printf("queue       %lld to launch%s%s\n",
                   (long long)json_integer_value(json_object_get(item, "count")),
                   why ? ", not placed: " : "", why ? why : "");
        free(why);
    }
    printf("\n");
    struct table *t = table_new(6, heads, TABLE_FLEX(0) | TABLE_FLEX(5));
    json_array_foreach(json_object_get(a, "tasks"), i, tk)
    {
        char *ports = ports_text(json_object_get(tk, "ports"));
        const json_t *hc = json_object_get(tk, "healthCheckResults"), *r;
        const char *h = "-";
        size_t j;
        json_array_foreach(hc, j, r)
        {
            h = json_is_true(json_object_get(r, "alive")) ? "healthy" : "unhealthy";
            if (!json_is_true(json_object_get(r, "alive")))
                break;
        }
        const char *cells[] = { str(tk, "id"),       str(tk, "host"), ports, str(tk, "state"), h,
                                str(tk, "startedAt") };
        table_add(t, cells);
        free(ports);
    }
    table_show(t, c);
out:
    json_decref(queue);
    json_decref(doc);
    free(path);
    return rc;
}

/* --------------------------------------------------------------- changes */

/* The deployment id of a change's answer: the header, deploymentId, or
 * the created app's deployments[0].id. Caller frees; NULL if none. */
static char *deployment_of(const json_t *answer, char *header)
{
    if (header)
        return header;
    const char *id = json_string_value(json_object_get(answer, "deploymentId"));
    if (id == NULL)
        id = json_string_value(
            json_object_get(json_array_get(json_object_get(answer, "deployments"), 0), "id"));
    return id ? xstrdup(id) : NULL;
}

/* Send a change and report it; with --wait, follow its deployment. */
static int change(struct cli *c, const char *app_id, const char *what, const char *method,
                  const char *path, const json_t *body, bool stop)
{
    struct cli_events *ev = NULL;
    char *header = NULL, *dep = NULL, *full = NULL;
    int rc = CLI_FAIL;
    double started = time_mono();

    if (c->wait)
        ev = cli_events_open(c);
    full = xasprintf("%s%s%s", path, c->force ? (strchr(path, '?') ? "&" : "?") : "",
                     c->force ? "force=true" : "");
    json_t *answer = cli_pacer(c, method, full, body, NULL, &header);
    if (answer == NULL)
        goto out;
    dep = deployment_of(answer, header);
    header = NULL;
    if (c->json)
        cli_print_json(answer);
    else if (dep)
        printf("%s %s: deployment %s\n", what, app_id, dep);
    else
        printf("%s %s: done\n", what, app_id);
    fflush(stdout);
    rc = CLI_OK;
    if (c->wait && dep)
        rc = cli_wait_deployment(c, ev, app_id, dep, stop, started);
out:
    json_decref(answer);
    cli_events_free(ev);
    free(header);
    free(dep);
    free(full);
    return rc;
}

static json_t *read_definition(const char *file)
{
    json_error_t jerr;
    FILE *f = strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
    json_t *def;
    if (f == NULL) {
        cli_error("app deploy: cannot open %s: %s", file, strerror(errno));
        return NULL;
    }
    def = json_loadf(f, 0, &jerr);
    if (f != stdin)
        fclose(f);
    if (def == NULL) {
        cli_error("app deploy: %s: not JSON: line %d column %d: %s", file, jerr.line, jerr.column,
                  jerr.text);
        return NULL;
    }
    if (!json_is_object(def) || !json_is_string(json_object_get(def, "id"))) {
        cli_error("app deploy: %s: expected an app definition, a JSON object with an \"id\"", file);
        json_decref(def);
        return NULL;
    }
    return def;
}

static int app_deploy(struct cli *c, const char *file)
{
    json_t *def = read_definition(file), *existing = NULL;
    char *id = NULL, *path = NULL;
    int rc = CLI_FAIL, status;
    if (def == NULL)
        return CLI_FAIL;
    id = abs_id(json_string_value(json_object_get(def, "id")));
    if ((path = cli_app_path(id, "")) == NULL) {
        cli_error("app deploy: %s: \"id\": '%s' is not an app id", file, id);
        goto out;
    }
    existing = cli_pacer_quiet404(c, "GET", path, &status);
    if (existing == NULL && status != 404)
        goto out;
    if (existing)
        rc = change(c, id, "updated", "PUT", path, def, false);
    else
        rc = change(c, id, "created", "POST", "/v2/apps", def, false);
out:
    json_decref(existing);
    json_decref(def);
    free(path);
    free(id);
    return rc;
}

static int app_rollback(struct cli *c, const char *id, const char *version)
{
    char *path = cli_app_path(id, ""), *vpath = cli_app_path(id, "/versions"), *dpath = NULL;
    json_t *doc = NULL, *versions = NULL, *body = NULL;
    int rc = CLI_FAIL;
    const json_t *a, *v;
    size_t i;

    if ((doc = cli_pacer(c, "GET", path, NULL, NULL, NULL)) == NULL)
        goto out;
    a = json_object_get(doc, "app");
    const char *running = str(json_array_get(json_object_get(a, "deployments"), 0), "id");
    if (version == NULL && *running) {
        /* Marathon's rollback of a deployment: back to what was before it. */
        dpath = xasprintf("/v2/deployments/%s", running);
        rc = change(c, str(a, "id"), "rolling back deployment of", "DELETE", dpath, NULL, false);
        goto out;
    }
    if (version == NULL) {
        if ((versions = cli_pacer(c, "GET", vpath, NULL, NULL, NULL)) == NULL)
            goto out;
        json_array_foreach(json_object_get(versions, "versions"), i, v)
        {
            /* Newest first: the first one older than the current. */
            if (json_is_string(v) && strcmp(json_string_value(v), str(a, "version")) < 0) {
                version = json_string_value(v);
                break;
            }
        }
        if (version == NULL) {
            cli_error("app rollback %s: no version before %s", id, str(a, "version"));
            goto out;
        }
    }
    body = json_pack("{s:s}", "version", version);
    char *what = xasprintf("rolled back to %s:", version);
    rc = change(c, str(a, "id"), what, "PUT", path, body, false);
    free(what);
out:
    json_decref(body);
    json_decref(versions);
    json_decref(doc);
    free(dpath);
    free(vpath);
    free(path);
    return rc;
}

static int parse_instances(const char *s, long *n)
{
    char *end;
    errno = 0;
    *n = strtol(s, &end, 10);
    return errno || end == s || *end || *n < 0 || *n > 1000000 ? -1 : 0;
}

int cmd_app(struct cli *c)
{
    const char *sub = c->nargs > 0 ? c->args[0] : "";
    int nargs = c->nargs - 1;
    char *path = NULL, *id = NULL;
    int rc = CLI_USAGE;

    if (strcmp(sub, "list") == 0 && nargs == 0)
        return app_list(c);
    if (strcmp(sub, "deploy") == 0 && nargs == 1)
        return app_deploy(c, c->args[1]);
    if (nargs < 1 || strcmp(sub, "list") == 0 || strcmp(sub, "deploy") == 0)
        goto usage;
    if ((path = cli_app_path(c->args[1], "")) == NULL) {
        cli_error("app %s: '%s' is not an app id (e.g. /web or /group/api)", sub, c->args[1]);
        return CLI_USAGE;
    }
    free(path);
    path = NULL;
    id = abs_id(c->args[1]);
    if (strcmp(sub, "show") == 0 && nargs == 1) {
        rc = app_show(c, id);
    } else if (strcmp(sub, "scale") == 0 && nargs == 2) {
        long n;
        if (parse_instances(c->args[2], &n) < 0) {
            cli_error("app scale: '%s' is not a number of instances (0 or more)", c->args[2]);
            goto out;
        }
        json_t *body = json_pack("{s:I}", "instances", (json_int_t)n);
        path = cli_app_path(id, "");
        char *what = xasprintf("scaled to %ld:", n);
        rc = change(c, id, what, "PUT", path, body, false);
        free(what);
        json_decref(body);
    } else if (strcmp(sub, "restart") == 0 && nargs == 1) {
        path = cli_app_path(id, "/restart");
        rc = change(c, id, "restarting", "POST", path, NULL, false);
    } else if (strcmp(sub, "rollback") == 0 && (nargs == 1 || nargs == 2)) {
        rc = app_rollback(c, id, nargs == 2 ? c->args[2] : NULL);
    } else if (strcmp(sub, "destroy") == 0 && nargs == 1) {
        path = cli_app_path(id, "");
        rc = change(c, id, "destroying", "DELETE", path, NULL, true);
    } else {
        goto usage;
    }
out:
    free(path);
    free(id);
    return rc;
usage:
    cli_error("app: usage: agora app list | show ID | deploy FILE | scale ID N | restart ID | "
              "rollback ID [VERSION] | destroy ID  [--wait [--timeout=5mins]] [--force]");
    free(id);
    return CLI_USAGE;
}
