/*
 * tasks.c: agora-slave's frameworks and tasks — RUN_TASK, KILL_TASK,
 * ACKNOWLEDGE and SHUTDOWN_FRAMEWORK from the master, the status updates
 * of each task, the mapping of container exits to task states (as the
 * Mesos command executor does), the retirement of finished tasks and
 * frameworks into the completed lists, and their /state JSON.
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

#include "slave.h"
#include "containerizer.h"
#include "atomic_file.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "recordio.h"
#include "master_follow.h"

#define MAX_COMPLETED_TASKS 1000
#define MAX_COMPLETED_FRAMEWORKS 50

static bool valid_path_component(const char *id)
{
    return id != NULL && id[0] != '\0' && strlen(id) < 256 && strchr(id, '/') == NULL &&
           strcmp(id, ".") != 0 && strcmp(id, "..") != 0;
}

/* The checkpoint directory of task tid (container cid) of fw. */
static char *task_meta_dir(struct slave *s, struct framework *fw, const char *tid, const char *cid)
{
    if (valid_path_component(tid))
        return xasprintf("%s/meta/frameworks/%s/tasks/%s", s->flags->work_dir, fw->id, tid);
    return xasprintf("%s/meta/frameworks/%s/tasks/invalid-%s", s->flags->work_dir, fw->id, cid);
}

struct framework *slave_find_framework(struct slave *s, const char *id)
{
    struct framework *fw = NULL;

    if (id != NULL)
        HASH_FIND_STR(s->frameworks, id, fw);
    return fw;
}

struct framework *slave_add_framework(struct slave *s, const Mesos__V1__FrameworkInfo *info)
{
    struct framework *fw = slave_find_framework(s, info->id->value);

    if (fw != NULL) {
        pb_free(fw->info);
        fw->info = pb_dup(&info->base);
        return fw;
    }
    fw = xcalloc(1, sizeof(*fw));
    fw->id = xstrdup(info->id->value);
    fw->info = pb_dup(&info->base);
    fw->completed_tasks = json_array();
    HASH_ADD_KEYPTR(hh, s->frameworks, fw->id, strlen(fw->id), fw);
    return fw;
}

struct task *slave_find_task(struct slave *s, const char *fw_id, const char *task_id)
{
    struct framework *fw = slave_find_framework(s, fw_id);
    struct task *t = NULL;

    if (fw != NULL && task_id != NULL)
        HASH_FIND_STR(fw->tasks, task_id, t);
    return t;
}

struct task *task_new(struct framework *fw, Mesos__V1__TaskInfo *info)
{
    struct task *t = xcalloc(1, sizeof(*t));

    t->id = xstrdup(info->task_id->value);
    t->fw = fw;
    t->info = info;
    t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
    su_init(&t->updates);
    return t;
}

void slave_task_free(struct slave *s, struct task *t)
{
    if (t->health != NULL)
        health_stop(t->health);
    if (s->containerizer != NULL)
        s->containerizer->destroy(s->containerizer, t);
    su_cleanup(&t->updates);
    task_user_free(t->user);
    pb_free(t->info);
    pb_free(t->latest);
    free(t->id);
    free(t->container_id);
    free(t->sandbox);
    free(t->meta_dir);
    free(t);
}

void slave_framework_free(struct framework *fw)
{
    pb_free(fw->info);
    json_decref(fw->completed_tasks);
    free(fw->id);
    free(fw);
}

static bool fw_has_capability(struct framework *fw, Mesos__V1__FrameworkInfo__Capability__Type c)
{
    size_t i;

    for (i = 0; i < fw->info->n_capabilities; i++)
        if (fw->info->capabilities[i]->has_type && fw->info->capabilities[i]->type == c)
            return true;
    return false;
}

void slave_task_update(struct slave *s, struct task *t, Mesos__V1__TaskState state,
                       const char *message, int reason, int healthy)
{
    Mesos__V1__TaskStatus *st = xcalloc(1, sizeof(*st));
    uint8_t uuid[16];

    mesos__v1__task_status__init(st);
    st->task_id = xcalloc(1, sizeof(*st->task_id));
    mesos__v1__task_id__init(st->task_id);
    st->task_id->value = xstrdup(t->id);
    st->state = state;
    if (message != NULL)
        st->message = xstrdup(message);
    st->has_source = 1;
    st->source = (reason == MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED ||
                  reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID ||
                  reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNAUTHORIZED ||
                  reason == MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNKNOWN)
                     ? MESOS__V1__TASK_STATUS__SOURCE__SOURCE_AGENT
                     : MESOS__V1__TASK_STATUS__SOURCE__SOURCE_EXECUTOR;
    if (reason >= 0) {
        st->has_reason = 1;
        st->reason = (Mesos__V1__TaskStatus__Reason)reason;
    }
    if (s->agent_id != NULL) {
        st->agent_id = xcalloc(1, sizeof(*st->agent_id));
        mesos__v1__agent_id__init(st->agent_id);
        st->agent_id->value = xstrdup(s->agent_id);
    }
    st->executor_id = xcalloc(1, sizeof(*st->executor_id));
    mesos__v1__executor_id__init(st->executor_id);
    st->executor_id->value = xstrdup(t->id);
    st->has_timestamp = 1;
    st->timestamp = time_now();
    id_uuid_bytes(uuid);
    st->has_uuid = 1;
    st->uuid.len = 16;
    st->uuid.data = xmalloc(16);
    memcpy(st->uuid.data, uuid, 16);
    if (healthy >= 0) {
        st->has_healthy = 1;
        st->healthy = healthy ? 1 : 0;
    }
    if (t->container_id != NULL) {
        st->container_status = xcalloc(1, sizeof(*st->container_status));
        mesos__v1__container_status__init(st->container_status);
        st->container_status->container_id = xcalloc(1, sizeof(Mesos__V1__ContainerID));
        mesos__v1__container_id__init(st->container_status->container_id);
        st->container_status->container_id->value = xstrdup(t->container_id);
        if (t->monitor_pid > 0) {
            st->container_status->has_executor_pid = 1;
            st->container_status->executor_pid = (uint32_t)t->monitor_pid;
        }
    }
    log_info("task %s of framework %s: %s -> %s%s%s", t->id, t->fw->id, task_state_name(t->state),
             task_state_name(state), message ? ": " : "", message ? message : "");
    pb_free(t->latest);
    t->latest = pb_dup(&st->base);
    t->state = state;
    if (task_state_terminal(state))
        t->terminal = true;
    su_enqueue(s, t, st);
}

void slave_task_running(struct slave *s, struct task *t)
{
    if (t->terminal || t->state != MESOS__V1__TASK_STATE__TASK_STARTING)
        return;
    slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_RUNNING, NULL, -1, -1);
    if (t->info->health_check != NULL && t->health == NULL && !t->killed)
        t->health = health_start(s, t);
}

void slave_task_exited(struct slave *s, struct task *t, int wait_status, const char *launch_error)
{
    Mesos__V1__TaskState state;
    int reason = -1, healthy = -1;
    char *msg;

    if (t->health != NULL) {
        health_stop(t->health);
        t->health = NULL;
    }
    if (t->terminal)
        return;
    if (launch_error != NULL) {
        state = MESOS__V1__TASK_STATE__TASK_FAILED;
        reason = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED;
        msg = xstrdup(launch_error);
    } else if (wait_status < 0) {
        state = MESOS__V1__TASK_STATE__TASK_FAILED;
        reason = MESOS__V1__TASK_STATUS__REASON__REASON_EXECUTOR_TERMINATED;
        msg = xstrdup("Task monitor exited without an exit status");
    } else {
        if (WIFEXITED(wait_status))
            msg = xasprintf("Command exited with status %d", WEXITSTATUS(wait_status));
        else if (WIFSIGNALED(wait_status))
            msg = xasprintf("Command terminated with signal %s", strsignal(WTERMSIG(wait_status)));
        else
            msg = xasprintf("Command ended with wait status %d", wait_status);
        if (t->killed || t->fw->shutting_down) {
            state = MESOS__V1__TASK_STATE__TASK_KILLED;
            if (t->health_kill) {
                reason = MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
                healthy = 0;
            }
        } else if (WIFEXITED(wait_status) && WEXITSTATUS(wait_status) == 0) {
            state = MESOS__V1__TASK_STATE__TASK_FINISHED;
        } else {
            state = MESOS__V1__TASK_STATE__TASK_FAILED;
            if (cgroups_oom_killed(t->container_id)) {
                reason = MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LIMITATION_MEMORY;
                free(msg);
                msg = xstrdup("Memory limit exceeded");
            }
        }
    }
    switch (state) {
    case MESOS__V1__TASK_STATE__TASK_FINISHED:
        metric_inc(s->m_tasks_finished, 1);
        break;
    case MESOS__V1__TASK_STATE__TASK_KILLED:
        metric_inc(s->m_tasks_killed, 1);
        break;
    default:
        metric_inc(s->m_tasks_failed, 1);
        break;
    }
    slave_task_update(s, t, state, msg, reason, healthy);
    free(msg);
    slave_task_maybe_complete(s, t);
}

void slave_kill_task(struct slave *s, struct task *t, double grace, bool health)
{
    if (t->terminal || t->killed)
        return;
    t->killed = true;
    t->health_kill = health;
    ckpt_task_file(t, "killed", "1\n");
    if (t->health != NULL) {
        health_stop(t->health);
        t->health = NULL;
    }
    if (grace < 0) {
        if (t->info->kill_policy != NULL && t->info->kill_policy->grace_period != NULL)
            grace = (double)t->info->kill_policy->grace_period->nanoseconds / 1e9;
        else
            grace = s->flags->executor_shutdown_grace_period;
    }
    if (fw_has_capability(t->fw, MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__TASK_KILLING_STATE))
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_KILLING, NULL, -1, health ? 0 : -1);
    if (t->cont != NULL)
        s->containerizer->kill(s->containerizer, t, grace);
    else
        slave_task_exited(s, t, SIGKILL, NULL);
}

static void framework_maybe_complete(struct slave *s, struct framework *fw)
{
    json_t *j;

    if (HASH_COUNT(fw->tasks) > 0)
        return;
    j = json_pack("{s:s, s:s, s:s, s:[], s:o}", "id", fw->id, "name",
                  fw->info->name ? fw->info->name : "", "user",
                  fw->info->user ? fw->info->user : "", "executors", "completed_executors",
                  json_copy(fw->completed_tasks));
    json_array_append_new(s->completed_frameworks, j);
    while (json_array_size(s->completed_frameworks) > MAX_COMPLETED_FRAMEWORKS)
        json_array_remove(s->completed_frameworks, 0);
    HASH_DEL(s->frameworks, fw);
    ckpt_framework_remove(s, fw);
    log_info("framework %s has no more tasks on this slave", fw->id);
    s->dead_fws = xrealloc(s->dead_fws, (s->ndead_fws + 1) * sizeof(*s->dead_fws));
    s->dead_fws[s->ndead_fws++] = fw;
    event_active(s->free_ev, EV_TIMEOUT, 0);
}

void slave_task_maybe_complete(struct slave *s, struct task *t)
{
    struct framework *fw = t->fw;

    if (!t->terminal)
        return;
    /* A framework being shut down will not acknowledge anything. */
    if (t->updates.head != NULL && !fw->shutting_down)
        return;
    HASH_DEL(fw->tasks, t);
    json_array_append_new(fw->completed_tasks, slave_task_json(s, t));
    while (json_array_size(fw->completed_tasks) > MAX_COMPLETED_TASKS)
        json_array_remove(fw->completed_tasks, 0);
    ckpt_task_remove(s, t);
    gc_schedule(s->gc, t->sandbox);
    if (t->health != NULL) {
        health_stop(t->health);
        t->health = NULL;
    }
    su_cleanup(&t->updates);
    s->dead_tasks = xrealloc(s->dead_tasks, (s->ndead_tasks + 1) * sizeof(*s->dead_tasks));
    s->dead_tasks[s->ndead_tasks++] = t;
    event_active(s->free_ev, EV_TIMEOUT, 0);
    framework_maybe_complete(s, fw);
}

void slave_on_run_task(struct slave *s, const Agora__Slave__Event__RunTask *rt)
{
    struct framework *fw;
    struct task *t;
    char cid[ID_UUID_STRLEN], *err = NULL;
    Mesos__V1__TaskInfo *ti;
    const char *tid;

    if (rt == NULL || rt->framework_info == NULL || rt->framework_info->id == NULL ||
        rt->task == NULL || rt->task->task_id == NULL) {
        log_warn("RUN_TASK without framework_info.id or task.task_id: ignored");
        return;
    }
    if (!valid_path_component(rt->framework_info->id->value)) {
        log_warn("RUN_TASK: framework_info.id '%s' is not usable as a directory name: ignored",
                 rt->framework_info->id->value);
        return;
    }
    tid = rt->task->task_id->value;
    if (slave_find_task(s, rt->framework_info->id->value, tid) != NULL) {
        log_warn("RUN_TASK: task %s of framework %s already exists: ignored", tid,
                 rt->framework_info->id->value);
        return;
    }
    fw = slave_add_framework(s, rt->framework_info);
    fw->shutting_down = false;
    ckpt_framework(s, fw);
    ti = pb_dup(&rt->task->base);
    t = task_new(fw, ti);
    id_uuid_string(cid);
    t->container_id = xstrdup(cid);
    t->launched_at = time_now();
    if (valid_path_component(tid))
        t->sandbox = xasprintf("%s/slaves/%s/frameworks/%s/executors/%s/runs/%s",
                               s->flags->work_dir, s->agent_id, fw->id, tid, cid);
    else
        t->sandbox = xstrdup("");
    t->meta_dir = task_meta_dir(s, fw, tid, cid);
    HASH_ADD_KEYPTR(hh, fw->tasks, t->id, strlen(t->id), t);
    ckpt_task(s, t);
    metric_inc(s->m_tasks_launched, 1);

    if (!valid_path_component(tid)) {
        err = xasprintf("task_id: '%s' is not a valid task id (empty, '.', '..' or has '/')", tid);
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_ERROR, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, -1);
        goto fail;
    }
    /* A Docker task without a command runs the image's entrypoint. */
    if (ti->executor != NULL ||
        (ti->command == NULL && (ti->container == NULL ||
                                 ti->container->type != MESOS__V1__CONTAINER_INFO__TYPE__DOCKER))) {
        err = xstrdup(ti->executor != NULL ? "task.executor: custom executors are not supported"
                                           : "task.command: missing");
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_ERROR, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_TASK_INVALID, -1);
        goto fail;
    }
    if (!slave_host_allows(s, ti, &err)) {
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_ERROR, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNAUTHORIZED, -1);
        goto fail;
    }
    if (task_user_resolve(s, t, &err) < 0) {
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_FAILED, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, -1);
        goto fail;
    }
    if (mkdir_p(t->sandbox) < 0) {
        err = xasprintf("Failed to create sandbox %s: %s", t->sandbox, strerror(errno));
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_FAILED, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, -1);
        goto fail;
    }
    if (task_user_own_sandbox(t, &err) < 0) {
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_FAILED, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, -1);
        goto fail;
    }
    slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_STARTING, NULL, -1, -1);
    if (s->containerizer->launch(s->containerizer, t, &err) < 0) {
        log_warn("task %s: launch failed: %s", t->id, err);
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_FAILED, err,
                          MESOS__V1__TASK_STATUS__REASON__REASON_CONTAINER_LAUNCH_FAILED, -1);
        metric_inc(s->m_tasks_failed, 1);
        goto fail;
    }
    return;
fail:
    free(err);
    slave_task_maybe_complete(s, t);
}

/* Whether a completed-executors JSON array lists the task. */
static bool completed_lists(json_t *completed, const char *task_id)
{
    size_t i;
    json_t *e;

    json_array_foreach(completed, i, e)
    {
        const char *id = json_string_value(json_object_get(e, "id"));
        if (id != NULL && strcmp(id, task_id) == 0)
            return true;
    }
    return false;
}

/* Retired here already: its terminal update was acknowledged. */
static bool task_retired(struct slave *s, struct framework *fw, const char *fw_id,
                         const char *task_id)
{
    size_t i;
    json_t *f;

    if (fw != NULL)
        return completed_lists(fw->completed_tasks, task_id);
    json_array_foreach(s->completed_frameworks, i, f)
    {
        const char *id = json_string_value(json_object_get(f, "id"));
        if (id != NULL && strcmp(id, fw_id) == 0 &&
            completed_lists(json_object_get(f, "completed_executors"), task_id))
            return true;
    }
    return false;
}

/* A KILL_TASK for a task this slave does not run (its RUN_TASK never got
 * here, or it ended and was forgotten): the framework must learn that it
 * is not running, so the slave answers with a terminal update of its own
 * through the task's usual reliable stream (a stand-in task with no
 * container, retired once acknowledged). As the Mesos agent: TASK_DROPPED
 * for a PARTITION_AWARE framework, TASK_LOST for the others (and for a
 * framework this slave never saw, whose capabilities it cannot know).
 * A task retired here already gets nothing: its terminal update was
 * acknowledged, the framework knows how it ended. */
static void kill_unknown_task(struct slave *s, const Agora__Slave__Event__KillTask *kt)
{
    const char *fw_id = kt->framework_id->value, *tid = kt->task_id->value;
    struct framework *fw = slave_find_framework(s, fw_id);
    Mesos__V1__TaskInfo ti = MESOS__V1__TASK_INFO__INIT;
    Mesos__V1__AgentID aid = MESOS__V1__AGENT_ID__INIT;
    Mesos__V1__TaskState state;
    char cid[ID_UUID_STRLEN];
    struct task *t;

    if (task_retired(s, fw, fw_id, tid)) {
        log_info("KILL_TASK: task %s of framework %s has already ended here: ignored", tid, fw_id);
        return;
    }
    if (!valid_path_component(fw_id)) {
        log_warn("KILL_TASK: framework_id '%s' is not usable as a directory name: ignored", fw_id);
        return;
    }
    if (fw == NULL) {
        Mesos__V1__FrameworkInfo info = MESOS__V1__FRAMEWORK_INFO__INIT;
        Mesos__V1__FrameworkID fid = MESOS__V1__FRAMEWORK_ID__INIT;
        fid.value = (char *)fw_id;
        info.id = &fid;
        info.user = "";
        info.name = "";
        fw = slave_add_framework(s, &info);
        ckpt_framework(s, fw);
    }
    state = fw_has_capability(fw, MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE)
                ? MESOS__V1__TASK_STATE__TASK_DROPPED
                : MESOS__V1__TASK_STATE__TASK_LOST;
    log_warn("KILL_TASK: unknown task %s of framework %s: answering %s", tid, fw_id,
             task_state_name(state));
    ti.name = "";
    ti.task_id = kt->task_id;
    aid.value = s->agent_id != NULL ? s->agent_id : "";
    ti.agent_id = &aid;
    t = task_new(fw, pb_dup(&ti.base));
    id_uuid_string(cid);
    t->container_id = xstrdup(cid);
    t->sandbox = xstrdup(""); /* nothing ran: nothing to collect */
    t->launched_at = time_now();
    t->meta_dir = task_meta_dir(s, fw, tid, cid);
    HASH_ADD_KEYPTR(hh, fw->tasks, t->id, strlen(t->id), t);
    ckpt_task(s, t);
    slave_task_update(s, t, state, "Task unknown to the agent: it does not run there",
                      MESOS__V1__TASK_STATUS__REASON__REASON_TASK_UNKNOWN, -1);
}

void slave_on_kill_task(struct slave *s, const Agora__Slave__Event__KillTask *kt)
{
    struct task *t;
    double grace = -1;

    if (kt == NULL || kt->framework_id == NULL || kt->task_id == NULL ||
        kt->framework_id->value == NULL || kt->task_id->value == NULL)
        return;
    t = slave_find_task(s, kt->framework_id->value, kt->task_id->value);
    if (t == NULL) {
        kill_unknown_task(s, kt);
        return;
    }
    if (kt->kill_policy != NULL && kt->kill_policy->grace_period != NULL)
        grace = (double)kt->kill_policy->grace_period->nanoseconds / 1e9;
    log_info("killing task %s of framework %s", t->id, t->fw->id);
    slave_kill_task(s, t, grace, false);
}

void slave_on_acknowledge(struct slave *s, const Agora__Slave__Event__Acknowledge *a)
{
    struct task *t;

    if (a == NULL || a->framework_id == NULL || a->task_id == NULL)
        return;
    t = slave_find_task(s, a->framework_id->value, a->task_id->value);
    if (t == NULL) {
        log_debug("ACKNOWLEDGE for unknown task %s", a->task_id->value);
        return;
    }
    su_acknowledge(s, t, a->uuid.data, a->uuid.len);
}

void slave_on_shutdown_framework(struct slave *s, const Agora__Slave__Event__ShutdownFramework *sf)
{
    struct framework *fw;
    struct task *t, *tmp, **all;
    size_t n = 0, i;

    if (sf == NULL || sf->framework_id == NULL)
        return;
    fw = slave_find_framework(s, sf->framework_id->value);
    if (fw == NULL)
        return;
    log_info("shutting down framework %s", fw->id);
    fw->shutting_down = true;
    all = xcalloc(HASH_COUNT(fw->tasks) + 1, sizeof(*all));
    HASH_ITER (hh, fw->tasks, t, tmp)
        all[n++] = t;
    /* Iterate over a copy: completing a task removes it from the hash. */
    for (i = 0; i < n; i++) {
        if (all[i]->terminal)
            slave_task_maybe_complete(s, all[i]);
        else
            slave_kill_task(s, all[i], -1, false);
    }
    free(all);
}

/* ------------------------------------------------------------- /state */

json_t *slave_task_json(struct slave *s, struct task *t)
{
    struct resources r;
    char *err = NULL;
    json_t *task, *statuses, *exec, *res_json;

    res_init(&r);
    if (res_from_pb(t->info->resources, t->info->n_resources, &r, &err) < 0)
        free(err);
    res_json = res_to_json_summary(&r);
    res_cleanup(&r);
    statuses = json_array();
    if (t->latest != NULL)
        json_array_append_new(statuses,
                              json_pack("{s:s, s:f}", "state", task_state_name(t->latest->state),
                                        "timestamp", t->latest->timestamp));
    task = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:s, s:I, s:I}", "id", t->id, "name",
                     t->info->name ? t->info->name : "", "framework_id", t->fw->id, "executor_id",
                     "", "slave_id", s->agent_id ? s->agent_id : "", "state",
                     task_state_name(t->state), "resources", json_deep_copy(res_json), "statuses",
                     statuses, "container_id", t->container_id ? t->container_id : "", "pid",
                     (json_int_t)t->task_pid, "monitor_pid", (json_int_t)t->monitor_pid);
    if (t->latest != NULL && t->latest->has_healthy)
        json_object_set_new(task, "healthy", json_boolean(t->latest->healthy));
    /* As Mesos's Task.user: whose sandbox it is (--acls decide on it). */
    if (task_user_name(t) != NULL)
        json_object_set_new(task, "user", json_string(task_user_name(t)));
    /* The command executor of Mesos: one executor per task, id = task id. */
    exec =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:o, s:[o], s:[], s:[]}", "id", t->id, "name",
                  "Command Executor", "source", t->id, "container",
                  t->container_id ? t->container_id : "", "directory", t->sandbox ? t->sandbox : "",
                  "resources", res_json, "tasks", task, "queued_tasks", "completed_tasks");
    if (t->terminal) {
        /* Completed: the task moves to completed_tasks. */
        json_t *tasks = json_object_get(exec, "tasks");
        json_object_set(exec, "completed_tasks", tasks);
        json_object_set_new(exec, "tasks", json_array());
    }
    return exec;
}
