/*
 * loop.h: bounded waits on an event_base for the unit tests that run
 * servers and clients in-process. run_until(base, cond) spins the loop
 * until cond holds or DEADLINE_SECS pass, then asserts cond; a 20 ms
 * ticker keeps EVLOOP_ONCE from blocking past the deadline.
 * (test_http.c has its own copy of these helpers, on its fixture.)
 */
#ifndef AGORA_TEST_LOOP_H
#define AGORA_TEST_LOOP_H

#include <time.h>

#include <event2/event.h>

#ifndef DEADLINE_SECS
#define DEADLINE_SECS 10.0
#endif

static inline double loop_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static inline void loop_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
}

/* Run base for secs whatever happens: to show something does NOT happen. */
static inline void loop_run_for(struct event_base *base, double secs)
{
    struct event *t = event_new(base, -1, EV_PERSIST, loop_tick, NULL);
    struct timeval tv = { 0, 20000 };
    double end = loop_now() + secs;

    event_add(t, &tv);
    while (loop_now() < end)
        event_base_loop(base, EVLOOP_ONCE);
    event_free(t);
}

#define run_until(base, cond)                                                  \
    do {                                                                       \
        double end_ = loop_now() + DEADLINE_SECS;                              \
        struct event *t_ = event_new((base), -1, EV_PERSIST, loop_tick, NULL); \
        struct timeval tv_ = { 0, 20000 };                                     \
        event_add(t_, &tv_);                                                   \
        while (!(cond) && loop_now() < end_)                                   \
            event_base_loop((base), EVLOOP_ONCE);                              \
        event_free(t_);                                                        \
        assert_true(cond);                                                     \
    } while (0)

#endif
