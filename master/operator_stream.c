/*
 * operator_stream.c: the v1 operator API's event stream (POST /api/v1
 * SUBSCRIBE), as Mesos serves it.
 *
 * Owns the subscribers, the encoding of mesos.v1.master.Event records and
 * the stream's HEARTBEAT timer. A subscriber gets SUBSCRIBED (the full
 * GET_STATE and heartbeat_interval_seconds), then one event per change of
 * the model: TASK_ADDED, TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED,
 * FRAMEWORK_ADDED, FRAMEWORK_UPDATED, FRAMEWORK_REMOVED. The model calls
 * op_event_* from the one function that makes each change (task_create,
 * task_update_state, slave_set_state, fw_create, fw_set_state,
 * fw_update_info, fw_remove).
 *
 * No subscriber can slow the master. An event is built and encoded once
 * per wire format in use (JSON text, protobuf) and appended, RecordIO
 * framed, to that format's batch. The batch is written when its window
 * ends (OP_STREAM_WINDOW_MS after its first event, or earlier when it
 * reaches OP_STREAM_BATCH_MAX bytes, or before a new subscriber's
 * SUBSCRIBED): one shared, reference-counted chunk per format that every
 * subscriber of that format queues without a copy. So the master does one
 * queueing and one socket write per subscriber per window, however many
 * events the window holds; a busy cluster's thousands of task events cost
 * each subscriber a few dozen writes a second. Events keep the model's
 * order (one batch per format, appended in order, HEARTBEATs included).
 * A subscriber whose unsent backlog already exceeds
 * --operator_stream_buffer when a batch is written is dropped (its
 * connection closed, counted in
 * agora_master_operator_subscribers_dropped_total) instead of buffering
 * without bound. With no subscriber, events cost one pointer test.
 *
 * Protobuf records are made from the JSON form through pbjson_decode with
 * the Event descriptor of proto/master.proto, so both formats carry the
 * same fields by construction.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <jansson.h>
#include <utlist.h>

#include "master.h"
#include "http.h"
#include "acls.h"
#include "log.h"
#include "master.pb-c.h"
#include "mem.h"
#include "metrics.h"
#include "pbjson.h"
#include "pbutil.h"
#include "recordio.h"
#include "rest.h"

#define CT_JSON "application/json"
#define CT_PROTOBUF "application/x-protobuf"

/* How long events gather before they are written: short against the
 * HEARTBEAT interval and a person watching a UI, long against the master
 * loop's turns, so that a burst of task events is one write. */
#define OP_STREAM_WINDOW_MS 25
/* A batch this large is written at once: bounds the shared memory and the
 * latency of a window busier than usual. */
#define OP_STREAM_BATCH_MAX (256 * 1024)

struct op_subscriber {
    struct op_stream *os;
    struct http_stream *st;
    enum master_enc enc; /* the records' encoding */
    bool linked;         /* in os->subs; false: waiting for its on_close */
    struct op_subscriber *prev, *next;
};

struct op_stream {
    struct master *m;
    struct op_subscriber *subs; /* utlist */
    size_t nsubs, nsubs_by_enc[2];
    struct event *heartbeat_ev; /* armed while anyone subscribes */
    struct evbuffer *batch[2];  /* this window's framed records: JSON, protobuf */
    struct event *window_ev;    /* the window's end: write the batches */
    struct metric *subscribed, *dropped, *events, *chunks;
};

static double g_subscribers(void *arg)
{
    const struct op_stream *os = arg;
    return (double)os->nsubs;
}

struct op_stream *op_stream_new(struct master *m)
{
    struct op_stream *os = xcalloc(1, sizeof(*os));
    os->m = m;
    os->subscribed = metrics_counter("agora_master_operator_subscriptions_total",
                                     "Operator API SUBSCRIBE streams opened");
    os->dropped = metrics_counter("agora_master_operator_subscribers_dropped_total",
                                  "Operator API subscribers dropped for not reading "
                                  "(backlog beyond --operator_stream_buffer)");
    os->events =
        metrics_counter("agora_master_operator_events_total", "Operator API events broadcast");
    os->chunks = metrics_counter("agora_master_operator_chunks_total",
                                 "Operator API batches queued on subscribers' connections "
                                 "(one per subscriber per window)");
    for (int i = 0; i < 2; i++)
        os->batch[i] = evbuffer_new();
    metrics_gauge_fn("agora_master_operator_subscribers", "Operator API subscribers connected",
                     g_subscribers, os);
    return os;
}

/* Take sub off the list (it gets no more events). */
static void sub_detach(struct op_subscriber *sub)
{
    struct op_stream *os = sub->os;
    if (!sub->linked)
        return;
    sub->linked = false;
    DL_DELETE(os->subs, sub);
    os->nsubs--;
    os->nsubs_by_enc[sub->enc == ENC_JSON ? 0 : 1]--;
    if (os->nsubs == 0 && os->heartbeat_ev)
        evtimer_del(os->heartbeat_ev);
}

/* Detach, close the stream (no on_close after that) and free. */
static void sub_unlink(struct op_subscriber *sub)
{
    sub_detach(sub);
    http_stream_close(sub->st);
    free(sub);
}

/* The peer went away; the stream is freed after we return. */
static void sub_closed(struct http_stream *st, void *arg)
{
    struct op_subscriber *sub = arg;
    (void)st;
    if (sub->linked) {
        sub_detach(sub);
        log_debug("operator subscriber left (%zu remain)", sub->os->nsubs);
    }
    free(sub);
}

static void flush(struct op_stream *os);

void op_stream_close_all(struct op_stream *os)
{
    if (!os)
        return;
    flush(os); /* the window's events go out before the streams end */
    struct op_subscriber *sub, *tmp;
    DL_FOREACH_SAFE (os->subs, sub, tmp)
        sub_unlink(sub);
}

void op_stream_free(struct op_stream *os)
{
    if (!os)
        return;
    op_stream_close_all(os);
    if (os->heartbeat_ev)
        event_free(os->heartbeat_ev);
    if (os->window_ev)
        event_free(os->window_ev);
    for (int i = 0; i < 2; i++)
        evbuffer_free(os->batch[i]);
    free(os);
}

/* Append ev in enc, RecordIO framed, to out. -1 when ev does not fit the
 * protobuf Event (a bug: logged). */
static int event_encode(const json_t *ev, enum master_enc enc, struct evbuffer *out)
{
    if (enc == ENC_JSON) {
        char *data = json_dumps(ev, JSON_COMPACT);
        rio_encode(out, data, strlen(data));
        free(data);
        return 0;
    }
    char *err = NULL;
    ProtobufCMessage *pb = pbjson_decode(&mesos__v1__master__event__descriptor, ev, &err);
    if (!pb) {
        log_error("operator event does not fit mesos.v1.master.Event: %s", err);
        free(err);
        return -1;
    }
    size_t len = 0;
    uint8_t *data = pb_pack(pb, &len);
    protobuf_c_message_free_unpacked(pb, NULL);
    rio_encode(out, data, len);
    free(data);
    return 0;
}

/* Queue ch on sub, or drop sub when it does not keep up. */
static void sub_send(struct op_subscriber *sub, struct http_chunk *ch)
{
    struct op_stream *os = sub->os;
    size_t pending = http_stream_pending(sub->st);
    if (pending > os->m->cfg.operator_stream_buffer) {
        log_warn("operator subscriber does not read (%zu bytes queued, limit %llu); dropping it",
                 pending, (unsigned long long)os->m->cfg.operator_stream_buffer);
        metric_inc(os->dropped, 1);
        sub_unlink(sub);
        return;
    }
    if (http_stream_send_chunk(sub->st, ch) != 0) {
        /* The connection is going: its on_close frees sub. */
        sub_detach(sub);
        return;
    }
    metric_inc(os->chunks, 1);
}

/* End the window: each format's batch, as one chunk, to each of its
 * subscribers. A no-op when nothing is batched. */
static void flush(struct op_stream *os)
{
    struct http_chunk *chunks[2] = { NULL, NULL };
    if (os->window_ev)
        evtimer_del(os->window_ev);
    for (int i = 0; i < 2; i++) {
        size_t len = evbuffer_get_length(os->batch[i]);
        if (len == 0)
            continue;
        if (os->nsubs_by_enc[i] > 0)
            chunks[i] = http_chunk_new(evbuffer_pullup(os->batch[i], -1), len);
        evbuffer_drain(os->batch[i], len);
    }
    if (!chunks[0] && !chunks[1])
        return;
    struct op_subscriber *sub, *tmp;
    DL_FOREACH_SAFE (os->subs, sub, tmp) {
        struct http_chunk *ch = chunks[sub->enc == ENC_JSON ? 0 : 1];
        if (ch)
            sub_send(sub, ch);
    }
    for (int i = 0; i < 2; i++)
        http_chunk_unref(chunks[i]);
}

static void window_end(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    flush(arg);
}

/* Batch ev (taken) for every subscriber, encoded once per format in use. */
static void broadcast(struct op_stream *os, json_t *ev)
{
    bool was_empty = true;
    size_t size = 0;
    for (int i = 0; i < 2; i++) {
        if (evbuffer_get_length(os->batch[i]) > 0)
            was_empty = false;
        if (os->nsubs_by_enc[i] > 0)
            event_encode(ev, i == 0 ? ENC_JSON : ENC_PROTOBUF, os->batch[i]);
        size += evbuffer_get_length(os->batch[i]);
    }
    json_decref(ev);
    metric_inc(os->events, 1);
    if (size >= OP_STREAM_BATCH_MAX) {
        flush(os);
    } else if (was_empty && size > 0) {
        if (!os->window_ev)
            os->window_ev = evtimer_new(os->m->base, window_end, os);
        struct timeval tv = { 0, OP_STREAM_WINDOW_MS * 1000 };
        evtimer_add(os->window_ev, &tv);
    }
}

static bool listening(const struct master *m)
{
    return m->ops && m->ops->nsubs > 0;
}

static void heartbeat(evutil_socket_t fd, short what, void *arg)
{
    struct op_stream *os = arg;
    (void)fd;
    (void)what;
    if (os->nsubs > 0)
        broadcast(os, json_pack("{s:s}", "type", "HEARTBEAT"));
}

void op_stream_subscribe(struct master *m, struct rest_req *rq, enum master_enc enc)
{
    struct op_stream *os = m->ops;
    /* Each subscriber costs a full state encoding and a connection. */
    if (m->cfg.max_operator_subscribers > 0 &&
        os->nsubs >= (size_t)m->cfg.max_operator_subscribers) {
        rest_error(rq, 503, "Too many subscribers (--max_operator_event_stream_subscribers=%d)",
                   m->cfg.max_operator_subscribers);
        return;
    }
    /* Events go to every subscriber alike, unfiltered: with view_* ACLs
     * only a principal that may see everything subscribes. */
    if (!acls_allowed_all(m->acls, ACL_VIEW_FRAMEWORKS, rq->principal) ||
        !acls_allowed_all(m->acls, ACL_VIEW_TASKS, rq->principal)) {
        rest_error(rq, 403,
                   "The event stream is not filtered by --acls: SUBSCRIBE needs view_frameworks "
                   "and view_tasks of every user (principal '%s')",
                   rq->principal ? rq->principal : "");
        return;
    }
    /* The window's events are in the snapshot: they go to the others
     * first, and the newcomer's stream starts after them. */
    flush(os);
    json_t *ev = json_pack("{s:s, s:{s:o, s:f}}", "type", "SUBSCRIBED", "subscribed", "get_state",
                           v1_get_state_json(m, rq->principal), "heartbeat_interval_seconds",
                           m->cfg.heartbeat_interval);
    struct evbuffer *first = evbuffer_new();
    int rc = event_encode(ev, enc, first);
    json_decref(ev);
    if (rc != 0) {
        rest_error(rq, 500, "Failed to encode the SUBSCRIBED event");
        goto out;
    }
    struct op_subscriber *sub = xcalloc(1, sizeof(*sub));
    sub->os = os;
    sub->enc = enc;
    sub->st =
        http_stream_start(rq->req, 200, enc == ENC_JSON ? CT_JSON : CT_PROTOBUF, sub_closed, sub);
    if (!sub->st) {
        free(sub);
        goto out;
    }
    if (http_stream_send(sub->st, evbuffer_pullup(first, -1), evbuffer_get_length(first)) != 0) {
        /* The connection is going: its on_close frees sub. */
        goto out;
    }
    DL_APPEND(os->subs, sub);
    sub->linked = true;
    os->nsubs++;
    os->nsubs_by_enc[enc == ENC_JSON ? 0 : 1]++;
    metric_inc(os->subscribed, 1);
    log_info("operator subscriber %zu joined (%s)", os->nsubs,
             enc == ENC_JSON ? "json" : "protobuf");
    if (!os->heartbeat_ev)
        os->heartbeat_ev = event_new(m->base, -1, EV_PERSIST, heartbeat, os);
    if (!evtimer_pending(os->heartbeat_ev, NULL)) {
        double hb = m->cfg.heartbeat_interval > 0 ? m->cfg.heartbeat_interval : 15;
        struct timeval tv = { (time_t)hb, (suseconds_t)((hb - floor(hb)) * 1e6) };
        evtimer_add(os->heartbeat_ev, &tv);
    }
out:
    evbuffer_free(first);
}

/* ----------------------------------------------------------------- events */

void op_event_task_added(struct master *m, const struct task *t)
{
    if (!listening(m))
        return;
    broadcast(m->ops, json_pack("{s:s, s:{s:o}}", "type", "TASK_ADDED", "task_added", "task",
                                v1_task_json(t)));
}

void op_event_task_updated(struct master *m, const struct task *t)
{
    if (!listening(m))
        return;
    json_t *status;
    if (t->latest) {
        status = pbjson_encode(&t->latest->base);
    } else {
        status = json_pack("{s:{s:s}, s:s}", "task_id", "value", t->id, "state",
                           task_state_name(t->state));
    }
    broadcast(m->ops, json_pack("{s:s, s:{s:{s:s}, s:o, s:s}}", "type", "TASK_UPDATED",
                                "task_updated", "framework_id", "value", t->fw->id, "status",
                                status, "state", task_state_name(t->state)));
}

void op_event_agent_added(struct master *m, const struct slave *s)
{
    if (!listening(m))
        return;
    broadcast(m->ops, json_pack("{s:s, s:{s:o}}", "type", "AGENT_ADDED", "agent_added", "agent",
                                v1_agent_json(s)));
}

void op_event_agent_removed(struct master *m, const struct slave *s)
{
    if (!listening(m))
        return;
    broadcast(m->ops, json_pack("{s:s, s:{s:{s:s}}}", "type", "AGENT_REMOVED", "agent_removed",
                                "agent_id", "value", s->id));
}

/* FRAMEWORK_ADDED and FRAMEWORK_UPDATED carry the same GetFrameworks view. */
static void framework_event(struct master *m, const char *type, const char *key,
                            const struct framework *fw)
{
    if (!listening(m))
        return;
    broadcast(m->ops,
              json_pack("{s:s, s:{s:o}}", "type", type, key, "framework", v1_framework_json(fw)));
}

void op_event_framework_added(struct master *m, const struct framework *fw)
{
    framework_event(m, "FRAMEWORK_ADDED", "framework_added", fw);
}

void op_event_framework_updated(struct master *m, const struct framework *fw)
{
    framework_event(m, "FRAMEWORK_UPDATED", "framework_updated", fw);
}

void op_event_framework_removed(struct master *m, const struct framework *fw)
{
    if (!listening(m))
        return;
    broadcast(m->ops, json_pack("{s:s, s:{s:o}}", "type", "FRAMEWORK_REMOVED", "framework_removed",
                                "framework_info", pbjson_encode(&fw->info->base)));
}
