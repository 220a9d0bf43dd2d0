/*
 * offers: resource offers become launches — the launch queue.
 *
 * Convergence (deployments.c) sets papp.waiting, the instances each app
 * needs now. For every offer, the apps that wait and whose backoff has
 * passed are tried in turn (placement.c decides, taskinfo.c builds the
 * TaskInfo), as many instances per offer as fit; an offer that nothing
 * uses is declined with --decline_offer_duration. Every offer an app
 * could not use is counted with the reason (Marathon's
 * processedOffersSummary), so /v2/queue says why an instance waits.
 *
 * Interest: when nothing waits Pacer SUPPRESSes offers; when work appears
 * (more waiting than at the last pass, or a backoff that ran out) it
 * REVIVEs, which also clears the filters of offers declined before.
 *
 * Backoff: a task that fails or finishes by itself multiplies the app's
 * delay by backoffFactor (from backoffSeconds, at most
 * maxLaunchDelaySeconds); a new version or DELETE /v2/queue/{id}/delay
 * resets it.
 */
#include <stdlib.h>
#include <string.h>

#include "pacer.h"
#include "placement.h"
#include "taskinfo.h"
#include "log.h"
#include "pbutil.h"
#include "metrics.h"
#include "mem.h"
#include "timeutil.h"

/* After a failed ACCEPT, the wait before asking the master about its
 * tasks. */
#define PACER_LOST_LAUNCH_RECONCILE_MS 2000

static const char *reason_names[QR_COUNT] = {
    [QR_ROLE] = "UnfulfilledRole",    [QR_CONSTRAINT] = "UnfulfilledConstraint",
    [QR_CPUS] = "InsufficientCpus",   [QR_MEM] = "InsufficientMemory",
    [QR_DISK] = "InsufficientDisk",   [QR_GPUS] = "InsufficientGpus",
    [QR_PORTS] = "InsufficientPorts", [QR_DECLINED_SCARCE] = "DeclinedScarceResources",
};

static void count_reason(struct papp *a, const struct placement *pl)
{
    for (int r = 0; r < QR_COUNT; r++) {
        if (pl->reason != NULL && strcmp(pl->reason, reason_names[r]) == 0) {
            a->rejected[r]++;
            if (r == QR_CONSTRAINT && pl->constraint < 8)
                a->rejected_constraint[pl->constraint]++;
            return;
        }
    }
}

/* Hosts of the app's live instances, for constraints. */
static struct cons_host *placed_hosts(const struct papp *a, size_t *n, size_t *cap)
{
    struct cons_host *h;

    /* Room for the live instances and a few launches; try_app grows it
     * (waiting may be anything up to INT_MAX). */
    *cap = a->ninstances + 16;
    h = xcalloc(*cap, sizeof(*h));
    const struct instance *i;

    *n = 0;
    DL_FOREACH (a->instances, i) {
        if (!instance_live(i))
            continue;
        h[*n].hostname = i->host;
        h[*n].attrs = i->attrs;
        h[*n].nattrs = i->nattrs;
        (*n)++;
    }
    return h;
}

static bool eligible(const struct papp *a, double now)
{
    return !a->removed && a->waiting > 0 && a->launch_after <= now;
}

static size_t try_app(struct pacer *p, struct papp *a, struct placement_offer *po,
                      Mesos__V1__TaskInfo ***tasks, size_t *ntasks)
{
    const Mesos__V1__Offer *o = po->offer;
    size_t nplaced, cap, launched = 0;
    struct cons_host *placed = placed_hosts(a, &nplaced, &cap);

    a->processed_offers++;
    while (a->waiting > 0) {
        struct placement pl;
        struct instance *i;
        struct taskinfo_args ta = { 0 };
        Mesos__V1__TaskInfo *t;

        placement_try(po, &a->spec, a->cons, placed, nplaced, &pl);
        if (!pl.ok) {
            if (launched == 0)
                count_reason(a, &pl);
            break;
        }
        i = instance_new(p, a, o->agent_id->value, o->hostname);
        memcpy(i->ports, pl.host_ports, pl.nhost_ports * sizeof(uint64_t));
        i->nports = pl.nhost_ports;
        i->attrs = xcalloc(po->host.nattrs + 1, sizeof(*i->attrs));
        for (size_t k = 0; k < po->host.nattrs; k++) {
            i->attrs[k].name = xstrdup(po->host.attrs[k].name);
            i->attrs[k].value = xstrdup(po->host.attrs[k].value);
        }
        i->nattrs = po->host.nattrs;
        ta.app = &a->spec;
        ta.task_id = i->task_id;
        ta.agent_id = o->agent_id->value;
        ta.hostname = o->hostname;
        ta.role = po->role;
        ta.host_ports = pl.host_ports;
        ta.nhost_ports = pl.nhost_ports;
        ta.service_ports = a->service_ports;
        ta.nservice_ports = a->nservice_ports;
        t = taskinfo_build(&ta);
        *tasks = xrealloc(*tasks, (*ntasks + 1) * sizeof(**tasks));
        (*tasks)[(*ntasks)++] = t;
        state_save_instance(p, i);
        if (nplaced == cap) {
            cap *= 2;
            placed = xrealloc(placed, cap * sizeof(*placed));
        }
        placed[nplaced].hostname = i->host;
        placed[nplaced].attrs = i->attrs;
        placed[nplaced].nattrs = i->nattrs;
        nplaced++;
        a->waiting--;
        launched++;
        log_info("launching %s on %s (%s)", i->task_id, o->hostname, o->agent_id->value);
    }
    if (launched == 0) {
        a->unused_offers++;
        a->last_unused_offer = time_now();
    }
    free(placed);
    return launched;
}

struct pending_launch {
    Mesos__V1__Offer *offer; /* pb_dup copy */
    Mesos__V1__TaskInfo **tasks;
    size_t ntasks;
};

static void launch_drop(void *arg)
{
    struct pending_launch *pl = arg;

    for (size_t t = 0; t < pl->ntasks; t++)
        agora_task_free(pl->tasks[t]);
    free(pl->tasks);
    pb_free(pl->offer);
    free(pl);
}

/* The tasks of an ACCEPT the master did not take, for a reconciliation. */
struct lost_launch {
    char **ids;
    char *agent;
    size_t n;
};

static void lost_launch_free(struct lost_launch *ll)
{
    for (size_t k = 0; k < ll->n; k++)
        free(ll->ids[k]);
    free(ll->ids);
    free(ll->agent);
    free(ll);
}

static void reconcile_lost(struct agora_scheduler *s, void *ctx)
{
    struct lost_launch *ll = ctx;
    const char **agents = xcalloc(ll->n, sizeof(*agents));

    for (size_t k = 0; k < ll->n; k++)
        agents[k] = ll->agent;
    agora_scheduler_reconcile(s, (const char **)ll->ids, agents, ll->n);
    free(agents);
    lost_launch_free(ll);
}

/* An ACCEPT that failed (no answer in 10 s, the master gone, a 4xx/5xx):
 * its tasks may or may not run. Ask the master about them a little later
 * (so that an ACCEPT it is still working through comes first) rather than
 * leave them Created until --task_launch_timeout: an unknown task comes
 * back TASK_LOST and is replaced at once. */
static void launch_done(struct agora_scheduler *s, const struct agora_call_result *r, void *ctx)
{
    struct lost_launch *ll = ctx;

    if (r->ok || r->cancelled || agora_scheduler_state(s) != AGORA_SCHED_SUBSCRIBED) {
        /* Taken; or the subscription is gone, and the next SUBSCRIBED
         * reconciles every task. */
        lost_launch_free(ll);
        return;
    }
    log_warn("ACCEPT of %zu task(s) on %s failed (%s%s%d): reconciling them", ll->n, ll->agent,
             r->error ? r->error : "", r->error ? ", status " : "status ", r->http_status);
    if (agora_scheduler_add_timer(s, PACER_LOST_LAUNCH_RECONCILE_MS, false, reconcile_lost, ll) ==
        NULL)
        lost_launch_free(ll);
}

static void launch_run(struct pacer *p, void *arg)
{
    struct pending_launch *pl = arg;
    struct lost_launch *ll = xcalloc(1, sizeof(*ll));

    ll->n = pl->ntasks;
    ll->ids = xcalloc(pl->ntasks, sizeof(*ll->ids));
    for (size_t t = 0; t < pl->ntasks; t++)
        ll->ids[t] = xstrdup(pl->tasks[t]->task_id->value);
    ll->agent = xstrdup(pl->offer->agent_id->value);
    /* Not subscribed any more: the tasks stay Created and the next
     * SUBSCRIBED's reconciliation (or the launch timeout) settles them. */
    if (agora_scheduler_launch_ex(p->sched, pl->offer, pl->tasks, pl->ntasks,
                                  p->flags->decline_seconds, launch_done, ll) < 0) {
        log_warn("offer %s: launch of %zu task(s) not sent (not subscribed)", pl->offer->id->value,
                 pl->ntasks);
        lost_launch_free(ll);
    }
    launch_drop(pl);
}

void offers_handle(struct pacer *p, const Mesos__V1__Offer *const *offers, size_t n)
{
    double now = time_now();

    for (size_t k = 0; k < n; k++) {
        const Mesos__V1__Offer *o = offers[k];
        struct placement_offer po;
        Mesos__V1__TaskInfo **tasks = NULL;
        size_t ntasks = 0;
        struct papp *a, *tmp;
        char *e = NULL;

        if (o->agent_id == NULL || o->id == NULL) {
            continue;
        }
        if (placement_offer_init(&po, o, &e) < 0) {
            log_warn("offer %s: %s; declined", o->id->value, e);
            free(e);
            agora_scheduler_decline(p->sched, o->id->value, p->flags->decline_seconds);
            continue;
        }
        HASH_ITER (hh, p->apps, a, tmp) {
            if (eligible(a, now))
                try_app(p, a, &po, &tasks, &ntasks);
        }
        metric_inc(p->m_offers, 1);
        metric_inc(ntasks ? p->m_launched : p->m_declined, ntasks ? (double)ntasks : 1);
        if (ntasks == 0) {
            agora_scheduler_decline(p->sched, o->id->value, p->flags->decline_seconds);
            free(tasks);
        } else {
            /* Launch once the instance records are durable: a task never
             * runs without its record, so no restart or failover sees it
             * as unknown and kills it. */
            struct pending_launch *pl = xcalloc(1, sizeof(*pl));

            pl->offer = pb_dup(&o->base);
            pl->tasks = tasks;
            pl->ntasks = ntasks;
            state_synced(p, launch_run, launch_drop, pl);
        }
        placement_offer_cleanup(&po);
    }
}

void offers_update_interest(struct pacer *p)
{
    double now = time_now(), mono = time_mono();
    long waiting = 0;
    struct papp *a, *tmp;

    if (agora_scheduler_state(p->sched) != AGORA_SCHED_SUBSCRIBED)
        return;
    HASH_ITER (hh, p->apps, a, tmp) {
        if (eligible(a, now))
            waiting += a->waiting;
    }
    if (waiting == 0) {
        if (!p->suppressed) {
            agora_scheduler_suppress(p->sched);
            p->suppressed = true;
            log_debug("nothing waits: offers suppressed");
        }
    } else if (p->suppressed || (waiting > p->last_waiting && mono - p->last_revive_mono > 0.5)) {
        agora_scheduler_revive(p->sched);
        p->suppressed = false;
        p->last_revive_mono = mono;
        log_debug("%ld instance(s) wait: offers revived", waiting);
    }
    p->last_waiting = waiting;
}

void queue_reset_delay(struct pacer *p, struct papp *a)
{
    a->delay = 0;
    a->launch_after = 0;
    pacer_kick(p);
}

void queue_backoff(struct pacer *p, struct papp *a)
{
    if (a->delay == 0)
        a->delay = a->spec.backoff_seconds;
    else
        a->delay *= a->spec.backoff_factor;
    if (a->delay > a->spec.max_launch_delay)
        a->delay = a->spec.max_launch_delay;
    a->launch_after = time_now() + a->delay;
    log_info("app %s: next launch in %.2f s (backoff)", a->id, a->delay);
}

static json_t *reject_summary(const struct papp *a)
{
    json_t *list = json_array();

    for (int r = 0; r < QR_COUNT; r++)
        json_array_append_new(list, json_pack("{s:s, s:I, s:I}", "reason", reason_names[r],
                                              "declined", (json_int_t)a->rejected[r], "processed",
                                              (json_int_t)a->processed_offers));
    return list;
}

json_t *queue_json(struct pacer *p)
{
    json_t *queue = json_array();
    double now = time_now();
    struct papp *a, *tmp;
    char ts[TIME_ISO_LEN], ts2[TIME_ISO_LEN];

    HASH_ITER (hh, p->apps, a, tmp) {
        json_t *item, *summary, *cons;
        double left = a->launch_after > now ? a->launch_after - now : 0;

        if (a->waiting <= 0)
            continue;
        cons = json_array();
        for (size_t k = 0; k < constraints_count(a->cons) && k < 8; k++)
            json_array_append_new(cons, json_pack("{s:s, s:I}", "constraint",
                                                  constraints_describe(a->cons, k), "declined",
                                                  (json_int_t)a->rejected_constraint[k]));
        summary =
            json_pack("{s:I, s:I, s:s, s:o, s:o, s:o}", "processedOffersCount",
                      (json_int_t)a->processed_offers, "unusedOffersCount",
                      (json_int_t)a->unused_offers, "lastUnusedOfferAt",
                      time_format_iso8601(a->last_unused_offer ? a->last_unused_offer : now, ts),
                      "rejectSummaryLastOffers", reject_summary(a), "rejectSummaryLaunchAttempt",
                      reject_summary(a), "rejectSummaryConstraints", cons);
        item = json_pack("{s:I, s:{s:f, s:b}, s:b, s:s, s:O, s:o, s:[]}", "count",
                         (json_int_t)a->waiting, "delay", "timeLeftSeconds", left, "overdue",
                         left == 0, "overdue", left == 0, "since",
                         time_format_iso8601(a->queued_since ? a->queued_since : now, ts2), "app",
                         a->def, "processedOffersSummary", summary, "lastUnusedOffers");
        json_array_append_new(queue, item);
    }
    return json_pack("{s:o}", "queue", queue);
}
