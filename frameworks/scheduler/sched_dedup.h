/*
 * sched_dedup: which tasks already had a terminal update delivered to the
 * framework, so that a repeated one (a slave's retry of an update whose
 * acknowledgement was lost with a master, a reconciliation answer) is
 * dropped instead of reaching it twice. Bounded: the oldest task ids are
 * forgotten first. A pure decision, unit-tested in test_scheduler.c.
 */
#ifndef AGORA_SCHED_DEDUP_H
#define AGORA_SCHED_DEDUP_H

#include <stdbool.h>
#include <stddef.h>

struct sched_dedup;

/* Remember at most cap task ids (cap >= 1). */
struct sched_dedup *sched_dedup_new(size_t cap);
/* NULL is ignored. */
void sched_dedup_free(struct sched_dedup *d);
/* An update of task_id in state (a Mesos__V1__TaskState) arrived: true
 * when it must be dropped (terminal, and a terminal update of that task
 * id was delivered before). A terminal update not dropped is remembered;
 * a non-terminal one forgets the task id (it names a new task now). */
bool sched_dedup_drop(struct sched_dedup *d, const char *task_id, int state);
/* How many task ids are remembered. */
size_t sched_dedup_count(const struct sched_dedup *d);

#endif
