/*
 * pacer: the process — start-up of the store, the REST server, the event
 * hub and the scheduler; the scheduler's callbacks; the one-second cron;
 * the deferred convergence pass that every change asks for.
 *
 * The framework id is kept in the store: Pacer registers once, and every
 * later start (or master failover, which libagora-scheduler handles)
 * re-subscribes with it, so the master keeps Pacer's tasks and nothing is
 * killed because Pacer restarted. After each SUBSCRIBED Pacer reconciles:
 * explicitly for the instances it knows, then implicitly, so that tasks it
 * does not know are reported (and killed) and those it knows get a fresh
 * state.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>

#include "pacer.h"
#include "acls.h"
#include "auth.h"
#include "daemon.h"
#include "http.h"
#include "liveness.h"
#include "log.h"
#include "metrics.h"
#include "mem.h"
#include "rest.h"
#include "sse.h"
#include "store.h"
#include "timeutil.h"

#define PACER_MAX_BODY (4u * 1024u * 1024u)
#define SSE_MAX_PENDING (8u * 1024u * 1024u)

const char *pacer_now_iso(char *buf)
{
    return time_format_iso8601(time_now(), buf);
}

char *pacer_new_version(void)
{
    static double last;
    char ts[TIME_ISO_LEN];
    double now = time_now();

    /* Two changes within one millisecond still get distinct versions. */
    if (now < last + 0.001)
        now = last + 0.001;
    last = now;
    return xstrdup(time_format_iso8601(now, ts));
}

struct synced_reply {
    struct evhttp_request *req;
    int code;
    json_t *body;
};

static void synced_reply_run(struct pacer *p, void *arg)
{
    struct synced_reply *r = arg;

    http_reply_json(r->req, r->code, r->body);
    free(r);
}

static void synced_reply_drop(void *arg)
{
    struct synced_reply *r = arg;

    json_decref(r->body);
    free(r);
}

void pacer_reply_synced(struct pacer *p, struct evhttp_request *req, int code, json_t *body)
{
    struct synced_reply *r = xcalloc(1, sizeof(*r));

    r->req = req;
    r->code = code;
    r->body = body;
    state_synced(p, synced_reply_run, synced_reply_drop, r);
}

/* A pass looks at every app and instance. Status updates arrive spread
 * over many loop turns (10,000 during a reconciliation), and one pass per
 * turn then costs O(turns x instances); passes closer than this are merged
 * into one at its end, which bounds them to 200 a second. */
#define CONVERGE_MIN_GAP 0.005

static void converge_cb(evutil_socket_t fd, short what, void *arg)
{
    struct pacer *p = arg;

    /* Kills and launches need the master: nothing to decide before. */
    if (p->stopping || p->sched == NULL ||
        agora_scheduler_state(p->sched) != AGORA_SCHED_SUBSCRIBED)
        return;
    p->converge_last_mono = time_mono();
    metric_inc(p->m_converge_passes, 1);
    deploy_converge(p);
    offers_update_interest(p);
}

void pacer_kick(struct pacer *p)
{
    double since = time_mono() - p->converge_last_mono;

    if (event_pending(p->converge_ev, EV_TIMEOUT, NULL))
        return;
    if (since >= CONVERGE_MIN_GAP) {
        event_active(p->converge_ev, EV_TIMEOUT, 0);
    } else {
        struct timeval tv = time_tv(CONVERGE_MIN_GAP - since);
        event_add(p->converge_ev, &tv);
    }
}

/* ------------------------------------------------------ scheduler events */

static void reconcile_known(struct pacer *p)
{
    size_t n = HASH_COUNT(p->instances), k = 0;
    const char **ids = xcalloc(n + 1, sizeof(*ids));
    const char **agents = xcalloc(n + 1, sizeof(*agents));
    struct instance *i, *tmp;

    HASH_ITER (hh, p->instances, i, tmp) {
        ids[k] = i->task_id;
        agents[k] = i->agent_id;
        k++;
    }
    if (k > 0)
        agora_scheduler_reconcile(p->sched, ids, agents, k);
    agora_scheduler_reconcile(p->sched, NULL, NULL, 0);
    free(ids);
    free(agents);
}

static void on_subscribed(struct agora_scheduler *s, const char *framework_id, double hb,
                          bool resubscribed, void *arg)
{
    struct pacer *p = arg;

    log_info("subscribed to %s as framework %s", agora_scheduler_master(s), framework_id);
    if (p->framework_id == NULL || strcmp(p->framework_id, framework_id) != 0) {
        free(p->framework_id);
        p->framework_id = xstrdup(framework_id);
        state_save_framework_id(p);
    }
    p->subscribed_mono = p->last_reconcile_mono = time_mono();
    p->suppressed = false; /* a new subscription starts unsuppressed */
    reconcile_known(p);
    pacer_kick(p);
}

static void on_offers(struct agora_scheduler *s, const Mesos__V1__Offer *const *offers, size_t n,
                      void *arg)
{
    offers_handle(arg, offers, n);
}

static void on_update(struct agora_scheduler *s, const Mesos__V1__TaskStatus *st, void *arg)
{
    instances_on_update(arg, st);
}

static void on_error(struct agora_scheduler *s, const char *message, void *arg)
{
    struct pacer *p = arg;

    log_error("the master refused Pacer: %s", message);
    daemon_exit(p->daemon, 1);
}

static void on_disconnected(struct agora_scheduler *s, const char *reason, void *arg)
{
    log_warn("lost the master (%s); reconnecting", reason);
}

/* ----------------------------------------------------------------- cron */

void pacer_cron(struct pacer *p)
{
    double now = time_now(), mono = time_mono();
    struct instance *i, *tmp;

    if (p->sched == NULL || agora_scheduler_state(p->sched) != AGORA_SCHED_SUBSCRIBED)
        return;
    HASH_ITER (hh, p->instances, i, tmp) {
        /* A launch the master never answered: replace it. */
        if (i->state < 0 && !i->killing &&
            mono - i->launched_mono > p->flags->task_launch_timeout) {
            log_warn("task %s: no status %.0f s after launch, killing it", i->task_id,
                     mono - i->launched_mono);
            instance_kill(p, i, "launch timeout");
        }
        /* A kill that was never confirmed: ask again every 10 s. */
        if (i->killing && mono - i->kill_sent_mono > 10) {
            i->kill_sent_mono = mono;
            agora_scheduler_kill(p->sched, i->task_id, i->agent_id);
        }
    }
    if (p->flags->reconcile_interval > 0 &&
        mono - p->last_reconcile_mono > p->flags->reconcile_interval) {
        p->last_reconcile_mono = mono;
        agora_scheduler_reconcile(p->sched, NULL, NULL, 0);
    }
    (void)now;
    pacer_kick(p);
}

/* --------------------------------------------------------------- start-up */

static int parse_service_ports(struct pacer *p, const char *spec, char **err)
{
    int lo, hi, n = 0;

    if (sscanf(spec, "%d-%d%n", &lo, &hi, &n) != 2 || spec[n] != '\0' || lo < 1 || hi > 65535 ||
        lo > hi) {
        *err = xasprintf("--service_ports: '%s' is not a range like 10000-20000", spec);
        return -1;
    }
    p->service_port_min = lo;
    p->service_port_max = hi;
    p->service_port_used = xcalloc((size_t)(hi - lo) / 8 + 1, 1);
    return 0;
}

static double g_apps(void *arg)
{
    return HASH_COUNT(((struct pacer *)arg)->apps);
}

static double g_instances(void *arg)
{
    return HASH_COUNT(((struct pacer *)arg)->instances);
}

static double g_deployments(void *arg)
{
    return HASH_COUNT(((struct pacer *)arg)->deployments);
}

static double g_waiting(void *arg)
{
    struct papp *a, *tmp;
    double n = 0;

    HASH_ITER (hh, ((struct pacer *)arg)->apps, a, tmp) {
        n += a->waiting;
    }
    return n;
}

static double g_subscribers(void *arg)
{
    struct pacer *p = arg;

    return p->hub ? (double)sse_hub_count(p->hub) : 0;
}

static void metrics_init(struct pacer *p)
{
    metrics_gauge_fn("agora_pacer_apps", "Apps", g_apps, p);
    metrics_gauge_fn("agora_pacer_instances", "Instances known (live and being killed)",
                     g_instances, p);
    metrics_gauge_fn("agora_pacer_deployments", "Deployments in flight", g_deployments, p);
    metrics_gauge_fn("agora_pacer_instances_waiting", "Instances waiting for an offer", g_waiting,
                     p);
    metrics_gauge_fn("agora_pacer_event_subscribers", "Subscribers of /v2/events", g_subscribers,
                     p);
    p->m_launched = metrics_counter("agora_pacer_tasks_launched_total", "Tasks launched");
    p->m_killed = metrics_counter("agora_pacer_tasks_killed_total", "Kills sent");
    p->m_offers = metrics_counter("agora_pacer_offers_total", "Offers received");
    p->m_declined = metrics_counter("agora_pacer_offers_declined_total", "Offers declined unused");
    p->m_updates = metrics_counter("agora_pacer_status_updates_total", "Status updates received");
    p->m_deployments =
        metrics_counter("agora_pacer_deployments_finished_total", "Deployments finished");
    p->m_deploy_seconds =
        metrics_summary("agora_pacer_deployment_seconds", "Duration of finished deployments");
    p->m_converge_passes =
        metrics_counter("agora_pacer_converge_passes_total", "Convergence passes over all apps");
}

/* The state is loaded: serve, and subscribe with the framework id. */
/* Listen: the REST API, the event hub. 0, or -1 with *err. */
/* --http_credentials / --http_readonly_credentials and the framework's
 * secret; errors name the flag, never the secret. */
static int load_credentials(struct pacer *p, char **err)
{
    struct pacer_flags *f = p->flags;
    char *e = NULL;
    if (f->http_readonly_credentials && !f->http_credentials) {
        *err = xstrdup("--http_readonly_credentials needs --http_credentials");
        return -1;
    }
    if (f->http_credentials && !(p->http_creds = auth_creds_from_pairs(f->http_credentials, &e))) {
        *err = xasprintf("--http_credentials: %s", e);
        free(e);
        return -1;
    }
    if (f->http_readonly_credentials &&
        !(p->http_creds_ro = auth_creds_from_pairs(f->http_readonly_credentials, &e))) {
        *err = xasprintf("--http_readonly_credentials: %s", e);
        free(e);
        return -1;
    }
    if (f->acls && !(p->acls = acls_load(f->acls, &e))) {
        *err = xasprintf("--acls: %s", e);
        free(e);
        return -1;
    }
    if (f->mesos_secret_file) {
        if (!f->mesos_principal) {
            *err = xstrdup("--mesos_authentication_secret_file needs "
                           "--mesos_authentication_principal");
            return -1;
        }
        FILE *fp = fopen(f->mesos_secret_file, "r");
        char buf[4096];
        size_t n = fp ? fread(buf, 1, sizeof(buf) - 1, fp) : 0;
        if (fp)
            fclose(fp);
        while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
            n--;
        if (fp == NULL || n == 0) {
            *err = xasprintf("--mesos_authentication_secret_file=%s: %s", f->mesos_secret_file,
                             fp ? "empty" : strerror(errno));
            return -1;
        }
        p->mesos_secret = xstrndup(buf, n);
        OPENSSL_cleanse(buf, sizeof(buf));
    }
    return 0;
}

static int serve(struct pacer *p, char **err)
{
    struct pacer_flags *flags = p->flags;
    char *e = NULL, host[256];
    int port = flags->port >= 0 ? flags->port : flags->http_port;

    if (load_credentials(p, err) < 0)
        return -1;
    p->http = http_server_new(p->base, flags->ip, port, PACER_MAX_BODY, &e);
    if (p->http == NULL) {
        *err = xasprintf("cannot listen on %s:%d: %s", flags->ip, port, e);
        free(e);
        return -1;
    }
    port = http_server_port(p->http);
    if (flags->hostname != NULL)
        snprintf(host, sizeof(host), "%s", flags->hostname);
    else if (strcmp(flags->ip, "0.0.0.0") != 0)
        snprintf(host, sizeof(host), "%s", flags->ip);
    else if (gethostname(host, sizeof(host)) != 0)
        snprintf(host, sizeof(host), "localhost");
    p->hostport = xasprintf("%s:%d", host, port);
    p->hub = sse_hub_new(p->base, flags->event_heartbeat, SSE_MAX_PENDING);
    pacer_routes_attach(p);
    daemon_set_port(p->daemon, port);
    return 0;
}

/* The state is loaded: subscribe with the framework id it holds. */
void pacer_loaded(struct pacer *p, int rc, const char *why)
{
    struct pacer_flags *flags = p->flags;
    struct agora_scheduler_config cfg = { 0 };
    struct agora_scheduler_callbacks cbs = { 0 };
    static const int caps[] = { MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE,
                                MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE };
    char *e = NULL;

    if (rc < 0) {
        log_error("cannot load the state from %s: %s", store_name(p->store), why);
        goto fail;
    }
    if (p->http == NULL && serve(p, &e) < 0) {
        log_error("%s", e);
        goto fail;
    }
    cfg.master = flags->master;
    cfg.name = flags->framework_name;
    cfg.role = flags->role;
    cfg.user = flags->user;
    cfg.hostname = flags->hostname;
    cfg.failover_timeout = flags->failover_timeout;
    cfg.checkpoint = true;
    cfg.capabilities = caps;
    cfg.ncapabilities = sizeof(caps) / sizeof(caps[0]);
    cfg.framework_id = p->framework_id;
    cfg.json = flags->json;
    cfg.zk_session_timeout = flags->zk_session_timeout;
    cfg.principal = flags->mesos_principal;
    cfg.secret = p->mesos_secret;
    cbs.subscribed = on_subscribed;
    cbs.offers = on_offers;
    cbs.update = on_update;
    cbs.error = on_error;
    cbs.disconnected = on_disconnected;
    p->sched = agora_scheduler_new(p->base, &cfg, &cbs, p, &e);
    if (p->sched == NULL) {
        log_error("--master: %s", e);
        goto fail;
    }
    if (agora_scheduler_start(p->sched) < 0) {
        log_error("cannot start the scheduler");
        goto fail;
    }
    p->leading = true;
    log_info("agora-pacer %s leading on http://%s, framework %s, %u apps, %u instances, "
             "%u deployments, state in %s",
             PACER_VERSION, p->hostport, p->framework_id ? p->framework_id : "(new)",
             HASH_COUNT(p->apps), HASH_COUNT(p->instances), HASH_COUNT(p->deployments),
             store_name(p->store));
    pacer_kick(p);
    return;
fail:
    free(e);
    daemon_exit(p->daemon, 1);
}

/* Standalone: a write refused by version means another process writes
 * this --work_dir (two Pacers on one directory): stop before they fight. */
static void work_dir_deposed(struct store *s, const char *key, const char *why, void *arg)
{
    struct pacer *p = arg;

    log_error("%s: %s was changed by someone else (%s): another Pacer uses this --work_dir; "
              "exiting",
              store_name(s), key, why);
    p->leading = false;
    daemon_exit(p->daemon, 1);
}

struct pacer *pacer_new(struct daemon *d, struct pacer_flags *flags, char **err)
{
    struct pacer *p = xcalloc(1, sizeof(*p));
    char *dir = NULL, *e = NULL;

    p->flags = flags;
    p->daemon = d;
    p->base = daemon_base(d);
    p->groups = json_object();
    p->converge_ev = evtimer_new(p->base, converge_cb, p);
    metrics_init(p);
    if (parse_service_ports(p, flags->service_ports, err) < 0)
        goto fail;
    if (flags->zk != NULL) {
        /* HA: serve at once (standbys proxy to the leader); load and
         * subscribe when elected (ha.c). */
        if (serve(p, err) < 0 || pacer_ha_start(p, err) < 0)
            goto fail;
        return p;
    }
    dir = xasprintf("%s/state", flags->work_dir);
    p->store = store_file_new(p->base, dir, &e);
    if (p->store == NULL) {
        *err = xasprintf("--work_dir: %s", e);
        goto fail;
    }
    free(dir);
    p->leading = false; /* until loaded */
    store_set_deposed(p->store, work_dir_deposed, p);
    state_load(p, pacer_loaded);
    return p;
fail:
    free(e);
    free(dir);
    pacer_free(p);
    return NULL;
}

void pacer_free(struct pacer *p)
{
    struct papp *a, *atmp;
    struct instance *i, *itmp;
    struct deployment *d, *dtmp;

    if (p == NULL)
        return;
    p->stopping = true;
    agora_scheduler_free(p->sched);
    if (p->hub != NULL)
        sse_hub_free(p->hub);
    rest_server_free(p->rest);
    /* Standbys' liveness streams end with the process, after the session. */
    liveness_linger();
    if (p->http != NULL)
        http_server_free(p->http);
    DL_FOREACH_SAFE (p->deployment_list, d, dtmp) {
        DL_DELETE(p->deployment_list, d);
        HASH_DEL(p->deployments, d);
        deploy_free(d);
    }
    HASH_ITER (hh, p->instances, i, itmp) {
        instance_forget(p, i);
    }
    HASH_ITER (hh, p->apps, a, atmp) {
        papp_free(p, a);
    }
    DL_FOREACH_SAFE2(p->dying, a, atmp, dnext)
    {
        DL_DELETE2(p->dying, a, dprev, dnext);
        papp_free(p, a);
    }
    state_sync_cleanup(p);
    if (p->store != NULL)
        store_free(p->store);
    pacer_ha_free(p);
    if (p->converge_ev != NULL)
        event_free(p->converge_ev);
    json_decref(p->groups);
    free(p->service_port_used);
    free(p->framework_id);
    free(p->hostport);
    auth_creds_free(p->http_creds);
    auth_creds_free(p->http_creds_ro);
    acls_free(p->acls);
    if (p->mesos_secret) {
        OPENSSL_cleanse(p->mesos_secret, strlen(p->mesos_secret));
        free(p->mesos_secret);
    }
    free(p);
}
