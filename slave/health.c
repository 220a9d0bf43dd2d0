/*
 * health: task health checks with Mesos HealthCheck semantics.
 *
 * Owns one checker per task with a health_check. The first check runs
 * delay_seconds after the task is RUNNING, then every interval_seconds;
 * each check has timeout_seconds. HTTP checks GET 127.0.0.1:port/path
 * (common/http.h client; 2xx and 3xx are healthy), TCP checks connect to
 * 127.0.0.1:port (nonblocking, on the loop), COMMAND checks run
 * `sh -c value` in the task's sandbox with the task's environment, in
 * their own process group (exit 0 is healthy). The containerizer may
 * translate the port (a BRIDGE Docker task's published host port) and run
 * COMMAND checks itself (inside a Docker container, with exec).
 *
 * Results become TaskStatus.healthy in TASK_RUNNING updates, as the Mesos
 * command executor sends them: healthy=true on the first success and on
 * recovery after failures, healthy=false on every failure counted.
 * Failures within grace_period_seconds of the start are ignored until the
 * first success; consecutive_failures counted failures kill the task.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "slave.h"
#include "containerizer.h"
#include "fdio.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "timeutil.h"

extern char **environ;

enum health_state {
    HEALTH_WAITING = 0, /* timer armed for the next check */
    HEALTH_CHECKING,    /* a check is in flight */
};

struct health {
    struct slave *s;
    struct task *t;
    Mesos__V1__HealthCheck *hc; /* borrowed from the TaskInfo */
    enum health_state state;
    double started; /* for grace_period_seconds */
    bool ever_healthy;
    bool reported;          /* any result sent yet */
    unsigned consecutive;   /* counted failures in a row */
    struct event *timer;    /* next check */
    struct event *timeout;  /* running check's deadline */
    struct http_call *call; /* HTTP */
    int sock;               /* TCP */
    struct event *sock_ev;
    pid_t cmd_pid; /* COMMAND */
    void *exec;    /* COMMAND run by the containerizer */
};

static const char *health_state_name(enum health_state st)
{
    static const char *names[] = { "WAITING", "CHECKING" };
    return names[st];
}

static void set_state(struct health *h, enum health_state st)
{
    if (h->state != st)
        log_debug("task %s: health checker %s -> %s", h->t->id, health_state_name(h->state),
                  health_state_name(st));
    h->state = st;
}

static void schedule(struct health *h, double secs)
{
    struct timeval tv;

    if (secs < 0.1)
        secs = 0.1; /* a zero interval would spin the loop */
    tv = time_tv(secs);
    set_state(h, HEALTH_WAITING);
    event_add(h->timer, &tv);
}

/* Abandon a check in flight. */
static void cancel_check(struct health *h)
{
    if (h->call != NULL) {
        http_call_cancel(h->call);
        h->call = NULL;
    }
    if (h->sock_ev != NULL) {
        event_free(h->sock_ev);
        h->sock_ev = NULL;
    }
    if (h->sock >= 0) {
        close(h->sock);
        h->sock = -1;
    }
    if (h->exec != NULL) {
        h->s->containerizer->exec_cancel(h->s->containerizer, h->exec);
        h->exec = NULL;
    }
    if (h->cmd_pid > 0) {
        slave_unwatch_child(h->cmd_pid);
        kill(-h->cmd_pid, SIGKILL); /* reaped by the SIGCHLD handler */
        h->cmd_pid = 0;
    }
    event_del(h->timeout);
}

static void check_done(struct health *h, bool healthy, const char *why)
{
    struct slave *s = h->s;
    struct task *t = h->t;
    unsigned max = h->hc->consecutive_failures;

    cancel_check(h);
    if (healthy) {
        if (!h->reported || h->consecutive > 0 || !h->ever_healthy) {
            log_info("task %s: healthy", t->id);
            slave_task_update(
                s, t, MESOS__V1__TASK_STATE__TASK_RUNNING, NULL,
                MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED, 1);
        }
        h->ever_healthy = true;
        h->reported = true;
        h->consecutive = 0;
    } else if (!h->ever_healthy && time_now() - h->started < h->hc->grace_period_seconds) {
        log_info("task %s: health check failed within the grace period (%s)", t->id, why);
    } else {
        h->consecutive++;
        h->reported = true;
        log_warn("task %s: health check failed (%u/%u): %s", t->id, h->consecutive, max, why);
        slave_task_update(s, t, MESOS__V1__TASK_STATE__TASK_RUNNING, why,
                          MESOS__V1__TASK_STATUS__REASON__REASON_TASK_HEALTH_CHECK_STATUS_UPDATED,
                          0);
        if (max > 0 && h->consecutive >= max) {
            log_warn("task %s: %u consecutive health check failures, killing it", t->id,
                     h->consecutive);
            /* slave_kill_task stops (frees) this checker: return at once. */
            slave_kill_task(s, t, -1, true);
            return;
        }
    }
    schedule(h, h->hc->interval_seconds);
}

static void timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct health *h = arg;
    char why[96];

    snprintf(why, sizeof(why), "health check timed out after %.1fs", h->hc->timeout_seconds);
    check_done(h, false, why);
}

/* The port to reach on 127.0.0.1: a Docker task's published host port. */
static uint32_t check_port(struct health *h, uint32_t port)
{
    struct containerizer *c = h->s->containerizer;

    return c != NULL && c->health_port != NULL ? c->health_port(c, h->t, port) : port;
}

/* ------------------------------------------------------------------ HTTP */

static void http_done(const struct http_response *resp, void *arg)
{
    struct health *h = arg;
    char why[160];

    h->call = NULL;
    if (resp->status >= 200 && resp->status < 400) {
        check_done(h, true, NULL);
        return;
    }
    if (resp->status == 0)
        snprintf(why, sizeof(why), "HTTP health check failed: %s", resp->error);
    else
        snprintf(why, sizeof(why), "HTTP health check returned status %d", resp->status);
    check_done(h, false, why);
}

static int start_http(struct health *h, char **why)
{
    Mesos__V1__HealthCheck__HTTPCheckInfo *hi = h->hc->http;
    const char *path = hi->path != NULL && hi->path[0] != '\0' ? hi->path : "/";
    char *p = path[0] == '/' ? xstrdup(path) : xasprintf("/%s", path);

    if (hi->scheme != NULL && strcmp(hi->scheme, "http") != 0)
        log_warn("task %s: health check scheme '%s' not supported, using http", h->t->id,
                 hi->scheme);
    /* A fresh connection per check (as Mesos does): a pooled one would pass
     * for a task that still serves old connections but accepts no new ones. */
    static const struct http_header close_hdr[] = { { "Connection", "close" } };
    h->call = http_call_start_plain(h->s->base, "127.0.0.1", (int)check_port(h, hi->port), "GET", p,
                                    close_hdr, 1, NULL, 0, h->hc->timeout_seconds, http_done, h);
    free(p);
    if (h->call == NULL) {
        *why = xstrdup("HTTP health check could not start");
        return -1;
    }
    return 0;
}

/* ------------------------------------------------------------------- TCP */

static void tcp_cb(evutil_socket_t fd, short what, void *arg)
{
    struct health *h = arg;
    int soerr = 0;
    socklen_t sl = sizeof(soerr);
    char why[128];

    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0)
        soerr = errno;
    if (soerr == 0) {
        check_done(h, true, NULL);
        return;
    }
    snprintf(why, sizeof(why), "TCP connection to port %u failed: %s", h->hc->tcp->port,
             strerror(soerr));
    check_done(h, false, why);
}

static int start_tcp(struct health *h, char **why)
{
    struct sockaddr_in sa;

    memset(&sa, 0, sizeof(sa));
    sa.sin_family = AF_INET;
    sa.sin_port = htons((uint16_t)check_port(h, h->hc->tcp->port));
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    h->sock = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (h->sock < 0) {
        *why = xasprintf("TCP health check: socket: %s", strerror(errno));
        return -1;
    }
    /* EINTR: the connection goes on asynchronously, as with EINPROGRESS. */
    if (connect(h->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0 && errno != EINPROGRESS &&
        errno != EINTR) {
        *why = xasprintf("TCP connection to port %u failed: %s", h->hc->tcp->port, strerror(errno));
        return -1;
    }
    h->sock_ev = event_new(h->s->base, h->sock, EV_WRITE, tcp_cb, h);
    event_add(h->sock_ev, NULL);
    return 0;
}

/* --------------------------------------------------------------- COMMAND */

static void cmd_exit(pid_t pid, int status, void *arg)
{
    struct health *h = arg;
    char why[128];

    h->cmd_pid = 0;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
        check_done(h, true, NULL);
        return;
    }
    if (WIFEXITED(status))
        snprintf(why, sizeof(why), "Command health check exited with status %d",
                 WEXITSTATUS(status));
    else
        snprintf(why, sizeof(why), "Command health check terminated with signal %s",
                 WIFSIGNALED(status) ? strsignal(WTERMSIG(status)) : "?");
    check_done(h, false, why);
}

static void exec_done(int code, const char *error, void *arg)
{
    struct health *h = arg;
    char why[256];

    h->exec = NULL;
    if (error == NULL && code == 0) {
        check_done(h, true, NULL);
        return;
    }
    if (error != NULL)
        snprintf(why, sizeof(why), "Command health check could not run: %s", error);
    else
        snprintf(why, sizeof(why), "Command health check exited with status %d", code);
    check_done(h, false, why);
}

static int start_command(struct health *h, char **why)
{
    Mesos__V1__CommandInfo *cmd = h->hc->command;
    struct containerizer *c = h->s->containerizer;
    char **env;
    size_t i, n = 0;
    pid_t pid;
    int rc;

    /* Inside the task's container when the containerizer can (docker exec). */
    if (c != NULL && c->exec != NULL) {
        rc = c->exec(c, h->t, cmd->value, exec_done, h, &h->exec, why);
        if (rc <= 0)
            return rc;
    }
    env = task_environment(h->s, h->t);

    if (cmd->environment != NULL) {
        for (i = 0; env[i] != NULL; i++)
            n++;
        for (i = 0; i < cmd->environment->n_variables; i++) {
            Mesos__V1__Environment__Variable *v = cmd->environment->variables[i];
            env = xrealloc(env, (n + 2) * sizeof(char *));
            env[n++] = xasprintf("%s=%s", v->name, v->value ? v->value : "");
            env[n] = NULL;
        }
    }
    pid = fork();
    if (pid < 0) {
        *why = xasprintf("Command health check: fork: %s", strerror(errno));
        env_free(env);
        return -1;
    }
    if (pid == 0) {
        int fd;
        /* Nothing of the slave (listener, pipes) leaks into the check. */
        slave_child_reset(-1);
        setpgid(0, 0);
        fd = fdio_open("/dev/null", O_RDWR, 0);
        if (fd >= 0) {
            fdio_dup2(fd, 0);
            fdio_dup2(fd, 1);
            fdio_dup2(fd, 2);
            if (fd > 2)
                close(fd);
        }
        /* The check runs as the task does. */
        if (task_user_switch(h->t->user) < 0)
            _exit(126);
        if (h->t->sandbox != NULL && chdir(h->t->sandbox) < 0)
            _exit(126);
        environ = env;
        execl("/bin/sh", "sh", "-c", cmd->value, (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    env_free(env);
    h->cmd_pid = pid;
    slave_watch_child(pid, cmd_exit, h);
    return 0;
}

/* ------------------------------------------------------------------ loop */

static void check_cb(evutil_socket_t fd, short what, void *arg)
{
    struct health *h = arg;
    struct timeval tv;
    char *why = NULL;
    int rc = -1;

    set_state(h, HEALTH_CHECKING);
    tv = time_tv(h->hc->timeout_seconds);
    event_add(h->timeout, &tv);
    if (h->hc->type == MESOS__V1__HEALTH_CHECK__TYPE__HTTP && h->hc->http != NULL)
        rc = start_http(h, &why);
    else if (h->hc->type == MESOS__V1__HEALTH_CHECK__TYPE__TCP && h->hc->tcp != NULL)
        rc = start_tcp(h, &why);
    else if (h->hc->type == MESOS__V1__HEALTH_CHECK__TYPE__COMMAND && h->hc->command != NULL &&
             h->hc->command->value != NULL)
        rc = start_command(h, &why);
    else
        why = xstrdup("health_check: type and its http/tcp/command field are inconsistent");
    if (rc < 0) {
        check_done(h, false, why);
        free(why);
    }
}

struct health *health_start(struct slave *s, struct task *t)
{
    struct health *h;
    Mesos__V1__HealthCheck *hc = t->info->health_check;

    if (hc == NULL)
        return NULL;
    h = xcalloc(1, sizeof(*h));
    h->s = s;
    h->t = t;
    h->hc = hc;
    h->sock = -1;
    h->started = time_now();
    /* After a slave restart, carry on from the last reported health. */
    if (t->latest != NULL && t->latest->has_healthy) {
        h->reported = true;
        h->ever_healthy = true;
        h->consecutive = t->latest->healthy ? 0 : 1;
    }
    h->timer = evtimer_new(s->base, check_cb, h);
    h->timeout = evtimer_new(s->base, timeout_cb, h);
    log_info("task %s: health checks start in %.1fs, every %.1fs", t->id, hc->delay_seconds,
             hc->interval_seconds);
    schedule(h, hc->delay_seconds);
    return h;
}

void health_stop(struct health *h)
{
    if (h == NULL)
        return;
    cancel_check(h);
    if (h->t->health == h)
        h->t->health = NULL;
    event_free(h->timer);
    event_free(h->timeout);
    free(h);
}
