/*
 * test_liveness: common/liveness.h against a REAL standalone ZooKeeper
 * (tests/unit/zk_server.h) and real sockets. A leader's process that is
 * killed (-9, in a forked child) is replaced within a second although its
 * session has 10 s to live; a stream that never got its 200 (wrong
 * candidacy name, nobody listening) deletes nothing; a delete by a stale
 * version is refused by ZooKeeper and the leader keeps leading.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <time.h>

#include <event2/event.h>

#include "contender.h"
#include "http.h"
#include "liveness.h"
#include "zk_server.h"

#define ROUTE "/internal/alive"

struct fixture {
    struct event_base *base;
    char *dir;
    /* the in-process leader (tests 2-4) */
    struct zk *azk;
    int aconnected;
    struct contender *a;
    struct http_server *srv;
    /* the standby */
    struct zk *bzk;
    int bconnected;
    struct contender *b;
    struct liveness *l;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the loop until cond(f) holds or secs pass; returns cond(f). */
static bool run_until(struct fixture *f, bool (*cond)(struct fixture *f), double secs)
{
    double end = now_s() + secs;
    struct timeval tick = { 0, 20000 };
    while (!cond(f) && now_s() < end)
        event_base_loopexit(f->base, &tick), event_base_dispatch(f->base);
    return cond(f);
}

static bool never(struct fixture *f)
{
    return false;
}

static struct zk *session(struct event_base *base, int *connected)
{
    char host[64], *err = NULL;
    snprintf(host, sizeof(host), "127.0.0.1:%d", zk_server.port);
    struct zk *zk = zk_new(base, host, 10, on_zk_state, connected, &err);
    assert_non_null(zk);
    return zk;
}

static void serve_alive(struct evhttp_request *req, void *arg)
{
    struct contender *c = arg;
    liveness_serve(req, contender_state(c) == CONTENDER_LEADING ? contender_name(c) : NULL);
}

static bool a_leads(struct fixture *f)
{
    return contender_state(f->a) == CONTENDER_LEADING;
}
static bool b_standby(struct fixture *f)
{
    return contender_state(f->b) == CONTENDER_STANDBY;
}
static bool b_leads(struct fixture *f)
{
    return contender_state(f->b) == CONTENDER_LEADING;
}
static bool established(struct fixture *f)
{
    return liveness_state(f->l) == LIVENESS_ESTABLISHED;
}
static bool waiting(struct fixture *f)
{
    return liveness_state(f->l) == LIVENESS_WAITING;
}
static bool done(struct fixture *f)
{
    return liveness_state(f->l) == LIVENESS_DONE;
}

static int setup(void **state)
{
    static int n;
    if (zk_server.pid <= 0)
        skip();
    struct fixture *f = xcalloc(1, sizeof(*f));
    f->base = event_base_new();
    f->dir = xasprintf("/test-liveness/%d-%d/group", (int)getpid(), ++n);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f)
        return 0;
    liveness_free(f->l);
    contender_free(f->b);
    zk_free(f->bzk);
    http_server_free(f->srv);
    contender_free(f->a);
    zk_free(f->azk);
    event_base_free(f->base);
    free(f->dir);
    free(f);
    return 0;
}

/* The standby: contender b, and the liveness that follows the leader. */
static void standby(struct fixture *f)
{
    f->bzk = session(f->base, &f->bconnected);
    f->b = contender_new(f->bzk, f->dir, "member_", "B", 1, NULL, NULL);
    assert_true(run_until(f, b_standby, 20));
    f->l = liveness_new(f->base, f->bzk, f->dir, ROUTE);
    assert_int_equal(liveness_state(f->l), LIVENESS_IDLE);
}

/* A leader in this process, serving ROUTE on f->srv. */
static void leader_here(struct fixture *f)
{
    char *err = NULL;
    f->azk = session(f->base, &f->aconnected);
    f->a = contender_new(f->azk, f->dir, "member_", "A", 1, NULL, NULL);
    assert_true(run_until(f, a_leads, 20));
    f->srv = http_server_new(f->base, "127.0.0.1", 0, 4096, &err);
    assert_non_null(f->srv);
    http_server_route(f->srv, "GET", ROUTE, false, serve_alive, f->a);
}

/* The znode's version, read on the standby's session. */
struct got {
    int rc, version;
};
static void got_data(int rc, const char *data, size_t len, int version, void *arg)
{
    struct got *g = arg;
    g->rc = rc;
    g->version = version;
}
static struct got *got_now;
static bool got_answer(struct fixture *f)
{
    return got_now->rc != 1;
}
static struct got znode(struct fixture *f, const char *name)
{
    struct got g = { 1, -1 };
    char *path = xasprintf("%s/%s", f->dir, name);
    assert_int_equal(zk_get(f->bzk, path, NULL, got_data, &g), 0);
    free(path);
    got_now = &g;
    assert_true(run_until(f, got_answer, 10));
    return g;
}

/* The leader in a child process, so that kill -9 ends it as a crash does:
 * the kernel closes its sockets; its session lives on for 10 s. */
static pid_t leader_child(struct fixture *f, int port, char *name, size_t cap)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        struct event_base *base = event_base_new();
        int connected = 0;
        char *err = NULL;
        struct zk *zk = session(base, &connected);
        struct contender *c = contender_new(zk, f->dir, "member_", "A", 1, NULL, NULL);
        struct http_server *srv = http_server_new(base, "127.0.0.1", port, 4096, &err);
        if (!srv)
            _exit(2);
        http_server_route(srv, "GET", ROUTE, false, serve_alive, c);
        bool told = false;
        for (;;) {
            event_base_loop(base, EVLOOP_ONCE);
            if (!told && contender_state(c) == CONTENDER_LEADING) {
                const char *n = contender_name(c);
                if (write(fds[1], n, strlen(n)) < 0)
                    _exit(3);
                close(fds[1]);
                told = true;
            }
        }
    }
    close(fds[1]);
    struct pollfd p = { .fd = fds[0], .events = POLLIN };
    assert_int_equal(poll(&p, 1, 30000), 1);
    ssize_t n = read(fds[0], name, cap - 1);
    assert_true(n > 0);
    name[n] = '\0';
    close(fds[0]);
    return pid;
}

static void test_killed_leader_replaced_at_once(void **state)
{
    struct fixture *f = *state;
    int port = free_port();
    char name[128];
    pid_t pid = leader_child(f, port, name, sizeof(name));
    standby(f);
    struct got g = znode(f, name);
    assert_int_equal(g.rc, ZOK);
    liveness_follow(f->l, name, g.version, "127.0.0.1", port);
    assert_true(run_until(f, established, 10));

    double t0 = now_s();
    assert_int_equal(kill(pid, SIGKILL), 0);
    assert_int_equal(waitpid(pid, NULL, 0), pid);
    /* Without liveness this takes the 10 s session timeout. */
    assert_true(run_until(f, b_leads, 20));
    double took = now_s() - t0;
    printf("# kill -9 -> standby leads: %.3f s\n", took);
    assert_true(took < 1.0);
    assert_int_equal(liveness_state(f->l), LIVENESS_DONE);
    assert_int_equal(znode(f, name).rc, ZNONODE);
}

static void test_unanswered_stream_deletes_nothing(void **state)
{
    struct fixture *f = *state;
    leader_here(f);
    standby(f);
    const char *name = contender_name(f->a);
    struct got g = znode(f, name);

    /* Another candidacy's name: the leader answers 404, never 200. */
    liveness_follow(f->l, "member_0000009999", g.version, "127.0.0.1", http_server_port(f->srv));
    assert_true(run_until(f, waiting, 10));
    /* Its socket closes now; the stream was never ours: nothing changes. */
    http_server_free(f->srv);
    f->srv = NULL;
    run_until(f, never, 1.5);
    assert_true(a_leads(f));
    assert_true(b_standby(f));
    assert_int_equal(znode(f, name).rc, ZOK);

    /* Nobody listens at all: refused, retried, nothing deleted. */
    liveness_follow(f->l, name, g.version, "127.0.0.1", free_port());
    assert_true(run_until(f, waiting, 10));
    run_until(f, never, 1.5);
    assert_true(waiting(f) || liveness_state(f->l) == LIVENESS_CONNECTING);
    assert_true(a_leads(f));
    assert_int_equal(znode(f, name).rc, ZOK);
}

static void test_stale_version_is_refused(void **state)
{
    struct fixture *f = *state;
    leader_here(f);
    standby(f);
    const char *name = contender_name(f->a);
    struct got g = znode(f, name);
    assert_int_equal(g.rc, ZOK);

    /* A standby that read an older incarnation of the znode. */
    liveness_follow(f->l, name, g.version + 1, "127.0.0.1", http_server_port(f->srv));
    assert_true(run_until(f, established, 10));
    http_server_free(f->srv); /* EOF on the established stream */
    f->srv = NULL;
    assert_true(run_until(f, done, 10));
    /* ZooKeeper refused the delete: the leader still leads. */
    run_until(f, never, 0.5);
    assert_true(a_leads(f));
    assert_true(b_standby(f));
    assert_int_equal(znode(f, name).rc, ZOK);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_killed_leader_replaced_at_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unanswered_stream_deletes_nothing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_stale_version_is_refused, setup, teardown),
    };
    return cmocka_run_group_tests(tests, zk_server_start, zk_server_stop);
}
