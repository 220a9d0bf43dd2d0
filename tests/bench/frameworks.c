/*
 * frameworks.c: emulated frameworks of agora-bench, in the parent process.
 *
 * Each framework SUBSCRIBEs to /api/v1/scheduler (protobuf both ways),
 * takes its share of the --tasks, and for every offer launches as many
 * tasks of --task_cpus/--task_mem as fit (ACCEPT with refuse_seconds=0, so
 * the slave comes back as soon as anything is free again), declines what
 * it cannot use, SUPPRESSes once it has launched its share, and
 * acknowledges every status update that carries a uuid.
 *
 * Figures: per task the time from the ACCEPT that launched it to its
 * TASK_RUNNING update (launch latency and throughput), and per offer the
 * time since the offered slave's resources became free (the slave process
 * stamps that in the shared region when it sends TASK_FINISHED).
 *
 * zk runs: main.c's detector calls bench_fws_set_master when the leader
 * changes; every framework drops its stream and SUBSCRIBEs again with its
 * framework id after a delay uniform in [0, 0.5 s], as libagora-scheduler
 * does. A refused or ended stream is retried after 0.5-1 s.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>

#include "task_state.h"
#include "bench.h"
#include "mem.h"
#include "recordio.h"
#include "resources.h"
#include "scheduler.pb-c.h"
#include "pbutil.h"

#define SCHED_PATH "/api/v1/scheduler"
#define CT_PROTOBUF "application/x-protobuf"

struct bfw {
    struct bench_fws *f;
    int idx;
    char *id;
    char stream_id[64];
    struct evhttp_connection *evcon;
    struct rio_decoder *dec;
    long first_task, quota, launched;
    bool subscribed, suppressed;
    struct event *retry_ev; /* zk runs: the next SUBSCRIBE */
};

struct bench_fws {
    struct event_base *base;
    const struct bench_config *cfg;
    struct bench_shm *shm;
    struct bfw *fws;
    int n;
    struct call_pool *pool;        /* ACKNOWLEDGE, SUBSCRIBE's follow-ups, ... */
    struct call_pool *answer_pool; /* ACCEPT, DECLINE, SUPPRESS, REVIVE */
    Mesos__V1__Resource **task_res;
    size_t ntask_res;
    double *accept_at; /* per global task number */
    struct bench_fw_stats st;
    char *host; /* the master (the leader in zk runs); NULL: none known */
    int port;
    uint64_t resubscribed;
    double last_resubscribed;
};

static void fw_subscribe(struct bench_fws *f, struct bfw *fw);

static void sample_add(double **v, size_t *n, size_t *cap, double x)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 1024;
        *v = xrealloc(*v, *cap * sizeof(**v));
    }
    (*v)[(*n)++] = x;
}

static void post_call(struct bfw *fw, const Mesos__V1__Scheduler__Call *call)
{
    size_t len;
    uint8_t *buf = pb_pack(&call->base, &len);
    /* The answers to offers go on connections of their own: pipelined
     * behind the acknowledgements of all this process's frameworks (two
     * per task) an ACCEPT waited for the bench's own queue, not for the
     * master. libagora-scheduler sends every call on a connection of its
     * own, so an ACCEPT never waits behind an ACKNOWLEDGE there either.
     * SUPPRESS and REVIVE go with them: a SUPPRESS left behind the
     * acknowledgements while the DECLINEs went ahead brought a framework
     * that was done an offer of every slave (358,000 declines at 10,000). */
    bool answer = call->type == MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT ||
                  call->type == MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE ||
                  call->type == MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS ||
                  call->type == MESOS__V1__SCHEDULER__CALL__TYPE__REVIVE;
    call_pool_post(answer ? fw->f->answer_pool : fw->f->pool, SCHED_PATH, CT_PROTOBUF, CT_PROTOBUF,
                   fw->stream_id, buf, len, NULL, NULL);
    free(buf);
}

static void call_init(struct bfw *fw, Mesos__V1__Scheduler__Call *call, Mesos__V1__FrameworkID *fid,
                      Mesos__V1__Scheduler__Call__Type type)
{
    mesos__v1__scheduler__call__init(call);
    mesos__v1__framework_id__init(fid);
    fid->value = fw->id;
    call->framework_id = fid;
    call->has_type = 1;
    call->type = type;
}

static void fw_suppress(struct bfw *fw)
{
    if (fw->suppressed)
        return;
    fw->suppressed = true;
    Mesos__V1__Scheduler__Call call;
    Mesos__V1__FrameworkID fid;
    call_init(fw, &call, &fid, MESOS__V1__SCHEDULER__CALL__TYPE__SUPPRESS);
    post_call(fw, &call);
}

static void fw_decline(struct bfw *fw, Mesos__V1__OfferID *oid, double refuse)
{
    Mesos__V1__Scheduler__Call call;
    Mesos__V1__FrameworkID fid;
    Mesos__V1__Scheduler__Call__Decline d = MESOS__V1__SCHEDULER__CALL__DECLINE__INIT;
    Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
    call_init(fw, &call, &fid, MESOS__V1__SCHEDULER__CALL__TYPE__DECLINE);
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = refuse;
    d.offer_ids = &oid;
    d.n_offer_ids = 1;
    d.filters = &filters;
    call.decline = &d;
    post_call(fw, &call);
    fw->f->st.declined++;
}

static void on_offer(struct bfw *fw, const Mesos__V1__Offer *o)
{
    struct bench_fws *f = fw->f;
    double now = bench_now();
    f->st.offers++;
    if (o->hostname && strncmp(o->hostname, BENCH_HOST_PREFIX, strlen(BENCH_HOST_PREFIX)) == 0) {
        long idx = strtol(o->hostname + strlen(BENCH_HOST_PREFIX), NULL, 10);
        if (idx >= 0 && idx < f->cfg->slaves) {
            uint64_t freed = __atomic_exchange_n(&f->shm->freed_ns[idx], 0, __ATOMIC_RELAXED);
            if (freed)
                sample_add(&f->st.offer_latency_ms, &f->st.n_offer_latency,
                           &f->st.cap_offer_latency, (double)(bench_now_ns() - freed) / 1e6);
        }
    }
    double cpus = 0, mem = 0;
    for (size_t i = 0; i < o->n_resources; i++) {
        const Mesos__V1__Resource *r = o->resources[i];
        if (!r->scalar)
            continue;
        if (strcmp(r->name, "cpus") == 0)
            cpus += r->scalar->value;
        else if (strcmp(r->name, "mem") == 0)
            mem += r->scalar->value;
    }
    long fit = (long)floor(cpus / f->cfg->task_cpus + 1e-6);
    long fit_mem = (long)floor(mem / f->cfg->task_mem + 1e-6);
    if (fit_mem < fit)
        fit = fit_mem;
    long left = fw->quota - fw->launched;
    if (fit > left)
        fit = left;
    if (fit <= 0) {
        /* Done: keep away for long. Too small an offer: retry soon. */
        fw_decline(fw, o->id, left <= 0 ? 3600 : 1);
        f->st.declined_done += left <= 0;
        if (left <= 0)
            fw_suppress(fw);
        return;
    }

    Mesos__V1__Scheduler__Call call;
    Mesos__V1__FrameworkID fid;
    Mesos__V1__Scheduler__Call__Accept acc = MESOS__V1__SCHEDULER__CALL__ACCEPT__INIT;
    Mesos__V1__Offer__Operation op = MESOS__V1__OFFER__OPERATION__INIT;
    Mesos__V1__Offer__Operation *ops[1] = { &op };
    Mesos__V1__Offer__Operation__Launch launch = MESOS__V1__OFFER__OPERATION__LAUNCH__INIT;
    Mesos__V1__Filters filters = MESOS__V1__FILTERS__INIT;
    Mesos__V1__CommandInfo cmd = MESOS__V1__COMMAND_INFO__INIT;
    Mesos__V1__OfferID *oids[1] = { o->id };
    Mesos__V1__TaskInfo *tis = xcalloc((size_t)fit, sizeof(*tis));
    Mesos__V1__TaskInfo **tps = xcalloc((size_t)fit, sizeof(*tps));
    Mesos__V1__TaskID *tids = xcalloc((size_t)fit, sizeof(*tids));
    char(*names)[24] = xcalloc((size_t)fit, sizeof(*names));
    cmd.value = "true";
    for (long i = 0; i < fit; i++) {
        long g = fw->first_task + fw->launched + i;
        mesos__v1__task_info__init(&tis[i]);
        mesos__v1__task_id__init(&tids[i]);
        snprintf(names[i], sizeof(names[i]), "%ld", g);
        tids[i].value = names[i];
        tis[i].name = "bench";
        tis[i].task_id = &tids[i];
        tis[i].agent_id = o->agent_id;
        tis[i].resources = f->task_res;
        tis[i].n_resources = f->ntask_res;
        tis[i].command = &cmd;
        tps[i] = &tis[i];
        f->accept_at[g] = now;
    }
    launch.task_infos = tps;
    launch.n_task_infos = (size_t)fit;
    op.has_type = 1;
    op.type = MESOS__V1__OFFER__OPERATION__TYPE__LAUNCH;
    op.launch = &launch;
    filters.has_refuse_seconds = 1;
    filters.refuse_seconds = 0;
    acc.offer_ids = oids;
    acc.n_offer_ids = 1;
    acc.operations = ops;
    acc.n_operations = 1;
    acc.filters = &filters;
    call_init(fw, &call, &fid, MESOS__V1__SCHEDULER__CALL__TYPE__ACCEPT);
    call.accept = &acc;
    post_call(fw, &call);
    if (f->st.accepts == 0)
        f->st.first_accept = now;
    f->st.accepts++;
    fw->launched += fit;
    f->st.launched += (uint64_t)fit;
    free(tis);
    free(tps);
    free(tids);
    free(names);
    if (fw->launched >= fw->quota)
        fw_suppress(fw);
}

/* Task g reported RUNNING at the framework at now: its latency in stages,
 * from the stamps its slave left in shared memory. */
static void add_stages(struct bench_fws *f, long g, double now)
{
    const struct bench_task_stamp *t = f->shm->stamps ? &f->shm->stamps[g] : NULL;
    if (!t || !t->run_task_ns || !t->running_sent_ns)
        return;
    double at[4] = { f->accept_at[g], (double)t->run_task_ns / 1e9,
                     (double)t->running_sent_ns / 1e9, now };
    for (int k = 0; k < 3; k++)
        sample_add(&f->st.stage_ms[k], &f->st.n_stage[k], &f->st.cap_stage[k],
                   (at[k + 1] - at[k]) * 1e3);
}

static void on_update(struct bfw *fw, const Mesos__V1__TaskStatus *st)
{
    struct bench_fws *f = fw->f;
    double now = bench_now();
    if (st->has_uuid && st->agent_id) {
        Mesos__V1__Scheduler__Call call;
        Mesos__V1__FrameworkID fid;
        Mesos__V1__Scheduler__Call__Acknowledge a = MESOS__V1__SCHEDULER__CALL__ACKNOWLEDGE__INIT;
        call_init(fw, &call, &fid, MESOS__V1__SCHEDULER__CALL__TYPE__ACKNOWLEDGE);
        a.agent_id = st->agent_id;
        a.task_id = st->task_id;
        a.uuid = st->uuid;
        call.acknowledge = &a;
        post_call(fw, &call);
    }
    if (st->has_reason && st->reason == MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION)
        return;
    long g = strtol(st->task_id->value, NULL, 10);
    if (st->state == MESOS__V1__TASK_STATE__TASK_RUNNING) {
        /* accept_at < 0: counted already (an update sent again after a failover). */
        if (g >= 0 && g < f->cfg->tasks && f->accept_at[g] < 0)
            return;
        f->st.running++;
        f->st.last_running = now;
        if (g >= 0 && g < f->cfg->tasks && f->accept_at[g] > 0) {
            sample_add(&f->st.launch_latency_ms, &f->st.n_launch_latency, &f->st.cap_launch_latency,
                       (now - f->accept_at[g]) * 1e3);
            add_stages(f, g, now);
            f->accept_at[g] = -1;
        }
    } else if (st->state == MESOS__V1__TASK_STATE__TASK_FINISHED) {
        f->st.finished++;
        f->st.last_finished = now;
    } else if (task_state_terminal(st->state)) {
        f->st.failed++;
        if (f->st.failed <= 10)
            fprintf(
                stderr, "agora-bench: task %s: %s: %s\n", st->task_id->value,
                protobuf_c_enum_descriptor_get_value(&mesos__v1__task_state__descriptor, st->state)
                    ->name,
                st->message ? st->message : "");
    }
}

static int on_record(const char *data, size_t len, void *arg)
{
    struct bfw *fw = arg;
    Mesos__V1__Scheduler__Event *ev =
        mesos__v1__scheduler__event__unpack(NULL, len, (const uint8_t *)data);
    if (!ev)
        return -1;
    switch (ev->type) {
    case MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED:
        if (ev->subscribed && !fw->subscribed) {
            free(fw->id);
            fw->id = xstrdup(ev->subscribed->framework_id->value);
            fw->subscribed = true;
            fw->f->st.subscribed++;
        } else if (ev->subscribed) {
            fw->f->resubscribed++;
            fw->f->last_resubscribed = bench_now();
        }
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS:
        if (ev->offers)
            for (size_t i = 0; i < ev->offers->n_offers; i++)
                on_offer(fw, ev->offers->offers[i]);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE:
        if (ev->update && ev->update->status)
            on_update(fw, ev->update->status);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR:
        fprintf(stderr, "agora-bench: framework %d: ERROR: %s\n", fw->idx,
                ev->error ? ev->error->message : "?");
        break;
    default:
        break;
    }
    mesos__v1__scheduler__event__free_unpacked(ev, NULL);
    return 0;
}

static void on_stream_chunk(struct evhttp_request *req, void *arg)
{
    struct bfw *fw = arg;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t n = evbuffer_get_length(in);
    if (n == 0)
        return;
    if (!fw->stream_id[0]) { /* the body of a refusal (307, 503), not a stream */
        evbuffer_drain(in, n);
        return;
    }
    const char *p = (const char *)evbuffer_pullup(in, -1);
    char *err = NULL;
    if (rio_decoder_feed(fw->dec, p, n, on_record, fw, &err) != 0) {
        fprintf(stderr, "agora-bench: framework %d: bad event stream: %s\n", fw->idx,
                err ? err : "?");
        free(err);
    }
    evbuffer_drain(in, n);
}

static int on_stream_headers(struct evhttp_request *req, void *arg)
{
    struct bfw *fw = arg;
    int code = evhttp_request_get_response_code(req);
    const char *sid = evhttp_find_header(evhttp_request_get_input_headers(req), "Mesos-Stream-Id");
    if ((code != 200 || !sid) && (!fw->f->cfg->zk_url || (code != 307 && code != 503)))
        fprintf(stderr, "agora-bench: framework %d: SUBSCRIBE answered %d\n", fw->idx, code);
    else
        snprintf(fw->stream_id, sizeof(fw->stream_id), "%s", sid);
    return 0;
}

static void schedule_subscribe(struct bfw *fw, double lo, double hi)
{
    double d = lo + (hi - lo) * ((double)random() / (double)RAND_MAX);
    struct timeval tv = { (time_t)d, (suseconds_t)((d - (double)(time_t)d) * 1e6) };
    evtimer_add(fw->retry_ev, &tv);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    struct bfw *fw = arg;
    if (fw->f->host)
        fw_subscribe(fw->f, fw);
}

static void on_stream_done(struct evhttp_request *req, void *arg)
{
    struct bfw *fw = arg;
    if (__atomic_load_n(&fw->f->shm->stop, __ATOMIC_RELAXED))
        return;
    if (fw->f->cfg->zk_url)
        schedule_subscribe(fw, 0.5, 1.0);
    else
        fprintf(stderr, "agora-bench: framework %d: event stream ended\n", fw->idx);
}

static void fw_subscribe(struct bench_fws *f, struct bfw *fw)
{
    char name[64];
    snprintf(name, sizeof(name), "agora-bench-%d", fw->idx);
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    fi.user = "bench";
    fi.name = name;
    if (fw->id) { /* subscribing again (a new leader) */
        fid.value = fw->id;
        fi.id = &fid;
        call.framework_id = &fid;
    }
    sub.framework_info = &fi;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    size_t len = mesos__v1__scheduler__call__get_packed_size(&call);
    uint8_t *buf = xmalloc(len);
    mesos__v1__scheduler__call__pack(&call, buf);

    /* Called from a timer or the leader callback, never from this
   * connection's own callbacks. */
    if (fw->evcon)
        evhttp_connection_free(fw->evcon);
    if (fw->dec)
        rio_decoder_free(fw->dec);
    fw->stream_id[0] = '\0';
    fw->suppressed = false;
    fw->evcon = evhttp_connection_base_new(f->base, NULL, f->host, (unsigned short)f->port);
    evhttp_connection_set_family(fw->evcon, AF_INET);
    evhttp_connection_set_timeout(fw->evcon, 3600);
    evhttp_connection_set_retries(fw->evcon, 0);
    fw->dec = rio_decoder_new(256 * 1024 * 1024);
    struct evhttp_request *req = evhttp_request_new(on_stream_done, fw);
    evhttp_request_set_chunked_cb(req, on_stream_chunk);
    evhttp_request_set_header_cb(req, on_stream_headers);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hp[300];
    snprintf(hp, sizeof(hp), "%s:%d", f->host, f->port);
    evhttp_add_header(h, "Host", hp);
    evhttp_add_header(h, "Content-Type", CT_PROTOBUF);
    evhttp_add_header(h, "Accept", CT_PROTOBUF);
    evbuffer_add(evhttp_request_get_output_buffer(req), buf, len);
    free(buf);
    if (evhttp_make_request(fw->evcon, req, EVHTTP_REQ_POST, SCHED_PATH) != 0)
        fprintf(stderr, "agora-bench: framework %d: cannot send SUBSCRIBE\n", fw->idx);
}

struct bench_fws *bench_fws_start(struct event_base *base, const struct bench_config *cfg,
                                  struct bench_shm *shm)
{
    struct bench_fws *f = xcalloc(1, sizeof(*f));
    f->base = base;
    f->cfg = cfg;
    f->shm = shm;
    f->n = cfg->frameworks;
    f->fws = xcalloc((size_t)f->n, sizeof(*f->fws));
    f->accept_at = xcalloc((size_t)(cfg->tasks > 0 ? cfg->tasks : 1), sizeof(double));
    f->host = xstrdup(cfg->master_host);
    f->port = cfg->master_port;
    f->pool = call_pool_new(base, f->host, f->port, NULL, cfg->conns_per_proc);
    f->answer_pool = call_pool_new(base, f->host, f->port, NULL, cfg->conns_per_proc);
    struct resources r;
    res_init(&r);
    res_add_scalar(&r, "cpus", NULL, cfg->task_cpus);
    res_add_scalar(&r, "mem", NULL, cfg->task_mem);
    f->task_res = res_to_pb(&r, &f->ntask_res);
    res_cleanup(&r);
    long per = cfg->tasks / f->n, extra = cfg->tasks % f->n, next = 0;
    for (int i = 0; i < f->n; i++) {
        struct bfw *fw = &f->fws[i];
        fw->f = f;
        fw->idx = i;
        fw->first_task = next;
        fw->quota = per + (i < extra ? 1 : 0);
        next += fw->quota;
        fw->retry_ev = evtimer_new(base, on_retry, fw);
        fw_subscribe(f, fw);
    }
    return f;
}

const struct bench_fw_stats *bench_fws_stats(const struct bench_fws *f)
{
    return &f->st;
}

bool bench_fws_all_subscribed(const struct bench_fws *f)
{
    return f->st.subscribed == (uint64_t)f->n;
}

void bench_fws_set_master(struct bench_fws *f, const char *host, int port)
{
    free(f->host);
    f->host = host ? xstrdup(host) : NULL;
    f->port = port;
    if (host) {
        call_pool_set_master(f->pool, host, port);
        call_pool_set_master(f->answer_pool, host, port);
    }
    for (int i = 0; i < f->n; i++) {
        struct bfw *fw = &f->fws[i];
        evtimer_del(fw->retry_ev);
        if (fw->evcon) {
            evhttp_connection_free(fw->evcon);
            fw->evcon = NULL;
        }
        if (host)
            schedule_subscribe(fw, 0, 0.5);
    }
}

uint64_t bench_fws_resubscribed(const struct bench_fws *f, double *last)
{
    *last = f->last_resubscribed;
    return f->resubscribed;
}

void bench_fws_free(struct bench_fws *f)
{
    if (!f)
        return;
    for (int i = 0; i < f->n; i++) {
        if (f->fws[i].evcon)
            evhttp_connection_free(f->fws[i].evcon);
        if (f->fws[i].dec)
            rio_decoder_free(f->fws[i].dec);
        if (f->fws[i].retry_ev)
            event_free(f->fws[i].retry_ev);
        free(f->fws[i].id);
    }
    call_pool_free(f->pool);
    call_pool_free(f->answer_pool);
    res_pb_free(f->task_res, f->ntask_res);
    free(f->fws);
    free(f->accept_at);
    free(f->host);
    free(f->st.offer_latency_ms);
    free(f->st.launch_latency_ms);
    for (int k = 0; k < 3; k++)
        free(f->st.stage_ms[k]);
    free(f);
}
