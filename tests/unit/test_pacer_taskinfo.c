/*
 * test_pacer_taskinfo: frameworks/pacer/taskinfo.c — the TaskInfo of one
 * instance: Marathon's task environment (ports, labels, task context, the
 * app's env winning), cmd vs args, resources in the offer's role, the
 * Docker container with the chosen host ports (fed through the slave's own
 * docker_spec_create to show the slave accepts it), the health check and
 * its port, the kill grace period, and inconsistent input.
 *
 * struct app_spec is built by hand: app.c is not needed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "taskinfo.h"
#include "agora/scheduler.h"
#include "docker_spec.h"
#include "mem.h"

/* ------------------------------------------------------------ helpers */

/* The value of env var name in t, or NULL. */
static const char *env_get(const Mesos__V1__TaskInfo *t, const char *name)
{
    const Mesos__V1__Environment *env;

    assert_non_null(t->command);
    env = t->command->environment;
    if (!env)
        return NULL;
    for (size_t i = 0; i < env->n_variables; i++)
        if (strcmp(env->variables[i]->name, name) == 0)
            return env->variables[i]->value;
    return NULL;
}

static void assert_env(const Mesos__V1__TaskInfo *t, const char *name, const char *want)
{
    const char *got = env_get(t, name);

    if (!got)
        fail_msg("env %s: missing (want '%s')", name, want);
    assert_string_equal(got, want);
}

/* Each variable name once: the slave's environment would be ambiguous. */
static void assert_env_unique(const Mesos__V1__TaskInfo *t)
{
    const Mesos__V1__Environment *env = t->command->environment;

    for (size_t i = 0; env && i < env->n_variables; i++)
        for (size_t j = i + 1; j < env->n_variables; j++)
            if (strcmp(env->variables[i]->name, env->variables[j]->name) == 0)
                fail_msg("env %s twice", env->variables[i]->name);
}

static const Mesos__V1__Resource *res_get(const Mesos__V1__TaskInfo *t, const char *name)
{
    for (size_t i = 0; i < t->n_resources; i++)
        if (strcmp(t->resources[i]->name, name) == 0)
            return t->resources[i];
    return NULL;
}

#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static const char *res_role(const Mesos__V1__Resource *r)
{
    return r->role ? r->role : "*";
}
#pragma GCC diagnostic pop

/* A cmd app with defaults as app_normalize fills them; free with app_free. */
static struct app_spec *app_new(const char *id)
{
    struct app_spec *app = xcalloc(1, sizeof(*app));

    app->id = xstrdup(id);
    app->version = xstrdup("2020-07-28T13:30:27.123Z");
    app->cmd = xstrdup("python3 -m http.server $PORT0");
    app->cpus = 1;
    app->mem = 128;
    app->instances = 1;
    app->env = json_object();
    app->labels = json_object();
    app->container = APP_CONTAINER_NONE;
    app->network = APP_NET_HOST;
    return app;
}

static void app_add_port(struct app_spec *app, int container_port, int host_port, int service_port,
                         const char *name, const char *protocol)
{
    struct app_port *p;

    app->ports = xrealloc(app->ports, (app->nports + 1) * sizeof(*app->ports));
    p = &app->ports[app->nports++];
    memset(p, 0, sizeof(*p));
    p->container_port = container_port;
    p->host_port = host_port;
    p->service_port = service_port;
    p->name = name ? xstrdup(name) : NULL;
    p->protocol = xstrdup(protocol ? protocol : "tcp");
}

static struct app_health_check *app_add_hc(struct app_spec *app, enum app_hc_protocol proto)
{
    struct app_health_check *hc;

    app->health_checks =
        xrealloc(app->health_checks, (app->nhealth_checks + 1) * sizeof(*app->health_checks));
    hc = &app->health_checks[app->nhealth_checks++];
    memset(hc, 0, sizeof(*hc));
    hc->protocol = proto;
    hc->port_index = proto == APP_HC_COMMAND ? -1 : 0;
    hc->path = proto == APP_HC_HTTP || proto == APP_HC_HTTPS || proto == APP_HC_MESOS_HTTP ||
                       proto == APP_HC_MESOS_HTTPS
                   ? xstrdup("/health")
                   : NULL;
    hc->grace_period = 300;
    hc->interval = 60;
    hc->timeout = 20;
    hc->max_failures = 3;
    hc->delay = 15;
    return hc;
}

static char **strv(size_t *n, ...)
{
    va_list ap;
    char **v = NULL;
    const char *s;

    *n = 0;
    va_start(ap, n);
    while ((s = va_arg(ap, const char *)) != NULL) {
        v = xrealloc(v, (*n + 2) * sizeof(*v));
        v[(*n)++] = xstrdup(s);
        v[*n] = NULL;
    }
    va_end(ap);
    return v;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

static void app_free(struct app_spec *app)
{
    size_t i;

    free(app->id);
    free(app->version);
    free(app->cmd);
    strv_free(app->args);
    free(app->user);
    json_decref(app->env);
    json_decref(app->labels);
    json_decref(app->constraints);
    free(app->image);
    json_decref(app->docker_parameters);
    for (i = 0; i < app->nports; i++) {
        free(app->ports[i].name);
        free(app->ports[i].protocol);
    }
    free(app->ports);
    for (i = 0; i < app->nvolumes; i++) {
        free(app->volumes[i].container_path);
        free(app->volumes[i].host_path);
    }
    free(app->volumes);
    for (i = 0; i < app->nhealth_checks; i++) {
        free(app->health_checks[i].path);
        free(app->health_checks[i].command);
    }
    free(app->health_checks);
    strv_free(app->uris);
    free(app);
}

static struct taskinfo_args args_for(const struct app_spec *app, const uint64_t *host, size_t nhost,
                                     const int *svc, size_t nsvc)
{
    struct taskinfo_args a = {
        .app = app,
        .task_id = "group_web.instance-0f1e2d3c-0000-11ea-8d71-362b9e155667._app.1",
        .agent_id = "agent-1",
        .hostname = "node1.example.com",
        .role = "*",
        .host_ports = host,
        .nhost_ports = nhost,
        .service_ports = svc,
        .nservice_ports = nsvc,
    };
    return a;
}

/* A BRIDGE Docker app: 80 -> dynamic, 0 -> dynamic ("udp,tcp"). */
static struct app_spec *bridge_app(void)
{
    struct app_spec *app = app_new("/group/web");

    app->container = APP_CONTAINER_DOCKER;
    app->image = xstrdup("nginx:1.25");
    app->force_pull = true;
    app->network = APP_NET_BRIDGE;
    app->port_mappings = true;
    free(app->cmd);
    app->cmd = NULL;
    app_add_port(app, 80, 0, 10000, "http", "tcp");
    app_add_port(app, 0, 0, 10001, "dns", "udp,tcp");
    app->docker_parameters = json_pack("[{s:s, s:s}]", "key", "env", "value", "EXTRA=1");
    app->volumes = xcalloc(2, sizeof(*app->volumes));
    app->volumes[0].container_path = xstrdup("/etc/conf");
    app->volumes[0].host_path = xstrdup("/srv/conf");
    app->volumes[0].read_only = true;
    app->volumes[1].container_path = xstrdup("/data");
    app->volumes[1].host_path = xstrdup("/srv/data");
    app->nvolumes = 2;
    return app;
}

/* ------------------------------------------------------------ tests */

/* Marathon's example: named ports, service ports, host ports in app order
 * (not sorted), task context, HOST, and the app's env winning. */
static void test_env_two_named_host_ports(void **state)
{
    struct app_spec *app = app_new("/group/web");
    const uint64_t host[] = { 31005, 31002 };
    const int svc[] = { 10000, 10001 };
    struct taskinfo_args a;
    Mesos__V1__TaskInfo *t;

    (void)state;
    app->cpus = 0.5;
    app_add_port(app, 0, 0, 0, "http", "tcp");
    app_add_port(app, 0, 0, 0, "admin-api", "tcp");
    json_object_set_new(app->env, "FOO", json_string("bar"));
    json_object_set_new(app->env, "MARATHON_APP_VERSION", json_string("mine"));
    a = args_for(app, host, 2, svc, 2);
    t = taskinfo_build(&a);
    assert_non_null(t);

    assert_string_equal(t->name, "web.group");
    assert_string_equal(t->task_id->value, a.task_id);
    assert_string_equal(t->agent_id->value, "agent-1");
    assert_env(t, "PORT0", "31005");
    assert_env(t, "PORT1", "31002");
    assert_env(t, "PORT", "31005");
    assert_env(t, "PORTS", "31005,31002");
    assert_env(t, "PORT_10000", "31005");
    assert_env(t, "PORT_10001", "31002");
    assert_env(t, "PORT_HTTP", "31005");
    assert_env(t, "PORT_ADMIN-API", "31002");
    assert_env(t, "HOST", "node1.example.com");
    assert_env(t, "MESOS_TASK_ID", a.task_id);
    assert_env(t, "MARATHON_APP_ID", "/group/web");
    assert_env(t, "MARATHON_APP_RESOURCE_CPUS", "0.5");
    assert_env(t, "MARATHON_APP_RESOURCE_MEM", "128.0");
    assert_env(t, "MARATHON_APP_RESOURCE_DISK", "0.0");
    assert_env(t, "MARATHON_APP_RESOURCE_GPUS", "0");
    assert_env(t, "MARATHON_APP_LABELS", "");
    assert_env(t, "FOO", "bar");
    assert_env(t, "MARATHON_APP_VERSION", "mine"); /* the app's env wins */
    assert_null(env_get(t, "MARATHON_APP_DOCKER_IMAGE"));
    assert_null(t->container);
    assert_null(t->health_check);
    assert_null(t->kill_policy);
    assert_null(t->labels);
    assert_env_unique(t);
    agora_task_free(t);

    /* No ports: none of the port variables. */
    free(app->ports[0].name);
    free(app->ports[0].protocol);
    free(app->ports[1].name);
    free(app->ports[1].protocol);
    app->nports = 0;
    a = args_for(app, NULL, 0, NULL, 0);
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_null(env_get(t, "PORT"));
    assert_null(env_get(t, "PORTS"));
    assert_null(env_get(t, "PORT0"));
    assert_null(res_get(t, "ports"));
    assert_env(t, "MARATHON_APP_VERSION", "mine");
    agora_task_free(t);
    app_free(app);
}

/* Dynamic service ports fall back to the app's; requested 0 names PORT_<host>. */
static void test_env_dynamic_requested_port(void **state)
{
    struct app_spec *app = app_new("/web");
    const uint64_t host[] = { 31000 };
    struct taskinfo_args a;
    Mesos__V1__TaskInfo *t;

    (void)state;
    app_add_port(app, 0, 0, 0, NULL, "tcp");
    a = args_for(app, host, 1, NULL, 0);
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_string_equal(t->name, "web");
    assert_env(t, "PORT0", "31000");
    assert_env(t, "PORT_31000", "31000");
    assert_null(env_get(t, "PORT_0"));
    agora_task_free(t);
    app_free(app);
}

static void test_label_env(void **state)
{
    struct app_spec *app = app_new("/web");
    struct taskinfo_args a = args_for(app, NULL, 0, NULL, 0);
    Mesos__V1__TaskInfo *t;
    char *long_key = xmalloc(494);

    (void)state;
    memset(long_key, 'k', 493);
    long_key[493] = '\0'; /* 493 >= 512 - len("MARATHON_APP_LABEL_"): dropped */
    json_object_set_new(app->labels, "HAPROXY_GROUP", json_string("external"));
    json_object_set_new(app->labels, "com.example/team name", json_string("core"));
    json_object_set_new(app->labels, "a..b-c", json_string("y"));
    json_object_set_new(app->labels, "a--b.c", json_string("z")); /* escapes alike */
    json_object_set_new(app->labels, long_key, json_string("v"));
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_env(t, "MARATHON_APP_LABEL_HAPROXY_GROUP", "external");
    assert_env(t, "MARATHON_APP_LABEL_COM_EXAMPLE_TEAM_NAME", "core");
    assert_env(t, "MARATHON_APP_LABEL_A_B_C", "z");
    assert_env(t, "MARATHON_APP_LABELS", "HAPROXY_GROUP COM_EXAMPLE_TEAM_NAME A_B_C");
    assert_env_unique(t);
    /* The TaskInfo carries the labels verbatim, as Marathon's does. */
    assert_non_null(t->labels);
    assert_int_equal(t->labels->n_labels, 5);
    assert_string_equal(t->labels->labels[1]->key, "com.example/team name");
    assert_string_equal(t->labels->labels[1]->value, "core");
    agora_task_free(t);
    free(long_key);
    app_free(app);
}

static void test_cmd_vs_args(void **state)
{
    struct app_spec *app = app_new("/web");
    struct taskinfo_args a = args_for(app, NULL, 0, NULL, 0);
    Mesos__V1__TaskInfo *t;

    (void)state;
    /* cmd: sh -c */
    app->user = xstrdup("nobody");
    app->uris =
        strv(&app->nuris, "https://example.com/app.tar.gz", "https://example.com/conf.json", NULL);
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_true(t->command->has_shell);
    assert_true(t->command->shell);
    assert_string_equal(t->command->value, "python3 -m http.server $PORT0");
    assert_int_equal(t->command->n_arguments, 0);
    assert_string_equal(t->command->user, "nobody");
    assert_int_equal(t->command->n_uris, 2);
    assert_string_equal(t->command->uris[0]->value, "https://example.com/app.tar.gz");
    assert_true(t->command->uris[0]->has_extract && t->command->uris[0]->extract);
    assert_true(t->command->uris[1]->has_extract);
    assert_false(t->command->uris[1]->extract);
    agora_task_free(t);

    /* args: exec, value = argv[0] for the process containerizer */
    free(app->cmd);
    app->cmd = NULL;
    app->args = strv(&app->nargs, "/bin/echo", "hello", "world", NULL);
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_true(t->command->has_shell);
    assert_false(t->command->shell);
    assert_string_equal(t->command->value, "/bin/echo");
    assert_int_equal(t->command->n_arguments, 3);
    assert_string_equal(t->command->arguments[0], "/bin/echo");
    assert_string_equal(t->command->arguments[2], "world");
    agora_task_free(t);

    /* Docker + args: arguments only (appended to the image's entrypoint) */
    app->container = APP_CONTAINER_DOCKER;
    app->image = xstrdup("busybox");
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_false(t->command->shell);
    assert_null(t->command->value);
    assert_int_equal(t->command->n_arguments, 3);
    assert_env(t, "MARATHON_APP_DOCKER_IMAGE", "busybox");
    agora_task_free(t);

    /* Docker without cmd or args: the image's entrypoint and Cmd */
    strv_free(app->args);
    app->args = NULL;
    app->nargs = 0;
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_true(t->command->has_shell);
    assert_false(t->command->shell);
    assert_null(t->command->value);
    assert_int_equal(t->command->n_arguments, 0);
    agora_task_free(t);
    app_free(app);
}

static void test_docker_bridge_port_mappings(void **state)
{
    struct app_spec *app = bridge_app();
    const uint64_t host[] = { 31010, 31011 };
    const int svc[] = { 10000, 10001 };
    struct taskinfo_args a = args_for(app, host, 2, svc, 2);
    const struct docker_spec_ctx ctx = {
        .task_id = a.task_id,
        .framework_id = "fw1",
        .agent_id = "agent-1",
        .container_id = "c1",
        .hostname = "node1.example.com",
        .sandbox = "/sb",
        .publish_ip = "0.0.0.0",
    };
    Mesos__V1__ContainerInfo__DockerInfo *d;
    Mesos__V1__TaskInfo *t;
    json_t *spec = NULL, *pb;
    char *err = NULL;

    (void)state;
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_non_null(t->container);
    assert_int_equal(t->container->type, MESOS__V1__CONTAINER_INFO__TYPE__DOCKER);
    d = t->container->docker;
    assert_non_null(d);
    assert_string_equal(d->image, "nginx:1.25");
    assert_true(d->has_force_pull_image && d->force_pull_image);
    assert_true(d->has_network);
    assert_int_equal(d->network, MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__BRIDGE);
    assert_int_equal(d->n_port_mappings, 3);
    assert_int_equal(d->port_mappings[0]->host_port, 31010);
    assert_int_equal(d->port_mappings[0]->container_port, 80);
    assert_string_equal(d->port_mappings[0]->protocol, "tcp");
    /* containerPort 0: the host port, once per protocol */
    assert_int_equal(d->port_mappings[1]->host_port, 31011);
    assert_int_equal(d->port_mappings[1]->container_port, 31011);
    assert_string_equal(d->port_mappings[1]->protocol, "udp");
    assert_int_equal(d->port_mappings[2]->host_port, 31011);
    assert_string_equal(d->port_mappings[2]->protocol, "tcp");
    assert_int_equal(d->n_parameters, 2);
    assert_string_equal(d->parameters[0]->key, "env");
    assert_string_equal(d->parameters[0]->value, "EXTRA=1");
    assert_string_equal(d->parameters[1]->key, "label");
    assert_true(strncmp(d->parameters[1]->value, "MESOS_TASK_ID=group_web.instance-", 33) == 0);
    assert_int_equal(t->container->n_volumes, 2);
    assert_string_equal(t->container->volumes[0]->container_path, "/etc/conf");
    assert_string_equal(t->container->volumes[0]->host_path, "/srv/conf");
    assert_int_equal(t->container->volumes[0]->mode, MESOS__V1__VOLUME__MODE__RO);
    assert_int_equal(t->container->volumes[1]->mode, MESOS__V1__VOLUME__MODE__RW);

    /* BRIDGE env: host ports; requested = the container ports */
    assert_env(t, "PORT0", "31010");
    assert_env(t, "PORT1", "31011");
    assert_env(t, "PORT_80", "31010");
    assert_env(t, "PORT_31011", "31011");
    assert_env(t, "PORT_HTTP", "31010");
    assert_env(t, "PORT_DNS", "31011");
    assert_env(t, "PORTS", "31010,31011");
    assert_env(t, "MARATHON_APP_DOCKER_IMAGE", "nginx:1.25");
    assert_null(t->command->value); /* the image's entrypoint */

    /* The slave turns it into a create body with those bindings. */
    assert_int_equal(docker_spec_check(t, &err), 0);
    if (docker_spec_create(t, &ctx, &spec, &err) < 0)
        fail_msg("docker_spec_create: %s", err);
    pb = json_object_get(json_object_get(spec, "HostConfig"), "PortBindings");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(pb, "80/tcp"), 0), "HostPort")),
                        "31010");
    assert_non_null(json_object_get(pb, "31011/udp"));
    assert_non_null(json_object_get(pb, "31011/tcp"));
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(spec, "HostConfig"), "NetworkMode")),
        "bridge");
    json_decref(spec);
    agora_task_free(t);
    app_free(app);
}

/* Docker HOST networking: no mappings, the network spelled out. */
static void test_docker_host_network(void **state)
{
    struct app_spec *app = app_new("/web");
    const uint64_t host[] = { 31020 };
    struct taskinfo_args a = args_for(app, host, 1, NULL, 0);
    Mesos__V1__TaskInfo *t;

    (void)state;
    app->container = APP_CONTAINER_DOCKER;
    app->image = xstrdup("python:3");
    app_add_port(app, 0, 0, 10005, NULL, "tcp");
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_int_equal(t->container->docker->network,
                     MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__HOST);
    assert_false(t->container->docker->force_pull_image);
    assert_int_equal(t->container->docker->n_port_mappings, 0);
    assert_env(t, "PORT_10005", "31020");
    assert_string_equal(t->command->value, "python3 -m http.server $PORT0");
    agora_task_free(t);

    /* MESOS container without an image: no ContainerInfo */
    app->container = APP_CONTAINER_MESOS;
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_null(t->container);
    assert_null(env_get(t, "MARATHON_APP_DOCKER_IMAGE"));
    agora_task_free(t);
    app_free(app);
}

/* Container networks: a mapping without a host port gets its container
 * port, or a free generated one, and stays out of resources and PORTS. */
static void test_container_network_without_host_port(void **state)
{
    struct app_spec *app = bridge_app();
    const uint64_t host[] = { 31030 };
    struct taskinfo_args a = args_for(app, host, 1, NULL, 0);
    Mesos__V1__TaskInfo *t;

    (void)state;
    app->network = APP_NET_CONTAINER;
    app->ports[0].host_port = -1; /* 80, no host port */
    app_add_port(app, 0, -1, 0, NULL, "tcp");
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_int_equal(t->container->docker->network,
                     MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__USER);
    assert_env(t, "PORT0", "80");
    assert_env(t, "PORT_80", "80");
    assert_env(t, "PORT1", "31030");
    assert_env(t, "PORT2", "1025");
    assert_env(t, "PORT_1025", "1025");
    assert_env(t, "PORTS", "31030,1025");
    assert_env(t, "PORT", "31030");
    assert_null(env_get(t, "PORT_HTTP")); /* no host port: Marathon sets none */
    assert_int_equal(t->container->docker->n_port_mappings, 2); /* udp + tcp of 31030 */
    assert_int_equal(res_get(t, "ports")->ranges->n_range, 1);
    assert_int_equal(res_get(t, "ports")->ranges->range[0]->begin, 31030);
    assert_int_equal(res_get(t, "ports")->ranges->range[0]->end, 31030);
    agora_task_free(t);
    app_free(app);
}

static void test_health_port_from_port_index(void **state)
{
    struct app_spec *app = app_new("/web");
    const uint64_t host[] = { 31005, 31002 };
    struct taskinfo_args a = args_for(app, host, 2, NULL, 0);
    struct app_health_check *hc;
    Mesos__V1__TaskInfo *t;

    (void)state;
    app_add_port(app, 0, 0, 10000, "http", "tcp");
    app_add_port(app, 0, 0, 10001, "admin", "tcp");
    hc = app_add_hc(app, APP_HC_HTTP);
    hc->port_index = 1;
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_non_null(t->health_check);
    assert_int_equal(t->health_check->type, MESOS__V1__HEALTH_CHECK__TYPE__HTTP);
    assert_non_null(t->health_check->http);
    assert_int_equal(t->health_check->http->port, 31002);
    assert_string_equal(t->health_check->http->path, "/health");
    assert_null(t->health_check->http->scheme);
    assert_true(t->health_check->has_delay_seconds);
    assert_true(t->health_check->delay_seconds == 15);
    assert_true(t->health_check->interval_seconds == 60);
    assert_true(t->health_check->timeout_seconds == 20);
    assert_int_equal(t->health_check->consecutive_failures, 3);
    assert_true(t->health_check->grace_period_seconds == 300);
    agora_task_free(t);

    /* MESOS_HTTPS: https, default path "/" */
    hc->protocol = APP_HC_MESOS_HTTPS;
    free(hc->path);
    hc->path = NULL;
    hc->port_index = 0;
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_int_equal(t->health_check->http->port, 31005);
    assert_string_equal(t->health_check->http->scheme, "https");
    assert_string_equal(t->health_check->http->path, "/");
    agora_task_free(t);

    /* TCP with an explicit port: as given */
    hc->protocol = APP_HC_MESOS_TCP;
    hc->port_index = -1;
    hc->port = 8081;
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_int_equal(t->health_check->type, MESOS__V1__HEALTH_CHECK__TYPE__TCP);
    assert_int_equal(t->health_check->tcp->port, 8081);
    assert_null(t->health_check->http);
    agora_task_free(t);

    /* A portIndex past the ports: inconsistent input */
    hc->protocol = APP_HC_TCP;
    hc->port = 0;
    hc->port_index = 2;
    assert_null(taskinfo_build(&a));
    app_free(app);
}

/* BRIDGE: the container port, which the slave maps to the published host
 * port (dk_health_port); a host port could match another mapping's
 * container port and be mistranslated. */
static void test_health_port_bridge(void **state)
{
    struct app_spec *app = bridge_app();
    const uint64_t host[] = { 31010, 31011 };
    struct taskinfo_args a = args_for(app, host, 2, NULL, 0);
    struct app_health_check *hc;
    Mesos__V1__TaskInfo *t;

    (void)state;
    hc = app_add_hc(app, APP_HC_MESOS_HTTP);
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_int_equal(t->health_check->http->port, 80);
    agora_task_free(t);
    hc->port_index = 1; /* containerPort 0: the host port is the container port */
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_int_equal(t->health_check->http->port, 31011);
    agora_task_free(t);
    app_free(app);
}

static void test_command_health_check(void **state)
{
    struct app_spec *app = app_new("/web");
    struct taskinfo_args a = args_for(app, NULL, 0, NULL, 0);
    struct app_health_check *hc;
    Mesos__V1__TaskInfo *t;

    (void)state;
    hc = app_add_hc(app, APP_HC_COMMAND);
    hc->command = xstrdup("curl -fs http://127.0.0.1:$PORT0/");
    hc->max_failures = 0; /* never kill */
    hc->interval = 5;
    hc->delay = 1;
    hc->grace_period = 30.5;
    /* a second check does not reach the TaskInfo (Mesos takes one) */
    app_add_hc(app, APP_HC_TCP)->port_index = 7;
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_non_null(t->health_check);
    assert_int_equal(t->health_check->type, MESOS__V1__HEALTH_CHECK__TYPE__COMMAND);
    assert_non_null(t->health_check->command);
    assert_true(t->health_check->command->shell);
    assert_string_equal(t->health_check->command->value, "curl -fs http://127.0.0.1:$PORT0/");
    assert_null(t->health_check->http);
    assert_null(t->health_check->tcp);
    assert_true(t->health_check->has_consecutive_failures);
    assert_int_equal(t->health_check->consecutive_failures, 0);
    assert_true(t->health_check->interval_seconds == 5);
    assert_true(t->health_check->delay_seconds == 1);
    assert_true(t->health_check->grace_period_seconds == 30.5);
    agora_task_free(t);
    app_free(app);
}

static void test_resources_with_role(void **state)
{
    struct app_spec *app = app_new("/web");
    const uint64_t host[] = { 31007, 31005, 31006 };
    struct taskinfo_args a = args_for(app, host, 3, NULL, 0);
    const Mesos__V1__Resource *r;
    Mesos__V1__TaskInfo *t;
    const char *names[] = { "cpus", "mem", "disk", "gpus", "ports" };

    (void)state;
    app->cpus = 0.1;
    app->mem = 1e7;
    app->disk = 512;
    app->gpus = 1;
    app_add_port(app, 0, 0, 0, NULL, "tcp");
    app_add_port(app, 0, 0, 0, NULL, "tcp");
    app_add_port(app, 0, 0, 0, NULL, "tcp");
    a.role = "pacer";
    t = taskinfo_build(&a);
    assert_non_null(t);
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        r = res_get(t, names[i]);
        if (!r)
            fail_msg("resource %s missing", names[i]);
        assert_string_equal(res_role(r), "pacer");
    }
    assert_true(res_get(t, "cpus")->scalar->value == 0.1);
    assert_true(res_get(t, "mem")->scalar->value == 1e7);
    assert_true(res_get(t, "disk")->scalar->value == 512);
    assert_true(res_get(t, "gpus")->scalar->value == 1);
    r = res_get(t, "ports");
    assert_int_equal(r->ranges->n_range, 1);
    assert_int_equal(r->ranges->range[0]->begin, 31005);
    assert_int_equal(r->ranges->range[0]->end, 31007);
    assert_env(t, "PORTS", "31007,31005,31006"); /* app order, not sorted */
    assert_env(t, "MARATHON_APP_RESOURCE_CPUS", "0.1");
    assert_env(t, "MARATHON_APP_RESOURCE_MEM", "1.0E7");
    assert_env(t, "MARATHON_APP_RESOURCE_DISK", "512.0");
    assert_env(t, "MARATHON_APP_RESOURCE_GPUS", "1");
    agora_task_free(t);

    /* Unreserved: "*", and no disk or gpus resource when 0 */
    app->disk = 0;
    app->gpus = 0;
    app->mem = 0.001;
    a.role = "*";
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_string_equal(res_role(res_get(t, "cpus")), "*");
    assert_string_equal(res_role(res_get(t, "ports")), "*");
    assert_null(res_get(t, "disk"));
    assert_null(res_get(t, "gpus"));
    assert_env(t, "MARATHON_APP_RESOURCE_MEM", "0.001");
    agora_task_free(t);
    app_free(app);
}

static void test_kill_grace_period(void **state)
{
    struct app_spec *app = app_new("/web");
    struct taskinfo_args a = args_for(app, NULL, 0, NULL, 0);
    Mesos__V1__TaskInfo *t;

    (void)state;
    app->kill_grace_period = 3.5;
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_non_null(t->kill_policy);
    assert_non_null(t->kill_policy->grace_period);
    assert_int_equal(t->kill_policy->grace_period->nanoseconds, 3500000000LL);
    agora_task_free(t);
    app->kill_grace_period = 0;
    t = taskinfo_build(&a);
    assert_non_null(t);
    assert_null(t->kill_policy);
    agora_task_free(t);
    app_free(app);
}

static void test_inconsistent_input(void **state)
{
    struct app_spec *app = app_new("/web");
    const uint64_t host[] = { 31000, 31001 };
    struct taskinfo_args a = args_for(app, host, 2, NULL, 0);

    (void)state;
    app_add_port(app, 0, 0, 0, NULL, "tcp");
    assert_null(taskinfo_build(&a)); /* a host port too many */
    a.nhost_ports = 1;
    a.task_id = "";
    assert_null(taskinfo_build(&a));
    a.task_id = "t";
    a.nhost_ports = 0;
    assert_null(taskinfo_build(&a)); /* one too few */
    assert_null(taskinfo_build(NULL));
    app_free(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_env_two_named_host_ports),
        cmocka_unit_test(test_env_dynamic_requested_port),
        cmocka_unit_test(test_label_env),
        cmocka_unit_test(test_cmd_vs_args),
        cmocka_unit_test(test_docker_bridge_port_mappings),
        cmocka_unit_test(test_docker_host_network),
        cmocka_unit_test(test_container_network_without_host_port),
        cmocka_unit_test(test_health_port_from_port_index),
        cmocka_unit_test(test_health_port_bridge),
        cmocka_unit_test(test_command_health_check),
        cmocka_unit_test(test_resources_with_role),
        cmocka_unit_test(test_kill_grace_period),
        cmocka_unit_test(test_inconsistent_input),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
