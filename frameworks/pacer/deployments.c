/*
 * deployments: how Pacer gets from what runs to what was asked for.
 *
 * A change (POST/PUT/DELETE of apps or groups, a restart, a scale) is a
 * deployment: the apps' definitions before and after ("original",
 * "target"), and a plan of steps, each a set of actions on apps —
 * StartApplication, ScaleApplication, RestartApplication,
 * StopApplication — ordered by the apps' dependencies. The target
 * definitions take effect at once (GET /v2/apps shows them, as Marathon);
 * the plan says when each app's instances are made to match.
 *
 * Convergence (converge_app) is the one place that launches and kills.
 * For every app it compares the instances to the definition:
 *   - steady (no Restart action of the current step on the app): keep
 *     `instances` live instances, whatever their version; launch what is
 *     missing, kill the surplus by killSelection, unhealthy / staging /
 *     unreachable ones first;
 *   - upgrading (a RestartApplication action is current): replace the
 *     instances of older configurations following Marathon's rule —
 *       minHealthy = ceil(instances * minimumHealthCapacity)
 *       maxTotal   = floor(instances * (1 + maximumOverCapacity))
 *     old instances are killed while at least minHealthy healthy ones (old
 *     or new) remain, new ones launched while the total (killing ones
 *     included: they still hold resources and answer traffic) stays at or
 *     below maxTotal; when neither can move (minimumHealthCapacity 1 and
 *     maximumOverCapacity 0) one old instance is killed to make room, as
 *     Marathon does.
 * An action is done when the app has exactly `instances` instances of its
 * current configuration, all healthy (RUNNING without health checks); a
 * Stop when none is left. A step is done when all its actions are; the
 * deployment then moves on (deployment_step_success) and ends with
 * deployment_success. What an app waits for is kept in papp.waiting_for
 * (GET /v2/deployments/{id} and /v2/queue show it), so a deployment never
 * hangs silently.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pacer.h"
#include "ids.h"
#include "log.h"
#include "metrics.h"
#include "mem.h"
#include "timeutil.h"

static const char *action_names[] = {
    [DA_START] = "StartApplication",
    [DA_SCALE] = "ScaleApplication",
    [DA_RESTART] = "RestartApplication",
    [DA_STOP] = "StopApplication",
};

const char *deploy_action_name(enum deploy_action a)
{
    return action_names[a];
}

struct deployment *deploy_find(struct pacer *p, const char *id)
{
    struct deployment *d = NULL;

    HASH_FIND_STR(p->deployments, id, d);
    return d;
}

void deploy_free(struct deployment *d)
{
    if (d == NULL)
        return;
    for (size_t s = 0; s < d->nsteps; s++) {
        for (size_t k = 0; k < d->steps[s].nactions; k++)
            free(d->steps[s].actions[k].app_id);
        free(d->steps[s].actions);
    }
    free(d->steps);
    json_decref(d->original);
    json_decref(d->target);
    free(d->id);
    free(d->version);
    free(d);
}

/* Has d a RestartApplication action on app id? */
static bool deploy_restarts(const struct deployment *d, const char *id)
{
    for (size_t s = 0; s < d->nsteps; s++) {
        for (size_t k = 0; k < d->steps[s].nactions; k++) {
            if (d->steps[s].actions[k].action == DA_RESTART &&
                strcmp(d->steps[s].actions[k].app_id, id) == 0)
                return true;
        }
    }
    return false;
}

/* ------------------------------------------------------------- locking */

static void lock_apps(struct pacer *p, struct deployment *d)
{
    const char *id;
    json_t *v;

    json_object_foreach(d->target, id, v)
    {
        struct papp *a = papp_find(p, id);

        if (a != NULL)
            a->deployment = d;
    }
}

static void unlock_apps(struct pacer *p, struct deployment *d)
{
    struct papp *a, *tmp;

    HASH_ITER (hh, p->apps, a, tmp) {
        if (a->deployment == d) {
            a->deployment = NULL;
            a->upgrading = false;
        }
    }
}

/* A reloaded deployment whose target did not reach the apps' records
 * (Pacer died between the two writes): apply it again. */
static void reapply_target(struct pacer *p, struct deployment *d)
{
    const char *id;
    json_t *v;

    json_object_foreach(d->target, id, v)
    {
        struct papp *a = papp_find(p, id);
        const char *want = json_string_value(json_object_get(v, "version"));

        if (json_is_object(v) &&
            (a == NULL || want == NULL ||
             strcmp(json_string_value(json_object_get(a->def, "version")), want) != 0)) {
            const json_t *from = json_object_get(d->original, id);
            bool change = !json_is_object(from) || app_needs_restart(from, v) ||
                          (a != NULL && d->nsteps > 0 && deploy_restarts(d, id));

            log_warn("deployment %s: applying its target for %s again", d->id, id);
            a = papp_put(p, json_incref(v), change);
            state_save_version(p, id, v);
            state_save_app(p, a);
        } else if (!json_is_object(v) && a != NULL) {
            log_warn("deployment %s: removing %s again", d->id, id);
            papp_remove(p, a);
            state_delete_app(p, id);
        }
    }
}

void deploy_adopt(struct pacer *p, struct deployment *d)
{
    HASH_ADD_KEYPTR(hh, p->deployments, d->id, strlen(d->id), d);
    DL_APPEND(p->deployment_list, d);
    d->started_mono = time_mono();
    lock_apps(p, d);
}

void deploy_reload(struct pacer *p, struct deployment *d)
{
    reapply_target(p, d);
    deploy_adopt(p, d);
}

static void deploy_end(struct pacer *p, struct deployment *d)
{
    unlock_apps(p, d);
    HASH_DEL(p->deployments, d);
    DL_DELETE(p->deployment_list, d);
    state_delete_deployment(p, d->id);
    deploy_free(d);
}

void deploy_cancel(struct pacer *p, struct deployment *d, const char *why)
{
    log_info("deployment %s cancelled: %s", d->id, why);
    events_deployment(p, "deployment_failed", d);
    deploy_end(p, d);
    pacer_kick(p);
}

/* --------------------------------------------------------------- plans */

/* Depth of app id in the dependency graph of target (0: depends on
 * nothing deployed with it), memoized in memo ({id: depth}; -1 while being
 * visited, so that a cycle is cut there instead of recursing forever). */
static int dep_depth(const json_t *target, const char *id, json_t *memo)
{
    const json_t *def = json_object_get(target, id), *deps, *v;
    json_t *known = json_object_get(memo, id);
    size_t k;
    int depth = 0;

    if (known != NULL)
        return json_integer_value(known) < 0 ? 0 : (int)json_integer_value(known);
    if (!json_is_object(def))
        return 0;
    json_object_set_new(memo, id, json_integer(-1));
    deps = json_object_get(def, "dependencies");
    json_array_foreach(deps, k, v)
    {
        const char *dep = json_string_value(v);

        if (dep != NULL && json_object_get(target, dep) != NULL) {
            int d = dep_depth(target, dep, memo) + 1;

            if (d > depth)
                depth = d;
        }
    }
    json_object_set_new(memo, id, json_integer(depth));
    return depth;
}

static void add_action(struct deployment *d, size_t step, enum deploy_action act, const char *app)
{
    struct deploy_step *s;

    while (d->nsteps <= step) {
        d->steps = xrealloc(d->steps, (d->nsteps + 1) * sizeof(*d->steps));
        memset(&d->steps[d->nsteps], 0, sizeof(*d->steps));
        d->nsteps++;
    }
    s = &d->steps[step];
    s->actions = xrealloc(s->actions, (s->nactions + 1) * sizeof(*s->actions));
    s->actions[s->nactions].action = act;
    s->actions[s->nactions].app_id = xstrdup(app);
    s->nactions++;
}

/* Build the steps of d from its original and target. Stops come first
 * (Marathon stops removed apps before it starts new ones), then one step
 * per dependency level for starts, restarts and scales; a new app is a
 * StartApplication step followed by a ScaleApplication step. */
static void plan(struct deployment *d, bool restart)
{
    json_t *memo = json_object();
    const char *id;
    json_t *to;
    bool stops = false;
    int maxdepth = 0;

    json_object_foreach(d->original, id, to)
    {
        if (json_is_object(to) && !json_is_object(json_object_get(d->target, id))) {
            add_action(d, 0, DA_STOP, id);
            stops = true;
        }
    }
    json_object_foreach(d->target, id, to)
    {
        int depth;

        if (!json_is_object(to))
            continue;
        depth = dep_depth(d->target, id, memo);
        if (depth > maxdepth)
            maxdepth = depth;
    }
    for (int level = 0; level <= maxdepth; level++) {
        size_t base = d->nsteps;
        bool any_start = false;

        json_object_foreach(d->target, id, to)
        {
            const json_t *from = json_object_get(d->original, id);

            if (!json_is_object(to) || dep_depth(d->target, id, memo) != level)
                continue;
            if (!json_is_object(from)) {
                add_action(d, base, DA_START, id);
                any_start = true;
            } else if (restart || app_needs_restart(from, to)) {
                add_action(d, base, DA_RESTART, id);
            } else {
                add_action(d, base, DA_SCALE, id);
            }
        }
        if (any_start) {
            json_object_foreach(d->target, id, to)
            {
                if (json_is_object(to) && !json_is_object(json_object_get(d->original, id)) &&
                    dep_depth(d->target, id, memo) == level)
                    add_action(d, base + 1, DA_SCALE, id);
            }
        }
    }
    (void)stops;
    json_decref(memo);
}

struct deployment *deploy_start(struct pacer *p, json_t *original, json_t *target, bool force,
                                bool restart, json_t **conflicts)
{
    struct deployment *d;
    const char *id;
    json_t *v, *locked = json_array();
    char uuid[ID_UUID_STRLEN], ts[TIME_ISO_LEN];

    /* Apps of the change that another deployment holds. */
    json_object_foreach(target, id, v)
    {
        struct papp *a = papp_find(p, id);

        if (a != NULL && a->deployment != NULL) {
            bool seen = false;
            size_t k;
            json_t *x;

            json_array_foreach(locked, k, x)
            {
                if (strcmp(json_string_value(x), a->deployment->id) == 0)
                    seen = true;
            }
            if (!seen)
                json_array_append_new(locked, json_string(a->deployment->id));
        }
    }
    if (json_array_size(locked) > 0) {
        size_t k;
        json_t *x;

        if (!force) {
            *conflicts = locked;
            json_decref(original);
            json_decref(target);
            return NULL;
        }
        json_array_foreach(locked, k, x)
        {
            struct deployment *old = deploy_find(p, json_string_value(x));

            if (old != NULL)
                deploy_cancel(p, old, "superseded by a forced change");
        }
    }
    json_decref(locked);

    d = xcalloc(1, sizeof(*d));
    id_uuid_string(uuid);
    d->id = xstrdup(uuid);
    d->original = original;
    d->target = target;
    d->version = NULL;
    json_object_foreach(target, id, v)
    {
        const char *ver = json_string_value(json_object_get(v, "version"));

        if (ver != NULL && d->version == NULL)
            d->version = xstrdup(ver);
    }
    if (d->version == NULL)
        d->version = xstrdup(time_format_iso8601(time_now(), ts));
    plan(d, restart);
    /* The deployment first: after a crash from here on, its target is
     * applied again when it is reloaded (deploy_adopt). */
    state_save_deployment(p, d);

    /* The target takes effect now. */
    json_object_foreach(target, id, v)
    {
        struct papp *a = papp_find(p, id);
        const json_t *from = json_object_get(original, id);

        if (json_is_object(v)) {
            bool change = restart || !json_is_object(from) || app_needs_restart(from, v);
            bool new_version = a == NULL || change;

            a = papp_put(p, json_incref(v), change);
            if (new_version)
                queue_reset_delay(p, a);
            state_save_version(p, id, v);
            state_save_app(p, a);
        } else if (a != NULL) {
            papp_remove(p, a);
            state_delete_app(p, id);
            events_post(p, "app_terminated_event", json_pack("{s:s}", "appId", id));
        }
    }
    deploy_adopt(p, d);
    log_info("deployment %s: %zu step(s) over %zu app(s)", d->id, d->nsteps,
             json_object_size(target));
    events_deployment(p, "deployment_info", d);
    pacer_kick(p);
    return d;
}

/* ---------------------------------------------------------- convergence */

static struct papp *dying_find(struct pacer *p, const char *id)
{
    struct papp *a;

    DL_FOREACH2 (p->dying, a, dnext) {
        if (strcmp(a->id, id) == 0)
            return a;
    }
    return NULL;
}

/* Is i counted among the app's instances? Unreachable ones stop counting
 * (and get replaced) after unreachableStrategy.inactiveAfterSeconds. */
static bool counts(const struct papp *a, const struct instance *i, double now)
{
    if (!instance_live(i) || i->killing)
        return false;
    if (i->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE) {
        if (a->spec.unreachable_disabled)
            return true;
        return now - i->unreachable_since < a->spec.unreachable_inactive_after;
    }
    return true;
}

/* Kill order: unhealthy, staging and unreachable instances first, then by
 * killSelection (YOUNGEST_FIRST: latest staged first). */
static int kill_rank(const struct papp *a, const struct instance *i)
{
    if (i->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE)
        return 0;
    if (!instance_running(i))
        return 1;
    if (!instance_healthy(i))
        return 2;
    return 3;
}

#define RECONCILE_WAIT 60 /* seconds a reloaded instance may wait for its state */

enum pick { PICK_ANY, PICK_OLD, PICK_CURRENT }; /* which configurations may go */

static struct instance *pick_victim(const struct papp *a, enum pick which, bool healthy_ok,
                                    double now)
{
    struct instance *i, *best = NULL;

    DL_FOREACH (a->instances, i) {
        if (!counts(a, i, now))
            continue;
        if (which != PICK_ANY &&
            (strcmp(i->config_version, a->last_config_change) == 0) == (which == PICK_OLD))
            continue;
        /* Without healthy_ok only instances known to be unhealthy or not
         * yet running: unknown health (an adopted instance whose checks
         * have not reported yet) is not "unhealthy". */
        if (!healthy_ok && (instance_healthy(i) || (instance_running(i) && i->healthy != 0)))
            continue;
        if (best == NULL) {
            best = i;
            continue;
        }
        if (kill_rank(a, i) != kill_rank(a, best)) {
            if (kill_rank(a, i) < kill_rank(a, best))
                best = i;
            continue;
        }
        if ((a->spec.kill_selection == APP_KILL_YOUNGEST_FIRST) == (i->staged_at > best->staged_at))
            best = i;
    }
    return best;
}

static void set_waiting_for(struct papp *a, char *why)
{
    free(a->waiting_for);
    a->waiting_for = why;
}

/* Launch and kill for one app; returns true when it matches its target
 * (all instances of its configuration, healthy, none else). */
static bool converge_app(struct pacer *p, struct papp *a)
{
    double now = time_now();
    int n = a->removed ? 0 : a->spec.instances;
    int cur = 0, old = 0, cur_healthy = 0, old_healthy = 0, killing = 0, cur_counted = 0;
    struct instance *i, *tmp;
    bool done;

    /* After a restart, decide nothing for an app until the master has
     * told the state of each instance it had (a healthy instance must not
     * look unknown and be replaced). */
    DL_FOREACH_SAFE (a->instances, i, tmp) {
        if (!i->reconciling)
            continue;
        if (time_mono() - p->subscribed_mono < RECONCILE_WAIT) {
            set_waiting_for(a, xstrdup("reconciling the instances' states with the master"));
            a->waiting = 0;
            return false;
        }
        /* The master never answered for it: gone (killed in case it runs). */
        log_warn("task %s: no state from the master %d s after subscribing: forgotten", i->task_id,
                 RECONCILE_WAIT);
        agora_scheduler_kill(p->sched, i->task_id, i->agent_id);
        state_delete_instance(p, i);
        instance_forget(p, i);
    }
    DL_FOREACH_SAFE (a->instances, i, tmp) {
        bool is_cur;

        /* Unreachable past expungeAfterSeconds: forgotten (killed if it
         * ever comes back, as an unknown task). */
        if (i->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE && !a->spec.unreachable_disabled &&
            now - i->unreachable_since >= a->spec.unreachable_expunge_after &&
            a->spec.unreachable_expunge_after >= a->spec.unreachable_inactive_after) {
            log_info("task %s unreachable for %.0f s: expunged", i->task_id,
                     now - i->unreachable_since);
            agora_scheduler_kill(p->sched, i->task_id, i->agent_id);
            state_delete_instance(p, i);
            instance_forget(p, i);
            continue;
        }
        if (!instance_live(i))
            continue;
        if (i->killing) {
            killing++;
            continue;
        }
        if (!counts(a, i, now))
            continue;
        is_cur = strcmp(i->config_version, a->last_config_change) == 0;
        if (is_cur) {
            cur++;
            cur_healthy += instance_healthy(i);
        } else {
            old++;
            old_healthy += instance_healthy(i);
        }
        cur_counted++;
    }

    if (a->removed) {
        DL_FOREACH (a->instances, i) {
            if (instance_live(i) && !i->killing)
                instance_kill(p, i, "app deleted");
        }
        a->waiting = 0;
        set_waiting_for(a, killing + cur + old
                               ? xasprintf("%d instance(s) to be killed", killing + cur + old)
                               : NULL);
        return cur + old + killing == 0;
    }

    if (!a->upgrading) {
        int total = cur + old;

        while (total > n) {
            struct instance *v = pick_victim(a, PICK_ANY, true, now);

            if (v == NULL)
                break;
            if (strcmp(v->config_version, a->last_config_change) == 0)
                cur_healthy -= instance_healthy(v) ? 1 : 0;
            else
                old_healthy -= instance_healthy(v) ? 1 : 0;
            instance_kill(p, v, "scaling down");
            total--;
            killing++;
        }
        a->waiting = total < n ? n - total : 0;
        /* Versions do not matter here: after a forced stop of a rolling
         * upgrade the app keeps the mix it had, as in Marathon. */
        done = total == n && cur_healthy + old_healthy == n && killing == 0;
    } else {
        int min_healthy = (int)ceil(n * a->spec.min_health_capacity - 1e-9);
        int max_total = (int)floor(n * (1 + a->spec.max_over_capacity) + 1e-9);
        bool moved = false;
        int can_launch;

        /* Unhealthy old instances go first: they carry no traffic. */
        while (old > 0) {
            struct instance *v = pick_victim(a, PICK_OLD, false, now);

            if (v == NULL)
                break;
            instance_kill(p, v, "replaced by a new version");
            old--;
            killing++;
            moved = true;
        }
        while (old > 0 && old_healthy + cur_healthy - 1 >= min_healthy) {
            struct instance *v = pick_victim(a, PICK_OLD, true, now);

            if (v == NULL)
                break;
            old_healthy -= instance_healthy(v) ? 1 : 0; /* before: killing is not healthy */
            instance_kill(p, v, "replaced by a new version");
            old--;
            killing++;
            moved = true;
        }
        /* Surplus of the new configuration (the count was lowered). */
        while (cur > n) {
            struct instance *v = pick_victim(a, PICK_CURRENT, true, now);

            if (v == NULL)
                break;
            instance_kill(p, v, "scaling down");
            cur--;
            killing++;
        }
        can_launch = max_total - (old + cur + killing);
        if (can_launch > n - cur)
            can_launch = n - cur;
        if (can_launch < 0)
            can_launch = 0;
        a->waiting = can_launch;
        /* Stuck: nothing can be killed or launched and nothing new is on
         * its way (minimumHealthCapacity 1, maximumOverCapacity 0). */
        if (!moved && can_launch == 0 && old > 0 && killing == 0 && cur == cur_healthy) {
            struct instance *v = pick_victim(a, PICK_OLD, true, now);

            if (v != NULL) {
                instance_kill(p, v, "making room for the new version");
                old--;
            }
        }
        done = old == 0 && cur == n && cur_healthy == n && killing == 0;
    }

    if (a->waiting > 0 && a->queued_since == 0) {
        a->queued_since = now;
    } else if (a->waiting == 0 && a->queued_since != 0) {
        /* The offers summary counts since the app began waiting. */
        a->queued_since = 0;
        a->processed_offers = a->unused_offers = 0;
        memset(a->rejected, 0, sizeof(a->rejected));
        memset(a->rejected_constraint, 0, sizeof(a->rejected_constraint));
    }
    if (done)
        set_waiting_for(a, NULL);
    else
        set_waiting_for(a, xasprintf("%d of %d instance(s) of the current version healthy, %d "
                                     "old, %d being killed, %d to launch%s",
                                     cur_healthy, n, old, killing, a->waiting,
                                     a->waiting && a->launch_after > now ? " (backoff)" : ""));
    (void)cur_counted;
    return done;
}

static bool action_done(struct pacer *p, const struct deploy_step_action *act)
{
    struct papp *a = papp_find(p, act->app_id);

    if (act->action == DA_STOP) {
        struct papp *gone = dying_find(p, act->app_id);

        return gone == NULL || gone->instances == NULL;
    }
    if (a == NULL)
        return true; /* deleted since: nothing to wait for */
    if (act->action == DA_START)
        return true; /* the app exists; its Scale step waits for the instances */
    return a->waiting_for == NULL;
}

/* Mark the apps under a Restart action of their deployment's current
 * step as upgrading. */
static void mark_upgrading(struct pacer *p)
{
    struct deployment *d;
    struct papp *a, *tmp;

    HASH_ITER (hh, p->apps, a, tmp) {
        a->upgrading = false;
        a->held = false;
    }
    DL_FOREACH (p->deployment_list, d) {
        if (d->current >= d->nsteps)
            continue;
        /* Apps of later steps wait for theirs (dependencies first). */
        for (size_t s = d->current + 1; s < d->nsteps; s++) {
            for (size_t k = 0; k < d->steps[s].nactions; k++) {
                a = papp_find(p, d->steps[s].actions[k].app_id);
                if (a != NULL)
                    a->held = true;
            }
        }
        for (size_t k = 0; k < d->steps[d->current].nactions; k++) {
            struct deploy_step_action *act = &d->steps[d->current].actions[k];

            a = papp_find(p, act->app_id);
            if (a == NULL)
                continue;
            a->held = false;
            if (act->action == DA_RESTART)
                a->upgrading = true;
        }
    }
}

void deploy_converge(struct pacer *p)
{
    struct papp *a, *tmp;
    struct deployment *d, *dtmp;

    mark_upgrading(p);
    HASH_ITER (hh, p->apps, a, tmp) {
        if (a->held) {
            a->waiting = 0;
            set_waiting_for(a, xasprintf("a later step of deployment %s",
                                         a->deployment ? a->deployment->id : "?"));
            continue;
        }
        converge_app(p, a);
    }
    DL_FOREACH_SAFE2(p->dying, a, tmp, dnext)
    {
        converge_app(p, a);
        papp_reap(p, a);
    }
    DL_FOREACH_SAFE (p->deployment_list, d, dtmp) {
        bool advanced = false;

        while (d->current < d->nsteps) {
            struct deploy_step *s = &d->steps[d->current];
            bool all = true;

            for (size_t k = 0; k < s->nactions && all; k++)
                all = action_done(p, &s->actions[k]);
            if (!all)
                break;
            events_deployment(p, "deployment_step_success", d);
            d->current++;
            advanced = true;
        }
        if (d->current >= d->nsteps) {
            log_info("deployment %s finished in %.1f s", d->id, time_mono() - d->started_mono);
            metric_inc(p->m_deployments, 1);
            metric_observe(p->m_deploy_seconds, time_mono() - d->started_mono);
            events_deployment(p, "deployment_success", d);
            deploy_end(p, d);
            pacer_kick(p); /* the next step's apps may need a pass */
        } else if (advanced) {
            state_save_deployment(p, d);
            pacer_kick(p);
        }
    }
}

/* -------------------------------------------------------------- render */

json_t *deploy_actions_json(const struct deployment *d, size_t step)
{
    json_t *acts = json_array();

    for (size_t k = 0; step < d->nsteps && k < d->steps[step].nactions; k++)
        json_array_append_new(acts, json_pack("{s:s, s:s}", "action",
                                              deploy_action_name(d->steps[step].actions[k].action),
                                              "app", d->steps[step].actions[k].app_id));
    return acts;
}

json_t *deploy_steps_json(const struct deployment *d)
{
    json_t *steps = json_array();

    for (size_t s = 0; s < d->nsteps; s++)
        json_array_append_new(steps, json_pack("{s:o}", "actions", deploy_actions_json(d, s)));
    return steps;
}

json_t *deploy_json(const struct pacer *p, const struct deployment *d)
{
    json_t *steps, *current = json_array(), *affected = json_array();
    const char *id;
    json_t *v;

    json_object_foreach(d->target, id, v)
    {
        json_array_append_new(affected, json_string(id));
    }
    json_object_foreach(d->original, id, v)
    {
        if (json_object_get(d->target, id) == NULL)
            json_array_append_new(affected, json_string(id));
    }
    steps = deploy_steps_json(d);
    /* currentActions: the current step's, with readiness results. */
    for (size_t k = 0; d->current < d->nsteps && k < d->steps[d->current].nactions; k++) {
        const struct deploy_step_action *act = &d->steps[d->current].actions[k];

        json_array_append_new(current, json_pack("{s:s, s:s, s:[]}", "action",
                                                 deploy_action_name(act->action), "app",
                                                 act->app_id, "readinessCheckResults"));
    }
    return json_pack("{s:s, s:s, s:o, s:[], s:o, s:o, s:I, s:I}", "id", d->id, "version",
                     d->version, "affectedApps", affected, "affectedPods", "steps", steps,
                     "currentActions", current, "currentStep",
                     (json_int_t)(d->current < d->nsteps ? d->current + 1 : d->nsteps),
                     "totalSteps", (json_int_t)d->nsteps);
}
