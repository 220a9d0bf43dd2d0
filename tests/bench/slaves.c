/*
 * slaves.c: emulated slaves, one forked child process per slice of them.
 *
 * Each emulated slave speaks proto/slave.proto like agora-slave: it POSTs
 * SUBSCRIBE to /internal/v1/slave and keeps the RecordIO event stream
 * open (one connection per slave, so the master holds one fd per slave as
 * in production), answers PING with PONG, and for each RUN_TASK reports
 * TASK_RUNNING at once and TASK_FINISHED --task_duration later, without
 * running anything; a KILL_TASK makes it TASK_KILLED at once (once RUNNING
 * was acknowledged), as frameworks that scale down or delete apps
 * (agora-pacer) expect. Updates of a task form one ordered stream as in the
 * real slave: FINISHED is sent only after RUNNING was acknowledged; an
 * update is forgotten when its ACKNOWLEDGE arrives. (The real slave also
 * retries unacknowledged updates; on loopback against a healthy master
 * nothing is lost, and unanswered updates show up in the counters.)
 *
 * The updates a slave has to send in one loop turn go in one STATUS_UPDATE
 * call, as agora-slave sends them (status_updates in proto/slave.proto).
 * PONG and STATUS_UPDATE go over the child's keep-alive call pool
 * (calls.c). At most --connect_window SUBSCRIBEs are in flight per child so
 * that the master's listen backlog never overflows (a dropped SYN costs a
 * 1 s retransmit and would distort register_s).
 *
 * With --master=zk://... each child follows the leader through its own
 * ZooKeeper session (leader.c) as agora-slave does: when the leader
 * changes, every slave drops its stream and re-SUBSCRIBEs to the new one
 * after a delay uniform in [0.5 s, --registration_backoff_factor], with its
 * agent id, its tasks (TaskInfo kept from RUN_TASK, latest state) and their
 * frameworks; a refused or lost SUBSCRIBE is retried with the delay's
 * ceiling doubled (up to 30 s). After REGISTERED the slave sends its
 * unacknowledged updates again with the same uuid, as agora-slave retries
 * them. The connect window applies to re-registrations too.
 */
#define _GNU_SOURCE
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <uthash.h>

#include "bench.h"
#include "mem.h"
#include "recordio.h"
#include "resources.h"
#include "slave.pb-c.h"
#include "pbutil.h"

#define SLAVE_PATH "/internal/v1/slave"
#define CT_PROTOBUF "application/x-protobuf"

#define BACKOFF_MAX 30.0

enum bslave_state { BS_IDLE, BS_SUBSCRIBING, BS_REGISTERED, BS_LOST };

struct btask;

struct bslave {
    struct bchild *c;
    int idx; /* global slave index */
    enum bslave_state state;
    char *agent_id;
    char stream_id[64];
    struct evhttp_connection *evcon;
    struct rio_decoder *dec;
    struct event *retry_ev; /* zk runs: the next (re-)SUBSCRIBE */
    double backoff;         /* ceiling of that delay */
    bool queued;            /* waiting in the child's connect queue */
    struct btask *tasks;    /* its tasks (btask.snext/sprev) */
    int ntasks;
    /* Updates of this loop turn, as agora-slave batches them: the encoded
     * status_update field, then status_updates fields (proto/slave.proto). */
    uint8_t *ubuf;
    size_t ulen, ucap;
    int un;
    bool ulinked;
    struct bslave *unext; /* the child's slaves with updates to send */
};

/* FrameworkInfo of the frameworks whose tasks run here, for re-registration. */
struct bfwinfo {
    char *id;
    Mesos__V1__FrameworkInfo *info;
    UT_hash_handle hh;
};

/* BT_FINISHED_SENT: the terminal update (FINISHED, or KILLED after a
 * KILL_TASK) was sent. BT_GONE: it was acknowledged while the task was still
 * in the FIFO (killed before its duration): out of the hash and the slave's
 * list, freed when the FIFO reaches it. */
enum btask_phase { BT_RUNNING_SENT, BT_RUNNING_ACKED, BT_FINISHED_SENT, BT_GONE };

struct btask {
    char *key; /* "<framework id>\n<task id>" */
    struct bslave *s;
    char *fw_id, *task_id;
    uint8_t uuid[16]; /* of the latest update sent */
    enum btask_phase phase;
    bool finish_due; /* duration elapsed (or KILL_TASK) while RUNNING unacked */
    bool killed;     /* a KILL_TASK came: the terminal update is TASK_KILLED */
    double due;
    struct btask *fifo_next;
    struct btask *snext, *sprev; /* the slave's list */
    uint8_t *info_pb;            /* packed TaskInfo, for re-registration */
    size_t info_len;
    UT_hash_handle hh;
};

struct bchild {
    struct event_base *base;
    const struct bench_config *cfg;
    struct bench_shm *shm;
    struct bslave *slaves;
    int first, count, inflight_subs, registered;
    int *queue, qhead, qlen; /* slaves due to SUBSCRIBE, in order */
    char *host;              /* the master (the leader in zk runs), NULL: none known */
    int port;
    struct bench_leader *leader;
    int leaders_seen;
    struct bfwinfo *fwinfos; /* uthash by framework id */
    char local_ip[32];
    struct call_pool *pool;
    Mesos__V1__Resource **res_pb;
    size_t nres;
    struct btask *tasks;                 /* uthash */
    struct btask *fifo_head, *fifo_tail; /* by due time (constant duration) */
    struct event *fifo_ev, *poll_ev;
    struct event *uflush_ev; /* end of the loop turn: send the batched updates */
    struct bslave *upending; /* slaves with updates to send (bslave.unext) */
    uint64_t rng;
    bool ready_reported;
};

static void shm_add(uint64_t *p, uint64_t v)
{
    __atomic_add_fetch(p, v, __ATOMIC_RELAXED);
}

static uint64_t rng_next(struct bchild *c)
{
    /* xorshift64*: update uuids need to be distinct, not secret. */
    c->rng ^= c->rng >> 12;
    c->rng ^= c->rng << 25;
    c->rng ^= c->rng >> 27;
    return c->rng * 2685821657736338717ull;
}

static void post_call(struct bchild *c, struct bslave *s, const Agora__Slave__Call *call)
{
    size_t len = agora__slave__call__get_packed_size(call);
    uint8_t stackbuf[2048];
    uint8_t *buf = len <= sizeof(stackbuf) ? stackbuf : xmalloc(len);
    agora__slave__call__pack(call, buf);
    call_pool_post(c->pool, SLAVE_PATH, CT_PROTOBUF, NULL, s->stream_id, buf, len, NULL, NULL);
    if (buf != stackbuf)
        free(buf);
}

/* ------------------------------------------------------------- updates */

#define UPDATES_PER_CALL 256

static void ubuf_put(struct bslave *s, const void *p, size_t n)
{
    if (s->ulen + n > s->ucap) {
        s->ucap = (s->ulen + n) * 2;
        s->ubuf = xrealloc(s->ubuf, s->ucap);
    }
    memcpy(s->ubuf + s->ulen, p, n);
    s->ulen += n;
}

/* One STATUS_UPDATE call with the slave's batched updates: the packed
 * Call head (type, agent id) followed by the update fields already encoded
 * (protobuf fields may come in any order). */
static void flush_updates(struct bchild *c, struct bslave *s)
{
    Agora__Slave__Call call = AGORA__SLAVE__CALL__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    if (s->un == 0)
        return;
    aid.value = s->agent_id;
    call.has_type = 1;
    call.type = AGORA__SLAVE__CALL__TYPE__STATUS_UPDATE;
    call.agent_id = &aid;
    size_t head = agora__slave__call__get_packed_size(&call);
    uint8_t *buf = xmalloc(head + s->ulen);
    agora__slave__call__pack(&call, buf);
    memcpy(buf + head, s->ubuf, s->ulen);
    call_pool_post(c->pool, SLAVE_PATH, CT_PROTOBUF, NULL, s->stream_id, buf, head + s->ulen, NULL,
                   NULL);
    free(buf);
    shm_add(&c->shm->update_calls, 1);
    s->ulen = 0;
    s->un = 0;
}

static void on_uflush(evutil_socket_t fd, short what, void *arg)
{
    struct bchild *c = arg;
    (void)fd;
    (void)what;
    while (c->upending != NULL) {
        struct bslave *s = c->upending;
        c->upending = s->unext;
        s->unext = NULL;
        s->ulinked = false;
        flush_updates(c, s);
    }
}

/* Queue one StatusUpdate (packed) for the slave's call of this turn. */
static void queue_update(struct bchild *c, struct bslave *s,
                         const Agora__Slave__Call__StatusUpdate *su)
{
    if (s->un == UPDATES_PER_CALL)
        flush_updates(c, s);
    size_t n = protobuf_c_message_get_packed_size(&su->base);
    uint8_t hdr[11]; /* tag and varint length */
    size_t h = 0;
    hdr[h++] = s->un == 0 ? (4 << 3 | 2) : (6 << 3 | 2); /* status_update, status_updates */
    for (size_t v = n;; v >>= 7) {
        hdr[h++] = (uint8_t)(v < 0x80 ? v : (v & 0x7f) | 0x80);
        if (v < 0x80)
            break;
    }
    ubuf_put(s, hdr, h);
    if (s->ulen + n > s->ucap) {
        s->ucap = (s->ulen + n) * 2;
        s->ubuf = xrealloc(s->ubuf, s->ucap);
    }
    protobuf_c_message_pack(&su->base, s->ubuf + s->ulen);
    s->ulen += n;
    s->un++;
    if (!s->ulinked) {
        s->ulinked = true;
        s->unext = c->upending;
        c->upending = s;
        event_active(c->uflush_ev, EV_TIMEOUT, 0);
    }
}

/* resend: the same update again (same uuid), as a retry. */
static void send_update(struct bchild *c, struct btask *t, Mesos__V1__TaskState state, bool resend)
{
    struct bslave *s = t->s;
    Agora__Slave__Call__StatusUpdate su = AGORA__SLAVE__CALL__STATUS_UPDATE__INIT;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    if (!resend) {
        uint64_t r1 = rng_next(c), r2 = rng_next(c);
        memcpy(t->uuid, &r1, 8);
        memcpy(t->uuid + 8, &r2, 8);
    }
    tid.value = t->task_id;
    aid.value = s->agent_id;
    fid.value = t->fw_id;
    st.task_id = &tid;
    st.agent_id = &aid;
    st.state = state;
    st.has_source = 1;
    st.source = MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    st.has_uuid = 1;
    st.uuid.data = t->uuid;
    st.uuid.len = 16;
    st.has_timestamp = 1;
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    st.timestamp = (double)wall.tv_sec + (double)wall.tv_nsec / 1e9;
    su.framework_id = &fid;
    su.status = &st;
    queue_update(c, s, &su);
    shm_add(&c->shm->updates_sent, 1);
}

static void task_link(struct bslave *s, struct btask *t)
{
    t->sprev = NULL;
    t->snext = s->tasks;
    if (s->tasks)
        s->tasks->sprev = t;
    s->tasks = t;
    s->ntasks++;
}

static void task_unlink(struct btask *t)
{
    struct bslave *s = t->s;
    if (t->sprev)
        t->sprev->snext = t->snext;
    else
        s->tasks = t->snext;
    if (t->snext)
        t->snext->sprev = t->sprev;
    t->snext = t->sprev = NULL;
    s->ntasks--;
}

static void task_free(struct btask *t)
{
    free(t->info_pb);
    free(t->key);
    free(t->fw_id);
    free(t->task_id);
    free(t);
}

static Mesos__V1__TaskState final_state(const struct btask *t)
{
    return t->killed ? MESOS__V1__TASK_STATE__TASK_KILLED : MESOS__V1__TASK_STATE__TASK_FINISHED;
}

static void task_finish(struct bchild *c, struct btask *t)
{
    /* The slave's resources are free from now on (offer latency starts). */
    uint64_t zero = 0, now = bench_now_ns();
    __atomic_compare_exchange_n(&c->shm->freed_ns[t->s->idx], &zero, now, false, __ATOMIC_RELAXED,
                                __ATOMIC_RELAXED);
    t->phase = BT_FINISHED_SENT;
    send_update(c, t, final_state(t), false);
}

static void fifo_arm(struct bchild *c)
{
    if (!c->fifo_head)
        return;
    double d = c->fifo_head->due - bench_now();
    if (d < 0)
        d = 0;
    struct timeval tv = { (time_t)d, (suseconds_t)((d - (double)(time_t)d) * 1e6) };
    evtimer_add(c->fifo_ev, &tv);
}

static void on_fifo(evutil_socket_t fd, short what, void *arg)
{
    struct bchild *c = arg;
    double now = bench_now();
    while (c->fifo_head && c->fifo_head->due <= now + 0.0005) {
        struct btask *t = c->fifo_head;
        c->fifo_head = t->fifo_next;
        if (!c->fifo_head)
            c->fifo_tail = NULL;
        t->fifo_next = NULL;
        if (t->phase == BT_GONE)
            task_free(t);
        else if (t->phase == BT_RUNNING_ACKED)
            task_finish(c, t);
        else if (t->phase == BT_RUNNING_SENT)
            t->finish_due = true;
    }
    fifo_arm(c);
}

/* The shared stamps of a bench task (its id is its global number), or NULL
 * for a task id that is not one. */
static struct bench_task_stamp *task_stamp(struct bchild *c, const char *task_id)
{
    char *end;
    long g = strtol(task_id, &end, 10);
    if (!c->shm->stamps || *end || end == task_id || g < 0 || g >= c->shm->nstamps)
        return NULL;
    return &c->shm->stamps[g];
}

static void on_run_task(struct bchild *c, struct bslave *s, const Agora__Slave__Event__RunTask *rt)
{
    if (!rt || !rt->task || !rt->framework_info || !rt->framework_info->id)
        return;
    uint64_t received_ns = bench_now_ns();
    shm_add(&c->shm->run_tasks, 1);
    struct btask *t = xcalloc(1, sizeof(*t));
    t->s = s;
    t->fw_id = xstrdup(rt->framework_info->id->value);
    t->task_id = xstrdup(rt->task->task_id->value);
    t->key = xasprintf("%s\n%s", t->fw_id, t->task_id);
    struct btask *old = NULL;
    HASH_FIND_STR(c->tasks, t->key, old);
    if (old) { /* a duplicate RUN_TASK: ignore */
        task_free(t);
        return;
    }
    HASH_ADD_KEYPTR(hh, c->tasks, t->key, strlen(t->key), t);
    task_link(s, t);
    t->info_pb = pb_pack(&rt->task->base, &t->info_len);
    struct bfwinfo *fi = NULL;
    HASH_FIND_STR(c->fwinfos, t->fw_id, fi);
    if (!fi) {
        fi = xcalloc(1, sizeof(*fi));
        fi->id = xstrdup(t->fw_id);
        fi->info = pb_dup(&rt->framework_info->base);
        HASH_ADD_KEYPTR(hh, c->fwinfos, fi->id, strlen(fi->id), fi);
    }
    t->phase = BT_RUNNING_SENT;
    struct bench_task_stamp *stamp = task_stamp(c, t->task_id);
    if (stamp && !stamp->run_task_ns)
        stamp->run_task_ns = received_ns;
    send_update(c, t, MESOS__V1__TASK_STATE__TASK_RUNNING, false);
    if (stamp && !stamp->running_sent_ns)
        stamp->running_sent_ns = bench_now_ns();
    t->due = bench_now() + c->cfg->task_duration;
    if (c->fifo_tail)
        c->fifo_tail->fifo_next = t;
    else
        c->fifo_head = t;
    c->fifo_tail = t;
    if (!evtimer_pending(c->fifo_ev, NULL))
        fifo_arm(c);
}

static void on_ack(struct bchild *c, const Agora__Slave__Event__Acknowledge *a)
{
    if (!a)
        return;
    shm_add(&c->shm->acks, 1);
    char key[512];
    snprintf(key, sizeof(key), "%s\n%s", a->framework_id->value, a->task_id->value);
    struct btask *t = NULL;
    HASH_FIND_STR(c->tasks, key, t);
    if (!t || a->uuid.len != 16 || memcmp(a->uuid.data, t->uuid, 16) != 0)
        return; /* stale or duplicate */
    if (t->phase == BT_RUNNING_SENT) {
        t->phase = BT_RUNNING_ACKED;
        if (t->finish_due)
            task_finish(c, t);
    } else if (t->phase == BT_FINISHED_SENT) {
        HASH_DELETE(hh, c->tasks, t);
        task_unlink(t);
        if (t->fifo_next || c->fifo_tail == t)
            t->phase = BT_GONE; /* killed early: still in the FIFO, which frees it */
        else
            task_free(t);
    }
}

static void on_kill(struct bchild *c, const Agora__Slave__Event__KillTask *k)
{
    if (!k)
        return;
    char key[512];
    snprintf(key, sizeof(key), "%s\n%s", k->framework_id->value, k->task_id->value);
    struct btask *t = NULL;
    HASH_FIND_STR(c->tasks, key, t);
    if (!t || t->phase == BT_FINISHED_SENT)
        return;
    t->killed = true; /* TASK_KILLED now, or once RUNNING is acknowledged */
    if (t->phase == BT_RUNNING_ACKED)
        task_finish(c, t);
    else
        t->finish_due = true;
}

/* -------------------------------------------------------------- streams */

static void open_more(struct bchild *c);

static void child_check_ready(struct bchild *c)
{
    if (!c->ready_reported && c->registered == c->count) {
        c->ready_reported = true;
        shm_add(&c->shm->children_ready, 1);
    }
}

static void enqueue(struct bchild *c, struct bslave *s)
{
    if (s->queued)
        return;
    s->queued = true;
    c->queue[(c->qhead + c->qlen) % c->count] = (int)(s - c->slaves);
    c->qlen++;
}

static double initial_backoff(const struct bchild *c)
{
    return c->cfg->backoff_factor > 0.5 ? c->cfg->backoff_factor : 0.5;
}

/* zk runs: SUBSCRIBE again later, as agora-slave does after a failure. */
static void schedule_retry(struct bchild *c, struct bslave *s)
{
    double d = bench_backoff_delay(s->backoff);
    s->backoff *= 2;
    if (s->backoff > BACKOFF_MAX)
        s->backoff = BACKOFF_MAX;
    struct timeval tv = { (time_t)d, (suseconds_t)((d - (double)(time_t)d) * 1e6) };
    evtimer_add(s->retry_ev, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct bslave *s = arg;
    enqueue(s->c, s);
    open_more(s->c);
}

/* Resend the updates the master has not acknowledged (lost with it). */
static void resend_unacked(struct bchild *c, struct bslave *s)
{
    for (struct btask *t = s->tasks; t; t = t->snext) {
        if (t->phase == BT_RUNNING_SENT)
            send_update(c, t, MESOS__V1__TASK_STATE__TASK_RUNNING, true);
        else if (t->phase == BT_FINISHED_SENT)
            send_update(c, t, final_state(t), true);
    }
}

static int on_record(const char *data, size_t len, void *arg)
{
    struct bslave *s = arg;
    struct bchild *c = s->c;
    Agora__Slave__Event *ev = agora__slave__event__unpack(NULL, len, (const uint8_t *)data);
    if (!ev)
        return -1;
    switch (ev->type) {
    case AGORA__SLAVE__EVENT__TYPE__REGISTERED:
        if (s->state == BS_SUBSCRIBING && ev->registered) {
            bool rereg = s->agent_id != NULL;
            free(s->agent_id);
            s->agent_id = xstrdup(ev->registered->agent_id->value);
            s->state = BS_REGISTERED;
            s->backoff = initial_backoff(c);
            c->inflight_subs--;
            if (rereg) {
                uint64_t now = bench_now_ns(),
                         last = __atomic_load_n(&c->shm->last_rereg_ns, __ATOMIC_RELAXED);
                while (last < now &&
                       !__atomic_compare_exchange_n(&c->shm->last_rereg_ns, &last, now, false,
                                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED))
                    ;
                shm_add(&c->shm->reregistered, 1);
                resend_unacked(c, s);
            } else {
                c->registered++;
                shm_add(&c->shm->registered, 1);
                child_check_ready(c);
            }
            open_more(c);
        }
        break;
    case AGORA__SLAVE__EVENT__TYPE__PING: {
        Agora__Slave__Call call = AGORA__SLAVE__CALL__INIT;
        Agora__Slave__Call__Pong pong = AGORA__SLAVE__CALL__PONG__INIT;
        Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
        aid.value = s->agent_id;
        if (ev->ping && ev->ping->has_seq) {
            pong.has_seq = 1;
            pong.seq = ev->ping->seq;
        }
        call.has_type = 1;
        call.type = AGORA__SLAVE__CALL__TYPE__PONG;
        call.agent_id = &aid;
        call.pong = &pong;
        post_call(c, s, &call);
        shm_add(&c->shm->pings, 1);
        break;
    }
    case AGORA__SLAVE__EVENT__TYPE__RUN_TASK:
        on_run_task(c, s, ev->run_task);
        break;
    case AGORA__SLAVE__EVENT__TYPE__ACKNOWLEDGE:
        on_ack(c, ev->acknowledge);
        break;
    case AGORA__SLAVE__EVENT__TYPE__KILL_TASK:
        on_kill(c, ev->kill_task);
        break;
    case AGORA__SLAVE__EVENT__TYPE__ERROR:
        fprintf(stderr, "agora-bench: slave %d: ERROR from master: %s\n", s->idx,
                ev->error ? ev->error->message : "?");
        break;
    default:
        break;
    }
    agora__slave__event__free_unpacked(ev, NULL);
    return 0;
}

static void on_stream_chunk(struct evhttp_request *req, void *arg)
{
    struct bslave *s = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return;
    if (!s->stream_id[0]) { /* the body of a refusal (307, 503), not a stream */
        evbuffer_drain(in, n);
        return;
    }
    const char *p = (const char *)evbuffer_pullup(in, -1);
    char *err = NULL;
    if (rio_decoder_feed(s->dec, p, n, on_record, s, &err) != 0) {
        fprintf(stderr, "agora-bench: slave %d: bad event stream: %s\n", s->idx, err ? err : "?");
        free(err);
    }
    evbuffer_drain(in, n);
}

static int on_stream_headers(struct evhttp_request *req, void *arg)
{
    struct bslave *s = arg;
    int code = evhttp_request_get_response_code(req);
    const char *sid = evhttp_find_header(evhttp_request_get_input_headers(req), "Mesos-Stream-Id");
    if (code != 200 || !sid) {
        /* zk runs: a master not (yet) leading answers 307 or 503; retried. */
        if (!s->c->cfg->zk_url || (code != 307 && code != 503))
            fprintf(stderr, "agora-bench: slave %d: SUBSCRIBE answered %d\n", s->idx, code);
        return 0;
    }
    snprintf(s->stream_id, sizeof(s->stream_id), "%s", sid);
    return 0;
}

static void on_stream_done(struct evhttp_request *req, void *arg)
{
    struct bslave *s = arg;
    struct bchild *c = s->c;
    bool zk = c->cfg->zk_url != NULL;
    if (s->state == BS_SUBSCRIBING) {
        c->inflight_subs--;
        if (zk) {
            s->state = BS_IDLE;
            schedule_retry(c, s);
        } else {
            shm_add(&c->shm->subscribe_failed, 1);
            s->state = BS_LOST;
        }
        open_more(c);
    } else if (s->state == BS_REGISTERED) {
        if (!__atomic_load_n(&c->shm->stop, __ATOMIC_RELAXED))
            shm_add(&c->shm->streams_lost, 1);
        s->state = zk ? BS_IDLE : BS_LOST;
        if (zk)
            schedule_retry(c, s);
    }
}

/* The SUBSCRIBE of a slave that registered before: its agent id, its
 * tasks and their frameworks. Fills sub and ai; what it allocates (the
 * arrays and the unpacked TaskInfos) is freed by subscribe_free_tasks. */
static void subscribe_add_tasks(struct bchild *c, struct bslave *s,
                                Agora__Slave__Call__Subscribe *sub, Mesos__V1__AgentID *aid,
                                Mesos__V1__AgentInfo *ai)
{
    aid->value = s->agent_id;
    ai->id = aid;
    if (s->ntasks == 0)
        return;
    Agora__Slave__Call__Task **tasks = xcalloc((size_t)s->ntasks, sizeof(*tasks));
    Mesos__V1__FrameworkInfo **fws = xcalloc((size_t)s->ntasks, sizeof(*fws));
    size_t n = 0, nfw = 0;
    for (struct btask *t = s->tasks; t; t = t->snext) {
        Agora__Slave__Call__Task *rt = xcalloc(1, sizeof(*rt));
        agora__slave__call__task__init(rt);
        rt->task_info = mesos__v1__task_info__unpack(NULL, t->info_len, t->info_pb);
        if (!rt->task_info) {
            free(rt);
            continue;
        }
        Mesos__V1__FrameworkID *fid = xcalloc(1, sizeof(*fid));
        mesos__v1__framework_id__init(fid);
        fid->value = t->fw_id;
        rt->framework_id = fid;
        rt->state =
            t->phase == BT_FINISHED_SENT ? final_state(t) : MESOS__V1__TASK_STATE__TASK_RUNNING;
        tasks[n++] = rt;
        struct bfwinfo *fi = NULL;
        HASH_FIND_STR(c->fwinfos, t->fw_id, fi);
        bool have = false;
        for (size_t i = 0; fi && fi->info && i < nfw; i++)
            have = have || fws[i] == fi->info;
        if (fi && fi->info && !have)
            fws[nfw++] = fi->info;
    }
    sub->tasks = tasks;
    sub->n_tasks = n;
    sub->frameworks = fws;
    sub->n_frameworks = nfw;
}

static void subscribe_free_tasks(Agora__Slave__Call__Subscribe *sub)
{
    for (size_t i = 0; i < sub->n_tasks; i++) {
        mesos__v1__task_info__free_unpacked(sub->tasks[i]->task_info, NULL);
        free(sub->tasks[i]->framework_id);
        free(sub->tasks[i]);
    }
    free(sub->tasks);
    free(sub->frameworks);
}

static void slave_subscribe(struct bchild *c, struct bslave *s)
{
    char host[64];
    snprintf(host, sizeof(host), BENCH_HOST_PREFIX "%d", s->idx);
    Agora__Slave__Call call = AGORA__SLAVE__CALL__INIT;
    Agora__Slave__Call__Subscribe sub = AGORA__SLAVE__CALL__SUBSCRIBE__INIT;
    Mesos__V1__AgentInfo ai = MESOS__V1__AGENT_INFO__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    char *containerizers[] = { "process" };
    ai.hostname = host;
    ai.has_port = 1;
    ai.port = 5051;
    ai.resources = c->res_pb;
    ai.n_resources = c->nres;
    /* --slave_ports_per_slave: this slave's own slice of the port range. */
    Mesos__V1__Resource *own[c->nres + 1], ports;
    Mesos__V1__Value__Ranges ranges;
    Mesos__V1__Value__Range range, *rangep = &range;
    for (size_t i = 0; c->cfg->ports_per_slave > 0 && i < c->nres; i++) {
        const Mesos__V1__Resource *res = c->res_pb[i];
        own[i] = c->res_pb[i];
        if (strcmp(res->name, "ports") != 0 || res->ranges == NULL || res->ranges->n_range == 0)
            continue;
        uint64_t first = res->ranges->range[0]->begin + (uint64_t)s->idx * c->cfg->ports_per_slave;
        ports = *res;
        ranges = *res->ranges;
        range = *res->ranges->range[0];
        range.begin = first;
        range.end = first + (uint64_t)c->cfg->ports_per_slave - 1;
        ranges.n_range = 1;
        ranges.range = &rangep;
        ports.ranges = &ranges;
        own[i] = &ports;
        ai.resources = own;
    }
    if (s->agent_id) {
        subscribe_add_tasks(c, s, &sub, &aid, &ai);
        shm_add(&c->shm->resubscribe_tries, 1);
    }
    sub.agent_info = &ai;
    sub.containerizers = containerizers;
    sub.n_containerizers = 1;
    sub.version = "agora-bench";
    call.has_type = 1;
    call.type = AGORA__SLAVE__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    size_t len = agora__slave__call__get_packed_size(&call);
    uint8_t *buf = xmalloc(len);
    agora__slave__call__pack(&call, buf);
    subscribe_free_tasks(&sub);

    /* A previous attempt's connection (this runs from a timer or another
   * slave's callback, never from this connection's own). */
    if (s->evcon)
        evhttp_connection_free(s->evcon);
    if (s->dec)
        rio_decoder_free(s->dec);
    s->stream_id[0] = '\0';
    s->evcon = evhttp_connection_base_new(c->base, NULL, c->host, (unsigned short)c->port);
    evhttp_connection_set_family(s->evcon, AF_INET);
    evhttp_connection_set_local_address(s->evcon, c->local_ip);
    evhttp_connection_set_timeout(s->evcon, 3600);
    evhttp_connection_set_retries(s->evcon, 0);
    s->dec = rio_decoder_new(64 * 1024 * 1024);
    struct evhttp_request *req = evhttp_request_new(on_stream_done, s);
    evhttp_request_set_chunked_cb(req, on_stream_chunk);
    evhttp_request_set_header_cb(req, on_stream_headers);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hp[300];
    snprintf(hp, sizeof(hp), "%s:%d", c->host, c->port);
    evhttp_add_header(h, "Host", hp);
    evhttp_add_header(h, "Content-Type", CT_PROTOBUF);
    evhttp_add_header(h, "Accept", CT_PROTOBUF);
    evbuffer_add(evhttp_request_get_output_buffer(req), buf, len);
    free(buf);
    s->state = BS_SUBSCRIBING;
    c->inflight_subs++;
    if (evhttp_make_request(s->evcon, req, EVHTTP_REQ_POST, SLAVE_PATH) != 0) {
        c->inflight_subs--;
        if (c->cfg->zk_url) {
            s->state = BS_IDLE;
            schedule_retry(c, s);
        } else {
            s->state = BS_LOST;
            shm_add(&c->shm->subscribe_failed, 1);
        }
    }
}

static void open_more(struct bchild *c)
{
    while (c->host && c->qlen > 0 && c->inflight_subs < c->cfg->connect_window) {
        struct bslave *s = &c->slaves[c->queue[c->qhead]];
        c->qhead = (c->qhead + 1) % c->count;
        c->qlen--;
        s->queued = false;
        slave_subscribe(c, s);
    }
}

/* zk runs: the leading master changed (host NULL: none known). The first
 * leader gets every slave at once (as the standalone run does); a later one
 * gets them after agora-slave's jittered delay. */
static void on_leader(const char *host, int port, void *arg)
{
    struct bchild *c = arg;
    free(c->host);
    c->host = host ? xstrdup(host) : NULL;
    c->port = port;
    if (host)
        call_pool_set_master(c->pool, host, port);
    bool first = host && c->leaders_seen++ == 0;
    c->qlen = 0;
    c->inflight_subs = 0;
    for (int i = 0; i < c->count; i++) {
        struct bslave *s = &c->slaves[i];
        evtimer_del(s->retry_ev);
        s->queued = false;
        if (s->evcon) {
            evhttp_connection_free(s->evcon);
            s->evcon = NULL;
        }
        if (s->state != BS_LOST)
            s->state = BS_IDLE;
        if (!host)
            continue;
        s->backoff = initial_backoff(c);
        if (first)
            enqueue(c, s);
        else
            schedule_retry(c, s);
    }
    open_more(c);
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    struct bchild *c = arg;
    if (__atomic_load_n(&c->shm->stop, __ATOMIC_RELAXED))
        event_base_loopbreak(c->base);
}

int bench_slaves_run(const struct bench_config *cfg, struct bench_shm *shm, int child, int first,
                     int count)
{
    struct bchild c;
    memset(&c, 0, sizeof(c));
    /* The parent's death (or Ctrl-C) ends the children too. */
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    c.base = event_base_new();
    c.cfg = cfg;
    c.shm = shm;
    c.first = first;
    c.count = count;
    c.rng = 0x9e3779b97f4a7c15ull ^ ((uint64_t)getpid() << 20) ^ bench_now_ns();
    srandom((unsigned)c.rng);
    snprintf(c.local_ip, sizeof(c.local_ip), "127.0.0.%d", 10 + child % 240);

    struct resources r;
    char *err = NULL;
    res_init(&r);
    if (res_parse(cfg->slave_resources, NULL, &r, &err) != 0) {
        fprintf(stderr, "agora-bench: --slave_resources: %s\n", err);
        return 2;
    }
    c.res_pb = res_to_pb(&r, &c.nres);
    res_cleanup(&r);

    /* zk runs: nowhere to connect until the detector names the leader. */
    c.host = xstrdup(cfg->zk_url ? "127.0.0.1" : cfg->master_host);
    c.port = cfg->master_port;
    c.pool = call_pool_new(c.base, c.host, c.port, c.local_ip, cfg->conns_per_proc);
    c.slaves = xcalloc((size_t)count, sizeof(*c.slaves));
    c.queue = xcalloc((size_t)count, sizeof(*c.queue));
    for (int i = 0; i < count; i++) {
        c.slaves[i].c = &c;
        c.slaves[i].idx = first + i;
        c.slaves[i].retry_ev = evtimer_new(c.base, on_retry, &c.slaves[i]);
        c.slaves[i].backoff = initial_backoff(&c);
        if (!cfg->zk_url)
            enqueue(&c, &c.slaves[i]);
    }
    c.fifo_ev = evtimer_new(c.base, on_fifo, &c);
    c.uflush_ev = event_new(c.base, -1, 0, on_uflush, &c);
    c.poll_ev = event_new(c.base, -1, EV_PERSIST, on_poll, &c);
    struct timeval ptv = { 0, 50000 };
    evtimer_add(c.poll_ev, &ptv);
    if (cfg->zk_url) {
        free(c.host);
        c.host = NULL;
        c.leader = bench_leader_new(c.base, cfg->zk_url, on_leader, &c);
        if (!c.leader)
            return 2;
    }
    open_more(&c);
    child_check_ready(&c);
    event_base_dispatch(c.base);

    /* Tidy exit so that leak checkers stay quiet; the master sees EOFs. */
    bench_leader_free(c.leader);
    shm_add(&shm->call_errors, call_pool_errors(c.pool));
    for (int i = 0; i < count; i++) {
        if (c.slaves[i].evcon)
            evhttp_connection_free(c.slaves[i].evcon);
        if (c.slaves[i].dec)
            rio_decoder_free(c.slaves[i].dec);
        event_free(c.slaves[i].retry_ev);
        free(c.slaves[i].agent_id);
        free(c.slaves[i].ubuf);
    }
    struct btask *t, *tmp;
    for (t = c.fifo_head; t; t = tmp) { /* killed early and acknowledged: only here */
        tmp = t->fifo_next;
        if (t->phase == BT_GONE)
            task_free(t);
    }
    HASH_ITER (hh, c.tasks, t, tmp) {
        HASH_DELETE(hh, c.tasks, t);
        task_free(t);
    }
    struct bfwinfo *fi, *ftmp;
    HASH_ITER (hh, c.fwinfos, fi, ftmp) {
        HASH_DELETE(hh, c.fwinfos, fi);
        if (fi->info)
            pb_free(fi->info);
        free(fi->id);
        free(fi);
    }
    call_pool_free(c.pool);
    res_pb_free(c.res_pb, c.nres);
    event_free(c.fifo_ev);
    event_free(c.uflush_ev);
    event_free(c.poll_ev);
    free(c.slaves);
    free(c.queue);
    free(c.host);
    event_base_free(c.base);
    return 0;
}
