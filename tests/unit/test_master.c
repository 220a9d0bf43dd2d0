/*
 * test_master: unit tests of master internals (master/master.h) — the
 * registry's round trip through --work_dir (also at 50,000 slaves, which
 * must stay under ZooKeeper's 1 MB znode limit) and its refusal of
 * corrupt, truncated or invalid files, Accept negotiation, task resource accounting from launch to
 * removal, and the bound on completed tasks. The protocol paths are
 * covered end to end by tests/system/test_master_api.py.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>
#include <event2/event.h>
#include <zlib.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "master.h"
#include "allocator.h"
#include "atomic_file.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "registry.pb-c.h"

struct fixture {
    char dir[64];
    struct event_base *base;
    struct http_server *http;
    struct master *m;
};

static struct master *start_master(struct fixture *f, char **err)
{
    struct master_config cfg = {
        .ip = "127.0.0.1",
        .port = http_server_port(f->http),
        .hostname = "test-host",
        .work_dir = f->dir,
        .slave_ping_timeout = 15,
        .max_slave_ping_timeouts = 5,
        .offer_timeout = 0,
        .allocation_interval = 0,
        .heartbeat_interval = 15,
    };
    return master_new(f->base, &cfg, f->http, err);
}

static int setup(void **state)
{
    struct fixture *f = xcalloc(1, sizeof(*f));
    char *err = NULL;
    snprintf(f->dir, sizeof(f->dir), "/tmp/agora-test-master-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->base = event_base_new();
    f->http = http_server_new(f->base, "127.0.0.1", 0, 1 << 20, &err);
    assert_non_null(f->http);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    master_free(f->m);
    http_server_free(f->http);
    event_base_free(f->base);
    rm_rf(f->dir);
    metrics_cleanup();
    free(f);
    return 0;
}

static Mesos__V1__FrameworkInfo *framework_info(const char *id, double failover)
{
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fid.value = (char *)id;
    fi.id = &fid;
    fi.user = "root";
    fi.name = "unit";
    fi.has_failover_timeout = 1;
    fi.failover_timeout = failover;
    return pb_dup(&fi.base);
}

static void test_registry_round_trip(void **state)
{
    struct fixture *f = *state;
    char *err = NULL;
    f->m = start_master(f, &err);
    assert_non_null(f->m);
    registry_slave_set(f->m->registry, "S1", "h1", REG_SLAVE_ADMITTED);
    registry_slave_set(f->m->registry, "S2", "h2", REG_SLAVE_GONE);
    Mesos__V1__FrameworkInfo *fi = framework_info("F1", 42);
    registry_framework_put(f->m->registry, fi);
    pb_free(fi);
    master_free(f->m); /* flushes */

    f->m = start_master(f, &err);
    assert_non_null(f->m);
    assert_int_equal(registry_slave_state(f->m->registry, "S1"), REG_SLAVE_ADMITTED);
    assert_int_equal(registry_slave_state(f->m->registry, "S2"), REG_SLAVE_GONE);
    assert_int_equal(registry_slave_state(f->m->registry, "S3"), REG_SLAVE_NONE);
    struct framework *fw = fw_find(f->m, "F1");
    assert_non_null(fw);
    assert_int_equal(fw->state, FW_STATE_RECOVERED);
    assert_true(fw->info->failover_timeout == 42);
    assert_true(registry_framework_known(f->m->registry, "F1"));
}

/* start_master must refuse the registry.pb holding data[0..len). */
static void assert_registry_refused(struct fixture *f, const void *data, size_t len,
                                    const char *why)
{
    char *err = NULL;
    char path[128];
    snprintf(path, sizeof(path), "%s/registry.pb", f->dir);
    assert_int_equal(atomic_write(path, data, len, &err), 0);
    f->m = start_master(f, &err);
    assert_null(f->m);
    assert_non_null(err);
    assert_non_null(strstr(err, "registry.pb"));
    if (why && !strstr(err, why))
        fail_msg("error '%s' does not say '%s'", err, why);
    free(err);
}

/* Frame and deflate raw as registry.c does: "AGR1", length, zlib. */
static uint8_t *frame_registry(const uint8_t *raw, size_t raw_len, size_t *len)
{
    uLongf zlen = compressBound(raw_len);
    uint8_t *buf = xmalloc(8 + zlen);
    assert_int_equal(compress2(buf + 8, &zlen, raw, raw_len, Z_DEFAULT_COMPRESSION), Z_OK);
    memcpy(buf, "AGR1", 4);
    for (int k = 0; k < 4; k++)
        buf[4 + k] = (uint8_t)(raw_len >> (24 - 8 * k));
    *len = 8 + zlen;
    return buf;
}

static void test_registry_corrupt(void **state)
{
    struct fixture *f = *state;
    assert_registry_refused(f, "{\"slaves\": [{\"id\": 1}", 21, "JSON");
    assert_registry_refused(f, "", 0, "not an Agora registry");
    assert_registry_refused(f, "AGR2\0\0\0\1x", 9, "not an Agora registry");

    /* Garbage, with and without a plausible header. */
    uint8_t junk[4096];
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof(junk); i++) {
        x ^= x << 13, x ^= x >> 17, x ^= x << 5;
        junk[i] = (uint8_t)x;
    }
    assert_registry_refused(f, junk, sizeof(junk), "not an Agora registry");
    memcpy(junk, "AGR1\0\0\x10\0", 8);
    assert_registry_refused(f, junk, sizeof(junk), "cannot inflate");
    memcpy(junk, "AGR1\xff\xff\xff\xff", 8);
    assert_registry_refused(f, junk, sizeof(junk), "header length");

    /* Valid zlib, but not a Registry message. */
    uint8_t ff[64];
    memset(ff, 0xff, sizeof(ff));
    size_t len;
    uint8_t *buf = frame_registry(ff, sizeof(ff), &len);
    assert_registry_refused(f, buf, len, "not an agora.registry.Registry");
    free(buf);

    /* A Registry whose record is invalid: the error names the field. */
    Agora__Registry__Slave sl = AGORA__REGISTRY__SLAVE__INIT;
    Agora__Registry__Slave *slp = &sl;
    sl.id = "S1";
    sl.state = AGORA__REGISTRY__SLAVE__STATE__UNKNOWN;
    Agora__Registry__Registry reg = AGORA__REGISTRY__REGISTRY__INIT;
    reg.n_slaves = 1;
    reg.slaves = &slp;
    uint8_t raw[64];
    size_t raw_len = agora__registry__registry__pack(&reg, raw);
    buf = frame_registry(raw, raw_len, &len);
    assert_registry_refused(f, buf, len, "slaves[0].state");
    free(buf);
}

static void test_registry_truncated(void **state)
{
    struct fixture *f = *state;
    char *err = NULL;
    f->m = start_master(f, &err);
    assert_non_null(f->m);
    char id[64], last[64];
    for (int i = 0; i < 200; i++) {
        snprintf(id, sizeof(id), "%s-S%d", f->m->id, i);
        snprintf(last, sizeof(last), "%s", id);
        registry_slave_set(f->m->registry, id, "host", REG_SLAVE_ADMITTED);
    }
    master_free(f->m); /* flushes */
    f->m = NULL;

    char path[128], *data = NULL;
    size_t len = 0;
    snprintf(path, sizeof(path), "%s/registry.pb", f->dir);
    assert_int_equal(file_read_all(path, 1 << 20, &data, &len), 0);
    assert_true(len > 16);
    const size_t cuts[] = { 1, 4, 7, 8, 9, len / 2, len - 4, len - 1 };
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++)
        assert_registry_refused(f, data, cuts[i], NULL);
    /* Trailing bytes, a flipped bit, a wrong length in the header. */
    char *more = xmalloc(len + 1);
    memcpy(more, data, len);
    more[len] = 0;
    assert_registry_refused(f, more, len + 1, "corrupt");
    memcpy(more, data, len);
    more[len / 2] ^= 0x10;
    assert_registry_refused(f, more, len, "corrupt");
    memcpy(more, data, len);
    more[7]++;
    assert_registry_refused(f, more, len, "corrupt");
    free(more);

    /* The untouched file still loads. */
    char *werr = NULL;
    assert_int_equal(atomic_write(path, data, len, &werr), 0);
    f->m = start_master(f, &err);
    assert_non_null(f->m);
    assert_int_equal(registry_slave_state(f->m->registry, last), REG_SLAVE_ADMITTED);
    free(data);
}

/* 50,000 slaves and 1,000 frameworks: the stored registry must fit in a
 * znode (1 MB) and come back intact. */
static void test_registry_50k_slaves(void **state)
{
    enum { NSLAVES = 50000, NFWS = 1000 };
    struct fixture *f = *state;
    char *err = NULL;
    f->m = start_master(f, &err);
    assert_non_null(f->m);
    char *mid = xstrdup(f->m->id);
    char id[96], host[96];
    for (int i = 0; i < NSLAVES; i++) {
        snprintf(id, sizeof(id), "%s-S%d", mid, i);
        snprintf(host, sizeof(host), "agent-%05d.rack-%03d.dc1.example.com", i, i / 40);
        registry_slave_set(f->m->registry, id, host,
                           i % 50 == 0   ? REG_SLAVE_GONE
                           : i % 10 == 0 ? REG_SLAVE_UNREACHABLE
                                         : REG_SLAVE_ADMITTED);
    }
    for (int i = 0; i < NFWS; i++) {
        snprintf(id, sizeof(id), "%s-%04d", mid, i);
        Mesos__V1__FrameworkInfo *fi = framework_info(id, 604800);
        registry_framework_put(f->m->registry, fi);
        pb_free(fi);
        if (i % 2)
            registry_framework_disconnected(f->m->registry, id, time_now() - i);
    }
    double t0 = time_now();
    master_free(f->m); /* flushes */
    double secs = time_now() - t0;
    f->m = NULL;

    char path[128];
    struct stat st;
    snprintf(path, sizeof(path), "%s/registry.pb", f->dir);
    assert_int_equal(stat(path, &st), 0);
    printf("registry of %d slaves and %d frameworks: %lld bytes (written in %.0f ms)\n", NSLAVES,
           NFWS, (long long)st.st_size, secs * 1e3);
    assert_true(st.st_size < 1024 * 1024);

    t0 = time_now();
    f->m = start_master(f, &err);
    assert_non_null(f->m);
    printf("read back and recovered in %.0f ms\n", (time_now() - t0) * 1e3);
    for (int i = 0; i < NSLAVES; i++) {
        snprintf(id, sizeof(id), "%s-S%d", mid, i);
        assert_int_equal(registry_slave_state(f->m->registry, id), i % 50 == 0 ? REG_SLAVE_GONE
                                                                   : i % 10 == 0
                                                                       ? REG_SLAVE_UNREACHABLE
                                                                       : REG_SLAVE_ADMITTED);
    }
    snprintf(id, sizeof(id), "%s-S%d", mid, NSLAVES);
    assert_int_equal(registry_slave_state(f->m->registry, id), REG_SLAVE_NONE);
    for (int i = 0; i < NFWS; i++) {
        snprintf(id, sizeof(id), "%s-%04d", mid, i);
        struct framework *fw = fw_find(f->m, id);
        assert_non_null(fw);
        assert_int_equal(fw->state, FW_STATE_RECOVERED);
        assert_true(fw->info->failover_timeout == 604800);
        assert_string_equal(fw->info->name, "unit");
    }
    free(mid);
}

static int negotiate(const char *accept, const char *message_accept, enum master_enc *enc,
                     bool *rio)
{
    struct evhttp_request *req = evhttp_request_new(NULL, NULL);
    if (accept)
        evhttp_add_header(evhttp_request_get_input_headers(req), "Accept", accept);
    if (message_accept)
        evhttp_add_header(evhttp_request_get_input_headers(req), "Message-Accept", message_accept);
    int rc = master_negotiate_accept(req, enc, rio);
    evhttp_request_free(req);
    return rc;
}

static void test_accept_negotiation(void **state)
{
    enum master_enc enc;
    bool rio;
    assert_int_equal(negotiate(NULL, NULL, &enc, &rio), 0);
    assert_int_equal(enc, ENC_JSON);
    assert_int_equal(negotiate("application/x-protobuf", NULL, &enc, &rio), 0);
    assert_int_equal(enc, ENC_PROTOBUF);
    assert_false(rio);
    assert_int_equal(negotiate("text/html, application/json;q=0.9", NULL, &enc, &rio), 0);
    assert_int_equal(enc, ENC_JSON);
    assert_int_equal(negotiate("*/*", NULL, &enc, &rio), 0);
    assert_int_equal(enc, ENC_JSON);
    assert_int_equal(negotiate("application/recordio", "application/x-protobuf", &enc, &rio), 0);
    assert_true(rio);
    assert_int_equal(enc, ENC_PROTOBUF);
    assert_int_equal(negotiate("text/html", NULL, &enc, &rio), -1);
    assert_int_equal(negotiate("application/recordio", "text/plain", &enc, &rio), -1);
}

/* A slave in the model without a connection, as re-registration makes. */
static struct slave *add_slave(struct master *m, const char *id, const char *res_text)
{
    struct slave *s = xcalloc(1, sizeof(*s));
    char *err = NULL;
    Mesos__V1__AgentInfo ai = MESOS__V1__AGENT_INFO__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    aid.value = (char *)id;
    ai.id = &aid;
    ai.hostname = "h";
    s->m = m;
    s->id = xstrdup(id);
    s->hostname = xstrdup("h");
    s->info = pb_dup(&ai.base);
    res_init(&s->total);
    res_init(&s->used);
    res_init(&s->offered);
    assert_int_equal(res_parse(res_text, NULL, &s->total, &err), 0);
    s->state = SLAVE_STATE_DISCONNECTED;
    HASH_ADD_KEYPTR(hh, m->slaves, s->id, strlen(s->id), s);
    alloc_add_slave(m->alloc, s->id, &s->total);
    s->in_allocator = true;
    return s;
}

static struct task *add_task(struct master *m, struct framework *fw, struct slave *s,
                             const char *id, const char *res_text)
{
    Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    struct resources res;
    char *err = NULL;
    tid.value = (char *)id;
    aid.value = s->id;
    ti.name = (char *)id;
    ti.task_id = &tid;
    ti.agent_id = &aid;
    res_init(&res);
    assert_int_equal(res_parse(res_text, NULL, &res, &err), 0);
    alloc_add_used(m->alloc, fw->id, s->id, &res);
    struct task *t = task_create(m, fw, s, &ti, &res, MESOS__V1__TASK_STATE__TASK_STAGING);
    res_cleanup(&res);
    return t;
}

static void test_task_accounting(void **state)
{
    struct fixture *f = *state;
    char *err = NULL;
    f->m = start_master(f, &err);
    assert_non_null(f->m);
    struct master *m = f->m;
    Mesos__V1__FrameworkInfo *fi = framework_info("F", 0);
    struct framework *fw = fw_create(m, "F", fi, FW_STATE_RECOVERED);
    pb_free(fi);
    struct slave *s = add_slave(m, "S", "cpus:4;mem:1024");

    struct task *t = add_task(m, fw, s, "t1", "cpus:1;mem:128");
    assert_ptr_equal(task_find(fw, "t1"), t);
    assert_true(res_scalar(&fw->used, "cpus") == 1);
    assert_true(res_scalar(&s->used, "mem") == 128);
    assert_int_equal(m->task_counts[MESOS__V1__TASK_STATE__TASK_STAGING], 1);

    task_update_state(m, t, NULL, MESOS__V1__TASK_STATE__TASK_RUNNING);
    assert_int_equal(m->task_counts[MESOS__V1__TASK_STATE__TASK_STAGING], 0);
    assert_int_equal(m->task_counts[MESOS__V1__TASK_STATE__TASK_RUNNING], 1);
    assert_true(res_scalar(&fw->used, "cpus") == 1);

    /* Terminal: resources come back at once, the task stays until acked. */
    task_master_transition(m, t, MESOS__V1__TASK_STATE__TASK_FINISHED,
                           MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION, "done", false);
    assert_true(res_empty(&fw->used));
    assert_true(res_empty(&s->used));
    assert_non_null(t->latest);
    assert_int_equal(t->latest->state, MESOS__V1__TASK_STATE__TASK_FINISHED);
    assert_int_equal(t->nstatuses, 3);
    task_remove(m, t);
    assert_null(task_find(fw, "t1"));
    assert_int_equal(fw->ntasks, 0);
    assert_int_equal(s->ntasks, 0);
    assert_int_equal(fw->ncompleted, 1);
    assert_int_equal(m->task_counts[MESOS__V1__TASK_STATE__TASK_FINISHED], 0);

    /* Removing a running task releases its resources too. */
    t = add_task(m, fw, s, "t2", "cpus:2");
    task_remove(m, t);
    assert_true(res_empty(&fw->used));

    /* The completed ring keeps the last MASTER_MAX_COMPLETED_TASKS. */
    for (int i = 0; i < MASTER_MAX_COMPLETED_TASKS + 5; i++) {
        char id[32];
        snprintf(id, sizeof(id), "r%d", i);
        task_remove(m, add_task(m, fw, s, id, "cpus:0.1"));
    }
    assert_int_equal(fw->ncompleted, MASTER_MAX_COMPLETED_TASKS);
    struct task *newest =
        fw->completed[(fw->completed_head + fw->ncompleted - 1) % MASTER_MAX_COMPLETED_TASKS];
    char want[32];
    snprintf(want, sizeof(want), "r%d", MASTER_MAX_COMPLETED_TASKS + 4);
    assert_string_equal(newest->id, want);
    assert_true(res_empty(&fw->used));

    /* Removing the framework moves it to completed_frameworks. */
    fw_remove(m, fw, "unit test");
    assert_null(fw_find(m, "F"));
    assert_true(fw_is_completed(m, "F"));
    event_base_loop(f->base, EVLOOP_NONBLOCK); /* runs the deferred free */
}

int main(void)
{
    mem_init();
    log_set_level(LOG_LVL_WARN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_registry_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_corrupt, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_registry_50k_slaves, setup, teardown),
        cmocka_unit_test(test_accept_negotiation),
        cmocka_unit_test_setup_teardown(test_task_accounting, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
