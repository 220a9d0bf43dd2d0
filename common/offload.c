/*
 * offload: one function on its own thread, its end signalled to the loop
 * through a pipe (the thread writes one byte; the loop's read event joins
 * the thread and calls done). See offload.h.
 */
#define _GNU_SOURCE /* pipe2 */
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include <event2/event.h>

#include "fdio.h"
#include "log.h"
#include "mem.h"
#include "offload.h"

struct offload {
    pthread_t thread;
    int fds[2];       /* [0] read by the loop, [1] written by the thread */
    struct event *ev; /* read event on fds[0] */
    offload_work_fn work;
    offload_done_fn done;
    void *arg;
};

static void *run(void *p)
{
    struct offload *o = p;
    o->work(o->arg);
    char c = 1;
    if (fdio_write_all(o->fds[1], &c, 1) != 1)
        abort(); /* the loop would wait forever */
    return NULL;
}

static void job_free(struct offload *o)
{
    pthread_join(o->thread, NULL);
    event_free(o->ev);
    close(o->fds[0]);
    close(o->fds[1]);
    free(o);
}

static void on_done(evutil_socket_t fd, short what, void *p)
{
    (void)fd;
    (void)what;
    struct offload *o = p;
    offload_done_fn done = o->done;
    void *arg = o->arg;
    job_free(o);
    done(arg);
}

struct offload *offload_start(struct event_base *base, offload_work_fn work, offload_done_fn done,
                              void *arg)
{
    struct offload *o = xcalloc(1, sizeof(*o));
    /* CLOEXEC: HAProxy and the other children must not hold it. */
    if (pipe2(o->fds, O_CLOEXEC) != 0) {
        log_warn("offload: pipe: %m");
        free(o);
        return NULL;
    }
    o->work = work;
    o->done = done;
    o->arg = arg;
    o->ev = event_new(base, o->fds[0], EV_READ, on_done, o);
    event_add(o->ev, NULL);
    if (pthread_create(&o->thread, NULL, run, o) != 0) {
        log_warn("offload: cannot start a thread");
        event_free(o->ev);
        close(o->fds[0]);
        close(o->fds[1]);
        free(o);
        return NULL;
    }
    return o;
}

void offload_cancel(struct offload *o)
{
    if (o != NULL)
        job_free(o);
}
