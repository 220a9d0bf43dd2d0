/*
 * test_docker_spec: slave/docker_spec.c — the TaskInfo -> container-create
 * translation: command forms, environment, labels, limits, HOST / BRIDGE /
 * NONE networks and port mappings, volumes, docker parameters, and the
 * errors (naming the field) for bad input. TaskInfos are written as Mesos
 * JSON and decoded with pbjson, as a scheduler would send them.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "docker_spec.h"
#include "pbjson.h"

static const struct docker_spec_ctx ctx = {
    .task_id = "t1",
    .framework_id = "fw1",
    .agent_id = "ag1",
    .container_id = "c1",
    .hostname = "host1",
    .sandbox = "/sb",
    .publish_ip = "127.0.0.1",
};

#define RES                                                                                     \
    "\"resources\": [{\"name\": \"cpus\", \"type\": \"SCALAR\", \"scalar\": {\"value\": 0.5}}," \
    "{\"name\": \"mem\", \"type\": \"SCALAR\", \"scalar\": {\"value\": 16}},"                   \
    "{\"name\": \"ports\", \"type\": \"RANGES\", \"ranges\": {\"range\": [{\"begin\": 31000, "  \
    "\"end\": 31001}]}}]"

static Mesos__V1__TaskInfo *task(const char *container, const char *command)
{
    char *text, *err = NULL;
    ProtobufCMessage *m;

    if (asprintf(&text,
                 "{\"name\": \"t\", \"task_id\": {\"value\": \"t1\"}, \"agent_id\": {\"value\": "
                 "\"ag1\"}, " RES ", \"container\": {\"type\": \"DOCKER\", %s}%s%s}",
                 container, command ? ", \"command\": " : "", command ? command : "") < 0)
        fail();
    m = pbjson_decode_string(&mesos__v1__task_info__descriptor, text, strlen(text), &err);
    if (m == NULL)
        fail_msg("%s: %s", text, err);
    free(text);
    return (Mesos__V1__TaskInfo *)m;
}

/* Create body for container/command, or NULL with *err. */
static json_t *create(const char *container, const char *command, char **err)
{
    Mesos__V1__TaskInfo *t = task(container, command);
    json_t *body = NULL;

    *err = NULL;
    if (docker_spec_check(t, err) == 0 && docker_spec_create(t, &ctx, &body, err) < 0)
        body = NULL;
    protobuf_c_message_free_unpacked(&t->base, NULL);
    return body;
}

static bool has_string(json_t *arr, const char *s)
{
    size_t i;
    json_t *v;

    json_array_foreach(arr, i, v) if (json_is_string(v) &&
                                      strcmp(json_string_value(v), s) == 0) return true;
    return false;
}

static const char *str(json_t *o, const char *path1, const char *path2)
{
    json_t *v = json_object_get(o, path1);
    if (path2)
        v = json_object_get(v, path2);
    return json_string_value(v);
}

static void expect_error(const char *container, const char *command, const char *needle)
{
    char *err;
    json_t *b = create(container, command, &err);

    assert_null(b);
    assert_non_null(err);
    if (strstr(err, needle) == NULL)
        fail_msg("'%s' does not contain '%s'", err, needle);
    free(err);
}

static void test_host_shell_env_labels_limits(void **state)
{
    char *err;
    json_t *b = create("\"docker\": {\"image\": \"busybox:1\"}",
                       "{\"value\": \"echo hi\", \"environment\": {\"variables\": [{\"name\": "
                       "\"A\", \"value\": \"b\"}]}}",
                       &err);
    json_t *hc, *env;

    assert_non_null(b);
    hc = json_object_get(b, "HostConfig");
    env = json_object_get(b, "Env");
    assert_string_equal(str(b, "Image", NULL), "busybox:1");
    assert_string_equal(json_string_value(json_array_get(json_object_get(b, "Entrypoint"), 0)),
                        "/bin/sh");
    assert_string_equal(json_string_value(json_array_get(json_object_get(b, "Cmd"), 0)), "echo hi");
    assert_true(has_string(env, "MESOS_SANDBOX=/mnt/mesos/sandbox"));
    assert_true(has_string(env, "MESOS_TASK_ID=t1"));
    assert_true(has_string(env, "MESOS_FRAMEWORK_ID=fw1"));
    assert_true(has_string(env, "MESOS_AGENT_ID=ag1"));
    assert_true(has_string(env, "MESOS_CONTAINER_ID=c1"));
    assert_true(has_string(env, "HOST=host1"));
    assert_true(has_string(env, "PORT0=31000"));
    assert_true(has_string(env, "PORT1=31001"));
    assert_true(has_string(env, "PORT=31000"));
    assert_true(has_string(env, "PORTS=31000,31001"));
    assert_true(has_string(env, "A=b"));
    assert_string_equal(str(b, "Labels", "agora.task_id"), "t1");
    assert_string_equal(str(b, "Labels", "agora.framework_id"), "fw1");
    assert_string_equal(str(b, "Labels", "agora.slave_id"), "ag1");
    assert_string_equal(str(b, "Labels", "agora.container_id"), "c1");
    assert_int_equal(json_integer_value(json_object_get(hc, "CpuShares")), 512);
    assert_int_equal(json_integer_value(json_object_get(hc, "NanoCpus")), 500000000);
    /* 16 MB asked, at least 32 MB given (as Mesos) */
    assert_int_equal(json_integer_value(json_object_get(hc, "Memory")), 32 << 20);
    assert_int_equal(json_integer_value(json_object_get(hc, "MemorySwap")), 32 << 20);
    assert_string_equal(str(hc, "NetworkMode", NULL), "host");
    assert_true(has_string(json_object_get(hc, "Binds"), "/sb:/mnt/mesos/sandbox:rw"));
    json_decref(b);
}

static void test_command_forms(void **state)
{
    char *err;
    json_t *b, *cmd;

    b = create("\"docker\": {\"image\": \"busybox\"}",
               "{\"shell\": false, \"value\": \"ls\", \"arguments\": [\"-l\", \"/\"]}", &err);
    assert_non_null(b);
    assert_null(json_object_get(b, "Entrypoint"));
    cmd = json_object_get(b, "Cmd");
    assert_int_equal(json_array_size(cmd), 3);
    assert_string_equal(json_string_value(json_array_get(cmd, 2)), "/");
    json_decref(b);
    b = create("\"docker\": {\"image\": \"busybox\"}", NULL, &err);
    assert_non_null(b);
    assert_null(json_object_get(b, "Cmd")); /* the image's own command */
    json_decref(b);
    expect_error("\"docker\": {\"image\": \"busybox\"}", "{\"shell\": true}", "command.value");
}

static void test_bridge_ports(void **state)
{
    char *err;
    json_t *b = create("\"docker\": {\"image\": \"busybox\", \"network\": \"BRIDGE\", "
                       "\"port_mappings\": [{\"host_port\": 31001, \"container_port\": 80}, "
                       "{\"host_port\": 31000, \"container_port\": 53, \"protocol\": \"udp\"}]}, "
                       "\"hostname\": \"inside\"",
                       "{\"value\": \"true\"}", &err);
    json_t *hc, *bind;

    assert_non_null(b);
    hc = json_object_get(b, "HostConfig");
    assert_string_equal(str(hc, "NetworkMode", NULL), "bridge");
    assert_non_null(json_object_get(json_object_get(b, "ExposedPorts"), "80/tcp"));
    assert_non_null(json_object_get(json_object_get(b, "ExposedPorts"), "53/udp"));
    bind = json_array_get(json_object_get(json_object_get(hc, "PortBindings"), "80/tcp"), 0);
    assert_string_equal(str(bind, "HostIp", NULL), "127.0.0.1");
    assert_string_equal(str(bind, "HostPort", NULL), "31001");
    assert_string_equal(str(b, "Hostname", NULL), "inside");
    json_decref(b);

    expect_error("\"docker\": {\"image\": \"busybox\", \"network\": \"BRIDGE\", "
                 "\"port_mappings\": [{\"host_port\": 40000, \"container_port\": 80}]}",
                 NULL, "port_mappings[0].host_port");
    expect_error("\"docker\": {\"image\": \"busybox\", \"network\": \"BRIDGE\", "
                 "\"port_mappings\": [{\"host_port\": 31000, \"container_port\": 80, "
                 "\"protocol\": \"sctp\"}]}",
                 NULL, "port_mappings[0].protocol");
    expect_error("\"docker\": {\"image\": \"busybox\", \"network\": \"BRIDGE\", "
                 "\"port_mappings\": [{\"host_port\": 31000, \"container_port\": 0}]}",
                 NULL, "port_mappings[0].container_port");
    expect_error("\"docker\": {\"image\": \"busybox\", \"network\": \"HOST\", "
                 "\"port_mappings\": [{\"host_port\": 31000, \"container_port\": 80}]}",
                 NULL, "only with BRIDGE");
    expect_error("\"docker\": {\"image\": \"busybox\", \"network\": \"USER\"}", NULL,
                 "container.docker.network");
}

static void test_none_network(void **state)
{
    char *err;
    json_t *b = create("\"docker\": {\"image\": \"busybox\", \"network\": \"NONE\"}", NULL, &err);

    assert_non_null(b);
    assert_string_equal(str(json_object_get(b, "HostConfig"), "NetworkMode", NULL), "none");
    json_decref(b);
}

static void test_volumes(void **state)
{
    char *err;
    json_t *b = create(
        "\"docker\": {\"image\": \"busybox\"}, \"volumes\": ["
        "{\"container_path\": \"/data\", \"host_path\": \"/srv/x/../data/\", \"mode\": \"RO\"},"
        "{\"container_path\": \"rel\", \"host_path\": \"cache\", \"mode\": \"RW\"},"
        "{\"container_path\": \"/v\", \"mode\": \"RW\", \"source\": {\"type\": \"DOCKER_VOLUME\", "
        "\"docker_volume\": {\"name\": \"vol1\"}}},"
        "{\"container_path\": \"/s\", \"mode\": \"RW\", \"source\": {\"type\": \"SANDBOX_PATH\", "
        "\"sandbox_path\": {\"type\": \"SELF\", \"path\": \"sub\"}}}]",
        NULL, &err);
    json_t *binds;

    assert_non_null(b);
    binds = json_object_get(json_object_get(b, "HostConfig"), "Binds");
    assert_true(has_string(binds, "/srv/data:/data:ro"));
    assert_true(has_string(binds, "/sb/cache:/mnt/mesos/sandbox/rel:rw"));
    assert_true(has_string(binds, "vol1:/v:rw"));
    assert_true(has_string(binds, "/sb/sub:/s:rw"));
    json_decref(b);

    expect_error("\"docker\": {\"image\": \"busybox\"}, \"volumes\": [{\"mode\": \"RW\", "
                 "\"host_path\": \"/x\", \"container_path\": \"\"}]",
                 NULL, "volumes[0].container_path");
    expect_error("\"docker\": {\"image\": \"busybox\"}, \"volumes\": [{\"container_path\": "
                 "\"/s\", \"mode\": \"RW\", \"source\": {\"type\": \"SANDBOX_PATH\", "
                 "\"sandbox_path\": {\"type\": \"SELF\", \"path\": \"../etc\"}}}]",
                 NULL, "sandbox_path.path");
    expect_error("\"docker\": {\"image\": \"busybox\"}, \"volumes\": [{\"container_path\": "
                 "\"/v\", \"mode\": \"RW\", \"source\": {\"type\": \"DOCKER_VOLUME\", "
                 "\"docker_volume\": {\"name\": \"v\", \"driver\": \"nfs\"}}}]",
                 NULL, "docker_volume.driver");
    expect_error("\"docker\": {\"image\": \"busybox\"}, \"volumes\": [{\"container_path\": "
                 "\"/v\", \"mode\": \"RW\"}]",
                 NULL, "volumes[0]");
}

static void test_parameters(void **state)
{
    char *err;
    json_t *b = create("\"docker\": {\"image\": \"busybox\", \"parameters\": ["
                       "{\"key\": \"label\", \"value\": \"team=x\"},"
                       "{\"key\": \"env\", \"value\": \"E=1\"},"
                       "{\"key\": \"workdir\", \"value\": \"/w\"},"
                       "{\"key\": \"user\", \"value\": \"nobody\"},"
                       "{\"key\": \"cap-add\", \"value\": \"NET_ADMIN\"},"
                       "{\"key\": \"log-opt\", \"value\": \"max-size=1m\"},"
                       "{\"key\": \"sysctl\", \"value\": \"net.core.somaxconn=1024\"},"
                       "{\"key\": \"tmpfs\", \"value\": \"/run:size=1m\"},"
                       "{\"key\": \"pids-limit\", \"value\": \"64\"},"
                       "{\"key\": \"read-only\", \"value\": \"true\"}]}",
                       NULL, &err);
    json_t *hc;

    assert_non_null(b);
    hc = json_object_get(b, "HostConfig");
    assert_string_equal(str(b, "Labels", "team"), "x");
    assert_true(has_string(json_object_get(b, "Env"), "E=1"));
    assert_string_equal(str(b, "WorkingDir", NULL), "/w");
    assert_string_equal(str(b, "User", NULL), "nobody");
    assert_true(has_string(json_object_get(hc, "CapAdd"), "NET_ADMIN"));
    assert_string_equal(str(json_object_get(hc, "LogConfig"), "Config", "max-size"), "1m");
    assert_string_equal(str(hc, "Sysctls", "net.core.somaxconn"), "1024");
    assert_string_equal(str(hc, "Tmpfs", "/run"), "size=1m");
    assert_int_equal(json_integer_value(json_object_get(hc, "PidsLimit")), 64);
    assert_true(json_is_true(json_object_get(hc, "ReadonlyRootfs")));
    json_decref(b);

    expect_error("\"docker\": {\"image\": \"busybox\", \"parameters\": [{\"key\": \"privileged\", "
                 "\"value\": \"true\"}]}",
                 NULL, "container.docker.parameters[0]: 'privileged' is not supported");
    expect_error("\"docker\": {\"image\": \"busybox\", \"parameters\": [{\"key\": \"env\", "
                 "\"value\": \"a\"}, {\"key\": \"label\", \"value\": \"agora.task_id=x\"}]}",
                 NULL, "parameters[1]: label 'agora.task_id' is reserved");
    expect_error("\"docker\": {\"image\": \"busybox\", \"parameters\": [{\"key\": "
                 "\"pids-limit\", \"value\": \"many\"}]}",
                 NULL, "pids-limit 'many' is not a number");
    expect_error("\"docker\": {\"image\": \"busybox\", \"parameters\": [{\"key\": \"log-opt\", "
                 "\"value\": \"novalue\"}]}",
                 NULL, "log-opt 'novalue'");
}

/* --switch_user: the task user's ids as User and GroupAdd; a `user`
 * parameter of the task still wins. */
static void test_switch_user(void **state)
{
    static const unsigned groups[] = { 65534, 100 };
    struct docker_spec_ctx c = ctx;
    Mesos__V1__TaskInfo *t = task("\"docker\": {\"image\": \"busybox\"}", NULL);
    json_t *b = NULL, *ga;
    char *err = NULL;

    c.user = "65534:65534";
    c.groups = groups;
    c.ngroups = 2;
    assert_int_equal(docker_spec_create(t, &c, &b, &err), 0);
    assert_string_equal(str(b, "User", NULL), "65534:65534");
    ga = json_object_get(json_object_get(b, "HostConfig"), "GroupAdd");
    assert_int_equal(json_array_size(ga), 2);
    assert_true(has_string(ga, "65534") && has_string(ga, "100"));
    json_decref(b);
    protobuf_c_message_free_unpacked(&t->base, NULL);

    t = task("\"docker\": {\"image\": \"busybox\", \"parameters\": [{\"key\": \"user\", "
             "\"value\": \"0\"}]}",
             NULL);
    assert_int_equal(docker_spec_create(t, &c, &b, &err), 0);
    assert_string_equal(str(b, "User", NULL), "0");
    json_decref(b);
    protobuf_c_message_free_unpacked(&t->base, NULL);

    /* Without a user: the image's. */
    t = task("\"docker\": {\"image\": \"busybox\"}", NULL);
    assert_int_equal(docker_spec_create(t, &ctx, &b, &err), 0);
    assert_null(json_object_get(b, "User"));
    json_decref(b);
    protobuf_c_message_free_unpacked(&t->base, NULL);
}

static void test_bad_input(void **state)
{
    expect_error("\"docker\": {\"image\": \"bad image!\"}", NULL, "docker.image");
    expect_error("\"docker\": {\"image\": \"\"}", NULL, "docker.image");
    expect_error("\"docker\": {\"image\": \"busybox\"}",
                 "{\"value\": \"x\", \"environment\": {\"variables\": [{\"name\": \"A=B\", "
                 "\"value\": \"c\"}]}}",
                 "environment.variables[0].name");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_host_shell_env_labels_limits),
        cmocka_unit_test(test_command_forms),
        cmocka_unit_test(test_bridge_ports),
        cmocka_unit_test(test_none_network),
        cmocka_unit_test(test_volumes),
        cmocka_unit_test(test_parameters),
        cmocka_unit_test(test_switch_user),
        cmocka_unit_test(test_bad_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
