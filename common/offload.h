/*
 * offload: run one CPU-bound function off the event loop, on a thread of
 * its own, and get back onto the loop when it is done.
 *
 * For work that would stall the loop for hundreds of milliseconds and
 * touches nothing the loop owns — parsing a multi-megabyte answer, say.
 * The work function gets only its argument and must not call into
 * libevent, logging or metrics (none of them is locked); the done
 * function runs on the loop, from an event (never from offload_start),
 * and may use everything. One thread per job: jobs are rare and long,
 * so a pool would buy nothing.
 */
#ifndef AGORA_OFFLOAD_H
#define AGORA_OFFLOAD_H

struct event_base;
struct offload;

typedef void (*offload_work_fn)(void *arg);
typedef void (*offload_done_fn)(void *arg);

/* Start work(arg) on a new thread; done(arg) follows on base's loop.
 * NULL when no thread or pipe could be made (the caller may run the work
 * itself). */
struct offload *offload_start(struct event_base *base, offload_work_fn work, offload_done_fn done,
                              void *arg);
/* Wait for the work to end and free the job without calling done: arg is
 * the caller's again. */
void offload_cancel(struct offload *o);

#endif
