/*
 * scheduler: a framework's subscription to the master (Mesos v1 scheduler
 * HTTP API). Owns the connection state machine, the SUBSCRIBE stream and
 * its RecordIO decoding, event dispatch to the framework's callbacks,
 * redirects to the leader, the heartbeat watchdog, reconnection with
 * backoff, and run/stop. Calls are encoded and sent by calls.c.
 *
 * States: DISCONNECTED --start/reconnect--> CONNECTING --SUBSCRIBED event-->
 * SUBSCRIBED; any failure goes back to DISCONNECTED and, unless the
 * framework stopped, tore down, or got an ERROR, arms a reconnect timer.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "auth.h"
#include "http_tls.h"
#include "sched_internal.h"
#include "sched_dedup.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "pbjson.h"
#include "recordio.h"
#include "master_follow.h"
#include "timeutil.h"

#define SCHED_MAX_RECORD (64u * 1024 * 1024) /* one OFFERS event of a big cluster */
#define SCHED_CONNECT_TIMEOUT 10.0           /* connect + response headers */
#define SCHED_SUBSCRIBED_TIMEOUT 15.0        /* 200 received, SUBSCRIBED not yet */
#define SCHED_DEFAULT_HEARTBEAT 15.0         /* Mesos' default when not told */
#define SCHED_HEARTBEAT_SLACK 2.0
#define SCHED_BACKOFF_MIN 0.5
#define SCHED_BACKOFF_MAX 10.0
#define SCHED_MAX_REDIRECTS 5 /* then back off: leaders disagree */
#define SCHED_DRAIN_TIMEOUT 5.0
#define SCHED_DEDUP_TASKS 65536       /* task ids whose terminal update is remembered */
#define SCHED_ZK_SESSION_TIMEOUT 10.0 /* detection only; the default of cfg.zk_session_timeout */

static void sched_connect(struct agora_scheduler *s);
static void sched_schedule_reconnect(struct agora_scheduler *s, double delay);

/* ---------------------------------------------------------------- state */

static const char *const sched_state_names[] = {
    [AGORA_SCHED_DISCONNECTED] = "DISCONNECTED",
    [AGORA_SCHED_CONNECTING] = "CONNECTING",
    [AGORA_SCHED_SUBSCRIBED] = "SUBSCRIBED",
};

const char *agora_scheduler_state_name(enum agora_scheduler_state st)
{
    if ((size_t)st >= sizeof(sched_state_names) / sizeof(sched_state_names[0]))
        return "UNKNOWN";
    return sched_state_names[st];
}

/* The only place the state changes, so every transition is logged. */
static void sched_set_state(struct agora_scheduler *s, enum agora_scheduler_state st,
                            const char *why)
{
    if (s->state == st)
        return;
    log_info("scheduler %s: %s -> %s (%s%s%s)", s->name, agora_scheduler_state_name(s->state),
             agora_scheduler_state_name(st), why, s->cur_master ? ", master " : "",
             s->cur_master ? s->cur_master : "");
    s->state = st;
}

enum agora_scheduler_state agora_scheduler_state(const struct agora_scheduler *s)
{
    return s->state;
}

const char *agora_scheduler_framework_id(const struct agora_scheduler *s)
{
    return s->framework_id;
}

const char *agora_scheduler_master(const struct agora_scheduler *s)
{
    return s->cur_master;
}

struct event_base *agora_scheduler_base(const struct agora_scheduler *s)
{
    return s->base;
}

/* ------------------------------------------------------------- creation */

static char *dup_or_null(const char *v)
{
    return v ? xstrdup(v) : NULL;
}

/* The library logs through common/log.c, which is process-wide: a level or
 * sink given in a config applies to the whole process. */
static agora_log_fn sched_log_fn;

static void sched_log_sink(enum log_level level, const char *line, void *ctx)
{
    if (sched_log_fn)
        sched_log_fn((enum agora_log_level)(level + AGORA_LOG_DEBUG), line, ctx);
}

static void sched_set_logging(const struct agora_scheduler_config *cfg)
{
    if (cfg->log_level == AGORA_LOG_OFF)
        log_set_level(LOG_LVL_ERROR + 1);
    else if (cfg->log_level != AGORA_LOG_DEFAULT)
        log_set_level((enum log_level)(cfg->log_level - AGORA_LOG_DEBUG));
    if (cfg->log_fn) {
        sched_log_fn = cfg->log_fn;
        log_set_sink(sched_log_sink, cfg->log_ctx);
    }
}

static void sched_on_watchdog(evutil_socket_t fd, short what, void *arg);
static void sched_on_leader(struct master_follow *f, const char *leader, int port, const char *name,
                            void *arg);
static void sched_on_reconnect(evutil_socket_t fd, short what, void *arg);
static void sched_on_stop(evutil_socket_t fd, short what, void *arg);
static void sched_on_drain_timeout(evutil_socket_t fd, short what, void *arg);

struct agora_scheduler *agora_scheduler_new(struct event_base *base,
                                            const struct agora_scheduler_config *cfg,
                                            const struct agora_scheduler_callbacks *cbs, void *arg,
                                            char **err)
{
    struct agora_scheduler *s = NULL;
    char *e = NULL;

    if (!cfg || !cfg->name || !*cfg->name) {
        e = xstrdup("name: a framework name is required");
        goto fail;
    }
    if (cfg->zk_session_timeout < 0) {
        e = xasprintf("zk_session_timeout: %g is negative", cfg->zk_session_timeout);
        goto fail;
    }
    if (cfg->failover_timeout < 0) {
        e = xasprintf("failover_timeout: %g is negative", cfg->failover_timeout);
        goto fail;
    }
    if (cfg->log_level < AGORA_LOG_DEFAULT || cfg->log_level > AGORA_LOG_OFF) {
        e = xasprintf("log_level: %d is not an agora_log_level", (int)cfg->log_level);
        goto fail;
    }
    s = xcalloc(1, sizeof(*s));
    TAILQ_INIT(&s->calls);
    TAILQ_INIT(&s->timers);
    atomic_init(&s->stop_requested, false);
    /* TLS first: an https:// master parses only with it on. */
    if ((cfg->ssl || cfg->ssl_ca) && !http_tls_client_enabled()) {
        struct http_tls_config tls = { .ca = cfg->ssl_ca,
                                       .enable = true,
                                       .verify = !cfg->ssl_insecure };
        char *te = NULL;
        if (http_tls_configure(&tls, &te) != 0) {
            e = xasprintf("ssl_ca: %s", te);
            free(te);
            goto fail;
        }
    }
    char *fe = NULL;
    s->follow = master_follow_new(cfg->master, &fe);
    if (!s->follow) {
        e = xasprintf("master: %s", fe);
        free(fe);
        goto fail;
    }

    s->name = xstrdup(cfg->name);
    if (cfg->user && *cfg->user) {
        s->user = xstrdup(cfg->user);
    } else {
        /* Looked up once here, not on the loop: NSS may block. */
        struct passwd *pw = getpwuid(getuid());
        s->user = xstrdup(pw && pw->pw_name ? pw->pw_name : "root");
    }
    s->role = dup_or_null(cfg->role);
    s->principal = dup_or_null(cfg->principal);
    if (cfg->principal && cfg->secret)
        s->auth_header = auth_basic_header(cfg->principal, cfg->secret);
    if (cfg->hostname && *cfg->hostname) {
        s->hostname = xstrdup(cfg->hostname);
    } else {
        char hn[256] = "";
        if (gethostname(hn, sizeof(hn) - 1) == 0 && hn[0])
            s->hostname = xstrdup(hn);
    }
    s->failover_timeout = cfg->failover_timeout;
    s->zk_session_timeout =
        cfg->zk_session_timeout > 0 ? cfg->zk_session_timeout : SCHED_ZK_SESSION_TIMEOUT;
    s->checkpoint = cfg->checkpoint;
    if (cfg->ncapabilities) {
        s->caps = xcalloc(cfg->ncapabilities, sizeof(*s->caps));
        memcpy(s->caps, cfg->capabilities, cfg->ncapabilities * sizeof(*s->caps));
        s->ncaps = cfg->ncapabilities;
    }
    s->framework_id = cfg->framework_id && *cfg->framework_id ? xstrdup(cfg->framework_id) : NULL;
    s->manual_ack = cfg->manual_acknowledge;
    if (!cfg->keep_duplicates)
        s->dedup = sched_dedup_new(SCHED_DEDUP_TASKS);
    sched_set_logging(cfg);
    s->json = cfg->json;
    if (cbs)
        s->cbs = *cbs;
    s->arg = arg;
    s->backoff = SCHED_BACKOFF_MIN;
    s->rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^ (uint64_t)(uintptr_t)s;
    if (s->rng == 0)
        s->rng = 88172645463325252ull;

    if (base) {
        s->base = base;
    } else {
        /* agora_scheduler_stop() may come from another thread: the base must
     * have locks and a notification pipe, which libevent only sets up for
     * bases created after evthread_use_pthreads(). */
        evthread_use_pthreads();
        s->base = event_base_new();
        if (!s->base) {
            e = xstrdup("event_base_new failed");
            goto fail;
        }
        s->own_base = true;
    }
    s->watchdog_ev = evtimer_new(s->base, sched_on_watchdog, s);
    s->reconnect_ev = evtimer_new(s->base, sched_on_reconnect, s);
    s->drain_ev = evtimer_new(s->base, sched_on_drain_timeout, s);
    s->stop_ev = event_new(s->base, -1, 0, sched_on_stop, s);
    if (!s->watchdog_ev || !s->reconnect_ev || !s->drain_ev || !s->stop_ev) {
        e = xstrdup("cannot create libevent events");
        goto fail;
    }
    return s;

fail:
    agora_scheduler_free(s);
    if (err)
        *err = e;
    else
        free(e);
    return NULL;
}

void agora_scheduler_free(struct agora_scheduler *s)
{
    if (!s)
        return;
    master_follow_free(s->follow); /* before the base its events live on */
    if (s->sub)
        http_sub_close(s->sub);
    sched_calls_cancel_all(s);
    sched_timers_free_all(s);
    sched_dedup_free(s->dedup);
    if (s->rio)
        rio_decoder_free(s->rio);
    if (s->watchdog_ev)
        event_free(s->watchdog_ev);
    if (s->reconnect_ev)
        event_free(s->reconnect_ev);
    if (s->drain_ev)
        event_free(s->drain_ev);
    if (s->stop_ev)
        event_free(s->stop_ev);
    if (s->own_base && s->base) {
        /* A stream closed from inside its own callback is freed by a deferred
     * event: give it one loop turn (nothing of ours is armed any more). */
        event_base_loop(s->base, EVLOOP_NONBLOCK);
        event_base_free(s->base);
    }
    free(s->redirect_host);
    free(s->leader_host);
    free(s->cur_host);
    free(s->cur_master);
    free(s->stream_id);
    free(s->decode_err);
    free(s->name);
    free(s->user);
    free(s->role);
    free(s->principal);
    free(s->auth_header);
    free(s->hostname);
    free(s->caps);
    free(s->framework_id);
    free(s);
}

/* ------------------------------------------------------------ reconnect */

static double sched_rand01(struct agora_scheduler *s)
{
    /* xorshift64*: jitter only, not security */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return (double)((s->rng * 2685821657736338717ull) >> 11) / 9007199254740992.0;
}

static void sched_schedule_reconnect(struct agora_scheduler *s, double delay)
{
    struct timeval tv;

    if (s->stopping || s->fatal || s->tearing_down)
        return;
    if (delay < 0) {
        /* Jittered in [backoff/2, backoff] so that many frameworks losing the
     * same master do not come back in lockstep. */
        delay = s->backoff * (0.5 + 0.5 * sched_rand01(s));
        s->backoff *= 2;
        if (s->backoff > SCHED_BACKOFF_MAX)
            s->backoff = SCHED_BACKOFF_MAX;
    }
    tv = time_tv(delay);
    log_debug("scheduler %s: reconnecting in %.2f s", s->name, delay);
    evtimer_add(s->reconnect_ev, &tv);
}

static void sched_on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    struct agora_scheduler *s = arg;

    if (s->stopping || s->sub)
        return;
    sched_connect(s);
}

static void sched_arm_watchdog(struct agora_scheduler *s, double secs)
{
    struct timeval tv;

    tv = time_tv(secs);
    evtimer_add(s->watchdog_ev, &tv);
}

/* The subscription is gone (or must go): close it, tell the framework if
 * it had been subscribed, and come back later. */
static void sched_lost(struct agora_scheduler *s, const char *reason, double delay)
{
    bool was_subscribed = s->state == AGORA_SCHED_SUBSCRIBED;

    if (s->sub) {
        http_sub_close(s->sub);
        s->sub = NULL;
    }
    evtimer_del(s->watchdog_ev);
    free(s->stream_id);
    s->stream_id = NULL;
    sched_set_state(s, AGORA_SCHED_DISCONNECTED, reason);
    if (was_subscribed && !s->stopping && s->cbs.disconnected)
        s->cbs.disconnected(s, reason, s->arg);
    sched_schedule_reconnect(s, delay);
}

static void sched_on_watchdog(evutil_socket_t fd, short what, void *arg)
{
    struct agora_scheduler *s = arg;

    if (s->state == AGORA_SCHED_SUBSCRIBED) {
        log_warn("scheduler %s: no event from %s for %.1f s", s->name, s->cur_master,
                 2 * s->heartbeat_secs + SCHED_HEARTBEAT_SLACK);
        sched_lost(s, "heartbeat timeout", -1);
    } else {
        sched_lost(s, "no SUBSCRIBED event", -1);
    }
}

/* ------------------------------------------------------------- events */

static void sched_fatal(struct agora_scheduler *s, const char *message)
{
    log_error("scheduler %s: %s", s->name, message);
    s->fatal = true;
    if (s->cbs.error)
        s->cbs.error(s, message, s->arg);
}

static void sched_on_subscribed(struct agora_scheduler *s,
                                const Mesos__V1__Scheduler__Event__Subscribed *sub)
{
    if (!sub || !sub->framework_id || !sub->framework_id->value) {
        log_warn("scheduler %s: SUBSCRIBED without framework_id, ignored", s->name);
        return;
    }
    if (!s->framework_id || strcmp(s->framework_id, sub->framework_id->value) != 0) {
        free(s->framework_id);
        s->framework_id = xstrdup(sub->framework_id->value);
    }
    s->heartbeat_secs = sub->has_heartbeat_interval_seconds && sub->heartbeat_interval_seconds > 0
                            ? sub->heartbeat_interval_seconds
                            : SCHED_DEFAULT_HEARTBEAT;
    s->backoff = SCHED_BACKOFF_MIN;
    s->redirects = 0;
    sched_set_state(s, AGORA_SCHED_SUBSCRIBED, "SUBSCRIBED");
    log_info("scheduler %s: framework id %s, heartbeat %.1f s", s->name, s->framework_id,
             s->heartbeat_secs);
    if (s->cbs.subscribed)
        s->cbs.subscribed(s, s->framework_id, s->heartbeat_secs, s->sent_with_id, s->arg);
}

static void sched_dispatch(struct agora_scheduler *s, const Mesos__V1__Scheduler__Event *ev)
{
    switch (ev->type) {
    case MESOS__V1__SCHEDULER__EVENT__TYPE__SUBSCRIBED:
        sched_on_subscribed(s, ev->subscribed);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__HEARTBEAT:
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS:
        if (!ev->offers)
            break;
        if (s->cbs.offers && ev->offers->n_offers)
            s->cbs.offers(s, (const Mesos__V1__Offer *const *)ev->offers->offers,
                          ev->offers->n_offers, s->arg);
        else
            log_debug("scheduler %s: %zu offers unhandled", s->name, ev->offers->n_offers);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND:
        if (ev->rescind && ev->rescind->offer_id && s->cbs.rescind)
            s->cbs.rescind(s, ev->rescind->offer_id->value, s->arg);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE: {
        const Mesos__V1__TaskStatus *st = ev->update ? ev->update->status : NULL;
        if (!st || !st->task_id || !st->task_id->value)
            break;
        bool dup = sched_dedup_drop(s->dedup, st->task_id->value, st->state);
        if (dup)
            log_debug("scheduler %s: repeated %s of %s dropped", s->name,
                      agora_task_state_name(st->state), st->task_id->value);
        else if (s->cbs.update)
            s->cbs.update(s, st, s->arg);
        /* After the callback, so a framework that crashes in it gets the update
     * again rather than losing it. A dropped repeat is acknowledged here
     * even with manual_acknowledge: the framework never saw it. */
        if ((!s->manual_ack || dup) && st->has_uuid && s->state == AGORA_SCHED_SUBSCRIBED &&
            !s->tearing_down)
            agora_scheduler_acknowledge(s, st);
        break;
    }
    case MESOS__V1__SCHEDULER__EVENT__TYPE__MESSAGE:
        if (ev->message && s->cbs.message)
            s->cbs.message(s, ev->message->agent_id ? ev->message->agent_id->value : NULL,
                           ev->message->executor_id ? ev->message->executor_id->value : NULL,
                           ev->message->data.data, ev->message->data.len, s->arg);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__FAILURE:
        if (ev->failure && s->cbs.failure)
            s->cbs.failure(s, ev->failure->agent_id ? ev->failure->agent_id->value : NULL,
                           ev->failure->executor_id ? ev->failure->executor_id->value : NULL,
                           ev->failure->has_status ? ev->failure->status : -1, s->arg);
        break;
    case MESOS__V1__SCHEDULER__EVENT__TYPE__ERROR: {
        char *m = xasprintf("master error: %s",
                            ev->error && ev->error->message ? ev->error->message : "(none)");
        sched_fatal(s, m);
        free(m);
        break;
    }
    default:
        log_debug("scheduler %s: event type %d ignored", s->name, (int)ev->type);
        break;
    }
}

static Mesos__V1__Scheduler__Event *sched_decode_event(struct agora_scheduler *s, const char *data,
                                                       size_t len)
{
    if (s->json) {
        char *e = NULL;
        ProtobufCMessage *m =
            pbjson_decode_string(&mesos__v1__scheduler__event__descriptor, data, len, &e);
        if (!m) {
            free(s->decode_err);
            s->decode_err = xasprintf("bad JSON event: %s", e ? e : "?");
            free(e);
        }
        return (Mesos__V1__Scheduler__Event *)m;
    }
    Mesos__V1__Scheduler__Event *ev =
        mesos__v1__scheduler__event__unpack(&agora_pb_allocator, len, (const uint8_t *)data);
    if (!ev) {
        free(s->decode_err);
        s->decode_err = xasprintf("bad protobuf event (%zu bytes)", len);
    }
    return ev;
}

static void sched_free_event(struct agora_scheduler *s, Mesos__V1__Scheduler__Event *ev)
{
    if (s->json)
        protobuf_c_message_free_unpacked(&ev->base, NULL);
    else
        mesos__v1__scheduler__event__free_unpacked(ev, &agora_pb_allocator);
}

static int sched_on_record(const char *data, size_t len, void *arg)
{
    struct agora_scheduler *s = arg;
    struct http_sub *sub = s->sub;
    Mesos__V1__Scheduler__Event *ev = sched_decode_event(s, data, len);

    if (!ev)
        return -1;
    if (s->stopping) {
        /* Stopped while draining calls: the framework wants no more events. */
        sched_free_event(s, ev);
        return -1;
    }
    sched_dispatch(s, ev);
    sched_free_event(s, ev);
    /* Any event proves the master alive, not only HEARTBEAT; before
   * SUBSCRIBED the shorter SUBSCRIBE timeout stays armed. */
    if (s->state == AGORA_SCHED_SUBSCRIBED && s->sub == sub)
        sched_arm_watchdog(s, 2 * s->heartbeat_secs + SCHED_HEARTBEAT_SLACK);
    /* A callback may have stopped us; stop feeding a stream that is gone. */
    return s->sub == sub && !s->stopping ? 0 : -1;
}

/* -------------------------------------------------------- subscription */

static void sched_sub_on_response(struct http_sub *sub, int status, struct evkeyvalq *headers,
                                  void *arg)
{
    struct agora_scheduler *s = arg;

    s->sub_status = status;
    s->errlen = 0;
    if (status == 200) {
        const char *sid = http_header_get(headers, "Mesos-Stream-Id");
        free(s->stream_id);
        s->stream_id = sid ? xstrdup(sid) : NULL;
        if (!sid)
            log_warn("scheduler %s: SUBSCRIBE answer without Mesos-Stream-Id", s->name);
        sched_arm_watchdog(s, SCHED_SUBSCRIBED_TIMEOUT);
    } else if (status == 307) {
        const char *loc = http_header_get(headers, "Location");
        char *host = NULL;
        int port = 0;
        if (loc && http_parse_hostport(loc, 5050, &host, &port) == 0) {
            log_info("scheduler %s: %s redirects to leader %s", s->name, s->cur_master, loc);
            free(s->redirect_host);
            s->redirect_host = host;
            s->redirect_port = port;
        } else {
            log_warn("scheduler %s: 307 without usable Location from %s", s->name, s->cur_master);
            free(host);
        }
    }
}

static void sched_sub_on_data(struct http_sub *sub, const char *data, size_t len, void *arg)
{
    struct agora_scheduler *s = arg;
    char *e = NULL;

    if (s->sub_status != 200) {
        /* Keep the start of an error body for the log / error callback. */
        size_t room = sizeof(s->errbody) - 1 - s->errlen;
        if (len > room)
            len = room;
        memcpy(s->errbody + s->errlen, data, len);
        s->errlen += len;
        s->errbody[s->errlen] = '\0';
        return;
    }
    if (rio_decoder_feed(s->rio, data, len, sched_on_record, s, &e) < 0) {
        if (s->sub == sub && !s->stopping) {
            char *why = xasprintf("malformed event stream: %s", s->decode_err ? s->decode_err
                                                                : e           ? e
                                                                              : "?");
            log_warn("scheduler %s: %s", s->name, why);
            sched_lost(s, why, -1);
            free(why);
        }
    }
    free(e);
    free(s->decode_err);
    s->decode_err = NULL;
}

static void sched_sub_on_close(struct http_sub *sub, const char *reason, void *arg)
{
    struct agora_scheduler *s = arg;
    int status = s->sub_status;

    s->sub = NULL; /* freed by http.c after we return */
    while (s->errlen && (s->errbody[s->errlen - 1] == '\n' || s->errbody[s->errlen - 1] == '\r'))
        s->errbody[--s->errlen] = '\0';

    if (status == 200) {
        sched_lost(s, reason, -1);
    } else if (status == 307) {
        if (s->redirect_host && ++s->redirects <= SCHED_MAX_REDIRECTS)
            sched_lost(s, "redirected to the leader", 0);
        else
            sched_lost(s, "redirect", -1);
    } else if (status >= 400 && status < 500) {
        char *m = xasprintf("SUBSCRIBE refused by %s: %d %s", s->cur_master, status,
                            s->errlen ? s->errbody : "");
        sched_set_state(s, AGORA_SCHED_DISCONNECTED, "refused");
        sched_fatal(s, m);
        free(m);
    } else {
        /* No answer (refused, timeout), 503 (no leader yet) or a 5xx: the next
     * candidate, later. */
        char *why = status ? xasprintf("HTTP %d %s", status, s->errlen ? s->errbody : "")
                           : xstrdup(reason ? reason : "connection failed");
        log_warn("scheduler %s: SUBSCRIBE to %s failed: %s", s->name, s->cur_master, why);
        if (master_follow_count(s->follow) > 1)
            s->master_idx = (s->master_idx + 1) % master_follow_count(s->follow);
        sched_lost(s, why, -1);
        free(why);
    }
}

static const struct http_sub_callbacks sched_sub_cbs = {
    .on_response = sched_sub_on_response,
    .on_data = sched_sub_on_data,
    .on_close = sched_sub_on_close,
};

/* Build and POST the SUBSCRIBE call; the response stays open as the
 * event stream. */
static void sched_connect(struct agora_scheduler *s)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Subscribe subscribe = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__FrameworkInfo__Capability *caps = NULL, **capp = NULL;
    char *roles[1];
    bool multi_role = false;
    char *body = NULL;
    size_t len = 0;

    /* A leader named by a 307 is tried once; otherwise the one ZooKeeper
   * names, or the candidates. */
    bool zk = master_follow_zk(s->follow);
    if (zk && !s->redirect_host && !s->leader_host) {
        log_info("scheduler %s: no leading master in ZooKeeper yet; waiting", s->name);
        return; /* sched_on_leader connects */
    }
    free(s->cur_host);
    if (s->redirect_host) {
        s->cur_host = s->redirect_host;
        s->cur_port = s->redirect_port;
        s->redirect_host = NULL;
    } else if (zk) {
        s->cur_host = xstrdup(s->leader_host);
        s->cur_port = s->leader_port;
    } else {
        const char *host = NULL;
        master_follow_candidate(s->follow, s->master_idx, &host, &s->cur_port);
        s->cur_host = xstrdup(host);
    }
    free(s->cur_master);
    s->cur_master = xasprintf("%s:%d", s->cur_host, s->cur_port);

    fi.user = s->user;
    fi.name = s->name;
    if (s->framework_id) {
        fid.value = s->framework_id;
        fi.id = &fid;
        call.framework_id = &fid;
    }
    fi.has_failover_timeout = 1;
    fi.failover_timeout = s->failover_timeout;
    if (s->checkpoint) {
        fi.has_checkpoint = 1;
        fi.checkpoint = 1;
    }
    fi.hostname = s->hostname;
    fi.principal = s->principal;
    if (s->ncaps) {
        caps = xcalloc(s->ncaps, sizeof(*caps));
        capp = xcalloc(s->ncaps, sizeof(*capp));
        for (size_t i = 0; i < s->ncaps; i++) {
            mesos__v1__framework_info__capability__init(&caps[i]);
            caps[i].has_type = 1;
            caps[i].type = s->caps[i];
            capp[i] = &caps[i];
            if (s->caps[i] == MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE)
                multi_role = true;
        }
        fi.n_capabilities = s->ncaps;
        fi.capabilities = capp;
    }
    if (s->role) {
        /* MULTI_ROLE frameworks name roles in `roles`; others in the
     * deprecated `role`, as Mesos requires. */
        if (multi_role) {
            roles[0] = s->role;
            fi.n_roles = 1;
            fi.roles = roles;
        } else {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
            fi.role = s->role;
#pragma GCC diagnostic pop
        }
    }
    subscribe.framework_info = &fi;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &subscribe;
    sched_encode_call(s, &call, &body, &len);

    const struct http_header hdrs[] = {
        { "Content-Type", sched_content_type(s) },
        { "Accept", sched_content_type(s) },
        { "Authorization", s->auth_header },
    };
    if (s->rio)
        rio_decoder_free(s->rio);
    s->rio = rio_decoder_new(SCHED_MAX_RECORD);
    s->sub_status = 0;
    s->errlen = 0;
    s->errbody[0] = '\0';
    s->sent_with_id = s->framework_id != NULL;
    sched_set_state(s, AGORA_SCHED_CONNECTING, s->framework_id ? "re-subscribing" : "subscribing");
    s->sub =
        http_sub_open(s->base, s->cur_host, s->cur_port, "POST", SCHED_API_PATH, hdrs,
                      s->auth_header ? 3 : 2, body, len, SCHED_CONNECT_TIMEOUT, &sched_sub_cbs, s);
    if (!s->sub)
        sched_lost(s, "cannot open the SUBSCRIBE request", -1);
    free(body);
    free(caps);
    free(capp);
}

/* ---------------------------------------------------- calls -> leader */

/* ZooKeeper named a (new) leading master, or none (name NULL). The
 * framework follows it: a subscription to any other master is dropped, and
 * the re-subscription waits a jittered moment so that many frameworks do
 * not reach a fresh leader in the same instant. */
static void sched_on_leader(struct master_follow *f, const char *leader, int port, const char *name,
                            void *arg)
{
    struct agora_scheduler *s = arg;
    char *host = leader ? xstrdup(leader) : NULL;

    free(s->leader_host);
    s->leader_host = host;
    s->leader_port = port;
    free(s->redirect_host); /* a 307 from before the change is stale */
    s->redirect_host = NULL;
    log_info("scheduler %s: leading master is %s%s%d", s->name, host ? host : "unknown",
             host ? ":" : " ", host ? port : 0);
    if (!s->started || s->stopping || s->fatal || s->tearing_down)
        return;
    if (s->state != AGORA_SCHED_DISCONNECTED) {
        if (host && s->cur_host && strcmp(host, s->cur_host) == 0 && port == s->cur_port)
            return; /* already talking to it */
        s->backoff = SCHED_BACKOFF_MIN;
        sched_lost(s, host ? "the leading master changed" : "no leading master", -1);
        return;
    }
    if (host) {
        s->backoff = SCHED_BACKOFF_MIN;
        evtimer_del(s->reconnect_ev);
        sched_schedule_reconnect(s, SCHED_BACKOFF_MIN * sched_rand01(s));
    }
}

void sched_leader_lost(struct agora_scheduler *s, const char *stream_id, const char *location)
{
    char *host = NULL;
    int port = 0;

    /* Only the current stream's calls speak for the current master. */
    if (s->state != AGORA_SCHED_SUBSCRIBED || !stream_id || !s->stream_id ||
        strcmp(stream_id, s->stream_id) != 0)
        return;
    if (location && http_parse_hostport(location, 5050, &host, &port) == 0) {
        free(s->redirect_host);
        s->redirect_host = host;
        s->redirect_port = port;
        host = NULL;
    }
    free(host);
    sched_lost(s, "master is no longer the leader", s->redirect_host ? 0 : -1);
}

/* ----------------------------------------------------------- run / stop */

int agora_scheduler_start(struct agora_scheduler *s)
{
    if (s->started && !s->stopping)
        return -1;
    /* Only now: nothing is sent (not even to ZooKeeper) before start. */
    char *e = NULL;
    if (master_follow_start(s->follow, s->base, s->zk_session_timeout, sched_on_leader, s, &e) <
        0) {
        log_error("scheduler %s: master: %s", s->name, e);
        free(e);
        return -1;
    }
    s->started = true;
    s->stopping = false;
    s->fatal = false;
    s->tearing_down = false;
    atomic_store(&s->stop_requested, false);
    sched_schedule_reconnect(s, 0);
    return 0;
}

int agora_scheduler_run(struct agora_scheduler *s)
{
    int rc;

    /* A stop already handled (on the caller's base) would leave nothing to
   * break the loop. */
    if (s->stopping)
        return 0;
    if (!s->started && !atomic_load(&s->stop_requested))
        agora_scheduler_start(s);
    s->running = true;
    /* Keep looping between reconnects even with nothing pending. */
    rc = event_base_loop(s->base, EVLOOP_NO_EXIT_ON_EMPTY);
    s->running = false;
    return rc < 0 ? -1 : 0;
}

void agora_scheduler_stop(struct agora_scheduler *s)
{
    /* Any thread: only a flag and event_active, both safe with evthread. */
    atomic_store(&s->stop_requested, true);
    event_active(s->stop_ev, EV_TIMEOUT, 0);
}

/* The end of a stop: after the calls in flight were answered (or the
 * drain timed out), so the stream stayed open for them — a master rejects
 * calls of a framework whose stream is gone (403). */
static void sched_stop_finish(struct agora_scheduler *s)
{
    evtimer_del(s->drain_ev);
    evtimer_del(s->watchdog_ev);
    if (s->sub) {
        http_sub_close(s->sub);
        s->sub = NULL;
    }
    free(s->stream_id);
    s->stream_id = NULL;
    sched_set_state(s, AGORA_SCHED_DISCONNECTED, "stopped");
    if (s->running)
        event_base_loopbreak(s->base);
}

void sched_calls_drained(struct agora_scheduler *s)
{
    if (s->stopping && evtimer_pending(s->drain_ev, NULL))
        sched_stop_finish(s);
}

static void sched_on_drain_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct agora_scheduler *s = arg;

    log_warn("scheduler %s: %zu calls still unanswered at stop", s->name, s->ncalls);
    sched_stop_finish(s);
}

static void sched_on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct agora_scheduler *s = arg;
    struct timeval tv = { (time_t)SCHED_DRAIN_TIMEOUT, 0 };

    if (!atomic_load(&s->stop_requested) || s->stopping)
        return;
    s->stopping = true; /* from here on: no callbacks, no reconnects */
    evtimer_del(s->reconnect_ev);
    if (s->ncalls == 0)
        sched_stop_finish(s);
    else
        evtimer_add(s->drain_ev, &tv);
}
