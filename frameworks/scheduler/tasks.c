/*
 * tasks: helpers frameworks use between an offer and a launch — building
 * TaskInfo messages, packing tasks into what is left of an offer (on top
 * of common/resources.c), and task state names.
 *
 * Every TaskInfo built here is allocated field by field with xmalloc, so
 * protobuf-c's free_unpacked with the default allocator frees it whole.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "agora/scheduler.h"
#include "mem.h"
#include "resources.h"
#include "task_state.h"

/* ------------------------------------------------------------ TaskInfo */

/* Resource.role is deprecated in Mesos in favour of reservations, but it
 * is what frameworks without RESERVATION_REFINEMENT send (and what
 * common/resources.c reads), so it is touched only through these two. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static const char *res_pb_role(const Mesos__V1__Resource *r)
{
    return r->role ? r->role : "*";
}

static void res_pb_set_role(Mesos__V1__Resource *r, const char *role)
{
    /* The default "*" is protobuf-c's static string: never free it. */
    if (r->role != mesos__v1__resource__role__default_value)
        free(r->role);
    r->role =
        role && strcmp(role, "*") != 0 ? xstrdup(role) : mesos__v1__resource__role__default_value;
}
#pragma GCC diagnostic pop

static Mesos__V1__Resource *task_resource_new(const char *name, const char *role,
                                              Mesos__V1__Value__Type type)
{
    Mesos__V1__Resource *r = xmalloc(sizeof(*r));

    mesos__v1__resource__init(r);
    r->name = xstrdup(name);
    r->type = type;
    res_pb_set_role(r, role);
    return r;
}

static void task_append_resource(Mesos__V1__TaskInfo *t, Mesos__V1__Resource *r)
{
    t->resources = xrealloc(t->resources, (t->n_resources + 1) * sizeof(*t->resources));
    t->resources[t->n_resources++] = r;
}

static bool task_role_is(const Mesos__V1__Resource *r, const char *role)
{
    return strcmp(res_pb_role(r), role ? role : "*") == 0;
}

/* The role new resources of t get: that of its first resource, so that
 * agora_task_set_role() before or after adding gives the same result. */
static const char *task_role(const Mesos__V1__TaskInfo *t)
{
    return t->n_resources ? res_pb_role(t->resources[0]) : "*";
}

void agora_task_add_scalar(Mesos__V1__TaskInfo *t, const char *name, double value)
{
    const char *role;

    if (!t || !name || value <= 0)
        return;
    role = task_role(t);
    for (size_t i = 0; i < t->n_resources; i++) {
        Mesos__V1__Resource *r = t->resources[i];
        if (r->type == MESOS__V1__VALUE__TYPE__SCALAR && r->scalar && strcmp(r->name, name) == 0 &&
            task_role_is(r, role)) {
            /* Mesos keeps three decimals; so do we, to compare like the master. */
            r->scalar->value = round((r->scalar->value + value) * 1000.0) / 1000.0;
            return;
        }
    }
    Mesos__V1__Resource *r = task_resource_new(name, role, MESOS__V1__VALUE__TYPE__SCALAR);
    r->scalar = xmalloc(sizeof(*r->scalar));
    mesos__v1__value__scalar__init(r->scalar);
    r->scalar->value = round(value * 1000.0) / 1000.0;
    task_append_resource(t, r);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

void agora_task_add_ports(Mesos__V1__TaskInfo *t, const uint64_t *ports, size_t n)
{
    Mesos__V1__Resource *r = NULL;
    uint64_t *all = NULL;
    size_t nall = 0, i;

    if (!t || !ports || n == 0)
        return;
    for (i = 0; i < t->n_resources; i++) {
        if (t->resources[i]->type == MESOS__V1__VALUE__TYPE__RANGES &&
            strcmp(t->resources[i]->name, "ports") == 0) {
            r = t->resources[i];
            break;
        }
    }
    /* Collect existing and new ports, then rewrite the ranges coalesced. */
    if (r && r->ranges)
        for (i = 0; i < r->ranges->n_range; i++)
            nall += r->ranges->range[i]->end - r->ranges->range[i]->begin + 1;
    all = xmalloc((nall + n) * sizeof(*all));
    nall = 0;
    if (r && r->ranges) {
        for (i = 0; i < r->ranges->n_range; i++)
            for (uint64_t p = r->ranges->range[i]->begin; p <= r->ranges->range[i]->end; p++)
                all[nall++] = p;
        protobuf_c_message_free_unpacked(&r->ranges->base, NULL);
        r->ranges = NULL;
    }
    memcpy(all + nall, ports, n * sizeof(*all));
    nall += n;
    qsort(all, nall, sizeof(*all), cmp_u64);
    if (!r) {
        r = task_resource_new("ports", task_role(t), MESOS__V1__VALUE__TYPE__RANGES);
        task_append_resource(t, r);
    }
    r->ranges = xmalloc(sizeof(*r->ranges));
    mesos__v1__value__ranges__init(r->ranges);
    for (i = 0; i < nall; i++) {
        Mesos__V1__Value__Ranges *rs = r->ranges;
        if (rs->n_range && all[i] <= rs->range[rs->n_range - 1]->end + 1) {
            if (all[i] > rs->range[rs->n_range - 1]->end)
                rs->range[rs->n_range - 1]->end = all[i];
            continue;
        }
        Mesos__V1__Value__Range *rg = xmalloc(sizeof(*rg));
        mesos__v1__value__range__init(rg);
        rg->begin = rg->end = all[i];
        rs->range = xrealloc(rs->range, (rs->n_range + 1) * sizeof(*rs->range));
        rs->range[rs->n_range++] = rg;
    }
    free(all);
}

void agora_task_set_env(Mesos__V1__TaskInfo *t, const char *name, const char *value)
{
    Mesos__V1__Environment *env;
    Mesos__V1__Environment__Variable *v;

    if (!t || !t->command || !name)
        return;
    if (!t->command->environment) {
        t->command->environment = xmalloc(sizeof(*t->command->environment));
        mesos__v1__environment__init(t->command->environment);
    }
    env = t->command->environment;
    for (size_t i = 0; i < env->n_variables; i++) {
        if (strcmp(env->variables[i]->name, name) == 0) {
            free(env->variables[i]->value);
            env->variables[i]->value = xstrdup(value ? value : "");
            return;
        }
    }
    v = xmalloc(sizeof(*v));
    mesos__v1__environment__variable__init(v);
    v->name = xstrdup(name);
    v->value = xstrdup(value ? value : "");
    env->variables = xrealloc(env->variables, (env->n_variables + 1) * sizeof(*env->variables));
    env->variables[env->n_variables++] = v;
}

void agora_task_set_role(Mesos__V1__TaskInfo *t, const char *role)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n_resources; i++)
        res_pb_set_role(t->resources[i], role);
}

Mesos__V1__TaskInfo *agora_task_new(const char *name, const char *task_id, const char *agent_id,
                                    const char *cmd, double cpus, double mem)
{
    Mesos__V1__TaskInfo *t;

    if (!task_id || !*task_id)
        return NULL;
    t = xmalloc(sizeof(*t));
    mesos__v1__task_info__init(t);
    t->name = xstrdup(name && *name ? name : task_id);
    t->task_id = xmalloc(sizeof(*t->task_id));
    mesos__v1__task_id__init(t->task_id);
    t->task_id->value = xstrdup(task_id);
    if (agent_id) {
        t->agent_id = xmalloc(sizeof(*t->agent_id));
        mesos__v1__agent_id__init(t->agent_id);
        t->agent_id->value = xstrdup(agent_id);
    }
    if (cmd) {
        t->command = xmalloc(sizeof(*t->command));
        mesos__v1__command_info__init(t->command);
        t->command->has_shell = 1;
        t->command->shell = 1;
        t->command->value = xstrdup(cmd);
    }
    agora_task_add_scalar(t, "cpus", cpus);
    agora_task_add_scalar(t, "mem", mem);
    return t;
}

void agora_task_free(Mesos__V1__TaskInfo *t)
{
    if (t)
        mesos__v1__task_info__free_unpacked(t, NULL);
}

/* ------------------------------------------------------------ packing */

struct agora_resources {
    struct resources r;
};

struct agora_resources *agora_resources_from_offer(const Mesos__V1__Offer *offer, char **err)
{
    struct agora_resources *ar;
    char *e = NULL;

    if (!offer) {
        if (err)
            *err = xstrdup("offer: NULL");
        return NULL;
    }
    ar = xmalloc(sizeof(*ar));
    res_init(&ar->r);
    if (res_from_pb(offer->resources, offer->n_resources, &ar->r, &e) < 0) {
        res_cleanup(&ar->r);
        free(ar);
        if (err)
            *err = e;
        else
            free(e);
        return NULL;
    }
    return ar;
}

/* A task's resources as a struct resources; -1 if malformed. */
static int task_resources(const Mesos__V1__TaskInfo *t, struct resources *out)
{
    char *e = NULL;

    res_init(out);
    if (!t || res_from_pb(t->resources, t->n_resources, out, &e) < 0) {
        free(e);
        res_cleanup(out);
        return -1;
    }
    return 0;
}

bool agora_resources_fits(const struct agora_resources *ar, const Mesos__V1__TaskInfo *t)
{
    struct resources need;
    bool ok;

    if (!ar || task_resources(t, &need) < 0)
        return false;
    ok = res_contains(&ar->r, &need);
    res_cleanup(&need);
    return ok;
}

int agora_resources_take(struct agora_resources *ar, const Mesos__V1__TaskInfo *t)
{
    struct resources need;
    int rc;

    if (!ar || task_resources(t, &need) < 0)
        return -1;
    rc = res_subtract(&ar->r, &need);
    res_cleanup(&need);
    return rc;
}

/* need's resources, with need->ports of r's ports of the role (the
 * lowest free ones) into *out; -1 when need is invalid or r has too few
 * ports of the role. */
static int need_resources(const struct resources *r, const struct agora_need *need,
                          struct resources *out, uint64_t *ports)
{
    const char *role = need->role && *need->role ? need->role : "*";
    size_t got = 0;

    if (need->cpus < 0 || need->mem < 0 || need->disk < 0 || isnan(need->cpus) ||
        isnan(need->mem) || isnan(need->disk))
        return -1;
    res_init(out);
    res_add_scalar(out, "cpus", role, need->cpus);
    res_add_scalar(out, "mem", role, need->mem);
    res_add_scalar(out, "disk", role, need->disk);
    for (size_t i = 0; i < r->n && got < need->ports; i++) {
        const struct resource *e = &r->v[i];
        if (e->type != RES_RANGES || strcmp(e->name, "ports") != 0 || strcmp(e->role, role) != 0)
            continue;
        for (size_t j = 0; j < e->nranges && got < need->ports; j++)
            for (uint64_t p = e->ranges[j].begin; got < need->ports; p++) {
                ports[got++] = p;
                if (p == e->ranges[j].end)
                    break;
            }
    }
    if (got < need->ports) {
        res_cleanup(out);
        return -1;
    }
    for (size_t i = 0; i < got; i++)
        res_add_range(out, "ports", role, ports[i], ports[i]);
    return 0;
}

/* Take one task of need from r: 0, or -1 (r unchanged). */
static int need_take(struct resources *r, const struct agora_need *need, uint64_t *ports)
{
    struct resources want;
    int rc = -1;

    if (need_resources(r, need, &want, ports) < 0)
        return -1;
    if (res_contains(r, &want))
        rc = res_subtract(r, &want);
    res_cleanup(&want);
    return rc;
}

bool agora_resources_fits_need(const struct agora_resources *ar, const struct agora_need *need)
{
    struct resources copy;
    uint64_t *ports;
    bool ok;

    if (!ar || !need)
        return false;
    ports = xcalloc(need->ports ? need->ports : 1, sizeof(*ports));
    res_copy(&copy, &ar->r);
    ok = need_take(&copy, need, ports) == 0;
    res_cleanup(&copy);
    free(ports);
    return ok;
}

size_t agora_resources_pack(struct agora_resources *ar, const struct agora_need *need, size_t max,
                            uint64_t *ports)
{
    uint64_t *tmp;
    size_t n = 0;

    if (!ar || !need)
        return 0;
    tmp = xcalloc(need->ports ? need->ports : 1, sizeof(*tmp));
    for (; n < max; n++) {
        if (need_take(&ar->r, need, tmp) < 0)
            break;
        if (ports && need->ports)
            memcpy(ports + n * need->ports, tmp, need->ports * sizeof(*tmp));
    }
    free(tmp);
    return n;
}

double agora_resources_scalar(const struct agora_resources *ar, const char *name)
{
    return ar && name ? res_scalar(&ar->r, name) : 0;
}

size_t agora_resources_ports(const struct agora_resources *ar, uint64_t *out, size_t max)
{
    return ar && out ? res_range_values(&ar->r, "ports", out, max) : 0;
}

char *agora_resources_format(const struct agora_resources *ar)
{
    return ar ? res_format(&ar->r) : xstrdup("");
}

void agora_resources_free(struct agora_resources *ar)
{
    if (!ar)
        return;
    res_cleanup(&ar->r);
    free(ar);
}

/* --------------------------------------------------------- task states */

const char *agora_task_state_name(int state)
{
    return task_state_name((Mesos__V1__TaskState)state);
}

bool agora_task_state_terminal(int state)
{
    return task_state_terminal((Mesos__V1__TaskState)state);
}
