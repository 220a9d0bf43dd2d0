/*
 * gc: garbage collection of finished tasks' sandboxes, as Mesos' agent
 * does it (--gc_delay, --disk_watch_interval, --gc_disk_headroom).
 *
 * Owns the schedule: one entry per sandbox (run directory
 * <work_dir>/slaves/<agent>/frameworks/<fw>/executors/<task>/runs/<cid>)
 * of a retired task, kept in the order it was scheduled. A sandbox is
 * scheduled when its task is retired (terminal and every update
 * acknowledged; its checkpoint under meta/ is removed then, see
 * tasks.c): its mtime is set to now, so that the mtime is the schedule's
 * record on disk. At start, after recovery, every run directory that no
 * task of the slave owns is scheduled at its mtime: a restarted slave
 * carries on with the schedule it had (and collects what a slave with
 * another agent id left).
 *
 * A sandbox is due gc_delay * max(0, 1 - headroom - disk usage) after it
 * was scheduled (Mesos' "max allowed age"); the disk usage of the
 * work_dir's file system is read every --disk_watch_interval, so the
 * delay shrinks as the disk fills and reaches 0 at 1 - headroom. Since
 * every entry has the same delay, the oldest entry is always the next
 * due: one timer, armed for the head.
 *
 * Removal never runs on the loop: due sandboxes go in batches to a
 * forked worker (low CPU and I/O priority) that rm -rf's them and exits;
 * when it is reaped the loop checks each path, removes the parent
 * directories left empty (the executor's runs/ and its directory, the
 * framework's), logs and counts what went, and remembers the most recent
 * ones so that /files answers "garbage-collected" for them. Docker
 * containers are removed by docker.c before their task's exit is
 * reported, so none is left by the time a sandbox is due.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <event2/event.h>
#include <utlist.h>

#include "slave.h"
#include "atomic_file.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "timeutil.h"

#define GC_RETRY_SECS 60      /* a removal that failed is tried again after this */
#define GC_BATCH_MAX 256      /* sandboxes per worker */
#define GC_RECENT_MAX 10000   /* collected paths remembered for /files */
#define GC_FORK_RETRY_SECS 10 /* after a failed fork */
#define GC_COALESCE_SECS 1.0  /* what is due this much later goes with the batch */

struct gc_entry {
    char *path;       /* hash key: the sandbox (run directory) */
    double scheduled; /* wall clock: retirement, or the mtime found at start */
    struct gc_entry *prev, *next;
    UT_hash_handle hh;
};

struct gc_recent {
    char *path; /* hash key */
    UT_hash_handle hh;
};

struct gc {
    struct slave *s;
    struct gc_entry *by_path; /* hash of every scheduled entry */
    struct gc_entry *queue;   /* the same, oldest first (utlist DL) */
    size_t nqueue;
    struct event *timer;      /* the head's due time */
    struct event *disk_timer; /* --disk_watch_interval */
    double usage;             /* disk usage of work_dir's file system, 0..1 */
    double max_age;           /* current effective delay, seconds */
    pid_t worker;             /* removal process in flight, 0 when none */
    struct gc_entry **batch;  /* what the worker removes */
    size_t nbatch;
    struct gc_recent *recent;  /* hash of collected paths ... */
    char *ring[GC_RECENT_MAX]; /* ... and their order, to bound it */
    size_t ring_next;
    struct metric *m_collected, *m_failed;
};

double gc_max_age(double gc_delay, double headroom, double usage)
{
    double f = 1.0 - headroom - usage;

    return f > 0 ? gc_delay * f : 0;
}

static double metric_scheduled(void *arg)
{
    return (double)((struct gc *)arg)->nqueue;
}

static double metric_usage(void *arg)
{
    return ((struct gc *)arg)->usage;
}

static double metric_max_age(void *arg)
{
    return ((struct gc *)arg)->max_age;
}

static void gc_arm(struct gc *gc)
{
    struct timeval tv;
    double wait;

    if (gc->worker > 0)
        return; /* re-armed when the worker is reaped */
    if (gc->queue == NULL) {
        event_del(gc->timer);
        return;
    }
    wait = gc->queue->scheduled + gc->max_age - time_now();
    tv = time_tv_ceil(wait > 0 ? wait : 0);
    event_add(gc->timer, &tv);
}

static void entry_free(struct gc_entry *e)
{
    free(e->path);
    free(e);
}

/* Insert keeping the queue sorted by scheduled time: from the tail, as
 * new entries are nearly always the youngest. */
static void gc_insert(struct gc *gc, const char *path, double scheduled)
{
    struct gc_entry *e, *at;

    HASH_FIND_STR(gc->by_path, path, e);
    if (e != NULL)
        return;
    e = xcalloc(1, sizeof(*e));
    e->path = xstrdup(path);
    e->scheduled = scheduled;
    HASH_ADD_KEYPTR(hh, gc->by_path, e->path, strlen(e->path), e);
    at = gc->queue != NULL ? gc->queue->prev : NULL; /* utlist: head->prev is the tail */
    while (at != NULL && at->scheduled > scheduled)
        at = at == gc->queue ? NULL : at->prev;
    if (at == NULL)
        DL_PREPEND(gc->queue, e);
    else if (at->next == NULL)
        DL_APPEND(gc->queue, e);
    else
        DL_PREPEND_ELEM(gc->queue, at->next, e);
    gc->nqueue++;
}

static void gc_remember(struct gc *gc, const char *path)
{
    struct gc_recent *r;
    char *old = gc->ring[gc->ring_next];

    if (old != NULL) {
        HASH_FIND_STR(gc->recent, old, r);
        if (r != NULL) {
            HASH_DEL(gc->recent, r);
            free(r->path);
            free(r);
        }
        free(old);
    }
    gc->ring[gc->ring_next] = xstrdup(path);
    gc->ring_next = (gc->ring_next + 1) % GC_RECENT_MAX;
    HASH_FIND_STR(gc->recent, path, r);
    if (r == NULL) {
        r = xcalloc(1, sizeof(*r));
        r->path = xstrdup(path);
        HASH_ADD_KEYPTR(hh, gc->recent, r->path, strlen(r->path), r);
    }
}

bool gc_collected(struct gc *gc, const char *path)
{
    char *p, *q, *end, *slash;
    struct gc_recent *r = NULL;

    if (gc == NULL || path == NULL || path[0] != '/')
        return false;
    /* Lexically normalised: no "//", no trailing '/'. */
    p = xstrdup(path);
    for (q = end = p; *q != '\0'; q++)
        if (!(*q == '/' && end > p && end[-1] == '/'))
            *end++ = *q;
    *end = '\0';
    while (end - p > 1 && end[-1] == '/')
        *--end = '\0';
    /* The path or one of its parents. */
    for (;;) {
        HASH_FIND_STR(gc->recent, p, r);
        if (r != NULL || (slash = strrchr(p, '/')) == NULL || slash == p)
            break;
        *slash = '\0';
    }
    free(p);
    return r != NULL;
}

/* Remove the empty directories above a collected sandbox, up to (not
 * including) <work_dir>/slaves: runs/, the executor's, executors/, the
 * framework's... rmdir fails on the first one still in use. */
static void gc_remove_parents(struct gc *gc, const char *path)
{
    char *root = xasprintf("%s/slaves", gc->s->flags->work_dir);
    char *p = xstrdup(path), *slash;
    size_t rl = strlen(root);

    while ((slash = strrchr(p, '/')) != NULL) {
        *slash = '\0';
        if (strlen(p) <= rl || strncmp(p, root, rl) != 0 || p[rl] != '/')
            break;
        if (rmdir(p) < 0)
            break;
    }
    free(p);
    free(root);
}

static void __attribute__((noreturn)) gc_worker_main(struct gc *gc)
{
    size_t i;

    slave_child_reset(-1);
    if (setpriority(PRIO_PROCESS, 0, 10) < 0) {
        /* best effort */
    }
    /* I/O priority: best-effort class (2), lowest level (7). */
    syscall(SYS_ioprio_set, 1 /* IOPRIO_WHO_PROCESS */, 0, (2 << 13) | 7);
    for (i = 0; i < gc->nbatch; i++)
        rm_rf(gc->batch[i]->path);
    _exit(0);
}

static void gc_worker_done(pid_t pid, int wait_status, void *arg)
{
    struct gc *gc = arg;
    struct stat st;
    size_t i, ok = 0;

    gc->worker = 0;
    for (i = 0; i < gc->nbatch; i++) {
        struct gc_entry *e = gc->batch[i];
        if (lstat(e->path, &st) < 0 && errno == ENOENT) {
            log_info("gc: removed sandbox %s (%.0f s after it was scheduled)", e->path,
                     time_now() - e->scheduled);
            gc_remember(gc, e->path);
            gc_remove_parents(gc, e->path);
            ok++;
        } else {
            log_warn("gc: could not remove sandbox %s (worker %ld, wait status %d); trying "
                     "again in %d s",
                     e->path, (long)pid, wait_status, GC_RETRY_SECS);
            metric_inc(gc->m_failed, 1);
            /* Due again GC_RETRY_SECS from now, whatever max_age is. */
            gc_insert(gc, e->path, time_now() - gc->max_age + GC_RETRY_SECS);
        }
        entry_free(e);
    }
    metric_inc(gc->m_collected, (double)ok);
    log_info("gc: removed %zu of %zu sandboxes due", ok, gc->nbatch);
    free(gc->batch);
    gc->batch = NULL;
    gc->nbatch = 0;
    gc_arm(gc);
}

static void gc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct gc *gc = arg;
    double now = time_now();
    struct gc_entry *e;
    struct timeval tv;
    pid_t pid;

    if (gc->worker > 0)
        return;
    while ((e = gc->queue) != NULL && gc->nbatch < GC_BATCH_MAX &&
           e->scheduled + gc->max_age <= now + (gc->nbatch > 0 ? GC_COALESCE_SECS : 0)) {
        DL_DELETE(gc->queue, e);
        HASH_DEL(gc->by_path, e);
        gc->nqueue--;
        gc->batch = xrealloc(gc->batch, (gc->nbatch + 1) * sizeof(*gc->batch));
        gc->batch[gc->nbatch++] = e;
    }
    if (gc->nbatch == 0) {
        gc_arm(gc);
        return;
    }
    pid = fork();
    if (pid < 0) {
        size_t i;
        log_warn("gc: fork: %s; retrying in %d s", strerror(errno), GC_FORK_RETRY_SECS);
        for (i = 0; i < gc->nbatch; i++) {
            gc_insert(gc, gc->batch[i]->path, gc->batch[i]->scheduled);
            entry_free(gc->batch[i]);
        }
        free(gc->batch);
        gc->batch = NULL;
        gc->nbatch = 0;
        tv = time_tv(GC_FORK_RETRY_SECS);
        event_add(gc->timer, &tv);
        return;
    }
    if (pid == 0)
        gc_worker_main(gc);
    gc->worker = pid;
    slave_watch_child(pid, gc_worker_done, gc);
    log_debug("gc: worker %ld removes %zu sandboxes", (long)pid, gc->nbatch);
}

/* Read the disk usage and recompute the allowed age. */
static void gc_check_disk(struct gc *gc)
{
    struct slave_flags *f = gc->s->flags;
    struct statvfs sv;
    double age;

    if (statvfs(f->work_dir, &sv) == 0 && sv.f_blocks > 0)
        gc->usage = (double)(sv.f_blocks - sv.f_bfree) / (double)sv.f_blocks;
    age = gc_max_age(f->gc_delay, f->gc_disk_headroom, gc->usage);
    if (age < gc->max_age * 0.9 || age > gc->max_age * 1.1)
        log_info("gc: disk usage %.1f%%, sandboxes are kept %.0f s (--gc_delay %.0f s)",
                 gc->usage * 100, age, f->gc_delay);
    else
        log_debug("gc: disk usage %.1f%%, sandboxes are kept %.0f s", gc->usage * 100, age);
    gc->max_age = age;
    gc_arm(gc);
}

static void gc_disk_cb(evutil_socket_t fd, short what, void *arg)
{
    gc_check_disk(arg);
}

struct gc *gc_new(struct slave *s)
{
    struct gc *gc = xcalloc(1, sizeof(*gc));
    struct timeval tv = time_tv(s->flags->disk_watch_interval);

    gc->s = s;
    gc->max_age = s->flags->gc_delay;
    gc->timer = evtimer_new(s->base, gc_timer_cb, gc);
    gc->disk_timer = event_new(s->base, -1, EV_PERSIST, gc_disk_cb, gc);
    event_add(gc->disk_timer, &tv);
    gc->m_collected =
        metrics_counter("agora_slave_gc_sandboxes_collected_total",
                        "Sandboxes of finished tasks removed by the garbage collector");
    gc->m_failed = metrics_counter("agora_slave_gc_failures_total",
                                   "Sandboxes the garbage collector failed to remove");
    metrics_gauge_fn("agora_slave_gc_sandboxes_scheduled", "Sandboxes waiting for their removal",
                     metric_scheduled, gc);
    metrics_gauge_fn("agora_slave_gc_max_age_seconds",
                     "How long a finished task's sandbox is kept at the current disk usage",
                     metric_max_age, gc);
    metrics_gauge_fn("agora_slave_disk_usage_ratio",
                     "Used fraction of the file system of --work_dir, read every "
                     "--disk_watch_interval",
                     metric_usage, gc);
    gc_check_disk(gc);
    return gc;
}

void gc_free(struct gc *gc)
{
    struct gc_entry *e, *tmp;
    struct gc_recent *r, *rtmp;
    size_t i;

    if (gc == NULL)
        return;
    /* A worker in flight finishes by itself; the next start finds the rest. */
    if (gc->worker > 0)
        slave_unwatch_child(gc->worker);
    for (i = 0; i < gc->nbatch; i++)
        entry_free(gc->batch[i]);
    free(gc->batch);
    HASH_ITER (hh, gc->by_path, e, tmp) {
        HASH_DEL(gc->by_path, e);
        entry_free(e);
    }
    HASH_ITER (hh, gc->recent, r, rtmp) {
        HASH_DEL(gc->recent, r);
        free(r->path);
        free(r);
    }
    for (i = 0; i < GC_RECENT_MAX; i++)
        free(gc->ring[i]);
    event_free(gc->timer);
    event_free(gc->disk_timer);
    free(gc);
}

void gc_schedule(struct gc *gc, const char *sandbox)
{
    if (gc == NULL || sandbox == NULL || sandbox[0] != '/')
        return;
    /* The mtime is the schedule's record: a restarted slave reads it. */
    if (utimensat(AT_FDCWD, sandbox, NULL, 0) < 0) {
        if (errno != ENOENT)
            log_warn("gc: %s: %s; not scheduled", sandbox, strerror(errno));
        return;
    }
    log_debug("gc: sandbox %s scheduled for removal in %.0f s", sandbox, gc->max_age);
    gc_insert(gc, sandbox, time_now());
    if (gc->queue != NULL && strcmp(gc->queue->path, sandbox) == 0)
        gc_arm(gc);
}

/* The subdirectories of dir, each as "dir/name" (caller frees). */
static char **subdirs(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    char **out = NULL;

    *n = 0;
    if (d == NULL)
        return NULL;
    while ((de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.' || (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN))
            continue;
        out = xrealloc(out, (*n + 1) * sizeof(*out));
        out[(*n)++] = xasprintf("%s/%s", dir, de->d_name);
    }
    closedir(d);
    return out;
}

static void strv_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static bool sandbox_owned(struct slave *s, const char *path)
{
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;

    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        HASH_ITER (hh, fw->tasks, t, ttmp) {
            if (t->sandbox != NULL && strcmp(t->sandbox, path) == 0)
                return true;
        }
    }
    return false;
}

/* Walk one level further down: what lies under dir/<each>/<name>. */
static char **descend(char **dirs, size_t n, const char *name, size_t *nout)
{
    char **out = NULL, **sub, *p;
    size_t i, j, ns;

    *nout = 0;
    for (i = 0; i < n; i++) {
        p = name != NULL ? xasprintf("%s/%s", dirs[i], name) : xstrdup(dirs[i]);
        sub = subdirs(p, &ns);
        free(p);
        if (ns > 0) {
            out = xrealloc(out, (*nout + ns) * sizeof(*out));
            for (j = 0; j < ns; j++)
                out[(*nout)++] = sub[j];
        }
        free(sub);
    }
    strv_free(dirs, n);
    return out;
}

void gc_recover(struct gc *gc)
{
    struct slave *s = gc->s;
    char *root = xasprintf("%s/slaves", s->flags->work_dir), **v;
    size_t n, i, scheduled = 0;
    struct stat st;

    /* slaves/<agent>/frameworks/<fw>/executors/<task>/runs/<container> */
    v = subdirs(root, &n);
    v = descend(v, n, "frameworks", &n);
    v = descend(v, n, "executors", &n);
    v = descend(v, n, "runs", &n);
    for (i = 0; i < n; i++) {
        if (sandbox_owned(s, v[i]) || stat(v[i], &st) < 0 || !S_ISDIR(st.st_mode))
            continue;
        gc_insert(gc, v[i], (double)st.st_mtime);
        scheduled++;
    }
    strv_free(v, n);
    free(root);
    if (scheduled > 0)
        log_info("gc: %zu sandboxes of finished tasks found, removed %.0f s after their last "
                 "change",
                 scheduled, gc->max_age);
    gc_arm(gc);
}
