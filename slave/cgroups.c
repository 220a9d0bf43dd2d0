/*
 * cgroups: cpu and memory limits of process containers.
 *
 * Owns the cgroups "agora/<container_id>" under the cpu and memory
 * hierarchies (cgroup v1: /sys/fs/cgroup/{cpu,memory}) or under the unified
 * hierarchy (v2, when /sys/fs/cgroup/cgroup.controllers exists). Limits
 * follow Mesos' cgroups isolators: cpu.shares = 1024 per cpu plus a CFS
 * quota of cpus * period, and a hard memory limit.
 *
 * The task child joins its cgroups itself, between fork and exec, so that
 * nothing it runs escapes the limits.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "containerizer.h"
#include "atomic_file.h"
#include "fdio.h"
#include "log.h"
#include "mem.h"

#define CG_ROOT "/sys/fs/cgroup"
#define CG_CFS_PERIOD_US 100000

enum cg_mode { CG_NONE = 0, CG_V1, CG_V2 };

static enum cg_mode cg_mode = CG_NONE;

static const char *cg_mode_name(enum cg_mode m)
{
    static const char *names[] = { "none", "cgroup v1", "cgroup v2" };
    return names[m];
}

bool cgroups_enabled(void)
{
    return cg_mode != CG_NONE;
}

/* Retried on EINTR: memory.limit_in_bytes (v1) fails with it whenever a
 * signal is pending, e.g. the SIGCHLD of another task that just ended. */
static int write_text(const char *path, const char *text)
{
    return fdio_write_file(path, text);
}

/* Check that we can create and remove a cgroup under base. */
static int probe_dir(const char *base)
{
    char *dir = xasprintf("%s/agora", base);
    char *probe = xasprintf("%s/agora/probe-%ld", base, (long)getpid());
    int rc = -1;

    if (mkdir(dir, 0755) < 0 && errno != EEXIST)
        goto out;
    if (mkdir(probe, 0755) < 0 && errno != EEXIST)
        goto out;
    rmdir(probe);
    rc = 0;
out:
    free(dir);
    free(probe);
    return rc;
}

static int probe_v2(void)
{
    /* Controllers must be enabled for the children of every level we use. */
    if (probe_dir(CG_ROOT) < 0)
        return -1;
    write_text(CG_ROOT "/cgroup.subtree_control", "+cpu +memory");
    if (write_text(CG_ROOT "/agora/cgroup.subtree_control", "+cpu +memory") < 0)
        return -1;
    return 0;
}

int cgroups_init(const char *mode, char **err)
{
    enum cg_mode found = CG_NONE;

    if (mode != NULL && strcmp(mode, "none") == 0) {
        cg_mode = CG_NONE;
        log_info("isolation: none");
        return 0;
    }
    if (mode != NULL && strcmp(mode, "cgroups") != 0) {
        *err = xasprintf("--isolation: unknown value '%s' (expected cgroups or none)", mode);
        return -1;
    }
    if (access(CG_ROOT "/cgroup.controllers", F_OK) == 0) {
        if (probe_v2() == 0)
            found = CG_V2;
    } else if (probe_dir(CG_ROOT "/cpu") == 0 && probe_dir(CG_ROOT "/memory") == 0) {
        found = CG_V1;
    }
    if (found == CG_NONE) {
        if (mode != NULL) {
            *err = xasprintf("--isolation=cgroups: no writable cpu and memory cgroups under %s",
                             CG_ROOT);
            return -1;
        }
        log_warn("cgroups are not writable under %s: running tasks without "
                 "resource isolation (--isolation=none)",
                 CG_ROOT);
    }
    cg_mode = found;
    log_info("isolation: %s", cg_mode_name(cg_mode));
    return 0;
}

static char *cg_path(const char *controller, const char *container_id)
{
    if (cg_mode == CG_V2)
        return xasprintf(CG_ROOT "/agora/%s", container_id);
    return xasprintf(CG_ROOT "/%s/agora/%s", controller, container_id);
}

static int cg_write(const char *dir, const char *file, const char *value, char **err)
{
    char *path = xasprintf("%s/%s", dir, file);
    int rc = write_text(path, value);

    if (rc < 0)
        *err = xasprintf("cgroups: cannot write '%s' to %s: %s", value, path, strerror(errno));
    free(path);
    return rc;
}

int cgroups_prepare(const char *container_id, double cpus, double mem_mb, char **err)
{
    char *cpu = NULL, *mem = NULL, val[64];
    int rc = -1;

    if (cg_mode == CG_NONE)
        return 0;
    cpu = cg_path("cpu", container_id);
    mem = cg_path("memory", container_id);
    if (mkdir(cpu, 0755) < 0 && errno != EEXIST) {
        *err = xasprintf("cgroups: mkdir %s: %s", cpu, strerror(errno));
        goto out;
    }
    if (cg_mode == CG_V1 && mkdir(mem, 0755) < 0 && errno != EEXIST) {
        *err = xasprintf("cgroups: mkdir %s: %s", mem, strerror(errno));
        goto out;
    }
    if (cpus > 0) {
        long quota = (long)(cpus * CG_CFS_PERIOD_US);
        if (quota < 1000)
            quota = 1000; /* the kernel's minimum */
        if (cg_mode == CG_V1) {
            snprintf(val, sizeof(val), "%ld", (long)(cpus * 1024) < 2 ? 2 : (long)(cpus * 1024));
            if (cg_write(cpu, "cpu.shares", val, err) < 0)
                goto out;
            snprintf(val, sizeof(val), "%d", CG_CFS_PERIOD_US);
            if (cg_write(cpu, "cpu.cfs_period_us", val, err) < 0)
                goto out;
            snprintf(val, sizeof(val), "%ld", quota);
            if (cg_write(cpu, "cpu.cfs_quota_us", val, err) < 0)
                goto out;
        } else {
            long weight = (long)(cpus * 100);
            weight = weight < 1 ? 1 : weight > 10000 ? 10000 : weight;
            snprintf(val, sizeof(val), "%ld", weight);
            if (cg_write(cpu, "cpu.weight", val, err) < 0)
                goto out;
            snprintf(val, sizeof(val), "%ld %d", quota, CG_CFS_PERIOD_US);
            if (cg_write(cpu, "cpu.max", val, err) < 0)
                goto out;
        }
    }
    if (mem_mb > 0) {
        /* Mesos' minimum container memory is 32MB. */
        unsigned long long bytes = (unsigned long long)(mem_mb < 32 ? 32 : mem_mb) * 1024 * 1024;
        snprintf(val, sizeof(val), "%llu", bytes);
        if (cg_write(mem, cg_mode == CG_V1 ? "memory.limit_in_bytes" : "memory.max", val, err) < 0)
            goto out;
    }
    rc = 0;
out:
    if (rc < 0)
        cgroups_destroy(container_id);
    free(cpu);
    free(mem);
    return rc;
}

static int join_one(const char *controller, const char *container_id)
{
    char path[512], pid[32];

    if (cg_mode == CG_V2)
        snprintf(path, sizeof(path), CG_ROOT "/agora/%s/cgroup.procs", container_id);
    else
        snprintf(path, sizeof(path), CG_ROOT "/%s/agora/%s/cgroup.procs", controller, container_id);
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    return write_text(path, pid);
}

int cgroups_join_self(const char *container_id)
{
    if (cg_mode == CG_NONE)
        return 0;
    if (join_one("cpu", container_id) < 0)
        return -1;
    if (cg_mode == CG_V1 && join_one("memory", container_id) < 0)
        return -1;
    return 0;
}

bool cgroups_oom_killed(const char *container_id)
{
    char *dir, *path, *data = NULL, *p;
    size_t len;
    bool oom = false;

    if (cg_mode == CG_NONE)
        return false;
    dir = cg_path("memory", container_id);
    path = xasprintf("%s/%s", dir, cg_mode == CG_V1 ? "memory.oom_control" : "memory.events");
    if (file_read_all(path, 65536, &data, &len) == 0) {
        p = strstr(data, "oom_kill ");
        if (p != NULL && strtol(p + 9, NULL, 10) > 0)
            oom = true;
    }
    free(data);
    free(path);
    free(dir);
    return oom;
}

void cgroups_destroy(const char *container_id)
{
    char *cpu, *mem;

    if (cg_mode == CG_NONE)
        return;
    cpu = cg_path("cpu", container_id);
    mem = cg_path("memory", container_id);
    if (rmdir(cpu) < 0 && errno != ENOENT)
        log_warn("cgroups: rmdir %s: %s", cpu, strerror(errno));
    if (cg_mode == CG_V1 && rmdir(mem) < 0 && errno != ENOENT)
        log_warn("cgroups: rmdir %s: %s", mem, strerror(errno));
    free(cpu);
    free(mem);
}

static void sweep_dir(const char *dir, bool (*in_use)(const char *cid, void *arg), void *arg)
{
    DIR *d = opendir(dir);
    struct dirent *de;
    struct stat st;
    char *path;

    if (d == NULL)
        return;
    while ((de = readdir(d)) != NULL) {
        /* Container cgroups are the directories named by a uuid. */
        if (de->d_type != DT_DIR || strlen(de->d_name) != 36 || in_use(de->d_name, arg))
            continue;
        path = xasprintf("%s/%s", dir, de->d_name);
        /* Other slaves on this host share agora/: leave young cgroups alone,
         * one may be between its creation and its task joining it. */
        if (stat(path, &st) == 0 && st.st_mtime > time(NULL) - 60) {
            free(path);
            continue;
        }
        if (rmdir(path) == 0)
            log_info("cgroups: removed orphan %s", path);
        free(path);
    }
    closedir(d);
}

void cgroups_sweep(bool (*in_use)(const char *cid, void *arg), void *arg)
{
    if (cg_mode == CG_V2) {
        sweep_dir(CG_ROOT "/agora", in_use, arg);
    } else if (cg_mode == CG_V1) {
        sweep_dir(CG_ROOT "/cpu/agora", in_use, arg);
        sweep_dir(CG_ROOT "/memory/agora", in_use, arg);
    }
}
