/*
 * app: Marathon 1.10's AppDefinition for Pacer — reading a client's JSON
 * with every error named, the deprecated shapes translated (ports, uris,
 * container.docker.network, docker.portMappings), Marathon's defaults
 * filled in, the canonical JSON built, and the typed view derived from it.
 *
 * Facts come from Marathon's releases/1.10 sources (app.raml and the types
 * it uses, AppNormalization.scala, AppValidation.scala, PathId.scala) and
 * from what python3-marathon 0.13's models accept (docs/pacer/
 * marathon-compat.md). Errors use Marathon's texts: the JSON readers'
 * codes ("error.min", "error.expected.jsnumber", ...) for type and range
 * errors, the validators' sentences for the rest, at Marathon's paths
 * ("/cpus", "/healthChecks(0)/portIndex", "/env/FOO", "/" for the app).
 * Unlike Marathon, which stops at the first failing phase, every error of
 * every phase is reported at once.
 *
 * Pacer refuses what it cannot run rather than store it and ignore it:
 * secrets, resident apps (residency), readiness checks, ipAddress,
 * privileged containers, images without the DOCKER engine, custom
 * executors, persistent/external volumes and GPUs.
 */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "constraints.h"
#include "mem.h"

#define ID_REGEX_MSG                                                                              \
    "must fully match regular expression "                                                        \
    "'^(([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])\\.)*([a-z0-9]|[a-z0-9][a-z0-9\\-]*[a-z0-9])|(\\." \
    "|\\.\\.)$'"
#define ID_EMPTY_MSG "Path must contain at least one path element"
#define ID_RESERVED_MSG \
    "must not end with any of the following reserved keywords: restart, tasks, versions, ., .."
#define CMD_ARGS_MSG \
    "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'."
#define SECRETS_MSG "Feature secrets is not enabled. Enable with --enable_features secrets)"
#define GPU_MSG "Feature gpu_resources is not enabled. Enable with --enable_features gpu_resources)"
#define HC_PORT_MSG                                                                           \
    "Health check port indices must address an element of the ports array or container port " \
    "mappings."

/* Marathon's defaults (app.raml, healthCheck.raml, state/UpgradeStrategy). */
#define DEF_CPUS 1.0
#define DEF_MEM 128.0
#define DEF_BACKOFF_SECONDS 1
#define DEF_BACKOFF_FACTOR 1.15
#define DEF_MAX_LAUNCH_DELAY 300 /* 1.10's raml; older docs say 3600 */
#define DEF_HC_GRACE 300
#define DEF_HC_INTERVAL 60
#define DEF_HC_TIMEOUT 20
#define DEF_HC_MAX_FAILURES 3
#define DEF_HC_DELAY 15

/* ------------------------------------------------------------------ */
/* Error collection                                                    */

struct norm {
    json_t *details; /* [{"path", "errors": [...]}], grouped by path */
};

static void err_at(struct norm *n, const char *path, const char *msg)
{
    size_t i, j;
    json_t *e, *errs;

    if (path[0] == '\0')
        path = "/";
    for (i = 0; i < json_array_size(n->details); i++) {
        e = json_array_get(n->details, i);
        if (strcmp(json_string_value(json_object_get(e, "path")), path) != 0)
            continue;
        errs = json_object_get(e, "errors");
        /* Marathon lists each message once per path (RestResource.entity). */
        for (j = 0; j < json_array_size(errs); j++)
            if (strcmp(json_string_value(json_array_get(errs, j)), msg) == 0)
                return;
        json_array_append_new(errs, json_string(msg));
        return;
    }
    e = json_object();
    json_object_set_new(e, "path", json_string(path));
    errs = json_array();
    json_array_append_new(errs, json_string(msg));
    json_object_set_new(e, "errors", errs);
    json_array_append_new(n->details, e);
}

static void errf_at(struct norm *n, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errf_at(struct norm *n, const char *path, const char *fmt, ...)
{
    va_list ap;
    char *msg;

    va_start(ap, fmt);
    msg = xvasprintf(fmt, ap);
    va_end(ap);
    err_at(n, path, msg);
    free(msg);
}

/* "/container" + "docker" -> "/container/docker"; callers free. */
static char *pj(const char *base, const char *key)
{
    return xasprintf("%s/%s", base, key);
}

/* "/healthChecks" + 0 -> "/healthChecks(0)", Marathon's index syntax. */
static char *pi(const char *base, size_t i)
{
    return xasprintf("%s(%zu)", base, i);
}

/* ------------------------------------------------------------------ */
/* Typed readers. A JSON null counts as absent, as Play's readNullable   */
/* does for Marathon's optional fields.                                */

static const json_t *field(const json_t *obj, const char *key)
{
    const json_t *v = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    return json_is_null(v) ? NULL : v;
}

enum num_kind { NUM_DOUBLE, NUM_INT32, NUM_INT64 };

/* Check a number v (not NULL) at path. true with *out, or false after
 * reporting Marathon's reader code. */
static bool num_value(struct norm *n, const json_t *v, const char *path, enum num_kind kind,
                      double min, double max, double *out)
{
    double d;

    if (!json_is_number(v)) {
        err_at(n, path, "error.expected.jsnumber");
        return false;
    }
    d = json_number_value(v);
    if (kind != NUM_DOUBLE) {
        /* 1.0 is an int to Play (BigDecimal.isValidInt); 1.5 is not. */
        double lim = kind == NUM_INT32 ? 2147483647.0 : 9007199254740992.0;
        if (d != floor(d) || d > lim || d < -lim - 1) {
            err_at(n, path, "error.expected.int");
            return false;
        }
    }
    if (d < min) {
        err_at(n, path, "error.min");
        return false;
    }
    if (d > max) {
        err_at(n, path, "error.max");
        return false;
    }
    *out = d;
    return true;
}

/* obj[key] as a number: 0 absent (*out untouched), 1 valid, -1 invalid. */
static int get_num(struct norm *n, const json_t *obj, const char *base, const char *key,
                   enum num_kind kind, double min, double max, double *out)
{
    const json_t *v = field(obj, key);
    char *path;
    bool ok;

    if (v == NULL)
        return 0;
    path = pj(base, key);
    ok = num_value(n, v, path, kind, min, max, out);
    free(path);
    return ok ? 1 : -1;
}

static int get_bool(struct norm *n, const json_t *obj, const char *base, const char *key, bool *out)
{
    const json_t *v = field(obj, key);
    char *path;

    if (v == NULL)
        return 0;
    if (!json_is_boolean(v)) {
        path = pj(base, key);
        err_at(n, path, "error.expected.jsboolean");
        free(path);
        return -1;
    }
    *out = json_is_true(v);
    return 1;
}

/* obj[key] as a string (borrowed): NULL when absent or invalid; *bad set
 * when invalid. required: absence is "error.path.missing". */
static const char *get_str(struct norm *n, const json_t *obj, const char *base, const char *key,
                           bool required, bool *bad)
{
    const json_t *v = field(obj, key);
    char *path = NULL;

    if (v == NULL && !required)
        return NULL;
    path = pj(base, key);
    if (v == NULL)
        err_at(n, path, "error.path.missing");
    else if (!json_is_string(v))
        err_at(n, path, "error.expected.jsstring");
    free(path);
    if (v != NULL && json_is_string(v))
        return json_string_value(v);
    if (bad != NULL)
        *bad = true;
    return NULL;
}

/* Case-insensitive enum lookup (1.10's enum readers ignore case). */
static int enum_find(const char *s, const char *const *names, size_t count)
{
    for (size_t i = 0; s != NULL && i < count; i++)
        if (strcasecmp(s, names[i]) == 0)
            return (int)i;
    return -1;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* obj[key] as one of names: index, def when absent, -1 when invalid. */
static int get_enum(struct norm *n, const json_t *obj, const char *base, const char *key,
                    const char *const *names, size_t count, int def)
{
    bool bad = false;
    const char *s = get_str(n, obj, base, key, false, &bad);
    char *path;
    int k;

    if (bad)
        return -1;
    if (s == NULL)
        return def;
    k = enum_find(s, names, count);
    if (k < 0) {
        path = pj(base, key);
        err_at(n, path, "error.unknown.enum.literal");
        free(path);
    }
    return k;
}

/* A map of strings (labels) at path: a new copy, NULL when invalid. */
static json_t *str_map(struct norm *n, const json_t *v, const char *path)
{
    json_t *out, *val;
    const char *k;
    bool ok = true;

    if (!json_is_object(v)) {
        err_at(n, path, "error.expected.jsobject");
        return NULL;
    }
    out = json_object();
    json_object_foreach((json_t *)v, k, val)
    {
        if (json_is_string(val)) {
            json_object_set(out, k, val);
            continue;
        }
        char *p = pj(path, k);
        err_at(n, p, "error.expected.jsstring");
        free(p);
        ok = false;
    }
    if (!ok) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* Optional obj[key] that must be an array: NULL when absent or invalid. */
static const json_t *get_array(struct norm *n, const json_t *obj, const char *base, const char *key,
                               bool *bad)
{
    const json_t *v = field(obj, key);

    if (v != NULL && !json_is_array(v)) {
        char *path = pj(base, key);
        err_at(n, path, "error.expected.jsarray");
        free(path);
        if (bad != NULL)
            *bad = true;
        return NULL;
    }
    return v;
}

static const json_t *get_object(struct norm *n, const json_t *obj, const char *base,
                                const char *key, bool *bad)
{
    const json_t *v = field(obj, key);

    if (v != NULL && !json_is_object(v)) {
        char *path = pj(base, key);
        err_at(n, path, "error.expected.jsobject");
        free(path);
        if (bad != NULL)
            *bad = true;
        return NULL;
    }
    return v;
}

/* RAML's LegacyName / Name: ^[a-z0-9]([-a-z0-9]*[a-z0-9])?$ (with_us:
 * NetworkName also allows '_' inside). */
static bool name_ok(const char *s, bool with_us)
{
    size_t len = strlen(s);

    if (len == 0 || s[0] == '-' || s[len - 1] == '-' || s[0] == '_' || s[len - 1] == '_')
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
              (with_us && c == '_')))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* Ids                                                                  */

/* One path segment: dot-separated labels of [a-z0-9-] that neither start
 * nor end with '-' (PathId's ID_PATH_SEGMENT_PATTERN). */
static bool segment_ok(const char *s, size_t len)
{
    size_t start = 0;

    if (len == 0)
        return false;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && s[i] != '.') {
            char c = s[i];
            if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'))
                return false;
            continue;
        }
        if (i == start || s[start] == '-' || s[i - 1] == '-')
            return false;
        start = i + 1;
    }
    return true;
}

struct segs {
    const char **p; /* pointers into the caller's strings */
    size_t *len;
    size_t n, cap;
};

static void segs_push(struct segs *s, const char *p, size_t len)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 8;
        s->p = xrealloc(s->p, s->cap * sizeof(*s->p));
        s->len = xrealloc(s->len, s->cap * sizeof(*s->len));
    }
    s->p[s->n] = p;
    s->len[s->n] = len;
    s->n++;
}

/* Append the segments of path to s, resolving "." and ".." the way
 * PathId.canonicalPath does (".." above the root stays at the root).
 * check: refuse a segment that is not a valid name (*reason set). */
static bool segs_add(struct segs *s, const char *path, bool check, const char **reason)
{
    const char *p = path;

    while (*p != '\0') {
        const char *e = strchr(p, '/');
        size_t len = e ? (size_t)(e - p) : strlen(p);

        if (len == 1 && p[0] == '.') {
            /* nothing */
        } else if (len == 2 && p[0] == '.' && p[1] == '.') {
            if (s->n > 0)
                s->n--;
        } else if (len > 0) {
            if (check && !segment_ok(p, len)) {
                *reason = ID_REGEX_MSG;
                return false;
            }
            segs_push(s, p, len);
        }
        p += len;
        if (*p == '/')
            p++;
    }
    return true;
}

/* The absolute id, or NULL with *reason (a static Marathon message). */
static char *resolve_id(const char *base, const char *raw, bool allow_root, const char **reason)
{
    struct segs s = { 0 };
    char *out = NULL;
    size_t total = 1, i;

    if (raw == NULL || raw[0] == '\0') {
        *reason = ID_EMPTY_MSG;
        goto out;
    }
    if (raw[0] != '/' && base != NULL && !segs_add(&s, base, false, reason))
        goto out;
    if (!segs_add(&s, raw, true, reason))
        goto out;
    if (s.n == 0) {
        if (!allow_root) {
            *reason = ID_EMPTY_MSG;
            goto out;
        }
        out = xstrdup("/");
        goto out;
    }
    static const char *const reserved[] = { "restart", "tasks", "versions" };
    for (i = 0; i < NELEM(reserved); i++) {
        if (s.len[s.n - 1] == strlen(reserved[i]) &&
            memcmp(s.p[s.n - 1], reserved[i], s.len[s.n - 1]) == 0) {
            *reason = ID_RESERVED_MSG;
            goto out;
        }
    }
    for (i = 0; i < s.n; i++)
        total += s.len[i] + 1;
    out = xmalloc(total);
    out[0] = '\0';
    for (i = 0, total = 0; i < s.n; i++) {
        out[total++] = '/';
        memcpy(out + total, s.p[i], s.len[i]);
        total += s.len[i];
    }
    out[total] = '\0';
out:
    free(s.p);
    free(s.len);
    return out;
}

char *appid_resolve(const char *base, const char *raw, bool allow_root, char **err)
{
    const char *reason = NULL;
    char *id = resolve_id(base, raw, allow_root, &reason);

    if (id == NULL && err != NULL)
        *err = xasprintf("'%s' is not a valid path: %s", raw ? raw : "", reason);
    return id;
}

/* The group an absolute app id lives in ("/a/b" -> "/a", "/a" -> "/"). */
static char *parent_of(const char *id)
{
    const char *slash = strrchr(id, '/');

    if (slash == NULL || slash == id)
        return xstrdup("/");
    return xstrndup(id, (size_t)(slash - id));
}

/* ------------------------------------------------------------------ */
/* Sections of the AppDefinition. Each reads from in, reports errors and */
/* writes its canonical keys into out.                                  */

static void norm_id(struct norm *n, const json_t *in, const char *base, const char *id_hint,
                    json_t *out)
{
    const json_t *v = json_object_get(in, "id");
    const char *raw, *reason = NULL;
    char *id;

    if (json_is_null(v))
        v = NULL;
    if (v != NULL && !json_is_string(v)) {
        err_at(n, "/id", "error.expected.jsstring");
        return;
    }
    raw = v ? json_string_value(v) : id_hint;
    if (raw == NULL) {
        err_at(n, "/id", "error.path.missing");
        return;
    }
    id = resolve_id(base ? base : "/", raw, false, &reason);
    if (id == NULL) {
        err_at(n, "/id", reason);
        return;
    }
    json_object_set_new(out, "id", json_string(id));
    free(id);
}

/* cmd/args; *has_cmd and *has_args say whether they are non-empty. */
static void norm_command(struct norm *n, const json_t *in, json_t *out, bool *has_cmd,
                         bool *has_args)
{
    bool bad = false;
    const char *cmd = get_str(n, in, "", "cmd", false, &bad);
    const json_t *args = get_array(n, in, "", "args", &bad);
    size_t i;

    *has_cmd = *has_args = false;
    if (cmd != NULL) {
        if (cmd[0] == '\0') {
            /* RAML minLength 1. (1.10 also refuses a one-character cmd, a
             * slip in its validator that Pacer does not copy.) */
            err_at(n, "/cmd", "error.minLength");
        } else {
            json_object_set_new(out, "cmd", json_string(cmd));
            *has_cmd = true;
        }
    }
    if (args != NULL && json_array_size(args) > 0) {
        json_t *a = json_array();
        bool ok = true;
        for (i = 0; i < json_array_size(args); i++) {
            json_t *s = json_array_get(args, i);
            if (!json_is_string(s)) {
                char *p = pi("/args", i);
                err_at(n, p, "error.expected.jsstring");
                free(p);
                ok = false;
                continue;
            }
            json_array_append(a, s);
        }
        if (ok) {
            json_object_set_new(out, "args", a);
            *has_args = true;
        } else {
            json_decref(a);
        }
    }
}

static void norm_env(struct norm *n, const json_t *in, json_t *out)
{
    const json_t *env = field(in, "env");
    json_t *o, *v;
    const char *k;

    if (env == NULL)
        return;
    if (!json_is_object(env)) {
        err_at(n, "/env", "error.expected.jsobject");
        return;
    }
    o = json_object();
    json_object_foreach((json_t *)env, k, v)
    {
        char *p;
        if (json_is_string(v)) {
            json_object_set(o, k, v);
            continue;
        }
        p = pj("/env", k);
        if (json_is_object(v) && json_object_get(v, "secret") != NULL)
            err_at(n, p, SECRETS_MSG);
        else
            err_at(n, p, "error.expected.jsstring");
        free(p);
    }
    /* Left out when empty, as 1.10's omitEmpty does. */
    if (json_object_size(o) > 0)
        json_object_set_new(out, "env", o);
    else
        json_decref(o);
}

static void norm_constraints(struct norm *n, const json_t *in, json_t *out)
{
    const json_t *cs = field(in, "constraints");
    json_t *copy;
    size_t i;

    if (cs == NULL)
        return;
    if (constraints_validate(cs, n->details) > 0 || !json_is_array(cs))
        return;
    if (json_array_size(cs) == 0)
        return;
    copy = json_deep_copy(cs);
    /* Operators are read in any case and written in upper case. */
    for (i = 0; i < json_array_size(copy); i++) {
        json_t *c = json_array_get(copy, i);
        const char *op = json_string_value(json_array_get(c, 1));
        if (op != NULL) {
            char *up = xstrdup(op);
            for (char *q = up; *q; q++)
                *q = (char)toupper((unsigned char)*q);
            json_array_set_new(c, 1, json_string(up));
            free(up);
        }
    }
    json_object_set_new(out, "constraints", copy);
}

/* A list of strings at /key: a new array, NULL when absent or invalid. */
static json_t *str_list(struct norm *n, const json_t *in, const char *key)
{
    bool bad = false;
    const json_t *v = get_array(n, in, "", key, &bad);
    json_t *a;
    char *base;
    bool ok = true;

    if (v == NULL)
        return NULL;
    base = pj("", key);
    a = json_array();
    for (size_t i = 0; i < json_array_size(v); i++) {
        json_t *s = json_array_get(v, i);
        if (!json_is_string(s)) {
            char *p = pi(base, i);
            err_at(n, p, "error.expected.jsstring");
            free(p);
            ok = false;
            continue;
        }
        json_array_append(a, s);
    }
    free(base);
    if (!ok) {
        json_decref(a);
        return NULL;
    }
    return a;
}

static void norm_roles(struct norm *n, const json_t *in, json_t *out)
{
    json_t *roles = str_list(n, in, "acceptedResourceRoles");
    bool bad = false;
    const char *role = get_str(n, in, "", "role", false, &bad);

    /* Pacer registers with role "*" only, so that is the one valid role
     * (Marathon: `app.role is optional(in(validRoles))`). */
    if (role != NULL && strcmp(role, "*") != 0)
        err_at(n, "/role", "is not one of (*)");
    json_object_set_new(out, "role", json_string("*"));
    if (roles == NULL)
        return;
    if (json_array_size(roles) == 0) {
        err_at(n, "/acceptedResourceRoles", "must not be empty");
        json_decref(roles);
        return;
    }
    for (size_t i = 0; i < json_array_size(roles); i++) {
        if (strcmp(json_string_value(json_array_get(roles, i)), "*") != 0) {
            err_at(n, "/acceptedResourceRoles", "acceptedResourceRoles can only contain *");
            json_decref(roles);
            return;
        }
    }
    json_object_set_new(out, "acceptedResourceRoles", roles);
}

/* ------------------------------------------------------------------ */
/* Networks, containers and ports                                      */

enum { NM_HOST, NM_BRIDGE, NM_CONTAINER };
static const char *const net_modes[] = { "host", "container/bridge", "container" };
static const char *const protocols[] = { "tcp", "udp", "udp,tcp" };

/* networks (or the deprecated container.docker.network): writes
 * "networks" and returns the app's mode; *ncontainer counts named
 * container networks. */
static int norm_networks(struct norm *n, const json_t *in, json_t *out, size_t *ncontainer)
{
    bool bad = false;
    const json_t *nets = get_array(n, in, "", "networks", &bad);
    const json_t *ct = field(in, "container");
    const json_t *docker = json_is_object(ct) ? field(ct, "docker") : NULL;
    const json_t *dnet = json_is_object(docker) ? field(docker, "network") : NULL;
    json_t *list = json_array();
    size_t nhost = 0, nbridge = 0, ncont = 0, i, j;
    int mode;

    if (dnet != NULL) {
        static const char *const dmodes[] = { "BRIDGE", "HOST", "USER", "NONE" };
        int k = json_is_string(dnet) ? enum_find(json_string_value(dnet), dmodes, 4) : -2;
        if (k == -2)
            err_at(n, "/container/docker/network", "error.expected.jsstring");
        else if (k == -1)
            err_at(n, "/container/docker/network", "error.unknown.enum.literal");
        else if (json_array_size(nets) > 0)
            err_at(n, "/", "must not specify both container.docker.network and networks");
        else if (k == 3)
            err_at(n, "/container/docker/network", "unsupported docker network type NONE");
        else if (k == 2)
            /* USER meant a named network; it has no name here. */
            err_at(n, "/container/docker/network",
                   "Network name must be specified when container network is selected.");
        else if (k == 1)
            nhost++;
        else
            nbridge++;
        if (nhost + nbridge > 0)
            json_array_append_new(list,
                                  json_pack("{s:s}", "mode", nhost ? "host" : "container/bridge"));
    }
    for (i = 0; dnet == NULL && i < json_array_size(nets); i++) {
        const json_t *net = json_array_get(nets, i);
        char *p = pi("/networks", i);
        const char *name;
        json_t *labels = NULL, *o;
        bool nbad = false;
        int m;

        if (!json_is_object(net)) {
            err_at(n, p, "error.expected.jsobject");
            free(p);
            continue;
        }
        /* A network without "mode" is a container network (network.raml). */
        m = get_enum(n, net, p, "mode", net_modes, NELEM(net_modes), NM_CONTAINER);
        name = get_str(n, net, p, "name", false, &nbad);
        if (name != NULL && (!name_ok(name, true) || strlen(name) > 63)) {
            char *q = pj(p, "name");
            err_at(n, q, "error.pattern");
            free(q);
            nbad = true;
        }
        if (field(net, "labels") != NULL) {
            char *q = pj(p, "labels");
            labels = str_map(n, field(net, "labels"), q);
            free(q);
            nbad |= labels == NULL;
        }
        if (m < 0 || nbad) {
            json_decref(labels);
            free(p);
            continue;
        }
        if (m == NM_HOST && (name != NULL || json_object_size(labels) > 0))
            err_at(n, "/networks", "Host networks may not have names or labels");
        if (m == NM_BRIDGE && name != NULL)
            err_at(n, "/networks", "Bridge networks may not have names");
        if (m == NM_CONTAINER && name == NULL)
            err_at(n, "/networks",
                   "Network name must be specified when container network is selected.");
        nhost += m == NM_HOST;
        nbridge += m == NM_BRIDGE;
        ncont += m == NM_CONTAINER;
        o = json_pack("{s:s}", "mode", net_modes[m]);
        if (m != NM_HOST && name != NULL)
            json_object_set_new(o, "name", json_string(name));
        if (m != NM_HOST && json_object_size(labels) > 0)
            json_object_set(o, "labels", labels);
        json_decref(labels);
        json_array_append_new(list, o);
        free(p);
    }
    if ((nhost > 0 || nbridge > 0) && json_array_size(list) > 1)
        err_at(n, "/networks",
               "May specify a single host network, single bridge network, or else 1-to-n "
               "container networks");
    for (i = 0; i < json_array_size(list); i++)
        for (j = i + 1; j < json_array_size(list); j++)
            if (json_equal(json_array_get(list, i), json_array_get(list, j)))
                err_at(n, "/networks", "Duplicate networks are not allowed");
    if (json_array_size(list) == 0)
        json_array_append_new(list, json_pack("{s:s}", "mode", "host"));
    mode = nhost > 0 || (nbridge == 0 && ncont == 0) ? NM_HOST
           : nbridge > 0                             ? NM_BRIDGE
                                                     : NM_CONTAINER;
    json_object_set_new(out, "networks", list);
    *ncontainer = ncont;
    return mode;
}

/* One portDefinitions entry (or a legacy port number when legacy). */
static json_t *port_definition(struct norm *n, const json_t *v, const char *p)
{
    double port = 0;
    int proto;
    const char *name;
    bool bad = false;
    json_t *labels = NULL, *o;

    if (!json_is_object(v)) {
        err_at(n, p, "error.expected.jsobject");
        return NULL;
    }
    bad |= get_num(n, v, p, "port", NUM_INT32, 0, 65535, &port) < 0;
    proto = get_enum(n, v, p, "protocol", protocols, NELEM(protocols), 0);
    name = get_str(n, v, p, "name", false, &bad);
    if (name != NULL && !name_ok(name, false)) {
        char *q = pj(p, "name");
        err_at(n, q, "error.pattern");
        free(q);
        bad = true;
    }
    if (field(v, "labels") != NULL) {
        char *q = pj(p, "labels");
        labels = str_map(n, field(v, "labels"), q);
        free(q);
        bad |= labels == NULL;
    }
    if (bad || proto < 0) {
        json_decref(labels);
        return NULL;
    }
    o = json_pack("{s:I,s:s}", "port", (json_int_t)port, "protocol", protocols[proto]);
    if (name != NULL)
        json_object_set_new(o, "name", json_string(name));
    /* labels are left out when empty (1.10's omitEmpty). */
    if (json_object_size(labels) > 0)
        json_object_set(o, "labels", labels);
    json_decref(labels);
    return o;
}

/* portDefinitions, or the deprecated "ports" turned into them: a new
 * array, or NULL when neither is given (or on error, *bad set). */
static json_t *migrated_port_definitions(struct norm *n, const json_t *in, bool *bad)
{
    const json_t *pd = get_array(n, in, "", "portDefinitions", bad);
    const json_t *ports = get_array(n, in, "", "ports", bad);
    json_t *defs = NULL, *legacy = NULL;
    size_t i, j;
    bool ok = true;

    if (pd != NULL) {
        defs = json_array();
        for (i = 0; i < json_array_size(pd); i++) {
            char *p = pi("/portDefinitions", i);
            json_t *o = port_definition(n, json_array_get(pd, i), p);
            free(p);
            if (o == NULL)
                ok = false;
            else
                json_array_append_new(defs, o);
        }
    }
    if (ports != NULL) {
        legacy = json_array();
        for (i = 0; i < json_array_size(ports); i++) {
            char *p = pi("/ports", i);
            double port;
            if (num_value(n, json_array_get(ports, i), p, NUM_INT32, 0, 65535, &port))
                json_array_append_new(
                    legacy, json_pack("{s:I,s:s}", "port", (json_int_t)port, "protocol", "tcp"));
            else
                ok = false;
            free(p);
        }
        for (i = 0; ok && i < json_array_size(legacy); i++) {
            json_int_t a = json_integer_value(json_object_get(json_array_get(legacy, i), "port"));
            for (j = i + 1; a != 0 && j < json_array_size(legacy); j++)
                if (a == json_integer_value(json_object_get(json_array_get(legacy, j), "port"))) {
                    err_at(n, "/", "ports must be unique");
                    ok = false;
                    break;
                }
        }
    }
    if (ok && defs != NULL && legacy != NULL) {
        /* Both are fine only if they say the same (AppValidation). */
        bool same = json_array_size(defs) == json_array_size(legacy);
        for (i = 0; same && i < json_array_size(defs); i++)
            same = json_equal(json_object_get(json_array_get(defs, i), "port"),
                              json_object_get(json_array_get(legacy, i), "port"));
        if (!same) {
            err_at(n, "/", "cannot specify both ports and port definitions");
            ok = false;
        }
    }
    if (!ok) {
        *bad = true;
        json_decref(defs);
        json_decref(legacy);
        return NULL;
    }
    if (defs != NULL) {
        json_decref(legacy);
        return defs;
    }
    return legacy;
}

/* Names (and, Pacer's addition, non-zero service ports) unique. */
static void ports_unique(struct norm *n, const json_t *list, const char *path, const char *port_key,
                         const char *port_msg)
{
    size_t i, j;
    bool dup_name = false, dup_port = false;

    for (i = 0; i < json_array_size(list); i++) {
        const json_t *a = json_array_get(list, i);
        for (j = i + 1; j < json_array_size(list); j++) {
            const json_t *b = json_array_get(list, j);
            const json_t *na = json_object_get(a, "name"), *nb = json_object_get(b, "name");
            json_int_t pa = json_integer_value(json_object_get(a, port_key));
            if (na != NULL && nb != NULL && json_equal(na, nb))
                dup_name = true;
            if (pa != 0 && pa == json_integer_value(json_object_get(b, port_key)))
                dup_port = true;
        }
    }
    if (dup_name)
        err_at(n, path, "Port names must be unique.");
    if (dup_port)
        err_at(n, path, port_msg);
}

/* One container.portMappings entry. bridge: a missing hostPort is 0
 * (1.10's backwards compatibility); on container networks it stays
 * absent (no host port). */
static json_t *port_mapping(struct norm *n, const json_t *v, const char *p, bool bridge)
{
    double cport = 0, hport = 0, sport = 0;
    int has_host, proto;
    const char *name;
    bool bad = false;
    json_t *labels = NULL, *o;

    if (!json_is_object(v)) {
        err_at(n, p, "error.expected.jsobject");
        return NULL;
    }
    bad |= get_num(n, v, p, "containerPort", NUM_INT32, 0, 65535, &cport) < 0;
    has_host = get_num(n, v, p, "hostPort", NUM_INT32, 0, 65535, &hport);
    bad |= has_host < 0;
    bad |= get_num(n, v, p, "servicePort", NUM_INT32, 0, 65535, &sport) < 0;
    proto = get_enum(n, v, p, "protocol", protocols, NELEM(protocols), 0);
    name = get_str(n, v, p, "name", false, &bad);
    if (name != NULL && !name_ok(name, false)) {
        char *q = pj(p, "name");
        err_at(n, q, "error.pattern");
        free(q);
        bad = true;
    }
    if (field(v, "labels") != NULL) {
        char *q = pj(p, "labels");
        labels = str_map(n, field(v, "labels"), q);
        free(q);
        bad |= labels == NULL;
    }
    if (bad || proto < 0) {
        json_decref(labels);
        return NULL;
    }
    o = json_pack("{s:I}", "containerPort", (json_int_t)cport);
    if (has_host > 0 || bridge)
        json_object_set_new(o, "hostPort", json_integer((json_int_t)hport));
    json_object_set_new(o, "servicePort", json_integer((json_int_t)sport));
    json_object_set_new(o, "protocol", json_string(protocols[proto]));
    if (name != NULL)
        json_object_set_new(o, "name", json_string(name));
    /* 1.10 writes "labels": {} on every mapping. */
    json_object_set_new(o, "labels", labels ? labels : json_object());
    return o;
}

static json_t *docker_block(struct norm *n, const json_t *docker)
{
    const char *base = "/container/docker";
    bool bad = false, force = false, priv = false;
    const char *image = get_str(n, docker, base, "image", true, &bad);
    bool pbad = false;
    const json_t *params = get_array(n, docker, base, "parameters", &pbad);
    json_t *plist = json_array(), *o;

    if (image != NULL && image[0] == '\0') {
        err_at(n, "/container/docker/image", "error.minLength");
        bad = true;
    }
    bad |= get_bool(n, docker, base, "forcePullImage", &force) < 0;
    bad |= get_bool(n, docker, base, "privileged", &priv) < 0;
    if (priv) {
        err_at(n, "/container/docker/privileged",
               "privileged containers are not supported by Pacer");
        bad = true;
    }
    bad |= pbad;
    for (size_t i = 0; i < json_array_size(params); i++) {
        const json_t *pv = json_array_get(params, i);
        char *p = pi("/container/docker/parameters", i);
        const char *k, *val;
        bool ebad = false;
        if (!json_is_object(pv)) {
            err_at(n, p, "error.expected.jsobject");
            bad = true;
            free(p);
            continue;
        }
        k = get_str(n, pv, p, "key", true, &ebad);
        val = get_str(n, pv, p, "value", true, &ebad);
        if (k != NULL && k[0] == '\0') {
            char *q = pj(p, "key");
            err_at(n, q, "error.minLength");
            free(q);
            ebad = true;
        }
        if (!ebad)
            json_array_append_new(plist, json_pack("{s:s,s:s}", "key", k, "value", val));
        bad |= ebad;
        free(p);
    }
    if (bad) {
        json_decref(plist);
        return NULL;
    }
    o = json_pack("{s:s,s:b,s:b,s:o}", "image", image, "forcePullImage", force, "privileged", 0,
                  "parameters", plist);
    return o;
}

static json_t *volumes_block(struct norm *n, const json_t *ct)
{
    bool bad = false;
    const json_t *vols = get_array(n, ct, "/container", "volumes", &bad);
    json_t *list = json_array();
    static const char *const modes[] = { "RO", "RW" };

    for (size_t i = 0; i < json_array_size(vols); i++) {
        const json_t *v = json_array_get(vols, i);
        char *p = pi("/container/volumes", i);
        const char *cpath, *hpath;
        bool vbad = false;
        int mode;

        if (!json_is_object(v)) {
            err_at(n, p, "error.expected.jsobject");
            bad = true;
            free(p);
            continue;
        }
        if (field(v, "persistent") || field(v, "external") || field(v, "secret")) {
            err_at(n, p, "persistent, external and secret volumes are not supported by Pacer");
            bad = true;
            free(p);
            continue;
        }
        cpath = get_str(n, v, p, "containerPath", true, &vbad);
        hpath = get_str(n, v, p, "hostPath", true, &vbad);
        mode = get_enum(n, v, p, "mode", modes, 2, 1);
        if (cpath != NULL && cpath[0] == '\0') {
            char *q = pj(p, "containerPath");
            err_at(n, q, "must not be empty");
            free(q);
            vbad = true;
        }
        if (hpath != NULL && hpath[0] == '\0') {
            char *q = pj(p, "hostPath");
            err_at(n, q, "must not be empty");
            free(q);
            vbad = true;
        }
        if (!vbad && mode >= 0)
            json_array_append_new(list, json_pack("{s:s,s:s,s:s}", "containerPath", cpath,
                                                  "hostPath", hpath, "mode", modes[mode]));
        else
            bad = true;
        free(p);
    }
    if (bad) {
        json_decref(list);
        return NULL;
    }
    return list;
}

/* container, portDefinitions and requirePorts for the app's network mode.
 * Returns the number of ports (what healthChecks' portIndex addresses);
 * *ctype is -1 (no container), 0 MESOS or 1 DOCKER. */
static size_t norm_ports_container(struct norm *n, const json_t *in, int mode, size_t ncontainer,
                                   json_t *out, int *ctype)
{
    bool bad = false, pm_given = false, req = false;
    const json_t *ct = get_object(n, in, "", "container", &bad);
    const json_t *docker = NULL, *pm = NULL, *dpm = NULL, *chosen = NULL;
    const char *chosen_path = "/container/portMappings";
    json_t *defs, *mappings = NULL, *cout = NULL, *dout = NULL, *vols = NULL;
    size_t nports = 0, i;
    static const char *const types[] = { "MESOS", "DOCKER" };
    int type = -1;

    *ctype = -1;
    defs = migrated_port_definitions(n, in, &bad);
    if (get_bool(n, in, "", "requirePorts", &req) < 0)
        bad = true;

    if (ct != NULL) {
        /* container.type defaults to DOCKER (appContainer.raml). */
        type = get_enum(n, ct, "/container", "type", types, 2, 1);
        docker = get_object(n, ct, "/container", "docker", &bad);
        if (docker != NULL)
            dout = docker_block(n, docker);
        if (type == 1 && docker == NULL && field(ct, "docker") == NULL)
            err_at(n, "/container/docker", "not defined");
        if (type == 0 && docker != NULL)
            err_at(n, "/container/docker",
                   "Pacer runs images only with container type DOCKER (no Mesos containerizer)");
        vols = volumes_block(n, ct);
        pm = get_array(n, ct, "/container", "portMappings", &bad);
        if (docker != NULL)
            dpm = get_array(n, docker, "/container/docker", "portMappings", &bad);
        pm_given = pm != NULL || dpm != NULL;
        if (json_array_size(pm) > 0 && json_array_size(dpm) > 0)
            err_at(n, "/container", "cannot specify both portMappings and docker.portMappings");
        chosen = json_array_size(dpm) > 0 || (pm == NULL && dpm != NULL) ? dpm : pm;
        if (chosen == dpm && dpm != NULL)
            chosen_path = "/container/docker/portMappings";
    }

    mappings = json_array();
    for (i = 0; i < json_array_size(chosen); i++) {
        char *p = pi(chosen_path, i);
        json_t *m = port_mapping(n, json_array_get(chosen, i), p, mode == NM_BRIDGE);
        free(p);
        if (m != NULL)
            json_array_append_new(mappings, m);
        else
            bad = true;
    }

    if (mode == NM_HOST) {
        /* Host networking uses portDefinitions (by default one port);
         * 1.10 drops container.portMappings here without a word. */
        if (defs == NULL && !bad)
            defs = json_pack("[{s:i,s:s,s:s}]", "port", 0, "protocol", "tcp", "name", "default");
        if (defs != NULL) {
            ports_unique(n, defs, "/portDefinitions", "port", "Ports must be unique.");
            nports = json_array_size(defs);
            json_object_set(out, "portDefinitions", defs);
        }
        json_decref(mappings);
        mappings = NULL;
    } else {
        /* Non-host networking: portDefinitions are dropped, and mappings
         * are added so there are at least as many (maybeAddPortMappings);
         * none given means one default mapping. */
        if (!pm_given && json_array_size(mappings) == 0)
            json_array_append_new(mappings,
                                  json_pack("{s:i,s:s}", "containerPort", 0, "name", "default"));
        for (i = json_array_size(mappings); i < json_array_size(defs); i++)
            json_array_append_new(mappings, json_pack("{s:i}", "containerPort", 0));
        for (i = 0; i < json_array_size(mappings); i++) {
            json_t *m = json_array_get(mappings, i);
            if (json_object_get(m, "servicePort") == NULL) {
                /* the defaults added just above */
                if (mode == NM_BRIDGE)
                    json_object_set_new(m, "hostPort", json_integer(0));
                json_object_set_new(m, "servicePort", json_integer(0));
                json_object_set_new(m, "protocol", json_string("tcp"));
                json_object_set_new(m, "labels", json_object());
            }
        }
        ports_unique(n, mappings, "/container/portMappings", "servicePort",
                     "Service ports must be unique.");
        nports = json_array_size(mappings);
        /* requirePorts only applies to host networking. */
        req = false;
    }
    if (type == 1 && ncontainer > 1)
        err_at(n, "/",
               "may only specify a single container network when using the Docker container "
               "engine");

    if (ct != NULL || mode != NM_HOST) {
        /* Non-host networking without a container gets a Mesos one. */
        cout = json_pack("{s:s}", "type", type == 1 ? "DOCKER" : "MESOS");
        if (dout != NULL)
            json_object_set(cout, "docker", dout);
        json_object_set_new(cout, "volumes", vols ? json_incref(vols) : json_array());
        if (mappings != NULL)
            json_object_set(cout, "portMappings", mappings);
        json_object_set_new(out, "container", cout);
        *ctype = type == 1 ? 1 : 0;
    }
    json_object_set_new(out, "requirePorts", json_boolean(req));
    json_decref(defs);
    json_decref(mappings);
    json_decref(dout);
    json_decref(vols);
    return nports;
}

/* ------------------------------------------------------------------ */
/* Health checks                                                        */

/* In enum app_hc_protocol's order. */
static const char *const hc_protocols[] = { "HTTP",       "HTTPS",       "TCP",      "COMMAND",
                                            "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP" };

static bool hc_is_http(int proto)
{
    return proto == APP_HC_HTTP || proto == APP_HC_HTTPS || proto == APP_HC_MESOS_HTTP ||
           proto == APP_HC_MESOS_HTTPS;
}

static json_t *health_check(struct norm *n, const json_t *hc, const char *p, size_t nports,
                            int ctype, size_t *nmesos)
{
    bool bad = false, ign = false;
    const json_t *command = get_object(n, hc, p, "command", &bad);
    const char *value = NULL, *path;
    double grace = DEF_HC_GRACE, interval = DEF_HC_INTERVAL, timeout = DEF_HC_TIMEOUT;
    double maxf = DEF_HC_MAX_FAILURES, delay = DEF_HC_DELAY, port = 0, index = 0;
    int has_port, has_index, proto, ipp;
    static const char *const ip_protocols[] = { "IPv4", "IPv6" };
    json_t *o;

    if (command != NULL) {
        char *q = pj(p, "command");
        value = get_str(n, command, q, "value", true, &bad);
        free(q);
    }
    /* A check with a command is a COMMAND check unless it says otherwise. */
    proto = get_enum(n, hc, p, "protocol", hc_protocols, NELEM(hc_protocols),
                     command != NULL ? APP_HC_COMMAND : APP_HC_HTTP);
    path = get_str(n, hc, p, "path", false, &bad);
    has_port = get_num(n, hc, p, "port", NUM_INT32, 0, 65535, &port);
    has_index = get_num(n, hc, p, "portIndex", NUM_INT32, 0, 65535, &index);
    bad |= has_port < 0 || has_index < 0;
    bad |= get_num(n, hc, p, "gracePeriodSeconds", NUM_INT32, 0, INFINITY, &grace) < 0;
    bad |= get_num(n, hc, p, "intervalSeconds", NUM_INT32, 0, INFINITY, &interval) < 0;
    bad |= get_num(n, hc, p, "timeoutSeconds", NUM_INT32, 0, INFINITY, &timeout) < 0;
    bad |= get_num(n, hc, p, "maxConsecutiveFailures", NUM_INT32, 0, INFINITY, &maxf) < 0;
    bad |= get_num(n, hc, p, "delaySeconds", NUM_INT32, 0, INFINITY, &delay) < 0;
    bad |= get_bool(n, hc, p, "ignoreHttp1xx", &ign) < 0;
    ipp = get_enum(n, hc, p, "ipProtocol", ip_protocols, 2, 0);
    if (proto < 0 || ipp < 0 || bad)
        return NULL;

    if (proto == APP_HC_COMMAND && command == NULL) {
        char *q = pj(p, "command");
        err_at(n, q, "error.path.missing");
        free(q);
        return NULL;
    }
    if (proto != APP_HC_COMMAND && command != NULL) {
        char *q = pj(p, "command");
        err_at(n, q, "command is only allowed with protocol COMMAND");
        free(q);
        return NULL;
    }
    if (ipp == 1 && !(ctype == 1 && proto >= APP_HC_MESOS_HTTP))
        err_at(n, p,
               "IPv6 can only be used for container type DOCKER and Mesos http/https/tcp health "
               "checks");
    if (proto >= APP_HC_MESOS_HTTP)
        (*nmesos)++;
    if (proto != APP_HC_COMMAND) {
        if (has_port > 0 && has_index > 0) {
            err_at(n, p, "a health check may have either port or portIndex, not both");
            return NULL;
        }
        /* 1.10 adds portIndex 0 to a check with neither, when there are
         * ports: the check then addresses the first one. */
        if (has_port == 0 && has_index == 0 && nports > 0)
            has_index = 1;
        if (has_port == 0 && (has_index == 0 || index >= (double)nports)) {
            err_at(n, p, HC_PORT_MSG);
            return NULL;
        }
    }

    o = json_pack("{s:s}", "protocol", hc_protocols[proto]);
    if (proto == APP_HC_COMMAND)
        json_object_set_new(o, "command", json_pack("{s:s}", "value", value));
    if (hc_is_http(proto) && path != NULL)
        json_object_set_new(o, "path", json_string(path));
    if (proto != APP_HC_COMMAND) {
        if (has_port > 0)
            json_object_set_new(o, "port", json_integer((json_int_t)port));
        else
            json_object_set_new(o, "portIndex", json_integer((json_int_t)index));
    }
    json_object_set_new(o, "gracePeriodSeconds", json_integer((json_int_t)grace));
    json_object_set_new(o, "intervalSeconds", json_integer((json_int_t)interval));
    json_object_set_new(o, "timeoutSeconds", json_integer((json_int_t)timeout));
    json_object_set_new(o, "maxConsecutiveFailures", json_integer((json_int_t)maxf));
    json_object_set_new(o, "delaySeconds", json_integer((json_int_t)delay));
    if (proto == APP_HC_HTTP || proto == APP_HC_HTTPS)
        json_object_set_new(o, "ignoreHttp1xx", json_boolean(ign));
    json_object_set_new(o, "ipProtocol", json_string(ip_protocols[ipp]));
    return o;
}

static void norm_health_checks(struct norm *n, const json_t *in, json_t *out, size_t nports,
                               int ctype)
{
    bool bad = false;
    const json_t *hcs = get_array(n, in, "", "healthChecks", &bad);
    json_t *list;
    size_t nmesos = 0;

    if (hcs == NULL)
        return;
    list = json_array();
    for (size_t i = 0; i < json_array_size(hcs); i++) {
        const json_t *hc = json_array_get(hcs, i);
        char *p = pi("/healthChecks", i);
        json_t *o = NULL;
        if (!json_is_object(hc))
            err_at(n, p, "error.expected.jsobject");
        else
            o = health_check(n, hc, p, nports, ctype, &nmesos);
        if (o != NULL)
            json_array_append_new(list, o);
        free(p);
    }
    if (nmesos > 1)
        err_at(n, "/", "AppDefinition can contain at most one Mesos health check");
    if (json_array_size(list) > 0)
        json_object_set_new(out, "healthChecks", list);
    else
        json_decref(list);
}

/* ------------------------------------------------------------------ */
/* Scheduling: upgrade, backoff, kill selection, unreachable            */

static void norm_scheduling(struct norm *n, const json_t *in, json_t *out)
{
    bool bad = false;
    const json_t *us = get_object(n, in, "", "upgradeStrategy", &bad);
    const json_t *ur = field(in, "unreachableStrategy");
    double minh = 1, maxo = 1, bs = DEF_BACKOFF_SECONDS, bf = DEF_BACKOFF_FACTOR;
    double mld = DEF_MAX_LAUNCH_DELAY, kg = 0, inactive = 0, expunge = 0;
    static const char *const kills[] = { "YOUNGEST_FIRST", "OLDEST_FIRST" };
    int ks;

    get_num(n, us, "/upgradeStrategy", "minimumHealthCapacity", NUM_DOUBLE, 0, 1, &minh);
    get_num(n, us, "/upgradeStrategy", "maximumOverCapacity", NUM_DOUBLE, 0, 1, &maxo);
    json_object_set_new(
        out, "upgradeStrategy",
        json_pack("{s:f,s:f}", "minimumHealthCapacity", minh, "maximumOverCapacity", maxo));
    get_num(n, in, "", "backoffSeconds", NUM_INT32, 0, INFINITY, &bs);
    json_object_set_new(out, "backoffSeconds", json_integer((json_int_t)bs));
    get_num(n, in, "", "backoffFactor", NUM_DOUBLE, 1.0, INFINITY, &bf);
    json_object_set_new(out, "backoffFactor", json_real(bf));
    get_num(n, in, "", "maxLaunchDelaySeconds", NUM_INT32, 0, INFINITY, &mld);
    json_object_set_new(out, "maxLaunchDelaySeconds", json_integer((json_int_t)mld));
    ks = get_enum(n, in, "", "killSelection", kills, 2, 0);
    json_object_set_new(out, "killSelection", json_string(kills[ks < 0 ? 0 : ks]));
    if (get_num(n, in, "", "taskKillGracePeriodSeconds", NUM_INT32, 0, INFINITY, &kg) > 0)
        json_object_set_new(out, "taskKillGracePeriodSeconds", json_integer((json_int_t)kg));

    if (json_is_string(ur)) {
        if (strcasecmp(json_string_value(ur), "disabled") == 0)
            json_object_set_new(out, "unreachableStrategy", json_string("disabled"));
        else
            err_at(n, "/unreachableStrategy", "error.unknown.enum.literal");
        return;
    }
    if (ur != NULL && !json_is_object(ur)) {
        err_at(n, "/unreachableStrategy", "error.expected.jsobject");
        return;
    }
    bad = get_num(n, ur, "/unreachableStrategy", "inactiveAfterSeconds", NUM_INT64, 0, INFINITY,
                  &inactive) < 0;
    bad |= get_num(n, ur, "/unreachableStrategy", "expungeAfterSeconds", NUM_INT64, 0, INFINITY,
                   &expunge) < 0;
    if (!bad && inactive > expunge)
        errf_at(n, "/unreachableStrategy/inactiveAfterSeconds",
                "inactiveAfterSeconds (%.0f) must be less or equal to expungeAfterSeconds, "
                "which is %.0f",
                inactive, expunge);
    json_object_set_new(out, "unreachableStrategy",
                        json_pack("{s:I,s:I}", "inactiveAfterSeconds", (json_int_t)inactive,
                                  "expungeAfterSeconds", (json_int_t)expunge));
}

/* ------------------------------------------------------------------ */
/* Artifacts and dependencies                                           */

/* Mesos fetcher's rule for the deprecated "uris" (FetchUri.isExtract). */
static bool uri_extracts(const char *uri)
{
    static const char *const exts[] = { ".tgz", ".tar.gz", ".tbz2", ".tar.bz2",
                                        ".txz", ".tar.xz", ".zip" };
    size_t len = strlen(uri);

    for (size_t i = 0; i < NELEM(exts); i++) {
        size_t el = strlen(exts[i]);
        if (len >= el && strcmp(uri + len - el, exts[i]) == 0)
            return true;
    }
    return false;
}

static void norm_fetch(struct norm *n, const json_t *in, json_t *out)
{
    bool bad = false;
    const json_t *fetch = get_array(n, in, "", "fetch", &bad);
    json_t *uris = str_list(n, in, "uris");
    json_t *list = json_array();

    for (size_t i = 0; i < json_array_size(fetch); i++) {
        const json_t *a = json_array_get(fetch, i);
        char *p = pi("/fetch", i);
        bool abad = false, extract = true, exec = false, cache = false;
        const char *uri, *dest;

        if (!json_is_object(a)) {
            err_at(n, p, "error.expected.jsobject");
            free(p);
            continue;
        }
        uri = get_str(n, a, p, "uri", true, &abad);
        /* destPath in 1.10's raml; "outputFile" is the state field's name. */
        dest = get_str(n, a, p, field(a, "destPath") ? "destPath" : "outputFile", false, &abad);
        abad |= get_bool(n, a, p, "extract", &extract) < 0;
        abad |= get_bool(n, a, p, "executable", &exec) < 0;
        abad |= get_bool(n, a, p, "cache", &cache) < 0;
        if (uri != NULL && (uri[0] == '\0' || strlen(uri) > 1024)) {
            char *q = pj(p, "uri");
            err_at(n, q, uri[0] == '\0' ? "error.minLength" : "error.maxLength");
            free(q);
            abad = true;
        }
        if (dest != NULL && (dest[0] == '\0' || strlen(dest) > 1024)) {
            char *q = pj(p, "destPath");
            err_at(n, q, dest[0] == '\0' ? "error.minLength" : "error.maxLength");
            free(q);
            abad = true;
        }
        if (!abad) {
            json_t *o = json_pack("{s:s,s:b,s:b,s:b}", "uri", uri, "extract", extract, "executable",
                                  exec, "cache", cache);
            if (dest != NULL)
                json_object_set_new(o, "destPath", json_string(dest));
            json_array_append_new(list, o);
        }
        free(p);
    }
    if (json_array_size(uris) > 0 && json_array_size(fetch) > 0) {
        err_at(n, "/uris", "may not be set in conjunction with fetch");
    } else if (json_array_size(uris) > 0) {
        for (size_t i = 0; i < json_array_size(uris); i++) {
            const char *uri = json_string_value(json_array_get(uris, i));
            if (uri[0] == '\0') {
                char *p = pi("/uris", i);
                err_at(n, p, "error.minLength");
                free(p);
                continue;
            }
            json_array_append_new(list, json_pack("{s:s,s:b,s:b,s:b}", "uri", uri, "extract",
                                                  uri_extracts(uri), "executable", 0, "cache", 0));
        }
    }
    json_decref(uris);
    if (json_array_size(list) > 0)
        json_object_set_new(out, "fetch", list);
    else
        json_decref(list);
}

static void norm_dependencies(struct norm *n, const json_t *in, json_t *out)
{
    json_t *deps = str_list(n, in, "dependencies");
    const char *id = json_string_value(json_object_get(out, "id"));
    char *group = parent_of(id ? id : "/");
    json_t *list = json_array();

    for (size_t i = 0; i < json_array_size(deps); i++) {
        const char *reason = NULL;
        /* Relative dependencies name siblings: they resolve against the
         * app's group. */
        char *dep = resolve_id(group, json_string_value(json_array_get(deps, i)), false, &reason);
        if (dep == NULL) {
            char *p = pi("/dependencies", i);
            err_at(n, p, reason);
            free(p);
            continue;
        }
        json_array_append_new(list, json_string(dep));
        free(dep);
    }
    if (json_array_size(list) > 0)
        json_object_set_new(out, "dependencies", list);
    else
        json_decref(list);
    json_decref(deps);
    free(group);
}

/* What Pacer cannot run is refused, not stored and ignored. */
static void norm_unsupported(struct norm *n, const json_t *in)
{
    const json_t *v;
    bool bad = false;
    const char *exec;

    if ((v = field(in, "secrets")) != NULL) {
        if (!json_is_object(v))
            err_at(n, "/secrets", "error.expected.jsobject");
        else if (json_object_size(v) > 0)
            err_at(n, "/secrets", SECRETS_MSG);
    }
    if (field(in, "residency") != NULL)
        err_at(n, "/residency", "resident apps are not supported by Pacer");
    if ((v = get_array(n, in, "", "readinessChecks", &bad)) != NULL && json_array_size(v) > 0)
        err_at(n, "/readinessChecks", "readiness checks are not supported by Pacer");
    if (field(in, "ipAddress") != NULL)
        err_at(n, "/ipAddress", "ipAddress is not supported by Pacer: use networks");
    exec = get_str(n, in, "", "executor", false, &bad);
    if (exec != NULL && exec[0] != '\0' && strcmp(exec, "//cmd") != 0)
        err_at(n, "/executor", "custom executors are not supported by Pacer");
}

/* ------------------------------------------------------------------ */
/* app_normalize                                                        */

json_t *app_normalize(const json_t *in, const char *base, const char *id_hint, const char *version,
                      json_t **details)
{
    struct norm n = { json_array() };
    json_t *out = json_object(), *labels = NULL;
    const json_t *v;
    bool has_cmd = false, has_args = false, bad = false;
    double cpus = DEF_CPUS, mem = DEF_MEM, disk = 0, gpus = 0, instances = 1;
    size_t ncontainer = 0, nports;
    int mode, ctype;
    const char *user, *exec, *single;

    if (details != NULL)
        *details = NULL;
    if (!json_is_object(in)) {
        err_at(&n, "/", "error.expected.jsobject");
        goto out;
    }
    norm_id(&n, in, base, id_hint, out);
    norm_command(&n, in, out, &has_cmd, &has_args);
    user = get_str(&n, in, "", "user", false, &bad);
    if (user != NULL)
        json_object_set_new(out, "user", json_string(user));
    get_num(&n, in, "", "instances", NUM_INT32, 0, INFINITY, &instances);
    get_num(&n, in, "", "cpus", NUM_DOUBLE, 0.001, INFINITY, &cpus);
    get_num(&n, in, "", "mem", NUM_DOUBLE, 0, INFINITY, &mem);
    get_num(&n, in, "", "disk", NUM_DOUBLE, 0, INFINITY, &disk);
    get_num(&n, in, "", "gpus", NUM_INT32, 0, INFINITY, &gpus);
    json_object_set_new(out, "instances", json_integer((json_int_t)instances));
    json_object_set_new(out, "cpus", json_real(cpus));
    json_object_set_new(out, "mem", json_real(mem));
    json_object_set_new(out, "disk", json_real(disk));
    json_object_set_new(out, "gpus", json_integer((json_int_t)gpus));
    exec = json_string_value(field(in, "executor"));
    json_object_set_new(out, "executor", json_string(exec && !strcmp(exec, "//cmd") ? exec : ""));

    norm_env(&n, in, out);
    v = field(in, "labels");
    if (v != NULL)
        labels = str_map(&n, v, "/labels");
    /* labels is always written, {} at least: marathon-lb reads it bare. */
    json_object_set_new(out, "labels", labels ? labels : json_object());
    norm_constraints(&n, in, out);
    norm_roles(&n, in, out);

    mode = norm_networks(&n, in, out, &ncontainer);
    nports = norm_ports_container(&n, in, mode, ncontainer, out, &ctype);
    norm_health_checks(&n, in, out, nports, ctype);
    norm_dependencies(&n, in, out);
    norm_scheduling(&n, in, out);
    norm_fetch(&n, in, out);
    norm_unsupported(&n, in);

    /* A DOCKER container (with its image) or a MESOS one may stand in
     * for the command (containsCmdArgsOrContainer). */
    if (!((has_cmd != has_args) ||
          (!(has_cmd && has_args) && ctype >= 0 && field(in, "container") != NULL)))
        err_at(&n, "/", CMD_ARGS_MSG);
    if (gpus > 0) {
        if (ctype == 1)
            err_at(&n, "/", "GPU resources only work with the Mesos containerizer");
        err_at(&n, "/", GPU_MSG);
    }
    single =
        labels ? json_string_value(json_object_get(labels, "MARATHON_SINGLE_INSTANCE_APP")) : NULL;
    if (single != NULL && strcmp(single, "true") == 0 && instances > 1)
        err_at(&n, "/", "Single instance app may only have one instance");
    if (version != NULL)
        json_object_set_new(out, "version", json_string(version));

out:
    if (json_array_size(n.details) > 0) {
        json_decref(out);
        if (details != NULL)
            *details = n.details;
        else
            json_decref(n.details);
        return NULL;
    }
    json_decref(n.details);
    return out;
}

/* ------------------------------------------------------------------ */
/* The typed view                                                       */

static bool rd_fail(char **err, const char *what)
{
    if (err != NULL && *err == NULL)
        *err = xasprintf("app is not canonical: bad %s", what);
    return false;
}

/* Optional number o[k] (def when absent). */
static bool rd_num(const json_t *o, const char *k, double def, double *out, char **err)
{
    const json_t *v = json_object_get(o, k);

    if (v == NULL) {
        *out = def;
        return true;
    }
    if (!json_is_number(v))
        return rd_fail(err, k);
    *out = json_number_value(v);
    return true;
}

static bool rd_int(const json_t *o, const char *k, int def, int *out, char **err)
{
    double d;

    if (!rd_num(o, k, def, &d, err))
        return false;
    if (d != floor(d) || d > 2147483647.0 || d < -2147483648.0)
        return rd_fail(err, k);
    *out = (int)d;
    return true;
}

/* Optional string o[k]: a copy, or NULL when absent. */
static bool rd_str(const json_t *o, const char *k, char **out, char **err)
{
    const json_t *v = json_object_get(o, k);

    *out = NULL;
    if (v == NULL)
        return true;
    if (!json_is_string(v))
        return rd_fail(err, k);
    *out = xstrdup(json_string_value(v));
    return true;
}

/* A NULL-terminated copy of an array of strings (of member key of each
 * object element when key is given). */
static bool rd_strv(const json_t *a, const char *key, char ***out, size_t *n, char **err)
{
    size_t i, len = json_array_size(a);

    *out = xcalloc(len + 1, sizeof(char *));
    *n = 0;
    if (a != NULL && !json_is_array(a))
        return rd_fail(err, key ? key : "string list");
    for (i = 0; i < len; i++) {
        const json_t *s = json_array_get(a, i);
        if (key != NULL)
            s = json_object_get(s, key);
        if (!json_is_string(s))
            return rd_fail(err, key ? key : "string list");
        (*out)[(*n)++] = xstrdup(json_string_value(s));
    }
    return true;
}

static json_t *copy_or(const json_t *v, json_t *def)
{
    if (v == NULL)
        return def;
    json_decref(def);
    return json_deep_copy(v);
}

static bool rd_ports(const json_t *list, bool mappings, struct app_spec *s, char **err)
{
    size_t i, len = json_array_size(list);

    if (list != NULL && !json_is_array(list))
        return rd_fail(err, mappings ? "portMappings" : "portDefinitions");
    s->ports = xcalloc(len ? len : 1, sizeof(*s->ports));
    for (i = 0; i < len; i++) {
        const json_t *p = json_array_get(list, i);
        struct app_port *ap = &s->ports[s->nports++];
        char *proto = NULL;
        if (!json_is_object(p))
            return rd_fail(err, "port");
        if (mappings) {
            if (!rd_int(p, "containerPort", 0, &ap->container_port, err) ||
                !rd_int(p, "hostPort", -1, &ap->host_port, err) ||
                !rd_int(p, "servicePort", 0, &ap->service_port, err))
                return false;
        } else if (!rd_int(p, "port", 0, &ap->service_port, err)) {
            return false;
        }
        if (!rd_str(p, "name", &ap->name, err) || !rd_str(p, "protocol", &proto, err))
            return false;
        ap->protocol = proto ? proto : xstrdup("tcp");
    }
    return true;
}

static bool rd_health_checks(const json_t *list, struct app_spec *s, char **err)
{
    size_t i, len = json_array_size(list);

    if (list != NULL && !json_is_array(list))
        return rd_fail(err, "healthChecks");
    s->health_checks = xcalloc(len ? len : 1, sizeof(*s->health_checks));
    for (i = 0; i < len; i++) {
        const json_t *h = json_array_get(list, i);
        struct app_health_check *hc = &s->health_checks[s->nhealth_checks++];
        const json_t *ign = json_object_get(h, "ignoreHttp1xx");
        int proto = enum_find(json_string_value(json_object_get(h, "protocol")), hc_protocols,
                              NELEM(hc_protocols));
        char *value = NULL;

        hc->port_index = -1;
        if (!json_is_object(h) || proto < 0)
            return rd_fail(err, "healthChecks protocol");
        hc->protocol = (enum app_hc_protocol)proto;
        if (!rd_int(h, "portIndex", -1, &hc->port_index, err) ||
            !rd_int(h, "port", 0, &hc->port, err) ||
            !rd_num(h, "gracePeriodSeconds", DEF_HC_GRACE, &hc->grace_period, err) ||
            !rd_num(h, "intervalSeconds", DEF_HC_INTERVAL, &hc->interval, err) ||
            !rd_num(h, "timeoutSeconds", DEF_HC_TIMEOUT, &hc->timeout, err) ||
            !rd_int(h, "maxConsecutiveFailures", DEF_HC_MAX_FAILURES, &hc->max_failures, err) ||
            !rd_num(h, "delaySeconds", DEF_HC_DELAY, &hc->delay, err))
            return false;
        if (hc->port != 0)
            hc->port_index = -1;
        else if (hc->port_index < 0 && proto != APP_HC_COMMAND)
            hc->port_index = 0;
        hc->ignore_http1xx = json_is_true(ign);
        if (hc_is_http(proto)) {
            if (!rd_str(h, "path", &hc->path, err))
                return false;
            if (hc->path == NULL)
                hc->path = xstrdup("/");
        }
        if (proto == APP_HC_COMMAND) {
            if (!rd_str(json_object_get(h, "command"), "value", &value, err))
                return false;
            if (value == NULL)
                return rd_fail(err, "healthChecks command");
            hc->command = value;
        }
    }
    return true;
}

static bool rd_container(const json_t *ct, struct app_spec *s, char **err)
{
    const json_t *docker = json_object_get(ct, "docker"), *vols = json_object_get(ct, "volumes");
    const char *type = json_string_value(json_object_get(ct, "type"));
    size_t i, len = json_array_size(vols);

    if (!json_is_object(ct) || type == NULL)
        return rd_fail(err, "container");
    s->container = strcmp(type, "DOCKER") == 0 ? APP_CONTAINER_DOCKER : APP_CONTAINER_MESOS;
    if (docker != NULL) {
        if (!rd_str(docker, "image", &s->image, err))
            return false;
        s->force_pull = json_is_true(json_object_get(docker, "forcePullImage"));
        s->docker_parameters = copy_or(json_object_get(docker, "parameters"), s->docker_parameters);
    }
    s->volumes = xcalloc(len ? len : 1, sizeof(*s->volumes));
    for (i = 0; i < len; i++) {
        const json_t *v = json_array_get(vols, i);
        struct app_volume *av = &s->volumes[s->nvolumes++];
        const char *mode = json_string_value(json_object_get(v, "mode"));
        if (!rd_str(v, "containerPath", &av->container_path, err) ||
            !rd_str(v, "hostPath", &av->host_path, err))
            return false;
        if (av->container_path == NULL)
            return rd_fail(err, "volume");
        av->read_only = mode != NULL && strcmp(mode, "RO") == 0;
    }
    return true;
}

int app_spec_from_json(const json_t *canon, struct app_spec *out, char **err)
{
    struct app_spec *s = out;
    const json_t *v, *ct, *us, *ur;
    const char *mode, *ks;
    size_t nfetch;

    memset(s, 0, sizeof(*s));
    s->env = json_object();
    s->labels = json_object();
    s->constraints = json_array();
    s->docker_parameters = json_array();
    if (err != NULL)
        *err = NULL;
    if (!json_is_object(canon)) {
        rd_fail(err, "app");
        goto fail;
    }
    if (!rd_str(canon, "id", &s->id, err) || !rd_str(canon, "version", &s->version, err) ||
        !rd_str(canon, "cmd", &s->cmd, err) || !rd_str(canon, "user", &s->user, err))
        goto fail;
    if (s->id == NULL) {
        rd_fail(err, "id");
        goto fail;
    }
    if ((v = json_object_get(canon, "args")) != NULL && !rd_strv(v, NULL, &s->args, &s->nargs, err))
        goto fail;
    if (!rd_num(canon, "cpus", DEF_CPUS, &s->cpus, err) ||
        !rd_num(canon, "mem", DEF_MEM, &s->mem, err) || !rd_num(canon, "disk", 0, &s->disk, err) ||
        !rd_num(canon, "gpus", 0, &s->gpus, err) ||
        !rd_int(canon, "instances", 1, &s->instances, err))
        goto fail;
    s->env = copy_or(json_object_get(canon, "env"), s->env);
    s->labels = copy_or(json_object_get(canon, "labels"), s->labels);
    s->constraints = copy_or(json_object_get(canon, "constraints"), s->constraints);
    if (!json_is_object(s->env) || !json_is_object(s->labels) || !json_is_array(s->constraints)) {
        rd_fail(err, "env, labels or constraints");
        goto fail;
    }

    ct = json_object_get(canon, "container");
    if (ct != NULL && !rd_container(ct, s, err))
        goto fail;
    mode = json_string_value(
        json_object_get(json_array_get(json_object_get(canon, "networks"), 0), "mode"));
    s->network = mode == NULL || strcmp(mode, "host") == 0 ? APP_NET_HOST
                 : strcmp(mode, "container/bridge") == 0   ? APP_NET_BRIDGE
                                                           : APP_NET_CONTAINER;
    s->port_mappings = json_object_get(ct, "portMappings") != NULL;
    if (!rd_ports(s->port_mappings ? json_object_get(ct, "portMappings")
                                   : json_object_get(canon, "portDefinitions"),
                  s->port_mappings, s, err))
        goto fail;
    s->require_ports = json_is_true(json_object_get(canon, "requirePorts"));
    if (!rd_health_checks(json_object_get(canon, "healthChecks"), s, err))
        goto fail;

    us = json_object_get(canon, "upgradeStrategy");
    if (!rd_num(us, "minimumHealthCapacity", 1, &s->min_health_capacity, err) ||
        !rd_num(us, "maximumOverCapacity", 1, &s->max_over_capacity, err) ||
        !rd_num(canon, "backoffSeconds", DEF_BACKOFF_SECONDS, &s->backoff_seconds, err) ||
        !rd_num(canon, "backoffFactor", DEF_BACKOFF_FACTOR, &s->backoff_factor, err) ||
        !rd_num(canon, "maxLaunchDelaySeconds", DEF_MAX_LAUNCH_DELAY, &s->max_launch_delay, err) ||
        !rd_num(canon, "taskKillGracePeriodSeconds", 0, &s->kill_grace_period, err))
        goto fail;
    ks = json_string_value(json_object_get(canon, "killSelection"));
    s->kill_selection = ks != NULL && strcmp(ks, "OLDEST_FIRST") == 0 ? APP_KILL_OLDEST_FIRST
                                                                      : APP_KILL_YOUNGEST_FIRST;
    ur = json_object_get(canon, "unreachableStrategy");
    if (json_is_string(ur)) {
        s->unreachable_disabled = true;
    } else if (!rd_num(ur, "inactiveAfterSeconds", 0, &s->unreachable_inactive_after, err) ||
               !rd_num(ur, "expungeAfterSeconds", 0, &s->unreachable_expunge_after, err)) {
        goto fail;
    }

    if (!rd_strv(json_object_get(canon, "dependencies"), NULL, &s->dependencies, &s->ndependencies,
                 err))
        goto fail;
    if ((v = json_object_get(canon, "acceptedResourceRoles")) != NULL &&
        !rd_strv(v, NULL, &s->accepted_roles, &s->naccepted_roles, err))
        goto fail;
    if (!rd_strv(json_object_get(canon, "fetch"), "uri", &s->uris, &nfetch, err))
        goto fail;
    s->nuris = nfetch;
    return 0;

fail:
    app_spec_clear(s);
    return -1;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v != NULL && v[i] != NULL; i++)
        free(v[i]);
    free(v);
}

void app_spec_clear(struct app_spec *s)
{
    size_t i;

    if (s == NULL)
        return;
    free(s->id);
    free(s->version);
    free(s->cmd);
    strv_free(s->args);
    free(s->user);
    json_decref(s->env);
    json_decref(s->labels);
    json_decref(s->constraints);
    free(s->image);
    json_decref(s->docker_parameters);
    for (i = 0; i < s->nports; i++) {
        free(s->ports[i].name);
        free(s->ports[i].protocol);
    }
    free(s->ports);
    for (i = 0; i < s->nvolumes; i++) {
        free(s->volumes[i].container_path);
        free(s->volumes[i].host_path);
    }
    free(s->volumes);
    for (i = 0; i < s->nhealth_checks; i++) {
        free(s->health_checks[i].path);
        free(s->health_checks[i].command);
    }
    free(s->health_checks);
    strv_free(s->dependencies);
    strv_free(s->accepted_roles);
    strv_free(s->uris);
    memset(s, 0, sizeof(*s));
}

/* ------------------------------------------------------------------ */
/* Updates                                                              */

json_t *app_merge(const json_t *current, const json_t *patch)
{
    json_t *out = json_is_object(current) ? json_deep_copy(current) : json_object();
    const char *k;
    json_t *v;

    if (!json_is_object(patch))
        return out;
    json_object_foreach((json_t *)patch, k, v)
    {
        if (strcmp(k, "id") == 0 || strcmp(k, "version") == 0)
            continue;
        json_object_set_new(out, k, json_deep_copy(v));
    }
    /* A deprecated field in the patch replaces its canonical successor
     * in current, as 1.10's AppUpdate normalization does, rather than
     * clash with it ("cannot specify both ..."). The same for the two
     * forms of a command. */
    if (json_object_get(patch, "ports") != NULL &&
        json_object_get(patch, "portDefinitions") == NULL)
        json_object_del(out, "portDefinitions");
    if (json_object_get(patch, "uris") != NULL && json_object_get(patch, "fetch") == NULL)
        json_object_del(out, "fetch");
    if (json_object_get(patch, "cmd") != NULL && json_object_get(patch, "args") == NULL)
        json_object_del(out, "args");
    if (json_object_get(patch, "args") != NULL && json_object_get(patch, "cmd") == NULL)
        json_object_del(out, "cmd");
    v = json_object_get(json_object_get(patch, "container"), "docker");
    if (json_object_get(v, "network") != NULL && json_object_get(patch, "networks") == NULL)
        json_object_del(out, "networks");
    return out;
}

bool app_needs_restart(const json_t *a, const json_t *b)
{
    /* Keys a scale changes (and the bookkeeping a stored app may carry). */
    static const char *const scale_only[] = { "version", "instances", "versionInfo" };
    json_t *ca = json_is_object(a) ? json_deep_copy(a) : json_object();
    json_t *cb = json_is_object(b) ? json_deep_copy(b) : json_object();
    bool differ;

    for (size_t i = 0; i < NELEM(scale_only); i++) {
        json_object_del(ca, scale_only[i]);
        json_object_del(cb, scale_only[i]);
    }
    differ = !json_equal(ca, cb);
    json_decref(ca);
    json_decref(cb);
    return differ;
}
