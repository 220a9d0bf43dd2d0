/*
 * allocator: Dominant Resource Fairness allocation of slave resources to
 * frameworks, with offer filters, suppression and batched allocation.
 *
 * The allocator knows slaves (total resources), frameworks (role, active,
 * suppressed) and, per framework and slave, what is allocated (offered or
 * used by tasks). It never talks to the network: when it decides to offer,
 * it marks the resources allocated and calls the offer callback; the master
 * turns that into an Offer. Everything given back (declined, rescinded,
 * unused part of an accepted offer, resources of a finished task) comes
 * back through alloc_recover.
 *
 * Allocation runs (a) at the end of the loop turn after alloc_request() —
 * so a burst of events costs one pass — and (b) every interval_secs.
 * A pass visits only slaves with free resources, and for each slave picks
 * the eligible framework with the lowest dominant share (frameworks kept
 * in share order), so a pass is about O(dirty slaves x log frameworks),
 * not slaves x frameworks. Each offer gives one framework all of a slave's
 * free resources, as Mesos does; slaves with less than the minimum
 * allocatable amount (0.01 cpus or 32 MB mem) free are skipped.
 *
 * Ids are strings owned by the caller; the allocator copies what it keeps.
 */
#ifndef AGORA_ALLOCATOR_H
#define AGORA_ALLOCATOR_H

#include <stdbool.h>
#include <stdint.h>
#include "resources.h"

struct event_base;
struct allocator;

struct alloc_callbacks {
    /* Offer res (already marked allocated) on slave to framework. res is
   * valid during the call only (it may be the allocator's own copy of the
   * slave's total): copy what must outlive it. */
    void (*offer)(const char *framework_id, const char *slave_id, const struct resources *res,
                  void *arg);
};

/* base may be NULL (tests/benchmarks): then nothing runs by itself and the
 * caller drives alloc_run(). interval_secs <= 0 disables the periodic pass. */
struct allocator *alloc_new(struct event_base *base, double interval_secs,
                            const struct alloc_callbacks *cb, void *arg);
void alloc_free(struct allocator *a);

void alloc_add_framework(struct allocator *a, const char *fw, const char *role, bool active);
/* Releases everything allocated to fw. */
void alloc_remove_framework(struct allocator *a, const char *fw);
void alloc_activate_framework(struct allocator *a, const char *fw);
void alloc_deactivate_framework(struct allocator *a, const char *fw);
/* Suppressed frameworks get no offers until revived. Revive also clears
 * the framework's filters (Mesos semantics). */
void alloc_suppress(struct allocator *a, const char *fw);
void alloc_revive(struct allocator *a, const char *fw);

void alloc_add_slave(struct allocator *a, const char *slave, const struct resources *total);
/* Releases every allocation on the slave. */
void alloc_remove_slave(struct allocator *a, const char *slave);
/* Inactive slaves are not offered (unreachable, draining). */
void alloc_activate_slave(struct allocator *a, const char *slave);
void alloc_deactivate_slave(struct allocator *a, const char *slave);
/* Record resources already in use by fw on slave (tasks found when a slave
 * re-registers). */
void alloc_add_used(struct allocator *a, const char *fw, const char *slave,
                    const struct resources *res);

/* Resources go back to the free pool. refuse_secs > 0 filters them: fw is
 * not offered this slave again for that long (Filters.refuse_seconds). */
void alloc_recover(struct allocator *a, const char *fw, const char *slave,
                   const struct resources *res, double refuse_secs);

/* Ask for an allocation pass at the end of this loop turn (coalesced). */
void alloc_request(struct allocator *a);
/* Resources recovered (alloc_recover) ask for a pass batch_secs later, so
 * that a burst of recoveries costs one pass and is offered whole; 0: at
 * the end of the loop turn; < 0 (the default of alloc_new): never, only
 * the periodic pass and the other events offer them. */
void alloc_set_batch(struct allocator *a, double batch_secs);
/* Run one pass now. */
void alloc_run(struct allocator *a);

/* Clock used for filter expiry, in seconds on a monotonic scale. NULL
 * restores the default (CLOCK_MONOTONIC). Tests set a fake clock to expire
 * filters without sleeping. */
void alloc_set_clock(struct allocator *a, double (*now)(void *arg), void *arg);

/* Figures for /metrics and benchmarks. */
struct alloc_stats {
    uint64_t cycles;
    double last_cycle_ms;
    size_t slaves, frameworks;
};
void alloc_get_stats(const struct allocator *a, struct alloc_stats *out);
/* Dominant share of fw in [0,1] (tests). */
double alloc_dominant_share(const struct allocator *a, const char *fw);

#endif
