/*
 * queues.c: where the master's time goes under load, in /metrics (issue 14).
 *
 * Work for the master waits in two places it cannot see item by item: the
 * kernel's socket buffers in front of it (calls not yet read) and the
 * stream buffers behind it (events not yet written to a framework or a
 * slave). The first shows as loop lag: a timer due every LAG_PERIOD fires
 * late by the time the loop spent on everything queued before it, which is
 * what a call arriving then waits too. The second is the bytes pending on
 * the streams, bounded by MASTER_MAX_STREAM_PENDING per stream (a stream
 * over it is dropped, so a slow peer never grows the master without end).
 * Between them, the slave's round trip of a launch (RUN_TASK queued to the
 * first TASK_RUNNING back) says whether launches wait on the slaves.
 */
#include <event2/event.h>

#include "http.h"
#include "master.h"
#include "mem.h"
#include "metrics.h"
#include "timeutil.h"

#define LAG_PERIOD 0.05 /* seconds */

struct master_queues {
    struct master *m;
    struct event *lag_ev;
    double due;
    struct metric *lag_ms;
    struct metric *launch_ms;
};

static void lag_tick(evutil_socket_t fd, short what, void *arg);

static void arm(struct master_queues *q)
{
    struct timeval tv = time_tv(LAG_PERIOD);
    q->due = time_now() + LAG_PERIOD;
    evtimer_add(q->lag_ev, &tv);
}

static void lag_tick(evutil_socket_t fd, short what, void *arg)
{
    struct master_queues *q = arg;
    (void)fd;
    (void)what;
    double now = time_now();
    metric_observe(q->lag_ms, now > q->due ? (now - q->due) * 1e3 : 0);
    arm(q);
}

/* Bytes pending on the streams of frameworks (kind 0) or slaves (kind 1):
 * the sum, or the largest one. */
static double pending(const struct master *m, int kind, int max)
{
    double total = 0, top = 0;
    if (kind == 0) {
        for (const struct framework *fw = m->frameworks; fw; fw = fw->hh.next)
            if (fw->stream) {
                double n = (double)http_stream_pending(fw->stream);
                total += n;
                top = n > top ? n : top;
            }
    } else {
        for (const struct slave *s = m->slaves; s; s = s->hh.next)
            if (s->stream) {
                double n = (double)http_stream_pending(s->stream);
                total += n;
                top = n > top ? n : top;
            }
    }
    return max ? top : total;
}

static double g_fw_pending(void *arg)
{
    return pending(arg, 0, 0);
}

static double g_fw_pending_max(void *arg)
{
    return pending(arg, 0, 1);
}

static double g_slave_pending(void *arg)
{
    return pending(arg, 1, 0);
}

static double g_slave_pending_max(void *arg)
{
    return pending(arg, 1, 1);
}

struct master_queues *master_queues_new(struct master *m)
{
    struct master_queues *q = xcalloc(1, sizeof(*q));
    q->m = m;
    q->lag_ms = metrics_summary("agora_master_loop_lag_ms",
                                "How late a timer due every 50 ms ran: the wait of work queued "
                                "in front of the event loop");
    metrics_gauge_fn("agora_master_framework_streams_pending_bytes",
                     "Event bytes not yet written to framework streams (all of them)", g_fw_pending,
                     m);
    metrics_gauge_fn("agora_master_framework_stream_pending_max_bytes",
                     "Event bytes not yet written to the most behind framework stream",
                     g_fw_pending_max, m);
    metrics_gauge_fn("agora_master_slave_streams_pending_bytes",
                     "Event bytes not yet written to slave streams (all of them)", g_slave_pending,
                     m);
    metrics_gauge_fn("agora_master_slave_stream_pending_max_bytes",
                     "Event bytes not yet written to the most behind slave stream",
                     g_slave_pending_max, m);
    q->launch_ms = metrics_summary("agora_master_run_task_to_running_ms",
                                   "From a task's RUN_TASK queued to its slave to its first "
                                   "TASK_RUNNING received back: the slave's part of a launch, "
                                   "writes pending on the slave stream included");
    q->lag_ev = evtimer_new(m->base, lag_tick, q);
    arm(q);
    return q;
}

void master_queues_launched(struct master *m, struct task *t)
{
    (void)m;
    t->launched_at = time_now();
}

void master_queues_running(struct master *m, struct task *t)
{
    if (t->launched_at > 0 && m->queues)
        metric_observe(m->queues->launch_ms, (time_now() - t->launched_at) * 1e3);
    t->launched_at = 0;
}

void master_queues_free(struct master_queues *q)
{
    if (!q)
        return;
    event_free(q->lag_ev);
    free(q);
}
