/*
 * allocator: Dominant Resource Fairness over slaves and frameworks.
 *
 * Owns the allocator's bookkeeping: slaves (total and free resources),
 * frameworks (role, state, dominant share), the (framework, slave) pairs
 * that record what is allocated and which offer filter applies, and the
 * allocation pass itself with its timers. See master/allocator.h for the
 * contract and docs/internals/allocator.md for the design.
 *
 * Data structures, and why:
 * - frameworks and slaves: uthash maps by id (the master's lookups).
 * - eligible frameworks (active, not suppressed): a binary min-heap ordered
 *   by (dominant share, last offer sequence), so picking the poorest
 *   framework for a slave is O(log F) and ties go round-robin.
 * - dirty slaves: an array of the active slaves that have at least the
 *   minimum allocatable amount free. A pass walks only these.
 * - pairs: one struct per (framework, slave) holding the allocation and the
 *   filter, in fw->pairs (a hash keyed by slave pointer: the O(1) filter
 *   check of a pass) and in slave->pairs (a plain list: a slave usually
 *   has few, and a uthash table per slave would cost 0.5 KB each), so
 *   releasing a framework or a slave touches only its own pairs.
 * - filters: a min-heap of the pairs with a filter, by expiry, so a pass
 *   expires them in O(expired x log) and one timer covers the earliest.
 * - whole slaves: a slave wholly free (s->free_whole) or wholly held by one
 *   framework (p->whole) is not copied into s->free / p->allocated; its
 *   total stands for it. Offering a whole slave passes &s->total and
 *   declining it is one res_equal, so a full pass makes no resource copy
 *   (it used to make about 10 mallocs per offer). See "whole-slave
 *   representation" below.
 *
 * Offers found by a pass are collected and the callbacks run after the
 * pass, so a callback may call back into the allocator (recover, remove,
 * even run another pass) without disturbing an iteration.
 */
/* clock_gettime under -std=c11 as well as gnu11. */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif
#include "allocator.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <event2/event.h>
#include <uthash.h>
#include <utlist.h>

#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "timeutil.h"

#define HEAP_NONE ((size_t)-1)

/* Minimum allocatable, as Mesos: a slave is worth offering when either is
 * free. In milli-units, like struct resource. */
#define MIN_CPUS_MILLI 10   /* 0.01 cpus */
#define MIN_MEM_MILLI 32000 /* 32 MB */

/* The scalars that enter the dominant share. */
enum { SH_CPUS, SH_MEM, SH_DISK, SH_GPUS, SH_N };
static const char *const share_names[SH_N] = { "cpus", "mem", "disk", "gpus" };

struct alloc_framework;
struct alloc_slave;

/* What fw holds on slave, and fw's offer filter for slave. Freed as soon
 * as it holds neither. */
struct alloc_pair {
    struct alloc_framework *fw;
    struct alloc_slave *slave;        /* key of fw->pairs */
    struct resources allocated;       /* offered + used, unless whole */
    bool whole;                       /* holds exactly slave->total, not copied
                                       * into allocated (which is then empty) */
    double filter_expiry;             /* valid when filter_idx != HEAP_NONE */
    size_t filter_idx;                /* position in a->filters heap */
    UT_hash_handle hh_fw;             /* in fw->pairs */
    struct alloc_pair *sprev, *snext; /* in slave->pairs (utlist DL) */
};

struct alloc_framework {
    char *id;
    char *role;
    bool active;
    bool suppressed;
    int64_t alloc_milli[SH_N]; /* allocated scalars, all roles */
    double share;              /* dominant share, cached */
    uint64_t last_offer_seq;   /* tie-break: longest without offer first */
    size_t heap_idx;           /* in a->fw_heap, HEAP_NONE if not eligible */
    struct alloc_pair *pairs;  /* by slave pointer */
    bool removed;              /* unlinked, freed after delivery */
    struct alloc_framework *next_dead;
    UT_hash_handle hh;
};

struct alloc_slave {
    char *id;
    bool active;
    struct resources total; /* normalised (sorted, no empty entry) */
    struct resources free;  /* total - sum of pair allocations, unless
                             * free_whole */
    bool free_whole;        /* free is all of total, not copied into
                             * free (which is then empty) */
    bool total_unreserved;  /* every entry of total has role "*" */
    bool total_allocatable; /* is_allocatable(&total) */
    int64_t total_milli[SH_N];
    size_t dirty_idx;         /* in a->dirty, HEAP_NONE if not there */
    struct alloc_pair *pairs; /* list (sprev/snext) */
    bool removed;             /* unlinked, freed after delivery */
    struct alloc_slave *next_dead;
    UT_hash_handle hh;
};

/* An offer decided by a pass, delivered after it. */
struct pending_offer {
    struct alloc_framework *fw; /* kept alive while delivering */
    struct alloc_slave *slave;  /* idem, and so is its total */
    bool whole;                 /* the offer is slave->total (res empty) */
    struct resources res;
};

struct allocator {
    struct event_base *base;
    struct alloc_callbacks cb;
    void *cb_arg;
    double (*now)(void *arg);
    void *now_arg;

    struct alloc_framework *frameworks; /* by id */
    struct alloc_slave *slaves;         /* by id */
    size_t nframeworks, nslaves;
    int64_t cluster_milli[SH_N]; /* sum of slave totals */
    bool shares_stale;           /* cluster total changed */

    struct alloc_framework **fw_heap; /* eligible, min share first */
    size_t fw_heap_len, fw_heap_cap;
    struct alloc_slave **dirty; /* slaves worth offering */
    size_t ndirty, dirty_cap;
    struct alloc_pair **filters; /* min expiry first */
    size_t nfilters, filters_cap;
    uint64_t offer_seq;

    /* While offers are delivered, removed frameworks and slaves are only
   * unlinked and parked here, so pending offers (and the id strings handed
   * to callbacks) stay valid; they are freed when delivery ends. */
    int delivering;
    struct alloc_framework *dead_fws;
    struct alloc_slave *dead_slaves;

    struct event *request_ev; /* zero-timeout, coalesces requests */
    struct event *periodic_ev;
    struct event *filter_ev; /* fires at the earliest expiry */
    struct event *batch_ev;  /* the pass asked for by recoveries */
    double batch_secs;       /* alloc_set_batch; < 0: no such pass */
    double filter_armed_at;  /* expiry filter_ev is set for, or INFINITY */

    uint64_t cycles;
    double last_cycle_ms;
    double max_cycle_ms;
    struct metric *cycle_metric;
    /* Passes that made offers only: most passes find nothing to do (one per
   * burst of events), which hides the costly ones from the quantiles of
   * cycle_metric. */
    struct metric *busy_cycle_metric, *max_cycle_metric;
};

static double default_now(void *arg)
{
    (void)arg;
    return time_mono();
}

static double wall_ms(void)
{
    return time_mono() * 1e3;
}

/* ---- resources helpers ------------------------------------------------ */

static int64_t scalar_milli(const struct resources *r, const char *name)
{
    int64_t sum = 0;
    for (size_t i = 0; i < r->n; i++)
        if (r->v[i].type == RES_SCALAR && strcmp(r->v[i].name, name) == 0)
            sum += r->v[i].milli;
    return sum;
}

static void share_scalars(const struct resources *r, int64_t out[SH_N])
{
    for (int k = 0; k < SH_N; k++)
        out[k] = scalar_milli(r, share_names[k]);
}

static bool is_allocatable(const struct resources *r)
{
    return scalar_milli(r, "cpus") >= MIN_CPUS_MILLI || scalar_milli(r, "mem") >= MIN_MEM_MILLI;
}

/* A resources value viewing one entry of another (not owned: never
 * cleaned up), so single entries can go through the res_* arithmetic. */
static struct resources entry_view(const struct resources *r, size_t i)
{
    struct resources v = { .v = &r->v[i], .n = 1 };
    return v;
}

/* Unreserved resources, and those reserved for fw's role, may go to fw. */
static bool role_usable(const char *res_role, const struct alloc_framework *fw)
{
    return strcmp(res_role, "*") == 0 || strcmp(res_role, fw->role) == 0;
}

/* ---- whole-slave representation ---------------------------------------
 *
 * The common case is a slave that is either entirely free or entirely held
 * by one framework. Then s->free_whole (free == total) or p->whole (pair
 * holds total) stands for a copy of s->total that is never made: a full
 * offer passes &s->total to the callback (the slave, total included, lives
 * until delivery ends), and giving it back is a comparison, not a
 * res_subtract + res_add. A full pass thus allocates nothing per slave but
 * the pair. Anything else materialises the copy first. */

static void slave_free_materialise(struct alloc_slave *s)
{
    if (!s->free_whole)
        return;
    s->free_whole = false;
    res_cleanup(&s->free); /* empty by invariant */
    res_copy(&s->free, &s->total);
}

static void pair_materialise(struct alloc_pair *p)
{
    if (!p->whole)
        return;
    p->whole = false;
    res_cleanup(&p->allocated); /* empty by invariant */
    res_copy(&p->allocated, &p->slave->total);
}

/* Back to the whole form when the free pool is all of the total again. */
static void slave_free_settle(struct alloc_slave *s)
{
    if (!s->free_whole && s->free.n == s->total.n && res_equal(&s->free, &s->total)) {
        res_cleanup(&s->free);
        s->free_whole = true;
    }
}

static bool slave_free_allocatable(const struct alloc_slave *s)
{
    return s->free_whole ? s->total_allocatable : is_allocatable(&s->free);
}

/* Take out of s's free pool what fw may be offered: unreserved resources
 * and those reserved for fw's role, into out (uninitialised on entry).
 * *whole set: all of s->total was taken, out is empty and stands for it.
 * false (nothing taken, out clean) when that is below the minimum. The
 * caller has checked that the free pool itself is allocatable. */
static bool take_offerable(struct alloc_slave *s, const struct alloc_framework *fw,
                           struct resources *out, bool *whole)
{
    *whole = false;
    if (s->free_whole) {
        bool usable = true;
        for (size_t i = 0; i < s->total.n && usable && !s->total_unreserved; i++)
            usable = role_usable(s->total.v[i].role, fw);
        if (usable) {
            /* The hot path of a pass: the whole slave, nothing copied. */
            s->free_whole = false;
            *whole = true;
            res_init(out);
            return true;
        }
        slave_free_materialise(s);
    }
    bool all_usable = true;
    for (size_t i = 0; i < s->free.n && all_usable; i++)
        all_usable = role_usable(s->free.v[i].role, fw);
    if (all_usable) {
        /* The usual case, no foreign reservation: move the whole pool, no copy
     * (this is the hot path of a pass). */
        *out = s->free;
        res_init(&s->free);
        return true;
    }
    res_init(out);
    for (size_t i = 0; i < s->free.n; i++) {
        if (role_usable(s->free.v[i].role, fw)) {
            struct resources one = entry_view(&s->free, i);
            res_add(out, &one);
        }
    }
    if (!is_allocatable(out)) {
        res_cleanup(out);
        slave_free_settle(s);
        return false;
    }
    res_subtract(&s->free, out); /* contained by construction */
    return true;
}

/* Subtract res from `from`. Returns true when all of it was there (the
 * normal case; taken stays empty). Otherwise subtracts what `from` holds,
 * entry by entry, adds that to `taken` (clean on entry) and returns false:
 * scalars are clamped to what `from` has, ranges and sets not wholly
 * contained are dropped. For figures from the master that may disagree
 * with ours. */
static bool subtract_clamped(struct resources *from, const struct resources *res,
                             struct resources *taken)
{
    if (res_subtract(from, res) == 0)
        return true;
    for (size_t i = 0; i < res->n; i++) {
        struct resources one = entry_view(res, i);
        const struct resource *e = &res->v[i];
        if (res_contains(from, &one)) {
            res_subtract(from, &one);
            res_add(taken, &one);
            continue;
        }
        if (e->type != RES_SCALAR)
            continue;
        for (size_t j = 0; j < from->n; j++) {
            const struct resource *f = &from->v[j];
            if (f->type == RES_SCALAR && strcmp(f->name, e->name) == 0 &&
                strcmp(f->role, e->role) == 0 && f->milli > 0) {
                struct resources part;
                res_init(&part);
                res_add_scalar(&part, f->name, f->role, (double)f->milli / 1000.0);
                res_subtract(from, &part);
                res_add(taken, &part);
                res_cleanup(&part);
                break;
            }
        }
    }
    return false;
}

/* ---- framework heap (min by share, then by last offer) ---------------- */

static bool fw_less(const struct alloc_framework *x, const struct alloc_framework *y)
{
    if (x->share != y->share)
        return x->share < y->share;
    return x->last_offer_seq < y->last_offer_seq;
}

static void fw_heap_set(struct allocator *a, size_t i, struct alloc_framework *fw)
{
    a->fw_heap[i] = fw;
    fw->heap_idx = i;
}

static void fw_heap_up(struct allocator *a, size_t i)
{
    struct alloc_framework *fw = a->fw_heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!fw_less(fw, a->fw_heap[p]))
            break;
        fw_heap_set(a, i, a->fw_heap[p]);
        i = p;
    }
    fw_heap_set(a, i, fw);
}

static void fw_heap_down(struct allocator *a, size_t i)
{
    struct alloc_framework *fw = a->fw_heap[i];
    size_t n = a->fw_heap_len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && fw_less(a->fw_heap[c + 1], a->fw_heap[c]))
            c++;
        if (!fw_less(a->fw_heap[c], fw))
            break;
        fw_heap_set(a, i, a->fw_heap[c]);
        i = c;
    }
    fw_heap_set(a, i, fw);
}

static void fw_heap_push(struct allocator *a, struct alloc_framework *fw)
{
    if (a->fw_heap_len == a->fw_heap_cap) {
        a->fw_heap_cap = a->fw_heap_cap ? 2 * a->fw_heap_cap : 16;
        a->fw_heap = xrealloc(a->fw_heap, a->fw_heap_cap * sizeof(*a->fw_heap));
    }
    fw_heap_set(a, a->fw_heap_len++, fw);
    fw_heap_up(a, fw->heap_idx);
}

static void fw_heap_remove(struct allocator *a, struct alloc_framework *fw)
{
    size_t i = fw->heap_idx;
    if (i == HEAP_NONE)
        return;
    fw->heap_idx = HEAP_NONE;
    struct alloc_framework *last = a->fw_heap[--a->fw_heap_len];
    if (i == a->fw_heap_len)
        return;
    fw_heap_set(a, i, last);
    fw_heap_up(a, i);
    fw_heap_down(a, last->heap_idx);
}

static struct alloc_framework *fw_heap_pop(struct allocator *a)
{
    if (a->fw_heap_len == 0)
        return NULL;
    struct alloc_framework *top = a->fw_heap[0];
    fw_heap_remove(a, top);
    return top;
}

/* ---- shares ----------------------------------------------------------- */

static double compute_share(const struct allocator *a, const struct alloc_framework *fw)
{
    double share = 0;
    for (int k = 0; k < SH_N; k++) {
        if (a->cluster_milli[k] <= 0)
            continue;
        double s = (double)fw->alloc_milli[k] / (double)a->cluster_milli[k];
        if (s > share)
            share = s;
    }
    return share;
}

/* Recompute every share after the cluster total changed, and rebuild the
 * heap in O(F). Done lazily: slaves register in bursts. */
static void refresh_shares(struct allocator *a)
{
    if (!a->shares_stale)
        return;
    a->shares_stale = false;
    struct alloc_framework *fw, *tmp;
    HASH_ITER (hh, a->frameworks, fw, tmp)
        fw->share = compute_share(a, fw);
    for (size_t i = a->fw_heap_len / 2; i-- > 0;)
        fw_heap_down(a, i);
}

/* fw's allocation changed by sign * d (share scalars): update its sums and
 * heap place. */
static void fw_account_milli(struct allocator *a, struct alloc_framework *fw, const int64_t d[SH_N],
                             int sign)
{
    for (int k = 0; k < SH_N; k++) {
        fw->alloc_milli[k] += sign * d[k];
        if (fw->alloc_milli[k] < 0)
            fw->alloc_milli[k] = 0;
    }
    if (a->shares_stale)
        return; /* the whole heap is rebuilt before use */
    fw->share = compute_share(a, fw);
    if (fw->heap_idx != HEAP_NONE) {
        fw_heap_up(a, fw->heap_idx);
        fw_heap_down(a, fw->heap_idx);
    }
}

static void fw_account(struct allocator *a, struct alloc_framework *fw, const struct resources *res,
                       int sign)
{
    int64_t d[SH_N];
    share_scalars(res, d);
    fw_account_milli(a, fw, d, sign);
}

static bool fw_eligible(const struct alloc_framework *fw)
{
    return fw->active && !fw->suppressed;
}

static void fw_update_eligibility(struct allocator *a, struct alloc_framework *fw)
{
    if (fw_eligible(fw) && fw->heap_idx == HEAP_NONE) {
        fw->share = compute_share(a, fw);
        fw_heap_push(a, fw);
    } else if (!fw_eligible(fw) && fw->heap_idx != HEAP_NONE) {
        fw_heap_remove(a, fw);
    }
}

/* ---- dirty slaves ------------------------------------------------------ */

/* Keep s in a->dirty exactly when it is active and has enough free. */
static void slave_update_dirty(struct allocator *a, struct alloc_slave *s)
{
    bool want = s->active && slave_free_allocatable(s);
    if (want && s->dirty_idx == HEAP_NONE) {
        if (a->ndirty == a->dirty_cap) {
            a->dirty_cap = a->dirty_cap ? 2 * a->dirty_cap : 64;
            a->dirty = xrealloc(a->dirty, a->dirty_cap * sizeof(*a->dirty));
        }
        s->dirty_idx = a->ndirty;
        a->dirty[a->ndirty++] = s;
    } else if (!want && s->dirty_idx != HEAP_NONE) {
        /* Swap-remove: a pass walks the array backwards, so the element moved
     * here was already visited. */
        struct alloc_slave *last = a->dirty[--a->ndirty];
        a->dirty[s->dirty_idx] = last;
        last->dirty_idx = s->dirty_idx;
        s->dirty_idx = HEAP_NONE;
    }
}

/* ---- filter heap (min by expiry) --------------------------------------- */

static void filter_set(struct allocator *a, size_t i, struct alloc_pair *p)
{
    a->filters[i] = p;
    p->filter_idx = i;
}

static void filter_up(struct allocator *a, size_t i)
{
    struct alloc_pair *p = a->filters[i];
    while (i > 0) {
        size_t q = (i - 1) / 2;
        if (a->filters[q]->filter_expiry <= p->filter_expiry)
            break;
        filter_set(a, i, a->filters[q]);
        i = q;
    }
    filter_set(a, i, p);
}

static void filter_down(struct allocator *a, size_t i)
{
    struct alloc_pair *p = a->filters[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= a->nfilters)
            break;
        if (c + 1 < a->nfilters && a->filters[c + 1]->filter_expiry < a->filters[c]->filter_expiry)
            c++;
        if (a->filters[c]->filter_expiry >= p->filter_expiry)
            break;
        filter_set(a, i, a->filters[c]);
        i = c;
    }
    filter_set(a, i, p);
}

static void filter_remove(struct allocator *a, struct alloc_pair *p)
{
    size_t i = p->filter_idx;
    if (i == HEAP_NONE)
        return;
    p->filter_idx = HEAP_NONE;
    struct alloc_pair *last = a->filters[--a->nfilters];
    if (i == a->nfilters)
        return;
    filter_set(a, i, last);
    filter_up(a, i);
    filter_down(a, last->filter_idx);
}

static void arm_filter_timer(struct allocator *a)
{
    if (!a->filter_ev)
        return;
    if (a->nfilters == 0) {
        evtimer_del(a->filter_ev);
        a->filter_armed_at = INFINITY;
        return;
    }
    double expiry = a->filters[0]->filter_expiry;
    if (expiry == a->filter_armed_at)
        return;
    double wait = expiry - a->now(a->now_arg);
    /* Round up so the timer never fires just before the expiry. */
    struct timeval tv = time_tv_ceil(wait);
    evtimer_add(a->filter_ev, &tv);
    a->filter_armed_at = expiry;
}

static void filter_add(struct allocator *a, struct alloc_pair *p, double expiry)
{
    if (p->filter_idx != HEAP_NONE) {
        /* Mesos keeps every filter and refuses while any applies: the later
     * expiry counts. */
        if (expiry > p->filter_expiry) {
            p->filter_expiry = expiry;
            filter_down(a, p->filter_idx);
        }
    } else {
        if (a->nfilters == a->filters_cap) {
            a->filters_cap = a->filters_cap ? 2 * a->filters_cap : 64;
            a->filters = xrealloc(a->filters, a->filters_cap * sizeof(*a->filters));
        }
        p->filter_expiry = expiry;
        filter_set(a, a->nfilters++, p);
        filter_up(a, p->filter_idx);
    }
    arm_filter_timer(a);
}

/* ---- pairs ------------------------------------------------------------- */

static struct alloc_pair *pair_find(struct alloc_framework *fw, struct alloc_slave *s)
{
    struct alloc_pair *p = NULL;
    HASH_FIND(hh_fw, fw->pairs, &s, sizeof(s), p);
    return p;
}

static struct alloc_pair *pair_get(struct alloc_framework *fw, struct alloc_slave *s)
{
    struct alloc_pair *p = pair_find(fw, s);
    if (p)
        return p;
    p = xcalloc(1, sizeof(*p));
    p->fw = fw;
    p->slave = s;
    res_init(&p->allocated);
    p->filter_idx = HEAP_NONE;
    DL_APPEND2(s->pairs, p, sprev, snext);
    HASH_ADD(hh_fw, fw->pairs, slave, sizeof(p->slave), p);
    return p;
}

static void pair_free(struct allocator *a, struct alloc_pair *p)
{
    filter_remove(a, p);
    DL_DELETE2(p->slave->pairs, p, sprev, snext);
    HASH_DELETE(hh_fw, p->fw->pairs, p);
    res_cleanup(&p->allocated);
    free(p);
}

/* Drop p when it no longer records anything. */
static void pair_gc(struct allocator *a, struct alloc_pair *p)
{
    if (p->filter_idx == HEAP_NONE && !p->whole && res_empty(&p->allocated))
        pair_free(a, p);
}

static bool pair_filtered(const struct alloc_pair *p, double now)
{
    return p && p->filter_idx != HEAP_NONE && p->filter_expiry > now;
}

/* Give everything p holds back to its slave's free pool. */
static void pair_release(struct allocator *a, struct alloc_pair *p)
{
    struct alloc_slave *s = p->slave;
    if (p->whole && !s->free_whole && s->free.n == 0) {
        /* The whole slave back into an empty pool. */
        p->whole = false;
        s->free_whole = true;
        fw_account_milli(a, p->fw, s->total_milli, -1);
        slave_update_dirty(a, s);
        return;
    }
    pair_materialise(p);
    if (res_empty(&p->allocated))
        return;
    slave_free_materialise(s);
    res_add(&s->free, &p->allocated);
    fw_account(a, p->fw, &p->allocated, -1);
    res_cleanup(&p->allocated);
    slave_free_settle(s);
    slave_update_dirty(a, s);
}

/* Record res, already taken out of s's free pool, as allocated to fw. */
static void account(struct allocator *a, struct alloc_framework *fw, struct alloc_slave *s,
                    const struct resources *res)
{
    struct alloc_pair *p = pair_get(fw, s);
    pair_materialise(p);
    if (p->allocated.n == 0)
        res_copy(&p->allocated, res); /* cheaper than res_add into empty */
    else
        res_add(&p->allocated, res);
    fw_account(a, fw, res, +1);
    slave_update_dirty(a, s);
}

/* Record all of s->total, just taken whole out of s's free pool, as
 * allocated to fw. */
static void account_whole(struct allocator *a, struct alloc_framework *fw, struct alloc_slave *s)
{
    struct alloc_pair *p = pair_get(fw, s);
    if (p->whole || !res_empty(&p->allocated)) {
        /* Not after a whole free pool (the pools would exceed the total). */
        pair_materialise(p);
        res_add(&p->allocated, &s->total);
    } else {
        res_cleanup(&p->allocated);
        p->whole = true;
    }
    fw_account_milli(a, fw, s->total_milli, +1);
    slave_update_dirty(a, s);
}

/* Move res from s's free pool to fw (clamped to what is free). */
static void allocate(struct allocator *a, struct alloc_framework *fw, struct alloc_slave *s,
                     const struct resources *res)
{
    struct resources taken;
    res_init(&taken);
    slave_free_materialise(s);
    if (subtract_clamped(&s->free, res, &taken)) {
        account(a, fw, s, res);
    } else {
        char *want = res_format(res), *have = res_format(&taken);
        log_warn("allocator: framework %s on slave %s: %s exceeds the free "
                 "resources, recording %s",
                 fw->id, s->id, want, have);
        free(want);
        free(have);
        account(a, fw, s, &taken);
    }
    res_cleanup(&taken);
}

/* ---- lookup ------------------------------------------------------------ */

static struct alloc_framework *fw_find(const struct allocator *a, const char *id)
{
    struct alloc_framework *fw = NULL;
    HASH_FIND_STR(a->frameworks, id, fw);
    return fw;
}

static struct alloc_slave *slave_find(const struct allocator *a, const char *id)
{
    struct alloc_slave *s = NULL;
    HASH_FIND_STR(a->slaves, id, s);
    return s;
}

/* ---- the pass ---------------------------------------------------------- */

/* Drop expired filters; their slaves may be offered again. */
static void expire_filters(struct allocator *a, double now)
{
    while (a->nfilters > 0 && a->filters[0]->filter_expiry <= now) {
        struct alloc_pair *p = a->filters[0];
        struct alloc_slave *s = p->slave;
        filter_remove(a, p);
        pair_gc(a, p);
        slave_update_dirty(a, s);
    }
}

struct offer_list {
    struct pending_offer *v;
    size_t n, cap;
};

/* Offer slave s to the poorest eligible frameworks: normally one, which
 * takes all of the free resources; more only when some free resources are
 * reserved for another role. Frameworks that are filtered for s, or that
 * may not use what is left, are popped aside and pushed back after. */
static void allocate_slave(struct allocator *a, struct alloc_slave *s, double now,
                           struct offer_list *out, struct alloc_framework ***skipped,
                           size_t *skipped_cap)
{
    size_t nskipped = 0;
    while (slave_free_allocatable(s)) {
        struct alloc_framework *fw = fw_heap_pop(a);
        if (!fw)
            break;
        if (nskipped == *skipped_cap) {
            *skipped_cap = *skipped_cap ? 2 * *skipped_cap : 16;
            *skipped = xrealloc(*skipped, *skipped_cap * sizeof(**skipped));
        }
        (*skipped)[nskipped++] = fw; /* pushed back below in every case */
        if (pair_filtered(pair_find(fw, s), now))
            continue;
        struct resources res;
        bool whole;
        if (!take_offerable(s, fw, &res, &whole))
            continue;
        if (whole)
            account_whole(a, fw, s);
        else
            account(a, fw, s, &res);
        fw->last_offer_seq = ++a->offer_seq;
        if (out->n == out->cap) {
            out->cap = out->cap ? 2 * out->cap : 64;
            out->v = xrealloc(out->v, out->cap * sizeof(*out->v));
        }
        struct pending_offer *po = &out->v[out->n++];
        po->fw = fw;
        po->slave = s;
        po->whole = whole;
        po->res = res; /* moved */
    }
    for (size_t i = 0; i < nskipped; i++)
        fw_heap_push(a, (*skipped)[i]);
}

/* Final frees, once nothing (no pending offer) can point at them. */
static void fw_destroy(struct alloc_framework *fw)
{
    free(fw->id);
    free(fw->role);
    free(fw);
}

static void slave_destroy(struct alloc_slave *s)
{
    res_cleanup(&s->total);
    res_cleanup(&s->free);
    free(s->id);
    free(s);
}

/* Hand the decided offers to the master. The allocator is consistent
 * before the first callback; each offer is checked again because an
 * earlier callback may have removed or deactivated its framework or slave
 * (an offer to a framework merely suppressed meanwhile is still made: it
 * was decided before). */
static void deliver_offers(struct allocator *a, struct offer_list *offers)
{
    a->delivering++;
    for (size_t i = 0; i < offers->n; i++) {
        struct pending_offer *po = &offers->v[i];
        const struct resources *res = po->whole ? &po->slave->total : &po->res;
        if (po->fw->removed || po->slave->removed) {
            /* Removal already released the allocation. */
        } else if (!po->fw->active) {
            /* Deactivated meanwhile: nobody would get the offer to decline it. */
            alloc_recover(a, po->fw->id, po->slave->id, res, 0);
        } else if (a->cb.offer) {
            a->cb.offer(po->fw->id, po->slave->id, res, a->cb_arg);
        }
        res_cleanup(&po->res);
    }
    free(offers->v);
    if (--a->delivering > 0)
        return; /* an outer delivery still holds pointers */
    while (a->dead_fws) {
        struct alloc_framework *fw = a->dead_fws;
        a->dead_fws = fw->next_dead;
        fw_destroy(fw);
    }
    while (a->dead_slaves) {
        struct alloc_slave *s = a->dead_slaves;
        a->dead_slaves = s->next_dead;
        slave_destroy(s);
    }
}

void alloc_run(struct allocator *a)
{
    double t0 = wall_ms();
    double now = a->now(a->now_arg);
    struct offer_list offers = { 0 };
    struct alloc_framework **skipped = NULL;
    size_t skipped_cap = 0;

    expire_filters(a, now);
    refresh_shares(a);
    /* Backwards, so that slaves leaving the dirty array (swap-remove) never
   * make us skip one. Nothing to do when no framework wants offers. */
    for (size_t i = a->ndirty; i-- > 0 && a->fw_heap_len > 0;) {
        if (i >= a->ndirty)
            continue;
        allocate_slave(a, a->dirty[i], now, &offers, &skipped, &skipped_cap);
    }
    free(skipped);
    arm_filter_timer(a);

    a->cycles++;
    a->last_cycle_ms = wall_ms() - t0;
    metric_observe(a->cycle_metric, a->last_cycle_ms);
    if (offers.n > 0)
        metric_observe(a->busy_cycle_metric, a->last_cycle_ms);
    if (a->last_cycle_ms > a->max_cycle_ms) {
        a->max_cycle_ms = a->last_cycle_ms;
        metric_set(a->max_cycle_metric, a->max_cycle_ms);
    }
    log_debug("allocator: pass %llu: %zu offers, %zu slaves still free, %.3f ms",
              (unsigned long long)a->cycles, offers.n, a->ndirty, a->last_cycle_ms);
    deliver_offers(a, &offers);
}

/* ---- events ------------------------------------------------------------ */

static void on_pass_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    alloc_run(arg);
}

static void on_filter_event(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct allocator *a = arg;
    a->filter_armed_at = INFINITY;
    alloc_run(a); /* expires the filters, re-arms the timer */
}

void alloc_request(struct allocator *a)
{
    /* event_active on an already active event is a no-op: that is the
   * coalescing. */
    if (a->request_ev)
        event_active(a->request_ev, EV_TIMEOUT, 0);
}

void alloc_set_batch(struct allocator *a, double batch_secs)
{
    a->batch_secs = batch_secs;
}

/* Recovered resources wait for at most one batch window, not for the
 * periodic pass (issue 14). During a delivery the pass that is delivering
 * runs again soon enough; asking then would only add a pass. */
static void request_batched(struct allocator *a)
{
    if (!a->batch_ev || a->batch_secs < 0 || a->delivering > 0)
        return;
    if (a->batch_secs == 0) {
        alloc_request(a);
    } else if (!evtimer_pending(a->batch_ev, NULL)) {
        struct timeval tv = time_tv(a->batch_secs);
        evtimer_add(a->batch_ev, &tv);
    }
}

/* ---- construction ------------------------------------------------------ */

struct allocator *alloc_new(struct event_base *base, double interval_secs,
                            const struct alloc_callbacks *cb, void *arg)
{
    struct allocator *a = xcalloc(1, sizeof(*a));
    a->base = base;
    if (cb)
        a->cb = *cb;
    a->cb_arg = arg;
    a->batch_secs = -1;
    a->now = default_now;
    a->filter_armed_at = INFINITY;
    a->cycle_metric = metrics_summary("agora_master_allocation_cycle_ms",
                                      "Duration of allocation passes in milliseconds.");
    a->busy_cycle_metric = metrics_summary("agora_master_allocation_busy_cycle_ms",
                                           "Duration of allocation passes that made offers (ms).");
    a->max_cycle_metric = metrics_gauge("agora_master_allocation_cycle_max_ms",
                                        "Longest allocation pass since start (ms).");
    if (base) {
        a->request_ev = event_new(base, -1, 0, on_pass_event, a);
        a->filter_ev = evtimer_new(base, on_filter_event, a);
        a->batch_ev = evtimer_new(base, on_pass_event, a);
        if (interval_secs > 0) {
            a->periodic_ev = event_new(base, -1, EV_PERSIST, on_pass_event, a);
            struct timeval tv = time_tv(interval_secs);
            event_add(a->periodic_ev, &tv);
        }
    }
    return a;
}

static void fw_remove(struct allocator *a, struct alloc_framework *fw)
{
    struct alloc_pair *p, *tmp;
    HASH_ITER (hh_fw, fw->pairs, p, tmp) {
        pair_release(a, p);
        pair_free(a, p);
    }
    fw_heap_remove(a, fw);
    HASH_DEL(a->frameworks, fw);
    a->nframeworks--;
    if (a->delivering > 0) {
        fw->removed = true;
        fw->next_dead = a->dead_fws;
        a->dead_fws = fw;
        return;
    }
    fw_destroy(fw);
}

static void slave_remove(struct allocator *a, struct alloc_slave *s)
{
    struct alloc_pair *p, *tmp;
    DL_FOREACH_SAFE2(s->pairs, p, tmp, snext)
    {
        pair_release(a, p);
        pair_free(a, p);
    }
    s->active = false;
    slave_update_dirty(a, s);
    for (int k = 0; k < SH_N; k++)
        a->cluster_milli[k] -= s->total_milli[k];
    a->shares_stale = true;
    HASH_DEL(a->slaves, s);
    a->nslaves--;
    if (a->delivering > 0) {
        s->removed = true;
        s->next_dead = a->dead_slaves;
        a->dead_slaves = s;
        return;
    }
    slave_destroy(s);
}

void alloc_free(struct allocator *a)
{
    if (!a)
        return;
    struct alloc_framework *fw, *ftmp;
    HASH_ITER (hh, a->frameworks, fw, ftmp)
        fw_remove(a, fw);
    struct alloc_slave *s, *stmp;
    HASH_ITER (hh, a->slaves, s, stmp)
        slave_remove(a, s);
    if (a->request_ev)
        event_free(a->request_ev);
    if (a->periodic_ev)
        event_free(a->periodic_ev);
    if (a->filter_ev)
        event_free(a->filter_ev);
    if (a->batch_ev)
        event_free(a->batch_ev);
    free(a->fw_heap);
    free(a->dirty);
    free(a->filters);
    free(a);
}

void alloc_set_clock(struct allocator *a, double (*now)(void *arg), void *arg)
{
    a->now = now ? now : default_now;
    a->now_arg = now ? arg : NULL;
    a->filter_armed_at = INFINITY; /* re-arm against the new clock */
    arm_filter_timer(a);
}

/* ---- frameworks -------------------------------------------------------- */

void alloc_add_framework(struct allocator *a, const char *id, const char *role, bool active)
{
    if (!role || !*role)
        role = "*";
    struct alloc_framework *fw = fw_find(a, id);
    if (fw) {
        /* Re-subscription (or a placeholder made by alloc_add_used). */
        free(fw->role);
        fw->role = xstrdup(role);
        fw->active = active;
        fw_update_eligibility(a, fw);
        return;
    }
    fw = xcalloc(1, sizeof(*fw));
    fw->id = xstrdup(id);
    fw->role = xstrdup(role);
    fw->active = active;
    fw->heap_idx = HEAP_NONE;
    HASH_ADD_KEYPTR(hh, a->frameworks, fw->id, strlen(fw->id), fw);
    a->nframeworks++;
    fw_update_eligibility(a, fw);
    log_debug("allocator: added framework %s (role %s, %s)", id, role,
              active ? "active" : "inactive");
}

void alloc_remove_framework(struct allocator *a, const char *id)
{
    struct alloc_framework *fw = fw_find(a, id);
    if (!fw)
        return;
    fw_remove(a, fw);
    arm_filter_timer(a); /* its filters are gone */
}

static void fw_set(struct allocator *a, const char *id, int active, int suppressed,
                   bool clear_filters)
{
    struct alloc_framework *fw = fw_find(a, id);
    if (!fw) {
        log_warn("allocator: unknown framework %s", id);
        return;
    }
    if (active >= 0)
        fw->active = active;
    if (suppressed >= 0)
        fw->suppressed = suppressed;
    if (clear_filters) {
        struct alloc_pair *p, *tmp;
        HASH_ITER (hh_fw, fw->pairs, p, tmp) {
            struct alloc_slave *s = p->slave;
            filter_remove(a, p);
            pair_gc(a, p);
            slave_update_dirty(a, s);
        }
        arm_filter_timer(a);
    }
    fw_update_eligibility(a, fw);
}

void alloc_activate_framework(struct allocator *a, const char *fw)
{
    fw_set(a, fw, 1, -1, false);
}

void alloc_deactivate_framework(struct allocator *a, const char *fw)
{
    fw_set(a, fw, 0, -1, false);
}

void alloc_suppress(struct allocator *a, const char *fw)
{
    fw_set(a, fw, -1, 1, false);
}

void alloc_revive(struct allocator *a, const char *fw)
{
    fw_set(a, fw, -1, 0, true);
}

/* ---- slaves ------------------------------------------------------------ */

void alloc_add_slave(struct allocator *a, const char *id, const struct resources *total)
{
    struct alloc_slave *s = slave_find(a, id);
    if (s) {
        /* Re-added with maybe new totals: start from scratch, the master
     * re-adds what is used through alloc_add_used. */
        log_warn("allocator: slave %s added twice, resetting it", id);
        slave_remove(a, s);
    }
    s = xcalloc(1, sizeof(*s));
    s->id = xstrdup(id);
    s->active = true;
    s->dirty_idx = HEAP_NONE;
    res_init(&s->total);
    res_init(&s->free);
    res_add(&s->total, total); /* normalised, as pools rebuilt by res_add */
    s->free_whole = true;
    s->total_unreserved = true;
    for (size_t i = 0; i < s->total.n; i++)
        if (strcmp(s->total.v[i].role, "*") != 0)
            s->total_unreserved = false;
    s->total_allocatable = is_allocatable(&s->total);
    share_scalars(&s->total, s->total_milli);
    for (int k = 0; k < SH_N; k++)
        a->cluster_milli[k] += s->total_milli[k];
    a->shares_stale = true;
    HASH_ADD_KEYPTR(hh, a->slaves, s->id, strlen(s->id), s);
    a->nslaves++;
    slave_update_dirty(a, s);
}

void alloc_remove_slave(struct allocator *a, const char *id)
{
    struct alloc_slave *s = slave_find(a, id);
    if (!s)
        return;
    slave_remove(a, s);
    arm_filter_timer(a);
}

static void slave_set_active(struct allocator *a, const char *id, bool active)
{
    struct alloc_slave *s = slave_find(a, id);
    if (!s) {
        log_warn("allocator: unknown slave %s", id);
        return;
    }
    s->active = active;
    slave_update_dirty(a, s);
}

void alloc_activate_slave(struct allocator *a, const char *slave)
{
    slave_set_active(a, slave, true);
}

void alloc_deactivate_slave(struct allocator *a, const char *slave)
{
    slave_set_active(a, slave, false);
}

void alloc_add_used(struct allocator *a, const char *fw_id, const char *slave_id,
                    const struct resources *res)
{
    struct alloc_slave *s = slave_find(a, slave_id);
    if (!s) {
        log_warn("allocator: used resources on unknown slave %s ignored", slave_id);
        return;
    }
    struct alloc_framework *fw = fw_find(a, fw_id);
    if (!fw) {
        /* Tasks of a framework that has not re-subscribed yet: hold their
     * resources under an inactive placeholder so they are not offered. */
        alloc_add_framework(a, fw_id, "*", false);
        fw = fw_find(a, fw_id);
    }
    allocate(a, fw, s, res);
}

void alloc_recover(struct allocator *a, const char *fw_id, const char *slave_id,
                   const struct resources *res, double refuse_secs)
{
    struct alloc_framework *fw = fw_find(a, fw_id);
    struct alloc_slave *s = slave_find(a, slave_id);
    if (!fw || !s)
        return; /* removal already released everything */
    struct alloc_pair *p = pair_find(fw, s);
    if (p && p->whole && !s->free_whole && s->free.n == 0 &&
        (res == &s->total || res_equal(res, &s->total))) {
        /* The whole slave comes back (a declined full offer): no arithmetic. */
        p->whole = false;
        s->free_whole = true;
        fw_account_milli(a, fw, s->total_milli, -1);
        if (refuse_secs > 0)
            filter_add(a, p, a->now(a->now_arg) + refuse_secs);
        pair_gc(a, p);
        slave_update_dirty(a, s);
        request_batched(a);
        return;
    }
    if (p)
        pair_materialise(p);
    struct resources taken;
    res_init(&taken);
    const struct resources *back = res;
    if (!p || !subtract_clamped(&p->allocated, res, &taken)) {
        char *want = res_format(res), *got = res_format(&taken);
        log_warn("allocator: framework %s recovers %s on slave %s but holds less; "
                 "recovering %s",
                 fw_id, want, slave_id, got);
        free(want);
        free(got);
        back = &taken;
    }
    if (!p)
        p = pair_get(fw, s);
    if (!res_empty(back)) {
        slave_free_materialise(s);
        res_add(&s->free, back);
        slave_free_settle(s);
    }
    fw_account(a, fw, back, -1);
    res_cleanup(&taken);
    if (refuse_secs > 0)
        filter_add(a, p, a->now(a->now_arg) + refuse_secs);
    pair_gc(a, p);
    slave_update_dirty(a, s);
    request_batched(a);
}

/* ---- figures ----------------------------------------------------------- */

void alloc_get_stats(const struct allocator *a, struct alloc_stats *out)
{
    out->cycles = a->cycles;
    out->last_cycle_ms = a->last_cycle_ms;
    out->slaves = a->nslaves;
    out->frameworks = a->nframeworks;
}

double alloc_dominant_share(const struct allocator *a, const char *id)
{
    const struct alloc_framework *fw = fw_find(a, id);
    return fw ? compute_share(a, fw) : 0.0;
}
