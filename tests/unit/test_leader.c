/*
 * test_leader: common/contender.h and common/detector.h against a REAL
 * standalone ZooKeeper (tests/unit/zk_server.h): two contenders on two
 * sessions, the lowest leads, the other takes over when the first goes, a
 * detector on a third session follows; a leader whose znode is deleted is
 * DEPOSED; a prefix other than the masters' works.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <event2/event.h>

#include "contender.h"
#include "detector.h"
#include "master_follow.h"
#include "mem.h"
#include "zk.h"
#include "zk_server.h"

struct member {
    struct zk *zk;
    int connected;
    struct contender *c;
    enum contender_state st;
    int changes;
};

struct fixture {
    struct event_base *base;
    char *dir;
    struct member a, b;
    struct zk *dzk; /* the detector's session */
    int dconnected;
    struct detector *d;
    char *leader_data;
    int reports;
};

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

/* Run the loop until cond(f) holds (or 20 s). */
static void run_until(struct fixture *f, bool (*cond)(struct fixture *f))
{
    bool timed_out = false;
    struct event *t = evtimer_new(f->base, timeout_cb, &timed_out);
    struct timeval tv = { 20, 0 };
    evtimer_add(t, &tv);
    while (!cond(f) && !timed_out)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(t);
    assert_true(cond(f));
}

static void on_state(struct contender *c, enum contender_state st, void *arg)
{
    struct member *mb = arg;
    mb->st = st;
    mb->changes++;
}

static void on_leader(struct detector *d, const char *name, const char *data, size_t len, void *arg)
{
    struct fixture *f = arg;
    free(f->leader_data);
    f->leader_data = name ? xstrndup(data, len) : NULL;
    f->reports++;
}

static struct zk *session(struct fixture *f, int *connected)
{
    char host[64], *err = NULL;
    snprintf(host, sizeof(host), "127.0.0.1:%d", zk_server.port);
    struct zk *zk = zk_new(f->base, host, 10, on_zk_state, connected, &err);
    assert_non_null(zk);
    return zk;
}

static void contend(struct fixture *f, struct member *mb, const char *payload)
{
    mb->zk = session(f, &mb->connected);
    mb->c = contender_new(mb->zk, f->dir, "member_", payload, strlen(payload), on_state, mb);
    assert_int_equal(contender_state(mb->c), CONTENDER_CONNECTING);
}

static void leave(struct member *mb)
{
    contender_free(mb->c);
    mb->c = NULL;
    zk_free(mb->zk); /* the last reference: the session closes, the znode goes */
    mb->zk = NULL;
}

static int setup(void **state)
{
    static int n;
    if (zk_server.pid <= 0)
        skip();
    struct fixture *f = xcalloc(1, sizeof(*f));
    f->base = event_base_new();
    f->dir = xasprintf("/test-leader/%d-%d/group", (int)getpid(), ++n);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f)
        return 0;
    if (f->a.c)
        leave(&f->a);
    if (f->b.c)
        leave(&f->b);
    detector_free(f->d);
    zk_free(f->dzk);
    event_base_free(f->base);
    free(f->leader_data);
    free(f->dir);
    free(f);
    return 0;
}

static bool a_leads(struct fixture *f)
{
    return f->a.st == CONTENDER_LEADING;
}
static bool b_standby(struct fixture *f)
{
    return f->b.st == CONTENDER_STANDBY;
}
static bool b_leads(struct fixture *f)
{
    return f->b.st == CONTENDER_LEADING;
}
static bool b_deposed(struct fixture *f)
{
    return f->b.st == CONTENDER_DEPOSED;
}
static bool detected_a(struct fixture *f)
{
    return f->leader_data && strcmp(f->leader_data, "A") == 0;
}
static bool detected_b(struct fixture *f)
{
    return f->leader_data && strcmp(f->leader_data, "B") == 0;
}

static void test_lowest_leads_other_takes_over(void **state)
{
    struct fixture *f = *state;
    f->dzk = session(f, &f->dconnected);
    f->d = detector_new(f->dzk, f->dir, "member_", on_leader, f);
    contend(f, &f->a, "A");
    run_until(f, a_leads);
    assert_non_null(contender_name(f->a.c));
    assert_int_equal(strncmp(contender_name(f->a.c), "member_", 7), 0);
    contend(f, &f->b, "B");
    run_until(f, b_standby);
    run_until(f, detected_a);
    assert_int_equal(f->a.st, CONTENDER_LEADING);

    /* The leader goes: the standby takes over, the detector follows. */
    leave(&f->a);
    run_until(f, b_leads);
    run_until(f, detected_b);
    assert_string_equal(contender_state_name(contender_state(f->b.c)), "LEADING");
}

static void deleted(int rc, int version, void *arg)
{
    *(int *)arg = rc == ZOK ? 1 : -1;
}

static void test_leader_deposed_when_znode_goes(void **state)
{
    struct fixture *f = *state;
    contend(f, &f->b, "B");
    run_until(f, b_leads);
    /* Someone (an operator) deletes the leader's znode. */
    f->dzk = session(f, &f->dconnected);
    char *path = xasprintf("%s/%s", f->dir, contender_name(f->b.c));
    int done = 0;
    while (!f->dconnected)
        event_base_loop(f->base, EVLOOP_ONCE);
    assert_int_equal(zk_delete(f->dzk, path, -1, deleted, &done), 0);
    free(path);
    run_until(f, b_deposed);
    assert_int_equal(done, 1);
    /* DEPOSED is final. */
    int changes = f->b.changes;
    for (int i = 0; i < 20; i++)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_int_equal(f->b.changes, changes);
    assert_int_equal(contender_state(f->b.c), CONTENDER_DEPOSED);
}

static void test_detector_prefix_filters(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(detector_sequence("json.info_", "json.info_0000000007"), 7);
    assert_int_equal(detector_sequence("json.info_", "member_0000000007"), -1);
    assert_int_equal(detector_sequence("json.info_", "json.info_"), -1);
    assert_int_equal(detector_sequence("json.info_", "json.info_12x"), -1);
    /* A detector for another prefix sees no leader in this group. */
    contend(f, &f->a, "A");
    run_until(f, a_leads);
    f->dzk = session(f, &f->dconnected);
    f->d = detector_new(f->dzk, f->dir, ZK_LEADER_PREFIX, on_leader, f);
    for (int i = 0; i < 50 && f->reports == 0; i++)
        event_base_loop(f->base, EVLOOP_NONBLOCK);
    assert_null(detector_leader(f->d));
    assert_null(f->leader_data);
}

/* "localhost" is a name: the handle is made on the resolver thread
 * (common/zk.c zk_open_thread) and adopted by the loop, which keeps
 * turning meanwhile; a session freed before its handle arrives leaks
 * nothing (ASan). */
static void test_session_by_host_name(void **state)
{
    struct fixture *f = *state;
    char host[64], *err = NULL;
    snprintf(host, sizeof(host), "localhost:%d", zk_server.port);
    struct zk *early = zk_new(f->base, host, 10, NULL, NULL, &err);
    assert_non_null(early);
    zk_free(early);

    int connected = 0;
    struct zk *zk = zk_new(f->base, host, 10, on_zk_state, &connected, &err);
    assert_non_null(zk);
    assert_int_equal(zk_state(zk), ZK_STATE_CONNECTING);
    struct contender *c = contender_new(zk, f->dir, "member_", "N", 1, on_state, &f->a);
    f->a.c = NULL; /* freed here, not by teardown */
    run_until(f, a_leads);
    assert_int_equal(connected, 1);
    contender_free(c);
    zk_free(zk);
}

struct listed {
    char names[4][64];
    char hosts[4][32];
    int ports[4];
    int n, rc;
    bool done;
};

static void on_listed(const char *name, const char *host, int port, int rc, void *arg)
{
    struct listed *l = arg;
    if (name == NULL) {
        l->done = true;
        l->rc = rc;
        return;
    }
    if (l->n < 4) {
        snprintf(l->names[l->n], sizeof(l->names[0]), "%s", name);
        snprintf(l->hosts[l->n], sizeof(l->hosts[0]), "%s", host ? host : "(none)");
        l->ports[l->n++] = port;
    }
}

static struct listed *listed_now;
static bool listing_done(struct fixture *f)
{
    return listed_now->done;
}

/* master_follow_list: every json.info_ contender, lowest sequence first,
 * with the address of its MasterInfo; other children are not masters. */
static void test_master_follow_list(void **state)
{
    struct fixture *f = *state;
    static const char *const infos[] = { "{\"address\": {\"ip\": \"10.0.0.1\", \"port\": 5050}}",
                                         "{\"address\": {\"ip\": \"10.0.0.2\", \"port\": 5051}}" };
    struct contender *cs[2];
    char *err = NULL, *url;
    struct listed l = { 0 };

    f->a.zk = session(f, &f->a.connected);
    for (int i = 0; i < 2; i++)
        cs[i] = contender_new(f->a.zk, f->dir, ZK_LEADER_PREFIX, infos[i], strlen(infos[i]),
                              on_state, i ? &f->b : &f->a);
    struct contender *other = contender_new(f->a.zk, f->dir, "member_", "X", 1, NULL, NULL);
    run_until(f, a_leads);
    run_until(f, b_standby);
    url = xasprintf("zk://127.0.0.1:%d%s", zk_server.port, f->dir);
    struct master_follow *mf = master_follow_new(url, &err);
    assert_non_null(mf);
    assert_int_equal(master_follow_list(mf, on_listed, &l), -1); /* not started */
    assert_int_equal(master_follow_start(mf, f->base, 10, NULL, NULL, &err), 0);
    assert_int_equal(master_follow_list(mf, on_listed, &l), 0);
    listed_now = &l;
    run_until(f, listing_done);
    assert_int_equal(l.rc, 0);
    assert_int_equal(l.n, 2);
    assert_string_equal(l.hosts[0], "10.0.0.1");
    assert_int_equal(l.ports[0], 5050);
    assert_string_equal(l.hosts[1], "10.0.0.2");
    assert_int_equal(l.ports[1], 5051);
    assert_true(detector_sequence(ZK_LEADER_PREFIX, l.names[0]) <
                detector_sequence(ZK_LEADER_PREFIX, l.names[1]));
    /* Freed with a listing in flight: no callback, nothing leaked. */
    struct listed late = { 0 };
    assert_int_equal(master_follow_list(mf, on_listed, &late), 0);
    master_follow_free(mf);
    assert_false(late.done);
    contender_free(other);
    for (int i = 0; i < 2; i++)
        contender_free(cs[i]);
    zk_free(f->a.zk);
    f->a.zk = NULL;
    free(url);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_lowest_leads_other_takes_over, setup, teardown),
        cmocka_unit_test_setup_teardown(test_leader_deposed_when_znode_goes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_detector_prefix_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_session_by_host_name, setup, teardown),
        cmocka_unit_test_setup_teardown(test_master_follow_list, setup, teardown),
    };
    return cmocka_run_group_tests(tests, zk_server_start, zk_server_stop);
}
