/*
 * checkpoint: the slave's durable state under <work_dir>/meta, and
 * recovery from it at start.
 *
 * Layout (every file written with atomic_write):
 *   meta/slave.id                                   agent id
 *   meta/boot_id                                    host boot id (pids are per boot)
 *   meta/frameworks/<fw>/framework.info             FrameworkInfo (protobuf)
 *   meta/frameworks/<fw>/tasks/<task>/task.info     TaskInfo (protobuf)
 *                                    /container.id  container id
 *                                    /sandbox       sandbox path
 *                                    /monitor.pid   written by the slave
 *                                    /monitor.start its start time (pid reuse check)
 *                                    /task.pid      written by the monitor
 *                                    /exit_status   wait status, by the monitor
 *                                    /launch_error  exec failure, by the monitor
 *                                    /docker_exit   exit code of a Docker task's
 *                                                   container, before its removal
 *                                    /killed        present once we killed it
 *                                    /updates       unacknowledged updates
 *                                    /latest        latest TaskStatus
 * Tasks are checkpointed whatever FrameworkInfo.checkpoint says. A task's
 * directory goes away once it is terminal and fully acknowledged.
 */
#include <dirent.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "slave.h"
#include "containerizer.h"
#include "atomic_file.h"
#include "log.h"
#include "mem.h"
#include "pbutil.h"

#define CKPT_MAX_FILE (16 * 1024 * 1024)

char *ckpt_meta_dir(struct slave *s)
{
    return xasprintf("%s/meta", s->flags->work_dir);
}

static int write_file(const char *path, const void *data, size_t len)
{
    char *err = NULL;

    if (atomic_write(path, data, len, &err) < 0) {
        log_error("checkpoint: %s", err);
        free(err);
        return -1;
    }
    return 0;
}

static int write_pb(const char *path, const ProtobufCMessage *m)
{
    size_t len;
    uint8_t *buf = pb_pack(m, &len);
    int rc;

    rc = write_file(path, buf, len);
    free(buf);
    return rc;
}

int ckpt_slave_id(struct slave *s)
{
    char *meta = ckpt_meta_dir(s), *path = xasprintf("%s/slave.id", meta);
    int rc = -1;

    if (mkdir_p(meta) < 0) {
        log_error("checkpoint: mkdir %s: %s", meta, strerror(errno));
        goto out;
    }
    rc = write_file(path, s->agent_id, strlen(s->agent_id));
out:
    free(path);
    free(meta);
    return rc;
}

static char *fw_dir(struct slave *s, const char *fw_id)
{
    return xasprintf("%s/meta/frameworks/%s", s->flags->work_dir, fw_id);
}

int ckpt_framework(struct slave *s, struct framework *fw)
{
    char *dir = fw_dir(s, fw->id), *path = xasprintf("%s/framework.info", dir);
    int rc = -1;

    if (mkdir_p(dir) < 0) {
        log_error("checkpoint: mkdir %s: %s", dir, strerror(errno));
        goto out;
    }
    rc = write_pb(path, &fw->info->base);
out:
    free(path);
    free(dir);
    return rc;
}

void ckpt_framework_remove(struct slave *s, struct framework *fw)
{
    char *dir = fw_dir(s, fw->id);

    rm_rf(dir);
    free(dir);
}

int ckpt_task_file(struct task *t, const char *name, const char *text)
{
    char *path = xasprintf("%s/%s", t->meta_dir, name);
    int rc = write_file(path, text, strlen(text));

    free(path);
    return rc;
}

int ckpt_task(struct slave *s, struct task *t)
{
    char *path;
    int rc = -1;

    if (mkdir_p(t->meta_dir) < 0) {
        log_error("checkpoint: mkdir %s: %s", t->meta_dir, strerror(errno));
        return -1;
    }
    path = xasprintf("%s/task.info", t->meta_dir);
    if (write_pb(path, &t->info->base) < 0)
        goto out;
    if (ckpt_task_file(t, "container.id", t->container_id) < 0)
        goto out;
    if (ckpt_task_file(t, "sandbox", t->sandbox) < 0)
        goto out;
    rc = 0;
out:
    free(path);
    return rc;
}

int ckpt_task_updates(struct slave *s, struct task *t)
{
    size_t len;
    char *data = su_serialize(&t->updates, &len);
    char *path = xasprintf("%s/updates", t->meta_dir);
    int rc = write_file(path, data, len);

    free(data);
    free(path);
    if (rc == 0 && t->latest != NULL) {
        path = xasprintf("%s/latest", t->meta_dir);
        rc = write_pb(path, &t->latest->base);
        free(path);
    }
    return rc;
}

void ckpt_task_remove(struct slave *s, struct task *t)
{
    if (t->meta_dir != NULL)
        rm_rf(t->meta_dir);
}

/* ------------------------------------------------------------- recovery */

static char *read_text(const char *dir, const char *name)
{
    char *path = xasprintf("%s/%s", dir, name), *data = NULL, *p;
    size_t len;

    if (file_read_all(path, CKPT_MAX_FILE, &data, &len) < 0)
        data = NULL;
    free(path);
    if (data != NULL) {
        p = data + strlen(data);
        while (p > data && (p[-1] == '\n' || p[-1] == ' '))
            *--p = '\0';
    }
    return data;
}

static ProtobufCMessage *read_pb(const char *dir, const char *name,
                                 const ProtobufCMessageDescriptor *desc)
{
    char *path = xasprintf("%s/%s", dir, name), *data = NULL;
    size_t len;
    ProtobufCMessage *m = NULL;

    if (file_read_all(path, CKPT_MAX_FILE, &data, &len) == 0)
        m = protobuf_c_message_unpack(desc, &agora_pb_allocator, len, (const uint8_t *)data);
    free(data);
    free(path);
    return m;
}

static bool is_dot(const char *name)
{
    return strcmp(name, ".") == 0 || strcmp(name, "..") == 0;
}

/* Bring one checkpointed task back: re-adopt or finish it. rebooted: the
 * host rebooted since the checkpoint, so its pids mean nothing now. */
static void recover_task(struct slave *s, struct task *t, bool rebooted)
{
    char *text, *launch_error;
    long status;

    if (t->terminal) {
        /* Already reported terminal: only its updates may still be due. */
        slave_task_maybe_complete(s, t);
        return;
    }
    if (rebooted) {
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_LOST, "Slave host rebooted",
                          MESOS__V1__TASK_STATUS__REASON__REASON_AGENT_RESTARTED, -1);
        slave_task_maybe_complete(s, t);
        return;
    }
    /* Its COMMAND health checks run as the task does (the user is looked
     * up again: it ran, so it existed). */
    if (task_user_resolve(s, t, &text) < 0) {
        log_warn("task %s: %s; its health checks run as the slave's user", t->id, text);
        free(text);
    }
    /* The containerizer decides: a process task needs its monitor alive, a
     * Docker task is looked up in the engine (asynchronously). */
    if (s->containerizer->recover(s->containerizer, t) == 0) {
        if (t->state == MESOS__V1__TASK_STATE__TASK_STARTING && t->task_pid > 0)
            slave_task_running(s, t);
        else if (t->info->health_check != NULL && t->health == NULL)
            t->health = health_start(s, t);
        return;
    }
    text = read_text(t->meta_dir, "exit_status");
    status = text != NULL ? strtol(text, NULL, 10) : -1;
    free(text);
    launch_error = read_text(t->meta_dir, "launch_error");
    if (t->task_pid <= 0) {
        text = read_text(t->meta_dir, "task.pid");
        t->task_pid = text != NULL ? (pid_t)strtol(text, NULL, 10) : 0;
        free(text);
    }
    if (status < 0 && t->task_pid > 0) {
        /* Monitor gone without a verdict: do not leave its task behind. */
        kill(-t->task_pid, SIGKILL);
    }
    log_info("task %s: monitor gone while the slave was down (wait status %ld)", t->id, status);
    slave_task_exited(s, t, (int)status, launch_error);
    free(launch_error);
}

static void recover_framework(struct slave *s, const char *fw_id, const char *dir, bool rebooted)
{
    Mesos__V1__FrameworkInfo *info;
    struct framework *fw;
    char *tasks_dir = xasprintf("%s/tasks", dir), *tdir, *text, *err = NULL;
    DIR *d;
    struct dirent *de;
    struct task *t, **recovered = NULL;
    size_t nrecovered = 0, i, len;

    info = (Mesos__V1__FrameworkInfo *)read_pb(dir, "framework.info",
                                               &mesos__v1__framework_info__descriptor);
    if (info == NULL) {
        log_warn("checkpoint: %s/framework.info unreadable; skipping framework %s", dir, fw_id);
        goto out;
    }
    fw = slave_add_framework(s, info);
    protobuf_c_message_free_unpacked(&info->base, &agora_pb_allocator);
    d = opendir(tasks_dir);
    if (d == NULL)
        goto out;
    while ((de = readdir(d)) != NULL) {
        Mesos__V1__TaskInfo *ti;
        if (is_dot(de->d_name))
            continue;
        tdir = xasprintf("%s/%s", tasks_dir, de->d_name);
        ti = (Mesos__V1__TaskInfo *)read_pb(tdir, "task.info", &mesos__v1__task_info__descriptor);
        if (ti == NULL) {
            log_warn("checkpoint: %s/task.info unreadable; removing it", tdir);
            rm_rf(tdir);
            free(tdir);
            continue;
        }
        t = task_new(fw, ti);
        t->meta_dir = tdir;
        t->container_id = read_text(tdir, "container.id");
        t->sandbox = read_text(tdir, "sandbox");
        if (t->container_id == NULL || t->sandbox == NULL) {
            /* Crashed before the launch was checkpointed: nothing ran. */
            if (t->container_id == NULL)
                t->container_id = xstrdup("unknown");
            if (t->sandbox == NULL)
                t->sandbox = xstrdup("");
        }
        text = read_text(tdir, "monitor.pid");
        t->monitor_pid = text != NULL ? (pid_t)strtol(text, NULL, 10) : 0;
        free(text);
        text = read_text(tdir, "task.pid");
        t->task_pid = text != NULL ? (pid_t)strtol(text, NULL, 10) : 0;
        free(text);
        text = read_text(tdir, "killed");
        t->killed = text != NULL;
        free(text);
        text = NULL;
        {
            char *path = xasprintf("%s/updates", tdir);
            if (file_read_all(path, CKPT_MAX_FILE, &text, &len) == 0 &&
                su_deserialize(&t->updates, text, len, &err) < 0) {
                log_warn("checkpoint: %s: %s", path, err);
                free(err);
                err = NULL;
            }
            free(path);
            free(text);
        }
        t->latest =
            (Mesos__V1__TaskStatus *)read_pb(tdir, "latest", &mesos__v1__task_status__descriptor);
        if (t->latest != NULL) {
            t->state = t->latest->state;
            t->launched_at = t->latest->has_timestamp ? t->latest->timestamp : time_now();
        } else {
            t->state = MESOS__V1__TASK_STATE__TASK_STAGING;
            t->launched_at = time_now();
        }
        t->terminal = task_state_terminal(t->state);
        HASH_ADD_KEYPTR(hh, fw->tasks, t->id, strlen(t->id), t);
        recovered = xrealloc(recovered, (nrecovered + 1) * sizeof(*recovered));
        recovered[nrecovered++] = t;
        log_info("checkpoint: recovered task %s of framework %s (%s, %zu unacknowledged "
                 "updates, monitor %ld)",
                 t->id, fw->id, task_state_name(t->state), t->updates.len, (long)t->monitor_pid);
    }
    closedir(d);
    for (i = 0; i < nrecovered; i++)
        recover_task(s, recovered[i], rebooted);
    if (HASH_COUNT(fw->tasks) == 0) {
        ckpt_framework_remove(s, fw);
    }
out:
    free(recovered);
    free(tasks_dir);
}

int ckpt_recover(struct slave *s, char **err)
{
    char *meta = ckpt_meta_dir(s), *fws = xasprintf("%s/frameworks", meta), *dir;
    char *boot_id = read_text("/proc/sys/kernel/random", "boot_id"), *old_boot;
    char *boot_path = xasprintf("%s/boot_id", meta);
    bool rebooted;
    DIR *d;
    struct dirent *de;

    s->agent_id = read_text(meta, "slave.id");
    old_boot = read_text(meta, "boot_id");
    rebooted = old_boot != NULL && boot_id != NULL && strcmp(old_boot, boot_id) != 0;
    if (rebooted)
        log_warn("checkpoint: the host rebooted since the last run; checkpointed tasks are lost");
    if (s->agent_id != NULL && s->agent_id[0] == '\0') {
        free(s->agent_id);
        s->agent_id = NULL;
    }
    if (s->agent_id != NULL)
        log_info("checkpoint: recovering slave %s from %s", s->agent_id, meta);
    d = opendir(fws);
    if (d != NULL) {
        while ((de = readdir(d)) != NULL) {
            if (is_dot(de->d_name))
                continue;
            dir = xasprintf("%s/%s", fws, de->d_name);
            recover_framework(s, de->d_name, dir, rebooted);
            free(dir);
        }
        closedir(d);
    }
    if (boot_id != NULL && mkdir_p(meta) == 0)
        write_file(boot_path, boot_id, strlen(boot_id));
    free(boot_id);
    free(old_boot);
    free(boot_path);
    free(fws);
    free(meta);
    return 0;
}
