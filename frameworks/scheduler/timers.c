/*
 * timers: agora_scheduler_add_timer — one-shot and repeating timers on the
 * scheduler's event_base, so that a framework's retries and periodic
 * reconciliations need no libevent header. The scheduler owns them (its
 * list frees what is still pending); a stop silences them.
 */
#include <stdlib.h>

#include <event2/event.h>

#include "sched_internal.h"
#include "mem.h"
#include "timeutil.h"

struct agora_timer {
    TAILQ_ENTRY(agora_timer) link;
    struct agora_scheduler *s;
    struct event *ev;
    agora_timer_fn fn;
    void *ctx;
    bool repeat;
    bool firing;    /* inside fn */
    bool cancelled; /* cancelled from inside fn: freed when it returns */
};

static void timer_free(struct agora_scheduler *s, struct agora_timer *t)
{
    TAILQ_REMOVE(&s->timers, t, link);
    event_free(t->ev);
    free(t);
}

static void timer_on_fire(evutil_socket_t fd, short what, void *arg)
{
    struct agora_timer *t = arg;
    struct agora_scheduler *s = t->s;

    (void)fd;
    (void)what;
    if (!s->stopping) {
        t->firing = true;
        t->fn(s, t->ctx);
        t->firing = false;
    }
    if (!t->repeat || t->cancelled)
        timer_free(s, t);
}

struct agora_timer *agora_scheduler_add_timer(struct agora_scheduler *s, unsigned ms, bool repeat,
                                              agora_timer_fn fn, void *ctx)
{
    struct agora_timer *t;
    struct timeval tv;

    if (!s || !fn || (repeat && ms == 0))
        return NULL;
    t = xcalloc(1, sizeof(*t));
    t->s = s;
    t->fn = fn;
    t->ctx = ctx;
    t->repeat = repeat;
    t->ev = event_new(s->base, -1, repeat ? EV_PERSIST : 0, timer_on_fire, t);
    if (!t->ev) {
        free(t);
        return NULL;
    }
    tv = time_tv(ms / 1000.0);
    event_add(t->ev, &tv);
    TAILQ_INSERT_TAIL(&s->timers, t, link);
    return t;
}

void agora_scheduler_cancel_timer(struct agora_scheduler *s, struct agora_timer *t)
{
    if (!s || !t)
        return;
    if (t->firing) {
        /* timer_on_fire still uses t: it frees it after fn returns. */
        event_del(t->ev);
        t->cancelled = true;
        return;
    }
    timer_free(s, t);
}

void sched_timers_free_all(struct agora_scheduler *s)
{
    struct agora_timer *t;

    while ((t = TAILQ_FIRST(&s->timers)) != NULL)
        timer_free(s, t);
}
