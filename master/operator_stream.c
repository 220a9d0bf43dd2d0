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
 * No subscriber can slow the master: an event is built and encoded once
 * per wire format (JSON text, protobuf) into one shared, reference-counted
 * chunk that every subscriber queues without a copy, and a subscriber
 * whose unsent backlog already exceeds --operator_stream_buffer is
 * dropped (its connection closed, counted in
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

#include <event2/event.h>
#include <jansson.h>
#include <utlist.h>

#include "master.h"
#include "http.h"
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
    struct metric *subscribed, *dropped, *events;
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

void op_stream_close_all(struct op_stream *os)
{
    if (!os)
        return;
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
    free(os);
}

/* One record (RecordIO framed) of ev in enc; NULL when ev does not fit
 * the protobuf Event (a bug: logged). */
static struct http_chunk *event_chunk(const json_t *ev, enum master_enc enc)
{
    char *data = NULL;
    size_t len = 0;
    if (enc == ENC_JSON) {
        data = json_dumps(ev, JSON_COMPACT);
        len = strlen(data);
    } else {
        char *err = NULL;
        ProtobufCMessage *pb = pbjson_decode(&mesos__v1__master__event__descriptor, ev, &err);
        if (!pb) {
            log_error("operator event does not fit mesos.v1.master.Event: %s", err);
            free(err);
            return NULL;
        }
        data = (char *)pb_pack(pb, &len);
        protobuf_c_message_free_unpacked(pb, NULL);
    }
    size_t flen;
    char *framed = rio_encode_alloc(data, len, &flen);
    struct http_chunk *ch = http_chunk_new(framed, flen);
    free(framed);
    free(data);
    return ch;
}

/* Queue ch on sub, or drop sub when it does not keep up. 0 kept. */
static int sub_send(struct op_subscriber *sub, struct http_chunk *ch)
{
    struct op_stream *os = sub->os;
    size_t pending = http_stream_pending(sub->st);
    if (pending > os->m->cfg.operator_stream_buffer) {
        log_warn("operator subscriber does not read (%zu bytes queued, limit %llu); dropping it",
                 pending, (unsigned long long)os->m->cfg.operator_stream_buffer);
        metric_inc(os->dropped, 1);
        sub_unlink(sub);
        return -1;
    }
    if (http_stream_send_chunk(sub->st, ch) != 0) {
        /* The connection is going: its on_close frees sub. */
        sub_detach(sub);
        return -1;
    }
    return 0;
}

/* Send ev (taken) to every subscriber, encoded once per format in use. */
static void broadcast(struct op_stream *os, json_t *ev)
{
    struct http_chunk *chunks[2] = { NULL, NULL };
    for (int i = 0; i < 2; i++)
        if (os->nsubs_by_enc[i] > 0)
            chunks[i] = event_chunk(ev, i == 0 ? ENC_JSON : ENC_PROTOBUF);
    json_decref(ev);
    metric_inc(os->events, 1);
    struct op_subscriber *sub, *tmp;
    DL_FOREACH_SAFE (os->subs, sub, tmp) {
        struct http_chunk *ch = chunks[sub->enc == ENC_JSON ? 0 : 1];
        if (ch)
            sub_send(sub, ch);
    }
    for (int i = 0; i < 2; i++)
        if (chunks[i])
            http_chunk_unref(chunks[i]);
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
    json_t *ev =
        json_pack("{s:s, s:{s:o, s:f}}", "type", "SUBSCRIBED", "subscribed", "get_state",
                  v1_get_state_json(m), "heartbeat_interval_seconds", m->cfg.heartbeat_interval);
    struct http_chunk *ch = event_chunk(ev, enc);
    json_decref(ev);
    if (!ch) {
        rest_error(rq, 500, "Failed to encode the SUBSCRIBED event");
        return;
    }
    struct op_subscriber *sub = xcalloc(1, sizeof(*sub));
    sub->os = os;
    sub->enc = enc;
    sub->st =
        http_stream_start(rq->req, 200, enc == ENC_JSON ? CT_JSON : CT_PROTOBUF, sub_closed, sub);
    if (!sub->st) {
        free(sub);
        http_chunk_unref(ch);
        return;
    }
    DL_APPEND(os->subs, sub);
    sub->linked = true;
    os->nsubs++;
    os->nsubs_by_enc[enc == ENC_JSON ? 0 : 1]++;
    metric_inc(os->subscribed, 1);
    log_info("operator subscriber %zu joined (%s)", os->nsubs,
             enc == ENC_JSON ? "json" : "protobuf");
    int rc = sub_send(sub, ch);
    http_chunk_unref(ch);
    if (rc != 0)
        return;
    if (!os->heartbeat_ev)
        os->heartbeat_ev = event_new(m->base, -1, EV_PERSIST, heartbeat, os);
    if (!evtimer_pending(os->heartbeat_ev, NULL)) {
        double hb = m->cfg.heartbeat_interval > 0 ? m->cfg.heartbeat_interval : 15;
        struct timeval tv = { (time_t)hb, (suseconds_t)((hb - floor(hb)) * 1e6) };
        evtimer_add(os->heartbeat_ev, &tv);
    }
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
