/*
 * containerizer: the seam between the slave and the ways it runs tasks.
 *
 * The slave holds one composing containerizer (composing.c) that hands
 * each task to the process containerizer (process.c) or, for a task whose
 * ContainerInfo is DOCKER, to the Docker one (docker.c), among those
 * --containerizers enables. Every operation runs on the loop and must not
 * block. A containerizer reports back through slave_task_running() and
 * slave_task_exited() (slave.h), exactly once each at most, and never from
 * inside launch() itself for the exit (it may call slave_task_exited later
 * from an event).
 */
#ifndef AGORA_CONTAINERIZER_H
#define AGORA_CONTAINERIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct slave;
struct task;

/* A COMMAND health check run by the containerizer: exit_code, or -1 with
 * error when it could not run. */
typedef void (*cont_exec_fn)(int exit_code, const char *error, void *arg);

struct containerizer {
    const char *name; /* "process", "docker" */
    /* Start the task in t->sandbox (already created). 0 ok, -1 with *err
     * (nothing left running). */
    int (*launch)(struct containerizer *c, struct task *t, char **err);
    /* Graceful stop: SIGTERM (or equivalent), then force after grace
     * seconds. Idempotent. */
    int (*kill)(struct containerizer *c, struct task *t, double grace);
    /* Re-adopt a checkpointed, still running task after a slave restart
     * (t->monitor_pid, t->task_pid, t->container_id are set). 0 adopted,
     * -1 gone (the caller then reads its exit status). */
    int (*recover)(struct containerizer *c, struct task *t);
    /* Release what the container holds (fds, timers, cgroups). Called once
     * before the task is freed; the task's processes are gone or are being
     * left behind on shutdown (recover() picks them up again). */
    void (*destroy)(struct containerizer *c, struct task *t);
    void (*free)(struct containerizer *c);
    /* Optional. Every checkpointed task went through recover(): clean up
     * what belongs to none of them (orphan containers). Called again every
     * --orphan_sweep_interval (orphans.c), so it must tolerate overlap. */
    void (*recovered)(struct containerizer *c);
    /* Optional (NULL: port as is). The host port on 127.0.0.1 where an
     * HTTP/TCP health check of the task reaches the task's port. */
    uint32_t (*health_port)(struct containerizer *c, struct task *t, uint32_t port);
    /* Optional. Run a COMMAND health check `sh -c cmd` inside the task's
     * container: 1 not done here (the caller runs it in the sandbox), 0
     * started (*handle set; done runs once later unless exec_cancel), -1
     * with *err. */
    int (*exec)(struct containerizer *c, struct task *t, const char *cmd, cont_exec_fn done,
                void *arg, void **handle, char **err);
    void (*exec_cancel)(struct containerizer *c, void *handle);
    struct slave *slave;
};

/* composing.c: the slave's containerizer. --containerizers lists the
 * enabled ones ("docker,process"); NULL enables process, and docker when
 * its socket answers. NULL with *err. */
struct containerizer *composing_containerizer_new(struct slave *s, char **err);
/* The enabled containerizers' names, for SUBSCRIBE. Returns how many. */
size_t composing_containerizer_names(struct containerizer *c, char **names, size_t max);

/* docker.c: Docker tasks through the Engine API on --docker_socket. */
struct containerizer *docker_containerizer_new(struct slave *s, char **err);

/* isolation: "cgroups", "none" or NULL (auto). NULL with *err. */
struct containerizer *process_containerizer_new(struct slave *s, const char *isolation, char **err);

/* --- cgroups.c: cpu and memory limits (v1 or v2) ------------------------ */
/* Detect and check cgroups. mode "cgroups" requires them, NULL picks them
 * when writable (else none, with a warning), "none" disables. 0 ok. */
int cgroups_init(const char *mode, char **err);
bool cgroups_enabled(void);
/* Create the container's cgroups with limits (cpus, mem in MB; <= 0 means
 * no limit). 0 ok, -1 with *err. */
int cgroups_prepare(const char *container_id, double cpus, double mem_mb, char **err);
/* In the forked task before exec: move the calling process in. Only
 * async-signal-safe calls. 0 ok, -1. */
int cgroups_join_self(const char *container_id);
/* Whether the memory cgroup saw an OOM kill. */
bool cgroups_oom_killed(const char *container_id);
/* Remove the container's cgroups (processes must be gone). */
void cgroups_destroy(const char *container_id);
/* Remove empty container cgroups that in_use() does not claim: those of
 * tasks retired while the slave was being killed, or still busy when
 * their container was destroyed. */
void cgroups_sweep(bool (*in_use)(const char *cid, void *arg), void *arg);

#endif
