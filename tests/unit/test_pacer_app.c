/*
 * test_pacer_app: frameworks/pacer/app.c — Marathon 1.10's AppDefinition:
 * defaults, every invalid field reported at its path, the deprecated
 * shapes (ports, uris, docker.network, docker.portMappings) translated,
 * id resolution, the typed view, merge and the restart decision; and the
 * canonical JSON accepted by python3-marathon's models when they are
 * installed (Debian's python3-marathon).
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
#include <unistd.h>

#include "app.h"

#define VERSION "2020-11-05T10:00:00.000Z"

static json_t *parse(const char *text)
{
    json_error_t e;
    json_t *j = json_loads(text, 0, &e);

    if (j == NULL)
        fail_msg("bad test JSON %s: %s", text, e.text);
    return j;
}

/* Canonical JSON of text (base "/"), failing the test on errors. */
static json_t *norm_ok_base(const char *text, const char *base)
{
    json_t *in = parse(text), *details = NULL;
    json_t *out = app_normalize(in, base, NULL, VERSION, &details);

    if (out == NULL) {
        char *d = json_dumps(details, 0);
        fail_msg("%s refused: %s", text, d);
    }
    assert_null(details);
    json_decref(in);
    return out;
}

static json_t *norm_ok(const char *text)
{
    return norm_ok_base(text, NULL);
}

/* The details array for invalid text. */
static json_t *norm_bad(const char *text)
{
    json_t *in = parse(text), *details = NULL;
    json_t *out = app_normalize(in, NULL, NULL, VERSION, &details);

    if (out != NULL) {
        char *d = json_dumps(out, 0);
        fail_msg("%s accepted: %s", text, d);
    }
    assert_non_null(details);
    assert_true(json_is_array(details));
    assert_true(json_array_size(details) > 0);
    json_decref(in);
    return details;
}

/* Does details hold path, with msg among its errors (any when NULL)? */
static bool has_err(const json_t *details, const char *path, const char *msg)
{
    for (size_t i = 0; i < json_array_size(details); i++) {
        const json_t *e = json_array_get(details, i);
        const json_t *errs = json_object_get(e, "errors");
        if (strcmp(json_string_value(json_object_get(e, "path")), path) != 0)
            continue;
        assert_true(json_array_size(errs) > 0);
        if (msg == NULL)
            return true;
        for (size_t j = 0; j < json_array_size(errs); j++)
            if (strcmp(json_string_value(json_array_get(errs, j)), msg) == 0)
                return true;
    }
    return false;
}

static void expect_err(const char *text, const char *path, const char *msg)
{
    json_t *d = norm_bad(text);

    if (!has_err(d, path, msg)) {
        char *s = json_dumps(d, 0);
        fail_msg("%s: no %s at %s in %s", text, msg ? msg : "error", path, s);
    }
    json_decref(d);
}

static const char *sget(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static json_int_t iget(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    assert_true(json_is_integer(v));
    return json_integer_value(v);
}

static double dget(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

static void assert_json(const json_t *got, const char *want)
{
    json_t *w = parse(want);

    if (!json_equal(got, w)) {
        char *g = json_dumps(got, JSON_SORT_KEYS);
        fail_msg("got %s, want %s", g, want);
    }
    json_decref(w);
}

/* ------------------------------------------------------------------ */

static void test_defaults(void **state)
{
    (void)state;
    json_t *a = norm_ok("{\"id\": \"web\", \"cmd\": \"sleep 100\", \"tasks\": [], "
                        "\"tasksRunning\": 3, \"bogus\": 1, \"version\": \"1999\"}");
    static const char *const keys[] = {
        "id",
        "cmd",
        "instances",
        "cpus",
        "mem",
        "disk",
        "gpus",
        "executor",
        "labels",
        "role",
        "networks",
        "portDefinitions",
        "requirePorts",
        "upgradeStrategy",
        "backoffSeconds",
        "backoffFactor",
        "maxLaunchDelaySeconds",
        "killSelection",
        "unreachableStrategy",
        "version",
    };

    assert_string_equal(sget(a, "id"), "/web");
    assert_string_equal(sget(a, "cmd"), "sleep 100");
    assert_string_equal(sget(a, "version"), VERSION);
    assert_int_equal(iget(a, "instances"), 1);
    assert_true(dget(a, "cpus") == 1.0);
    assert_true(dget(a, "mem") == 128.0);
    assert_true(dget(a, "disk") == 0.0);
    assert_int_equal(iget(a, "gpus"), 0);
    assert_string_equal(sget(a, "executor"), "");
    assert_json(json_object_get(a, "labels"), "{}");
    assert_string_equal(sget(a, "role"), "*");
    assert_json(json_object_get(a, "networks"), "[{\"mode\": \"host\"}]");
    assert_json(json_object_get(a, "portDefinitions"),
                "[{\"port\": 0, \"protocol\": \"tcp\", \"name\": \"default\"}]");
    assert_true(json_is_false(json_object_get(a, "requirePorts")));
    assert_json(json_object_get(a, "upgradeStrategy"),
                "{\"minimumHealthCapacity\": 1.0, \"maximumOverCapacity\": 1.0}");
    assert_int_equal(iget(a, "backoffSeconds"), 1);
    assert_true(dget(a, "backoffFactor") == 1.15);
    assert_int_equal(iget(a, "maxLaunchDelaySeconds"), 300);
    assert_string_equal(sget(a, "killSelection"), "YOUNGEST_FIRST");
    assert_json(json_object_get(a, "unreachableStrategy"),
                "{\"inactiveAfterSeconds\": 0, \"expungeAfterSeconds\": 0}");
    /* exactly these keys: unknown and runtime keys are dropped, empty
     * collections left out */
    assert_int_equal(json_object_size(a), sizeof(keys) / sizeof(keys[0]));
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (json_object_get(a, keys[i]) == NULL)
            fail_msg("missing %s", keys[i]);
    json_decref(a);
}

static void test_full_app(void **state)
{
    (void)state;
    json_t *a = norm_ok(
        "{\"id\": \"/prod/web\", \"args\": [\"/bin/srv\", \"-p\"], \"cpus\": 0.5, \"mem\": 64,"
        " \"instances\": 3, \"user\": \"nobody\", \"env\": {\"A\": \"1\"},"
        " \"labels\": {\"HAPROXY_GROUP\": \"external\"},"
        " \"constraints\": [[\"hostname\", \"UNIQUE\"]],"
        " \"portDefinitions\": [{\"port\": 10001, \"name\": \"http\", \"protocol\": \"TCP\"},"
        "                       {\"port\": 0, \"protocol\": \"udp\", \"labels\": {\"x\": \"y\"}}],"
        " \"requirePorts\": true,"
        " \"healthChecks\": [{\"protocol\": \"http\", \"path\": \"/health\"},"
        "                    {\"protocol\": \"TCP\", \"portIndex\": 1, \"timeoutSeconds\": 5},"
        "                    {\"command\": {\"value\": \"true\"}}],"
        " \"upgradeStrategy\": {\"minimumHealthCapacity\": 0.5, \"maximumOverCapacity\": 0},"
        " \"backoffSeconds\": 2, \"backoffFactor\": 2, \"maxLaunchDelaySeconds\": 60,"
        " \"killSelection\": \"oldest_first\", \"unreachableStrategy\": \"disabled\","
        " \"taskKillGracePeriodSeconds\": 7, \"dependencies\": [\"db\", \"../shared/cache\"],"
        " \"acceptedResourceRoles\": [\"*\"],"
        " \"fetch\": [{\"uri\": \"http://h/a.tgz\"}, {\"uri\": \"http://h/b\", \"executable\": "
        "true,"
        " \"destPath\": \"b.bin\"}]}");
    json_t *hcs = json_object_get(a, "healthChecks");

    assert_json(json_object_get(a, "portDefinitions"),
                "[{\"port\": 10001, \"name\": \"http\", \"protocol\": \"tcp\"},"
                " {\"port\": 0, \"protocol\": \"udp\", \"labels\": {\"x\": \"y\"}}]");
    assert_json(json_array_get(hcs, 0),
                "{\"protocol\": \"HTTP\", \"path\": \"/health\", \"portIndex\": 0,"
                " \"gracePeriodSeconds\": 300, \"intervalSeconds\": 60, \"timeoutSeconds\": 20,"
                " \"maxConsecutiveFailures\": 3, \"delaySeconds\": 15, \"ignoreHttp1xx\": false,"
                " \"ipProtocol\": \"IPv4\"}");
    assert_json(json_array_get(hcs, 1),
                "{\"protocol\": \"TCP\", \"portIndex\": 1, \"gracePeriodSeconds\": 300,"
                " \"intervalSeconds\": 60, \"timeoutSeconds\": 5, \"maxConsecutiveFailures\": 3,"
                " \"delaySeconds\": 15, \"ipProtocol\": \"IPv4\"}");
    assert_json(json_array_get(hcs, 2),
                "{\"protocol\": \"COMMAND\", \"command\": {\"value\": \"true\"},"
                " \"gracePeriodSeconds\": 300, \"intervalSeconds\": 60, \"timeoutSeconds\": 20,"
                " \"maxConsecutiveFailures\": 3, \"delaySeconds\": 15, \"ipProtocol\": \"IPv4\"}");
    assert_json(json_object_get(a, "dependencies"), "[\"/prod/db\", \"/shared/cache\"]");
    assert_string_equal(sget(a, "killSelection"), "OLDEST_FIRST");
    assert_string_equal(sget(a, "unreachableStrategy"), "disabled");
    assert_json(json_object_get(a, "fetch"),
                "[{\"uri\": \"http://h/a.tgz\", \"extract\": true, \"executable\": false,"
                " \"cache\": false}, {\"uri\": \"http://h/b\", \"extract\": true,"
                " \"executable\": true, \"cache\": false, \"destPath\": \"b.bin\"}]");
    assert_true(json_is_true(json_object_get(a, "requirePorts")));
    assert_int_equal(iget(a, "taskKillGracePeriodSeconds"), 7);
    assert_json(json_object_get(a, "acceptedResourceRoles"), "[\"*\"]");
    assert_null(json_object_get(a, "cmd"));
    json_decref(a);
}

static void test_invalid_fields(void **state)
{
    (void)state;
    static const struct {
        const char *json, *path, *msg;
    } cases[] = {
        { "{\"id\": \"a\", \"cmd\": \"x\", \"cpus\": -1}", "/cpus", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"cpus\": 0}", "/cpus", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"cpus\": \"1\"}", "/cpus", "error.expected.jsnumber" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"mem\": -5}", "/mem", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"disk\": -0.5}", "/disk", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"gpus\": -1}", "/gpus", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"instances\": -1}", "/instances", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"instances\": 1.5}", "/instances",
          "error.expected.int" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"instances\": true}", "/instances",
          "error.expected.jsnumber" },
        { "{\"id\": \"a\", \"cmd\": 5}", "/cmd", "error.expected.jsstring" },
        { "{\"id\": \"a\", \"cmd\": \"\"}", "/cmd", "error.minLength" },
        { "{\"id\": \"a\", \"args\": [\"x\", 1]}", "/args(1)", "error.expected.jsstring" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"env\": {\"A\": 1}}", "/env/A",
          "error.expected.jsstring" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"env\": {\"S\": {\"secret\": \"s\"}}}", "/env/S",
          "Feature secrets is not enabled. Enable with --enable_features secrets)" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"env\": []}", "/env", "error.expected.jsobject" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"labels\": {\"l\": 2}}", "/labels/l",
          "error.expected.jsstring" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"secrets\": {\"s\": {\"source\": \"x\"}}}", "/secrets",
          NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"constraints\": \"hostname\"}", "/constraints", NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"portDefinitions\": [{\"port\": 70000}]}",
          "/portDefinitions(0)/port", "error.max" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"portDefinitions\": [{\"port\": 1, \"protocol\": "
          "\"sctp\"}]}",
          "/portDefinitions(0)/protocol", "error.unknown.enum.literal" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"portDefinitions\": [{\"port\": 80}, {\"port\": 80}]}",
          "/portDefinitions", "Ports must be unique." },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"portDefinitions\": [{\"name\": \"a\"}, {\"name\": "
          "\"a\"}]}",
          "/portDefinitions", "Port names must be unique." },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"portDefinitions\": [{\"name\": \"A_b\"}]}",
          "/portDefinitions(0)/name", "error.pattern" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"ports\": [-1]}", "/ports(0)", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"ports\": [80, 80]}", "/", "ports must be unique" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"ports\": [80], \"portDefinitions\": [{\"port\": "
          "81}]}",
          "/", "cannot specify both ports and port definitions" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"networks\": [{\"mode\": \"container/bridge\"}],"
          " \"container\": {\"type\": \"DOCKER\", \"docker\": {\"image\": \"i\"}, "
          "\"portMappings\": [{\"containerPort\": 80, \"servicePort\": 10000},"
          " {\"containerPort\": 81, \"servicePort\": 10000}]}}",
          "/container/portMappings", "Service ports must be unique." },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"networks\": [{\"mode\": \"container/bridge\"}],"
          " \"container\": {\"type\": \"DOCKER\", \"docker\": {\"image\": \"i\"}, "
          "\"portMappings\": [{\"containerPort\": 80, \"hostPort\": 65536}]}}",
          "/container/portMappings(0)/hostPort", "error.max" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"upgradeStrategy\": {\"minimumHealthCapacity\": "
          "1.5}}",
          "/upgradeStrategy/minimumHealthCapacity", "error.max" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"upgradeStrategy\": {\"maximumOverCapacity\": -0.1}}",
          "/upgradeStrategy/maximumOverCapacity", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"upgradeStrategy\": 1}", "/upgradeStrategy",
          "error.expected.jsobject" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"backoffFactor\": 0.5}", "/backoffFactor",
          "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"backoffSeconds\": -1}", "/backoffSeconds",
          "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"maxLaunchDelaySeconds\": -1}",
          "/maxLaunchDelaySeconds", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"taskKillGracePeriodSeconds\": -1}",
          "/taskKillGracePeriodSeconds", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"killSelection\": \"RANDOM\"}", "/killSelection",
          "error.unknown.enum.literal" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"unreachableStrategy\": {\"inactiveAfterSeconds\": "
          "10, \"expungeAfterSeconds\": 5}}",
          "/unreachableStrategy/inactiveAfterSeconds",
          "inactiveAfterSeconds (10) must be less or equal to expungeAfterSeconds, which is 5" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"unreachableStrategy\": {\"expungeAfterSeconds\": "
          "-5}}",
          "/unreachableStrategy/expungeAfterSeconds", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"unreachableStrategy\": \"sometimes\"}",
          "/unreachableStrategy", NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"healthChecks\": [{\"portIndex\": 1}]}",
          "/healthChecks(0)",
          "Health check port indices must address an element of the ports array or container "
          "port mappings." },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"portDefinitions\": [], \"healthChecks\": [{}]}",
          "/healthChecks(0)",
          "Health check port indices must address an element of the ports array or container "
          "port mappings." },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"healthChecks\": [{\"protocol\": \"UDP\"}]}",
          "/healthChecks(0)/protocol", "error.unknown.enum.literal" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"healthChecks\": [{\"intervalSeconds\": -1}]}",
          "/healthChecks(0)/intervalSeconds", "error.min" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"healthChecks\": [{\"protocol\": \"COMMAND\"}]}",
          "/healthChecks(0)/command", NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"healthChecks\": [{\"protocol\": \"MESOS_TCP\"},"
          " {\"protocol\": \"MESOS_HTTP\"}]}",
          "/", "AppDefinition can contain at most one Mesos health check" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"healthChecks\": {}}", "/healthChecks",
          "error.expected.jsarray" },
        { "{\"id\": \"a\"}", "/",
          "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'." },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"args\": [\"y\"]}", "/",
          "AppDefinition must either contain one of 'cmd' or 'args', and/or a 'container'." },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"container\": \"docker\"}", "/container",
          "error.expected.jsobject" },
        { "{\"id\": \"a\", \"container\": {\"type\": \"DOCKER\"}}", "/container/docker",
          "not defined" },
        { "{\"id\": \"a\", \"container\": {\"type\": \"DOCKER\", \"docker\": {}}}",
          "/container/docker/image", "error.path.missing" },
        { "{\"id\": \"a\", \"container\": {\"type\": \"DOCKER\", \"docker\": {\"image\": \"\"}}}",
          "/container/docker/image", "error.minLength" },
        { "{\"id\": \"a\", \"container\": {\"type\": \"LXC\"}}", "/container/type",
          "error.unknown.enum.literal" },
        { "{\"id\": \"a\", \"container\": {\"docker\": {\"image\": \"i\", \"privileged\": "
          "true}}}",
          "/container/docker/privileged", NULL },
        { "{\"id\": \"a\", \"container\": {\"docker\": {\"image\": \"i\", \"parameters\": "
          "[{\"key\": \"\", \"value\": \"v\"}]}}}",
          "/container/docker/parameters(0)/key", "error.minLength" },
        { "{\"id\": \"a\", \"container\": {\"docker\": {\"image\": \"i\"}, \"volumes\": "
          "[{\"containerPath\": \"/d\", \"hostPath\": \"/h\", \"mode\": \"RX\"}]}}",
          "/container/volumes(0)/mode", "error.unknown.enum.literal" },
        { "{\"id\": \"a\", \"container\": {\"docker\": {\"image\": \"i\"}, \"volumes\": "
          "[{\"containerPath\": \"/d\", \"persistent\": {\"size\": 10}}]}}",
          "/container/volumes(0)", NULL },
        { "{\"id\": \"a\", \"container\": {\"docker\": {\"image\": \"i\", \"network\": "
          "\"BRIDGE\"}}, \"networks\": [{\"mode\": \"host\"}]}",
          "/", "must not specify both container.docker.network and networks" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"networks\": [{\"mode\": \"bridge\"}]}",
          "/networks(0)/mode", "error.unknown.enum.literal" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"networks\": [{\"mode\": \"host\", \"name\": "
          "\"n\"}]}",
          "/networks", "Host networks may not have names or labels" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"networks\": [{\"mode\": \"host\"}, {\"mode\": "
          "\"container/bridge\"}]}",
          "/networks", NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"networks\": [{}]}", "/networks",
          "Network name must be specified when container network is selected." },
        { "{\"id\": \"A\", \"cmd\": \"x\"}", "/id", NULL },
        { "{\"id\": \"a_b\", \"cmd\": \"x\"}", "/id", NULL },
        { "{\"id\": \"\", \"cmd\": \"x\"}", "/id", NULL },
        { "{\"id\": \"/\", \"cmd\": \"x\"}", "/id", "Path must contain at least one path element" },
        { "{\"id\": \"/a/restart\", \"cmd\": \"x\"}", "/id", NULL },
        { "{\"id\": 7, \"cmd\": \"x\"}", "/id", "error.expected.jsstring" },
        { "{\"cmd\": \"x\"}", "/id", "error.path.missing" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"dependencies\": [\"B\"]}", "/dependencies(0)", NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"fetch\": [{\"uri\": \"\"}]}", "/fetch(0)/uri",
          "error.minLength" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"fetch\": [{}]}", "/fetch(0)/uri",
          "error.path.missing" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"fetch\": [{\"uri\": \"u\"}], \"uris\": [\"v\"]}",
          "/uris", "may not be set in conjunction with fetch" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"acceptedResourceRoles\": []}",
          "/acceptedResourceRoles", NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"acceptedResourceRoles\": [\"prod\"]}",
          "/acceptedResourceRoles", NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"residency\": {}}", "/residency", NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"readinessChecks\": [{}]}", "/readinessChecks", NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"executor\": \"/opt/my-executor\"}", "/executor",
          NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"gpus\": 1}", "/", NULL },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"requirePorts\": \"yes\"}", "/requirePorts",
          "error.expected.jsboolean" },
        { "{\"id\": \"a\", \"cmd\": \"x\", \"instances\": 2, \"labels\": "
          "{\"MARATHON_SINGLE_INSTANCE_APP\": \"true\"}}",
          "/", "Single instance app may only have one instance" },
        { "[1, 2]", "/", "error.expected.jsobject" },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
        expect_err(cases[i].json, cases[i].path, cases[i].msg);
}

static void test_all_errors_reported(void **state)
{
    (void)state;
    json_t *d = norm_bad("{\"id\": \"/Bad\", \"cpus\": -1, \"mem\": \"lots\", \"instances\": -2,"
                         " \"env\": {\"A\": 1, \"B\": \"ok\", \"C\": false},"
                         " \"healthChecks\": [{\"portIndex\": 4}], \"backoffFactor\": 0}");

    assert_true(has_err(d, "/id", NULL));
    assert_true(has_err(d, "/cpus", "error.min"));
    assert_true(has_err(d, "/mem", "error.expected.jsnumber"));
    assert_true(has_err(d, "/instances", "error.min"));
    assert_true(has_err(d, "/env/A", NULL));
    assert_true(has_err(d, "/env/C", NULL));
    assert_false(has_err(d, "/env/B", NULL));
    assert_true(has_err(d, "/healthChecks(0)", NULL));
    assert_true(has_err(d, "/backoffFactor", "error.min"));
    assert_true(has_err(d, "/", NULL)); /* neither cmd nor args */
    assert_int_equal(json_array_size(d), 9);
    /* every entry is {"path": string, "errors": [string...]} */
    for (size_t i = 0; i < json_array_size(d); i++) {
        json_t *e = json_array_get(d, i);
        assert_int_equal(json_object_size(e), 2);
        assert_true(json_is_string(json_object_get(e, "path")));
        assert_true(json_is_string(json_array_get(json_object_get(e, "errors"), 0)));
    }
    json_decref(d);

    /* no details pointer: still refused, nothing leaks */
    json_t *in = parse("{\"cpus\": -1}");
    assert_null(app_normalize(in, NULL, NULL, VERSION, NULL));
    json_decref(in);
}

static void test_legacy_ports_uris(void **state)
{
    (void)state;
    json_t *a = norm_ok("{\"id\": \"a\", \"cmd\": \"x\", \"ports\": [0, 8080],"
                        " \"uris\": [\"http://h/a.tar.gz\", \"http://h/b.jar\"]}");

    assert_null(json_object_get(a, "ports"));
    assert_null(json_object_get(a, "uris"));
    assert_json(json_object_get(a, "portDefinitions"),
                "[{\"port\": 0, \"protocol\": \"tcp\"}, {\"port\": 8080, \"protocol\": \"tcp\"}]");
    assert_json(json_object_get(a, "fetch"),
                "[{\"uri\": \"http://h/a.tar.gz\", \"extract\": true, \"executable\": false,"
                " \"cache\": false}, {\"uri\": \"http://h/b.jar\", \"extract\": false,"
                " \"executable\": false, \"cache\": false}]");
    json_decref(a);

    /* ports equal to portDefinitions are fine; [] means no ports */
    a = norm_ok("{\"id\": \"a\", \"cmd\": \"x\", \"ports\": [80], \"portDefinitions\": "
                "[{\"port\": 80, \"name\": \"web\"}]}");
    assert_json(json_object_get(a, "portDefinitions"),
                "[{\"port\": 80, \"protocol\": \"tcp\", \"name\": \"web\"}]");
    json_decref(a);
    a = norm_ok("{\"id\": \"a\", \"cmd\": \"x\", \"portDefinitions\": []}");
    assert_json(json_object_get(a, "portDefinitions"), "[]");
    json_decref(a);
}

static void test_legacy_docker_network(void **state)
{
    (void)state;
    /* the pre-1.5 BRIDGE shape: docker.network + docker.portMappings */
    json_t *a = norm_ok("{\"id\": \"a\", \"container\": {\"type\": \"DOCKER\", \"docker\": "
                        "{\"image\": \"nginx\", \"network\": \"BRIDGE\", \"portMappings\": "
                        "[{\"containerPort\": 80, \"protocol\": \"tcp\"}]}},"
                        " \"requirePorts\": true, \"healthChecks\": [{\"protocol\": \"HTTP\"}]}");
    json_t *ct = json_object_get(a, "container");

    assert_json(json_object_get(a, "networks"), "[{\"mode\": \"container/bridge\"}]");
    assert_null(json_object_get(a, "portDefinitions"));
    assert_true(json_is_false(json_object_get(a, "requirePorts")));
    assert_json(ct, "{\"type\": \"DOCKER\", \"docker\": {\"image\": \"nginx\", "
                    "\"forcePullImage\": false, \"privileged\": false, \"parameters\": []},"
                    " \"volumes\": [], \"portMappings\": [{\"containerPort\": 80, "
                    "\"hostPort\": 0, \"servicePort\": 0, \"protocol\": \"tcp\", "
                    "\"labels\": {}}]}");
    assert_int_equal(iget(json_array_get(json_object_get(a, "healthChecks"), 0), "portIndex"), 0);
    json_decref(a);

    /* HOST: host networking, the default port definition, no mappings */
    a = norm_ok("{\"id\": \"a\", \"container\": {\"docker\": {\"image\": \"nginx\", "
                "\"network\": \"HOST\", \"portMappings\": [{\"containerPort\": 80}]}}}");
    assert_json(json_object_get(a, "networks"), "[{\"mode\": \"host\"}]");
    assert_null(json_object_get(json_object_get(a, "container"), "portMappings"));
    assert_json(json_object_get(a, "portDefinitions"),
                "[{\"port\": 0, \"protocol\": \"tcp\", \"name\": \"default\"}]");
    json_decref(a);

    /* 1.10 shape: networks bridge, no mappings given: one default mapping */
    a = norm_ok("{\"id\": \"a\", \"networks\": [{\"mode\": \"container/bridge\"}],"
                " \"container\": {\"type\": \"DOCKER\", \"docker\": {\"image\": \"i\"}}}");
    assert_json(json_object_get(json_object_get(a, "container"), "portMappings"),
                "[{\"containerPort\": 0, \"hostPort\": 0, \"servicePort\": 0, \"protocol\": "
                "\"tcp\", \"name\": \"default\", \"labels\": {}}]");
    json_decref(a);

    /* a named container network: no host port unless asked for */
    a = norm_ok("{\"id\": \"a\", \"networks\": [{\"name\": \"dev\"}],"
                " \"container\": {\"type\": \"DOCKER\", \"docker\": {\"image\": \"i\"},"
                " \"portMappings\": [{\"containerPort\": 80, \"name\": \"http\"}]}}");
    assert_json(json_object_get(a, "networks"), "[{\"mode\": \"container\", \"name\": \"dev\"}]");
    assert_json(json_object_get(json_object_get(a, "container"), "portMappings"),
                "[{\"containerPort\": 80, \"servicePort\": 0, \"protocol\": \"tcp\", "
                "\"name\": \"http\", \"labels\": {}}]");
    json_decref(a);
}

static void test_docker_without_cmd(void **state)
{
    (void)state;
    json_t *a = norm_ok("{\"id\": \"/web\", \"container\": {\"type\": \"DOCKER\", \"docker\": "
                        "{\"image\": \"nginx:1.19\", \"forcePullImage\": true, \"parameters\": "
                        "[{\"key\": \"label\", \"value\": \"x=y\"}]}, \"volumes\": "
                        "[{\"containerPath\": \"/data\", \"hostPath\": \"/srv\", \"mode\": "
                        "\"RO\"}]}}");
    json_t *ct = json_object_get(a, "container");

    assert_null(json_object_get(a, "cmd"));
    assert_string_equal(sget(ct, "type"), "DOCKER");
    assert_json(json_object_get(ct, "volumes"),
                "[{\"containerPath\": \"/data\", \"hostPath\": \"/srv\", \"mode\": \"RO\"}]");
    assert_true(json_is_true(json_object_get(json_object_get(ct, "docker"), "forcePullImage")));
    json_decref(a);

    /* a MESOS container without image needs no cmd either */
    a = norm_ok("{\"id\": \"m\", \"container\": {\"type\": \"MESOS\"}}");
    assert_json(json_object_get(a, "container"), "{\"type\": \"MESOS\", \"volumes\": []}");
    json_decref(a);
}

static void test_id_resolution(void **state)
{
    (void)state;
    static const struct {
        const char *base, *raw;
        bool root;
        const char *want; /* NULL: invalid */
    } cases[] = {
        { "/g", "a/b", false, "/g/a/b" },
        { "/g", "/a/b", false, "/a/b" },
        { "/g/h", "../x", false, "/g/x" },
        { "/g", "../x", false, "/x" },
        { "/g", "../../x", false, "/x" },
        { "/", "./a/./b/", false, "/a/b" },
        { "/", "//a//b", false, "/a/b" },
        { NULL, "x", false, "/x" },
        { "/", "a.b-c/d0", false, "/a.b-c/d0" },
        { "/", "/", true, "/" },
        { "/g", "..", true, "/" },
        { "/", "/", false, NULL },
        { "/", "", false, NULL },
        { "/", "", true, NULL },
        { "/", "/A", false, NULL },
        { "/", "a_b", false, NULL },
        { "/", "-a", false, NULL },
        { "/", "a-", false, NULL },
        { "/", "a..b", false, NULL },
        { "/", "a/.b", false, NULL },
        { "/", "a/restart", false, NULL },
        { "/", "a/tasks", true, NULL },
        { "/g", "..", false, NULL },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *err = NULL;
        char *id = appid_resolve(cases[i].base, cases[i].raw, cases[i].root, &err);
        if (cases[i].want == NULL) {
            if (id != NULL)
                fail_msg("'%s' against %s: got %s, want invalid", cases[i].raw, cases[i].base, id);
            assert_non_null(err);
            assert_non_null(strstr(err, "is not a valid path: "));
            free(err);
        } else {
            if (id == NULL)
                fail_msg("'%s' against %s: %s", cases[i].raw, cases[i].base, err);
            assert_string_equal(id, cases[i].want);
            assert_null(err);
            free(id);
        }
    }

    /* the id in a body is relative to the base; id_hint fills a missing id */
    json_t *a = norm_ok_base("{\"id\": \"web\", \"cmd\": \"x\"}", "/prod");
    assert_string_equal(sget(a, "id"), "/prod/web");
    json_decref(a);
    json_t *in = parse("{\"cmd\": \"x\"}"), *d = NULL;
    a = app_normalize(in, NULL, "/from/url", VERSION, &d);
    assert_non_null(a);
    assert_string_equal(sget(a, "id"), "/from/url");
    json_decref(a);
    json_decref(in);
}

static void test_spec_round_trip(void **state)
{
    (void)state;
    json_t *a = norm_ok(
        "{\"id\": \"/prod/web\", \"cmd\": \"./srv\", \"cpus\": 0.25, \"mem\": 32, \"disk\": 10,"
        " \"instances\": 4, \"user\": \"www\", \"env\": {\"K\": \"V\"},"
        " \"labels\": {\"L\": \"1\"}, \"constraints\": [[\"rack\", \"GROUP_BY\", \"2\"]],"
        " \"networks\": [{\"mode\": \"container/bridge\"}],"
        " \"container\": {\"type\": \"DOCKER\", \"docker\": {\"image\": \"srv:1\","
        " \"forcePullImage\": true, \"parameters\": [{\"key\": \"k\", \"value\": \"v\"}]},"
        " \"volumes\": [{\"containerPath\": \"/c\", \"hostPath\": \"/h\", \"mode\": \"RO\"}],"
        " \"portMappings\": [{\"containerPort\": 80, \"servicePort\": 10005, \"name\": \"http\"},"
        " {\"containerPort\": 53, \"hostPort\": 31053, \"protocol\": \"udp\"}]},"
        " \"healthChecks\": [{\"protocol\": \"HTTP\", \"portIndex\": 0, \"intervalSeconds\": 5,"
        " \"maxConsecutiveFailures\": 0}, {\"protocol\": \"TCP\", \"port\": 9000},"
        " {\"protocol\": \"COMMAND\", \"command\": {\"value\": \"test -f /ok\"}}],"
        " \"upgradeStrategy\": {\"minimumHealthCapacity\": 0.5, \"maximumOverCapacity\": 0.25},"
        " \"backoffSeconds\": 3, \"backoffFactor\": 1.5, \"maxLaunchDelaySeconds\": 100,"
        " \"killSelection\": \"OLDEST_FIRST\", \"unreachableStrategy\": {\"inactiveAfterSeconds\":"
        " 30, \"expungeAfterSeconds\": 60}, \"taskKillGracePeriodSeconds\": 9,"
        " \"dependencies\": [\"/db\"], \"acceptedResourceRoles\": [\"*\"],"
        " \"uris\": [\"http://h/x.zip\"]}");
    struct app_spec s;
    char *err = NULL;

    assert_int_equal(app_spec_from_json(a, &s, &err), 0);
    assert_null(err);
    assert_string_equal(s.id, "/prod/web");
    assert_string_equal(s.version, VERSION);
    assert_string_equal(s.cmd, "./srv");
    assert_null(s.args);
    assert_string_equal(s.user, "www");
    assert_true(s.cpus == 0.25 && s.mem == 32 && s.disk == 10 && s.gpus == 0);
    assert_int_equal(s.instances, 4);
    assert_string_equal(json_string_value(json_object_get(s.env, "K")), "V");
    assert_string_equal(json_string_value(json_object_get(s.labels, "L")), "1");
    assert_int_equal(json_array_size(s.constraints), 1);
    assert_int_equal(s.container, APP_CONTAINER_DOCKER);
    assert_string_equal(s.image, "srv:1");
    assert_true(s.force_pull);
    assert_int_equal(json_array_size(s.docker_parameters), 1);
    assert_int_equal(s.network, APP_NET_BRIDGE);
    assert_true(s.port_mappings);
    assert_false(s.require_ports);
    assert_int_equal(s.nports, 2);
    assert_int_equal(s.ports[0].container_port, 80);
    assert_int_equal(s.ports[0].host_port, 0);
    assert_int_equal(s.ports[0].service_port, 10005);
    assert_string_equal(s.ports[0].name, "http");
    assert_string_equal(s.ports[0].protocol, "tcp");
    assert_int_equal(s.ports[1].host_port, 31053);
    assert_null(s.ports[1].name);
    assert_string_equal(s.ports[1].protocol, "udp");
    assert_int_equal(s.nvolumes, 1);
    assert_string_equal(s.volumes[0].container_path, "/c");
    assert_string_equal(s.volumes[0].host_path, "/h");
    assert_true(s.volumes[0].read_only);
    assert_int_equal(s.nhealth_checks, 3);
    assert_int_equal(s.health_checks[0].protocol, APP_HC_HTTP);
    assert_int_equal(s.health_checks[0].port_index, 0);
    assert_string_equal(s.health_checks[0].path, "/");
    assert_true(s.health_checks[0].interval == 5);
    assert_int_equal(s.health_checks[0].max_failures, 0);
    assert_true(s.health_checks[0].grace_period == 300 && s.health_checks[0].timeout == 20 &&
                s.health_checks[0].delay == 15);
    assert_int_equal(s.health_checks[1].protocol, APP_HC_TCP);
    assert_int_equal(s.health_checks[1].port_index, -1);
    assert_int_equal(s.health_checks[1].port, 9000);
    assert_null(s.health_checks[1].path);
    assert_int_equal(s.health_checks[2].protocol, APP_HC_COMMAND);
    assert_string_equal(s.health_checks[2].command, "test -f /ok");
    assert_true(s.min_health_capacity == 0.5 && s.max_over_capacity == 0.25);
    assert_true(s.backoff_seconds == 3 && s.backoff_factor == 1.5 && s.max_launch_delay == 100);
    assert_int_equal(s.kill_selection, APP_KILL_OLDEST_FIRST);
    assert_false(s.unreachable_disabled);
    assert_true(s.unreachable_inactive_after == 30 && s.unreachable_expunge_after == 60);
    assert_true(s.kill_grace_period == 9);
    assert_int_equal(s.ndependencies, 1);
    assert_string_equal(s.dependencies[0], "/db");
    assert_null(s.dependencies[1]);
    assert_int_equal(s.naccepted_roles, 1);
    assert_string_equal(s.accepted_roles[0], "*");
    assert_int_equal(s.nuris, 1);
    assert_string_equal(s.uris[0], "http://h/x.zip");
    assert_null(s.uris[1]);
    app_spec_clear(&s);
    assert_null(s.id);
    app_spec_clear(&s); /* twice is harmless */
    json_decref(a);

    /* defaults: host networking, portDefinitions, args form */
    a = norm_ok("{\"id\": \"b\", \"args\": [\"sleep\", \"9\"], \"unreachableStrategy\": "
                "\"disabled\"}");
    assert_int_equal(app_spec_from_json(a, &s, &err), 0);
    assert_null(s.cmd);
    assert_int_equal(s.nargs, 2);
    assert_string_equal(s.args[1], "9");
    assert_null(s.args[2]);
    assert_int_equal(s.container, APP_CONTAINER_NONE);
    assert_int_equal(s.network, APP_NET_HOST);
    assert_false(s.port_mappings);
    assert_int_equal(s.nports, 1);
    assert_int_equal(s.ports[0].service_port, 0);
    assert_int_equal(s.ports[0].container_port, 0);
    assert_string_equal(s.ports[0].name, "default");
    assert_true(s.cpus == 1 && s.mem == 128);
    assert_int_equal(s.instances, 1);
    assert_true(s.unreachable_disabled);
    assert_null(s.accepted_roles);
    assert_int_equal(s.ndependencies, 0);
    assert_null(s.dependencies[0]);
    assert_int_equal(s.nuris, 0);
    assert_true(s.backoff_factor == 1.15 && s.max_launch_delay == 300);
    app_spec_clear(&s);
    json_decref(a);

    /* not canonical: -1 with a message, nothing leaks */
    json_t *bad = parse("{\"id\": 5}");
    assert_int_equal(app_spec_from_json(bad, &s, &err), -1);
    assert_non_null(err);
    free(err);
    json_decref(bad);
}

static void test_merge(void **state)
{
    (void)state;
    json_t *cur = norm_ok("{\"id\": \"/a\", \"cmd\": \"x\", \"instances\": 2, \"labels\": "
                          "{\"k\": \"v\"}, \"fetch\": [{\"uri\": \"http://h/f\"}]}");
    json_t *patch = parse("{\"id\": \"/other\", \"version\": \"2001-01-01T00:00:00.000Z\","
                          " \"instances\": 5, \"labels\": {\"n\": \"m\"}, \"uris\": [\"u\"]}");
    json_t *m = app_merge(cur, patch), *d = NULL, *n2;

    assert_string_equal(sget(m, "id"), "/a");
    assert_string_equal(sget(m, "version"), VERSION);
    assert_int_equal(iget(m, "instances"), 5);
    assert_json(json_object_get(m, "labels"), "{\"n\": \"m\"}"); /* replaced, not merged */
    assert_string_equal(sget(m, "cmd"), "x");
    /* legacy uris replace the current fetch rather than clash with it */
    assert_null(json_object_get(m, "fetch"));
    n2 = app_normalize(m, NULL, NULL, "2020-12-01T00:00:00.000Z", &d);
    assert_non_null(n2);
    assert_string_equal(sget(json_array_get(json_object_get(n2, "fetch"), 0), "uri"), "u");
    json_decref(n2);
    json_decref(m);
    json_decref(patch);

    /* switching command form */
    patch = parse("{\"args\": [\"y\"]}");
    m = app_merge(cur, patch);
    assert_null(json_object_get(m, "cmd"));
    n2 = app_normalize(m, NULL, NULL, VERSION, &d);
    assert_non_null(n2);
    json_decref(n2);
    json_decref(m);
    json_decref(patch);

    /* not an object: a copy of current */
    patch = json_integer(3);
    m = app_merge(cur, patch);
    assert_true(json_equal(m, cur));
    json_decref(m);
    json_decref(patch);
    json_decref(cur);
}

static void test_needs_restart(void **state)
{
    (void)state;
    json_t *a = norm_ok("{\"id\": \"/a\", \"cmd\": \"x\", \"instances\": 2}");
    json_t *scaled, *changed, *patch;
    json_t *m = app_merge(a, (patch = parse("{\"instances\": 7}")));
    scaled = app_normalize(m, NULL, NULL, "2021-01-01T00:00:00.000Z", NULL);
    json_decref(m);
    json_decref(patch);
    assert_non_null(scaled);
    assert_false(app_needs_restart(a, scaled));
    assert_false(app_needs_restart(a, a));

    m = app_merge(a, (patch = parse("{\"cmd\": \"y\"}")));
    changed = app_normalize(m, NULL, NULL, VERSION, NULL);
    json_decref(m);
    json_decref(patch);
    assert_true(app_needs_restart(a, changed));
    json_decref(changed);

    m = app_merge(a, (patch = parse("{\"labels\": {\"x\": \"1\"}}")));
    changed = app_normalize(m, NULL, NULL, VERSION, NULL);
    json_decref(m);
    json_decref(patch);
    assert_true(app_needs_restart(a, changed));
    json_decref(changed);
    json_decref(scaled);
    json_decref(a);
}

/* The canonical JSON must build python3-marathon's MarathonApp (which
 * raises TypeError on a key it does not know). Skipped without it. */
static void test_python_marathon_accepts(void **state)
{
    (void)state;
    static const char *const apps[] = {
        "{\"id\": \"web\", \"cmd\": \"sleep 100\"}",
        "{\"id\": \"/g/d\", \"container\": {\"docker\": {\"image\": \"nginx\", \"network\": "
        "\"BRIDGE\", \"portMappings\": [{\"containerPort\": 80}]}, \"volumes\": "
        "[{\"containerPath\": \"/c\", \"hostPath\": \"/h\", \"mode\": \"RW\"}]},"
        " \"healthChecks\": [{\"protocol\": \"HTTP\", \"path\": \"/\"}, {\"protocol\": \"TCP\"},"
        " {\"protocol\": \"COMMAND\", \"command\": {\"value\": \"true\"}},"
        " {\"protocol\": \"MESOS_HTTP\"}],"
        " \"constraints\": [[\"hostname\", \"unique\"], [\"rack\", \"CLUSTER\", \"r1\"]],"
        " \"env\": {\"A\": \"b\"}, \"labels\": {\"HAPROXY_GROUP\": \"external\"},"
        " \"dependencies\": [\"x\"], \"uris\": [\"http://h/a.tgz\"],"
        " \"acceptedResourceRoles\": [\"*\"], \"taskKillGracePeriodSeconds\": 3,"
        " \"unreachableStrategy\": \"disabled\", \"user\": \"root\"}",
        "{\"id\": \"n\", \"args\": [\"a\"], \"networks\": [{\"mode\": \"container\", \"name\": "
        "\"dev\", \"labels\": {\"a\": \"b\"}}], \"container\": {\"type\": \"MESOS\"},"
        " \"portDefinitions\": [{\"port\": 0}, {\"port\": 0}], \"fetch\": [{\"uri\": \"f\","
        " \"destPath\": \"g\"}]}",
    };
    const char *py = "/usr/bin/python3";

    if (access(py, X_OK) != 0 ||
        access("/usr/lib/python3/dist-packages/marathon/models/app.py", R_OK) != 0)
        skip();
    for (size_t i = 0; i < sizeof(apps) / sizeof(apps[0]); i++) {
        json_t *a = norm_ok(apps[i]);
        char path[] = "/tmp/test_pacer_app_XXXXXX";
        int fd = mkstemp(path);
        char *cmd;
        int rc;

        assert_true(fd >= 0);
        assert_int_equal(json_dumpfd(a, fd, 0), 0);
        close(fd);
        if (asprintf(&cmd,
                     "%s -c 'import json, sys; from marathon.models import MarathonApp; "
                     "MarathonApp.from_json(json.load(open(sys.argv[1])))' %s",
                     py, path) < 0)
            fail();
        rc = system(cmd);
        unlink(path);
        free(cmd);
        if (rc != 0) {
            char *s = json_dumps(a, 0);
            fail_msg("python3-marathon refused %s", s);
        }
        json_decref(a);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),           cmocka_unit_test(test_full_app),
        cmocka_unit_test(test_invalid_fields),     cmocka_unit_test(test_all_errors_reported),
        cmocka_unit_test(test_legacy_ports_uris),  cmocka_unit_test(test_legacy_docker_network),
        cmocka_unit_test(test_docker_without_cmd), cmocka_unit_test(test_id_resolution),
        cmocka_unit_test(test_spec_round_trip),    cmocka_unit_test(test_merge),
        cmocka_unit_test(test_needs_restart),      cmocka_unit_test(test_python_marathon_accepts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
