/*
 * orphans: what runs for this slave although no task of it owns it, found
 * and removed at recovery and then every --orphan_sweep_interval.
 *
 * Two kinds. Containers: agora-* containers labelled with this slave's id
 * whose agora.container_id no task claims (a slave killed between create
 * and checkpoint, a container left by an operator's `docker start`, an
 * earlier slave's); the Docker containerizer lists, stops and removes them
 * through the Engine API on the loop (its `recovered` hook, docker.c).
 * Processes: those whose environment names a sandbox under this slave's
 * <work_dir>/slaves/ (MESOS_SANDBOX, inherited by all a task forks) and a
 * MESOS_CONTAINER_ID no task claims — a task's descendant that left its
 * process group before the task ended, or a task whose checkpoint was
 * lost; they get SIGKILL, as Mesos destroys a container's leftovers.
 *
 * The process sweep reads /proc/<pid>/environ of every process: procfs is
 * memory-backed, so this does not block on a disk, and once a minute its
 * cost (a few ms for thousands of processes) is small. Counted in
 * /metrics as agora_slave_orphan_containers_removed_total (docker.c) and
 * agora_slave_orphan_processes_killed_total.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "slave.h"
#include "containerizer.h"
#include "atomic_file.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "timeutil.h"

/* Environments are read up to this much (the task's MESOS_* variables
 * come after what it inherited). */
#define ORPHAN_ENVIRON_MAX (256 * 1024)

struct orphans {
    struct slave *s;
    struct event *ev;
    struct metric *m_processes;
};

/* The value of NAME=... in a NUL-separated environment, or NULL. */
static const char *environ_get(const char *env, size_t len, const char *name)
{
    size_t n = strlen(name);
    const char *p = env, *end = env + len;

    while (p < end) {
        size_t l = strnlen(p, (size_t)(end - p));
        if (l > n && strncmp(p, name, n) == 0 && p[n] == '=')
            return p + n + 1;
        p += l + 1;
    }
    return NULL;
}

size_t orphans_kill_processes(const char *sandbox_root, bool (*in_use)(const char *cid, void *arg),
                              void *arg)
{
    DIR *d = opendir("/proc");
    struct dirent *de;
    size_t killed = 0, rootlen = strlen(sandbox_root);
    pid_t self = getpid();

    if (d == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        char path[64], *env = NULL, *end;
        const char *sandbox, *cid;
        size_t len;
        long pid = strtol(de->d_name, &end, 10);

        if (*end != '\0' || pid <= 1 || pid == (long)self)
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/environ", pid);
        if (file_read_all(path, ORPHAN_ENVIRON_MAX, &env, &len) < 0)
            continue; /* gone, or a kernel thread */
        sandbox = environ_get(env, len, "MESOS_SANDBOX");
        cid = environ_get(env, len, "MESOS_CONTAINER_ID");
        if (sandbox != NULL && cid != NULL && strncmp(sandbox, sandbox_root, rootlen) == 0 &&
            !in_use(cid, arg)) {
            log_warn("orphan process %ld (container id %s, sandbox %s): no task claims it; "
                     "killing it",
                     pid, cid, sandbox);
            if (kill((pid_t)pid, SIGKILL) == 0)
                killed++;
        }
        free(env);
    }
    closedir(d);
    return killed;
}

void orphans_sweep(struct orphans *o)
{
    struct slave *s = o->s;
    char *root = xasprintf("%s/slaves/", s->flags->work_dir);
    size_t n;

    if (s->containerizer->recovered != NULL)
        s->containerizer->recovered(s->containerizer);
    n = orphans_kill_processes(root, slave_container_in_use, s);
    metric_inc(o->m_processes, (double)n);
    free(root);
}

static void sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    orphans_sweep(arg);
}

struct orphans *orphans_new(struct slave *s)
{
    struct orphans *o = xcalloc(1, sizeof(*o));
    struct timeval tv = time_tv(s->flags->orphan_sweep_interval);

    o->s = s;
    o->m_processes = metrics_counter("agora_slave_orphan_processes_killed_total",
                                     "Processes in this slave's sandboxes that no task owned");
    o->ev = event_new(s->base, -1, EV_PERSIST, sweep_cb, o);
    event_add(o->ev, &tv);
    return o;
}

void orphans_free(struct orphans *o)
{
    if (o == NULL)
        return;
    event_free(o->ev);
    free(o);
}
