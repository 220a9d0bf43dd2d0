/*
 * test_host_policy: common/host_policy.c — path normalisation and the
 * component-wise "under" test, capability names, the host requests found
 * in a TaskInfo (privileged, cap-add, volumes and volume parameters,
 * security-opt), the slave's allow-lists and their messages naming the
 * field and the flag; and the ACL actions that use them (acls.c).
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

#include "acls.h"
#include "host_policy.h"
#include "pbjson.h"

static void expect_norm(const char *in, const char *want)
{
    char *out = host_path_normalize(in);

    if (want == NULL) {
        assert_null(out);
        return;
    }
    assert_non_null(out);
    if (strcmp(out, want) != 0)
        fail_msg("normalize('%s') = '%s', want '%s'", in, out, want);
    free(out);
}

static void test_normalize(void **state)
{
    (void)state;
    expect_norm("/", "/");
    expect_norm("//", "/");
    expect_norm("/srv/data", "/srv/data");
    expect_norm("/srv//data/", "/srv/data");
    expect_norm("/srv/./data/.", "/srv/data");
    expect_norm("/srv/data/..", "/srv");
    expect_norm("/srv/data/../..", "/");
    expect_norm("/srv/data/../../../..", "/"); /* never above / */
    expect_norm("/srv/../etc/passwd", "/etc/passwd");
    expect_norm("/srv/..data", "/srv/..data"); /* a name, not .. */
    expect_norm("/a/b/../../c/./d/", "/c/d");
    expect_norm("srv/data", NULL);
    expect_norm("", NULL);
    expect_norm(NULL, NULL);
}

static void test_under(void **state)
{
    (void)state;
    assert_true(host_path_under("/srv/data", "/srv"));
    assert_true(host_path_under("/srv", "/srv"));
    assert_true(host_path_under("/srv/", "/srv/"));
    assert_true(host_path_under("/srv/a/b", "/srv/a"));
    assert_false(host_path_under("/srvx", "/srv"));
    assert_false(host_path_under("/sr", "/srv"));
    assert_false(host_path_under("/", "/srv"));
    assert_false(host_path_under("/srv/../etc", "/srv"));
    assert_false(host_path_under("/srv/data/../../etc", "/srv/data"));
    assert_true(host_path_under("/etc", "/"));
    assert_true(host_path_under("/srv/x/../data", "/srv/data"));
    assert_false(host_path_under("relative", "/"));
}

static void test_capability_names(void **state)
{
    char *c;

    (void)state;
    c = host_capability_canonical("cap_net_admin");
    assert_string_equal(c, "NET_ADMIN");
    free(c);
    c = host_capability_canonical("SYS_TIME");
    assert_string_equal(c, "SYS_TIME");
    free(c);
}

static Mesos__V1__TaskInfo *task(const char *container)
{
    char *text, *err = NULL;
    ProtobufCMessage *m;

    if (asprintf(&text,
                 "{\"name\": \"t\", \"task_id\": {\"value\": \"t1\"}, \"agent_id\": {\"value\": "
                 "\"ag1\"}, \"container\": {\"type\": \"DOCKER\", %s}}",
                 container) < 0)
        fail();
    m = pbjson_decode_string(&mesos__v1__task_info__descriptor, text, strlen(text), &err);
    if (m == NULL)
        fail_msg("%s: %s", text, err);
    free(text);
    return (Mesos__V1__TaskInfo *)m;
}

static void test_scan(void **state)
{
    Mesos__V1__TaskInfo *t =
        task("\"docker\": {\"image\": \"busybox\", \"privileged\": true, \"parameters\": ["
             "{\"key\": \"env\", \"value\": \"A=1\"},"
             "{\"key\": \"cap-add\", \"value\": \"cap_sys_admin\"},"
             "{\"key\": \"volume\", \"value\": \"/srv/../:/host:ro\"},"
             "{\"key\": \"v\", \"value\": \"named:/data\"},"
             "{\"key\": \"security-opt\", \"value\": \"seccomp=unconfined\"},"
             "{\"key\": \"security-opt\", \"value\": \"no-new-privileges\"}]},"
             "\"volumes\": ["
             "{\"container_path\": \"/a\", \"host_path\": \"/var/log/\", \"mode\": \"RO\"},"
             "{\"container_path\": \"/b\", \"host_path\": \"cache\", \"mode\": \"RW\"},"
             "{\"container_path\": \"/c\", \"mode\": \"RW\", \"source\": {\"type\": \"HOST_PATH\","
             " \"host_path\": {\"path\": \"/etc\"}}},"
             "{\"container_path\": \"/d\", \"mode\": \"RW\", \"source\": {\"type\": "
             "\"DOCKER_VOLUME\", \"docker_volume\": {\"name\": \"v\"}}}]");
    struct host_asks a;
    char *err = NULL;

    (void)state;
    assert_int_equal(host_asks_scan(t, &a, &err), 0);
    assert_int_equal(a.n, 6);
    assert_int_equal(a.v[0].kind, HOST_ASK_PRIVILEGED);
    assert_string_equal(a.v[0].field, "container.docker.privileged");
    assert_int_equal(a.v[1].kind, HOST_ASK_CAPABILITY);
    assert_string_equal(a.v[1].field, "container.docker.parameters[1]");
    assert_string_equal(a.v[1].value, "SYS_ADMIN");
    assert_int_equal(a.v[2].kind, HOST_ASK_HOST_PATH);
    assert_string_equal(a.v[2].field, "container.docker.parameters[2]");
    assert_string_equal(a.v[2].value, "/");
    assert_int_equal(a.v[3].kind, HOST_ASK_PRIVILEGED);
    assert_string_equal(a.v[3].value, "security-opt=seccomp=unconfined");
    assert_string_equal(a.v[4].field, "container.volumes[0].host_path");
    assert_string_equal(a.v[4].value, "/var/log");
    assert_string_equal(a.v[5].field, "container.volumes[2].source.host_path.path");
    assert_string_equal(a.v[5].value, "/etc");
    host_asks_cleanup(&a);
    protobuf_c_message_free_unpacked(&t->base, NULL);

    /* A plain task asks nothing. */
    t = task("\"docker\": {\"image\": \"busybox\"}");
    assert_int_equal(host_asks_scan(t, &a, &err), 0);
    assert_int_equal(a.n, 0);
    host_asks_cleanup(&a);
    protobuf_c_message_free_unpacked(&t->base, NULL);

    /* A relative host_path that climbs out of the sandbox. */
    t = task("\"docker\": {\"image\": \"busybox\"}, \"volumes\": [{\"container_path\": \"/x\", "
             "\"host_path\": \"a/../../..\", \"mode\": \"RW\"}]");
    assert_int_equal(host_asks_scan(t, &a, &err), -1);
    assert_non_null(strstr(err, "container.volumes[0].host_path: 'a/../../..' leaves the sandbox"));
    free(err);
    err = NULL;
    protobuf_c_message_free_unpacked(&t->base, NULL);

    /* ...but one that stays inside is fine. */
    t = task("\"docker\": {\"image\": \"busybox\"}, \"volumes\": [{\"container_path\": \"/x\", "
             "\"host_path\": \"a/../b\", \"mode\": \"RW\"}]");
    assert_int_equal(host_asks_scan(t, &a, &err), 0);
    assert_int_equal(a.n, 0);
    host_asks_cleanup(&a);
    protobuf_c_message_free_unpacked(&t->base, NULL);
}

static void expect_refused(const struct host_policy *p, enum host_ask_kind kind, const char *field,
                           const char *value, const char *needle)
{
    struct host_ask a = { kind, (char *)field, (char *)value };
    char *err = NULL;

    assert_false(host_policy_allows(p, &a, &err));
    assert_non_null(err);
    if (strstr(err, needle) == NULL)
        fail_msg("'%s' does not contain '%s'", err, needle);
    free(err);
}

static bool allows(const struct host_policy *p, enum host_ask_kind kind, const char *value)
{
    struct host_ask a = { kind, "f", (char *)value };
    char *err = NULL;
    bool ok = host_policy_allows(p, &a, &err);

    free(err);
    return ok;
}

static void test_policy(void **state)
{
    struct host_policy p;
    char *err = NULL;

    (void)state;
    /* The default slave: nothing. */
    assert_int_equal(host_policy_init(&p, false, NULL, NULL, &err), 0);
    expect_refused(&p, HOST_ASK_PRIVILEGED, "container.docker.privileged", "true",
                   "container.docker.privileged is not allowed on this slave "
                   "(--docker_allow_privileged)");
    expect_refused(&p, HOST_ASK_CAPABILITY, "container.docker.parameters[0]", "SYS_ADMIN",
                   "container.docker.parameters[0]: cap-add 'SYS_ADMIN' is not allowed on this "
                   "slave (--allowed_capabilities)");
    expect_refused(&p, HOST_ASK_HOST_PATH, "container.volumes[0].host_path", "/",
                   "container.volumes[0].host_path: host path '/' is not allowed on this slave "
                   "(--allowed_host_paths)");
    host_policy_cleanup(&p);

    assert_int_equal(host_policy_init(&p, true, " net_admin, CAP_SYS_TIME ,",
                                      "/srv/data/, /var/log/../tmp", &err),
                     0);
    assert_true(allows(&p, HOST_ASK_PRIVILEGED, "true"));
    assert_true(allows(&p, HOST_ASK_CAPABILITY, "NET_ADMIN"));
    assert_true(allows(&p, HOST_ASK_CAPABILITY, "SYS_TIME"));
    assert_false(allows(&p, HOST_ASK_CAPABILITY, "SYS_ADMIN"));
    assert_true(allows(&p, HOST_ASK_HOST_PATH, "/srv/data"));
    assert_true(allows(&p, HOST_ASK_HOST_PATH, "/srv/data/a"));
    assert_true(allows(&p, HOST_ASK_HOST_PATH, "/var/tmp/x"));
    assert_false(allows(&p, HOST_ASK_HOST_PATH, "/var/log"));
    assert_false(allows(&p, HOST_ASK_HOST_PATH, "/srv/database"));
    assert_false(allows(&p, HOST_ASK_HOST_PATH, "/"));
    host_policy_cleanup(&p);

    assert_int_equal(host_policy_init(&p, false, "ALL", "/", &err), 0);
    assert_true(allows(&p, HOST_ASK_CAPABILITY, "SYS_ADMIN"));
    assert_true(allows(&p, HOST_ASK_HOST_PATH, "/"));
    host_policy_cleanup(&p);

    assert_int_equal(host_policy_init(&p, false, NULL, "/srv,data", &err), -1);
    assert_string_equal(err, "--allowed_host_paths: 'data' is not an absolute path");
    free(err);
}

static void test_acl_actions(void **state)
{
    const char *text =
        "{\"permissive\": false,"
        " \"launch_privileged_containers\": [{\"principals\": {\"values\": [\"ops\"]}, "
        "\"users\": {\"values\": [\"root\"]}}],"
        " \"add_capabilities\": [{\"principals\": {\"values\": [\"net\"]}, "
        "\"capabilities\": {\"values\": [\"cap_net_admin\"]}}],"
        " \"mount_host_paths\": [{\"principals\": {\"values\": [\"logs\"]}, "
        "\"paths\": {\"values\": [\"/var/log\"]}}]}";
    char *err = NULL;
    struct acls *a = acls_parse(text, strlen(text), &err);

    (void)state;
    if (a == NULL)
        fail_msg("%s", err);
    assert_true(acls_allowed(a, ACL_LAUNCH_PRIVILEGED_CONTAINERS, "ops", "root"));
    assert_false(acls_allowed(a, ACL_LAUNCH_PRIVILEGED_CONTAINERS, "ops", "nobody"));
    assert_false(acls_allowed(a, ACL_LAUNCH_PRIVILEGED_CONTAINERS, "net", "root"));
    assert_true(acls_allowed(a, ACL_ADD_CAPABILITIES, "net", "NET_ADMIN"));
    assert_false(acls_allowed(a, ACL_ADD_CAPABILITIES, "net", "SYS_ADMIN"));
    assert_true(acls_allowed(a, ACL_MOUNT_HOST_PATHS, "logs", "/var/log/nginx"));
    assert_false(acls_allowed(a, ACL_MOUNT_HOST_PATHS, "logs", "/var/log/../../etc"));
    assert_false(acls_allowed(a, ACL_MOUNT_HOST_PATHS, "logs", "/var/logs"));
    assert_string_equal(acl_action_name(ACL_MOUNT_HOST_PATHS), "mount_host_paths");
    acls_free(a);

    text = "{\"add_capabilities\": [{\"principals\": {\"type\": \"ANY\"}, \"users\": {}}]}";
    assert_null(acls_parse(text, strlen(text), &err));
    assert_non_null(strstr(err, "add_capabilities[0]: unknown field 'users'"));
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_normalize),        cmocka_unit_test(test_under),
        cmocka_unit_test(test_capability_names), cmocka_unit_test(test_scan),
        cmocka_unit_test(test_policy),           cmocka_unit_test(test_acl_actions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
