/*
 * reload: applies configuration texts to HAProxy, which runs as our child.
 *
 * A submitted text different from the applied one is written to
 * <config>.candidate and checked with `haproxy -c -f <candidate>` in a
 * child process (never blocking the loop; reaped from SIGCHLD). A text
 * that passes is written over <config> (atomically, without fsync: an
 * fsync stalls the loop for 20-80 ms on a busy disk, and the file is
 * rebuilt from Marathon at every start) and applied: the first
 * time by starting `haproxy -W -db -f <config> [-S <socket>]`, afterwards
 * by SIGUSR2 to that master process, which re-reads the file and replaces
 * its workers seamlessly. A text that fails is logged with HAProxy's
 * output and dropped: the running HAProxy keeps the last good one. While
 * one check runs only the newest submission is kept.
 *
 * Attached (reload_opts.attach): HAProxy is somebody else's (a systemd
 * unit, or the HAProxy a previous pacer-lb left running) and reachable on
 * its master CLI socket; the configuration file it runs is taken as
 * applied at start, so the same routing needs no reload, and a reload is
 * the master CLI's "reload" command. Stopping pacer-lb leaves it running.
 *
 * If HAProxy dies on its own it is restarted (after 1 s) with the last
 * good configuration. reload_stop() ends it with SIGTERM (SIGKILL after
 * 5 s) and is done when every HAProxy process is gone (PR_SET_PDEATHSIG
 * covers our own death). HAProxy runs in a process group of its own and
 * the signal goes to the group: a SIGTERM that reaches the master while it
 * re-executes itself for a reload kills it before it can pass the signal
 * on, and its new worker lived on after pacer-lb had exited (1 stop in 10
 * right after a reload, test_events_read_only_their_app). pacer-lb is the
 * workers' subreaper, so an orphaned worker is reaped here and the group
 * is seen empty.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "atomic_file.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "pacer_lb.h"

#define RELOAD_RESTART_SECS 1.0
#define RELOAD_KILL_SECS 5.0
#define RELOAD_MAX_OUTPUT (64 * 1024)
#define RELOAD_MAX_CONFIG (256 * 1024 * 1024)

struct reload {
    struct event_base *base;
    char *bin, *config, *candidate, *check_log, *socket;
    char *applied;  /* text HAProxy runs (or is to run); NULL before the first */
    char *checking; /* text being validated (check_pid > 0) */
    char *pending;  /* newest submission waiting for the check to end */
    pid_t check_pid;
    pid_t haproxy_pid;
    pid_t haproxy_group; /* its process group (master and workers); 0: none */
    bool stopping;
    bool killed;        /* stopping, and the group got SIGKILL */
    struct event *poll; /* stopping: is the group empty yet? */
    void (*stop_done)(void *arg);
    void *stop_arg;
    struct event *timer; /* restart after a crash, or SIGKILL when stopping */
    struct metric *m_reloads, *m_failed, *m_starts;
    reload_done_fn done_fn;
    void *done_arg;
    struct runtime *master;        /* attached: the master CLI; NULL otherwise */
    char *rejected, *rejected_log; /* the last text haproxy -c refused, and why */
};

static void start_check(struct reload *r, char *text);

/* fork + exec argv with stdout/stderr to out_path (NULL: inherited).
 * The child dies with us. -1 when fork fails. */
static pid_t spawn(char *const argv[], const char *out_path, bool own_group)
{
    pid_t pid = fork();
    if (pid > 0 && own_group)
        setpgid(pid, pid); /* both sides, whichever runs first */
    if (pid != 0)
        return pid;
    if (own_group)
        setpgid(0, 0);
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    signal(SIGPIPE, SIG_DFL);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    if (getppid() == 1)
        _exit(127);
    if (out_path != NULL) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
    }
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
        dup2(devnull, 0);
    execv(argv[0], argv);
    _exit(127);
}

static void start_haproxy(struct reload *r)
{
    char *argv[9];
    int n = 0;
    argv[n++] = r->bin;
    argv[n++] = "-W";
    argv[n++] = "-db";
    argv[n++] = "-f";
    argv[n++] = r->config;
    if (r->socket != NULL) {
        argv[n++] = "-S";
        argv[n++] = r->socket;
    }
    argv[n] = NULL;
    r->haproxy_pid = spawn(argv, NULL, true);
    if (r->haproxy_pid < 0) {
        log_error("cannot fork haproxy: %s", strerror(errno));
        r->haproxy_pid = 0;
        return;
    }
    r->haproxy_group = r->haproxy_pid;
    metric_inc(r->m_starts, 1);
    log_info("haproxy started (pid %d) with %s", (int)r->haproxy_pid, r->config);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
    struct reload *r = arg;
    if (r->stopping) {
        if (r->haproxy_group > 0) {
            log_warn("haproxy (process group %d) still running, SIGKILL", (int)r->haproxy_group);
            kill(-r->haproxy_group, SIGKILL);
        }
        r->killed = true;
        if (r->check_pid > 0)
            kill(r->check_pid, SIGKILL);
        return;
    }
    if (r->haproxy_pid == 0 && r->applied != NULL && r->master == NULL)
        start_haproxy(r);
}

static void arm_timer(struct reload *r, double secs)
{
    struct timeval tv = { (time_t)secs, (suseconds_t)((secs - (time_t)secs) * 1e6) };
    evtimer_add(r->timer, &tv);
}

static void on_master_reload(const char *answer, void *arg)
{
    struct reload *r = arg;
    /* The master re-executes itself: the connection may just close. */
    log_debug("haproxy master after reload: %s", answer ? answer : "(connection failed)");
    (void)r;
}

/* The candidate passed: make it the configuration and apply it. */
static int apply(struct reload *r, char *text)
{
    char *err = NULL;
    if (atomic_replace(r->config, text, strlen(text), &err) != 0) {
        log_error("cannot write %s: %s", r->config, err);
        free(err);
        free(text);
        return -2;
    }
    free(r->applied);
    r->applied = text;
    metric_inc(r->m_reloads, 1);
    if (r->master != NULL) {
        log_info("configuration changed: reloading the attached haproxy (%s)", r->socket);
        runtime_send(r->master, "reload", on_master_reload, r);
        return 1;
    }
    if (r->haproxy_pid > 0) {
        log_info("configuration changed: reloading haproxy (pid %d)", (int)r->haproxy_pid);
        kill(r->haproxy_pid, SIGUSR2);
        return 1;
    }
    start_haproxy(r);
    return 0;
}

void reload_set_done(struct reload *r, reload_done_fn fn, void *arg)
{
    r->done_fn = fn;
    r->done_arg = arg;
}

const char *reload_applied(const struct reload *r)
{
    return r->applied;
}

bool reload_busy(const struct reload *r)
{
    return r->check_pid > 0 || r->pending != NULL;
}

int reload_adopt(struct reload *r, const char *text)
{
    char *err = NULL;
    if (atomic_replace(r->config, text, strlen(text), &err) != 0) {
        log_error("cannot write %s: %s", r->config, err);
        free(err);
        return -1;
    }
    free(r->applied);
    r->applied = xstrdup(text);
    return 0;
}

static void check_done(struct reload *r, int status)
{
    char *text = r->checking;
    int result = -1;
    r->checking = NULL;
    r->check_pid = 0;
    if (r->stopping) {
        free(text);
    } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        result = apply(r, text);
    } else {
        char *out = NULL;
        size_t len = 0;
        file_read_all(r->check_log, RELOAD_MAX_OUTPUT, &out, &len);
        log_error("haproxy -c rejected the new configuration (status %d), keeping the last "
                  "good one: %s",
                  WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status), out ? out : "");
        free(r->rejected_log);
        r->rejected_log = out != NULL ? out : xstrdup("");
        free(r->rejected);
        r->rejected = text;
        metric_inc(r->m_failed, 1);
    }
    if (r->pending != NULL && !r->stopping) {
        char *next = r->pending;
        r->pending = NULL;
        if (r->applied != NULL && strcmp(next, r->applied) == 0)
            free(next);
        else
            start_check(r, next);
    }
    if (r->done_fn != NULL && !r->stopping)
        r->done_fn(result, r->done_arg);
}

static void start_check(struct reload *r, char *text)
{
    char *err = NULL;
    if (atomic_replace(r->candidate, text, strlen(text), &err) != 0) {
        log_error("cannot write %s: %s", r->candidate, err);
        free(err);
        free(text);
        return;
    }
    char *argv[] = { r->bin, "-c", "-f", r->candidate, NULL };
    pid_t pid = spawn(argv, r->check_log, false);
    if (pid < 0) {
        log_error("cannot fork haproxy -c: %s", strerror(errno));
        free(text);
        return;
    }
    r->check_pid = pid;
    r->checking = text;
    log_debug("validating %s (pid %d)", r->candidate, (int)pid);
}

void reload_submit(struct reload *r, const char *text)
{
    if (r->stopping)
        return;
    if (r->check_pid > 0) {
        free(r->pending);
        r->pending = strcmp(text, r->checking) == 0 ? NULL : xstrdup(text);
        return;
    }
    if (r->applied != NULL && strcmp(text, r->applied) == 0)
        return;
    start_check(r, xstrdup(text));
}

/* Is a process of HAProxy's group left (a worker the master left)? Once
 * SIGKILLed the group counts as gone: a zombie nobody reaps must not
 * hold the stop forever. */
static bool group_left(struct reload *r)
{
    if (r->haproxy_group <= 0 || r->killed)
        return false;
    if (kill(-r->haproxy_group, 0) == 0 || errno == EPERM)
        return true;
    r->haproxy_group = 0;
    return false;
}

static void on_poll(evutil_socket_t fd, short what, void *arg);

static void maybe_stopped(struct reload *r)
{
    if (r->stopping && r->haproxy_pid == 0 && r->check_pid == 0 && group_left(r)) {
        struct timeval tv = { 0, 20 * 1000 };
        evtimer_add(r->poll, &tv);
        return;
    }
    if (r->stopping && r->haproxy_pid == 0 && r->check_pid == 0 && r->stop_done != NULL) {
        void (*done)(void *) = r->stop_done;
        r->stop_done = NULL;
        evtimer_del(r->timer);
        done(r->stop_arg);
    }
}

static void on_poll(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    maybe_stopped(arg);
}

void reload_on_sigchld(struct reload *r)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        if (pid == r->check_pid) {
            check_done(r, status);
        } else if (pid == r->haproxy_pid) {
            r->haproxy_pid = 0;
            if (r->stopping) {
                log_info("haproxy (pid %d) stopped", (int)pid);
            } else {
                log_error("haproxy (pid %d) exited (status 0x%x); restarting in %.0fs", (int)pid,
                          status, RELOAD_RESTART_SECS);
                arm_timer(r, RELOAD_RESTART_SECS);
            }
        }
    }
    maybe_stopped(r);
}

void reload_stop(struct reload *r, void (*done)(void *arg), void *arg)
{
    r->stopping = true;
    r->stop_done = done;
    r->stop_arg = arg;
    free(r->pending);
    r->pending = NULL;
    evtimer_del(r->timer);
    if (r->haproxy_group > 0) {
        log_info("stopping haproxy (pid %d and its workers)", (int)r->haproxy_pid);
        kill(-r->haproxy_group, SIGTERM);
    }
    if (r->check_pid > 0)
        kill(r->check_pid, SIGTERM);
    if (r->haproxy_group > 0 || r->check_pid > 0)
        arm_timer(r, RELOAD_KILL_SECS);
    maybe_stopped(r);
}

pid_t reload_haproxy_pid(const struct reload *r)
{
    return r->haproxy_pid;
}

const char *reload_rejected(const struct reload *r, const char **log)
{
    *log = r->rejected_log;
    return r->rejected;
}

const char *reload_candidate_path(const struct reload *r)
{
    return r->candidate;
}

bool reload_running(const struct reload *r)
{
    return r->master != NULL || r->haproxy_pid > 0;
}

struct reload *reload_new(struct event_base *base, const struct reload_opts *o)
{
    struct reload *r = xcalloc(1, sizeof(*r));
    r->base = base;
    r->bin = xstrdup(o->haproxy_bin);
    r->config = xstrdup(o->config_path);
    r->candidate = xasprintf("%s.candidate", o->config_path);
    r->check_log = xasprintf("%s.check.log", o->config_path);
    r->socket = o->socket_path != NULL && *o->socket_path ? xstrdup(o->socket_path) : NULL;
    r->timer = evtimer_new(base, on_timer, r);
    r->poll = evtimer_new(base, on_poll, r);
    if (!o->attach)
        prctl(PR_SET_CHILD_SUBREAPER, 1); /* orphaned workers come back to us */
    if (o->attach && r->socket != NULL) {
        r->master = runtime_new(base, r->socket);
        size_t len = 0;
        if (file_read_all(r->config, RELOAD_MAX_CONFIG, &r->applied, &len) != 0) {
            r->applied = NULL;
            log_warn("attached to %s, but %s cannot be read: the first routing reloads", r->socket,
                     r->config);
        } else {
            log_info("attached to the haproxy of %s, running %s", r->socket, r->config);
        }
    }
    r->m_reloads = metrics_counter("agora_pacer_lb_config_applied_total",
                                   "configurations validated and applied (start or reload)");
    r->m_failed = metrics_counter("agora_pacer_lb_config_rejected_total",
                                  "configurations haproxy -c rejected");
    r->m_starts =
        metrics_counter("agora_pacer_lb_haproxy_starts_total", "haproxy processes started");
    return r;
}

/* Children still running are killed, not waited for: reload_stop is the
 * graceful way. */
void reload_free(struct reload *r)
{
    if (r == NULL)
        return;
    if (r->haproxy_group > 0)
        kill(-r->haproxy_group, SIGKILL);
    if (r->haproxy_pid > 0)
        waitpid(r->haproxy_pid, NULL, 0);
    if (r->check_pid > 0) {
        kill(r->check_pid, SIGKILL);
        waitpid(r->check_pid, NULL, 0);
    }
    event_free(r->timer);
    event_free(r->poll);
    runtime_free(r->master);
    free(r->rejected);
    free(r->rejected_log);
    free(r->bin);
    free(r->config);
    free(r->candidate);
    free(r->check_log);
    free(r->socket);
    free(r->applied);
    free(r->checking);
    free(r->pending);
    free(r);
}
