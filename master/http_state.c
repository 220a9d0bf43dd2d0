/*
 * http_state.c: the master's read-only and operator endpoints.
 *
 *   GET  /master/state, /state (and *.json)   Mesos-style state JSON
 *   GET  /master/redirect                     307 to the leader
 *   GET  /health                              200 while the loop runs
 *   GET  /metrics                             Prometheus text
 *   GET  /metrics/snapshot                    Mesos-style metrics JSON
 *   POST /api/v1                              operator calls (JSON): GET_HEALTH,
 *        GET_VERSION, GET_MASTER, GET_AGENTS, GET_FRAMEWORKS, GET_TASKS, GET_STATE,
 *        GET_FLAGS, GET_METRICS, GET_ROLES, GET_LOGGING_LEVEL; SUBSCRIBE is
 *        operator_stream.c's (JSON or protobuf)
 *
 * Everything here is built on demand from the live model; nothing is
 * cached, so an idle master pays nothing for a large state.
 */
#define _GNU_SOURCE
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <utlist.h>

#include "master.h"
#include "allocator.h"
#include "attributes.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "master.pb-c.h"
#include "mem.h"
#include "metrics.h"
#include "pbjson.h"
#include "rest.h"

/* ---------------------------------------------------------- /master/state */

static json_t *agent_attributes_json(const Mesos__V1__AgentInfo *info)
{
    return attributes_to_json(info ? info->attributes : NULL, info ? info->n_attributes : 0);
}

/* Set while GET /master/state is written out piecewise (state_write):
 * state_json leaves out "frameworks" and state_framework_json the task
 * arrays, which the writer appends as text. */
static bool state_streaming;

/* ---- one description of a task -------------------------------------
 *
 * A task is rendered three ways: /master/state through jansson
 * (state_task_json), /master/state as text (put_task, the fast path), and
 * the v1 operator API (task_json(t, true)). All three walk this table, so a field
 * is added once. state_key/v1_key: the field's name in each view (NULL:
 * not in that view); v1_wrap: the v1 view wraps ids as {"value": ...}. */
enum task_field_kind {
    TF_STR,      /* str(t), always present */
    TF_STATE,    /* the task's state name */
    TF_RES,      /* state: resource summary; v1: array of Resource */
    TF_STATUSES, /* state: [{state, timestamp, ...}]; v1: [latest TaskStatus] */
    TF_HEALTHY,  /* the latest status's healthy, when it has one */
    TF_PB,       /* pb(t) as JSON, when present */
    TF_LABELS,   /* as TF_PB; the state view shows the bare labels array */
};

struct task_field {
    const char *state_key;
    const char *v1_key;
    enum task_field_kind kind;
    bool v1_wrap;
    const char *(*str)(const struct task *t);
    const ProtobufCMessage *(*pb)(const struct task *t);
};

static const char *tf_id(const struct task *t)
{
    return t->id;
}
static const char *tf_name(const struct task *t)
{
    return t->info->name;
}
static const char *tf_framework(const struct task *t)
{
    return t->fw->id;
}
static const char *tf_slave(const struct task *t)
{
    return t->slave_id;
}
static const char *tf_role(const struct task *t)
{
    return t->fw->role;
}
static const char *tf_user(const struct task *t)
{
    return task_user(t);
}

static const char *tf_executor_str(const struct task *t)
{
    return t->info->executor ? t->info->executor->executor_id->value : "";
}
static const ProtobufCMessage *tf_executor(const struct task *t)
{
    return t->info->executor ? &t->info->executor->executor_id->base : NULL;
}
static const ProtobufCMessage *tf_labels(const struct task *t)
{
    return t->info->labels ? &t->info->labels->base : NULL;
}
static const ProtobufCMessage *tf_discovery(const struct task *t)
{
    return t->info->discovery ? &t->info->discovery->base : NULL;
}
static const ProtobufCMessage *tf_container(const struct task *t)
{
    return t->info->container ? &t->info->container->base : NULL;
}
static const ProtobufCMessage *tf_health_check(const struct task *t)
{
    return t->info->health_check ? &t->info->health_check->base : NULL;
}

static const struct task_field task_fields[] = {
    { "id", "task_id", TF_STR, true, tf_id, NULL },
    { "name", "name", TF_STR, false, tf_name, NULL },
    { "framework_id", "framework_id", TF_STR, true, tf_framework, NULL },
    { "executor_id", NULL, TF_STR, false, tf_executor_str, NULL },
    { NULL, "executor_id", TF_PB, false, NULL, tf_executor },
    { "slave_id", "agent_id", TF_STR, true, tf_slave, NULL },
    { "state", "state", TF_STATE, false, NULL, NULL },
    { "resources", "resources", TF_RES, false, NULL, NULL },
    { "role", NULL, TF_STR, false, tf_role, NULL },
    { "user", "user", TF_STR, false, tf_user, NULL },
    { "statuses", "statuses", TF_STATUSES, false, NULL, NULL },
    { "healthy", NULL, TF_HEALTHY, false, NULL, NULL },
    { "labels", "labels", TF_LABELS, false, NULL, tf_labels },
    { "discovery", "discovery", TF_PB, false, NULL, tf_discovery },
    { "container", "container", TF_PB, false, NULL, tf_container },
    { NULL, "health_check", TF_PB, false, NULL, tf_health_check },
};
#define N_TASK_FIELDS (sizeof(task_fields) / sizeof(task_fields[0]))

static json_t *state_statuses_json(const struct task *t)
{
    json_t *sts = json_array();
    for (size_t i = 0; i < t->nstatuses; i++) {
        json_t *s = json_object();
        json_object_set_new(s, "state", json_string(task_state_name(t->statuses[i].state)));
        json_object_set_new(s, "timestamp", json_real(t->statuses[i].timestamp));
        if (i + 1 == t->nstatuses && t->latest) {
            if (t->latest->container_status)
                json_object_set_new(s, "container_status",
                                    pbjson_encode(&t->latest->container_status->base));
            if (t->latest->has_healthy)
                json_object_set_new(s, "healthy", json_boolean(t->latest->healthy));
        }
        json_array_append_new(sts, s);
    }
    return sts;
}

/* One field's value in a view (v1 or state), NULL when absent. */
static json_t *task_field_json(const struct task *t, const struct task_field *f, bool v1)
{
    const ProtobufCMessage *pb;

    switch (f->kind) {
    case TF_STR:
        return v1 && f->v1_wrap ? json_pack("{s:s}", "value", f->str(t)) : json_string(f->str(t));
    case TF_STATE:
        return json_string(task_state_name(t->state));
    case TF_RES:
        return v1 ? res_to_json_array(&t->res) : res_to_json_summary(&t->res);
    case TF_STATUSES:
        if (!v1)
            return state_statuses_json(t);
        return t->latest ? json_pack("[o]", pbjson_encode(&t->latest->base)) : json_array();
    case TF_HEALTHY:
        return t->latest && t->latest->has_healthy ? json_boolean(t->latest->healthy) : NULL;
    case TF_PB:
    case TF_LABELS:
        pb = f->pb(t);
        if (pb == NULL)
            return NULL;
        json_t *j = pbjson_encode(pb);
        if (f->kind == TF_LABELS && !v1) {
            /* Mesos /state shows labels as a bare array of {key, value}. */
            json_t *arr = json_object_get(j, "labels");
            arr = arr ? json_incref(arr) : json_array();
            json_decref(j);
            return arr;
        }
        return j;
    }
    return NULL;
}

static json_t *task_json(const struct task *t, bool v1)
{
    json_t *j = json_object();
    for (size_t i = 0; i < N_TASK_FIELDS; i++) {
        const char *key = v1 ? task_fields[i].v1_key : task_fields[i].state_key;
        json_t *v = key ? task_field_json(t, &task_fields[i], v1) : NULL;
        if (v)
            json_object_set_new(j, key, v);
    }
    return j;
}

json_t *state_task_json(const struct task *t)
{
    return task_json(t, false);
}

/* who for a view kept to be filtered later (a completed framework's). */
static const char ALL_PRINCIPALS[] = "(all)";

/* --acls view_tasks / view_frameworks: may who (NULL: anonymous) see it? */
static bool task_visible(const struct master *m, const char *who, const struct task *t)
{
    return who == ALL_PRINCIPALS || acls_allowed(m->acls, ACL_VIEW_TASKS, who, task_user(t));
}

static bool fw_visible(const struct master *m, const char *who, const struct framework *fw)
{
    return acls_allowed(m->acls, ACL_VIEW_FRAMEWORKS, who, fw->info->user);
}

/* fw's tasks that who may see appended to the three arrays of
 * /master/state and of the v1 GET_TASKS answer (v1: the operator API's
 * Task shape). */
static void fw_tasks_json(const struct master *m, const char *who, const struct framework *fw,
                          bool v1, json_t *tasks, json_t *unreachable, json_t *completed)
{
    struct task *t, *tmp;

    HASH_ITER (hh, fw->tasks, t, tmp) {
        bool gone = t->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE;
        if (task_visible(m, who, t))
            json_array_append_new(gone ? unreachable : tasks, task_json(t, v1));
    }
    for (size_t i = 0; i < fw->ncompleted; i++) {
        const struct task *c = fw->completed[(fw->completed_head + i) % MASTER_MAX_COMPLETED_TASKS];
        if (task_visible(m, who, c))
            json_array_append_new(completed, task_json(c, v1));
    }
}

static json_t *offer_json(const struct offer *o)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(o->id));
    json_object_set_new(j, "framework_id", json_string(o->fw->id));
    json_object_set_new(j, "slave_id", json_string(o->slave->id));
    json_object_set_new(j, "resources", res_to_json_summary(&o->res));
    return j;
}

static json_t *capabilities_json(const Mesos__V1__FrameworkInfo *info)
{
    json_t *a = json_array();
    for (size_t i = 0; i < info->n_capabilities; i++) {
        if (!info->capabilities[i]->has_type)
            continue;
        const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(
            &mesos__v1__framework_info__capability__type__descriptor,
            (int)info->capabilities[i]->type);
        if (v)
            json_array_append_new(a, json_string(v->name));
    }
    return a;
}

json_t *state_framework_json(struct master *m, struct framework *fw)
{
    const Mesos__V1__FrameworkInfo *fi = fw->info;
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(fw->id));
    json_object_set_new(j, "name", json_string(fi->name));
    json_object_set_new(j, "user", json_string(fi->user));
    json_object_set_new(j, "role", json_string(fw->role));
    json_t *roles = json_array();
    json_array_append_new(roles, json_string(fw->role));
    json_object_set_new(j, "roles", roles);
    json_object_set_new(j, "hostname", json_string(fi->hostname ? fi->hostname : ""));
    json_object_set_new(j, "webui_url", json_string(fi->webui_url ? fi->webui_url : ""));
    if (fi->principal)
        json_object_set_new(j, "principal", json_string(fi->principal));
    json_object_set_new(j, "failover_timeout",
                        json_real(fi->has_failover_timeout ? fi->failover_timeout : 0));
    json_object_set_new(j, "checkpoint", json_boolean(fi->has_checkpoint && fi->checkpoint));
    json_object_set_new(j, "capabilities", capabilities_json(fi));
    json_object_set_new(j, "active", json_boolean(fw->state == FW_STATE_ACTIVE));
    json_object_set_new(j, "connected", json_boolean(fw->state == FW_STATE_ACTIVE));
    json_object_set_new(j, "recovered", json_boolean(fw->state == FW_STATE_RECOVERED));
    json_object_set_new(j, "suppressed", json_boolean(fw->suppressed));
    json_object_set_new(j, "state", json_string(fw_state_name(fw->state)));
    json_object_set_new(j, "registered_time", json_real(fw->registered_time));
    json_object_set_new(j, "unregistered_time", json_real(fw->unregistered_time));
    struct resources all;
    res_init(&all);
    res_copy(&all, &fw->used);
    res_add(&all, &fw->offered);
    json_object_set_new(j, "resources", res_to_json_summary(&all));
    res_cleanup(&all);
    json_object_set_new(j, "used_resources", res_to_json_summary(&fw->used));
    json_object_set_new(j, "offered_resources", res_to_json_summary(&fw->offered));

    json_t *offers = json_array();
    struct offer *o;
    DL_FOREACH2 (fw->offers, o, fw_next)
        json_array_append_new(offers, offer_json(o));
    json_object_set_new(j, "offers", offers);
    json_object_set_new(j, "executors", json_array());
    json_object_set_new(j, "completed_executors", json_array());
    (void)m;
    if (state_streaming)
        return j; /* state_write_framework appends the task arrays */
    json_t *tasks = json_array(), *unreachable = json_array(), *completed = json_array();
    /* Only kept for completed_frameworks: every task, filtered per request
     * by completed_fw_view. */
    fw_tasks_json(m, ALL_PRINCIPALS, fw, false, tasks, unreachable, completed);
    json_object_set_new(j, "tasks", tasks);
    json_object_set_new(j, "unreachable_tasks", unreachable);
    json_object_set_new(j, "completed_tasks", completed);
    return j;
}

static json_t *slave_json(struct slave *s)
{
    json_t *j = json_object();
    json_object_set_new(j, "id", json_string(s->id));
    json_object_set_new(j, "pid", json_string(s->pid ? s->pid : ""));
    json_object_set_new(j, "hostname", json_string(s->hostname));
    json_object_set_new(j, "port", json_integer(s->port));
    json_object_set_new(j, "active", json_boolean(s->state == SLAVE_STATE_CONNECTED));
    json_object_set_new(j, "state", json_string(slave_state_name(s->state)));
    json_object_set_new(j, "registered_time", json_real(s->registered_time));
    if (s->reregistered_time > 0)
        json_object_set_new(j, "reregistered_time", json_real(s->reregistered_time));
    json_object_set_new(j, "resources", res_to_json_summary(&s->total));
    json_object_set_new(j, "used_resources", res_to_json_summary(&s->used));
    json_object_set_new(j, "offered_resources", res_to_json_summary(&s->offered));
    json_object_set_new(j, "unreserved_resources", res_to_json_summary(&s->total));
    json_object_set_new(j, "reserved_resources", json_object());
    json_object_set_new(j, "attributes", agent_attributes_json(s->info));
    json_object_set_new(j, "task_count", json_integer((json_int_t)s->ntasks));
    return j;
}

static json_t *flags_json(struct master *m)
{
    json_t *f = json_object();
    char buf[64];
    json_object_set_new(f, "ip", json_string(m->cfg.ip));
    snprintf(buf, sizeof(buf), "%d", m->cfg.port);
    json_object_set_new(f, "port", json_string(buf));
    json_object_set_new(f, "hostname", json_string(m->cfg.hostname));
    json_object_set_new(f, "work_dir", json_string(m->cfg.work_dir));
    snprintf(buf, sizeof(buf), "%gsecs", m->cfg.slave_ping_timeout);
    json_object_set_new(f, "slave_ping_timeout", json_string(buf));
    snprintf(buf, sizeof(buf), "%d", m->cfg.max_slave_ping_timeouts);
    json_object_set_new(f, "max_slave_ping_timeouts", json_string(buf));
    snprintf(buf, sizeof(buf), "%gsecs", m->cfg.offer_timeout);
    json_object_set_new(f, "offer_timeout", json_string(buf));
    snprintf(buf, sizeof(buf), "%gsecs", m->cfg.allocation_interval);
    json_object_set_new(f, "allocation_interval", json_string(buf));
    snprintf(buf, sizeof(buf), "%gsecs", m->cfg.allocation_batch);
    json_object_set_new(f, "allocation_batch", json_string(buf));
    snprintf(buf, sizeof(buf), "%gsecs", m->cfg.heartbeat_interval);
    json_object_set_new(f, "heartbeat_interval", json_string(buf));
    if (m->cfg.zk)
        json_object_set_new(f, "zk", json_string(m->cfg.zk));
    snprintf(buf, sizeof(buf), "%gsecs", m->cfg.zk_session_timeout);
    json_object_set_new(f, "zk_session_timeout", json_string(buf));
    snprintf(buf, sizeof(buf), "%gsecs", m->cfg.slave_reregister_timeout);
    json_object_set_new(f, "slave_reregister_timeout", json_string(buf));
    return f;
}

/* A completed framework (its state JSON with every task) as who may see
 * it: NULL when view_frameworks hides it, else with the tasks view_tasks
 * hides left out (by the "user" each task carries). */
static json_t *completed_fw_view(const struct master *m, const char *who, json_t *c)
{
    if (m->acls == NULL)
        return json_incref(c);
    if (!acls_allowed(m->acls, ACL_VIEW_FRAMEWORKS, who,
                      json_string_value(json_object_get(c, "user"))))
        return NULL;
    json_t *v = json_copy(c);
    static const char *const keys[] = { "tasks", "unreachable_tasks", "completed_tasks" };
    for (size_t k = 0; k < 3; k++) {
        json_t *in = json_object_get(c, keys[k]), *out = json_array(), *t;
        size_t i;
        json_array_foreach(in, i,
                           t) if (acls_allowed(m->acls, ACL_VIEW_TASKS, who,
                                               json_string_value(json_object_get(t, "user"))))
            json_array_append(out, t);
        json_object_set_new(v, keys[k], out);
    }
    return v;
}

static json_t *state_json(struct master *m, const char *who)
{
    json_t *j = json_object();
    json_object_set_new(j, "version", json_string(AGORA_VERSION));
    json_object_set_new(j, "id", json_string(m->id));
    json_object_set_new(j, "pid", json_string(m->pid));
    json_object_set_new(j, "hostname", json_string(m->cfg.hostname));
    json_object_set_new(j, "start_time", json_real(m->start_time));
    const char *lhost;
    int lport;
    json_t *linfo = NULL;
    if (m->leading) {
        json_object_set_new(j, "elected_time", json_real(m->elected_time));
        json_object_set_new(j, "leader", json_string(m->pid));
        json_object_set_new(j, "leader_info", pbjson_encode(&m->info->base));
    } else if (master_ha_leader(m, &lhost, &lport, &linfo)) {
        /* A standby tells who leads (as Mesos does), from ZooKeeper. */
        const char *pid = json_string_value(json_object_get(linfo, "pid"));
        json_object_set_new(j, "leader",
                            pid ? json_string(pid) : json_sprintf("master@%s:%d", lhost, lport));
        json_object_set_new(j, "leader_info", json_incref(linfo));
    }
    if (m->cfg.zk)
        json_object_set_new(j, "elected", json_boolean(m->leading));
    json_object_set_new(j, "registry_pending", json_boolean(registry_pending(m->registry)));
    json_object_set_new(j, "activated_slaves", json_integer((json_int_t)m->nslaves_connected));
    json_object_set_new(j, "deactivated_slaves",
                        json_integer((json_int_t)(HASH_COUNT(m->slaves) - m->nslaves_connected -
                                                  m->nslaves_unreachable)));
    json_object_set_new(j, "unreachable_slaves", json_integer((json_int_t)m->nslaves_unreachable));
    json_object_set_new(j, "flags", flags_json(m));

    if (!state_streaming) { /* else state_write_slaves writes them */
        json_t *slaves = json_array();
        struct slave *s, *stmp;
        HASH_ITER (hh, m->slaves, s, stmp)
            if (s->state != SLAVE_STATE_UNREACHABLE)
                json_array_append_new(slaves, slave_json(s));
        json_object_set_new(j, "slaves", slaves);
    }

    json_t *fws = json_array(), *unregistered = json_array();
    struct framework *fw, *ftmp;
    HASH_ITER (hh, m->frameworks, fw, ftmp) {
        if (!state_streaming)
            json_array_append_new(fws, state_framework_json(m, fw));
        if (fw->state == FW_STATE_RECOVERED)
            json_array_append_new(unregistered, json_string(fw->id));
    }
    if (state_streaming)
        json_decref(fws);
    else
        json_object_set_new(j, "frameworks", fws);
    json_object_set_new(j, "unregistered_frameworks", unregistered);
    json_t *completed = json_array();
    for (size_t i = 0; i < m->ncompleted_fw; i++) {
        json_t *v = completed_fw_view(
            m, who,
            m->completed_frameworks[(m->completed_fw_head + i) % MASTER_MAX_COMPLETED_FRAMEWORKS]);
        if (v)
            json_array_append_new(completed, v);
    }
    json_object_set_new(j, "completed_frameworks", completed);
    json_object_set_new(j, "orphan_tasks", json_array());
    return j;
}

/* ---- /master/state written as text ------------------------------------
 *
 * With 10,000 slaves and 100,000s of tasks, a jansson tree of the whole
 * state took seconds and GBs (a node per field of every task) and held the
 * loop meanwhile. The small parts are still built with jansson; slaves and
 * tasks, the bulk, are written straight into the reply buffer, each
 * framework's object being closed only after its task arrays. Same fields
 * as slave_json and state_task_json; a task with the rarer nested fields
 * (container status, labels, discovery, container) or any string beyond
 * ASCII goes through jansson. 10,000 slaves and 100,000 tasks (44 MB):
 * 2-4 s and +400 MB RSS before, 0.15-0.2 s now. */

/* One task's text is built in a flat buffer and added to the reply in one
 * evbuffer_add (an evbuffer call per field cost about half the time). */
struct sbuf {
    char *p;
    size_t len, cap;
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
}

#define SB_LIT(b, lit) sb_add((b), (lit), sizeof(lit) - 1)

static void sb_cstr(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* JSON string; false if s holds bytes beyond ASCII (the caller then takes
 * the jansson path, which validates UTF-8). */
static bool put_str(struct sbuf *b, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    SB_LIT(b, "\"");
    for (; *p; p++) {
        if (*p >= 0x80)
            return false;
        if (*p == '"' || *p == '\\') {
            char e[2] = { '\\', (char)*p };
            sb_add(b, e, 2);
        } else if (*p < 0x20) {
            char e[6] = { '\\', 'u', '0', '0', hex[*p >> 4], hex[*p & 15] };
            sb_add(b, e, 6);
        } else {
            size_t n = strcspn((const char *)p, "\"\\");
            size_t k = 0;
            while (k < n && p[k] >= 0x20 && p[k] < 0x80)
                k++;
            sb_add(b, (const char *)p, k);
            p += k - 1;
        }
    }
    SB_LIT(b, "\"");
    return true;
}

/* A real as jansson writes it (%.17g, always with a '.' or exponent). */
static void put_real(struct sbuf *b, double v)
{
    char buf[40];
    int n = snprintf(buf, sizeof(buf), "%.17g", v);
    if (!strpbrk(buf, ".eEn")) /* "n": nan/inf, which jansson refuses too */
        n += snprintf(buf + n, sizeof(buf) - (size_t)n, ".0");
    sb_add(b, buf, (size_t)n);
}

/* A timestamp in seconds with microseconds: %.17g (jansson's way) was a
 * tenth of the time of a large state, and no reader wants more digits. */
static void put_time(struct sbuf *b, double v)
{
    if (!(v >= 0 && v < 1e12)) {
        put_real(b, v);
        return;
    }
    long long us = llround(v * 1e6);
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "%lld.%06lld", us / 1000000, us % 1000000);
    sb_add(b, buf, (size_t)n);
}

static void put_json(struct evbuffer *b, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text)
        evbuffer_add(b, text, strlen(text));
    else
        evbuffer_add(b, "null", 4);
    free(text);
    json_decref(j);
}

/* Consecutive tasks mostly have the same resources: format them once. */
struct res_memo {
    struct resources res;
    char *text;
    struct sbuf sb; /* one task's text before it is kept */
};

static void put_task(struct evbuffer *out, const struct task *t, struct res_memo *memo)
{
    /* Nested messages (and the latest container status) take jansson. */
    bool nested = t->latest && t->latest->container_status;
    for (size_t i = 0; i < N_TASK_FIELDS && !nested; i++)
        nested = task_fields[i].state_key && task_fields[i].pb && task_fields[i].pb(t);
    if (nested) {
        put_json(out, state_task_json(t));
        return;
    }
    struct sbuf *b = &memo->sb;
    bool ok = true;
    const char *sep = "{";
    b->len = 0;
    for (size_t i = 0; i < N_TASK_FIELDS; i++) {
        const struct task_field *f = &task_fields[i];
        if (!f->state_key || f->kind == TF_PB || f->kind == TF_LABELS)
            continue;
        if (f->kind == TF_HEALTHY && !(t->latest && t->latest->has_healthy))
            continue;
        sb_cstr(b, sep);
        sep = ",";
        SB_LIT(b, "\"");
        sb_cstr(b, f->state_key);
        SB_LIT(b, "\":");
        switch (f->kind) {
        case TF_STR:
            ok = ok && put_str(b, f->str(t));
            break;
        case TF_STATE:
            SB_LIT(b, "\"");
            sb_cstr(b, task_state_name(t->state));
            SB_LIT(b, "\"");
            break;
        case TF_RES:
            if (!memo->text || !res_equal(&memo->res, &t->res)) {
                res_cleanup(&memo->res);
                res_copy(&memo->res, &t->res);
                free(memo->text);
                json_t *rj = res_to_json_summary(&t->res);
                memo->text = json_dumps(rj, JSON_COMPACT);
                json_decref(rj);
            }
            sb_cstr(b, memo->text);
            break;
        case TF_STATUSES:
            SB_LIT(b, "[");
            for (size_t k = 0; k < t->nstatuses; k++) {
                if (k)
                    SB_LIT(b, ",");
                SB_LIT(b, "{\"state\":\"");
                sb_cstr(b, task_state_name(t->statuses[k].state));
                SB_LIT(b, "\",\"timestamp\":");
                put_time(b, t->statuses[k].timestamp);
                if (k + 1 == t->nstatuses && t->latest && t->latest->has_healthy)
                    sb_cstr(b, t->latest->healthy ? ",\"healthy\":true" : ",\"healthy\":false");
                SB_LIT(b, "}");
            }
            SB_LIT(b, "]");
            break;
        case TF_HEALTHY:
            sb_cstr(b, t->latest->healthy ? "true" : "false");
            break;
        case TF_PB:
        case TF_LABELS:
            break;
        }
    }
    SB_LIT(b, "}");
    if (ok)
        evbuffer_add(out, b->p, b->len);
    else
        put_json(out, state_task_json(t));
}

/* Resource summaries of slaves repeat (equal machines, idle slaves): a few
 * recent ones are kept formatted. */
#define RES_CACHE_N 8
struct res_cache {
    struct resources res[RES_CACHE_N];
    char *text[RES_CACHE_N];
    size_t next;
};

static const char *res_text(struct res_cache *c, const struct resources *r)
{
    for (size_t i = 0; i < RES_CACHE_N; i++)
        if (c->text[i] && res_equal(&c->res[i], r))
            return c->text[i];
    size_t i = c->next++ % RES_CACHE_N;
    res_cleanup(&c->res[i]);
    free(c->text[i]);
    res_copy(&c->res[i], r);
    json_t *j = res_to_json_summary(r);
    c->text[i] = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return c->text[i] ? c->text[i] : "{}";
}

/* Same fields as slave_json. */
static void put_slave(struct evbuffer *out, struct slave *s, struct res_cache *rc, struct sbuf *b)
{
    char num[64];
    bool ok = true;
    b->len = 0;
    SB_LIT(b, "{\"id\":");
    ok = ok && put_str(b, s->id);
    SB_LIT(b, ",\"pid\":");
    ok = ok && put_str(b, s->pid ? s->pid : "");
    SB_LIT(b, ",\"hostname\":");
    ok = ok && put_str(b, s->hostname);
    int n = snprintf(num, sizeof(num), ",\"port\":%d,\"active\":%s,\"state\":\"", s->port,
                     s->state == SLAVE_STATE_CONNECTED ? "true" : "false");
    sb_add(b, num, (size_t)n);
    sb_cstr(b, slave_state_name(s->state));
    SB_LIT(b, "\",\"registered_time\":");
    put_time(b, s->registered_time);
    if (s->reregistered_time > 0) {
        SB_LIT(b, ",\"reregistered_time\":");
        put_time(b, s->reregistered_time);
    }
    const char *total = res_text(rc, &s->total);
    SB_LIT(b, ",\"resources\":");
    sb_cstr(b, total);
    SB_LIT(b, ",\"used_resources\":");
    sb_cstr(b, res_text(rc, &s->used));
    SB_LIT(b, ",\"offered_resources\":");
    sb_cstr(b, res_text(rc, &s->offered));
    SB_LIT(b, ",\"unreserved_resources\":");
    sb_cstr(b, res_text(rc, &s->total));
    SB_LIT(b, ",\"reserved_resources\":{},\"attributes\":");
    if (s->info && s->info->n_attributes) {
        json_t *a = agent_attributes_json(s->info);
        char *text = json_dumps(a, JSON_COMPACT);
        sb_cstr(b, text ? text : "{}");
        free(text);
        json_decref(a);
    } else {
        SB_LIT(b, "{}");
    }
    n = snprintf(num, sizeof(num), ",\"task_count\":%zu}", s->ntasks);
    sb_add(b, num, (size_t)n);
    if (ok)
        evbuffer_add(out, b->p, b->len);
    else
        put_json(out, slave_json(s));
}

static void state_write_slaves(struct master *m, struct evbuffer *out, struct sbuf *b)
{
    struct res_cache rc;
    memset(&rc, 0, sizeof(rc));
    for (size_t i = 0; i < RES_CACHE_N; i++)
        res_init(&rc.res[i]);
    evbuffer_add(out, ",\"slaves\":[", 11);
    const char *sep = "";
    struct slave *s, *stmp;
    HASH_ITER (hh, m->slaves, s, stmp) {
        if (s->state == SLAVE_STATE_UNREACHABLE)
            continue;
        evbuffer_add(out, sep, strlen(sep));
        put_slave(out, s, &rc, b);
        sep = ",";
    }
    evbuffer_add(out, "]", 1);
    for (size_t i = 0; i < RES_CACHE_N; i++) {
        res_cleanup(&rc.res[i]);
        free(rc.text[i]);
    }
}

/* Append j's text without its closing brace (j is a non-empty object). */
static void put_open_object(struct evbuffer *b, json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT);
    size_t n = text ? strlen(text) : 0;
    if (n >= 2 && text[n - 1] == '}')
        evbuffer_add(b, text, n - 1);
    else
        evbuffer_add(b, "{\"error\":null", 13);
    free(text);
    json_decref(j);
}

static void state_write_framework(struct master *m, struct evbuffer *b, struct framework *fw,
                                  struct res_memo *memo, const char *who)
{
    put_open_object(b, state_framework_json(m, fw));
    const char *sep = "";
    struct task *t, *tmp;
    evbuffer_add(b, ",\"tasks\":[", 10);
    HASH_ITER (hh, fw->tasks, t, tmp)
        if (t->state != MESOS__V1__TASK_STATE__TASK_UNREACHABLE && task_visible(m, who, t)) {
            evbuffer_add(b, sep, strlen(sep));
            put_task(b, t, memo);
            sep = ",";
        }
    evbuffer_add(b, "],\"unreachable_tasks\":[", 23);
    sep = "";
    HASH_ITER (hh, fw->tasks, t, tmp)
        if (t->state == MESOS__V1__TASK_STATE__TASK_UNREACHABLE && task_visible(m, who, t)) {
            evbuffer_add(b, sep, strlen(sep));
            put_task(b, t, memo);
            sep = ",";
        }
    evbuffer_add(b, "],\"completed_tasks\":[", 21);
    sep = "";
    for (size_t i = 0; i < fw->ncompleted; i++) {
        const struct task *ct =
            fw->completed[(fw->completed_head + i) % MASTER_MAX_COMPLETED_TASKS];
        if (!task_visible(m, who, ct))
            continue;
        evbuffer_add(b, sep, strlen(sep));
        put_task(b, ct, memo);
        sep = ",";
    }
    evbuffer_add(b, "]}", 2);
}

void http_state_handle_state(struct rest_req *rq)
{
    struct evhttp_request *req = rq->req;
    struct master *m = rq->arg;
    struct evbuffer *b = evbuffer_new();
    struct res_memo memo;
    res_init(&memo.res);
    memo.text = NULL;
    memo.sb.p = NULL;
    memo.sb.len = memo.sb.cap = 0;
    state_streaming = true;
    put_open_object(b, state_json(m, rq->principal));
    state_write_slaves(m, b, &memo.sb);
    evbuffer_add(b, ",\"frameworks\":[", 15);
    struct framework *fw, *ftmp;
    const char *sep = "";
    HASH_ITER (hh, m->frameworks, fw, ftmp) {
        /* --acls view_frameworks: only the frameworks this principal may see. */
        if (!fw_visible(m, rq->principal, fw))
            continue;
        evbuffer_add(b, sep, strlen(sep));
        state_write_framework(m, b, fw, &memo, rq->principal);
        sep = ",";
    }
    evbuffer_add(b, "]}", 2);
    state_streaming = false;
    res_cleanup(&memo.res);
    free(memo.text);
    free(memo.sb.p);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    evhttp_send_reply(req, 200, NULL, b);
    evbuffer_free(b);
}

void http_state_handle_redirect(struct rest_req *rq)
{
    struct evhttp_request *req = rq->req;
    struct master *m = rq->arg;
    const char *lhost;
    int lport;
    if (!m->leading && master_ha_leader(m, &lhost, &lport, NULL)) {
        char *loc = xasprintf("//%s:%d", lhost, lport);
        http_add_header(req, "Location", loc);
        free(loc);
        http_reply(req, 307, "text/plain", "", 0);
        return;
    }
    if (!m->leading) {
        rest_error(rq, 503, "No leader elected");
        return;
    }
    /* The address clients can surely reach: --hostname when given, else the
   * listening IP (the system hostname may not resolve to it). */
    const char *host =
        m->hostname_given || strcmp(m->cfg.ip, "0.0.0.0") == 0 ? m->cfg.hostname : m->cfg.ip;
    char *loc = xasprintf("//%s:%d", host, m->cfg.port);
    http_add_header(req, "Location", loc);
    free(loc);
    http_reply(req, 307, "text/plain", "", 0);
}

/* The Mesos-style metrics snapshot: {"master/cpus_total": 4.0, ...}. */
static json_t *metrics_snapshot(struct master *m)
{
    json_t *j = json_object();
    struct resources total, used, offered;
    res_init(&total);
    res_init(&used);
    res_init(&offered);
    struct slave *s, *stmp;
    HASH_ITER (hh, m->slaves, s, stmp) {
        if (s->state == SLAVE_STATE_UNREACHABLE)
            continue;
        res_add(&total, &s->total);
        res_add(&used, &s->used);
        res_add(&offered, &s->offered);
    }
    static const char *const names[] = { "cpus", "mem", "disk", "gpus" };
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        char key[64];
        double t = res_scalar(&total, names[i]);
        double u = res_scalar(&used, names[i]) + res_scalar(&offered, names[i]);
        snprintf(key, sizeof(key), "master/%s_total", names[i]);
        json_object_set_new(j, key, json_real(t));
        snprintf(key, sizeof(key), "master/%s_used", names[i]);
        json_object_set_new(j, key, json_real(u));
        snprintf(key, sizeof(key), "master/%s_percent", names[i]);
        json_object_set_new(j, key, json_real(t > 0 ? u / t : 0));
    }
    res_cleanup(&total);
    res_cleanup(&used);
    res_cleanup(&offered);
    size_t nfw = HASH_COUNT(m->frameworks);
    size_t nslaves = HASH_COUNT(m->slaves);
    json_object_set_new(j, "master/elected", json_real(m->leading ? 1 : 0));
    json_object_set_new(j, "master/uptime_secs", json_real(time_now() - m->start_time));
    json_object_set_new(j, "master/frameworks_active", json_real((double)m->nframeworks_active));
    json_object_set_new(j, "master/frameworks_inactive",
                        json_real((double)(nfw - m->nframeworks_active)));
    json_object_set_new(j, "master/frameworks_connected", json_real((double)m->nframeworks_active));
    json_object_set_new(j, "master/frameworks_disconnected",
                        json_real((double)(nfw - m->nframeworks_active)));
    json_object_set_new(j, "master/slaves_active", json_real((double)m->nslaves_connected));
    json_object_set_new(j, "master/slaves_connected", json_real((double)m->nslaves_connected));
    json_object_set_new(j, "master/slaves_inactive",
                        json_real((double)(nslaves - m->nslaves_connected)));
    json_object_set_new(
        j, "master/slaves_disconnected",
        json_real((double)(nslaves - m->nslaves_connected - m->nslaves_unreachable)));
    json_object_set_new(j, "master/slaves_unreachable", json_real((double)m->nslaves_unreachable));
    json_object_set_new(j, "master/outstanding_offers", json_real((double)HASH_COUNT(m->offers)));
    for (int st = 0; st < 14; st++) {
        const char *name = task_state_name((Mesos__V1__TaskState)st);
        if (strncmp(name, "TASK_", 5) != 0)
            continue;
        char key[64];
        size_t off = (size_t)snprintf(key, sizeof(key), "master/tasks_");
        for (const char *p = name + 5; *p && off < sizeof(key) - 1; p++)
            key[off++] = (char)(*p >= 'A' && *p <= 'Z' ? *p + 32 : *p);
        key[off] = '\0';
        json_object_set_new(j, key, json_real((double)m->task_counts[st]));
    }
    struct alloc_stats as;
    alloc_get_stats(m->alloc, &as);
    json_object_set_new(j, "allocator/allocation_runs", json_real((double)as.cycles));
    json_object_set_new(j, "allocator/allocation_run_ms", json_real(as.last_cycle_ms));
    json_object_set_new(j, "master/messages_status_update",
                        json_real(metric_value(m->metrics.status_updates)));
    json_object_set_new(j, "master/tasks_launched",
                        json_real(metric_value(m->metrics.tasks_launched)));
    json_object_set_new(j, "master/invalid_calls",
                        json_real(metric_value(m->metrics.invalid_calls)));
    return j;
}

void http_state_handle_metrics_snapshot(struct rest_req *rq)
{
    http_reply_json(rq->req, 200, metrics_snapshot(rq->arg));
}

/* ------------------------------------------------------- operator API v1 */

static json_t *nanos(double secs)
{
    return json_pack("{s:I}", "nanoseconds", (json_int_t)(secs * 1e9));
}

json_t *v1_task_json(const struct task *t)
{
    return task_json(t, true);
}

json_t *v1_framework_json(const struct framework *fw)
{
    json_t *j = json_object();
    json_object_set_new(j, "framework_info", pbjson_encode(&fw->info->base));
    json_object_set_new(j, "active", json_boolean(fw->state == FW_STATE_ACTIVE));
    json_object_set_new(j, "connected", json_boolean(fw->state == FW_STATE_ACTIVE));
    json_object_set_new(j, "recovered", json_boolean(fw->state == FW_STATE_RECOVERED));
    json_object_set_new(j, "registered_time", nanos(fw->registered_time));
    if (fw->unregistered_time > 0)
        json_object_set_new(j, "unregistered_time", nanos(fw->unregistered_time));
    json_object_set_new(j, "allocated_resources", res_to_json_array(&fw->used));
    json_object_set_new(j, "offered_resources", res_to_json_array(&fw->offered));
    return j;
}

json_t *v1_agent_json(const struct slave *s)
{
    json_t *j = json_object();
    json_object_set_new(j, "agent_info", pbjson_encode(&s->info->base));
    json_object_set_new(j, "active", json_boolean(s->state == SLAVE_STATE_CONNECTED));
    json_object_set_new(j, "version", json_string(AGORA_VERSION));
    json_object_set_new(j, "pid", json_string(s->pid ? s->pid : ""));
    json_object_set_new(j, "registered_time", nanos(s->registered_time));
    if (s->reregistered_time > 0)
        json_object_set_new(j, "reregistered_time", nanos(s->reregistered_time));
    json_object_set_new(j, "total_resources", res_to_json_array(&s->total));
    json_object_set_new(j, "allocated_resources", res_to_json_array(&s->used));
    json_object_set_new(j, "offered_resources", res_to_json_array(&s->offered));
    return j;
}

static json_t *v1_get_tasks(struct master *m, const char *who)
{
    json_t *tasks = json_array(), *unreachable = json_array(), *completed = json_array();
    struct framework *fw, *ftmp;
    HASH_ITER (hh, m->frameworks, fw, ftmp)
        fw_tasks_json(m, who, fw, true, tasks, unreachable, completed);
    return json_pack("{s:o, s:o, s:o, s:[], s:[]}", "tasks", tasks, "unreachable_tasks",
                     unreachable, "completed_tasks", completed, "pending_tasks", "orphan_tasks");
}

static json_t *v1_get_frameworks(struct master *m, const char *who)
{
    json_t *fws = json_array(), *recovered = json_array(), *completed = json_array();
    struct framework *fw, *ftmp;
    HASH_ITER (hh, m->frameworks, fw, ftmp)
        if (fw_visible(m, who, fw))
            json_array_append_new(fw->state == FW_STATE_RECOVERED ? recovered : fws,
                                  v1_framework_json(fw));
    for (size_t i = 0; i < m->ncompleted_fw; i++) {
        json_t *c =
            m->completed_frameworks[(m->completed_fw_head + i) % MASTER_MAX_COMPLETED_FRAMEWORKS];
        if (!acls_allowed(m->acls, ACL_VIEW_FRAMEWORKS, who,
                          json_string_value(json_object_get(c, "user"))))
            continue;
        json_array_append_new(completed,
                              json_pack("{s:{s:{s:O}, s:O, s:O}, s:b, s:b}", "framework_info", "id",
                                        "value", json_object_get(c, "id"), "name",
                                        json_object_get(c, "name"), "user",
                                        json_object_get(c, "user"), "active", 0, "connected", 0));
    }
    return json_pack("{s:o, s:o, s:o}", "frameworks", fws, "completed_frameworks", completed,
                     "recovered_frameworks", recovered);
}

static json_t *v1_get_agents(struct master *m)
{
    json_t *agents = json_array(), *unreachable = json_array();
    struct slave *s, *stmp;
    HASH_ITER (hh, m->slaves, s, stmp) {
        if (s->state == SLAVE_STATE_UNREACHABLE) {
            json_array_append_new(unreachable, pbjson_encode(&s->info->base));
            continue;
        }
        json_array_append_new(agents, v1_agent_json(s));
    }
    return json_pack("{s:o, s:[], s:o}", "agents", agents, "recovered_agents", "unreachable_agents",
                     unreachable);
}

/* GET_FLAGS: the master's flags with their current values. */
static json_t *v1_get_flags(const struct master *m)
{
    json_t *flags = json_array();
    for (size_t i = 0; i < m->cfg.nflags; i++) {
        char *v = flags_value_text(&m->cfg.flags[i]);
        json_t *f = json_pack("{s:s}", "name", m->cfg.flags[i].name);
        if (v)
            json_object_set_new(f, "value", json_string(v));
        json_array_append_new(flags, f);
        free(v);
    }
    static const char *const levels[] = { "debug", "info", "warn", "error" };
    enum log_level lv = log_get_level();
    if ((size_t)lv < sizeof(levels) / sizeof(levels[0]))
        json_array_append_new(flags,
                              json_pack("{s:s, s:s}", "name", "log_level", "value", levels[lv]));
    return json_pack("{s:o}", "flags", flags);
}

/* GET_METRICS: the snapshot as Mesos's repeated Metric {name, value}. */
static json_t *v1_get_metrics(struct master *m)
{
    json_t *snap = metrics_snapshot(m), *metrics = json_array(), *v;
    const char *key;
    json_object_foreach(snap, key, v) json_array_append_new(
        metrics, json_pack("{s:s, s:f}", "name", key, "value", json_number_value(v)));
    json_decref(snap);
    return json_pack("{s:o}", "metrics", metrics);
}

/* GET_ROLES: every role with a framework, its frameworks and what they
 * use; weights are all 1 (Agora has no weights). */
static json_t *v1_get_roles(struct master *m)
{
    json_t *byname = json_object();
    struct framework *fw, *ftmp;
    HASH_ITER (hh, m->frameworks, fw, ftmp) {
        json_t *r = json_object_get(byname, fw->role);
        if (!r) {
            r = json_pack("{s:s, s:f, s:[]}", "name", fw->role, "weight", 1.0, "frameworks");
            json_object_set_new(byname, fw->role, r);
        }
        json_array_append_new(json_object_get(r, "frameworks"),
                              json_pack("{s:s}", "value", fw->id));
    }
    json_t *roles = json_array(), *r;
    const char *name;
    json_object_foreach(byname, name, r)
    {
        struct resources used;
        res_init(&used);
        HASH_ITER (hh, m->frameworks, fw, ftmp)
            if (strcmp(fw->role, name) == 0)
                res_add(&used, &fw->used);
        json_object_set_new(r, "resources", res_to_json_array(&used));
        res_cleanup(&used);
        json_array_append(roles, r);
    }
    json_decref(byname);
    return json_pack("{s:o}", "roles", roles);
}

static json_t *v1_get_state_for(struct master *m, const char *who)
{
    return json_pack("{s:o, s:{s:[], s:[]}, s:o, s:o}", "get_tasks", v1_get_tasks(m, who),
                     "get_executors", "executors", "orphan_executors", "get_frameworks",
                     v1_get_frameworks(m, who), "get_agents", v1_get_agents(m));
}

json_t *v1_get_state_json(struct master *m, const char *who)
{
    return v1_get_state_for(m, who);
}

/* TEARDOWN: remove a framework and kill its tasks, if --acls'
 * teardown_frameworks lets the caller do it to that framework's principal. */
static void operator_teardown(struct master *m, struct rest_req *rq, const json_t *call)
{
    const char *id = json_string_value(json_object_get(
        json_object_get(json_object_get(call, "teardown"), "framework_id"), "value"));
    if (!id) {
        rest_error(rq, 400,
                   "Failed to validate master::Call: Expecting 'teardown.framework_id.value'");
        return;
    }
    struct framework *fw = fw_find(m, id);
    if (!fw) {
        rest_error(rq, 400, "No framework found with specified ID '%s'", id);
        return;
    }
    if (!master_authorized(m, ACL_TEARDOWN_FRAMEWORKS, rq->principal, fw->info->principal)) {
        rest_error(rq, 403, "Not authorized to tear down framework %s", id);
        return;
    }
    log_info("framework %s torn down by the operator (principal %s)", id,
             rq->principal ? rq->principal : "none");
    fw_remove(m, fw, "torn down by the operator");
    http_reply(rq->req, 200, NULL, NULL, 0);
}

void http_state_handle_operator(struct rest_req *rq)
{
    struct evhttp_request *req = rq->req;
    struct master *m = rq->arg;
    json_t *call = NULL;
    enum master_enc enc;
    bool recordio;
    if (master_negotiate_accept(req, &enc, &recordio) != 0 || recordio) {
        rest_error(rq, 406, "Expecting 'Accept' to allow application/json");
        return;
    }
    size_t len;
    const char *body = http_req_body(req, &len);
    if (rq->consumed == 1) {
        /* A protobuf mesos.v1.master.Call: the calls served read only its
         * type, so go on with its JSON form. */
        ProtobufCMessage *pb = protobuf_c_message_unpack(&mesos__v1__master__call__descriptor, NULL,
                                                         len, (const uint8_t *)body);
        if (!pb) {
            rest_error(rq, 400, "Failed to parse body into Call: not a protobuf master::Call");
            goto out;
        }
        call = pbjson_encode(pb);
        protobuf_c_message_free_unpacked(pb, NULL);
    } else {
        json_error_t jerr;
        call = json_loadb(body, len, 0, &jerr);
        if (!call || !json_is_object(call)) {
            rest_error(rq, 400, "Failed to parse body into Call: %s",
                       call ? "expected a JSON object" : jerr.text);
            goto out;
        }
    }
    const char *type = json_string_value(json_object_get(call, "type"));
    if (!type) {
        rest_error(rq, 400, "Failed to validate master::Call: Expecting 'type' to be present");
        goto out;
    }
    if (enc != ENC_JSON && strcmp(type, "SUBSCRIBE") != 0) {
        /* Only the event stream is also served as protobuf. */
        rest_error(rq, 406, "Expecting 'Accept' to allow application/json");
        goto out;
    }
    json_t *resp = NULL;
    if (strcmp(type, "GET_HEALTH") == 0) {
        resp = json_pack("{s:s, s:{s:b}}", "type", type, "get_health", "healthy", 1);
    } else if (strcmp(type, "GET_VERSION") == 0) {
        resp = json_pack("{s:s, s:{s:{s:s}}}", "type", type, "get_version", "version_info",
                         "version", AGORA_VERSION);
    } else if (strcmp(type, "GET_MASTER") == 0) {
        resp = json_pack("{s:s, s:{s:o, s:f, s:f}}", "type", type, "get_master", "master_info",
                         pbjson_encode(&m->info->base), "start_time", m->start_time, "elected_time",
                         m->elected_time);
    } else if (strcmp(type, "GET_FLAGS") == 0) {
        resp = json_pack("{s:s, s:o}", "type", type, "get_flags", v1_get_flags(m));
    } else if (strcmp(type, "GET_METRICS") == 0) {
        resp = json_pack("{s:s, s:o}", "type", type, "get_metrics", v1_get_metrics(m));
    } else if (strcmp(type, "GET_ROLES") == 0) {
        resp = json_pack("{s:s, s:o}", "type", type, "get_roles", v1_get_roles(m));
    } else if (strcmp(type, "GET_LOGGING_LEVEL") == 0) {
        /* glog verbosity as Mesos reports it: 0, or 1 while logging debug. */
        resp = json_pack("{s:s, s:{s:i}}", "type", type, "get_logging_level", "level",
                         log_get_level() <= LOG_LVL_DEBUG ? 1 : 0);
    } else if (strcmp(type, "GET_AGENTS") == 0) {
        resp = json_pack("{s:s, s:o}", "type", type, "get_agents", v1_get_agents(m));
    } else if (strcmp(type, "GET_FRAMEWORKS") == 0) {
        resp = json_pack("{s:s, s:o}", "type", type, "get_frameworks",
                         v1_get_frameworks(m, rq->principal));
    } else if (strcmp(type, "GET_TASKS") == 0) {
        resp = json_pack("{s:s, s:o}", "type", type, "get_tasks", v1_get_tasks(m, rq->principal));
    } else if (strcmp(type, "GET_STATE") == 0) {
        resp =
            json_pack("{s:s, s:o}", "type", type, "get_state", v1_get_state_for(m, rq->principal));
    } else if (strcmp(type, "SUBSCRIBE") == 0) {
        op_stream_subscribe(m, rq, enc);
        goto out;
    } else if (strcmp(type, "TEARDOWN") == 0) {
        operator_teardown(m, rq, call);
        goto out;
    } else {
        rest_error(rq, 400, "Failed to validate master::Call: unsupported 'type' '%s'", type);
        goto out;
    }
    http_reply_json(req, 200, resp);
out:
    json_decref(call);
}
