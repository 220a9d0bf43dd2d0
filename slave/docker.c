/*
 * docker: the Docker containerizer — tasks whose ContainerInfo is DOCKER,
 * run through the Docker Engine API (common/docker.h) on the slave's loop.
 *
 * Owns, per task, one container named agora-<container_id> and labelled
 * agora.framework_id / agora.task_id / agora.slave_id / agora.container_id,
 * and the engine requests that drive it. Per task (struct dk_cont):
 *
 *   IMAGE --absent/force_pull--> PULLING --> CREATING --> STARTING --> RUNNING
 *     |__________present_____________________^                          |
 *   INSPECTING (recovery, lost wait) --running--> RUNNING --kill--> STOPPING
 *   RUNNING/STOPPING --wait returned--> DRAINING (inspect, logs) --> REMOVING --> DONE
 *
 * dk_set_state() is the only place that changes the state, and logs it.
 * While RUNNING two requests stay open: POST /wait (the exit) and a
 * followed GET /logs whose multiplexed frames go to the sandbox's stdout
 * and stderr files (rotated at --task_log_max_size, common/logrot.h), so
 * /files/read shows them. Once the container exited
 * it is inspected (exit code, OOM kill), its logs are drained (bounded),
 * it is removed, and only then is the exit reported, so a terminal task
 * never leaves a container behind. Kill: POST /stop?t=<grace> (the engine
 * sends SIGTERM, then SIGKILL after the grace period); the open wait then
 * returns. Every engine error becomes TASK_FAILED with the engine's
 * message (REASON_CONTAINER_LAUNCH_FAILED while launching), never a stuck
 * task: pulls have --docker_pull_timeout, other calls a fixed one.
 *
 * Recovery: a checkpointed Docker task is looked up by name; running, it
 * is re-adopted (logs resume from the sandbox files' mtime); exited, it
 * gets its terminal update; created but not started, it is started; gone
 * before it was started, it is launched again. Then, and every
 * --orphan_sweep_interval after (orphans.c), every container labelled
 * with this slave's id that no task claims is an orphan: stopped and
 * removed.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>

#include "slave.h"
#include "containerizer.h"
#include "atomic_file.h"
#include "docker.h"
#include "fdio.h"
#include "docker_spec.h"
#include "log.h"
#include "logrot.h"
#include "mem.h"
#include "metrics.h"
#include "timeutil.h"

#define DK_CALL_TIMEOUT 60.0  /* create, start, inspect, remove, exec */
#define DK_STOP_EXTRA 60.0    /* stop: grace + this */
#define DK_LOG_DRAIN_SECS 2.0 /* after the exit, wait for the logs' end while they come... */
#define DK_LOG_DRAIN_MAX 60.0 /* ...with no gap this long, and this long at most */
#define DK_INSPECT_RETRIES 30 /* engine unreachable: retries, 2 s apart */
#define DK_RETRY_SECS 2.0
#define DK_PULL_LINE_MAX (64 * 1024)

struct dk_orphan;

/* The containerizer. */
struct dk {
    struct containerizer base; /* first: the containerizer is one of these */
    struct docker_client *client;
    struct dk_orphan *orphans;     /* cleanups in flight */
    struct docker_call *list_call; /* the orphan sweep's container list */
    struct metric *m_orphans;      /* orphan containers removed */
};

enum dk_state {
    DK_NEW = 0,    /* nothing asked yet */
    DK_IMAGE,      /* is the image there? */
    DK_PULLING,    /* POST /images/create streaming */
    DK_CREATING,   /* POST /containers/create */
    DK_STARTING,   /* POST /containers/{name}/start */
    DK_RUNNING,    /* wait + logs open */
    DK_STOPPING,   /* POST stop in flight, wait still open */
    DK_INSPECTING, /* recovery, or the wait broke: where is it? */
    DK_DRAINING,   /* exited: inspecting it, finishing the logs */
    DK_REMOVING,   /* DELETE in flight */
    DK_DONE,       /* reported to the slave */
};

/* Per-task state (task->cont). */
struct dk_cont {
    struct dk *dk;
    struct slave *s;
    struct task *t;
    enum dk_state state;
    char *name; /* agora-<container_id> */
    char *image;
    json_t *create_body;      /* built at launch (or relaunch) */
    struct docker_call *call; /* the state's request */
    struct docker_call *wait_call;
    struct docker_call *logs_call;
    struct docker_call *stop_call;
    struct docker_demux demux;
    struct logrot out_log, err_log; /* sandbox stdout / stderr, rotated */
    char *pull_line;                /* partial JSON line of the pull progress */
    size_t pull_len;
    char *pull_error;    /* "error" of the pull progress */
    char *report_msg;    /* failure to report once discarded */
    struct event *timer; /* retries and the log drain deadline */
    void (*timer_fn)(struct dk_cont *dc);
    int retries;
    bool kill_requested;
    double grace;
    bool logs_done;
    uint64_t log_bytes;   /* received from the engine (the drain sees them flow) */
    uint64_t drain_seen;  /* log_bytes when the drain timer was last armed */
    double drain_started; /* monotonic: the exit was seen */
    bool have_exit;
    int exit_code;
    bool oom_killed;
    bool recovering; /* logs resume from the files' mtime */
};

/* A COMMAND health check run with exec (the handle of cont exec). */
struct dk_exec {
    struct dk *dk;
    char *exec_id;
    json_t *body;
    struct docker_call *call;
    cont_exec_fn done;
    void *arg;
};

struct dk_orphan {
    struct dk *dk;
    char *name;
    struct docker_call *call;
    struct dk_orphan *next;
};

static void dk_start_container(struct dk_cont *dc);
static void dk_inspect_container(struct dk_cont *dc);
static void dk_launch_steps(struct dk_cont *dc);
static int build_create(struct slave *s, struct task *t, json_t **out, char **err);

static struct dk *dk_of(struct containerizer *c)
{
    return (struct dk *)c;
}

static const char *or_unknown(const char *s)
{
    return s != NULL ? s : "?";
}

/* ------------------------------------------------------------- state */

static const char *dk_state_name(enum dk_state st)
{
    static const char *names[] = {
        [DK_NEW] = "NEW",           [DK_IMAGE] = "IMAGE",
        [DK_PULLING] = "PULLING",   [DK_CREATING] = "CREATING",
        [DK_STARTING] = "STARTING", [DK_RUNNING] = "RUNNING",
        [DK_STOPPING] = "STOPPING", [DK_INSPECTING] = "INSPECTING",
        [DK_DRAINING] = "DRAINING", [DK_REMOVING] = "REMOVING",
        [DK_DONE] = "DONE",
    };
    return names[st];
}

static void dk_set_state(struct dk_cont *dc, enum dk_state st)
{
    if (dc->state == st)
        return;
    log_info("task %s: container %s %s -> %s", dc->t->id, dc->name, dk_state_name(dc->state),
             dk_state_name(st));
    dc->state = st;
}

static void dk_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct dk_cont *dc = arg;
    void (*fn)(struct dk_cont *) = dc->timer_fn;

    dc->timer_fn = NULL;
    if (fn != NULL)
        fn(dc);
}

static void dk_after(struct dk_cont *dc, double secs, void (*fn)(struct dk_cont *))
{
    struct timeval tv = time_tv(secs);

    dc->timer_fn = fn;
    evtimer_add(dc->timer, &tv);
}

/* ------------------------------------------------------------ reporting */

/* The task ends without an exit code of its container: an engine error
 * (FAILED with the engine's message) or a kill before it ran (KILLED). */
static void dk_fail(struct dk_cont *dc, const char *msg, int reason)
{
    struct slave *s = dc->s;
    struct task *t = dc->t;

    dk_set_state(dc, DK_DONE);
    if (t->health != NULL) {
        health_stop(t->health);
        t->health = NULL;
    }
    if (t->terminal)
        return;
    if (t->killed || t->fw->shutting_down) {
        metric_inc(s->m_tasks_killed, 1);
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_KILLED, msg, -1, -1);
    } else {
        log_warn("task %s: %s", t->id, msg);
        metric_inc(s->m_tasks_failed, 1);
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_FAILED, msg, reason, -1);
    }
    slave_task_maybe_complete(s, t);
}

static void dk_fail_launch(struct dk_cont *dc, const char *what, const struct docker_response *r)
{
    char *m = docker_error_message(r), *msg = xasprintf("%s: %s", what, m);

    dk_fail(dc, msg, MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
    free(msg);
    free(m);
}

/* The container exited and is removed: report its exit code. */
static void dk_report_exit(struct dk_cont *dc)
{
    struct slave *s = dc->s;
    struct task *t = dc->t;

    dk_set_state(dc, DK_DONE);
    if (dc->oom_killed && !t->killed && !t->terminal) {
        if (t->health != NULL) {
            health_stop(t->health);
            t->health = NULL;
        }
        metric_inc(s->m_tasks_failed, 1);
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_FAILED,
                          "Memory limit exceeded: the container was OOM killed",
                          MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY, -1);
        slave_task_maybe_complete(s, t);
        return;
    }
    /* A wait status as the process containerizer reports it. */
    slave_task_exited(s, t, (dc->exit_code & 0xff) << 8, NULL);
}

/* ------------------------------------------------------------ removal */

static void remove_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;
    char *m;

    dc->call = NULL;
    if (r->status != 204 && r->status != 404) {
        m = docker_error_message(r);
        log_warn("task %s: removing container %s: %s", dc->t->id, dc->name, m);
        free(m);
    }
    dk_report_exit(dc);
}

static void dk_remove(struct dk_cont *dc)
{
    char *path;

    if (dc->state == DK_REMOVING || dc->state == DK_DONE)
        return;
    if (dc->logs_call != NULL) {
        docker_call_cancel(dc->logs_call);
        dc->logs_call = NULL;
    }
    evtimer_del(dc->timer);
    dk_set_state(dc, DK_REMOVING);
    path = xasprintf("/containers/%s?force=1&v=1", dc->name);
    dc->call = docker_call(dc->dk->client, "DELETE", path, NULL, DK_CALL_TIMEOUT, remove_done, dc);
    free(path);
}

/* Remove a container that never ran its task (failed start, killed while
 * starting), then report msg. */
static void discard_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;
    char *msg = dc->report_msg;

    dc->call = NULL;
    dc->report_msg = NULL;
    dk_fail(dc, msg, MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
    free(msg);
}

static void dk_discard(struct dk_cont *dc, char *msg /* owned */)
{
    char *path = xasprintf("/containers/%s?force=1&v=1", dc->name);

    free(dc->report_msg);
    dc->report_msg = msg;
    dk_set_state(dc, DK_REMOVING);
    dc->call = docker_call(dc->dk->client, "DELETE", path, NULL, DK_CALL_TIMEOUT, discard_done, dc);
    free(path);
}

/* --------------------------------------------------------- exit and logs */

static void dk_maybe_finish(struct dk_cont *dc)
{
    char buf[32];

    if (dc->state != DK_DRAINING || dc->call != NULL)
        return;
    if (dc->logs_done || dc->logs_call == NULL) {
        /* The exit outlives the container: a slave stopped while removing
         * it still reports the right code after its restart. */
        snprintf(buf, sizeof(buf), "%d %d\n", dc->exit_code, dc->oom_killed ? 1 : 0);
        ckpt_task_file(dc->t, "docker_exit", buf);
        dk_remove(dc);
    }
}

/* The exit checkpointed by dk_maybe_finish, if any. */
static bool read_checkpointed_exit(struct dk_cont *dc)
{
    char *path = xasprintf("%s/docker_exit", dc->t->meta_dir), *data = NULL;
    size_t len;
    int code, oom;
    bool ok = false;

    if (file_read_all(path, 64, &data, &len) == 0 && sscanf(data, "%d %d", &code, &oom) == 2) {
        dc->exit_code = code;
        dc->oom_killed = oom != 0;
        dc->have_exit = true;
        ok = true;
    }
    free(data);
    free(path);
    return ok;
}

static void drain_deadline(struct dk_cont *dc)
{
    /* A fast writer's last megabytes may still be on their way from the
     * engine when its container exits: wait on while they flow. */
    if (dc->log_bytes != dc->drain_seen && time_mono() - dc->drain_started < DK_LOG_DRAIN_MAX) {
        dc->drain_seen = dc->log_bytes;
        dk_after(dc, DK_LOG_DRAIN_SECS, drain_deadline);
        return;
    }
    log_info("task %s: logs of %s did not end within %.0fs of the last line; removing it anyway",
             dc->t->id, dc->name, DK_LOG_DRAIN_SECS);
    dc->logs_done = true;
    dk_maybe_finish(dc);
}

static void exited_inspect_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;
    json_t *state;

    dc->call = NULL;
    state = r->status == 200 && r->json ? json_object_get(r->json, "State") : NULL;
    if (state != NULL) {
        if (!dc->have_exit)
            dc->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
        dc->have_exit = true;
        dc->oom_killed = json_is_true(json_object_get(state, "OOMKilled"));
    }
    dk_maybe_finish(dc);
}

/* The container is not running any more: inspect it, drain, remove. */
static void dk_exited(struct dk_cont *dc)
{
    char *path;

    if (dc->state == DK_DRAINING || dc->state == DK_REMOVING || dc->state == DK_DONE)
        return;
    if (dc->stop_call != NULL) {
        docker_call_cancel(dc->stop_call);
        dc->stop_call = NULL;
    }
    if (dc->wait_call != NULL) {
        docker_call_cancel(dc->wait_call);
        dc->wait_call = NULL;
    }
    if (dc->t->health != NULL) {
        health_stop(dc->t->health);
        dc->t->health = NULL;
    }
    dk_set_state(dc, DK_DRAINING);
    if (!dc->logs_done && dc->logs_call != NULL) {
        dc->drain_seen = dc->log_bytes;
        dc->drain_started = time_mono();
        dk_after(dc, DK_LOG_DRAIN_SECS, drain_deadline);
    }
    path = xasprintf("/containers/%s/json", dc->name);
    dc->call =
        docker_call(dc->dk->client, "GET", path, NULL, DK_CALL_TIMEOUT, exited_inspect_done, dc);
    free(path);
}

static void log_frame(int stream, const char *data, size_t len, void *arg)
{
    struct dk_cont *dc = arg;
    struct logrot *lr = stream == 2 ? &dc->err_log : &dc->out_log;
    struct timespec times[2] = { { 0, UTIME_OMIT }, { 0, 0 } };

    dc->log_bytes += len;
    if (lr->path == NULL)
        return;
    if (logrot_write(lr, data, len) < 0) {
        /* a full disk loses log lines, not the task */
    }
    /* The file's mtime is the log cursor a restarted slave resumes from
     * (logs_since). The kernel stamps writes with its coarse clock, which
     * can lag the engine's timestamp of the line we just got by a tick and
     * make the line come back twice; stamp it with the precise time. */
    if (lr->fd >= 0 && clock_gettime(CLOCK_REALTIME, &times[1]) == 0)
        futimens(lr->fd, times);
}

static int logs_data(const char *data, size_t len, void *arg)
{
    struct dk_cont *dc = arg;

    docker_demux_feed(&dc->demux, data, len, log_frame, dc);
    return 0;
}

static void logs_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;
    char *m;

    dc->logs_call = NULL;
    dc->logs_done = true;
    if (r->status != 200) {
        m = docker_error_message(r);
        log_warn("task %s: logs of %s: %s", dc->t->id, dc->name, m);
        free(m);
    }
    dk_maybe_finish(dc);
}

/* The slave writes the container's logs, but they are the task user's
 * files as a process task's are (--switch_user). */
static void open_log(struct dk_cont *dc, struct logrot *lr, const char *name)
{
    const struct slave_flags *f = dc->s->flags;
    const struct task *t = dc->t;
    char *path = xasprintf("%s/%s", t->sandbox, name);

    if (logrot_open(lr, path, f->task_log_max_size, (unsigned)f->task_log_files) < 0)
        log_warn("cannot open %s: %s", path, strerror(errno));
    else if (t->user != NULL)
        logrot_own(lr, t->user->uid, t->user->gid);
    free(path);
}

/* Last write to the sandbox's log files, as the engine's "since". */
static char *logs_since(struct dk_cont *dc)
{
    const char *names[] = { "stdout", "stderr" };
    struct stat st;
    struct timespec best = { 0, 0 };
    char *path;
    size_t i;

    for (i = 0; i < 2; i++) {
        path = xasprintf("%s/%s", dc->t->sandbox, names[i]);
        if (stat(path, &st) == 0 && st.st_size > 0 &&
            (st.st_mtim.tv_sec > best.tv_sec ||
             (st.st_mtim.tv_sec == best.tv_sec && st.st_mtim.tv_nsec > best.tv_nsec)))
            best = st.st_mtim;
        free(path);
    }
    if (best.tv_sec == 0)
        return NULL;
    /* Just after the last line written: nothing twice. */
    if (++best.tv_nsec >= 1000000000L) {
        best.tv_sec++;
        best.tv_nsec = 0;
    }
    return xasprintf("%lld.%09ld", (long long)best.tv_sec, (long)best.tv_nsec);
}

static void dk_follow_logs(struct dk_cont *dc)
{
    char *path, *since = NULL;

    if (dc->logs_call != NULL || dc->logs_done)
        return;
    if (dc->out_log.path == NULL)
        open_log(dc, &dc->out_log, "stdout");
    if (dc->err_log.path == NULL)
        open_log(dc, &dc->err_log, "stderr");
    if (dc->recovering)
        since = logs_since(dc);
    docker_demux_init(&dc->demux);
    path = xasprintf("/containers/%s/logs?follow=1&stdout=1&stderr=1%s%s", dc->name,
                     since ? "&since=" : "", since ? since : "");
    dc->logs_call = docker_stream(dc->dk->client, "GET", path, NULL, 0, logs_data, logs_done, dc);
    free(path);
    free(since);
}

static void wait_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;
    char *m;

    dc->wait_call = NULL;
    if (r->status == 200 && r->json != NULL) {
        dc->exit_code = (int)json_integer_value(json_object_get(r->json, "StatusCode"));
        dc->have_exit = true;
        dk_exited(dc);
        return;
    }
    /* The wait broke (engine restarted?): find out where the container is. */
    m = docker_error_message(r);
    log_warn("task %s: waiting for %s: %s", dc->t->id, dc->name, m);
    free(m);
    dk_set_state(dc, DK_INSPECTING);
    dk_after(dc, 1.0, dk_inspect_container);
}

/* ------------------------------------------------------------------- kill */

static void stop_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;
    char *m;

    dc->stop_call = NULL;
    if (r->status == 204 || r->status == 304)
        return; /* the wait reports the exit */
    m = docker_error_message(r);
    log_warn("task %s: stopping %s: %s", dc->t->id, dc->name, m);
    free(m);
    if (r->status == 404) {
        if (dc->wait_call != NULL) {
            docker_call_cancel(dc->wait_call);
            dc->wait_call = NULL;
        }
        dk_fail(dc, "Container vanished while being killed", -1);
    }
}

static void dk_stop(struct dk_cont *dc)
{
    char *path;
    long t = (long)ceil(dc->grace);

    dk_set_state(dc, DK_STOPPING);
    if (dc->stop_call != NULL)
        return;
    log_info("task %s: stopping %s (SIGKILL after %lds)", dc->t->id, dc->name, t);
    path = xasprintf("/containers/%s/stop?t=%ld", dc->name, t);
    dc->stop_call =
        docker_call(dc->dk->client, "POST", path, NULL, (double)t + DK_STOP_EXTRA, stop_done, dc);
    free(path);
}

/* --------------------------------------------------------------- running */

/* The container runs: keep the exit and the logs in sight. */
static void dk_watch(struct dk_cont *dc)
{
    char *path;

    dk_set_state(dc, DK_RUNNING);
    dk_follow_logs(dc);
    if (dc->wait_call == NULL) {
        path = xasprintf("/containers/%s/wait?condition=not-running", dc->name);
        dc->wait_call = docker_call(dc->dk->client, "POST", path, NULL, 0, wait_done, dc);
        free(path);
    }
    if (dc->kill_requested)
        dk_stop(dc);
    else
        slave_task_running(dc->s, dc->t);
}

static void start_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;
    char *m;

    dc->call = NULL;
    if (r->status == 204 || r->status == 304) {
        dk_watch(dc);
        return;
    }
    m = docker_error_message(r);
    dk_discard(dc, xasprintf("Failed to start container %s: %s", dc->name, m));
    free(m);
}

static void dk_start_container(struct dk_cont *dc)
{
    char *path;

    if (dc->kill_requested) {
        dk_discard(dc, xstrdup("Killed before the container started"));
        return;
    }
    dk_set_state(dc, DK_STARTING);
    path = xasprintf("/containers/%s/start", dc->name);
    dc->call = docker_call(dc->dk->client, "POST", path, NULL, DK_CALL_TIMEOUT, start_done, dc);
    free(path);
}

static void create_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;

    dc->call = NULL;
    if (r->status == 201) {
        dk_start_container(dc);
        return;
    }
    if (r->status == 409) {
        /* Created by an earlier life of this slave: carry on with it. */
        log_info("task %s: container %s exists already; adopting it", dc->t->id, dc->name);
        dk_inspect_container(dc);
        return;
    }
    dk_fail_launch(dc, "Failed to create container", r);
}

static void dk_create(struct dk_cont *dc)
{
    char *path;

    if (dc->kill_requested) {
        dk_fail(dc, "Killed before the container was created", -1);
        return;
    }
    dk_set_state(dc, DK_CREATING);
    path = xasprintf("/containers/create?name=%s", dc->name);
    dc->call = docker_call(dc->dk->client, "POST", path, dc->create_body, DK_CALL_TIMEOUT,
                           create_done, dc);
    free(path);
}

/* ------------------------------------------------------------------ image */

static void pull_line(struct dk_cont *dc, const char *line, size_t len)
{
    json_t *j = json_loadb(line, len, 0, NULL), *e;

    if (j == NULL)
        return;
    e = json_object_get(j, "error");
    if (json_is_string(e) && dc->pull_error == NULL)
        dc->pull_error = xstrdup(json_string_value(e));
    json_decref(j);
}

static int pull_data(const char *data, size_t len, void *arg)
{
    struct dk_cont *dc = arg;
    const char *nl;

    /* Progress is one JSON object per line; only errors matter here. */
    while (len > 0) {
        nl = memchr(data, '\n', len);
        size_t take = nl ? (size_t)(nl - data) : len;
        if (dc->pull_len + take <= DK_PULL_LINE_MAX) {
            dc->pull_line = xrealloc(dc->pull_line, dc->pull_len + take + 1);
            memcpy(dc->pull_line + dc->pull_len, data, take);
            dc->pull_len += take;
        }
        if (nl == NULL)
            break;
        pull_line(dc, dc->pull_line, dc->pull_len);
        dc->pull_len = 0;
        data += take + 1;
        len -= take + 1;
    }
    return 0;
}

static void pull_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;
    char *m, *msg;

    dc->call = NULL;
    if (dc->pull_len > 0) {
        pull_line(dc, dc->pull_line, dc->pull_len);
        dc->pull_len = 0;
    }
    if (r->status == 200 && dc->pull_error == NULL) {
        log_info("task %s: pulled image %s", dc->t->id, dc->image);
        dk_create(dc);
        return;
    }
    m = dc->pull_error != NULL ? xstrdup(dc->pull_error) : docker_error_message(r);
    msg = xasprintf("Failed to pull image '%s': %s", dc->image, m);
    dk_fail(dc, msg, MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
    free(msg);
    free(m);
}

static void dk_pull(struct dk_cont *dc)
{
    char *repo, *tag, *erepo, *etag, *path;

    if (dc->kill_requested) {
        dk_fail(dc, "Killed while pulling the image", -1);
        return;
    }
    dk_set_state(dc, DK_PULLING);
    docker_image_split(dc->image, &repo, &tag);
    erepo = docker_escape(repo);
    etag = docker_escape(tag);
    path = xasprintf("/images/create?fromImage=%s&tag=%s", erepo, etag);
    log_info("task %s: pulling image %s (timeout %.0fs)", dc->t->id, dc->image,
             dc->s->flags->docker_pull_timeout);
    dc->call = docker_stream(dc->dk->client, "POST", path, NULL, dc->s->flags->docker_pull_timeout,
                             pull_data, pull_done, dc);
    free(path);
    free(erepo);
    free(etag);
    free(repo);
    free(tag);
}

static void image_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;

    dc->call = NULL;
    if (r->status == 200)
        dk_create(dc);
    else if (r->status == 404)
        dk_pull(dc);
    else
        dk_fail_launch(dc, "Failed to inspect image", r);
}

static void dk_launch_steps(struct dk_cont *dc)
{
    Mesos__V1__ContainerInfo__DockerInfo *di = dc->t->info->container->docker;
    char *path;

    if (di->has_force_pull_image && di->force_pull_image) {
        dk_pull(dc);
        return;
    }
    dk_set_state(dc, DK_IMAGE);
    path = xasprintf("/images/%s/json", dc->image);
    dc->call = docker_call(dc->dk->client, "GET", path, NULL, DK_CALL_TIMEOUT, image_done, dc);
    free(path);
}

/* -------------------------------------------------------------- inspect */

static void inspect_done(const struct docker_response *r, void *arg)
{
    struct dk_cont *dc = arg;
    struct task *t = dc->t;
    json_t *state;
    const char *status;
    char *m, *msg, *err = NULL;

    dc->call = NULL;
    if (r->status == 0 && dc->retries++ < DK_INSPECT_RETRIES) {
        log_warn("task %s: inspecting %s: %s; retrying in %.0fs", t->id, dc->name, r->error,
                 DK_RETRY_SECS);
        dk_after(dc, DK_RETRY_SECS, dk_inspect_container);
        return;
    }
    if (r->status == 404) {
        if (read_checkpointed_exit(dc)) {
            log_info("task %s: container %s already removed; exit code %d from the checkpoint",
                     t->id, dc->name, dc->exit_code);
            dk_report_exit(dc);
            return;
        }
        if ((t->state == MESOS__V1__TASK_STATE__TASK_STARTING ||
             t->state == MESOS__V1__TASK_STATE__TASK_STAGING) &&
            !t->killed && !dc->have_exit && dc->wait_call == NULL && dc->create_body == NULL) {
            /* The slave died before the container existed: launch it now. */
            if (build_create(dc->s, t, &dc->create_body, &err) < 0) {
                dk_fail(dc, err, MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED);
                free(err);
                return;
            }
            log_info("task %s: container %s was never created; launching it", t->id, dc->name);
            dk_launch_steps(dc);
            return;
        }
        msg = xasprintf("Container %s is gone (removed outside of Agora)", dc->name);
        dk_fail(dc, msg, MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED);
        free(msg);
        return;
    }
    if (r->status != 200 || r->json == NULL) {
        m = docker_error_message(r);
        msg = xasprintf("Cannot inspect container %s: %s", dc->name, m);
        dk_fail(dc, msg, MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED);
        free(msg);
        free(m);
        return;
    }
    dc->retries = 0;
    state = json_object_get(r->json, "State");
    status = json_string_value(json_object_get(state, "Status"));
    if (status == NULL)
        status = "";
    if (json_integer_value(json_object_get(state, "Pid")) > 0)
        t->task_pid = (pid_t)json_integer_value(json_object_get(state, "Pid"));
    if (strcmp(status, "running") == 0 || strcmp(status, "paused") == 0 ||
        strcmp(status, "restarting") == 0) {
        log_info("task %s: re-adopted container %s (%s, pid %ld)", t->id, dc->name, status,
                 (long)t->task_pid);
        dk_watch(dc);
        return;
    }
    if (strcmp(status, "created") == 0) {
        dk_start_container(dc);
        return;
    }
    /* exited, dead, removing: it ended while we were not looking. */
    dc->exit_code = (int)json_integer_value(json_object_get(state, "ExitCode"));
    dc->have_exit = true;
    log_info("task %s: container %s is %s (exit code %d)", t->id, dc->name, status, dc->exit_code);
    dk_follow_logs(dc);
    dk_exited(dc);
}

static void dk_inspect_container(struct dk_cont *dc)
{
    char *path = xasprintf("/containers/%s/json", dc->name);

    dk_set_state(dc, DK_INSPECTING);
    dc->call = docker_call(dc->dk->client, "GET", path, NULL, DK_CALL_TIMEOUT, inspect_done, dc);
    free(path);
}

/* ------------------------------------------------------------ operations */

static struct dk_cont *dk_cont_new(struct dk *dk, struct task *t)
{
    struct dk_cont *dc = xcalloc(1, sizeof(*dc));

    dc->dk = dk;
    dc->s = dk->base.slave;
    dc->t = t;
    dc->name = xasprintf("agora-%s", t->container_id);
    dc->image = xstrdup(t->info->container->docker->image);
    dc->out_log.fd = dc->err_log.fd = -1;
    dc->timer = evtimer_new(dc->s->base, dk_timer_cb, dc);
    t->cont = dc;
    return dc;
}

/* The create request's context: who and where the task is. */
static int build_create(struct slave *s, struct task *t, json_t **out, char **err)
{
    struct docker_spec_ctx ctx = {
        .task_id = t->id,
        .framework_id = t->fw->id,
        .agent_id = s->agent_id,
        .container_id = t->container_id,
        .hostname = s->hostname,
        .sandbox = t->sandbox,
        .publish_ip = s->flags->docker_publish_ip,
    };
    char *user = NULL;
    int rc;

    /* --switch_user: the ids the slave resolved, as Mesos's `--user`. Not
     * for root: an image whose USER drops root keeps it (root is what a
     * container runs as anyway; forcing it could only add privileges). */
    if (t->user != NULL && t->user->uid != 0) {
        user = xasprintf("%u:%u", (unsigned)t->user->uid, (unsigned)t->user->gid);
        ctx.user = user;
        ctx.groups = (const unsigned *)t->user->groups;
        ctx.ngroups = t->user->ngroups;
    }
    rc = docker_spec_create(t->info, &ctx, out, err);
    free(user);
    return rc;
}

static int dk_launch(struct containerizer *c, struct task *t, char **err)
{
    struct dk_cont *dc;
    json_t *body = NULL;

    if (docker_spec_check(t->info, err) < 0 || build_create(c->slave, t, &body, err) < 0)
        return -1;
    dc = dk_cont_new(dk_of(c), t);
    dc->create_body = body;
    log_info("task %s: launching container %s from image %s, sandbox %s", t->id, dc->name,
             dc->image, t->sandbox);
    dk_launch_steps(dc);
    return 0;
}

static int dk_kill(struct containerizer *c, struct task *t, double grace)
{
    struct dk_cont *dc = t->cont;

    if (dc == NULL || dc->kill_requested)
        return 0;
    dc->kill_requested = true;
    dc->grace = grace < 0 ? 0 : grace;
    switch (dc->state) {
    case DK_IMAGE:
    case DK_PULLING:
        /* Nothing runs yet: drop the request and report. */
        if (dc->call != NULL) {
            docker_call_cancel(dc->call);
            dc->call = NULL;
        }
        dk_fail(dc, "Killed before the container was created", -1);
        break;
    case DK_RUNNING:
        dk_stop(dc);
        break;
    default:
        /* CREATING, STARTING, INSPECTING: acted on when their call returns;
         * STOPPING, DRAINING, REMOVING, DONE: already on the way out. */
        break;
    }
    return 0;
}

static int dk_recover(struct containerizer *c, struct task *t)
{
    struct dk_cont *dc;
    char *err = NULL;

    if (docker_spec_check(t->info, &err) < 0) {
        log_warn("task %s: cannot recover: %s", t->id, err);
        free(err);
        return -1;
    }
    dc = dk_cont_new(dk_of(c), t);
    dc->recovering = true;
    if (t->killed) {
        dc->kill_requested = true;
        dc->grace = c->slave->flags->executor_shutdown_grace_period;
    }
    dk_inspect_container(dc);
    return 0;
}

static void dk_destroy(struct containerizer *c, struct task *t)
{
    struct dk_cont *dc = t->cont;

    if (dc == NULL)
        return;
    /* At shutdown a running container is left to the next start. */
    docker_call_cancel(dc->call);
    docker_call_cancel(dc->wait_call);
    docker_call_cancel(dc->logs_call);
    docker_call_cancel(dc->stop_call);
    logrot_close(&dc->out_log);
    logrot_close(&dc->err_log);
    event_free(dc->timer);
    json_decref(dc->create_body);
    free(dc->pull_line);
    free(dc->pull_error);
    free(dc->report_msg);
    free(dc->image);
    free(dc->name);
    free(dc);
    t->cont = NULL;
}

/* ------------------------------------------------------------ health */

static uint32_t dk_health_port(struct containerizer *c, struct task *t, uint32_t port)
{
    Mesos__V1__ContainerInfo__DockerInfo *di = t->info->container->docker;
    size_t i;

    /* BRIDGE: a check names the port the task listens on inside; reach it
     * through its published host port. */
    if (di == NULL || !di->has_network ||
        di->network != MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__BRIDGE)
        return port;
    for (i = 0; i < di->n_port_mappings; i++)
        if (di->port_mappings[i]->container_port == port)
            return di->port_mappings[i]->host_port;
    return port;
}

static void exec_free(struct dk_exec *ex)
{
    docker_call_cancel(ex->call);
    json_decref(ex->body);
    free(ex->exec_id);
    free(ex);
}

static void exec_report(struct dk_exec *ex, int code, const char *error)
{
    cont_exec_fn done = ex->done;
    void *arg = ex->arg;

    ex->call = NULL;
    exec_free(ex);
    done(code, error, arg);
}

static void exec_inspect_done(const struct docker_response *r, void *arg)
{
    struct dk_exec *ex = arg;
    json_t *code;
    char *m;

    code = r->status == 200 && r->json ? json_object_get(r->json, "ExitCode") : NULL;
    if (json_is_integer(code)) {
        exec_report(ex, (int)json_integer_value(code), NULL);
        return;
    }
    m = docker_error_message(r);
    ex->call = NULL;
    exec_report(ex, -1, m);
    free(m);
}

static int exec_output(const char *data, size_t len, void *arg)
{
    return 0; /* the check's output is not kept */
}

static void exec_start_done(const struct docker_response *r, void *arg)
{
    struct dk_exec *ex = arg;
    char *path, *m;

    ex->call = NULL;
    if (r->status != 200) {
        m = docker_error_message(r);
        exec_report(ex, -1, m);
        free(m);
        return;
    }
    path = xasprintf("/exec/%s/json", ex->exec_id);
    ex->call =
        docker_call(ex->dk->client, "GET", path, NULL, DK_CALL_TIMEOUT, exec_inspect_done, ex);
    free(path);
}

static void exec_create_done(const struct docker_response *r, void *arg)
{
    struct dk_exec *ex = arg;
    const char *id = r->json ? json_string_value(json_object_get(r->json, "Id")) : NULL;
    char *path, *m;
    json_t *body;

    ex->call = NULL;
    if (r->status != 201 || id == NULL) {
        m = docker_error_message(r);
        exec_report(ex, -1, m);
        free(m);
        return;
    }
    ex->exec_id = xstrdup(id);
    path = xasprintf("/exec/%s/start", ex->exec_id);
    body = json_pack("{s:b, s:b}", "Detach", 0, "Tty", 0);
    ex->call =
        docker_stream(ex->dk->client, "POST", path, body, 0, exec_output, exec_start_done, ex);
    json_decref(body);
    free(path);
}

static int dk_exec(struct containerizer *c, struct task *t, const char *cmd, cont_exec_fn done,
                   void *arg, void **handle, char **err)
{
    struct dk_cont *dc = t->cont;
    struct dk_exec *ex;
    Mesos__V1__HealthCheck *hc = t->info->health_check;
    json_t *env = json_array();
    char *path;
    size_t i;

    if (dc == NULL || (dc->state != DK_RUNNING && dc->state != DK_STOPPING)) {
        *err = xasprintf("container %s is not running", dc ? dc->name : "?");
        json_decref(env);
        return -1;
    }
    if (hc != NULL && hc->command != NULL && hc->command->environment != NULL)
        for (i = 0; i < hc->command->environment->n_variables; i++) {
            Mesos__V1__Environment__Variable *v = hc->command->environment->variables[i];
            if (v->name != NULL && v->name[0] != '\0')
                docker_spec_env_add(env, v->name, v->value);
        }
    ex = xcalloc(1, sizeof(*ex));
    ex->dk = dk_of(c);
    ex->done = done;
    ex->arg = arg;
    ex->body = json_pack("{s:[s,s,s], s:b, s:b, s:o}", "Cmd", "/bin/sh", "-c", cmd, "AttachStdout",
                         1, "AttachStderr", 1, "Env", env);
    path = xasprintf("/containers/%s/exec", dc->name);
    ex->call =
        docker_call(ex->dk->client, "POST", path, ex->body, DK_CALL_TIMEOUT, exec_create_done, ex);
    free(path);
    *handle = ex;
    return 0;
}

static void dk_exec_cancel(struct containerizer *c, void *handle)
{
    if (handle != NULL)
        exec_free(handle);
}

/* --------------------------------------------------------------- orphans */

static void orphan_free(struct dk_orphan *o)
{
    struct dk_orphan **pp;

    for (pp = &o->dk->orphans; *pp != NULL; pp = &(*pp)->next)
        if (*pp == o) {
            *pp = o->next;
            break;
        }
    docker_call_cancel(o->call);
    free(o->name);
    free(o);
}

static void orphan_removed(const struct docker_response *r, void *arg)
{
    struct dk_orphan *o = arg;
    char *m;

    o->call = NULL;
    if (r->status == 204 || r->status == 404) {
        log_info("orphan container %s removed", o->name);
        metric_inc(o->dk->m_orphans, 1);
    } else {
        m = docker_error_message(r);
        log_warn("orphan container %s: remove: %s", o->name, m);
        free(m);
    }
    orphan_free(o);
}

static void orphan_stopped(const struct docker_response *r, void *arg)
{
    struct dk_orphan *o = arg;
    char *path = xasprintf("/containers/%s?force=1&v=1", o->name);

    o->call = docker_call(o->dk->client, "DELETE", path, NULL, DK_CALL_TIMEOUT, orphan_removed, o);
    free(path);
}

/* Already being removed (a sweep before this one found it)? */
static bool orphan_pending(struct dk *dk, const char *id)
{
    for (struct dk_orphan *o = dk->orphans; o != NULL; o = o->next)
        if (strcmp(o->name, id) == 0)
            return true;
    return false;
}

static void list_done(const struct docker_response *r, void *arg)
{
    struct dk *dk = arg;
    struct slave *s = dk->base.slave;
    json_t *item, *labels;
    const char *cid, *id;
    struct dk_orphan *o;
    size_t i;
    char *m, *path;
    long grace = (long)ceil(s->flags->executor_shutdown_grace_period);

    dk->list_call = NULL;
    if (r->status != 200 || !json_is_array(r->json)) {
        m = docker_error_message(r);
        log_warn("docker: listing containers for the orphan sweep: %s", m);
        free(m);
        return;
    }
    json_array_foreach(r->json, i, item)
    {
        labels = json_object_get(item, "Labels");
        cid = json_string_value(json_object_get(labels, "agora.container_id"));
        id = json_string_value(json_object_get(item, "Id"));
        if (id == NULL || (cid != NULL && slave_container_in_use(cid, s)) || orphan_pending(dk, id))
            continue;
        o = xcalloc(1, sizeof(*o));
        o->dk = dk;
        o->name = xstrdup(id);
        o->next = dk->orphans;
        dk->orphans = o;
        log_warn("orphan container %.12s (container id %s, task %s): no checkpointed task "
                 "claims it; stopping and removing it",
                 id, cid ? cid : "?",
                 or_unknown(json_string_value(json_object_get(labels, "agora.task_id"))));
        path = xasprintf("/containers/%s/stop?t=%ld", id, grace);
        o->call = docker_call(dk->client, "POST", path, NULL, (double)grace + DK_STOP_EXTRA,
                              orphan_stopped, o);
        free(path);
    }
}

static void dk_recovered(struct containerizer *c)
{
    struct dk *dk = dk_of(c);
    struct slave *s = c->slave;
    json_t *filters;
    char *text, *esc, *path;

    if (s->agent_id == NULL || dk->list_call != NULL)
        return; /* a new slave owns no container yet; or a sweep is under way */
    filters = json_pack("{s:[s+]}", "label", "agora.slave_id=", s->agent_id);
    text = json_dumps(filters, JSON_COMPACT);
    esc = docker_escape(text);
    path = xasprintf("/containers/json?all=1&filters=%s", esc);
    dk->list_call = docker_call(dk->client, "GET", path, NULL, DK_CALL_TIMEOUT, list_done, dk);
    free(path);
    free(esc);
    free(text);
    json_decref(filters);
}

/* ------------------------------------------------------------ lifecycle */

static void version_done(const struct docker_response *r, void *arg)
{
    struct dk *dk = arg;
    char *m;

    if (r->status == 200 && r->json != NULL) {
        log_info("docker: engine %s (API %s) on %s",
                 or_unknown(json_string_value(json_object_get(r->json, "Version"))),
                 or_unknown(json_string_value(json_object_get(r->json, "ApiVersion"))),
                 docker_client_socket(dk->client));
        return;
    }
    m = docker_error_message(r);
    log_warn("docker: engine on %s does not answer: %s (Docker tasks will fail until it does)",
             docker_client_socket(dk->client), m);
    free(m);
}

static void dk_free(struct containerizer *c)
{
    struct dk *dk = dk_of(c);

    while (dk->orphans != NULL)
        orphan_free(dk->orphans);
    docker_call_cancel(dk->list_call);
    docker_client_free(dk->client);
    free(dk);
}

struct containerizer *docker_containerizer_new(struct slave *s, char **err)
{
    struct dk *dk;

    if (s->flags->docker_socket == NULL || s->flags->docker_socket[0] == '\0') {
        *err = xstrdup("--docker_socket: required by the docker containerizer");
        return NULL;
    }
    if (s->flags->docker_pull_timeout <= 0) {
        *err =
            xasprintf("--docker_pull_timeout=%g: must be positive", s->flags->docker_pull_timeout);
        return NULL;
    }
    dk = xcalloc(1, sizeof(*dk));
    dk->client = docker_client_new(s->base, s->flags->docker_socket);
    dk->m_orphans = metrics_counter("agora_slave_orphan_containers_removed_total",
                                    "Containers of this slave that no task owned, removed");
    dk->base.name = "docker";
    dk->base.launch = dk_launch;
    dk->base.kill = dk_kill;
    dk->base.recover = dk_recover;
    dk->base.destroy = dk_destroy;
    dk->base.free = dk_free;
    dk->base.recovered = dk_recovered;
    dk->base.health_port = dk_health_port;
    dk->base.exec = dk_exec;
    dk->base.exec_cancel = dk_exec_cancel;
    dk->base.slave = s;
    /* Not awaited: only logged, so an operator sees the engine's version. */
    docker_call(dk->client, "GET", "/version", NULL, DK_CALL_TIMEOUT, version_done, dk);
    return &dk->base;
}
