/*
 * state: what Pacer keeps across restarts, one store key each —
 *
 *   framework_id               the id the master gave (re-subscribe with it)
 *   groups                     explicitly created groups {id: version}
 *   apps/<key>                 {"def": current canonical app,
 *                               "lastConfigChangeAt", "versions": [...]}
 *   versions/<key>/<version>   every version of every app (canonical JSON)
 *   deployments/<id>           deployments in flight (plan, current step)
 *   instances/<task id>        instances launched (where, which version)
 *
 * <key> is the app id without its leading '/' and with '/' as ':' (store
 * keys cannot be a value and a folder at once; app ids never hold ':').
 * No value holds more than one app or one instance, so the ZooKeeper
 * backend (HA) stays far below its 1 MB limit.
 *
 * Writes are fire-and-forget puts with STORE_ANY (one writer: this
 * process); the store serializes and coalesces them per key. Loading is
 * asynchronous, one phase after another, so the ZooKeeper backend fits
 * the same code; pacer.c starts serving once it completes.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "pacer.h"
#include "log.h"
#include "mem.h"
#include "store.h"

char *state_app_key(const char *app_id)
{
    char *s = xstrdup(app_id[0] == '/' ? app_id + 1 : app_id);

    for (char *c = s; *c; c++) {
        if (*c == '/')
            *c = ':';
    }
    return s;
}

static char *key_to_app_id(const char *key)
{
    char *s = xasprintf("/%s", key);

    for (char *c = s; *c; c++) {
        if (*c == ':')
            *c = '/';
    }
    return s;
}

/* ------------------------------------------------------- durability */

/* Every write gets a sequence number; `low` is the lowest not yet
 * completed. A waiter registered when n writes were issued runs once all
 * of them completed (low >= n), whatever the order they completed in. */
struct write_done {
    unsigned long seq;
    UT_hash_handle hh;
};

struct sync_waiter {
    unsigned long upto; /* runs when low >= upto */
    void (*cb)(struct pacer *p, void *arg);
    void (*drop)(void *arg); /* at shutdown, when cb never ran */
    void *arg;
    struct sync_waiter *next;
};

struct write_ctx {
    struct pacer *p;
    unsigned long seq;
    bool is_delete;
};

static void run_waiters(struct pacer *p)
{
    struct sync_waiter **pp = &p->sync_waiters;

    while (*pp != NULL) {
        struct sync_waiter *w = *pp;

        if (p->writes_low >= w->upto) {
            *pp = w->next;
            w->cb(p, w->arg);
            free(w);
        } else {
            pp = &w->next;
        }
    }
}

static void write_completed(struct pacer *p, unsigned long seq)
{
    struct write_done *d;

    if (seq != p->writes_low) {
        d = xcalloc(1, sizeof(*d));
        d->seq = seq;
        HASH_ADD(hh, p->writes_done, seq, sizeof(d->seq), d);
        return;
    }
    p->writes_low++;
    for (;;) {
        HASH_FIND(hh, p->writes_done, &p->writes_low, sizeof(p->writes_low), d);
        if (d == NULL)
            break;
        HASH_DEL(p->writes_done, d);
        free(d);
        p->writes_low++;
    }
    run_waiters(p);
}

static void write_cb(int rc, int version, const char *err, void *arg)
{
    struct write_ctx *c = arg;

    if (rc != STORE_OK && !(c->is_delete && rc == STORE_NOT_FOUND))
        log_error("store: %s", err);
    write_completed(c->p, c->seq);
    free(c);
}

static struct write_ctx *write_ctx(struct pacer *p, bool is_delete)
{
    struct write_ctx *c = xcalloc(1, sizeof(*c));

    c->p = p;
    c->seq = p->writes_issued++;
    c->is_delete = is_delete;
    return c;
}

/* Writes expect the version this store last saw (STORE_KNOWN): a write
 * refused by version means another instance writes the same state, and
 * the store's deposed callback (ha.c) ends this one. Versions of apps are
 * immutable and may be written again after a crash (reapply_target), so
 * they take STORE_ANY. */
static void do_put(struct pacer *p, const char *key, const void *data, size_t len)
{
    int expected = strncmp(key, "versions/", 9) == 0 ? STORE_ANY : STORE_KNOWN;

    store_put(p->store, key, data, len, expected, write_cb, write_ctx(p, false));
}

static void do_delete(struct pacer *p, const char *key)
{
    store_delete(p->store, key, STORE_KNOWN, write_cb, write_ctx(p, true));
}

static void synced_kick(evutil_socket_t fd, short what, void *arg)
{
    run_waiters(arg);
}

void state_synced(struct pacer *p, void (*cb)(struct pacer *p, void *arg), void (*drop)(void *arg),
                  void *arg)
{
    struct sync_waiter *w = xcalloc(1, sizeof(*w));

    w->upto = p->writes_issued;
    w->cb = cb;
    w->drop = drop;
    w->arg = arg;
    w->next = p->sync_waiters;
    p->sync_waiters = w;
    if (p->writes_low >= w->upto) {
        /* Nothing pending: still never from inside the call. */
        struct timeval now = { 0, 0 };

        event_base_once(p->base, -1, EV_TIMEOUT, synced_kick, p, &now);
    }
}

/* Waiters that never ran (shutdown): dropped. */
void state_sync_cleanup(struct pacer *p)
{
    struct write_done *d, *tmp;

    while (p->sync_waiters != NULL) {
        struct sync_waiter *w = p->sync_waiters;

        p->sync_waiters = w->next;
        if (w->drop != NULL)
            w->drop(w->arg);
        free(w);
    }
    HASH_ITER (hh, p->writes_done, d, tmp) {
        HASH_DEL(p->writes_done, d);
        free(d);
    }
}

static void put_json(struct pacer *p, const char *key, json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;

    if (s == NULL) {
        log_error("store: %s: cannot encode the record", key);
        json_decref(j);
        return;
    }
    do_put(p, key, s, strlen(s));
    free(s);
    json_decref(j);
}

void state_save_framework_id(struct pacer *p)
{
    do_put(p, "framework_id", p->framework_id, strlen(p->framework_id));
}

void state_save_groups(struct pacer *p)
{
    put_json(p, "groups", json_incref(p->groups));
}

void state_save_app(struct pacer *p, struct papp *a)
{
    char *k = state_app_key(a->id), *key = xasprintf("apps/%s", k);

    put_json(p, key,
             json_pack("{s:O, s:s, s:O}", "def", a->def, "lastConfigChangeAt",
                       a->last_config_change, "versions", a->versions));
    free(key);
    free(k);
}

void state_save_version(struct pacer *p, const char *app_id, const json_t *def)
{
    char *k = state_app_key(app_id);
    char *key = xasprintf("versions/%s/%s", k, json_string_value(json_object_get(def, "version")));

    put_json(p, key, json_deep_copy(def));
    free(key);
    free(k);
}

void state_delete_version(struct pacer *p, const char *app_id, const char *version)
{
    char *k = state_app_key(app_id), *key = xasprintf("versions/%s/%s", k, version);

    do_delete(p, key);
    free(key);
    free(k);
}

void state_delete_app(struct pacer *p, const char *app_id)
{
    char *k = state_app_key(app_id), *key = xasprintf("apps/%s", k);

    /* Versions of a deleted app are kept: Marathon forgets them, but they
     * cost nothing and a re-created app does not collide (new
     * timestamps). */
    do_delete(p, key);
    free(key);
    free(k);
}

void state_save_instance(struct pacer *p, struct instance *i)
{
    char *key = xasprintf("instances/%s", i->task_id);
    json_t *ports = json_array(), *attrs = json_object();

    for (size_t k = 0; k < i->nports; k++)
        json_array_append_new(ports, json_integer((json_int_t)i->ports[k]));
    for (size_t k = 0; k < i->nattrs; k++)
        json_object_set_new(attrs, i->attrs[k].name, json_string(i->attrs[k].value));
    put_json(p, key,
             json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:f, s:f, s:b}", "taskId",
                       i->task_id, "instanceId", i->instance_id, "appId", i->app_id, "version",
                       i->version, "configVersion", i->config_version, "agentId", i->agent_id,
                       "host", i->host, "ports", ports, "attributes", attrs, "stagedAt",
                       i->staged_at, "startedAt", i->started_at, "killing", i->killing));
    i->persisted = true;
    free(key);
}

void state_delete_instance(struct pacer *p, struct instance *i)
{
    char *key;

    if (!i->persisted)
        return;
    key = xasprintf("instances/%s", i->task_id);
    do_delete(p, key);
    free(key);
}

static json_t *deployment_record(const struct deployment *d)
{
    json_t *steps = json_array();

    for (size_t s = 0; s < d->nsteps; s++)
        json_array_append_new(steps, deploy_actions_json(d, s));
    return json_pack("{s:s, s:s, s:O, s:O, s:o, s:I}", "id", d->id, "version", d->version,
                     "original", d->original, "target", d->target, "steps", steps, "current",
                     (json_int_t)d->current);
}

void state_save_deployment(struct pacer *p, struct deployment *d)
{
    char *key = xasprintf("deployments/%s", d->id);

    put_json(p, key, deployment_record(d));
    free(key);
}

void state_delete_deployment(struct pacer *p, const char *id)
{
    char *key = xasprintf("deployments/%s", id);

    do_delete(p, key);
    free(key);
}

/* ------------------------------------------------------------- loading */

struct loader;
typedef void (*load_item_fn)(struct pacer *p, const char *name, json_t *j);

struct loader {
    struct pacer *p;
    const char *prefix;
    load_item_fn item;
    void (*next)(struct loader *l);
    size_t pending;
    bool listed;
    void (*done)(struct pacer *p, int rc, const char *err);
};

struct load_get {
    struct loader *l;
    char *name;
};

static void load_phase(struct loader *l, const char *prefix, load_item_fn item,
                       void (*next)(struct loader *l));

static void phase_maybe_done(struct loader *l)
{
    if (l->listed && l->pending == 0)
        l->next(l);
}

static void got_item(int rc, const char *data, size_t len, int version, const char *err, void *arg)
{
    struct load_get *g = arg;
    struct loader *l = g->l;

    if (rc == STORE_OK) {
        json_error_t je;
        json_t *j = json_loadb(data, len, 0, &je);

        if (j == NULL)
            log_error("store: %s/%s is not JSON (%s); ignored", l->prefix, g->name, je.text);
        else
            l->item(l->p, g->name, j);
        json_decref(j);
    } else if (rc != STORE_NOT_FOUND) {
        log_error("store: %s", err);
    }
    free(g->name);
    free(g);
    l->pending--;
    phase_maybe_done(l);
}

static void got_list(int rc, char **names, size_t n, const char *err, void *arg)
{
    struct loader *l = arg;

    if (rc != STORE_OK)
        log_error("store: cannot list %s: %s", l->prefix, err);
    for (size_t k = 0; rc == STORE_OK && k < n; k++) {
        struct load_get *g = xcalloc(1, sizeof(*g));
        char *key = xasprintf("%s/%s", l->prefix, names[k]);

        g->l = l;
        g->name = xstrdup(names[k]);
        l->pending++;
        store_get(l->p->store, key, got_item, g);
        free(key);
    }
    l->listed = true;
    phase_maybe_done(l);
}

static void load_phase(struct loader *l, const char *prefix, load_item_fn item,
                       void (*next)(struct loader *l))
{
    l->prefix = prefix;
    l->item = item;
    l->next = next;
    l->pending = 0;
    l->listed = false;
    store_list(l->p->store, prefix, got_list, l);
}

static void load_app(struct pacer *p, const char *name, json_t *j)
{
    json_t *def = json_object_get(j, "def");
    const char *lcc = json_string_value(json_object_get(j, "lastConfigChangeAt"));
    json_t *versions = json_object_get(j, "versions");
    char *id = key_to_app_id(name);
    struct papp *a;

    if (!json_is_object(def) || !json_is_string(json_object_get(def, "id")) ||
        !json_is_string(json_object_get(def, "version")) ||
        strcmp(json_string_value(json_object_get(def, "id")), id) != 0) {
        log_error("store: apps/%s does not hold app %s; ignored", name, id);
        free(id);
        return;
    }
    a = papp_put(p, json_incref(def), true);
    if (lcc != NULL) {
        free(a->last_config_change);
        a->last_config_change = xstrdup(lcc);
    }
    if (json_is_array(versions)) {
        json_decref(a->versions);
        a->versions = json_incref(versions);
    }
    free(id);
}

static void load_instance(struct pacer *p, const char *name, json_t *j)
{
    const char *app_id = json_string_value(json_object_get(j, "appId"));
    struct papp *a = papp_find(p, app_id);
    struct instance *i;
    json_t *ports = json_object_get(j, "ports"), *attrs = json_object_get(j, "attributes"), *v;
    const char *task_id = json_string_value(json_object_get(j, "taskId"));
    const char *k;
    size_t n;

    const char *cv = json_string_value(json_object_get(j, "configVersion"));
    bool ours = false;

    /* An instance of an earlier app with the same id (deleted, then
     * created again before its tasks ended) is not this app's: its
     * configuration is not among this app's versions. */
    if (a != NULL && cv != NULL) {
        size_t n2;
        json_t *v2;

        ours = strcmp(cv, a->last_config_change) == 0;
        json_array_foreach(a->versions, n2, v2)
        {
            if (json_is_string(v2) && strcmp(json_string_value(v2), cv) == 0)
                ours = true;
        }
    }
    if (!json_is_string(json_object_get(j, "instanceId")) ||
        !json_is_string(json_object_get(j, "version")) ||
        !json_is_string(json_object_get(j, "agentId")) ||
        !json_is_string(json_object_get(j, "host")))
        ours = false;
    if (a == NULL || task_id == NULL || !ours) {
        /* Its app is gone: the task (if it runs) is killed as unknown
         * when reconciliation reports it. */
        log_warn("store: instance %s of unknown app %s dropped", name, app_id ? app_id : "?");
        char *key = xasprintf("instances/%s", name);

        do_delete(p, key);
        free(key);
        return;
    }
    i = xcalloc(1, sizeof(*i));
    i->task_id = xstrdup(task_id);
    i->instance_id = xstrdup(json_string_value(json_object_get(j, "instanceId")));
    i->app_id = xstrdup(app_id);
    i->app = a;
    i->version = xstrdup(json_string_value(json_object_get(j, "version")));
    i->config_version = xstrdup(json_string_value(json_object_get(j, "configVersion")));
    i->agent_id = xstrdup(json_string_value(json_object_get(j, "agentId")));
    i->host = xstrdup(json_string_value(json_object_get(j, "host")));
    json_array_foreach(ports, n, v)
    {
        if (n < PACER_MAX_PORTS)
            i->ports[i->nports++] = (uint64_t)json_integer_value(v);
    }
    i->attrs = xcalloc(json_object_size(attrs) + 1, sizeof(*i->attrs));
    json_object_foreach(attrs, k, v)
    {
        i->attrs[i->nattrs].name = xstrdup(k);
        i->attrs[i->nattrs].value = xstrdup(json_string_value(v) ? json_string_value(v) : "");
        i->nattrs++;
    }
    i->staged_at = json_real_value(json_object_get(j, "stagedAt"));
    i->started_at = json_real_value(json_object_get(j, "startedAt"));
    i->killing = json_is_true(json_object_get(j, "killing"));
    /* State unknown until reconciliation answers; treated as staging
     * (live, not healthy) meanwhile, so nothing is launched twice. */
    i->state = MESOS__V1__TASK_STATE__TASK_STAGING;
    i->healthy = -1;
    i->last_reason = -1;
    i->has_health = a->spec.nhealth_checks > 0;
    i->launched_mono = 0; /* no launch timeout for adopted tasks */
    i->persisted = true;
    i->reconciling = true;
    HASH_ADD_KEYPTR(hh, p->instances, i->task_id, strlen(i->task_id), i);
    DL_APPEND(a->instances, i);
    a->ninstances++;
}

static void load_deployment(struct pacer *p, const char *name, json_t *j)
{
    struct deployment *d = xcalloc(1, sizeof(*d));
    json_t *steps = json_object_get(j, "steps"), *st;
    size_t s;

    d->id = xstrdup(json_string_value(json_object_get(j, "id")) ?: name);
    d->version = xstrdup(json_string_value(json_object_get(j, "version")) ?: "");
    d->original = json_incref(json_object_get(j, "original"));
    d->target = json_incref(json_object_get(j, "target"));
    if (d->original == NULL)
        d->original = json_object();
    if (d->target == NULL)
        d->target = json_object();
    d->nsteps = json_array_size(steps);
    d->steps = xcalloc(d->nsteps + 1, sizeof(*d->steps));
    json_array_foreach(steps, s, st)
    {
        json_t *act;
        size_t k;

        d->steps[s].actions = xcalloc(json_array_size(st) + 1, sizeof(*d->steps[s].actions));
        json_array_foreach(st, k, act)
        {
            const char *name_ = json_string_value(json_object_get(act, "action"));
            struct deploy_step_action *a = &d->steps[s].actions[d->steps[s].nactions++];

            a->action = DA_SCALE;
            for (int t = DA_START; t <= DA_STOP; t++) {
                if (name_ && strcmp(name_, deploy_action_name((enum deploy_action)t)) == 0)
                    a->action = (enum deploy_action)t;
            }
            a->app_id = xstrdup(json_string_value(json_object_get(act, "app")) ?: "/");
        }
    }
    d->current = (size_t)json_integer_value(json_object_get(j, "current"));
    deploy_reload(p, d);
}

static void got_framework_id(int rc, const char *data, size_t len, int version, const char *err,
                             void *arg)
{
    struct loader *l = arg;

    if (rc == STORE_OK && len > 0)
        l->p->framework_id = xstrndup(data, len);
    else if (rc != STORE_OK && rc != STORE_NOT_FOUND)
        log_error("store: %s", err);
    l->done(l->p, 0, NULL);
    free(l);
}

static void got_groups(int rc, const char *data, size_t len, int version, const char *err,
                       void *arg)
{
    struct loader *l = arg;
    json_t *j = rc == STORE_OK ? json_loadb(data, len, 0, NULL) : NULL;

    if (json_is_object(j)) {
        json_object_del(j, "/"); /* the root is implicit (older records held it) */
        json_decref(l->p->groups);
        l->p->groups = j;
    } else {
        json_decref(j);
    }
    store_get(l->p->store, "framework_id", got_framework_id, l);
}

static void after_deployments(struct loader *l)
{
    store_get(l->p->store, "groups", got_groups, l);
}

static void after_instances(struct loader *l)
{
    load_phase(l, "deployments", load_deployment, after_deployments);
}

static void after_apps(struct loader *l)
{
    load_phase(l, "instances", load_instance, after_instances);
}

void state_load(struct pacer *p, void (*done)(struct pacer *p, int rc, const char *err))
{
    struct loader *l = xcalloc(1, sizeof(*l));

    l->p = p;
    l->done = done;
    load_phase(l, "apps", load_app, after_apps);
}
