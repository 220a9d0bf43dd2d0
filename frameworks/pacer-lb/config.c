/*
 * config: the HAProxy configuration for a set of Marathon apps — a pure
 * function of the JSON of GET /v2/apps?embed=apps.tasks and the options.
 *
 * One frontend and one backend per (app, port index) whose group is
 * served, named "<app id, '/' as '_'>_<service port>" as marathon-lb
 * names them, binding <bind>:<service port>. A backend lists one server
 * per TASK_RUNNING task that, when the app has health checks, has results
 * and all of them alive; its address is ipAddresses[0].ipAddress when
 * present, else host.
 *
 * marathon-lb's labels, per port index i (docs/pacer-lb.md has the table):
 *   HAPROXY_GROUP, HAPROXY_<i>_GROUP  served groups (comma list; default
 *                                     "external")
 *   HAPROXY_<i>_ENABLED    false: port i is not served
 *   HAPROXY_<i>_PORT       the frontend's port instead of the service port
 *   HAPROXY_<i>_BIND_ADDR  the frontend's address instead of opts->bind
 *   HAPROXY_<i>_MODE       http or tcp (default http when an HTTP health
 *                          check watches port i, or VHOST/PATH is set)
 *   HAPROXY_<i>_BALANCE    a dynamic algorithm (the runtime API's "add
 *                          server" needs one): roundrobin, leastconn,
 *                          first, random, source, uri
 *   HAPROXY_<i>_VHOST      host names (comma list, "*.domain" allowed)
 *                          routed on the shared HTTP frontend
 *                          (opts->http_port) by the Host header
 *   HAPROXY_<i>_PATH       path prefixes (space list) routed there too,
 *                          within the VHOST hosts or on any host
 *   HAPROXY_<i>_STICKY     true: an inserted cookie pins a client to a
 *                          server. HAProxy 2.6 refuses "cookie" on servers
 *                          added at run time, so sticky servers carry a
 *                          cookie in the file and their membership changes
 *                          by reload (diff.c sees "cookie" lines as
 *                          structure).
 * A label with a bad value leaves that app port out, with the reason,
 * instead of letting HAProxy refuse the whole file; so does a service port
 * another app (first by id) or the HTTP frontend already holds, and a
 * backend the caller holds out (opts->exclude: HAProxy refused it).
 *
 * Everything is sorted (frontends by service port, servers by address and
 * port, apps by id), so the text changes only when the routing does: the
 * caller compares texts to decide whether to reload.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"
#include "pacer_lb.h"

#define LBCFG_DEFAULT_GROUP "external"
#define LBCFG_HTTP_FRONTEND "marathon_http_in"
#define LBCFG_HTTPS_FRONTEND "marathon_https_in"

struct fe {
    char *name;
    const char *app_id; /* borrowed from the document */
    int port;
    size_t port_index;   /* i of HAPROXY_<i>_... */
    const char *mode;    /* "http" or "tcp" */
    char *bind;          /* address, IPv6 in brackets */
    const char *balance; /* a dynamic algorithm */
    bool hashed;         /* the algorithm hashes: "hash-type consistent" */
    bool sticky;         /* HAPROXY_<i>_STICKY: cookies, changed by reload */
    char **vhosts;       /* HAPROXY_<i>_VHOST */
    size_t nvhosts;
    char *paths;         /* HAPROXY_<i>_PATH, space separated; NULL: none */
    char *ssl_cert;      /* {sslCert}: " ssl crt <path>..." or "" */
    bool redirect_https; /* HAPROXY_<i>_REDIRECT_TO_HTTPS: plain HTTP answers 301 */
    char *bind_options;  /* {bindOptions}: " <HAPROXY_<i>_BIND_OPTIONS>" or "" */
    /* HAPROXY_<i>_<template> labels (borrowed; NULL: the operator's or the
     * default), checked when the port was added. */
    const char *tmpl[LBTMPL_COUNT];
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

/* The app's own service port i (portDefinitions, else the container's
 * port mappings), 0 when it has none. */
static int app_service_port(const json_t *app, size_t i)
{
    const json_t *pd = json_object_get(app, "portDefinitions");
    json_int_t p = 0;
    if (json_is_array(pd) && json_array_size(pd) > 0)
        p = json_integer_value(json_object_get(json_array_get(pd, i), "port"));
    else if (port_mappings(app) != NULL)
        p = json_integer_value(
            json_object_get(json_array_get(port_mappings(app), i), "servicePort"));
    return p > 0 && p <= 65535 ? (int)p : 0;
}

/* The frontend's port: HAPROXY_<i>_PORT, else the service port i. 0 when
 * there is none, and then *why (caller frees) says so if the label is bad. */
static int service_port(const json_t *app, size_t i, char **why)
{
    char key[64];
    const char *l = port_label(app, i, "PORT", key, sizeof(key));
    if (l == NULL)
        return app_service_port(app, i);
    char *end;
    long v = strtol(l, &end, 10);
    if (end != l && *end == '\0' && v > 0 && v <= 65535)
        return (int)v;
    if (why != NULL)
        *why = xasprintf("%s '%s' is not a port (1-65535)", key, l);
    return 0;
}

/* The mode without a label: http when an HTTP health check watches port
 * i, else tcp. */
static const char *port_mode(const json_t *app, size_t i)
{
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

/* Defined below. */
static bool safe_path(const char *s);

char *lbcfg_ssl_crt(const char *list, char **bad)
{
    char *copy = xstrdup(list), *save = NULL, *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        abort();
    fputs(" ssl", f);
    for (char *c = strtok_r(copy, ",", &save); c != NULL; c = strtok_r(NULL, ",", &save)) {
        while (*c == ' ')
            c++;
        char *end = c + strlen(c);
        while (end > c && end[-1] == ' ')
            *--end = '\0';
        if (*c != '/' || !safe_path(c)) {
            *bad = xstrdup(c);
            fclose(f);
            free(out);
            free(copy);
            return NULL;
        }
        fprintf(f, " crt %s", c);
    }
    fclose(f);
    free(copy);
    if (len == strlen(" ssl")) { /* no file at all */
        free(out);
        *bad = xstrdup(list);
        return NULL;
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

/* A file path safe to paste (no blanks, quotes, '#', braces). */
static bool safe_path(const char *s)
{
    for (; *s; s++) {
        if (!isalnum((unsigned char)*s) && !strchr("./-_:+@=", *s))
            return false;
    }
    return true;
}

/* Words safe to paste on one line: printable, no '#', quotes or braces. */
static bool safe_words(const char *s)
{
    for (; *s; s++) {
        if (!isprint((unsigned char)*s) || strchr("#\"'{}\\", *s))
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
        /* A sticky server's cookie is its name: stable across reloads. */
        fe->servers[fe->nservers++] =
            fe->sticky ? xasprintf("    server %s_%d %s%s%s:%d cookie %s_%d\n", sname, (int)port,
                                   v6 ? "[" : "", addr, v6 ? "]" : "", (int)port, sname, (int)port)
                       : xasprintf("    server %s_%d %s%s%s:%d\n", sname, (int)port, v6 ? "[" : "",
                                   addr, v6 ? "]" : "", (int)port);
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

static const struct fe *port_holder(const struct fe_list *l, int port)
{
    for (size_t k = 0; k < l->n; k++) {
        if (l->v[k].port == port)
            return &l->v[k];
    }
    return NULL;
}

/* Balance algorithms a backend can use and still take servers at run
 * time: "add server" needs a dynamic one, so static-rr is refused. */
static const struct balance {
    const char *name;
    bool hashed;     /* needs "hash-type consistent" to be dynamic */
    bool needs_http; /* hashes an HTTP request */
} balances[] = {
    { "roundrobin", false, false }, { "leastconn", false, false }, { "first", false, false },
    { "random", false, false },     { "source", true, false },     { "uri", true, true },
};

/* 1 true, 0 false, -1 neither (marathon-lb's spellings, any case). */
static int label_bool(const char *v)
{
    static const char *const yes[] = { "true", "yes", "t", "1", "on" };
    static const char *const no[] = { "false", "no", "f", "0", "off" };
    for (size_t k = 0; k < sizeof(yes) / sizeof(yes[0]); k++) {
        if (strcasecmp(v, yes[k]) == 0)
            return 1;
        if (strcasecmp(v, no[k]) == 0)
            return 0;
    }
    return -1;
}

/* Report app port i (backend name, NULL when it has none) as left out
 * for why (taken). */
static void exclude(const struct lbcfg_opts *o, struct lbcfg_stats *st, const char *id, size_t i,
                    const char *name, char *why)
{
    st->excluded++;
    if (o->excluded_out != NULL)
        json_array_append_new(o->excluded_out,
                              json_pack("{s:s,s:i,s:s?,s:s}", "app", id, "port_index", (int)i,
                                        "backend", name, "reason", why));
    free(why);
}

/* A host name: letters, digits, '-', '.', and "*." only as its start. */
static bool host_name(const char *h)
{
    if (strncmp(h, "*.", 2) == 0)
        h += 2;
    if (*h == '\0' || *h == '.')
        return false;
    for (; *h; h++) {
        if (!isalnum((unsigned char)*h) && *h != '-' && *h != '.')
            return false;
    }
    return true;
}

/* Split the comma list v (blanks around names allowed) into fe->vhosts;
 * the first bad name (caller frees), or NULL. */
static char *split_vhosts(const char *v, struct fe *fe)
{
    char *copy = xstrdup(v), *save = NULL, *bad = NULL;
    for (char *h = strtok_r(copy, ",", &save); h != NULL; h = strtok_r(NULL, ",", &save)) {
        h += strspn(h, " \t");
        size_t n = strlen(h);
        while (n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'))
            h[--n] = '\0';
        if (!host_name(h)) {
            bad = xstrdup(h);
            break;
        }
        fe->vhosts = xrealloc(fe->vhosts, (fe->nvhosts + 1) * sizeof(char *));
        fe->vhosts[fe->nvhosts++] = xstrdup(h);
    }
    free(copy);
    if (bad == NULL && fe->nvhosts == 0)
        bad = xstrdup(v);
    return bad;
}

/* The space list v as fe->paths: each starting with '/', with no blank,
 * brace, quote, '#' or '\'. false when one is not. */
static bool set_paths(const char *v, struct fe *fe)
{
    size_t len = 0;
    char *out = xmalloc(strlen(v) + 1), *copy = xstrdup(v), *save = NULL;
    for (char *p = strtok_r(copy, " \t", &save); p != NULL; p = strtok_r(NULL, " \t", &save)) {
        if (p[0] != '/' || strpbrk(p, "{}\"'#\\") != NULL)
            goto bad;
        for (const char *c = p; *c; c++) {
            if (!isgraph((unsigned char)*c))
                goto bad;
        }
        if (len > 0)
            out[len++] = ' ';
        memcpy(out + len, p, strlen(p));
        len += strlen(p);
    }
    free(copy);
    out[len] = '\0';
    if (len == 0) {
        free(out);
        return false;
    }
    fe->paths = out;
    return true;
bad:
    free(copy);
    free(out);
    return false;
}

static void fe_cleanup(struct fe *fe)
{
    for (size_t s = 0; s < fe->nservers; s++)
        free(fe->servers[s]);
    free(fe->servers);
    for (size_t k = 0; k < fe->nvhosts; k++)
        free(fe->vhosts[k]);
    free(fe->vhosts);
    free(fe->paths);
    free(fe->ssl_cert);
    free(fe->bind_options);
    free(fe->bind);
    free(fe->name);
}

const char *lbcfg_app_version(const json_t *app)
{
    const char *v = json_string_value(
        json_object_get(json_object_get(app, "versionInfo"), "lastConfigChangeAt"));
    return v != NULL ? v : json_string_value(json_object_get(app, "version"));
}

/* Why o->exclude holds backend name of app out (caller frees): while the
 * app keeps the configuration HAProxy refused; NULL otherwise. */
static char *excluded_by(const struct lbcfg_opts *o, const char *name, const json_t *app)
{
    const json_t *e = o->exclude != NULL ? json_object_get(o->exclude, name) : NULL;
    if (e == NULL)
        return NULL;
    const char *v = json_string_value(json_object_get(e, "version"));
    const char *av = lbcfg_app_version(app);
    if (v != NULL && av != NULL && strcmp(v, av) != 0)
        return NULL;
    const char *why = json_string_value(json_object_get(e, "reason"));
    return xstrdup(why != NULL ? why : "refused by haproxy");
}

char *lbcfg_backend_name(const json_t *app, size_t i)
{
    const char *id = json_string_value(json_object_get(app, "id"));
    int port = service_port(app, i, NULL);
    if (id == NULL || port == 0)
        return NULL;
    char *sid = safe_name(id);
    char *name = xasprintf("%s_%d", sid, port);
    free(sid);
    return name;
}

const json_t *lbcfg_find_backend(const json_t *doc, const char *backend)
{
    size_t k;
    const json_t *app;
    json_array_foreach(json_object_get(doc, "apps"), k, app)
    {
        for (size_t i = 0; i < port_count(app); i++) {
            char *n = lbcfg_backend_name(app, i);
            bool same = n != NULL && strcmp(n, backend) == 0;
            free(n);
            if (same)
                return app;
        }
    }
    return NULL;
}

/* Fill fe's labelled settings from app port i; NULL, or why the port
 * cannot be served (caller frees). */
static char *port_settings(const json_t *app, size_t i, const struct lbcfg_opts *o, struct fe *fe)
{
    char key[64];
    const char *v = port_label(app, i, "BIND_ADDR", key, sizeof(key));
    if (v != NULL && (*v == '\0' || !safe_token(v)))
        return xasprintf("%s '%s' is not an address", key, v);
    if (v == NULL)
        v = o->bind;
    /* IPv6 in brackets, so the port after it is not read as its part. */
    fe->bind = strchr(v, ':') != NULL ? xasprintf("[%s]", v) : xstrdup(v);

    fe->mode = port_mode(app, i);
    bool mode_label = false;
    v = port_label(app, i, "MODE", key, sizeof(key));
    if (v != NULL) {
        if (strcasecmp(v, "http") != 0 && strcasecmp(v, "tcp") != 0)
            return xasprintf("%s '%s' is not http or tcp", key, v);
        fe->mode = strcasecmp(v, "http") == 0 ? "http" : "tcp";
        mode_label = true;
    }

    v = port_label(app, i, "VHOST", key, sizeof(key));
    if (v != NULL && *v) {
        char *bad = split_vhosts(v, fe);
        if (bad != NULL) {
            char *why = xasprintf("%s '%s': '%s' is not a host name", key, v, bad);
            free(bad);
            return why;
        }
    }
    v = port_label(app, i, "PATH", key, sizeof(key));
    if (v != NULL && !set_paths(v, fe))
        return xasprintf("%s '%s' is not a list of paths starting with '/'", key, v);
    if (fe->nvhosts > 0 || fe->paths != NULL) {
        if (mode_label && strcmp(fe->mode, "http") != 0)
            return xasprintf("HAPROXY_%zu_VHOST and HAPROXY_%zu_PATH need HAPROXY_%zu_MODE http, "
                             "not tcp",
                             i, i, i);
        fe->mode = "http";
    }

    fe->balance = "roundrobin";
    v = port_label(app, i, "BALANCE", key, sizeof(key));
    if (v != NULL) {
        size_t k = 0, n = sizeof(balances) / sizeof(balances[0]);
        while (k < n && strcmp(v, balances[k].name) != 0)
            k++;
        if (k == n)
            return xasprintf("%s '%s' is not one of roundrobin, leastconn, first, random, "
                             "source, uri (HAProxy 2.6 adds servers at run time only to a "
                             "dynamic algorithm)",
                             key, v);
        if (balances[k].needs_http && strcmp(fe->mode, "http") != 0)
            return xasprintf("%s '%s' needs HAPROXY_%zu_MODE http", key, v, i);
        fe->balance = balances[k].name;
        fe->hashed = balances[k].hashed;
    }

    /* marathon-lb's: certificates (comma list of files) and bind options
     * pasted into the frontend's bind line; HAProxy checks what they say. */
    v = port_label(app, i, "SSL_CERT", key, sizeof(key));
    if (v != NULL && *v) {
        char *bad = NULL;
        fe->ssl_cert = lbcfg_ssl_crt(v, &bad);
        if (fe->ssl_cert == NULL) {
            char *why = xasprintf("%s '%s': '%s' is not an absolute file path", key, v, bad);
            free(bad);
            return why;
        }
    }
    v = port_label(app, i, "REDIRECT_TO_HTTPS", key, sizeof(key));
    int redirect = v != NULL ? label_bool(v) : 0;
    if (redirect == 1) {
        if (fe->nvhosts == 0)
            return xasprintf("%s needs HAPROXY_%zu_VHOST (the redirect is by Host header)", key, i);
        if (o->https_crt == NULL || o->https_port <= 0)
            return xasprintf("%s needs pacer-lb's --ssl_certs (no HTTPS frontend)", key);
        fe->redirect_https = true;
    } else if (redirect < 0) {
        return xasprintf("%s '%s' is not true or false", key, v);
    }
    v = port_label(app, i, "BIND_OPTIONS", key, sizeof(key));
    if (v != NULL && *v) {
        if (!safe_words(v))
            return xasprintf("%s '%s' holds a character that is not allowed there (a line "
                             "break, '#', a quote or a brace)",
                             key, v);
        fe->bind_options = xasprintf(" %s", v);
    }
    for (int t = 0; t < LBTMPL_COUNT; t++) {
        if (lbtmpl_per_app((enum lbtmpl_id)t)) {
            char tkey[80];
            snprintf(tkey, sizeof(tkey), "HAPROXY_%zu_%s", i, lbtmpl_name((enum lbtmpl_id)t));
            fe->tmpl[t] = label(app, tkey);
        }
    }

    v = port_label(app, i, "STICKY", key, sizeof(key));
    if (v != NULL) {
        int b = label_bool(v);
        if (b < 0)
            return xasprintf("%s '%s' is not true or false", key, v);
        if (b && strcmp(fe->mode, "http") != 0)
            return xasprintf("%s needs HAPROXY_%zu_MODE http (the stickiness is a cookie)", key, i);
        fe->sticky = b == 1;
    }
    return NULL;
}

/* One template of fe's into f: the app's label, else the operator's or
 * the default. -1 and *err (naming the label) when the label's text is
 * refused. */
static int fe_template(FILE *f, const struct fe *fe, size_t i, const struct lbcfg_opts *o,
                       enum lbtmpl_id id, const char *own, char **err)
{
    char port[16];
    snprintf(port, sizeof(port), "%d", fe->port);
    const struct lbtmpl_var vars[] = {
        { "backend", fe->name },
        { "servicePort", port },
        { "bindAddr", fe->bind },
        { "mode", fe->mode },
        { "balance", fe->balance },
        { "appId", fe->app_id },
        { "sslCert", fe->ssl_cert != NULL ? fe->ssl_cert : "" },
        { "bindOptions", fe->bind_options != NULL ? fe->bind_options : "" },
    };
    /* Only the frontend's head has the bind line's variables. */
    size_t n = id == LBTMPL_FRONTEND_HEAD ? 8 : 6;
    if (fe->tmpl[id] == NULL)
        return lbtmpl_expand(f, lbtmpl_get(o->templates, id), vars, n, NULL, err);
    char *e = NULL;
    if (lbtmpl_expand(f, fe->tmpl[id], vars, n, own, &e) == 0)
        return 0;
    *err = xasprintf("HAPROXY_%zu_%s: %s", i, lbtmpl_name(id), e);
    free(e);
    return -1;
}

/* fe's frontend and backend, all but the servers. -1 and *err when one of
 * the app's templates is refused (nothing usable written then). */
static int fe_sections(FILE *f, const struct fe *fe, const struct lbcfg_opts *o, char **err)
{
    size_t i = fe->port_index;
    char *own_fe = xasprintf("frontend %s", fe->name), *own_be = xasprintf("backend %s", fe->name);
    int rc = fe_template(f, fe, i, o, LBTMPL_FRONTEND_HEAD, own_fe, err);
    /* keep-alive clients are told to close during a reload */
    if (rc == 0 && strcmp(fe->mode, "http") == 0)
        fputs("    option idle-close-on-response\n", f);
    if (rc == 0)
        rc = fe_template(f, fe, i, o, LBTMPL_FRONTEND_BACKEND_GLUE, "", err);
    if (rc == 0)
        rc = fe_template(f, fe, i, o, LBTMPL_BACKEND_HEAD, own_be, err);
    if (rc == 0 && fe->hashed)
        fputs("    hash-type consistent\n", f);
    if (rc == 0 && fe->sticky)
        rc = fe_template(f, fe, i, o, LBTMPL_BACKEND_STICKY_OPTIONS, "", err);
    /* Per backend rather than in defaults: HAPROXY_HEAD may be replaced. */
    if (rc == 0 && o->state_file != NULL)
        fputs("    load-server-state-from-file global\n", f);
    free(own_fe);
    free(own_be);
    return rc;
}

/* Are fe's label templates usable? NULL, or why not (caller frees). */
static char *fe_templates_refused(const struct fe *fe, const struct lbcfg_opts *o)
{
    bool any = false;
    for (int t = 0; t < LBTMPL_COUNT; t++)
        any |= fe->tmpl[t] != NULL;
    if (!any)
        return NULL;
    char *out = NULL, *err = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (f == NULL)
        abort();
    fe_sections(f, fe, o, &err);
    fclose(f);
    free(out);
    return err;
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
        const char *enabled = port_label(app, i, "ENABLED", key, sizeof(key));
        if (enabled != NULL && label_bool(enabled) < 0) {
            exclude(o, st, id, i, NULL, xasprintf("%s '%s' is not true or false", key, enabled));
            continue;
        }
        if (enabled != NULL && label_bool(enabled) == 0)
            continue;
        char *why = NULL;
        int port = service_port(app, i, &why);
        if (port == 0) {
            if (why != NULL)
                exclude(o, st, id, i, NULL, why);
            else
                st->skipped++;
            continue;
        }
        char *sid = safe_name(id);
        char *name = xasprintf("%s_%d", sid, port);
        free(sid);
        const struct fe *holder = port_holder(l, port);
        if (holder != NULL) {
            exclude(o, st, id, i, name,
                    xasprintf("service port %d is already served by %s (backend %s)", port,
                              holder->app_id, holder->name));
            free(name);
            continue;
        }
        if (o->http_port > 0 && port == o->http_port) {
            exclude(o, st, id, i, name,
                    xasprintf("service port %d is the HTTP frontend's (--http_port)", port));
            free(name);
            continue;
        }
        if (o->https_crt != NULL && o->https_port > 0 && port == o->https_port) {
            exclude(o, st, id, i, name,
                    xasprintf("service port %d is the HTTPS frontend's (--https_port)", port));
            free(name);
            continue;
        }
        if (l->n == l->cap) {
            l->cap = l->cap ? 2 * l->cap : 8;
            l->v = xrealloc(l->v, l->cap * sizeof(*l->v));
        }
        struct fe *fe = &l->v[l->n];
        *fe = (struct fe){ .name = name, .app_id = id, .port = port, .port_index = i };
        why = port_settings(app, i, o, fe);
        if (why == NULL)
            why = fe_templates_refused(fe, o);
        if (why == NULL)
            why = excluded_by(o, fe->name, app);
        if (why != NULL) {
            exclude(o, st, id, i, fe->name, why);
            fe_cleanup(fe);
            continue;
        }
        l->n++;
        add_servers(fe, app, i);
    }
}

/* The rules of a shared HTTP frontend for fe: one a host (with its
 * paths), or one for the paths on any host. what is "use_backend <name>",
 * or "redirect scheme https code 301" (HAPROXY_<i>_REDIRECT_TO_HTTPS). */
static void http_routes(FILE *f, const struct fe *fe, const char *what)
{
    char *paths = fe->paths != NULL ? xasprintf(" { path_beg %s }", fe->paths) : xstrdup("");
    if (fe->nvhosts == 0)
        fprintf(f, "    %s if%s\n", what, paths);
    for (size_t h = 0; h < fe->nvhosts; h++) {
        const char *host = fe->vhosts[h];
        /* The Host header without its port; "*.d" matches any name ending in ".d". */
        if (strncmp(host, "*.", 2) == 0)
            fprintf(f, "    %s if { req.hdr(host),field(1,:) -m end -i %s }%s\n", what, host + 1,
                    paths);
        else
            fprintf(f, "    %s if { req.hdr(host),field(1,:) -i %s }%s\n", what, host, paths);
    }
    free(paths);
}

/* A shared frontend's rules: redirects first (HAProxy runs them before
 * any use_backend, and warns when they are written after one), then the
 * first matching use_backend wins, so a host with paths comes before
 * paths on any host, which come before a whole host (marathon-lb puts
 * PATH backends first). https: the HTTPS frontend, which redirects none. */
static void shared_routes(FILE *f, const struct fe_list *l, bool https)
{
    for (size_t k = 0; k < l->n && !https; k++) {
        if (l->v[k].redirect_https)
            http_routes(f, &l->v[k], "redirect scheme https code 301");
    }
    for (int pass = 0; pass < 3; pass++) {
        for (size_t k = 0; k < l->n; k++) {
            const struct fe *fe = &l->v[k];
            bool hosts = fe->nvhosts > 0, paths = fe->paths != NULL;
            if ((pass == 0 && hosts && paths) || (pass == 1 && !hosts && paths) ||
                (pass == 2 && hosts && !paths)) {
                if (fe->redirect_https && !https)
                    continue;
                char *what = xasprintf("use_backend %s", fe->name);
                http_routes(f, fe, what);
                free(what);
            }
        }
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
    char maxconn[16], http_port[16];
    snprintf(maxconn, sizeof(maxconn), "%d", o->maxconn);
    snprintf(http_port, sizeof(http_port), "%d", o->http_port);
    const struct lbtmpl_var head_vars[] = { { "maxconn", maxconn } };
    const struct lbtmpl_var http_vars[] = { { "bindAddr", o->bind }, { "httpPort", http_port } };
    char *terr = NULL;
    fputs("# Written by agora-pacer-lb from Marathon's /v2/apps; do not edit.\n", f);
    /* The operator's templates were checked when they were loaded. */
    if (lbtmpl_expand(f, lbtmpl_get(o->templates, LBTMPL_HEAD), head_vars, 1, NULL, &terr) != 0)
        goto template_failed;
    /* What pacer-lb needs whatever HAPROXY_HEAD says: a second global
     * section adds to the first. */
    if (o->stats_socket != NULL || o->state_file != NULL)
        fputs("\nglobal\n", f);
    if (o->stats_socket != NULL)
        fprintf(f, "    stats socket %s mode 600 level admin expose-fd listeners\n",
                o->stats_socket);
    if (o->state_file != NULL)
        fprintf(f, "    server-state-file %s\n", o->state_file);
    if (o->stats_port > 0)
        fprintf(f,
                "\nlisten stats\n"
                "    bind %s:%d\n"
                "    mode http\n"
                "    stats enable\n"
                "    stats uri /haproxy?stats\n"
                "    monitor-uri /_haproxy_health_check\n",
                o->bind, o->stats_port);
    /* The shared HTTP frontend (VHOST and PATH), and with --ssl_certs its
     * HTTPS twin, marathon-lb's marathon_https_in (both or neither: a
     * failed bind leaves the pair out). */
    bool routed = false;
    for (size_t k = 0; k < l.n; k++)
        routed |= l.v[k].nvhosts > 0 || l.v[k].paths != NULL;
    if (routed && o->http_port > 0) {
        if (lbtmpl_expand(f, lbtmpl_get(o->templates, LBTMPL_HTTP_FRONTEND_HEAD), http_vars, 2,
                          NULL, &terr) != 0)
            goto template_failed;
        fputs("    option idle-close-on-response\n", f);
        shared_routes(f, &l, false);
        if (o->https_crt != NULL && o->https_port > 0) {
            fprintf(f,
                    "\nfrontend " LBCFG_HTTPS_FRONTEND "\n"
                    "    bind %s:%d%s\n"
                    "    mode http\n"
                    "    option idle-close-on-response\n",
                    o->bind, o->https_port, o->https_crt);
            shared_routes(f, &l, true);
        }
    }
    for (size_t k = 0; k < l.n; k++) {
        struct fe *fe = &l.v[k];
        /* An app's own templates were checked when it was added. */
        if (fe_sections(f, fe, o, &terr) != 0)
            goto template_failed;
        for (size_t s = 0; s < fe->nservers; s++)
            fputs(fe->servers[s], f);
        st.servers += (unsigned)fe->nservers;
        fe_cleanup(fe);
    }
    st.frontends = (unsigned)l.n;
    free(l.v);
    fclose(f);
    if (stats != NULL)
        *stats = st;
    return text;

template_failed:
    /* Not reached: every template in use passed the same expansion. */
    *err = xasprintf("template: %s", terr);
    free(terr);
    for (size_t k = 0; k < l.n; k++)
        fe_cleanup(&l.v[k]);
    free(l.v);
    fclose(f);
    free(text);
    return NULL;
}
