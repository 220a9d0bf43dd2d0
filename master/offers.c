/*
 * offers.c: offers, from the allocator's decision to the framework's
 * answer. Owns offer creation (the allocator callback), the OFFERS and
 * RESCIND events, --offer_timeout, and the bookkeeping that keeps
 * framework/slave "offered" resources and the allocator in step: every
 * offer's resources go back to the allocator exactly once — through
 * alloc_recover when declined, rescinded or partly used, or implicitly when
 * the slave or framework is removed from the allocator.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <utlist.h>

#include "master.h"
#include "allocator.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

struct offer *offer_find(struct master *m, const char *id)
{
    struct offer *o = NULL;
    HASH_FIND_STR(m->offers, id, o);
    return o;
}

/* fw->offered sums the offers of many slaves, and equal port ranges of
 * two slaves merge into one there, so taking one offer's ranges back out
 * can fail with nothing wrong (it did for every offer but the first: a
 * warning per offer at scale). Then only the scalars are taken out; the
 * ranges and sets stay a superset until the framework has no offer left,
 * when the sum is exactly empty again. */
static void fw_offered_release(struct framework *fw, const struct offer *o)
{
    if (fw->noffers == 0) {
        res_cleanup(&fw->offered);
        return;
    }
    if (res_subtract(&fw->offered, &o->res) == 0)
        return;
    struct resources scalars;
    res_init(&scalars);
    for (size_t i = 0; i < o->res.n; i++)
        if (o->res.v[i].type == RES_SCALAR)
            res_add_scalar(&scalars, o->res.v[i].name, o->res.v[i].role,
                           (double)o->res.v[i].milli / 1000.0);
    if (res_subtract(&fw->offered, &scalars) != 0)
        log_warn("offer %s: framework %s offered resources out of sync", o->id, fw->id);
    res_cleanup(&scalars);
}

void offer_remove(struct master *m, struct offer *o)
{
    HASH_DELETE(hh, m->offers, o);
    DL_DELETE2(o->fw->offers, o, fw_prev, fw_next);
    o->fw->noffers--;
    DL_DELETE2(o->slave->offers, o, slave_prev, slave_next);
    fw_offered_release(o->fw, o);
    if (res_subtract(&o->slave->offered, &o->res) != 0)
        log_warn("offer %s: slave %s offered resources out of sync", o->id, o->slave->id);
    if (o->timeout_ev)
        event_free(o->timeout_ev);
    res_cleanup(&o->res);
    free(o->id);
    free(o);
}

void offer_rescind(struct master *m, struct offer *o, double refuse_secs)
{
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Rescind rs = MESOS__V1__SCHEDULER__EVENT__RESCIND__INIT;
    Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
    oid.value = o->id;
    rs.offer_id = &oid;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__RESCIND;
    ev.rescind = &rs;
    fw_send(m, o->fw, &ev);
    metric_inc(m->metrics.offers_rescinded, 1);
    if (o->slave->in_allocator)
        alloc_recover(m->alloc, o->fw->id, o->slave->id, &o->res, refuse_secs);
    offer_remove(m, o);
}

void offers_rescind_framework(struct master *m, struct framework *fw)
{
    struct offer *o, *tmp;
    DL_FOREACH_SAFE2(fw->offers, o, tmp, fw_next)
    offer_rescind(m, o, 0);
}

void offers_rescind_slave(struct master *m, struct slave *s)
{
    struct offer *o, *tmp;
    DL_FOREACH_SAFE2(s->offers, o, tmp, slave_next)
    offer_rescind(m, o, 0);
}

static void offer_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct offer *o = arg;
    struct master *m = o->fw->m;
    log_info("offer %s to framework %s timed out; rescinding", o->id, o->fw->id);
    offer_rescind(m, o, 0);
}

/* An allocation that can no longer become an offer goes back to the
 * allocator, but not from inside the allocator's own callback. */
struct pending_recover {
    struct master *m;
    char *fw_id;
    char *slave_id;
    struct resources res;
};

static void pending_recover_run(void *arg)
{
    struct pending_recover *pr = arg;
    struct slave *s = slave_find(pr->m, pr->slave_id);
    if (s && s->in_allocator)
        alloc_recover(pr->m->alloc, pr->fw_id, pr->slave_id, &pr->res, 0);
    res_cleanup(&pr->res);
    free(pr->fw_id);
    free(pr->slave_id);
    free(pr);
}

static bool fw_multi_role(const Mesos__V1__FrameworkInfo *info)
{
    for (size_t i = 0; i < info->n_capabilities; i++)
        if (info->capabilities[i]->has_type &&
            info->capabilities[i]->type == MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__MULTI_ROLE)
            return true;
    return false;
}

static void offer_send(struct master *m, struct offer *o)
{
    struct slave *s = o->slave;
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Offers offers = MESOS__V1__SCHEDULER__EVENT__OFFERS__INIT;
    Mesos__V1__Offer offer = MESOS__V1__OFFER__INIT;
    Mesos__V1__Offer *list[1] = { &offer };
    Mesos__V1__OfferID oid = MESOS__V1__OFFER_ID__INIT;
    Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__URL url = MESOS__V1__URL__INIT;
    Mesos__V1__Address addr = MESOS__V1__ADDRESS__INIT;

    oid.value = o->id;
    fid.value = o->fw->id;
    aid.value = s->id;
    offer.id = &oid;
    offer.framework_id = &fid;
    offer.agent_id = &aid;
    offer.hostname = s->hostname;
    addr.hostname = s->hostname;
    addr.port = s->port;
    url.scheme = "http";
    url.address = &addr;
    url.path = "/slave(1)";
    offer.url = &url;
    size_t nres = 0;
    Mesos__V1__Resource **res = res_to_pb(&o->res, &nres);
    Mesos__V1__Resource__AllocationInfo alloc_info = MESOS__V1__RESOURCE__ALLOCATION_INFO__INIT;
    if (fw_multi_role(o->fw->info)) {
        /* MULTI_ROLE schedulers expect the role an offer is made for on the
     * offer and on each resource (Mesos strips it for the others). */
        alloc_info.role = o->fw->role;
        offer.allocation_info = &alloc_info;
        for (size_t i = 0; i < nres; i++) {
            Mesos__V1__Resource__AllocationInfo *ai = xmalloc(sizeof(*ai));
            mesos__v1__resource__allocation_info__init(ai);
            ai->role = xstrdup(o->fw->role);
            res[i]->allocation_info = ai; /* freed by res_pb_free */
        }
    }
    offer.resources = res;
    offer.n_resources = nres;
    offer.attributes = s->info->attributes;
    offer.n_attributes = s->info->n_attributes;
    offer.domain = s->info->domain;

    offers.offers = list;
    offers.n_offers = 1;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__OFFERS;
    ev.offers = &offers;
    fw_send(m, o->fw, &ev);
    res_pb_free(res, nres);
    metric_inc(m->metrics.offers_sent, 1);
}

void offers_allocator_cb(const char *framework_id, const char *slave_id,
                         const struct resources *res, void *arg)
{
    struct master *m = arg;
    struct framework *fw = fw_find(m, framework_id);
    struct slave *s = slave_find(m, slave_id);
    if (!fw || fw->state != FW_STATE_ACTIVE || !s || s->state != SLAVE_STATE_CONNECTED) {
        log_debug("allocation of slave %s to framework %s is stale; recovering", slave_id,
                  framework_id);
        struct pending_recover *pr = xcalloc(1, sizeof(*pr));
        pr->m = m;
        pr->fw_id = xstrdup(framework_id);
        pr->slave_id = xstrdup(slave_id);
        res_init(&pr->res);
        res_copy(&pr->res, res);
        master_defer(m, pending_recover_run, pr);
        return;
    }

    struct offer *o = xcalloc(1, sizeof(*o));
    o->id = xasprintf("%s-O%llu", m->id, (unsigned long long)m->next_offer_seq++);
    o->fw = fw;
    o->slave = s;
    o->created = time_now();
    res_init(&o->res);
    res_copy(&o->res, res);
    HASH_ADD_KEYPTR(hh, m->offers, o->id, strlen(o->id), o);
    DL_APPEND2(fw->offers, o, fw_prev, fw_next);
    fw->noffers++;
    DL_APPEND2(s->offers, o, slave_prev, slave_next);
    res_add(&fw->offered, res);
    res_add(&s->offered, res);
    if (m->cfg.offer_timeout > 0) {
        double secs = m->cfg.offer_timeout;
        struct timeval tv = { (time_t)secs, (suseconds_t)((secs - floor(secs)) * 1e6) };
        o->timeout_ev = evtimer_new(m->base, offer_timeout_cb, o);
        evtimer_add(o->timeout_ev, &tv);
    }
    log_debug("offer %s: slave %s to framework %s", o->id, s->id, fw->id);
    offer_send(m, o);
}
