/*
 * test_store: the store contract (common/store.h), run once against the
 * file backend and once against the ZooKeeper backend on a REAL standalone
 * ZooKeeper server that this test starts itself (QuorumPeerMain from
 * Debian's zookeeper package on a free loopback port) and kills at the end.
 * Without /usr/share/java/zookeeper.jar the ZooKeeper group is skipped.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "atomic_file.h"
#include "mem.h"
#include "store.h"
#include "zk.h"
#include "zk_server.h"

struct fixture {
    struct event_base *base;
    char dir[64];
    struct zk *zk; /* NULL: file backend */
    char *root;
    struct store *s;
    int deposed;
    char *deposed_key;
    int connected;
};

/* ------------------------------------------------------------ helpers */

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    *(bool *)arg = true;
}

/* Run the loop until *done (or 20 s). */
static void run_until(struct fixture *f, const int *done)
{
    bool timed_out = false;
    struct event *t = evtimer_new(f->base, timeout_cb, &timed_out);
    struct timeval tv = { 20, 0 };
    evtimer_add(t, &tv);
    while (!*done && !timed_out)
        event_base_loop(f->base, EVLOOP_ONCE);
    event_free(t);
    assert_true(*done);
}

struct result {
    int done, rc, version;
    char *data;
    size_t len;
    char **names;
    size_t n;
};

static void result_clear(struct result *r)
{
    free(r->data);
    for (size_t i = 0; i < r->n; i++)
        free(r->names[i]);
    free(r->names);
    memset(r, 0, sizeof(*r));
}

static void on_put(int rc, int version, const char *err, void *arg)
{
    struct result *r = arg;
    r->done++;
    r->rc = rc;
    r->version = version;
}

static void on_get(int rc, const char *data, size_t len, int version, const char *err, void *arg)
{
    struct result *r = arg;
    r->done++;
    r->rc = rc;
    r->version = version;
    if (data) {
        r->data = xstrndup(data, len);
        r->len = len;
    }
}

static void on_list(int rc, char **names, size_t n, const char *err, void *arg)
{
    struct result *r = arg;
    r->done++;
    r->rc = rc;
    r->names = xcalloc(n ? n : 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        r->names[i] = xstrdup(names[i]);
    r->n = n;
}

static void on_deposed(struct store *s, const char *key, const char *why, void *arg)
{
    struct fixture *f = arg;
    f->deposed++;
    free(f->deposed_key);
    f->deposed_key = xstrdup(key);
}

static struct store *open_store(struct fixture *f)
{
    char *err = NULL;
    struct store *s =
        f->zk ? store_zk_new(f->base, f->zk, f->root) : store_file_new(f->base, f->dir, &err);
    assert_non_null(s);
    store_set_deposed(s, on_deposed, f);
    return s;
}

static int put(struct fixture *f, const char *key, const char *v, int expected, int *version)
{
    struct result r = { 0 };
    store_put(f->s, key, v, strlen(v), expected, on_put, &r);
    assert_int_equal(r.done, 0); /* never inside the call */
    run_until(f, &r.done);
    if (version)
        *version = r.version;
    return r.rc;
}

static int get(struct fixture *f, const char *key, char **v, int *version)
{
    struct result r = { 0 };
    store_get(f->s, key, on_get, &r);
    run_until(f, &r.done);
    int rc = r.rc;
    *version = r.version;
    *v = r.data;
    r.data = NULL;
    result_clear(&r);
    return rc;
}

/* ------------------------------------------------------- ZooKeeper */

/* ------------------------------------------------------- fixtures */

static int setup_file(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    f->base = event_base_new();
    strcpy(f->dir, "/tmp/agora-test-store-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->s = open_store(f);
    *state = f;
    return 0;
}

static int setup_zk(void **state)
{
    static int n;
    if (zk_server.pid <= 0)
        skip();
    struct fixture *f = xcalloc(1, sizeof(*f));
    f->base = event_base_new();
    char host[64];
    snprintf(host, sizeof(host), "127.0.0.1:%d", zk_server.port);
    char *err = NULL;
    f->zk = zk_new(f->base, host, 10, on_zk_state, &f->connected, &err);
    assert_non_null(f->zk);
    run_until(f, &f->connected); /* the server may still be starting: up to 20 s */
    f->root = xasprintf("/test-store/%d-%d", (int)getpid(), ++n);
    f->s = open_store(f);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    if (!f)
        return 0;
    store_free(f->s);
    if (f->zk)
        zk_free(f->zk);
    else
        rm_rf(f->dir);
    event_base_free(f->base);
    free(f->root);
    free(f->deposed_key);
    free(f);
    return 0;
}

/* ------------------------------------------------------- contract */

static void test_put_get_delete(void **state)
{
    struct fixture *f = *state;
    char *v = NULL;
    int ver = 0;
    assert_int_equal(get(f, "framework_id", &v, &ver), STORE_NOT_FOUND);
    assert_int_equal(ver, -1);
    assert_int_equal(put(f, "framework_id", "F1", STORE_ABSENT, &ver), STORE_OK);
    assert_int_equal(ver, 0);
    assert_int_equal(get(f, "framework_id", &v, &ver), STORE_OK);
    assert_string_equal(v, "F1");
    assert_int_equal(ver, 0);
    free(v);
    assert_int_equal(put(f, "framework_id", "F2", 0, &ver), STORE_OK);
    assert_int_equal(ver, 1);
    assert_int_equal(put(f, "framework_id", "F3", STORE_ANY, &ver), STORE_OK);
    assert_int_equal(ver, 2);
    assert_int_equal(f->deposed, 0);

    struct result r = { 0 };
    store_delete(f->s, "framework_id", 2, on_put, &r);
    run_until(f, &r.done);
    assert_int_equal(r.rc, STORE_OK);
    assert_int_equal(get(f, "framework_id", &v, &ver), STORE_NOT_FOUND);
    memset(&r, 0, sizeof(r));
    store_delete(f->s, "framework_id", STORE_ANY, on_put, &r);
    run_until(f, &r.done);
    assert_int_equal(r.rc, STORE_NOT_FOUND);

    /* Nested keys need no parents created first. */
    assert_int_equal(put(f, "deployments/x/y", "d", STORE_ABSENT, &ver), STORE_OK);
    assert_int_equal(get(f, "deployments/x/y", &v, &ver), STORE_OK);
    assert_string_equal(v, "d");
    free(v);
    assert_int_equal(f->deposed, 0);
}

static void test_conflict_deposes(void **state)
{
    struct fixture *f = *state;
    int ver = 0;
    assert_int_equal(put(f, "registry", "a", STORE_ABSENT, &ver), STORE_OK);
    /* A second writer (another store on the same place) wins. */
    struct store *mine = f->s;
    f->s = open_store(f);
    assert_int_equal(put(f, "registry", "theirs", 0, &ver), STORE_OK);
    assert_int_equal(ver, 1);
    store_free(f->s);
    f->s = mine;
    assert_int_equal(f->deposed, 0);
    assert_int_equal(put(f, "registry", "mine", 0, &ver), STORE_CONFLICT);
    assert_int_equal(f->deposed, 1);
    assert_string_equal(f->deposed_key, "registry");
    assert_int_equal(put(f, "registry", "again", STORE_ABSENT, &ver), STORE_CONFLICT);
    assert_int_equal(f->deposed, 2);
    char *v = NULL;
    assert_int_equal(get(f, "registry", &v, &ver), STORE_OK);
    assert_string_equal(v, "theirs");
    free(v);
}

/* STORE_KNOWN: the version this store last saw, absent when it saw none;
 * another writer in between is a conflict (fencing), a fresh key is
 * created, a delete of a key never seen goes through. */
static void test_known_version_fences(void **state)
{
    struct fixture *f = *state;
    int ver = -1;
    char *v = NULL;

    assert_int_equal(put(f, "apps/a", "1", STORE_KNOWN, &ver), STORE_OK); /* created */
    assert_int_equal(ver, 0);
    assert_int_equal(put(f, "apps/a", "2", STORE_KNOWN, &ver), STORE_OK);
    assert_int_equal(ver, 1);
    struct store *mine = f->s;
    f->s = open_store(f);
    assert_int_equal(get(f, "apps/a", &v, &ver), STORE_OK); /* the other writer reads... */
    free(v);
    assert_int_equal(put(f, "apps/a", "theirs", STORE_KNOWN, &ver), STORE_OK); /* ...and writes */
    assert_int_equal(put(f, "apps/b", "x", STORE_ANY, &ver), STORE_OK);
    store_free(f->s);
    f->s = mine;
    assert_int_equal(f->deposed, 0);
    assert_int_equal(put(f, "apps/a", "mine", STORE_KNOWN, &ver), STORE_CONFLICT);
    assert_int_equal(f->deposed, 1);
    /* A key this store never saw but that exists: a put must not create it. */
    assert_int_equal(put(f, "apps/b", "mine", STORE_KNOWN, &ver), STORE_CONFLICT);
    assert_int_equal(f->deposed, 2);
    {
        struct result r = { 0 };

        store_delete(f->s, "apps/b", STORE_KNOWN, on_put, &r);
        run_until(f, &r.done);
        assert_int_equal(r.rc, STORE_OK);
    }
    assert_int_equal(get(f, "apps/a", &v, &ver), STORE_OK);
    assert_string_equal(v, "theirs");
    free(v);
}

static void test_list(void **state)
{
    struct fixture *f = *state;
    int ver;
    assert_int_equal(put(f, "apps/web", "1", STORE_ABSENT, &ver), STORE_OK);
    assert_int_equal(put(f, "apps/db", "2", STORE_ABSENT, &ver), STORE_OK);
    assert_int_equal(put(f, "apps/group/api", "3", STORE_ABSENT, &ver), STORE_OK);
    assert_int_equal(put(f, "framework_id", "F", STORE_ABSENT, &ver), STORE_OK);
    struct result r = { 0 };
    store_list(f->s, "apps/", on_list, &r);
    run_until(f, &r.done);
    assert_int_equal(r.rc, STORE_OK);
    assert_int_equal(r.n, 3);
    assert_string_equal(r.names[0], "db");
    assert_string_equal(r.names[1], "group");
    assert_string_equal(r.names[2], "web");
    result_clear(&r);
    store_list(f->s, "nothing/here", on_list, &r);
    run_until(f, &r.done);
    assert_int_equal(r.rc, STORE_OK);
    assert_int_equal(r.n, 0);
    result_clear(&r);
}

static void test_restart_reads_back(void **state)
{
    struct fixture *f = *state;
    int ver;
    assert_int_equal(put(f, "apps/web", "v1", STORE_ABSENT, &ver), STORE_OK);
    assert_int_equal(put(f, "apps/web", "v2", ver, &ver), STORE_OK);
    store_free(f->s);
    f->s = open_store(f);
    char *v = NULL;
    assert_int_equal(get(f, "apps/web", &v, &ver), STORE_OK);
    assert_string_equal(v, "v2");
    free(v);
    /* The version read is the one to write with. */
    assert_int_equal(put(f, "apps/web", "v3", ver, &ver), STORE_OK);
    assert_int_equal(f->deposed, 0);
}

static void test_coalescing(void **state)
{
    struct fixture *f = *state;
    struct result r[4] = { 0 };
    char val[16];
    int ver;
    assert_int_equal(put(f, "k", "w0", STORE_ABSENT, &ver), STORE_OK);
    assert_int_equal(ver, 0);
    /* All say "version 0", the one their caller knows: each builds on the
     * write in flight before it. */
    for (int i = 1; i < 4; i++) {
        snprintf(val, sizeof(val), "w%d", i);
        store_put(f->s, "k", val, strlen(val), 0, on_put, &r[i]);
    }
    assert_true(store_writing(f->s, "k"));
    run_until(f, &r[3].done);
    for (int i = 1; i < 4; i++) {
        assert_int_equal(r[i].done, 1);
        assert_int_equal(r[i].rc, STORE_OK);
    }
    assert_int_equal(r[1].version, 1);
    /* w2 and w3 waited behind w1 and became one write, sent with version 1. */
    assert_int_equal(r[2].version, 2);
    assert_int_equal(r[3].version, 2);
    assert_false(store_writing(f->s, "k"));
    char *v = NULL;
    assert_int_equal(get(f, "k", &v, &ver), STORE_OK);
    assert_string_equal(v, "w3");
    assert_int_equal(ver, 2);
    free(v);
    assert_int_equal(f->deposed, 0);
}

static void test_refused(void **state)
{
    struct fixture *f = *state;
    int ver;
    static const char *bad[] = { "", "/abs", "a//b", "a/", ".hidden", "a/../b", "sp ace" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(put(f, bad[i], "x", STORE_ANY, &ver), STORE_INVALID);
    size_t big = STORE_MAX_VALUE + 1;
    char *buf = xcalloc(1, big);
    struct result r = { 0 };
    store_put(f->s, "big", buf, big, STORE_ANY, on_put, &r);
    run_until(f, &r.done);
    assert_int_equal(r.rc, STORE_TOO_BIG);
    /* Only a file store may take more than ZooKeeper's limit. */
    if (strncmp(store_name(f->s), "file:", 5) == 0) {
        assert_int_equal(store_set_max_value(f->s, 2 * big), 0);
        struct result r2 = { 0 };
        store_put(f->s, "big", buf, big, STORE_ANY, on_put, &r2);
        run_until(f, &r2.done);
        assert_int_equal(r2.rc, STORE_OK);
        char *v = NULL;
        assert_int_equal(get(f, "big", &v, &ver), STORE_OK);
        free(v);
    } else {
        assert_int_equal(store_set_max_value(f->s, 2 * big), -1);
    }
    free(buf);
}

static void test_put_sync(void **state)
{
    struct fixture *f = *state;
    int ver;
    char *err = NULL;
    assert_int_equal(put(f, "registry", "a", STORE_ABSENT, &ver), STORE_OK);
    /* One in flight, then the blocking final write lands after it. */
    store_put(f->s, "registry", "b", 1, ver, NULL, NULL);
    assert_int_equal(store_put_sync(f->s, "registry", "c", 1, ver, &ver, &err), STORE_OK);
    assert_int_equal(ver, 2);
    struct result r = { 0 };
    store_get(f->s, "registry", on_get, &r);
    run_until(f, &r.done);
    assert_string_equal(r.data, "c");
    result_clear(&r);
}

#define BOTH(t)                                               \
    cmocka_unit_test_setup_teardown(t, setup_file, teardown), \
        cmocka_unit_test_setup_teardown(t, setup_zk, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        BOTH(test_put_get_delete),     BOTH(test_conflict_deposes), BOTH(test_list),
        BOTH(test_restart_reads_back), BOTH(test_coalescing),       BOTH(test_refused),
        BOTH(test_put_sync),           BOTH(test_known_version_fences),
    };
    return cmocka_run_group_tests(tests, zk_server_start, zk_server_stop);
}
