/*
 * taskinfo: one instance of an app as a Mesos TaskInfo, built the way
 * Marathon 1.10's TaskBuilder and EnvironmentHelper build theirs, and
 * shaped for what Agora's slave runs (slave/process.c, slave/docker_spec.c,
 * slave/health.c).
 *
 * Every field is allocated with the common/mem.h wrappers (through the
 * scheduler API's agora_task_* helpers where they fit), so agora_task_free
 * (protobuf-c's free_unpacked with the default allocator) frees it whole.
 *
 * taskinfo_build returns NULL when its input is inconsistent: no app, task
 * id or app id, host ports that do not match the app's ports one for one,
 * or a health check whose portIndex addresses no port. app_normalize and
 * placement_try never produce those, so NULL means a caller bug.
 */
#include "taskinfo.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/scheduler.h"
#include "mem.h"

/* Marathon's EnvironmentHelper: an env var is at most 512 characters. */
#define TI_MAX_ENV_LEN 512
#define TI_LABEL_PREFIX "MARATHON_APP_LABEL_"

/* One app port as the task sees it. */
struct ti_port {
    int requested;      /* containerPort (portMappings) or the service port; 0 = dynamic */
    bool has_host;      /* false: a container-network mapping without a host port */
    uint64_t host;      /* the chosen host port, when has_host */
    uint64_t effective; /* host port, else containerPort, else a generated one */
    uint32_t container; /* portMappings: the container port (the host port when 0) */
    const char *name;
    const char *protocol;
};

/* ------------------------------------------------------------ helpers */

/* Java's Double.toString, which Marathon uses for MARATHON_APP_RESOURCE_*:
 * the shortest digits that read back as v, plain ("1.0", "0.1", "128.0")
 * for 1e-3 <= |v| < 1e7, else computerized scientific ("1.0E7"). */
static void java_double(double v, char *buf, size_t size)
{
    char digits[32], tmp[48], *p, *e;
    int prec, exp10, nd, i;
    size_t o = 0;

    if (v == 0 || !isfinite(v)) {
        /* Validation keeps resources finite; "%g" only so nothing is left unset. */
        snprintf(buf, size, v == 0 ? "0.0" : "%g", v);
        return;
    }
    for (prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof(tmp), "%.*e", prec - 1, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    /* tmp is "[-]d[.ddd]e[+-]x": split into digits and exponent. */
    p = tmp;
    if (*p == '-') {
        if (o + 1 < size)
            buf[o++] = '-';
        p++;
    }
    e = strchr(p, 'e');
    exp10 = atoi(e + 1);
    nd = 0;
    for (; p < e; p++)
        if (*p != '.')
            digits[nd++] = *p;
    while (nd > 1 && digits[nd - 1] == '0')
        nd--;
    digits[nd] = '\0';

#define PUT(c)              \
    do {                    \
        if (o + 1 < size)   \
            buf[o++] = (c); \
    } while (0)
    if (exp10 >= -3 && exp10 < 7) {
        if (exp10 < 0) {
            PUT('0');
            PUT('.');
            for (i = 0; i < -exp10 - 1; i++)
                PUT('0');
            for (i = 0; i < nd; i++)
                PUT(digits[i]);
        } else {
            for (i = 0; i <= exp10; i++)
                PUT(i < nd ? digits[i] : '0');
            PUT('.');
            if (nd > exp10 + 1)
                for (i = exp10 + 1; i < nd; i++)
                    PUT(digits[i]);
            else
                PUT('0');
        }
        buf[o] = '\0';
    } else {
        PUT(digits[0]);
        PUT('.');
        if (nd > 1)
            for (i = 1; i < nd; i++)
                PUT(digits[i]);
        else
            PUT('0');
        buf[o] = '\0';
        snprintf(buf + o, size - o, "E%d", exp10);
    }
#undef PUT
}

static void set_env_u64(Mesos__V1__TaskInfo *t, const char *name, uint64_t v)
{
    char buf[24];

    snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
    agora_task_set_env(t, name, buf);
}

static void set_env_double(Mesos__V1__TaskInfo *t, const char *name, double v)
{
    char buf[48];

    java_double(v, buf, sizeof(buf));
    agora_task_set_env(t, name, buf);
}

/* "/group/web" -> "web.group": Marathon's PathId.toHostname (segments
 * reversed, joined by '.'), a valid DNS name for service discovery. */
static char *task_name(const char *app_id)
{
    size_t len = strlen(app_id), o = 0;
    char *out = xmalloc(len + 1);
    const char *end = app_id + len, *seg;

    while (end > app_id) {
        seg = end;
        while (seg > app_id && seg[-1] != '/')
            seg--;
        if (seg < end) {
            if (o > 0)
                out[o++] = '.';
            memcpy(out + o, seg, (size_t)(end - seg));
            o += (size_t)(end - seg);
        }
        end = seg > app_id ? seg - 1 : app_id;
    }
    out[o] = '\0';
    return out;
}

/* Marathon's label escape: every run of characters outside [a-zA-Z0-9_]
 * becomes one '_', then upper case. */
static char *label_env_key(const char *key)
{
    char *out = xmalloc(strlen(key) + 1);
    size_t o = 0;
    bool in_run = false;

    for (const char *p = key; *p; p++) {
        char c = *p;
        bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok) {
            if (!in_run)
                out[o++] = '_';
            in_run = true;
            continue;
        }
        in_run = false;
        out[o++] = c >= 'a' && c <= 'z' ? (char)(c - 'a' + 'A') : c;
    }
    out[o] = '\0';
    return out;
}

static bool word_in(const char *list, const char *word)
{
    size_t n = strlen(word);

    for (const char *p = list; p && *p;) {
        const char *sp = strchr(p, ' ');
        size_t len = sp ? (size_t)(sp - p) : strlen(p);
        if (len == n && strncmp(p, word, n) == 0)
            return true;
        p = sp ? sp + 1 : NULL;
    }
    return false;
}

/* The app's ports with the host ports chosen for this instance. -1 when
 * host_ports does not give exactly one port per app port that takes one. */
static int resolve_ports(const struct taskinfo_args *a, struct ti_port *out)
{
    const struct app_spec *app = a->app;
    size_t i, h = 0;

    for (i = 0; i < app->nports; i++) {
        const struct app_port *p = &app->ports[i];
        struct ti_port *tp = &out[i];

        memset(tp, 0, sizeof(*tp));
        tp->name = p->name;
        tp->protocol = p->protocol && *p->protocol ? p->protocol : "tcp";
        if (app->port_mappings)
            tp->requested = p->container_port;
        else
            tp->requested =
                i < a->nservice_ports && a->service_ports ? a->service_ports[i] : p->service_port;
        if (!(app->port_mappings && p->host_port < 0)) {
            if (h >= a->nhost_ports || !a->host_ports)
                return -1;
            tp->has_host = true;
            tp->host = a->host_ports[h++];
        }
        tp->container = (uint32_t)(p->container_port > 0 ? (uint64_t)p->container_port : tp->host);
    }
    return h == a->nhost_ports ? 0 : -1;
}

static bool port_used(const struct ti_port *ports, size_t n, uint64_t p)
{
    for (size_t i = 0; i < n; i++)
        if ((uint64_t)ports[i].requested == p || (ports[i].has_host && ports[i].host == p) ||
            ports[i].effective == p)
            return true;
    return false;
}

/* ------------------------------------------------------------ environment */

/* PORT<i>, PORT_<requested>, PORT_<NAME>, PORT and PORTS as Marathon's
 * EnvironmentHelper.portsEnv. A mapping without a host port gets its
 * containerPort, or, when that is 0, a port of 1025..65535 that no other
 * port of the task uses. Marathon draws that one at random; the lowest
 * free one is as good and keeps this function pure. */
static void ports_env(Mesos__V1__TaskInfo *t, struct ti_port *ports, size_t n)
{
    char name[64], *list = NULL, *joined, buf[24];
    uint64_t next = 1025;
    size_t i;

    if (n == 0)
        return;
    for (i = 0; i < n; i++) {
        if (ports[i].has_host) {
            ports[i].effective = ports[i].host;
        } else if (ports[i].requested != 0) {
            ports[i].effective = (uint64_t)ports[i].requested;
        } else {
            while (next <= 65535 && port_used(ports, n, next))
                next++;
            ports[i].effective = next++;
        }
        snprintf(name, sizeof(name), "PORT%zu", i);
        set_env_u64(t, name, ports[i].effective);
    }
    for (i = 0; i < n; i++) {
        /* A requested port names itself; a dynamic one is named after what it got. */
        snprintf(name, sizeof(name), "PORT_%llu",
                 ports[i].requested != 0 ? (unsigned long long)ports[i].requested
                                         : (unsigned long long)ports[i].effective);
        set_env_u64(t, name, ports[i].effective);
    }
    for (i = 0; i < n; i++) {
        /* As Marathon: upper-cased as is (names are [a-z0-9-]), host ports only. */
        char *up;
        if (!ports[i].name || !ports[i].has_host)
            continue;
        up = xasprintf("PORT_%s", ports[i].name);
        for (char *c = up; *c; c++)
            if (*c >= 'a' && *c <= 'z')
                *c = (char)(*c - 'a' + 'A');
        set_env_u64(t, up, ports[i].effective);
        free(up);
    }
    /* Host ports first, then the generated ones, as Marathon lists them. */
    for (int pass = 0; pass < 2; pass++) {
        for (i = 0; i < n; i++) {
            bool generated = !ports[i].has_host && ports[i].requested == 0;
            if (generated != (pass == 1) || (!ports[i].has_host && !generated))
                continue;
            snprintf(buf, sizeof(buf), "%llu", (unsigned long long)ports[i].effective);
            if (!list)
                agora_task_set_env(t, "PORT", buf);
            joined = list ? xasprintf("%s,%s", list, buf) : xstrdup(buf);
            free(list);
            list = joined;
        }
    }
    agora_task_set_env(t, "PORTS", list ? list : "");
    free(list);
}

/* MARATHON_APP_LABELS (the escaped keys, space separated; set even when
 * empty, as Marathon does) and MARATHON_APP_LABEL_<KEY> for every label
 * whose key and value fit Marathon's length limits. */
static void labels_env(Mesos__V1__TaskInfo *t, const json_t *labels)
{
    const size_t max_key = TI_MAX_ENV_LEN - strlen(TI_LABEL_PREFIX);
    const char *key;
    json_t *v;
    char *names = xstrdup(""), *esc, *var, *joined;

    json_object_foreach((json_t *)labels, key, v)
    {
        if (!json_is_string(v) || strlen(key) >= max_key || json_string_length(v) >= TI_MAX_ENV_LEN)
            continue;
        esc = label_env_key(key);
        var = xasprintf(TI_LABEL_PREFIX "%s", esc);
        agora_task_set_env(t, var, json_string_value(v));
        /* Two keys may escape alike ("a.b", "a-b"): list the name once. */
        if (!word_in(names, esc)) {
            joined = *names ? xasprintf("%s %s", names, esc) : xstrdup(esc);
            free(names);
            names = joined;
        }
        free(var);
        free(esc);
    }
    agora_task_set_env(t, "MARATHON_APP_LABELS", names);
    free(names);
}

/* Marathon's order (TaskBuilder.commandInfo): task context, labels, ports,
 * HOST, then the app's env, each overriding the ones before, so the app's
 * own values win. */
static void build_env(Mesos__V1__TaskInfo *t, const struct taskinfo_args *a, struct ti_port *ports)
{
    const struct app_spec *app = a->app;
    const char *key;
    json_t *v;
    char buf[24];

    agora_task_set_env(t, "MESOS_TASK_ID", a->task_id);
    agora_task_set_env(t, "MARATHON_APP_ID", app->id);
    agora_task_set_env(t, "MARATHON_APP_VERSION", app->version ? app->version : "");
    if (app->container == APP_CONTAINER_DOCKER && app->image)
        agora_task_set_env(t, "MARATHON_APP_DOCKER_IMAGE", app->image);
    set_env_double(t, "MARATHON_APP_RESOURCE_CPUS", app->cpus);
    set_env_double(t, "MARATHON_APP_RESOURCE_MEM", app->mem);
    set_env_double(t, "MARATHON_APP_RESOURCE_DISK", app->disk);
    /* Marathon's gpus is an Int: "0", not "0.0". */
    snprintf(buf, sizeof(buf), "%lld", (long long)app->gpus);
    agora_task_set_env(t, "MARATHON_APP_RESOURCE_GPUS", buf);
    if (app->labels)
        labels_env(t, app->labels);
    else
        agora_task_set_env(t, "MARATHON_APP_LABELS", "");
    ports_env(t, ports, app->nports);
    if (a->hostname)
        agora_task_set_env(t, "HOST", a->hostname);
    if (app->env) {
        json_object_foreach(app->env, key, v)
        {
            if (json_is_string(v))
                agora_task_set_env(t, key, json_string_value(v));
        }
    }
}

/* ------------------------------------------------------------ command */

/* Marathon's legacy uris rule for extract; fetch[] defaults to extract
 * too, and Mesos's fetcher only unpacks these suffixes anyway. */
static bool uri_is_archive(const char *uri)
{
    static const char *const suffixes[] = { ".tgz", ".tar.gz", ".tbz2", ".tar.bz2",
                                            ".txz", ".tar.xz", ".zip" };
    size_t len = strlen(uri);

    for (size_t i = 0; i < sizeof(suffixes) / sizeof(suffixes[0]); i++) {
        size_t n = strlen(suffixes[i]);
        if (len >= n && strcmp(uri + len - n, suffixes[i]) == 0)
            return true;
    }
    return false;
}

/* cmd: `sh -c cmd`. args: shell=false with arguments = the whole argv;
 * outside Docker value = args[0] too, since the slave's process
 * containerizer (as Mesos's command executor) execs value with arguments
 * as argv. Docker without cmd or args: shell=false and no value, so the
 * slave runs the image's entrypoint (and its Cmd) unchanged. */
static Mesos__V1__CommandInfo *build_command(const struct app_spec *app)
{
    Mesos__V1__CommandInfo *c = xmalloc(sizeof(*c));
    size_t i;

    mesos__v1__command_info__init(c);
    c->has_shell = 1;
    if (app->args && app->nargs > 0) {
        c->shell = 0;
        c->arguments = xcalloc(app->nargs, sizeof(*c->arguments));
        for (i = 0; i < app->nargs; i++)
            c->arguments[i] = xstrdup(app->args[i]);
        c->n_arguments = app->nargs;
        if (app->container != APP_CONTAINER_DOCKER)
            c->value = xstrdup(app->args[0]);
    } else if (app->cmd && *app->cmd) {
        c->shell = 1;
        c->value = xstrdup(app->cmd);
    } else {
        c->shell = 0;
    }
    if (app->user)
        c->user = xstrdup(app->user);
    if (app->uris && app->nuris > 0) {
        c->uris = xcalloc(app->nuris, sizeof(*c->uris));
        for (i = 0; i < app->nuris && app->uris[i]; i++) {
            Mesos__V1__CommandInfo__URI *u = xmalloc(sizeof(*u));
            mesos__v1__command_info__uri__init(u);
            u->value = xstrdup(app->uris[i]);
            u->has_extract = 1;
            u->extract = uri_is_archive(app->uris[i]);
            c->uris[c->n_uris++] = u;
        }
    }
    return c;
}

/* ------------------------------------------------------------ container */

static void docker_add_param(Mesos__V1__ContainerInfo__DockerInfo *d, const char *key,
                             const char *value)
{
    Mesos__V1__Parameter *p = xmalloc(sizeof(*p));

    mesos__v1__parameter__init(p);
    p->key = xstrdup(key);
    p->value = xstrdup(value ? value : "");
    d->parameters = xrealloc(d->parameters, (d->n_parameters + 1) * sizeof(*d->parameters));
    d->parameters[d->n_parameters++] = p;
}

static void docker_add_mapping(Mesos__V1__ContainerInfo__DockerInfo *d, uint32_t host,
                               uint32_t container, const char *proto, size_t len)
{
    Mesos__V1__ContainerInfo__DockerInfo__PortMapping *pm = xmalloc(sizeof(*pm));

    mesos__v1__container_info__docker_info__port_mapping__init(pm);
    pm->host_port = host;
    pm->container_port = container;
    pm->protocol = xstrndup(proto, len);
    d->port_mappings =
        xrealloc(d->port_mappings, (d->n_port_mappings + 1) * sizeof(*d->port_mappings));
    d->port_mappings[d->n_port_mappings++] = pm;
}

/* The DOCKER ContainerInfo. Only mappings with a host port are bound (as
 * Marathon's boundPortMappings); a containerPort of 0 becomes the host
 * port; "udp,tcp" becomes one mapping per protocol, as Marathon's
 * PortMappingSerializer does, since a Mesos mapping has one protocol. */
static Mesos__V1__ContainerInfo *build_docker(const struct taskinfo_args *a,
                                              const struct ti_port *ports)
{
    const struct app_spec *app = a->app;
    Mesos__V1__ContainerInfo *ci = xmalloc(sizeof(*ci));
    Mesos__V1__ContainerInfo__DockerInfo *d = xmalloc(sizeof(*d));
    char *label;
    size_t i;

    mesos__v1__container_info__init(ci);
    mesos__v1__container_info__docker_info__init(d);
    ci->type = MESOS__V1__CONTAINER_INFO__TYPE__DOCKER;
    ci->docker = d;
    d->image = xstrdup(app->image ? app->image : "");
    d->has_force_pull_image = 1;
    d->force_pull_image = app->force_pull;
    d->has_network = 1;
    switch (app->network) {
    case APP_NET_BRIDGE:
        d->network = MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__BRIDGE;
        break;
    case APP_NET_CONTAINER:
        /* Mesos's name for a named network; the slave refuses it today. */
        d->network = MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__USER;
        break;
    case APP_NET_HOST:
    default:
        d->network = MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__HOST;
        break;
    }
    if (app->port_mappings && app->network != APP_NET_HOST) {
        for (i = 0; i < app->nports; i++) {
            const char *proto = ports[i].protocol, *comma;
            if (!ports[i].has_host)
                continue;
            for (;;) {
                comma = strchr(proto, ',');
                docker_add_mapping(d, (uint32_t)ports[i].host, ports[i].container, proto,
                                   comma ? (size_t)(comma - proto) : strlen(proto));
                if (!comma)
                    break;
                proto = comma + 1;
            }
        }
    }
    if (app->docker_parameters) {
        json_t *p;
        json_array_foreach(app->docker_parameters, i, p)
        {
            const char *k = json_string_value(json_object_get(p, "key"));
            if (k)
                docker_add_param(d, k, json_string_value(json_object_get(p, "value")));
        }
    }
    /* As Marathon: lets an operator find the task's container by task id. */
    label = xasprintf("MESOS_TASK_ID=%s", a->task_id);
    docker_add_param(d, "label", label);
    free(label);

    for (i = 0; i < app->nvolumes; i++) {
        const struct app_volume *av = &app->volumes[i];
        Mesos__V1__Volume *v;
        /* Persistent and external volumes are refused at validation. */
        if (!av->container_path || !av->host_path)
            continue;
        v = xmalloc(sizeof(*v));
        mesos__v1__volume__init(v);
        v->container_path = xstrdup(av->container_path);
        v->host_path = xstrdup(av->host_path);
        v->mode = av->read_only ? MESOS__V1__VOLUME__MODE__RO : MESOS__V1__VOLUME__MODE__RW;
        ci->volumes = xrealloc(ci->volumes, (ci->n_volumes + 1) * sizeof(*ci->volumes));
        ci->volumes[ci->n_volumes++] = v;
    }
    return ci;
}

/* ------------------------------------------------------------ health check */

/* The port a slave-side check probes. An explicit port is used as given.
 * With portIndex: the host port under host networking; with port mappings
 * the container port, because the slave's Docker containerizer maps a
 * BRIDGE task's container port to its published host port on 127.0.0.1
 * (slave/docker.c dk_health_port), exactly as Mesos enters the container's
 * network for its checks (Marathon's MesosCheckWithPorts prefers
 * containerPort for that reason). A host port handed to it could be
 * mistaken for another mapping's container port. 0 when unresolvable. */
static uint32_t check_port(const struct taskinfo_args *a, const struct app_health_check *hc,
                           const struct ti_port *ports)
{
    const struct ti_port *p;

    if (hc->port > 0)
        return (uint32_t)hc->port;
    if (hc->port_index < 0 || (size_t)hc->port_index >= a->app->nports)
        return 0;
    p = &ports[hc->port_index];
    if (a->app->port_mappings)
        return p->container ? p->container : (uint32_t)p->effective;
    return (uint32_t)p->host;
}

static Mesos__V1__HealthCheck *build_health(const struct taskinfo_args *a,
                                            const struct app_health_check *hc,
                                            const struct ti_port *ports)
{
    Mesos__V1__HealthCheck *h = xmalloc(sizeof(*h));
    uint32_t port = 0;
    bool https = false;

    mesos__v1__health_check__init(h);
    h->has_delay_seconds = 1;
    h->delay_seconds = hc->delay;
    h->has_interval_seconds = 1;
    h->interval_seconds = hc->interval;
    h->has_timeout_seconds = 1;
    h->timeout_seconds = hc->timeout;
    h->has_consecutive_failures = 1;
    h->consecutive_failures = hc->max_failures > 0 ? (uint32_t)hc->max_failures : 0;
    h->has_grace_period_seconds = 1;
    h->grace_period_seconds = hc->grace_period;
    h->has_type = 1;

    switch (hc->protocol) {
    case APP_HC_COMMAND:
        if (!hc->command)
            goto fail;
        h->type = MESOS__V1__HEALTH_CHECK__TYPE__COMMAND;
        h->command = xmalloc(sizeof(*h->command));
        mesos__v1__command_info__init(h->command);
        h->command->has_shell = 1;
        h->command->shell = 1;
        h->command->value = xstrdup(hc->command);
        return h;
    case APP_HC_HTTPS:
    case APP_HC_MESOS_HTTPS:
        https = true;
        /* fall through */
    case APP_HC_HTTP:
    case APP_HC_MESOS_HTTP:
        port = check_port(a, hc, ports);
        if (port == 0)
            goto fail;
        h->type = MESOS__V1__HEALTH_CHECK__TYPE__HTTP;
        h->http = xmalloc(sizeof(*h->http));
        mesos__v1__health_check__httpcheck_info__init(h->http);
        h->http->port = port;
        h->http->path = xstrdup(hc->path && *hc->path ? hc->path : "/");
        /* Mesos's default scheme is http: only https is spelled out. */
        if (https)
            h->http->scheme = xstrdup("https");
        return h;
    case APP_HC_TCP:
    case APP_HC_MESOS_TCP:
        port = check_port(a, hc, ports);
        if (port == 0)
            goto fail;
        h->type = MESOS__V1__HEALTH_CHECK__TYPE__TCP;
        h->tcp = xmalloc(sizeof(*h->tcp));
        mesos__v1__health_check__tcpcheck_info__init(h->tcp);
        h->tcp->port = port;
        return h;
    }
fail:
    mesos__v1__health_check__free_unpacked(h, NULL);
    return NULL;
}

/* ------------------------------------------------------------ the task */

static void build_labels(Mesos__V1__TaskInfo *t, const json_t *labels)
{
    const char *key;
    json_t *v;

    if (!labels || json_object_size(labels) == 0)
        return;
    t->labels = xmalloc(sizeof(*t->labels));
    mesos__v1__labels__init(t->labels);
    t->labels->labels = xcalloc(json_object_size(labels), sizeof(*t->labels->labels));
    json_object_foreach((json_t *)labels, key, v)
    {
        Mesos__V1__Label *l;
        if (!json_is_string(v))
            continue;
        l = xmalloc(sizeof(*l));
        mesos__v1__label__init(l);
        l->key = xstrdup(key);
        l->value = xstrdup(json_string_value(v));
        t->labels->labels[t->labels->n_labels++] = l;
    }
}

Mesos__V1__TaskInfo *taskinfo_build(const struct taskinfo_args *a)
{
    const struct app_spec *app;
    Mesos__V1__TaskInfo *t = NULL;
    struct ti_port *ports = NULL;
    uint64_t *host = NULL;
    char *name = NULL;
    size_t i, nhost = 0;

    if (!a || !a->app || !a->task_id || !*a->task_id || !a->app->id)
        return NULL;
    app = a->app;
    ports = xcalloc(app->nports ? app->nports : 1, sizeof(*ports));
    if (resolve_ports(a, ports) < 0)
        goto fail;

    name = task_name(app->id);
    /* cmd NULL: build_command below decides shell, value and arguments. */
    t = agora_task_new(name, a->task_id, a->agent_id, NULL, app->cpus, app->mem);
    if (!t)
        goto fail;
    t->command = build_command(app);
    build_env(t, a, ports);

    agora_task_add_scalar(t, "disk", app->disk); /* ignored when 0, as Marathon */
    agora_task_add_scalar(t, "gpus", app->gpus);
    host = xcalloc(app->nports ? app->nports : 1, sizeof(*host));
    for (i = 0; i < app->nports; i++)
        if (ports[i].has_host)
            host[nhost++] = ports[i].host;
    agora_task_add_ports(t, host, nhost);
    /* Every resource in the offer's allocation role, or the master would
     * find them missing from the (reserved) offer. */
    if (a->role && strcmp(a->role, "*") != 0)
        agora_task_set_role(t, a->role);

    if (app->container == APP_CONTAINER_DOCKER)
        t->container = build_docker(a, ports);

    if (app->nhealth_checks > 0) {
        t->health_check = build_health(a, &app->health_checks[0], ports);
        if (!t->health_check)
            goto fail;
    }

    if (app->kill_grace_period > 0) {
        t->kill_policy = xmalloc(sizeof(*t->kill_policy));
        mesos__v1__kill_policy__init(t->kill_policy);
        t->kill_policy->grace_period = xmalloc(sizeof(*t->kill_policy->grace_period));
        mesos__v1__duration_info__init(t->kill_policy->grace_period);
        t->kill_policy->grace_period->nanoseconds = llround(app->kill_grace_period * 1e9);
    }
    build_labels(t, app->labels);
    goto out;

fail:
    agora_task_free(t);
    t = NULL;
out:
    free(host);
    free(name);
    free(ports);
    return t;
}
