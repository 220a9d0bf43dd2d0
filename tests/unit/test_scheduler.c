/*
 * test_scheduler: libagora-scheduler — the task builder, packing tasks
 * into offers, and the whole client against an in-process fake master
 * (SUBSCRIBE stream, offers, launch, status updates with automatic
 * acknowledgement, teardown, a 307 to the leader, and re-subscription
 * with the framework id after the stream drops); fits and packing from
 * plain numbers, the de-duplication of terminal updates, call results,
 * the resubscribed flag, and timers.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agora/scheduler.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "pbjson.h"
#include "recordio.h"
#include "resources.h"
#include "scheduler.pb-c.h"
#include "../../frameworks/scheduler/sched_dedup.h"

/* ------------------------------------------------------------ helpers */

/* An offer built from Mesos text resources; free with offer_free. */
static Mesos__V1__Offer *offer_new(const char *id, const char *agent, const char *text)
{
    Mesos__V1__Offer *o = xcalloc(1, sizeof(*o));
    struct resources r;
    char *err = NULL;

    mesos__v1__offer__init(o);
    o->id = xcalloc(1, sizeof(*o->id));
    mesos__v1__offer_id__init(o->id);
    o->id->value = xstrdup(id);
    o->framework_id = xcalloc(1, sizeof(*o->framework_id));
    mesos__v1__framework_id__init(o->framework_id);
    o->framework_id->value = xstrdup("fw-1");
    o->agent_id = xcalloc(1, sizeof(*o->agent_id));
    mesos__v1__agent_id__init(o->agent_id);
    o->agent_id->value = xstrdup(agent);
    o->hostname = xstrdup("localhost");
    res_init(&r);
    assert_int_equal(res_parse(text, NULL, &r, &err), 0);
    o->resources = res_to_pb(&r, &o->n_resources);
    res_cleanup(&r);
    return o;
}

static void offer_free(Mesos__V1__Offer *o)
{
    res_pb_free(o->resources, o->n_resources);
    o->resources = NULL;
    o->n_resources = 0;
    mesos__v1__offer__free_unpacked(o, NULL);
}

/* ------------------------------------------------------- task builder */

static void test_task_new(void **state)
{
    Mesos__V1__TaskInfo *t = agora_task_new("web", "web-1", "agent-7", "sleep 1", 0.5, 128);
    uint64_t ports[] = { 31002, 31000, 31001, 31010 };

    assert_non_null(t);
    assert_string_equal(t->name, "web");
    assert_string_equal(t->task_id->value, "web-1");
    assert_string_equal(t->agent_id->value, "agent-7");
    assert_string_equal(t->command->value, "sleep 1");
    assert_true(t->command->has_shell && t->command->shell);
    assert_int_equal(t->n_resources, 2);
    agora_task_add_scalar(t, "cpus", 0.25); /* merges into the cpus entry */
    agora_task_add_ports(t, ports, 4);
    agora_task_set_env(t, "A", "1");
    agora_task_set_env(t, "A", "2"); /* replaces */
    assert_int_equal(t->n_resources, 3);
    assert_int_equal(t->command->environment->n_variables, 1);
    assert_string_equal(t->command->environment->variables[0]->value, "2");

    struct resources r;
    char *err = NULL, *txt;
    res_init(&r);
    assert_int_equal(res_from_pb(t->resources, t->n_resources, &r, &err), 0);
    txt = res_format(&r);
    assert_string_equal(txt, "cpus:0.75;mem:128;ports:[31000-31002,31010-31010]");
    free(txt);
    res_cleanup(&r);

    /* A task round-trips through protobuf (what launch sends). */
    size_t len = mesos__v1__task_info__get_packed_size(t);
    uint8_t *buf = xmalloc(len);
    mesos__v1__task_info__pack(t, buf);
    Mesos__V1__TaskInfo *u = mesos__v1__task_info__unpack(NULL, len, buf);
    assert_non_null(u);
    assert_string_equal(u->task_id->value, "web-1");
    mesos__v1__task_info__free_unpacked(u, NULL);
    free(buf);

    agora_task_set_role(t, "web");
    res_init(&r);
    assert_int_equal(res_from_pb(t->resources, t->n_resources, &r, &err), 0);
    txt = res_format(&r);
    assert_non_null(strstr(txt, "cpus(web):0.75"));
    free(txt);
    res_cleanup(&r);
    agora_task_free(t);
    agora_task_free(NULL);
    assert_null(agora_task_new("x", NULL, NULL, "true", 1, 1));
}

static void test_pack_offer(void **state)
{
    Mesos__V1__Offer *o = offer_new("o1", "a1", "cpus:1;mem:100;ports:[31000-31001]");
    struct agora_resources *left = agora_resources_from_offer(o, NULL);
    int packed = 0;

    assert_non_null(left);
    assert_true(agora_resources_scalar(left, "cpus") > 0.999);
    /* 0.1 cpus x 10 = 1.0 exactly (fixed point), but mem allows only 6. */
    for (int i = 0; i < 20; i++) {
        Mesos__V1__TaskInfo *t = agora_task_new("t", "t", NULL, "true", 0.1, 16);
        if (agora_resources_take(left, t) < 0) {
            agora_task_free(t);
            break;
        }
        packed++;
        agora_task_free(t);
    }
    assert_int_equal(packed, 6);
    char *txt = agora_resources_format(left);
    assert_string_equal(txt, "cpus:0.4;mem:4;ports:[31000-31001]");
    free(txt);

    /* cpus-bound packing: 0.1 cpus ten times from 1 cpu, no rounding loss. */
    agora_resources_free(left);
    offer_free(o);
    o = offer_new("o2", "a1", "cpus:1;mem:1000");
    left = agora_resources_from_offer(o, NULL);
    packed = 0;
    for (;;) {
        Mesos__V1__TaskInfo *t = agora_task_new("t", "t", NULL, "true", 0.1, 16);
        int rc = agora_resources_take(left, t);
        agora_task_free(t);
        if (rc < 0)
            break;
        packed++;
    }
    assert_int_equal(packed, 10);

    /* Ports come from the offer and fit only once. */
    agora_resources_free(left);
    offer_free(o);
    o = offer_new("o3", "a1", "cpus:4;mem:1000;ports:[31000-31001]");
    left = agora_resources_from_offer(o, NULL);
    uint64_t p[4];
    assert_int_equal(agora_resources_ports(left, p, 4), 2);
    Mesos__V1__TaskInfo *t = agora_task_new("t", "t", NULL, "true", 0.1, 16);
    agora_task_add_ports(t, p, 2);
    assert_true(agora_resources_fits(left, t));
    assert_int_equal(agora_resources_take(left, t), 0);
    assert_false(agora_resources_fits(left, t));
    assert_int_equal(agora_resources_take(left, t), -1);
    agora_task_free(t);

    /* Resources reserved for another role do not fit a "*" task. */
    agora_resources_free(left);
    offer_free(o);
    o = offer_new("o4", "a1", "cpus(web):1;mem(web):100");
    left = agora_resources_from_offer(o, NULL);
    t = agora_task_new("t", "t", NULL, "true", 0.1, 16);
    assert_false(agora_resources_fits(left, t));
    agora_task_set_role(t, "web");
    assert_true(agora_resources_fits(left, t));
    agora_task_free(t);
    agora_resources_free(left);
    offer_free(o);
}

static void test_state_names(void **state)
{
    assert_string_equal(agora_task_state_name(MESOS__V1__TASK_STATE__TASK_RUNNING), "TASK_RUNNING");
    assert_string_equal(agora_task_state_name(999), "TASK_?");
    assert_true(agora_task_state_terminal(MESOS__V1__TASK_STATE__TASK_FINISHED));
    assert_true(agora_task_state_terminal(MESOS__V1__TASK_STATE__TASK_LOST));
    assert_false(agora_task_state_terminal(MESOS__V1__TASK_STATE__TASK_RUNNING));
    assert_false(agora_task_state_terminal(MESOS__V1__TASK_STATE__TASK_UNREACHABLE));
    assert_string_equal(agora_scheduler_state_name(AGORA_SCHED_SUBSCRIBED), "SUBSCRIBED");
}

static void test_bad_config(void **state)
{
    /* zk:// needs a path (the group znode). */
    struct agora_scheduler_config cfg = { .master = "zk://h:2181", .name = "x" };
    char *err = NULL;

    assert_null(agora_scheduler_new(NULL, &cfg, NULL, NULL, &err));
    assert_non_null(strstr(err, "master"));
    free(err);
    err = NULL;
    cfg.master = "127.0.0.1:5050";
    cfg.name = NULL;
    assert_null(agora_scheduler_new(NULL, &cfg, NULL, NULL, &err));
    assert_non_null(strstr(err, "name"));
    free(err);
    err = NULL;
    cfg.name = "x";
    cfg.master = "h1:5050,nonsense:";
    assert_null(agora_scheduler_new(NULL, &cfg, NULL, NULL, &err));
    free(err);
    err = NULL;
    cfg.master = "127.0.0.1:5050,127.0.0.2:5051";
    cfg.zk_session_timeout = -1;
    assert_null(agora_scheduler_new(NULL, &cfg, NULL, NULL, &err));
    assert_non_null(strstr(err, "zk_session_timeout"));
    free(err);
    err = NULL;
    cfg.zk_session_timeout = 0; /* the default */
    struct agora_scheduler *s = agora_scheduler_new(NULL, &cfg, NULL, NULL, &err);
    assert_non_null(s);
    assert_int_equal(agora_scheduler_state(s), AGORA_SCHED_DISCONNECTED);
    assert_null(agora_scheduler_framework_id(s));
    /* Calls before SUBSCRIBED are refused, not queued. */
    assert_int_equal(agora_scheduler_revive(s), -1);
    assert_int_equal(agora_scheduler_decline(s, "o1", 1), -1);
    agora_scheduler_free(s);
}

/* ------------------------------------------------------- fake master */

struct fake_master {
    struct event_base *base;
    struct http_server *srv;
    struct http_server *redirector; /* answers every SUBSCRIBE with 307 */
    struct http_stream *stream;
    int subscribes;
    int drop_first_stream;  /* close the first stream after SUBSCRIBED */
    bool json;              /* the client speaks JSON */
    int silent_first;       /* first stream: SUBSCRIBED, then nothing */
    bool dup_terminal;      /* send every FINISHED twice (a slave's retry) */
    char *resubscribe_fwid; /* framework_id of the second SUBSCRIBE */
    int accepts, tasks_launched, acks, declines, suppresses, teardowns, bad_stream_ids;
    char *last_task_ids[16];
};

static void fm_send_event(struct fake_master *fm, Mesos__V1__Scheduler__Event *ev)
{
    size_t len = 0, flen = 0;
    uint8_t *buf;
    char *framed;

    if (fm->json) {
        buf = (uint8_t *)pbjson_encode_string(&ev->base, &len);
    } else {
        len = mesos__v1__scheduler__event__get_packed_size(ev);
        buf = xmalloc(len + 1);
        mesos__v1__scheduler__event__pack(ev, buf);
    }
    framed = rio_encode_alloc(buf, len, &flen);
    if (fm->stream)
        http_stream_send(fm->stream, framed, flen);
    free(framed);
    free(buf);
}

static void fm_send_offer(struct fake_master *fm, const char *id)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Offers offers = MESOS__V1__SCHEDULER__EVENT__OFFERS__INIT;
    Mesos__V1__Offer *o = offer_new(id, "agent-1", "cpus:1;mem:256;ports:[31000-31010]");

    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
    offers.n_offers = 1;
    offers.offers = &o;
    ev.offers = &offers;
    fm_send_event(fm, &ev);
    offer_free(o);
}

static void fm_send_update(struct fake_master *fm, const char *task_id, int state)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    uint8_t uuid[16] = { 1, 2, 3 };

    tid.value = (char *)task_id;
    aid.value = "agent-1";
    st.task_id = &tid;
    st.agent_id = &aid;
    st.state = state;
    st.has_uuid = 1;
    st.uuid.data = uuid;
    st.uuid.len = sizeof(uuid);
    up.status = &st;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
    ev.update = &up;
    fm_send_event(fm, &ev);
}

static void fm_stream_closed(struct http_stream *st, void *arg)
{
    struct fake_master *fm = arg;
    if (fm->stream == st)
        fm->stream = NULL;
}

static void fm_handle(struct evhttp_request *req, void *arg)
{
    struct fake_master *fm = arg;
    size_t len = 0;
    const char *body = http_req_body(req, &len);
    const char *ct = http_req_header(req, "Content-Type");
    Mesos__V1__Scheduler__Call *call;

    assert_non_null(ct);
    assert_string_equal(ct, fm->json ? "application/json" : "application/x-protobuf");
    if (fm->json)
        call = (Mesos__V1__Scheduler__Call *)pbjson_decode_string(
            &mesos__v1__scheduler__call__descriptor, body, len, NULL);
    else
        call = mesos__v1__scheduler__call__unpack(NULL, len, (const uint8_t *)body);
    if (!call) {
        http_reply_text(req, 400, "bad call");
        return;
    }
    if (call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE) {
        Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
        Mesos__V1__Scheduler__Event__Subscribed sub = MESOS__V1__SCHEDULER__EVENT__SUBSCRIBED__INIT;
        Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;

        fm->subscribes++;
        if (fm->subscribes == 2 && call->framework_id)
            fm->resubscribe_fwid = xstrdup(call->framework_id->value);
        if (fm->stream)
            http_stream_close(fm->stream);
        http_add_header(req, "Mesos-Stream-Id", fm->subscribes == 1 ? "stream-1" : "stream-2");
        fm->stream =
            http_stream_start(req, 200, fm->json ? "application/json" : "application/x-protobuf",
                              fm_stream_closed, fm);
        fid.value = "fw-test";
        sub.framework_id = &fid;
        sub.has_heartbeat_interval_seconds = 1;
        sub.heartbeat_interval_seconds = fm->silent_first && fm->subscribes == 1 ? 0.2 : 15;
        ev.has_type = 1;
        ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED;
        ev.subscribed = &sub;
        fm_send_event(fm, &ev);
        if (fm->silent_first && fm->subscribes == 1)
            goto out; /* promise heartbeats every 0.2 s, send none */
        if (fm->drop_first_stream && fm->subscribes == 1) {
            /* The connection drops right after SUBSCRIBED: the client must
       * come back with the framework id it was given. */
            http_stream_close(fm->stream);
            fm->stream = NULL;
            goto out;
        }
        fm_send_offer(fm, "offer-1");
        goto out;
    }
    const char *sid = http_req_header(req, "Mesos-Stream-Id");
    if (!sid || strcmp(sid, fm->subscribes == 1 ? "stream-1" : "stream-2") != 0)
        fm->bad_stream_ids++;
    switch (call->type) {
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT:
        fm->accepts++;
        for (size_t i = 0; i < call->accept->n_operations; i++) {
            Mesos__V1__Offer__Operation *op = call->accept->operations[i];
            for (size_t j = 0; op->launch && j < op->launch->n_task_infos; j++) {
                Mesos__V1__TaskInfo *t = op->launch->task_infos[j];
                assert_string_equal(t->agent_id->value, "agent-1");
                fm_send_update(fm, t->task_id->value, MESOS__V1__TASK_STATE__TASK_RUNNING);
                fm_send_update(fm, t->task_id->value, MESOS__V1__TASK_STATE__TASK_FINISHED);
                if (fm->dup_terminal)
                    fm_send_update(fm, t->task_id->value, MESOS__V1__TASK_STATE__TASK_FINISHED);
                fm->tasks_launched++;
            }
        }
        /* What the tasks used comes back: offer the agent again. */
        fm_send_offer(fm, "offer-next");
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE:
        assert_int_equal(call->acknowledge->uuid.len, 16);
        fm->acks++;
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE:
        fm->declines++;
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS:
        fm->suppresses++;
        break;
    case MESOS__V1__SCHEDULER__CALL__TYPE__TEARDOWN:
        fm->teardowns++;
        if (fm->stream) {
            http_stream_close(fm->stream);
            fm->stream = NULL;
        }
        break;
    default:
        break;
    }
    http_reply(req, 202, "text/plain", "", 0);
out:
    mesos__v1__scheduler__call__free_unpacked(call, NULL);
}

static char fm_location[64];

static void fm_redirect(struct evhttp_request *req, void *arg)
{
    http_add_header(req, "Location", fm_location);
    http_reply_text(req, 307, "not the leader");
}

/* The framework under test: packs 0.25 cpu / 64 MB tasks into each offer
 * until `want` are launched, tears down when all finished. */
struct fw {
    int want, launched, finished, subscribed, disconnected, errors;
    int resubscribed, calls_ok, calls_failed, accepts_done, accept_ctx_ok;
    int finished_per_task[16];
    char ids[16][32];
};

static void fw_subscribed(struct agora_scheduler *s, const char *fwid, double hb, bool resub,
                          void *arg)
{
    struct fw *f = arg;
    assert_string_equal(fwid, "fw-test");
    /* The first SUBSCRIBE carries no id; every later one does. */
    assert_int_equal(resub, f->subscribed > 0);
    f->resubscribed += resub;
    f->subscribed++;
}

static void fw_accept_done(struct agora_scheduler *s, const struct agora_call_result *r, void *ctx)
{
    struct fw *f = (struct fw *)((char *)ctx - offsetof(struct fw, want));

    assert_int_equal(r->type, AGORA_CALL_ACCEPT);
    f->accepts_done++;
    f->accept_ctx_ok += r->ctx == ctx;
}

static void fw_call_done(struct agora_scheduler *s, const struct agora_call_result *r, void *arg)
{
    struct fw *f = arg;

    if (r->ok) {
        assert_int_equal(r->http_status, 202);
        assert_null(r->error);
        f->calls_ok++;
    } else {
        assert_non_null(r->error);
        f->calls_failed++;
    }
}

static void fw_offers(struct agora_scheduler *s, const Mesos__V1__Offer *const *offers, size_t n,
                      void *arg)
{
    struct fw *f = arg;

    for (size_t i = 0; i < n; i++) {
        struct agora_resources *left = agora_resources_from_offer(offers[i], NULL);
        Mesos__V1__TaskInfo *tasks[16];
        size_t k = 0;
        while (f->launched + (int)k < f->want) {
            snprintf(f->ids[f->launched + k], sizeof(f->ids[0]), "task-%d", f->launched + (int)k);
            Mesos__V1__TaskInfo *t =
                agora_task_new(NULL, f->ids[f->launched + k], NULL, "true", 0.25, 64);
            if (agora_resources_take(left, t) < 0) {
                agora_task_free(t);
                break;
            }
            tasks[k++] = t;
        }
        if (k) {
            assert_int_equal(
                agora_scheduler_launch_ex(s, offers[i], tasks, k, 1, fw_accept_done, &f->want), 0);
            f->launched += (int)k;
        } else {
            assert_int_equal(agora_scheduler_decline(s, offers[i]->id->value, 1), 0);
        }
        for (size_t j = 0; j < k; j++) {
            /* launch must hand the tasks back unchanged */
            assert_null(tasks[j]->agent_id);
            agora_task_free(tasks[j]);
        }
        agora_resources_free(left);
    }
    if (f->launched == f->want)
        agora_scheduler_suppress(s);
}

static void fw_update(struct agora_scheduler *s, const Mesos__V1__TaskStatus *st, void *arg)
{
    struct fw *f = arg;
    int i = atoi(st->task_id->value + strlen("task-"));
    if (st->state == MESOS__V1__TASK_STATE__TASK_FINISHED && i >= 0 && i < 16)
        f->finished_per_task[i]++;
    if (st->state == MESOS__V1__TASK_STATE__TASK_FINISHED && ++f->finished == f->want) {
        agora_scheduler_teardown(s);
        agora_scheduler_stop(s);
    }
}

static void fw_disconnected(struct agora_scheduler *s, const char *reason, void *arg)
{
    ((struct fw *)arg)->disconnected++;
}

static void fw_error(struct agora_scheduler *s, const char *msg, void *arg)
{
    ((struct fw *)arg)->errors++;
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    fail_msg("scheduler test did not finish in time");
}

static void run_fake(struct fake_master *fm, struct fw *f, bool via_redirect)
{
    struct agora_scheduler_callbacks cbs = {
        .subscribed = fw_subscribed,
        .offers = fw_offers,
        .update = fw_update,
        .disconnected = fw_disconnected,
        .error = fw_error,
        .call_done = fw_call_done,
    };
    struct agora_scheduler_config cfg = {
        .name = "test", .user = "nobody", .failover_timeout = 60, .json = fm->json
    };
    char master[64], *err = NULL;
    struct timeval deadline = { 20, 0 };
    struct event *dl;
    struct agora_scheduler *s;

    fm->base = event_base_new();
    fm->srv = http_server_new(fm->base, "127.0.0.1", 0, 1 << 20, &err);
    assert_non_null(fm->srv);
    http_server_route(fm->srv, "POST", "/api/v1/scheduler", false, fm_handle, fm);
    snprintf(fm_location, sizeof(fm_location), "//127.0.0.1:%d/api/v1/scheduler",
             http_server_port(fm->srv));
    if (via_redirect) {
        fm->redirector = http_server_new(fm->base, "127.0.0.1", 0, 1 << 20, &err);
        assert_non_null(fm->redirector);
        http_server_route(fm->redirector, "POST", "/api/v1/scheduler", false, fm_redirect, fm);
        snprintf(master, sizeof(master), "127.0.0.1:%d", http_server_port(fm->redirector));
    } else {
        snprintf(master, sizeof(master), "127.0.0.1:%d", http_server_port(fm->srv));
    }
    cfg.master = master;
    s = agora_scheduler_new(fm->base, &cfg, &cbs, f, &err);
    assert_non_null(s);
    dl = evtimer_new(fm->base, on_deadline, NULL);
    evtimer_add(dl, &deadline);
    assert_int_equal(agora_scheduler_run(s), 0);
    assert_int_equal(agora_scheduler_state(s), AGORA_SCHED_DISCONNECTED);
    assert_string_equal(agora_scheduler_framework_id(s), "fw-test");
    agora_scheduler_free(s);
    event_free(dl);
    if (fm->stream)
        http_stream_close(fm->stream);
    http_server_free(fm->srv);
    if (fm->redirector)
        http_server_free(fm->redirector);
    event_base_free(fm->base);
}

static void test_fake_master(void **state)
{
    struct fake_master fm = { 0 };
    struct fw f = { .want = 6 };

    run_fake(&fm, &f, false);
    assert_int_equal(fm.subscribes, 1);
    assert_int_equal(f.subscribed, 1);
    /* cpus:1 / 0.25 = 4 tasks fit the first offer, 2 go to the next. */
    assert_int_equal(fm.accepts, 2);
    assert_int_equal(fm.tasks_launched, 6);
    /* Every update is acknowledged but the last: the framework tore down
   * from its callback, and acknowledging after TEARDOWN is pointless. */
    assert_int_equal(fm.acks, 2 * fm.tasks_launched - 1);
    assert_true(fm.suppresses >= 1);
    assert_int_equal(fm.teardowns, 1);
    assert_int_equal(fm.bad_stream_ids, 0);
    assert_int_equal(f.errors, 0);
}

static void test_duplicate_terminal_dropped(void **state)
{
    struct fake_master fm = { .dup_terminal = true };
    struct fw f = { .want = 6 };

    run_fake(&fm, &f, false);
    assert_int_equal(fm.tasks_launched, 6);
    /* Each task's FINISHED came twice; the framework saw it once. */
    for (int i = 0; i < 6; i++)
        assert_int_equal(f.finished_per_task[i], 1);
    assert_int_equal(f.finished, 6);
    /* The repeats were acknowledged all the same (the last task's repeat
     * arrives after the stop). */
    assert_int_equal(fm.acks, 3 * 6 - 2);
    /* Both ACCEPTs came back with their ctx, exactly once each: the fake
     * master answers the second after the last update, when the framework
     * has stopped, and its own done still runs (so a ctx is always freed);
     * the scheduler-wide call_done does not run after the stop. */
    assert_int_equal(f.accepts_done, 2);
    assert_int_equal(f.accept_ctx_ok, 2);
    assert_int_equal(f.calls_failed, 0);
    assert_true(f.calls_ok >= 1 + 8);
}

static void test_dedup(void **state)
{
    struct sched_dedup *d = sched_dedup_new(3);
    const int RUN = MESOS__V1__TASK_STATE__TASK_RUNNING, FIN = MESOS__V1__TASK_STATE__TASK_FINISHED,
              LOST = MESOS__V1__TASK_STATE__TASK_LOST;

    assert_false(sched_dedup_drop(d, "a", RUN));
    assert_false(sched_dedup_drop(d, "a", FIN));
    assert_true(sched_dedup_drop(d, "a", FIN));  /* the slave's retry */
    assert_true(sched_dedup_drop(d, "a", LOST)); /* a reconcile answer */
    assert_int_equal(sched_dedup_count(d), 1);
    /* The id reused for a new task: delivered again. */
    assert_false(sched_dedup_drop(d, "a", RUN));
    assert_int_equal(sched_dedup_count(d), 0);
    assert_false(sched_dedup_drop(d, "a", FIN));
    /* Bounded: the oldest id is forgotten first. */
    assert_false(sched_dedup_drop(d, "b", FIN));
    assert_false(sched_dedup_drop(d, "c", FIN));
    assert_false(sched_dedup_drop(d, "d", FIN));
    assert_int_equal(sched_dedup_count(d), 3);
    assert_false(sched_dedup_drop(d, "a", FIN)); /* evicted */
    assert_true(sched_dedup_drop(d, "d", FIN));
    assert_false(sched_dedup_drop(NULL, "x", FIN));
    sched_dedup_free(d);

    /* Many ids through a small table keep chains and FIFO consistent. */
    d = sched_dedup_new(100);
    char id[32];
    for (int i = 0; i < 1000; i++) {
        snprintf(id, sizeof(id), "t%d", i);
        assert_false(sched_dedup_drop(d, id, FIN));
        assert_true(sched_dedup_drop(d, id, FIN));
    }
    assert_int_equal(sched_dedup_count(d), 100);
    assert_true(sched_dedup_drop(d, "t999", FIN));
    assert_false(sched_dedup_drop(d, "t899", FIN));
    sched_dedup_free(d);
}

static void test_fits_and_pack(void **state)
{
    Mesos__V1__Offer *o = offer_new("o", "a", "cpus:1;mem:256;ports:[31000-31002,31005-31010]");
    struct agora_resources *r = agora_resources_from_offer(o, NULL);
    struct agora_need need = { .cpus = 0.25, .mem = 64, .ports = 2 };
    uint64_t ports[20] = { 0 };

    assert_true(agora_resources_fits_need(r, &need));
    /* 4 by cpus and by mem, 4 by ports (9 ports / 2). */
    assert_int_equal(agora_resources_pack(r, &need, 10, ports), 4);
    const uint64_t want[8] = { 31000, 31001, 31002, 31005, 31006, 31007, 31008, 31009 };
    for (int i = 0; i < 8; i++)
        assert_int_equal(ports[i], want[i]);
    assert_false(agora_resources_fits_need(r, &need));
    assert_int_equal(agora_resources_pack(r, &need, 10, ports), 0);
    /* Only the last port is left. */
    need = (struct agora_need){ .ports = 1 };
    assert_int_equal(agora_resources_pack(r, &need, 10, ports), 1);
    assert_int_equal(ports[0], 31010);
    agora_resources_free(r);

    r = agora_resources_from_offer(o, NULL);
    /* max bounds the count; fits_need leaves r alone. */
    need = (struct agora_need){ .cpus = 0.1 };
    assert_true(agora_resources_fits_need(r, &need));
    assert_int_equal(agora_resources_pack(r, &need, 3, NULL), 3);
    assert_int_equal(agora_resources_pack(r, &need, 100, NULL), 7); /* 0.7 cpus left */
    /* Mem is the limit; disk, another role, too many ports, negative: no. */
    agora_resources_free(r);
    r = agora_resources_from_offer(o, NULL);
    need = (struct agora_need){ .mem = 100 };
    assert_int_equal(agora_resources_pack(r, &need, 100, NULL), 2);
    need = (struct agora_need){ .disk = 1 };
    assert_false(agora_resources_fits_need(r, &need));
    need = (struct agora_need){ .cpus = 0.1, .role = "web" };
    assert_false(agora_resources_fits_need(r, &need));
    need = (struct agora_need){ .ports = 10 };
    assert_false(agora_resources_fits_need(r, &need));
    need = (struct agora_need){ .cpus = -1 };
    assert_false(agora_resources_fits_need(r, &need));
    assert_int_equal(agora_resources_pack(r, &need, 5, NULL), 0);
    assert_false(agora_resources_fits_need(NULL, &need));
    assert_false(agora_resources_fits_need(r, NULL));
    agora_resources_free(r);
    offer_free(o);
}

/* ------------------------------------------------------------- timers */

struct timers {
    int repeats, oneshots, never;
    struct agora_timer *rep;
};

static void t_repeat(struct agora_scheduler *s, void *ctx)
{
    struct timers *t = ctx;
    if (++t->repeats == 3)
        agora_scheduler_cancel_timer(s, t->rep); /* from its own callback */
}

static void t_never(struct agora_scheduler *s, void *ctx)
{
    ((struct timers *)ctx)->never++;
}

static void t_stop(struct agora_scheduler *s, void *ctx)
{
    ((struct timers *)ctx)->oneshots++;
    agora_scheduler_stop(s);
}

static void test_timers(void **state)
{
    struct agora_scheduler_config cfg = { .master = "127.0.0.1:1", .name = "t" };
    struct agora_scheduler *s = agora_scheduler_new(NULL, &cfg, NULL, NULL, NULL);
    struct timers t = { 0 };

    assert_non_null(s);
    assert_null(agora_scheduler_add_timer(s, 0, true, t_never, &t));
    assert_null(agora_scheduler_add_timer(s, 10, false, NULL, &t));
    t.rep = agora_scheduler_add_timer(s, 10, true, t_repeat, &t);
    assert_non_null(t.rep);
    agora_scheduler_cancel_timer(s, agora_scheduler_add_timer(s, 5, false, t_never, &t));
    assert_non_null(agora_scheduler_add_timer(s, 200, false, t_stop, &t));
    /* Pending at free: freed without firing. */
    assert_non_null(agora_scheduler_add_timer(s, 60000, false, t_never, &t));
    assert_int_equal(agora_scheduler_run(s), 0);
    assert_int_equal(t.repeats, 3);
    assert_int_equal(t.oneshots, 1);
    assert_int_equal(t.never, 0);
    agora_scheduler_free(s);
}

/* ------------------------------------------------------------ logging */

struct logged {
    int lines, below_warn, warns;
};

static void log_capture(enum agora_log_level level, const char *line, void *ctx)
{
    struct logged *l = ctx;

    l->lines++;
    l->below_warn += level < AGORA_LOG_WARN;
    l->warns += level == AGORA_LOG_WARN && strstr(line, " W ") && !strchr(line, '\n');
}

static void t_stop_only(struct agora_scheduler *s, void *ctx)
{
    agora_scheduler_stop(s);
}

static void test_log_level_and_fn(void **state)
{
    struct logged l = { 0 };
    /* Port 1 refuses: the library logs the failed SUBSCRIBE at warn level
     * and its state changes at info level, which log_level hides. */
    struct agora_scheduler_config cfg = {
        .master = "127.0.0.1:1",
        .name = "t",
        .log_level = AGORA_LOG_WARN,
        .log_fn = log_capture,
        .log_ctx = &l,
    };
    struct agora_scheduler *s = agora_scheduler_new(NULL, &cfg, NULL, NULL, NULL);

    assert_non_null(s);
    assert_non_null(agora_scheduler_add_timer(s, 300, false, t_stop_only, NULL));
    assert_int_equal(agora_scheduler_run(s), 0);
    agora_scheduler_free(s);
    log_set_sink(NULL, NULL);
    log_set_level(LOG_LVL_INFO);
    assert_true(l.warns >= 1);
    assert_int_equal(l.below_warn, 0);
    assert_int_equal(l.lines, l.warns);

    cfg.log_level = (enum agora_log_level)99;
    char *err = NULL;
    assert_null(agora_scheduler_new(NULL, &cfg, NULL, NULL, &err));
    assert_non_null(strstr(err, "log_level"));
    free(err);
}

static void test_fake_master_json(void **state)
{
    struct fake_master fm = { .json = true };
    struct fw f = { .want = 5 };

    run_fake(&fm, &f, false);
    assert_int_equal(fm.tasks_launched, 5);
    assert_int_equal(fm.acks, 2 * 5 - 1);
    assert_int_equal(fm.teardowns, 1);
    assert_int_equal(fm.bad_stream_ids, 0);
}

static void test_heartbeat_timeout(void **state)
{
    struct fake_master fm = { .silent_first = 1 };
    struct fw f = { .want = 2 };

    run_fake(&fm, &f, false);
    assert_int_equal(fm.subscribes, 2);
    assert_string_equal(fm.resubscribe_fwid, "fw-test");
    assert_int_equal(f.disconnected, 1);
    assert_int_equal(fm.tasks_launched, 2);
    free(fm.resubscribe_fwid);
}

static void test_redirect_and_resubscribe(void **state)
{
    struct fake_master fm = { .drop_first_stream = 1 };
    struct fw f = { .want = 6 };

    run_fake(&fm, &f, true);
    assert_int_equal(fm.subscribes, 2);
    assert_non_null(fm.resubscribe_fwid);
    assert_string_equal(fm.resubscribe_fwid, "fw-test");
    assert_int_equal(f.subscribed, 2);
    assert_int_equal(f.resubscribed, 1);
    assert_int_equal(f.disconnected, 1);
    assert_int_equal(fm.teardowns, 1);
    assert_int_equal(fm.bad_stream_ids, 0);
    free(fm.resubscribe_fwid);
}

/* ------------------------------------------- stop from another thread */

static void *stopper(void *arg)
{
    struct timespec ts = { 0, 300 * 1000 * 1000 };
    nanosleep(&ts, NULL);
    agora_scheduler_stop(arg);
    return NULL;
}

static void test_stop_from_thread(void **state)
{
    /* Nothing listens on port 1: the scheduler keeps retrying with backoff
   * in its own loop until another thread stops it. */
    struct agora_scheduler_config cfg = { .master = "127.0.0.1:1", .name = "t" };
    struct agora_scheduler *s = agora_scheduler_new(NULL, &cfg, NULL, NULL, NULL);
    pthread_t th;

    assert_non_null(s);
    assert_int_equal(pthread_create(&th, NULL, stopper, s), 0);
    assert_int_equal(agora_scheduler_run(s), 0);
    pthread_join(th, NULL);
    assert_int_equal(agora_scheduler_state(s), AGORA_SCHED_DISCONNECTED);
    agora_scheduler_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_task_new),
        cmocka_unit_test(test_pack_offer),
        cmocka_unit_test(test_state_names),
        cmocka_unit_test(test_bad_config),
        cmocka_unit_test(test_fake_master),
        cmocka_unit_test(test_fake_master_json),
        cmocka_unit_test(test_redirect_and_resubscribe),
        cmocka_unit_test(test_heartbeat_timeout),
        cmocka_unit_test(test_stop_from_thread),
        cmocka_unit_test(test_duplicate_terminal_dropped),
        cmocka_unit_test(test_dedup),
        cmocka_unit_test(test_fits_and_pack),
        cmocka_unit_test(test_timers),
        cmocka_unit_test(test_log_level_and_fn),
    };
    mem_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
