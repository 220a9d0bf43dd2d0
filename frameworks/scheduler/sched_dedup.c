/*
 * sched_dedup: the terminal-update memory of a scheduler (see
 * sched_dedup.h). A chained hash of task ids for the look-up and a FIFO
 * of the same entries for eviction, so both stay O(1) per update.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include "sched_dedup.h"
#include "mem.h"
#include "task_state.h"

struct dedup_entry {
    char *task_id;
    struct dedup_entry *hnext;     /* hash chain */
    TAILQ_ENTRY(dedup_entry) fifo; /* oldest first */
};

struct sched_dedup {
    struct dedup_entry **buckets;
    size_t nbuckets; /* a power of two */
    size_t n, cap;
    TAILQ_HEAD(, dedup_entry) order;
};

static uint64_t dedup_hash(const char *s)
{
    uint64_t h = 1469598103934665603ull; /* FNV-1a */

    while (*s) {
        h ^= (unsigned char)*s++;
        h *= 1099511628211ull;
    }
    return h;
}

struct sched_dedup *sched_dedup_new(size_t cap)
{
    struct sched_dedup *d = xcalloc(1, sizeof(*d));

    d->cap = cap ? cap : 1;
    d->nbuckets = 16;
    while (d->nbuckets < d->cap && d->nbuckets < (1u << 20))
        d->nbuckets <<= 1;
    d->buckets = xcalloc(d->nbuckets, sizeof(*d->buckets));
    TAILQ_INIT(&d->order);
    return d;
}

void sched_dedup_free(struct sched_dedup *d)
{
    struct dedup_entry *e;

    if (!d)
        return;
    while ((e = TAILQ_FIRST(&d->order)) != NULL) {
        TAILQ_REMOVE(&d->order, e, fifo);
        free(e->task_id);
        free(e);
    }
    free(d->buckets);
    free(d);
}

/* The chain link pointing at task_id's entry (or at the NULL ending the
 * chain). */
static struct dedup_entry **dedup_find(struct sched_dedup *d, const char *task_id)
{
    struct dedup_entry **p = &d->buckets[dedup_hash(task_id) & (d->nbuckets - 1)];

    while (*p && strcmp((*p)->task_id, task_id) != 0)
        p = &(*p)->hnext;
    return p;
}

static void dedup_remove(struct sched_dedup *d, struct dedup_entry **link)
{
    struct dedup_entry *e = *link;

    *link = e->hnext;
    TAILQ_REMOVE(&d->order, e, fifo);
    d->n--;
    free(e->task_id);
    free(e);
}

bool sched_dedup_drop(struct sched_dedup *d, const char *task_id, int state)
{
    struct dedup_entry **link, *e;

    if (!d || !task_id)
        return false;
    link = dedup_find(d, task_id);
    if (!task_state_terminal((Mesos__V1__TaskState)state)) {
        if (*link)
            dedup_remove(d, link);
        return false;
    }
    if (*link)
        return true;
    if (d->n == d->cap) {
        struct dedup_entry *old = TAILQ_FIRST(&d->order);
        dedup_remove(d, dedup_find(d, old->task_id));
        link = dedup_find(d, task_id); /* the chain may have changed */
    }
    e = xcalloc(1, sizeof(*e));
    e->task_id = xstrdup(task_id);
    *link = e;
    TAILQ_INSERT_TAIL(&d->order, e, fifo);
    d->n++;
    return false;
}

size_t sched_dedup_count(const struct sched_dedup *d)
{
    return d ? d->n : 0;
}
