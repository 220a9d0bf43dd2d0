/*
 * process: the process containerizer — tasks as plain processes.
 *
 * Owns, per task, the monitor process and the slave-side watches on it.
 * launch() forks a monitor that calls setsid() (so it survives the slave
 * being killed) and forks the task in its own process group, inside the
 * task's cgroups, with the sandbox as cwd and its stdout/stderr piped to
 * the monitor, which writes them to rotated sandbox files (task_logs.c).
 * The monitor tells the slave over a pipe that exec succeeded ("R <pid>"),
 * writes task.pid, copies the task's output until it exits, writes its
 * wait status to <meta>/exit_status atomically (or <meta>/launch_error
 * when exec failed), then exits.
 *
 * The slave watches the monitor with pidfd_open(2), which also works for a
 * monitor it did not fork (after a restart); without pidfd it polls
 * kill(pid, 0) every second. When the monitor is gone the slave reads the
 * exit status from the checkpoint, so it never depends on being the
 * monitor's parent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "slave.h"
#include "containerizer.h"
#include "atomic_file.h"
#include "fdio.h"
#include "log.h"
#include "mem.h"
#include "task_logs.h"
#include "timeutil.h"

extern char **environ;

/* Per-task state of the process containerizer (task->cont). */
struct proc_cont {
    struct slave *s;
    struct task *t;
    int pipe_fd; /* read end of the monitor's report pipe */
    struct event *pipe_ev;
    char buf[128];
    size_t buflen;
    int pidfd;                /* -1 when polling */
    struct event *watch_ev;   /* pidfd readable, or 1s poll timer */
    struct event *kill_timer; /* SIGKILL after grace / retry SIGTERM */
    double grace;
    bool kill_requested;
    bool term_sent;
    bool exited; /* reported to the slave */
};

/* ------------------------------------------------------------ environment */

static void env_set(char ***env, size_t *n, size_t *cap, const char *name, const char *value)
{
    size_t nl = strlen(name), i;
    char *entry = xasprintf("%s=%s", name, value ? value : "");

    for (i = 0; i < *n; i++) {
        if (strncmp((*env)[i], name, nl) == 0 && (*env)[i][nl] == '=') {
            free((*env)[i]);
            (*env)[i] = entry;
            return;
        }
    }
    if (*n + 2 > *cap) {
        *cap = *cap ? *cap * 2 : 64;
        *env = xrealloc(*env, *cap * sizeof(char *));
    }
    (*env)[(*n)++] = entry;
    (*env)[*n] = NULL;
}

char **task_environment(struct slave *s, struct task *t)
{
    char **env = NULL, buf[32], *ports_list = NULL;
    size_t n = 0, cap = 0, i, nports;
    uint64_t ports[256];
    struct resources res;
    char *err = NULL;
    Mesos__V1__CommandInfo *cmd = t->info->command;

    for (i = 0; environ[i] != NULL; i++) {
        char *eq = strchr(environ[i], '=');
        char *name;
        if (eq == NULL || strncmp(environ[i], "AGORA_", 6) == 0)
            continue; /* the slave's own flags are not the task's business */
        name = xstrndup(environ[i], (size_t)(eq - environ[i]));
        env_set(&env, &n, &cap, name, eq + 1);
        free(name);
    }
    env_set(&env, &n, &cap, "MESOS_SANDBOX", t->sandbox);
    env_set(&env, &n, &cap, "MESOS_DIRECTORY", t->sandbox);
    env_set(&env, &n, &cap, "MESOS_TASK_ID", t->id);
    env_set(&env, &n, &cap, "MESOS_EXECUTOR_ID", t->id);
    env_set(&env, &n, &cap, "MESOS_FRAMEWORK_ID", t->fw->id);
    env_set(&env, &n, &cap, "MESOS_AGENT_ID", s->agent_id ? s->agent_id : "");
    env_set(&env, &n, &cap, "MESOS_SLAVE_ID", s->agent_id ? s->agent_id : "");
    env_set(&env, &n, &cap, "MESOS_CONTAINER_ID", t->container_id);
    env_set(&env, &n, &cap, "HOST", s->hostname);
    if (t->user != NULL) {
        env_set(&env, &n, &cap, "USER", t->user->name);
        env_set(&env, &n, &cap, "LOGNAME", t->user->name);
        env_set(&env, &n, &cap, "HOME", t->user->home);
    }

    res_init(&res);
    if (res_from_pb(t->info->resources, t->info->n_resources, &res, &err) == 0) {
        nports = res_range_values(&res, "ports", ports, 256);
        for (i = 0; i < nports; i++) {
            char name[32];
            char *joined;
            snprintf(name, sizeof(name), "PORT%zu", i);
            snprintf(buf, sizeof(buf), "%llu", (unsigned long long)ports[i]);
            env_set(&env, &n, &cap, name, buf);
            if (i == 0)
                env_set(&env, &n, &cap, "PORT", buf);
            joined = ports_list ? xasprintf("%s,%s", ports_list, buf) : xstrdup(buf);
            free(ports_list);
            ports_list = joined;
        }
        if (ports_list != NULL)
            env_set(&env, &n, &cap, "PORTS", ports_list);
    } else {
        log_warn("task %s: resources: %s", t->id, err);
    }
    free(err);
    free(ports_list);
    res_cleanup(&res);

    if (cmd != NULL && cmd->environment != NULL) {
        for (i = 0; i < cmd->environment->n_variables; i++) {
            Mesos__V1__Environment__Variable *v = cmd->environment->variables[i];
            if (v->name == NULL || v->name[0] == '\0' || strchr(v->name, '=') != NULL)
                continue;
            env_set(&env, &n, &cap, v->name, v->value ? v->value : "");
        }
    }
    if (env == NULL)
        env = xcalloc(1, sizeof(char *));
    return env;
}

void env_free(char **env)
{
    size_t i;

    if (env == NULL)
        return;
    for (i = 0; env[i] != NULL; i++)
        free(env[i]);
    free(env);
}

/* ---------------------------------------------------------------- monitor */

void slave_child_reset(int keep)
{
    sigset_t all;
    long max = sysconf(_SC_OPEN_MAX);
    int sig, fd;

    /* libevent's handlers would write to the slave's signal socketpair. */
    for (sig = 1; sig < NSIG; sig++)
        if (sig != SIGKILL && sig != SIGSTOP)
            signal(sig, SIG_DFL);
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);
    /* No listener or pipe of the slave stays open past its restart. */
    if (max < 0 || max > 65536)
        max = 65536;
    for (fd = 3; fd < max; fd++)
        if (fd != keep)
            close(fd);
}

/* What the task child failed at, reported to the monitor with errno. */
enum child_stage { STAGE_CGROUPS, STAGE_USER, STAGE_SANDBOX, STAGE_EXEC };

struct child_failure {
    int stage; /* enum child_stage */
    int err;   /* errno */
};

/* The task child: never returns. */
static void __attribute__((noreturn))
run_task_child(struct task *t, char **argv, char **env, int errfd, struct task_logs *tl)
{
    struct child_failure f = { STAGE_CGROUPS, 0 };
    int fd;

    setpgid(0, 0);
    if (cgroups_join_self(t->container_id) < 0) {
        f.err = errno ? errno : EPERM;
        goto fail;
    }
    /* After the cgroup join (root's to write), before the sandbox files
     * are created: they are the task user's. */
    f.stage = STAGE_USER;
    if (task_user_switch(t->user) < 0) {
        f.err = errno ? errno : EPERM;
        goto fail;
    }
    fd = fdio_open("/dev/null", O_RDONLY, 0);
    if (fd >= 0) {
        fdio_dup2(fd, 0);
        if (fd != 0)
            close(fd);
    }
    task_logs_child(tl);
    f.stage = STAGE_SANDBOX;
    if (chdir(t->sandbox) < 0) {
        f.err = errno;
        goto fail;
    }
    f.stage = STAGE_EXEC;
    environ = env;
    execvp(argv[0], argv);
    f.err = errno;
fail:
    if (fdio_write_all(errfd, &f, sizeof(f)) < 0) {
        /* nothing left to tell anyone */
    }
    _exit(127);
}

/* The launch error of a child that failed, naming what it failed at. */
static char *child_failure_message(const struct task *t, char **argv, const struct child_failure *f)
{
    const char *as = t->user ? " as user " : "", *who = t->user ? t->user->name : "";

    switch (f->stage) {
    case STAGE_CGROUPS:
        return xasprintf("Failed to join the container's cgroups: %s", strerror(f->err));
    case STAGE_USER:
        return xasprintf("Failed to switch to user '%s': %s", who, strerror(f->err));
    case STAGE_SANDBOX:
        return xasprintf("Failed to enter sandbox %s%s%s: %s (its parent directories must be "
                         "reachable by the task's user)",
                         t->sandbox, as, who, strerror(f->err));
    default:
        break;
    }
    return xasprintf("Failed to execute '%s'%s%s: %s", argv[0], as, who, strerror(f->err));
}

static void __attribute__((noreturn))
run_monitor(struct task *t, char **argv, char **env, int report_fd, const struct slave_flags *f)
{
    int errpipe[2], fd;
    struct child_failure cf;
    struct task_logs tl;
    pid_t child;
    ssize_t n;
    int status = 0;
    char buf[64], *path, *errmsg = NULL;

    slave_child_reset(report_fd);
    setsid();
    /* Keep no pipe of whoever started the slave open past its death. */
    fd = fdio_open("/dev/null", O_RDWR, 0);
    if (fd >= 0) {
        fdio_dup2(fd, 0);
        fdio_dup2(fd, 1);
        fdio_dup2(fd, 2);
        if (fd > 2)
            close(fd);
    }
    signal(SIGPIPE, SIG_IGN); /* the slave may be gone when we report */
    signal(SIGHUP, SIG_IGN);
    if (pipe2(errpipe, O_CLOEXEC) < 0 || task_logs_prepare(&tl) < 0)
        _exit(2);
    child = fork();
    if (child < 0) {
        errmsg = xasprintf("fork: %s", strerror(errno));
        goto failed;
    }
    if (child == 0) {
        close(errpipe[0]);
        close(report_fd);
        run_task_child(t, argv, env, errpipe[1], &tl);
    }
    setpgid(child, child);
    close(errpipe[1]);
    n = fdio_read(errpipe[0], &cf, sizeof(cf));
    close(errpipe[0]);
    if (n == (ssize_t)sizeof(cf)) {
        errmsg = child_failure_message(t, argv, &cf);
    } else {
        snprintf(buf, sizeof(buf), "%ld\n", (long)child);
        path = xasprintf("%s/task.pid", t->meta_dir);
        atomic_write(path, buf, strlen(buf), NULL);
        free(path);
        snprintf(buf, sizeof(buf), "R %ld\n", (long)child);
        if (fdio_write_all(report_fd, buf, strlen(buf)) < 0) {
            /* slave gone: it will find task.pid when it recovers */
        }
    }
    status = task_logs_pump(&tl, child, t->sandbox, f->task_log_max_size,
                            (unsigned)f->task_log_files, t->user);
failed:
    if (errmsg != NULL) {
        path = xasprintf("%s/launch_error", t->meta_dir);
        atomic_write(path, errmsg, strlen(errmsg), NULL);
        free(path);
        if (child < 0)
            status = 127 << 8;
    }
    snprintf(buf, sizeof(buf), "%d\n", status);
    path = xasprintf("%s/exit_status", t->meta_dir);
    atomic_write(path, buf, strlen(buf), NULL);
    _exit(0);
}

/* ------------------------------------------------------ slave-side watch */

static void pc_drain_pipe(struct proc_cont *pc)
{
    ssize_t n;
    char *nl;

    if (pc->pipe_fd < 0)
        return;
    for (;;) {
        if (pc->buflen >= sizeof(pc->buf) - 1)
            pc->buflen = 0; /* garbage: the protocol lines are short */
        n = fdio_read(pc->pipe_fd, pc->buf + pc->buflen, sizeof(pc->buf) - 1 - pc->buflen);
        if (n <= 0)
            break;
        pc->buflen += (size_t)n;
        pc->buf[pc->buflen] = '\0';
        while ((nl = strchr(pc->buf, '\n')) != NULL) {
            *nl = '\0';
            if (pc->buf[0] == 'R' && pc->buf[1] == ' ') {
                pc->t->task_pid = (pid_t)strtol(pc->buf + 2, NULL, 10);
                if (pc->kill_requested && !pc->term_sent)
                    event_active(pc->kill_timer, EV_TIMEOUT, 0);
                slave_task_running(pc->s, pc->t);
            }
            pc->buflen -= (size_t)(nl + 1 - pc->buf);
            memmove(pc->buf, nl + 1, pc->buflen + 1);
        }
    }
    if (n == 0) {
        /* EOF: the monitor exited or exec failed; the watch reports it. */
        event_del(pc->pipe_ev);
        close(pc->pipe_fd);
        pc->pipe_fd = -1;
    }
}

static void pc_pipe_cb(evutil_socket_t fd, short what, void *arg)
{
    pc_drain_pipe(arg);
}

static long read_long_file(const char *dir, const char *name, long dflt)
{
    char *path = xasprintf("%s/%s", dir, name), *data = NULL;
    size_t len;
    long v = dflt;

    if (file_read_all(path, 4096, &data, &len) == 0 && len > 0)
        v = strtol(data, NULL, 10);
    free(data);
    free(path);
    return v;
}

static void pc_monitor_gone(struct proc_cont *pc)
{
    struct task *t = pc->t;
    char *path, *launch_error = NULL;
    size_t len;
    long status;

    if (pc->exited)
        return;
    pc->exited = true;
    pc_drain_pipe(pc);
    if (pc->watch_ev != NULL)
        event_del(pc->watch_ev);
    if (pc->kill_timer != NULL)
        event_del(pc->kill_timer);
    if (t->task_pid <= 0)
        t->task_pid = (pid_t)read_long_file(t->meta_dir, "task.pid", 0);
    /* Like Mesos destroying the container: nothing of the task outlives it. */
    if (t->task_pid > 0)
        kill(-t->task_pid, SIGKILL);
    path = xasprintf("%s/launch_error", t->meta_dir);
    if (file_read_all(path, 4096, &launch_error, &len) < 0)
        launch_error = NULL;
    free(path);
    status = read_long_file(t->meta_dir, "exit_status", -1);
    log_info("task %s: monitor %ld exited (wait status %ld)", t->id, (long)t->monitor_pid, status);
    slave_task_exited(pc->s, t, (int)status, launch_error);
    free(launch_error);
}

static void pc_pidfd_cb(evutil_socket_t fd, short what, void *arg)
{
    pc_monitor_gone(arg);
}

static bool pid_alive(pid_t pid)
{
    char path[64], *data = NULL, *p;
    size_t len;
    bool alive;

    if (pid <= 0 || (kill(pid, 0) < 0 && errno == ESRCH))
        return false;
    /* A zombie (our unreaped child) is gone for our purposes. */
    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (file_read_all(path, 4096, &data, &len) < 0)
        return true;
    p = strrchr(data, ')');
    alive = !(p != NULL && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'));
    free(data);
    return alive;
}

/* Field 22 of /proc/<pid>/stat: start time in clock ticks since boot.
 * With the boot id it tells a recycled pid from our monitor. 0 if gone. */
static unsigned long long proc_start_time(pid_t pid)
{
    char path[64], *data = NULL, *p;
    size_t len;
    unsigned long long start = 0;
    int field;

    snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
    if (file_read_all(path, 4096, &data, &len) < 0)
        return 0;
    p = strrchr(data, ')');
    /* After ")" come fields 3, 4, ...: skip to field 22. */
    for (field = 2; p != NULL && field < 22; field++)
        p = strchr(p + 1, ' ');
    if (p != NULL)
        start = strtoull(p + 1, NULL, 10);
    free(data);
    return start;
}

static void pc_poll_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proc_cont *pc = arg;

    if (!pid_alive(pc->t->monitor_pid))
        pc_monitor_gone(pc);
}

static int pc_watch(struct proc_cont *pc)
{
    struct timeval one = { 1, 0 };

    pc->pidfd = (int)syscall(SYS_pidfd_open, pc->t->monitor_pid, 0);
    if (pc->pidfd >= 0) {
        fcntl(pc->pidfd, F_SETFD, FD_CLOEXEC);
        pc->watch_ev = event_new(pc->s->base, pc->pidfd, EV_READ, pc_pidfd_cb, pc);
        event_add(pc->watch_ev, NULL);
        return 0;
    }
    if (errno == ESRCH)
        return -1;
    log_debug("pidfd_open(%ld): %s; polling", (long)pc->t->monitor_pid, strerror(errno));
    pc->watch_ev = event_new(pc->s->base, -1, EV_PERSIST, pc_poll_cb, pc);
    event_add(pc->watch_ev, &one);
    return 0;
}

static void pc_kill_cb(evutil_socket_t fd, short what, void *arg)
{
    struct proc_cont *pc = arg;
    struct task *t = pc->t;
    struct timeval tv;

    if (pc->exited)
        return;
    if (t->task_pid <= 0)
        t->task_pid = (pid_t)read_long_file(t->meta_dir, "task.pid", 0);
    if (t->task_pid <= 0) {
        /* Not exec'ed yet: try again shortly. */
        tv.tv_sec = 0;
        tv.tv_usec = 100000;
        event_add(pc->kill_timer, &tv);
        return;
    }
    if (!pc->term_sent) {
        pc->term_sent = true;
        log_info("task %s: SIGTERM to process group %ld, SIGKILL in %.1fs", t->id,
                 (long)t->task_pid, pc->grace);
        kill(-t->task_pid, SIGTERM);
        tv = time_tv(pc->grace);
        event_add(pc->kill_timer, &tv);
        return;
    }
    log_info("task %s: grace period over, SIGKILL to process group %ld", t->id, (long)t->task_pid);
    kill(-t->task_pid, SIGKILL);
}

static struct proc_cont *pc_new(struct containerizer *c, struct task *t)
{
    struct proc_cont *pc = xcalloc(1, sizeof(*pc));

    pc->s = c->slave;
    pc->t = t;
    pc->pipe_fd = -1;
    pc->pidfd = -1;
    pc->kill_timer = evtimer_new(pc->s->base, pc_kill_cb, pc);
    t->cont = pc;
    return pc;
}

/* ------------------------------------------------------------- operations */

static char **build_argv(Mesos__V1__CommandInfo *cmd, char **err)
{
    char **argv;
    size_t i;

    if (cmd == NULL || cmd->value == NULL) {
        *err = xstrdup("task.command.value: missing");
        return NULL;
    }
    if (!cmd->has_shell || cmd->shell) {
        argv = xcalloc(4, sizeof(char *));
        argv[0] = xstrdup("/bin/sh");
        argv[1] = xstrdup("-c");
        argv[2] = xstrdup(cmd->value);
        return argv;
    }
    argv = xcalloc(cmd->n_arguments + 2, sizeof(char *));
    if (cmd->n_arguments == 0) {
        argv[0] = xstrdup(cmd->value);
        return argv;
    }
    /* As Mesos: value is the program, arguments the whole argv (argv[0] too). */
    for (i = 0; i < cmd->n_arguments; i++)
        argv[i] = xstrdup(cmd->arguments[i]);
    free(argv[0]);
    argv[0] = xstrdup(cmd->value);
    return argv;
}

static int pc_launch(struct containerizer *c, struct task *t, char **err)
{
    struct slave *s = c->slave;
    struct proc_cont *pc;
    char **argv = NULL, **env = NULL, buf[32];
    int fds[2] = { -1, -1 }, rc = -1;
    struct resources res;
    char *rerr = NULL;
    pid_t pid;

    argv = build_argv(t->info->command, err);
    if (argv == NULL)
        return -1;
    res_init(&res);
    if (res_from_pb(t->info->resources, t->info->n_resources, &res, &rerr) < 0) {
        *err = xasprintf("task.resources: %s", rerr);
        free(rerr);
        goto out;
    }
    if (cgroups_prepare(t->container_id, res_scalar(&res, "cpus"), res_scalar(&res, "mem"), err) <
        0)
        goto out;
    env = task_environment(s, t);
    if (pipe2(fds, O_CLOEXEC | O_NONBLOCK) < 0) {
        *err = xasprintf("pipe: %s", strerror(errno));
        goto out;
    }
    pid = fork();
    if (pid < 0) {
        *err = xasprintf("fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        int fl;
        close(fds[0]);
        fl = fcntl(fds[1], F_GETFL);
        fcntl(fds[1], F_SETFL, fl & ~O_NONBLOCK);
        run_monitor(t, argv, env, fds[1], s->flags);
    }
    close(fds[1]);
    fds[1] = -1;
    t->monitor_pid = pid;
    snprintf(buf, sizeof(buf), "%ld\n", (long)pid);
    ckpt_task_file(t, "monitor.pid", buf);
    snprintf(buf, sizeof(buf), "%llu\n", proc_start_time(pid));
    ckpt_task_file(t, "monitor.start", buf);
    pc = pc_new(c, t);
    pc->pipe_fd = fds[0];
    fds[0] = -1;
    pc->pipe_ev = event_new(s->base, pc->pipe_fd, EV_READ | EV_PERSIST, pc_pipe_cb, pc);
    event_add(pc->pipe_ev, NULL);
    if (pc_watch(pc) < 0) {
        /* Already gone (and reaped?): report from the checkpoint soon. */
        pc->watch_ev = event_new(s->base, -1, 0, pc_poll_cb, pc);
        event_active(pc->watch_ev, EV_TIMEOUT, 0);
    }
    log_info("task %s: launched monitor %ld, container %s, sandbox %s", t->id, (long)pid,
             t->container_id, t->sandbox);
    rc = 0;
out:
    if (rc < 0)
        cgroups_destroy(t->container_id);
    if (fds[0] >= 0)
        close(fds[0]);
    if (fds[1] >= 0)
        close(fds[1]);
    env_free(env);
    env_free(argv);
    res_cleanup(&res);
    return rc;
}

static int pc_kill(struct containerizer *c, struct task *t, double grace)
{
    struct proc_cont *pc = t->cont;

    if (pc == NULL || pc->exited || pc->kill_requested)
        return 0;
    pc->kill_requested = true;
    pc->grace = grace < 0 ? 0 : grace;
    event_active(pc->kill_timer, EV_TIMEOUT, 0);
    return 0;
}

static int pc_recover(struct containerizer *c, struct task *t)
{
    struct proc_cont *pc;
    long recorded;

    if (!pid_alive(t->monitor_pid))
        return -1;
    /* Same pid but another process (the pid was recycled): ours is gone. */
    recorded = read_long_file(t->meta_dir, "monitor.start", -1);
    if (recorded > 0 && (unsigned long long)recorded != proc_start_time(t->monitor_pid)) {
        log_warn("task %s: pid %ld is no longer its monitor", t->id, (long)t->monitor_pid);
        return -1;
    }
    if (t->task_pid <= 0)
        t->task_pid = (pid_t)read_long_file(t->meta_dir, "task.pid", 0);
    pc = pc_new(c, t);
    if (pc_watch(pc) < 0)
        return -1;
    log_info("task %s: re-adopted monitor %ld (task pid %ld)", t->id, (long)t->monitor_pid,
             (long)t->task_pid);
    return 0;
}

static void pc_destroy(struct containerizer *c, struct task *t)
{
    struct proc_cont *pc = t->cont;

    if (pc != NULL) {
        if (pc->pipe_ev != NULL)
            event_free(pc->pipe_ev);
        if (pc->pipe_fd >= 0)
            close(pc->pipe_fd);
        if (pc->watch_ev != NULL)
            event_free(pc->watch_ev);
        if (pc->pidfd >= 0)
            close(pc->pidfd);
        if (pc->kill_timer != NULL)
            event_free(pc->kill_timer);
        /* cgroups can only go once the processes did. */
        if (pc->exited)
            cgroups_destroy(t->container_id);
        free(pc);
        t->cont = NULL;
    } else if (t->terminal) {
        cgroups_destroy(t->container_id);
    }
}

static void pc_free(struct containerizer *c)
{
    free(c);
}

struct containerizer *process_containerizer_new(struct slave *s, const char *isolation, char **err)
{
    struct containerizer *c;

    if (cgroups_init(isolation, err) < 0)
        return NULL;
    c = xcalloc(1, sizeof(*c));
    c->name = "process";
    c->launch = pc_launch;
    c->kill = pc_kill;
    c->recover = pc_recover;
    c->destroy = pc_destroy;
    c->free = pc_free;
    c->slave = s;
    return c;
}
