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

static void su_send_head(struct slave *s, struct task *t);

void su_init(struct su_queue *q)
{
    memset(q, 0, sizeof(*q));
    q->backoff = SU_BACKOFF_MIN;
}

static void su_stop(struct su_queue *q)
{
    if (q->call != NULL) {
        http_call_cancel(q->call);
        q->call = NULL;
    }
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

static void su_response_cb(const struct http_response *resp, void *arg)
{
    struct task *t = arg;

    t->updates.call = NULL;
    if (resp->status == 202 || resp->status == 200)
        return; /* the ACKNOWLEDGE event completes it; the retry timer covers loss */
    if (resp->status == 0)
        log_warn("task %s: status update not delivered: %s", t->id, resp->error);
    else
        log_warn("task %s: status update refused by the master: %d %.200s", t->id, resp->status,
                 resp->body);
}

static void su_send_head(struct slave *s, struct task *t)
{
    struct su_queue *q = &t->updates;
    Agora__Slave__Call call = AGORA__SLAVE__CALL__INIT;
    Agora__Slave__Call__StatusUpdate su = AGORA__SLAVE__CALL__STATUS_UPDATE__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    struct http_header hdrs[4];
    struct timeval tv;
    uint8_t *buf;
    size_t len;
    char uuid[ID_UUID_STRLEN];

    if (q->head == NULL || s->state != MASTER_REGISTERED || s->stream_id == NULL)
        return;
    if (q->call != NULL) {
        http_call_cancel(q->call);
        q->call = NULL;
    }
    if (q->retry == NULL)
        q->retry = evtimer_new(s->base, su_retry_cb, t);
    q->retry_slave = s;

    aid.value = s->agent_id;
    fid.value = t->fw->id;
    su.framework_id = &fid;
    su.status = q->head->status;
    /* The agent id may have been unknown when the update was generated. */
    if (su.status->agent_id == NULL && s->agent_id != NULL) {
        su.status->agent_id = xcalloc(1, sizeof(Mesos__V1__AgentID));
        mesos__v1__agent_id__init(su.status->agent_id);
        su.status->agent_id->value = xstrdup(s->agent_id);
    }
    call.has_type = 1;
    call.type = AGORA__SLAVE__CALL__TYPE__STATUS_UPDATE;
    call.agent_id = &aid;
    call.status_update = &su;
    buf = pb_pack(&call.base, &len);

    hdrs[0].name = "Content-Type";
    hdrs[0].value = "application/x-protobuf";
    hdrs[1].name = "Accept";
    hdrs[1].value = "application/x-protobuf";
    hdrs[2].name = "Mesos-Stream-Id";
    hdrs[2].value = s->stream_id;
    hdrs[3].name = "Authorization";
    hdrs[3].value = s->auth_header;
    q->call = http_call_start(s->base, s->master_host, s->master_port, "POST", "/internal/v1/slave",
                              hdrs, s->auth_header ? 4 : 3, buf, len, 10.0, su_response_cb, t);
    free(buf);
    if (su.status->has_uuid && su.status->uuid.len == 16)
        id_uuid_format(su.status->uuid.data, uuid);
    else
        snprintf(uuid, sizeof(uuid), "-");
    log_info("task %s: sending %s (uuid %s)%s", t->id, task_state_name(su.status->state), uuid,
             q->sent ? " again" : "");
    q->sent = true;
    metric_inc(s->m_updates_sent, 1);

    tv = time_tv(q->backoff);
    event_add(q->retry, &tv);
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
