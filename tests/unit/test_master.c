/*
 * test_master: unit tests of master internals (master/master.h) — the
 * registry's round trip through --work_dir and its refusal of a corrupt
 * file, Accept negotiation, task resource accounting from launch to
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
#include <cmocka.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "master.h"
#include "allocator.h"
#include "atomic_file.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

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
  master_free(f->m);            /* flushes */

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

static void test_registry_corrupt(void **state)
{
  struct fixture *f = *state;
  char *err = NULL;
  char path[128];
  snprintf(path, sizeof(path), "%s/registry.json", f->dir);
  assert_int_equal(atomic_write(path, "{\"slaves\": [{\"id\": 1}", 21, &err), 0);
  f->m = start_master(f, &err);
  assert_null(f->m);
  assert_non_null(err);
  assert_non_null(strstr(err, "registry.json"));
  free(err);
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
  struct task *newest = fw->completed[(fw->completed_head + fw->ncompleted - 1) %
                                      MASTER_MAX_COMPLETED_TASKS];
  char want[32];
  snprintf(want, sizeof(want), "r%d", MASTER_MAX_COMPLETED_TASKS + 4);
  assert_string_equal(newest->id, want);
  assert_true(res_empty(&fw->used));

  /* Removing the framework moves it to completed_frameworks. */
  fw_remove(m, fw, "unit test");
  assert_null(fw_find(m, "F"));
  assert_true(fw_is_completed(m, "F"));
  event_base_loop(f->base, EVLOOP_NONBLOCK);   /* runs the deferred free */
}

int main(void)
{
  mem_init();
  log_set_level(LOG_LVL_WARN);
  const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(test_registry_round_trip, setup, teardown),
    cmocka_unit_test_setup_teardown(test_registry_corrupt, setup, teardown),
    cmocka_unit_test(test_accept_negotiation),
    cmocka_unit_test_setup_teardown(test_task_accounting, setup, teardown),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}
