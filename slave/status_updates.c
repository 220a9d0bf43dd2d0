/*
 * status_updates: reliable, ordered status updates, one stream per task.
 *
 * Owns each task's queue of TaskStatus (struct su_queue). Every update
 * carries a 16-byte uuid; the head of the queue is POSTed to the master
 * as a STATUS_UPDATE call and re-sent with backoff (1s doubling to 60s)
 * until the master forwards the framework's ACKNOWLEDGE with the head's
 * uuid; only then is the next update sent, so a framework sees a task's
 * updates in order. The queue is checkpointed after every change (as
 * RecordIO-framed TaskStatus protobufs in <task meta>/updates), so
 * unacknowledged updates survive a slave restart and are re-sent.
 *
 * The heads that are ready in one loop turn go in one STATUS_UPDATE call
 * (the first in status_update, the others in status_updates): the 16
 * TASK_RUNNING of the tasks of one offer, or the TASK_FINISHED of tasks
 * that ended together, cost the master one request instead of 16 (each
 * request is a write and two epoll_ctl on its loop; issue 14), once the
 * master's REGISTERED says it takes them (batched_updates; else one call
 * each, as before). Batching changes no guarantee: each head still has
 * its own resend timer, and the answer to a call only tells that it
 * arrived. A resend no longer cancels the call before it (that call
 * carries other tasks' updates too): a copy may arrive late, and the
 * master drops a non-terminal copy of a task that has ended.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "slave.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "recordio.h"
#include "pbutil.h"
#include "timeutil.h"

#define SU_BACKOFF_MIN 1.0
#define SU_BACKOFF_MAX 60.0
#define SU_MAX_RECORD (4 * 1024 * 1024)
/* A call carries at most this many updates, or this many bytes of them
 * (the master takes bodies of a few MB; a TaskStatus may carry data). */
#define SU_BATCH_MAX 256
#define SU_BATCH_BYTES (256 * 1024)

/* A STATUS_UPDATE call in flight (answered or cancelled, it is freed). */
struct su_call {
    struct http_call *call;
    struct slave *s;
    size_t n; /* updates it carries */
    struct su_call *next;
};

static struct metric *m_calls;

static void su_send_head(struct slave *s, struct task *t);

void su_init(struct su_queue *q)
{
    memset(q, 0, sizeof(*q));
    q->backoff = SU_BACKOFF_MIN;
}

/* Take the head back out of the next call. */
static void su_unbatch(struct su_queue *q)
{
    struct slave *s = q->retry_slave;

    if (!q->batched)
        return;
    q->batched = false;
    for (size_t k = 0; s != NULL && k < s->su_batch_n; k++) {
        if (s->su_batch[k] != NULL && &s->su_batch[k]->updates == q)
            s->su_batch[k] = NULL;
    }
}

static void su_stop(struct su_queue *q)
{
    su_unbatch(q);
    if (q->retry != NULL)
        event_del(q->retry);
}

void su_cleanup(struct su_queue *q)
{
    struct su_entry *e, *next;

    su_stop(q);
    if (q->retry != NULL)
        event_free(q->retry);
    for (e = q->head; e != NULL; e = next) {
        next = e->next;
        protobuf_c_message_free_unpacked(&e->status->base, &agora_pb_allocator);
        free(e);
    }
    memset(q, 0, sizeof(*q));
}

static void su_append(struct su_queue *q, Mesos__V1__TaskStatus *st)
{
    struct su_entry *e = xcalloc(1, sizeof(*e));

    e->status = st;
    if (q->tail != NULL)
        q->tail->next = e;
    else
        q->head = e;
    q->tail = e;
    q->len++;
}

static void su_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct task *t = arg;

    t->updates.backoff *= 2;
    if (t->updates.backoff > SU_BACKOFF_MAX)
        t->updates.backoff = SU_BACKOFF_MAX;
    su_send_head(t->updates.retry_slave, t);
}

static void su_call_done(const struct http_response *resp, void *arg)
{
    struct su_call *c = arg, **pp;

    for (pp = &c->s->su_calls; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            break;
        }
    }
    /* 202: the ACKNOWLEDGE events complete them; the resend timers cover loss. */
    if (resp->status == 0)
        log_warn("%zu status update(s) not delivered: %s", c->n, resp->error);
    else if (resp->status != 202 && resp->status != 200)
        log_warn("%zu status update(s) refused by the master: %d %.200s", c->n, resp->status,
                 resp->body);
    free(c);
}

/* POST one call with updates [0, n) of the batch (n >= 1). */
static void su_post(struct slave *s, Agora__Slave__Call__StatusUpdate **ups, size_t n)
{
    Agora__Slave__Call call = AGORA__SLAVE__CALL__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    struct http_header hdrs[4] = {
        { "Content-Type", "application/x-protobuf" },
        { "Accept", "application/x-protobuf" },
        { "Mesos-Stream-Id", s->stream_id },
        { "Authorization", s->auth_header },
    };
    struct su_call *c = xcalloc(1, sizeof(*c));
    size_t len;
    uint8_t *buf;

    aid.value = s->agent_id;
    call.has_type = 1;
    call.type = AGORA__SLAVE__CALL__TYPE__STATUS_UPDATE;
    call.agent_id = &aid;
    call.status_update = ups[0];
    call.n_status_updates = n - 1;
    call.status_updates = ups + 1;
    buf = pb_pack(&call.base, &len);
    c->s = s;
    c->n = n;
    c->next = s->su_calls;
    s->su_calls = c;
    c->call = http_call_start(s->base, s->master_host, s->master_port, "POST", "/internal/v1/slave",
                              hdrs, s->auth_header ? 4 : 3, buf, len, 10.0, su_call_done, c);
    free(buf);
    if (c->call == NULL) { /* bad arguments: the resend timers try again */
        s->su_calls = c->next;
        free(c);
        return;
    }
    metric_inc(m_calls, 1);
}

/* End of the loop turn's work: every head marked for sending, in calls of
 * up to SU_BATCH_MAX updates. */
static void su_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct slave *s = arg;
    size_t n = 0, bytes = 0, cap = s->su_batch_n < SU_BATCH_MAX ? s->su_batch_n : SU_BATCH_MAX;
    Agora__Slave__Call__StatusUpdate *sus = xcalloc(cap ? cap : 1, sizeof(*sus));
    Agora__Slave__Call__StatusUpdate **ups = xcalloc(cap ? cap : 1, sizeof(*ups));
    Mesos__V1__FrameworkID *fids = xcalloc(cap ? cap : 1, sizeof(*fids));
    bool up = s->state == MASTER_REGISTERED && s->stream_id != NULL;
    size_t per_call = s->master_batches ? cap : 1; /* an older master: one each */

    (void)fd;
    (void)what;
    for (size_t k = 0; k < s->su_batch_n; k++) {
        struct task *t = s->su_batch[k];
        struct su_queue *q = t != NULL ? &t->updates : NULL;
        char uuid[ID_UUID_STRLEN];

        if (q == NULL)
            continue;
        q->batched = false;
        if (q->head == NULL || !up)
            continue; /* its resend timer, or the next registration, sends it */
        Mesos__V1__TaskStatus *st = q->head->status;
        /* The agent id may have been unknown when the update was generated. */
        if (st->agent_id == NULL && s->agent_id != NULL) {
            st->agent_id = xcalloc(1, sizeof(Mesos__V1__AgentID));
            mesos__v1__agent_id__init(st->agent_id);
            st->agent_id->value = xstrdup(s->agent_id);
        }
        size_t size = protobuf_c_message_get_packed_size(&st->base);
        if (n > 0 && (n == per_call || bytes + size > SU_BATCH_BYTES)) {
            su_post(s, ups, n);
            n = 0;
            bytes = 0;
        }
        mesos__v1__framework_id__init(&fids[n]);
        fids[n].value = t->fw->id;
        agora__slave__call__status_update__init(&sus[n]);
        sus[n].framework_id = &fids[n];
        sus[n].status = st;
        ups[n] = &sus[n];
        n++;
        bytes += size;
        if (st->has_uuid && st->uuid.len == 16)
            id_uuid_format(st->uuid.data, uuid);
        else
            snprintf(uuid, sizeof(uuid), "-");
        log_info("task %s: sending %s (uuid %s)%s", t->id, task_state_name(st->state), uuid,
                 q->sent ? " again" : "");
        q->sent = true;
        metric_inc(s->m_updates_sent, 1);
    }
    if (n > 0)
        su_post(s, ups, n);
    s->su_batch_n = 0;
    free(sus);
    free(ups);
    free(fids);
}

static void su_send_head(struct slave *s, struct task *t)
{
    struct su_queue *q = &t->updates;
    struct timeval tv;

    if (q->head == NULL || s->state != MASTER_REGISTERED || s->stream_id == NULL)
        return;
    if (q->retry == NULL)
        q->retry = evtimer_new(s->base, su_retry_cb, t);
    q->retry_slave = s;
    if (!q->batched) {
        if (s->su_batch_n == s->su_batch_cap) {
            s->su_batch_cap = s->su_batch_cap ? 2 * s->su_batch_cap : 16;
            s->su_batch = xrealloc(s->su_batch, s->su_batch_cap * sizeof(*s->su_batch));
        }
        s->su_batch[s->su_batch_n++] = t;
        q->batched = true;
        event_active(s->su_flush_ev, EV_TIMEOUT, 0);
    }
    tv = time_tv(q->backoff);
    event_add(q->retry, &tv);
}

void su_slave_init(struct slave *s)
{
    s->su_flush_ev = event_new(s->base, -1, 0, su_flush_cb, s);
    if (m_calls == NULL)
        m_calls = metrics_counter("agora_slave_status_update_calls_total",
                                  "STATUS_UPDATE calls sent (each carries one or more updates)");
}

static void su_cancel_calls(struct slave *s)
{
    while (s->su_calls != NULL) {
        struct su_call *c = s->su_calls;
        s->su_calls = c->next;
        http_call_cancel(c->call);
        free(c);
    }
}

void su_slave_free(struct slave *s)
{
    su_cancel_calls(s);
    if (s->su_flush_ev != NULL)
        event_free(s->su_flush_ev);
    free(s->su_batch);
}

void su_enqueue(struct slave *s, struct task *t, Mesos__V1__TaskStatus *st)
{
    bool was_empty = t->updates.head == NULL;

    su_append(&t->updates, st);
    ckpt_task_updates(s, t);
    if (was_empty) {
        t->updates.backoff = SU_BACKOFF_MIN;
        t->updates.sent = false;
        su_send_head(s, t);
    }
}

int su_acknowledge(struct slave *s, struct task *t, const uint8_t *uuid, size_t len)
{
    struct su_queue *q = &t->updates;
    struct su_entry *e = q->head;
    char want[ID_UUID_STRLEN] = "-", got[ID_UUID_STRLEN] = "-";

    if (len == 16)
        id_uuid_format(uuid, got);
    if (e == NULL || !e->status->has_uuid || e->status->uuid.len != len ||
        memcmp(e->status->uuid.data, uuid, len) != 0) {
        if (e != NULL && e->status->has_uuid && e->status->uuid.len == 16)
            id_uuid_format(e->status->uuid.data, want);
        log_warn("task %s: ignoring acknowledgement %s (expected %s)", t->id, got, want);
        return -1;
    }
    su_stop(q);
    q->head = e->next;
    if (q->head == NULL)
        q->tail = NULL;
    q->len--;
    log_info("task %s: %s acknowledged (uuid %s)", t->id, task_state_name(e->status->state), got);
    protobuf_c_message_free_unpacked(&e->status->base, &agora_pb_allocator);
    free(e);
    metric_inc(s->m_updates_acked, 1);
    ckpt_task_updates(s, t);
    q->backoff = SU_BACKOFF_MIN;
    q->sent = false;
    if (q->head != NULL)
        su_send_head(s, t);
    else
        slave_task_maybe_complete(s, t);
    return 0;
}

void su_resume_all(struct slave *s)
{
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;

    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        HASH_ITER (hh, fw->tasks, t, ttmp) {
            t->updates.backoff = SU_BACKOFF_MIN;
            su_send_head(s, t);
        }
    }
}

void su_pause_all(struct slave *s)
{
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;

    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        HASH_ITER (hh, fw->tasks, t, ttmp)
            su_stop(&t->updates);
    }
    su_cancel_calls(s);
}

char *su_serialize(const struct su_queue *q, size_t *len)
{
    struct evbuffer *out = evbuffer_new();
    const struct su_entry *e;
    char *data;
    uint8_t *buf;
    size_t n;

    for (e = q->head; e != NULL; e = e->next) {
        buf = pb_pack(&e->status->base, &n);
        rio_encode(out, buf, n);
        free(buf);
    }
    *len = evbuffer_get_length(out);
    data = xmalloc(*len + 1);
    evbuffer_remove(out, data, *len);
    data[*len] = '\0';
    evbuffer_free(out);
    return data;
}

static int su_record_cb(const char *data, size_t len, void *arg)
{
    struct su_queue *q = arg;
    Mesos__V1__TaskStatus *st;

    st = mesos__v1__task_status__unpack(&agora_pb_allocator, len, (const uint8_t *)data);
    if (st == NULL)
        return -1;
    su_append(q, st);
    return 0;
}

int su_deserialize(struct su_queue *q, const char *data, size_t len, char **err)
{
    struct rio_decoder *d = rio_decoder_new(SU_MAX_RECORD);
    int rc = rio_decoder_feed(d, data, len, su_record_cb, q, err);

    rio_decoder_free(d);
    if (rc < 0 && err != NULL && *err == NULL)
        *err = xstrdup("updates: a TaskStatus does not parse");
    return rc;
}
