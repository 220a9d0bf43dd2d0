/*
 * slave.c: agora-slave's life cycle and shared plumbing — slave_new (flags,
 * work_dir, containerizer, metrics), slave_start, slave_cron, slave_free,
 * child-process watchers reaped from SIGCHLD, the deferred frees of
 * retired tasks and frameworks, and small helpers. The rest of the daemon
 * is split by concern:
 *
 *   master_conn.c  the connection to the leading master (state machine,
 *                  SUBSCRIBE, events, PONG, following --master)
 *   tasks.c        frameworks and tasks (RUN_TASK, KILL_TASK, ACKNOWLEDGE,
 *                  SHUTDOWN_FRAMEWORK, exits -> task states, /state JSON)
 *   detect.c       resource and attribute detection (--resources,
 *                  --attributes, what the host has)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "auth.h"
#include "slave.h"
#include "containerizer.h"
#include "atomic_file.h"
#include "fdio.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "recordio.h"
#include "master_follow.h"

static void free_deferred_cb(evutil_socket_t fd, short what, void *arg);

/* ------------------------------------------------------- child watchers */

struct child_watch {
    pid_t pid;
    child_exit_fn fn;
    void *arg;
    UT_hash_handle hh;
};

static struct child_watch *child_watches;

void slave_watch_child(pid_t pid, child_exit_fn fn, void *arg)
{
    struct child_watch *w = xcalloc(1, sizeof(*w));

    w->pid = pid;
    w->fn = fn;
    w->arg = arg;
    HASH_ADD(hh, child_watches, pid, sizeof(pid_t), w);
}

void slave_unwatch_child(pid_t pid)
{
    struct child_watch *w;

    HASH_FIND(hh, child_watches, &pid, sizeof(pid_t), w);
    if (w != NULL) {
        HASH_DEL(child_watches, w);
        free(w);
    }
}

void slave_reap_children(struct slave *s)
{
    pid_t pid;
    int status;
    struct child_watch *w;

    while ((pid = fdio_waitpid(-1, &status, WNOHANG)) > 0) {
        HASH_FIND(hh, child_watches, &pid, sizeof(pid_t), w);
        if (w == NULL)
            continue; /* monitors: watched by pidfd, only reaped here */
        HASH_DEL(child_watches, w);
        w->fn(pid, status, w->arg);
        free(w);
    }
}

/* ------------------------------------------------------------- lifecycle */

static double metric_active_tasks(void *arg)
{
    struct slave *s = arg;
    struct framework *fw, *tmp;
    double n = 0;

    HASH_ITER (hh, s->frameworks, fw, tmp)
        n += HASH_COUNT(fw->tasks);
    return n;
}

static double metric_registered(void *arg)
{
    struct slave *s = arg;

    return s->state == MASTER_REGISTERED ? 1 : 0;
}

/* --credential: the one credential the slave presents to the master. */
static int slave_credential_load(struct slave *s, char **err)
{
    const char *path = s->flags->credential;
    if (path == NULL || path[0] == '\0')
        return 0;
    char *e = NULL;
    const char *principal, *secret;
    struct auth_creds *c = auth_creds_load(path, &e);
    if (c == NULL) {
        *err = xasprintf("--credential: %s", e);
        free(e);
        return -1;
    }
    auth_creds_get(c, 0, &principal, &secret);
    s->auth_header = auth_basic_header(principal, secret);
    log_info("authenticating to the master as '%s'", principal);
    auth_creds_free(c);
    return 0;
}

struct slave *slave_new(struct event_base *base, struct slave_flags *flags, char **err)
{
    struct slave *s = xcalloc(1, sizeof(*s));
    char host[HOST_NAME_MAX + 1];

    s->base = base;
    s->flags = flags;
    s->start_time = time_now();
    s->completed_frameworks = json_array();
    srandom((unsigned)(getpid() ^ (long)(s->start_time * 1000)));
    if (slave_conn_init(s, err) < 0 || slave_credential_load(s, err) < 0 ||
        slave_http_authz_init(s, err) < 0)
        goto fail;
    if (flags->hostname != NULL && flags->hostname[0] != '\0') {
        s->hostname = xstrdup(flags->hostname);
    } else {
        if (gethostname(host, sizeof(host)) < 0)
            snprintf(host, sizeof(host), "%s", flags->ip);
        host[sizeof(host) - 1] = '\0';
        s->hostname = xstrdup(host);
    }
    if (mkdir_p(flags->work_dir) < 0) {
        *err = xasprintf("--work_dir=%s: %s", flags->work_dir, strerror(errno));
        goto fail;
    }
    /* Sandboxes and MESOS_SANDBOX must be absolute paths. */
    {
        char *abs = realpath(flags->work_dir, NULL);
        if (abs == NULL) {
            *err = xasprintf("--work_dir=%s: %s", flags->work_dir, strerror(errno));
            goto fail;
        }
        free(flags->work_dir);
        flags->work_dir = abs;
    }
    if (slave_setup_resources(s, err) < 0 || slave_setup_attributes(s, err) < 0)
        goto fail;
    if (!(flags->gc_disk_headroom >= 0 && flags->gc_disk_headroom <= 1)) {
        *err =
            xasprintf("--gc_disk_headroom: must be between 0 and 1: %g", flags->gc_disk_headroom);
        goto fail;
    }
    if (!(flags->disk_watch_interval > 0)) {
        *err = xasprintf("--disk_watch_interval: must be more than 0: %gsecs",
                         flags->disk_watch_interval);
        goto fail;
    }
    if (!(flags->orphan_sweep_interval > 0)) {
        *err = xasprintf("--orphan_sweep_interval: must be more than 0: %gsecs",
                         flags->orphan_sweep_interval);
        goto fail;
    }
    if (flags->task_log_files < 0 || flags->task_log_files > 1000) {
        *err = xasprintf("--task_log_files: must be between 0 and 1000: %d", flags->task_log_files);
        goto fail;
    }
    if (flags->task_log_max_size > 0 && flags->task_log_max_size < 4096) {
        *err = xasprintf("--task_log_max_size: must be 0 (never rotate) or at least 4KB: %lluB",
                         (unsigned long long)flags->task_log_max_size);
        goto fail;
    }
    if (host_policy_init(&s->host_policy, flags->docker_allow_privileged,
                         flags->allowed_capabilities, flags->allowed_host_paths, err) < 0)
        goto fail;
    s->containerizer = composing_containerizer_new(s, err);
    if (s->containerizer == NULL)
        goto fail;
    s->gc = gc_new(s);
    s->orphans = orphans_new(s);
    s->free_ev = event_new(base, -1, 0, free_deferred_cb, s);
    su_slave_init(s);

    s->m_tasks_launched =
        metrics_counter("agora_slave_tasks_launched_total", "Tasks received from the master");
    s->m_tasks_finished =
        metrics_counter("agora_slave_tasks_finished_total", "Tasks that exited 0");
    s->m_tasks_failed = metrics_counter("agora_slave_tasks_failed_total", "Tasks that failed");
    s->m_tasks_killed = metrics_counter("agora_slave_tasks_killed_total", "Tasks killed");
    s->m_updates_sent = metrics_counter("agora_slave_status_updates_sent_total",
                                        "Status update sends, retries included");
    s->m_updates_acked = metrics_counter("agora_slave_status_updates_acknowledged_total",
                                         "Status updates acknowledged");
    s->m_registrations =
        metrics_counter("agora_slave_registrations_total", "Successful (re-)registrations");
    s->m_disconnects =
        metrics_counter("agora_slave_master_disconnects_total", "Lost master connections");
    metrics_gauge_fn("agora_slave_tasks_active", "Tasks not yet retired", metric_active_tasks, s);
    metrics_gauge_fn("agora_slave_registered", "1 while registered with a master",
                     metric_registered, s);
    return s;
fail:
    slave_free(s);
    return NULL;
}

int slave_start(struct slave *s, char **err)
{
    struct timeval now = { 0, 0 };

    if (ckpt_recover(s, err) < 0)
        return -1;
    orphans_sweep(s->orphans);
    gc_recover(s->gc);
    /* First attempt right away; the backoff applies to retries. */
    event_add(s->backoff_timer, &now);
    return 0;
}

static void free_deferred(struct slave *s)
{
    size_t i;

    for (i = 0; i < s->ndead_tasks; i++)
        slave_task_free(s, s->dead_tasks[i]);
    free(s->dead_tasks);
    s->dead_tasks = NULL;
    s->ndead_tasks = 0;
    for (i = 0; i < s->ndead_fws; i++)
        slave_framework_free(s->dead_fws[i]);
    free(s->dead_fws);
    s->dead_fws = NULL;
    s->ndead_fws = 0;
}

static void free_deferred_cb(evutil_socket_t fd, short what, void *arg)
{
    free_deferred(arg);
}

bool slave_container_in_use(const char *cid, void *arg)
{
    struct slave *s = arg;
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;

    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        HASH_ITER (hh, fw->tasks, t, ttmp) {
            if (t->container_id != NULL && strcmp(t->container_id, cid) == 0)
                return true;
        }
    }
    return false;
}

void slave_cron(struct slave *s)
{
    free_deferred(s);
    if (s->cron_ticks++ % 30 == 0)
        cgroups_sweep(slave_container_in_use, s);
}

void slave_free(struct slave *s)
{
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;
    struct child_watch *w, *wtmp;
    size_t i;

    if (s == NULL)
        return;
    master_follow_free(s->follow);
    if (s->sub != NULL)
        http_sub_close(s->sub);
    if (s->pong_call != NULL)
        http_call_cancel(s->pong_call);
    if (s->decoder != NULL)
        rio_decoder_free(s->decoder);
    free_deferred(s);
    /* Running tasks are left to their monitors; a restart re-adopts them. */
    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        HASH_ITER (hh, fw->tasks, t, ttmp) {
            HASH_DEL(fw->tasks, t);
            slave_task_free(s, t);
        }
        HASH_DEL(s->frameworks, fw);
        slave_framework_free(fw);
    }
    HASH_ITER (hh, child_watches, w, wtmp) {
        HASH_DEL(child_watches, w);
        free(w);
    }
    gc_free(s->gc);
    orphans_free(s->orphans);
    host_policy_cleanup(&s->host_policy);
    if (s->containerizer != NULL)
        s->containerizer->free(s->containerizer);
    if (s->backoff_timer != NULL)
        event_free(s->backoff_timer);
    if (s->ping_timer != NULL)
        event_free(s->ping_timer);
    if (s->free_ev != NULL)
        event_free(s->free_ev);
    su_slave_free(s);
    for (i = 0; i < s->nattributes; i++)
        pb_free(s->attributes[i]);
    free(s->attributes);
    res_cleanup(&s->resources);
    json_decref(s->completed_frameworks);
    free(s->agent_id);
    free(s->hostname);
    free(s->auth_header);
    slave_http_authz_free(s);
    free(s->master_host);
    free(s->master_hostname);
    free(s->stream_id);
    free(s);
}
