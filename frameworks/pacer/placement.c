/*
 * placement: one instance against what is left of one offer — Marathon
 * 1.10's ResourceMatcher reduced to what Pacer launches (scalars, ports,
 * roles, constraints; no persistent volumes, no pods).
 *
 * Resources are read with res_from_pb (so malformed ones are refused the
 * way the master refuses them) and summed over the roles this offer can
 * spend: unreserved ones and those reserved for the role the offer is
 * allocated to. Scalars are kept in Mesos's fixed point (three decimals),
 * so packing ten 0.1-cpu instances into 1 cpu works exactly.
 *
 * Reasons are reported in the order of Marathon's reject funnel
 * (UnfulfilledRole, UnfulfilledConstraint, Insufficient{Cpus,Memory,Disk,
 * Gpus,Ports}); the first failing one is the offer's reason.
 */
#include "placement.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "resources.h"

/* Mesos's fixed point: value * 1000, rounded. */
static long long milli(double v)
{
    return llround(v * 1000.0);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int cmp_range_pb(const void *a, const void *b)
{
    const Mesos__V1__Value__Range *x = *(Mesos__V1__Value__Range *const *)a;
    const Mesos__V1__Value__Range *y = *(Mesos__V1__Value__Range *const *)b;

    return (x->begin > y->begin) - (x->begin < y->begin);
}

/* An attribute's value as Marathon's getValueString writes it: ranges
 * sorted by begin "[a-b,c-d]", set items sorted "{a,b}". NULL for a
 * malformed attribute. Caller frees. */
static char *attr_text(const Mesos__V1__Attribute *a)
{
    char *s = NULL, *t;

    switch (a->type) {
    case MESOS__V1__VALUE__TYPE__SCALAR:
        return a->scalar ? cons_format_scalar(a->scalar->value) : NULL;
    case MESOS__V1__VALUE__TYPE__TEXT:
        return (a->text && a->text->value) ? xstrdup(a->text->value) : NULL;
    case MESOS__V1__VALUE__TYPE__RANGES: {
        size_t n = a->ranges ? a->ranges->n_range : 0;
        Mesos__V1__Value__Range **v = xcalloc(n + 1, sizeof(*v));

        for (size_t i = 0; i < n; i++) {
            if (a->ranges->range[i] == NULL) {
                free(v);
                return NULL;
            }
            v[i] = a->ranges->range[i];
        }
        qsort(v, n, sizeof(*v), cmp_range_pb);
        s = xstrdup("[");
        for (size_t i = 0; i < n; i++) {
            t = xasprintf("%s%s%llu-%llu", s, i ? "," : "", (unsigned long long)v[i]->begin,
                          (unsigned long long)v[i]->end);
            free(s);
            s = t;
        }
        t = xasprintf("%s]", s);
        free(s);
        free(v);
        return t;
    }
    case MESOS__V1__VALUE__TYPE__SET: {
        size_t n = a->set ? a->set->n_item : 0;
        char **v = xcalloc(n + 1, sizeof(*v));

        for (size_t i = 0; i < n; i++)
            v[i] = a->set->item[i] ? a->set->item[i] : "";
        qsort(v, n, sizeof(*v), cmp_str);
        s = xstrdup("{");
        for (size_t i = 0; i < n; i++) {
            t = xasprintf("%s%s%s", s, i ? "," : "", v[i]);
            free(s);
            s = t;
        }
        t = xasprintf("%s}", s);
        free(s);
        free(v);
        return t;
    }
    default:
        return NULL;
    }
}

/* The role a resource is reserved for ("*" = unreserved): the last of
 * its refined reservations, else the deprecated pre-refinement role
 * field (read as res_from_pb reads it, without the warning). */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static const char *resource_role(const Mesos__V1__Resource *r)
{
    if (r->n_reservations > 0 && r->reservations[r->n_reservations - 1] &&
        r->reservations[r->n_reservations - 1]->role)
        return r->reservations[r->n_reservations - 1]->role;
    if (r->role && r->role[0] != '\0')
        return r->role;
    return "*";
}
#pragma GCC diagnostic pop

/* Can this offer's allocation spend resources of role? */
static bool spendable(const struct placement_offer *po, const char *role)
{
    return strcmp(role, "*") == 0 || strcmp(po->role, "*") == 0 || strcmp(role, po->role) == 0;
}

/* A persistent volume or revocable resource is never one a plain task
 * may use; Marathon only matches those for resident apps. */
static bool usable(const Mesos__V1__Resource *r)
{
    return !(r->disk && r->disk->persistence) && r->revocable == NULL;
}

static int cmp_range(const void *a, const void *b)
{
    const uint64_t *x = a, *y = b;

    return (x[0] > y[0]) - (x[0] < y[0]);
}

int placement_offer_init(struct placement_offer *po, const Mesos__V1__Offer *offer, char **err)
{
    struct resources res;
    char *rerr = NULL;
    long long cpus = 0, mem = 0, disk = 0, gpus = 0;
    size_t nports = 0, na = 0;
    int rc = -1;

    memset(po, 0, sizeof(*po));
    res_init(&res);
    if (err)
        *err = NULL;
    po->offer = offer;
    po->role = xstrdup(offer->allocation_info && offer->allocation_info->role
                           ? offer->allocation_info->role
                           : "*");
    if (res_from_pb(offer->resources, offer->n_resources, &res, &rerr) < 0) {
        if (err)
            *err = xasprintf("offer %s: %s", offer->id && offer->id->value ? offer->id->value : "?",
                             rerr ? rerr : "malformed resources");
        goto out;
    }
    for (size_t i = 0; i < res.n; i++) {
        const struct resource *e = &res.v[i];

        if (!spendable(po, e->role))
            continue;
        if (e->type == RES_SCALAR) {
            if (strcmp(e->name, "cpus") == 0)
                cpus += e->milli;
            else if (strcmp(e->name, "mem") == 0)
                mem += e->milli;
            else if (strcmp(e->name, "disk") == 0)
                disk += e->milli;
            else if (strcmp(e->name, "gpus") == 0)
                gpus += e->milli;
        } else if (e->type == RES_RANGES && strcmp(e->name, "ports") == 0) {
            po->ports = xrealloc(po->ports, (nports + e->nranges + 1) * sizeof(*po->ports));
            for (size_t k = 0; k < e->nranges; k++) {
                po->ports[nports][0] = e->ranges[k].begin;
                po->ports[nports][1] = e->ranges[k].end;
                nports++;
            }
        }
    }
    /* res_from_pb merged them with the usable ones: take the unusable back out. */
    for (size_t i = 0; i < offer->n_resources; i++) {
        const Mesos__V1__Resource *r = offer->resources[i];

        if (usable(r) || !spendable(po, resource_role(r)) ||
            r->type != MESOS__V1__VALUE__TYPE__SCALAR)
            continue;
        if (strcmp(r->name, "cpus") == 0)
            cpus -= milli(r->scalar->value);
        else if (strcmp(r->name, "mem") == 0)
            mem -= milli(r->scalar->value);
        else if (strcmp(r->name, "disk") == 0)
            disk -= milli(r->scalar->value);
        else if (strcmp(r->name, "gpus") == 0)
            gpus -= milli(r->scalar->value);
    }
    po->cpus = cpus / 1000.0;
    po->mem = mem / 1000.0;
    po->disk = disk / 1000.0;
    po->gpus = gpus / 1000.0;

    /* One role's ranges are coalesced already; across roles they may touch. */
    if (nports > 1)
        qsort(po->ports, nports, sizeof(*po->ports), cmp_range);
    for (size_t i = 0; i < nports; i++) {
        if (po->nports > 0 && po->ports[i][0] <= po->ports[po->nports - 1][1] + 1) {
            if (po->ports[i][1] > po->ports[po->nports - 1][1])
                po->ports[po->nports - 1][1] = po->ports[i][1];
        } else {
            po->ports[po->nports][0] = po->ports[i][0];
            po->ports[po->nports][1] = po->ports[i][1];
            po->nports++;
        }
    }

    po->host.hostname = offer->hostname;
    po->attr_store = xcalloc(offer->n_attributes + 2, sizeof(*po->attr_store));
    for (size_t i = 0; i < offer->n_attributes; i++) {
        const Mesos__V1__Attribute *a = offer->attributes[i];
        char *v = (a && a->name) ? attr_text(a) : NULL;

        if (v == NULL) {
            if (err)
                *err = xasprintf("offer %s: attributes[%zu]: malformed",
                                 offer->id && offer->id->value ? offer->id->value : "?", i);
            goto out;
        }
        po->attr_store[na].name = xstrdup(a->name);
        po->attr_store[na].value = v;
        na++;
    }
    /* The fault domain, under the field names Marathon gives it. */
    if (offer->domain && offer->domain->fault_domain) {
        const Mesos__V1__DomainInfo__FaultDomain *fd = offer->domain->fault_domain;
        if (fd->region && fd->region->name) {
            po->attr_store[na].name = xstrdup("@region");
            po->attr_store[na].value = xstrdup(fd->region->name);
            na++;
        }
        if (fd->zone && fd->zone->name) {
            po->attr_store[na].name = xstrdup("@zone");
            po->attr_store[na].value = xstrdup(fd->zone->name);
            na++;
        }
    }
    po->host.attrs = po->attr_store;
    po->host.nattrs = na;
    rc = 0;
out:
    free(rerr);
    res_cleanup(&res);
    if (rc < 0) {
        po->host.nattrs = na;
        placement_offer_cleanup(po);
    }
    return rc;
}

void placement_offer_cleanup(struct placement_offer *po)
{
    for (size_t i = 0; po->attr_store && i < po->host.nattrs; i++) {
        free((char *)po->attr_store[i].name);
        free((char *)po->attr_store[i].value);
    }
    free(po->attr_store);
    free(po->ports);
    free(po->role);
    memset(po, 0, sizeof(*po));
}

/* Marathon's selector: acceptedResourceRoles matches resources by the
 * role they are reserved for ("*": unreserved); the role is unfulfilled
 * when no resource of the offer has one of them. No list: any. */
static bool roles_ok(const struct placement_offer *po, const struct app_spec *app)
{
    const Mesos__V1__Offer *offer = po->offer;

    if (app->accepted_roles == NULL || app->naccepted_roles == 0)
        return true;
    for (size_t i = 0; i < offer->n_resources; i++) {
        const char *role = resource_role(offer->resources[i]);

        if (!spendable(po, role))
            continue;
        for (size_t k = 0; k < app->naccepted_roles && app->accepted_roles[k]; k++) {
            if (strcmp(app->accepted_roles[k], role) == 0)
                return true;
        }
    }
    return false;
}

/* Take port p out of the ranges v (capacity one more than *n). */
static bool take_port(uint64_t (*v)[2], size_t *n, uint64_t p)
{
    for (size_t i = 0; i < *n; i++) {
        if (p < v[i][0] || p > v[i][1])
            continue;
        if (v[i][0] == v[i][1]) {
            memmove(&v[i], &v[i + 1], (*n - i - 1) * sizeof(*v));
            (*n)--;
        } else if (p == v[i][0]) {
            v[i][0]++;
        } else if (p == v[i][1]) {
            v[i][1]--;
        } else {
            memmove(&v[i + 1], &v[i], (*n - i) * sizeof(*v));
            v[i][1] = p - 1;
            v[i + 1][0] = p + 1;
            (*n)++;
        }
        return true;
    }
    return false;
}

/* Host ports for the app's ports that need one, in app order: fixed
 * ones (requirePorts with a declared port, a BRIDGE hostPort > 0) first
 * so that a port of "any" never takes a port another one names, then
 * the lowest free port for each of the others. On success po's ranges
 * lose them. */
static bool assign_ports(struct placement_offer *po, const struct app_spec *app,
                         struct placement *out)
{
    int64_t want[PLACEMENT_MAX_PORTS];
    size_t nwant = 0, n = po->nports;
    uint64_t(*v)[2];
    bool ok = false;

    for (size_t i = 0; i < app->nports; i++) {
        const struct app_port *p = &app->ports[i];
        int64_t w;

        if (app->port_mappings) {
            if (p->host_port < 0)
                continue; /* a container network port without a host port */
            w = p->host_port;
        } else {
            w = app->require_ports ? p->service_port : 0;
        }
        if (nwant == PLACEMENT_MAX_PORTS)
            return false; /* more than a task may carry: never fits */
        want[nwant++] = w;
    }
    if (nwant == 0) {
        out->nhost_ports = 0;
        return true;
    }
    v = xcalloc(po->nports + nwant + 1, sizeof(*v));
    if (po->nports > 0)
        memcpy(v, po->ports, po->nports * sizeof(*v));
    for (size_t i = 0; i < nwant; i++) {
        if (want[i] > 0) {
            if (!take_port(v, &n, (uint64_t)want[i]))
                goto out;
            out->host_ports[i] = (uint64_t)want[i];
        }
    }
    for (size_t i = 0; i < nwant; i++) {
        if (want[i] == 0) {
            if (n == 0)
                goto out;
            out->host_ports[i] = v[0][0];
            take_port(v, &n, v[0][0]);
        }
    }
    out->nhost_ports = nwant;
    free(po->ports);
    po->ports = v;
    po->nports = n;
    v = NULL;
    ok = true;
out:
    free(v);
    return ok;
}

void placement_try(struct placement_offer *po, const struct app_spec *app,
                   const struct constraints *cs, const struct cons_host *placed, size_t nplaced,
                   struct placement *out)
{
    memset(out, 0, sizeof(*out));
    if (!roles_ok(po, app)) {
        out->reason = "UnfulfilledRole";
        return;
    }
    if (!constraints_check(cs, &po->host, placed, nplaced, &out->constraint)) {
        out->reason = "UnfulfilledConstraint";
        return;
    }
    /* Marathon leaves out requirements of 0 (ResourceMatcher filters
     * requiredValue != 0), so an app without gpus fits an offer without. */
    if (app->cpus > 0 && milli(po->cpus) < milli(app->cpus)) {
        out->reason = "InsufficientCpus";
        return;
    }
    if (app->mem > 0 && milli(po->mem) < milli(app->mem)) {
        out->reason = "InsufficientMemory";
        return;
    }
    if (app->disk > 0 && milli(po->disk) < milli(app->disk)) {
        out->reason = "InsufficientDisk";
        return;
    }
    if (app->gpus > 0 && milli(po->gpus) < milli(app->gpus)) {
        out->reason = "InsufficientGpus";
        return;
    }
    if (!assign_ports(po, app, out)) {
        memset(out->host_ports, 0, sizeof(out->host_ports));
        out->nhost_ports = 0;
        out->reason = "InsufficientPorts";
        return;
    }
    po->cpus = (milli(po->cpus) - milli(app->cpus)) / 1000.0;
    po->mem = (milli(po->mem) - milli(app->mem)) / 1000.0;
    po->disk = (milli(po->disk) - milli(app->disk)) / 1000.0;
    po->gpus = (milli(po->gpus) - milli(app->gpus)) / 1000.0;
    out->ok = true;
}
