/*
 * config: the HAProxy configuration for a set of Marathon apps — a pure
 * function of the JSON of GET /v2/apps?embed=apps.tasks and the options.
 *
 * One frontend and one backend per (app, port index) whose group is
 * served, named "<app id, '/' as '_'>_<service port>" as marathon-lb
 * names them, binding <bind>:<service port>. The service port is the
 * label HAPROXY_<i>_PORT when set, else portDefinitions[i].port (or the
 * container's portMappings[i].servicePort). The group is HAPROXY_<i>_GROUP,
 * else HAPROXY_GROUP, else "external" (comma lists allowed). The mode is
 * HAPROXY_<i>_MODE, else http when an HTTP health check watches that port
 * index, else tcp. A backend lists one server per TASK_RUNNING task that,
 * when the app has health checks, has results and all of them alive; its
 * address is ipAddresses[0].ipAddress when present, else host.
 *
 * Everything is sorted (frontends by service port, servers by address and
 * port) and two apps claiming one service port are resolved by app id, so
 * the text changes only when the routing does: the caller compares texts
 * to decide whether to reload.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "pacer_lb.h"

#define LBCFG_DEFAULT_GROUP "external"

struct fe {
    char *name;
    int port;
    const char *mode;
    char **servers; /* "server <name> <addr>:<port>" lines */
    size_t nservers;
};

struct fe_list {
    struct fe *v;
    size_t n, cap;
};

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_fe(const void *a, const void *b)
{
    const struct fe *x = a, *y = b;
    return (x->port > y->port) - (x->port < y->port);
}

static int cmp_app(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id"));
    return strcmp(x ? x : "", y ? y : "");
}

/* The label's string value, or NULL. */
static const char *label(const json_t *app, const char *key)
{
    return json_string_value(json_object_get(json_object_get(app, "labels"), key));
}

static const char *port_label(const json_t *app, size_t i, const char *what, char *buf,
                              size_t bufsz)
{
    snprintf(buf, bufsz, "HAPROXY_%zu_%s", i, what);
    return label(app, buf);
}

/* Does the comma list groups name the served group? */
static bool group_matches(const char *groups, const char *served)
{
    if (strcmp(served, "*") == 0)
        return true;
    const char *p = groups;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        size_t len = (size_t)(e - p);
        while (len > 0 && p[len - 1] == ' ')
            len--;
        if ((len == 1 && p[0] == '*') || (len == strlen(served) && strncmp(p, served, len) == 0))
            return true;
        p = e;
    }
    return false;
}

/* The container's port mappings (Marathon 1.5+ or the docker ones). */
static const json_t *port_mappings(const json_t *app)
{
    const json_t *c = json_object_get(app, "container");
    const json_t *pm = json_object_get(c, "portMappings");
    if (!json_is_array(pm) || json_array_size(pm) == 0)
        pm = json_object_get(json_object_get(c, "docker"), "portMappings");
    return json_is_array(pm) ? pm : NULL;
}

static size_t port_count(const json_t *app)
{
    const json_t *pd = json_object_get(app, "portDefinitions");
    if (json_is_array(pd) && json_array_size(pd) > 0)
        return json_array_size(pd);
    const json_t *pm = port_mappings(app);
    return pm ? json_array_size(pm) : 0;
}

/* 1..65535 from the label, else the app's service port i, else 0. */
static int service_port(const json_t *app, size_t i)
{
    char key[64];
    const char *l = port_label(app, i, "PORT", key, sizeof(key));
    if (l != NULL) {
        char *end;
        long v = strtol(l, &end, 10);
        if (end != l && *end == '\0' && v > 0 && v <= 65535)
            return (int)v;
    }
    const json_t *pd = json_object_get(app, "portDefinitions");
    json_int_t p = 0;
    if (json_is_array(pd) && json_array_size(pd) > 0)
        p = json_integer_value(json_object_get(json_array_get(pd, i), "port"));
    else if (port_mappings(app) != NULL)
        p = json_integer_value(
            json_object_get(json_array_get(port_mappings(app), i), "servicePort"));
    return p > 0 && p <= 65535 ? (int)p : 0;
}

static const char *port_mode(const json_t *app, size_t i)
{
    char key[64];
    const char *l = port_label(app, i, "MODE", key, sizeof(key));
    if (l != NULL && (strcmp(l, "http") == 0 || strcmp(l, "tcp") == 0))
        return l;
    const json_t *hcs = json_object_get(app, "healthChecks");
    size_t k;
    const json_t *hc;
    json_array_foreach(hcs, k, hc)
    {
        const char *proto = json_string_value(json_object_get(hc, "protocol"));
        json_int_t idx = json_integer_value(json_object_get(hc, "portIndex"));
        if (proto != NULL && (strcmp(proto, "HTTP") == 0 || strcmp(proto, "MESOS_HTTP") == 0) &&
            (size_t)idx == i)
            return "http";
    }
    return "tcp";
}

static bool task_routable(const json_t *app, const json_t *task)
{
    const char *state = json_string_value(json_object_get(task, "state"));
    if (state == NULL || strcmp(state, "TASK_RUNNING") != 0)
        return false;
    const json_t *hcs = json_object_get(app, "healthChecks");
    if (!json_is_array(hcs) || json_array_size(hcs) == 0)
        return true;
    const json_t *res = json_object_get(task, "healthCheckResults");
    if (!json_is_array(res) || json_array_size(res) == 0)
        return false;
    size_t k;
    const json_t *r;
    json_array_foreach(res, k, r)
    {
        if (!json_is_true(json_object_get(r, "alive")))
            return false;
    }
    return true;
}

/* ipAddresses[0].ipAddress, else host; NULL when neither. */
static const char *task_address(const json_t *task)
{
    const char *ip = json_string_value(
        json_object_get(json_array_get(json_object_get(task, "ipAddresses"), 0), "ipAddress"));
    if (ip != NULL && *ip)
        return ip;
    const char *host = json_string_value(json_object_get(task, "host"));
    return host != NULL && *host ? host : NULL;
}

/* HAProxy names: letters, digits, '_', '-', '.'; the rest becomes '_'. */
static char *safe_name(const char *s)
{
    while (*s == '/')
        s++;
    char *out = xstrdup(s);
    for (char *p = out; *p; p++) {
        if (!isalnum((unsigned char)*p) && *p != '-' && *p != '.' && *p != '_')
            *p = '_';
    }
    return out;
}

/* A token safe to paste into the config (no blanks, quotes, '#'). */
static bool safe_token(const char *s)
{
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && !strchr(".-_:", *s))
            return false;
    }
    return true;
}

static void add_servers(struct fe *fe, const json_t *app, size_t i)
{
    const json_t *tasks = json_object_get(app, "tasks");
    size_t k;
    const json_t *t;
    json_array_foreach(tasks, k, t)
    {
        if (!task_routable(app, t))
            continue;
        const char *addr = task_address(t);
        json_int_t port = json_integer_value(json_array_get(json_object_get(t, "ports"), i));
        if (addr == NULL || !safe_token(addr) || port <= 0 || port > 65535)
            continue;
        bool v6 = strchr(addr, ':') != NULL;
        char *sname = safe_name(addr);
        fe->servers = xrealloc(fe->servers, (fe->nservers + 1) * sizeof(char *));
        fe->servers[fe->nservers++] = xasprintf("    server %s_%d %s%s%s:%d\n", sname, (int)port,
                                                v6 ? "[" : "", addr, v6 ? "]" : "", (int)port);
        free(sname);
    }
    if (fe->nservers > 1)
        qsort(fe->servers, fe->nservers, sizeof(char *), cmp_str);
    /* The same address and port twice (two records of one task) is one. */
    size_t w = 0;
    for (size_t r = 0; r < fe->nservers; r++) {
        if (w > 0 && strcmp(fe->servers[w - 1], fe->servers[r]) == 0)
            free(fe->servers[r]);
        else
            fe->servers[w++] = fe->servers[r];
    }
    fe->nservers = w;
}

static bool port_taken(const struct fe_list *l, int port)
{
    for (size_t k = 0; k < l->n; k++) {
        if (l->v[k].port == port)
            return true;
    }
    return false;
}

static void add_app(struct fe_list *l, const json_t *app, const struct lbcfg_opts *o,
                    struct lbcfg_stats *st)
{
    const char *id = json_string_value(json_object_get(app, "id"));
    if (id == NULL)
        return;
    size_t n = port_count(app);
    for (size_t i = 0; i < n; i++) {
        char key[64];
        const char *groups = port_label(app, i, "GROUP", key, sizeof(key));
        if (groups == NULL)
            groups = label(app, "HAPROXY_GROUP");
        if (groups == NULL)
            groups = LBCFG_DEFAULT_GROUP;
        if (!group_matches(groups, o->group))
            continue;
        int port = service_port(app, i);
        if (port == 0 || port_taken(l, port)) {
            st->skipped++;
            continue;
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 8;
            l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        struct fe *fe = &l->v[l->n++];
        char *sid = safe_name(id);
        *fe = (struct fe){ .name = xasprintf("%s_%d", sid, port),
                           .port = port,
                           .mode = port_mode(app, i) };
        free(sid);
        add_servers(fe, app, i);
    }
}

char *lbcfg_render(const json_t *doc, const struct lbcfg_opts *o, struct lbcfg_stats *stats,
                   char **err)
{
    const json_t *apps = json_object_get(doc, "apps");
    struct lbcfg_stats st = { 0 };
    struct fe_list l = { 0 };
    char *text = NULL;
    size_t len = 0;

    if (!json_is_array(apps)) {
        *err = xstrdup("the answer has no \"apps\" array");
        return NULL;
    }
    /* Sorted by id, so the first app to claim a service port is stable. */
    size_t napps = json_array_size(apps);
    json_t **sorted = xcalloc(napps ? napps : 1, sizeof(json_t *));
    for (size_t k = 0; k < napps; k++)
        sorted[k] = json_array_get(apps, k);
    if (napps > 1)
        qsort(sorted, napps, sizeof(json_t *), cmp_app);
    for (size_t k = 0; k < napps; k++)
        add_app(&l, sorted[k], o, &st);
    free(sorted);
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), cmp_fe);

    FILE *f = open_memstream(&text, &len);
    if (f == NULL)
        abort();
    fprintf(f,
            "# Written by agora-pacer-lb from Marathon's /v2/apps; do not edit.\n"
            "global\n"
            "    maxconn %d\n"
            "    hard-stop-after 30s\n",
            o->maxconn);
    if (o->stats_socket != NULL)
        fprintf(f, "    stats socket %s mode 600 level admin expose-fd listeners\n",
                o->stats_socket);
    if (o->state_file != NULL)
        fprintf(f, "    server-state-file %s\n", o->state_file);
    fprintf(f, "\n"
               "defaults\n"
               "    mode tcp\n"
               "    option redispatch 1\n"
               "    retries 3\n"
               "    timeout connect 5s\n"
               "    timeout client 60s\n"
               "    timeout server 60s\n"
               "    timeout queue 30s\n");
    if (o->state_file != NULL)
        fputs("    load-server-state-from-file global\n", f);
    for (size_t k = 0; k < l.n; k++) {
        struct fe *fe = &l.v[k];
        fprintf(f,
                "\nfrontend %s\n"
                "    bind %s:%d\n"
                "    mode %s\n"
                "%s"
                "    default_backend %s\n"
                "\nbackend %s\n"
                "    mode %s\n"
                "    balance roundrobin\n",
                fe->name, o->bind, fe->port, fe->mode,
                /* keep-alive clients are told to close during a reload */
                strcmp(fe->mode, "http") == 0 ? "    option idle-close-on-response\n" : "",
                fe->name, fe->name, fe->mode);
        for (size_t s = 0; s < fe->nservers; s++) {
            fputs(fe->servers[s], f);
            free(fe->servers[s]);
        }
        st.servers += (unsigned)fe->nservers;
        free(fe->servers);
        free(fe->name);
    }
    st.frontends = (unsigned)l.n;
    free(l.v);
    fclose(f);
    if (stats != NULL)
        *stats = st;
    return text;
}
