/*
 * test_zk: common/zk.c pieces that need no server — zk:// URL parsing and
 * MasterInfo JSON -> leader address — plus a session to a port where no
 * ZooKeeper listens, which must stay CONNECTING without blocking the loop
 * and be freed cleanly. (The recipes run against a real ensemble in
 * tests/system/test_ha.py.)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "mem.h"
#include "detector.h"
#include "master_follow.h"
#include "zk.h"

static void test_parse_url(void **state)
{
    char *hosts = NULL, *path = NULL, *err = NULL;
    assert_int_equal(zk_parse_url("zk://h1:1,h2:2,h3:3/agora", &hosts, &path, &err), 0);
    assert_string_equal(hosts, "h1:1,h2:2,h3:3");
    assert_string_equal(path, "/agora");
    free(hosts);
    free(path);
    assert_int_equal(zk_parse_url("zk://127.0.0.1:2181/a/b/", &hosts, &path, &err), 0);
    assert_string_equal(path, "/a/b");
    free(hosts);
    free(path);

    static const char *bad[] = {
        "127.0.0.1:2181/agora", "zk://", "zk:///agora", "zk://h:1", "zk://h:1/",
        "zk://u:p@h:1/agora"
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        assert_int_equal(zk_parse_url(bad[i], &hosts, &path, &err), -1);
        assert_non_null(err);
        free(err);
    }
}

static void test_master_address(void **state)
{
    char *host = NULL, *err = NULL;
    int port = 0;
    const char *mesos = "{\"address\":{\"hostname\":\"m1\",\"ip\":\"10.0.0.1\",\"port\":5050},"
                        "\"hostname\":\"m1\",\"id\":\"x\",\"ip\":16777226,\"port\":5050}";
    assert_int_equal(zk_master_address(mesos, strlen(mesos), &host, &port, &err), 0);
    assert_string_equal(host, "10.0.0.1");
    assert_int_equal(port, 5050);
    free(host);

    /* A master listening on 0.0.0.0 is reached by its hostname. */
    const char *any = "{\"address\":{\"hostname\":\"m2\",\"ip\":\"0.0.0.0\",\"port\":5051}}";
    assert_int_equal(zk_master_address(any, strlen(any), &host, &port, &err), 0);
    assert_string_equal(host, "m2");
    assert_int_equal(port, 5051);
    free(host);

    const char *old = "{\"hostname\":\"m3\",\"port\":6060}";
    assert_int_equal(zk_master_address(old, strlen(old), &host, &port, &err), 0);
    assert_string_equal(host, "m3");
    assert_int_equal(port, 6060);
    free(host);

    static const char *bad[] = { "",
                                 "[]",
                                 "{\"hostname\":\"m\"}",
                                 "{\"port\":1}",
                                 "{\"hostname\":\"m\",\"port\":70000}",
                                 "not json" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        assert_int_equal(zk_master_address(bad[i], strlen(bad[i]), &host, &port, &err), -1);
        assert_non_null(err);
        free(err);
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    event_base_loopbreak(arg);
}

static void test_master_follow_parse(void **state)
{
    char *err = NULL;
    const char *host = NULL;
    int port = 0;
    struct master_follow *f = master_follow_new("m1:5050,m2,m3:7000", &err);
    assert_non_null(f);
    assert_false(master_follow_zk(f));
    assert_int_equal(master_follow_count(f), 3);
    master_follow_candidate(f, 1, &host, &port);
    assert_string_equal(host, "m2");
    assert_int_equal(port, 5050);
    assert_false(master_follow_leader(f, &host, &port));
    master_follow_free(f);

    /* zk:// is only parsed: no session before master_follow_start. */
    f = master_follow_new("zk://127.0.0.1:1/agora", &err);
    assert_non_null(f);
    assert_true(master_follow_zk(f));
    assert_int_equal(master_follow_count(f), 0);
    master_follow_free(f);

    static const char *bad[] = { "", "zk://h:1", "h:0", "h:70000" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err = NULL;
        assert_null(master_follow_new(bad[i], &err));
        assert_non_null(err);
        free(err);
    }
}

static void test_unreachable_session(void **state)
{
    struct event_base *base = event_base_new();
    char *err = NULL;
    /* Port 1 on loopback: nobody listens, connections are refused. */
    struct zk *zk = zk_new(base, "127.0.0.1:1", 2.0, NULL, NULL, &err);
    assert_non_null(zk);
    struct detector *d = detector_new(zk, "/agora", ZK_LEADER_PREFIX, NULL, NULL);
    assert_non_null(d);
    assert_int_equal(zk_create(zk, "/agora/x", "", 0, 0, NULL, NULL) == 0 ||
                         zk_state(zk) == ZK_STATE_CONNECTING,
                     1);
    struct event *t = evtimer_new(base, on_timeout, base);
    struct timeval tv = { 0, 300000 };
    evtimer_add(t, &tv);
    event_base_dispatch(base);
    assert_int_equal(zk_state(zk), ZK_STATE_CONNECTING);
    assert_string_equal(zk_state_name(zk_state(zk)), "CONNECTING");
    detector_free(d); /* it holds a reference on the session */
    zk_free(zk);
    event_free(t);
    event_base_free(base);
}

int main(void)
{
    mem_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_url),
        cmocka_unit_test(test_master_address),
        cmocka_unit_test(test_master_follow_parse),
        cmocka_unit_test(test_unreachable_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
