/*
 * task_logs: the monitor's copy loop from a process task's stdout/stderr
 * pipes to its rotated sandbox files (see task_logs.h).
 *
 * Runs in the monitor process only (never on the slave's loop), so its
 * poll(2) and file writes may block. The SIGCHLD of the task wakes the
 * poll through a self-pipe, so the exit is seen at once even while the
 * task's descendants keep its pipes open; what those write after the
 * task's exit is read for as long as it is already there (bounded), then
 * the monitor reports, and the slave kills the task's process group.
 */
#define _GNU_SOURCE
#include "task_logs.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdio.h"
#include "logrot.h"
#include "mem.h"
#include "slave.h"

#define TL_CHUNK (64 * 1024)
/* Bytes read after the task's exit at most: its descendants may write on. */
#define TL_DRAIN_MAX (16u * 1024u * 1024u)
/* Larger pipes than the 64 KB default smooth a bursty writer. */
#define TL_PIPE_SIZE (1024 * 1024)

static int sigchld_fd = -1;

static void on_sigchld(int sig)
{
    int saved = errno;
    char c = 0;

    (void)sig;
    if (write(sigchld_fd, &c, 1) < 0) {
        /* full: a wake-up is pending already */
    }
    errno = saved;
}

int task_logs_prepare(struct task_logs *tl)
{
    struct sigaction sa;

    if (pipe2(tl->out, O_CLOEXEC) < 0 || pipe2(tl->err, O_CLOEXEC) < 0 ||
        pipe2(tl->sig, O_CLOEXEC | O_NONBLOCK) < 0)
        return -1;
    fcntl(tl->out[0], F_SETPIPE_SZ, TL_PIPE_SIZE);
    fcntl(tl->err[0], F_SETPIPE_SZ, TL_PIPE_SIZE);
    sigchld_fd = tl->sig[1];
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGCHLD, &sa, NULL);
}

void task_logs_child(struct task_logs *tl)
{
    fdio_dup2(tl->out[1], 1);
    fdio_dup2(tl->err[1], 2);
    /* The others are close-on-exec; the pipes' read ends must not stay
     * with the task even if exec fails. */
    close(tl->out[0]);
    close(tl->err[0]);
}

/* Read what is there from fd into lr. 1: data, 0: EOF, -1: nothing now. */
static int copy_once(int fd, struct logrot *lr, char *buf, size_t *drained)
{
    ssize_t n = fdio_read(fd, buf, TL_CHUNK);

    if (n > 0) {
        logrot_write(lr, buf, (size_t)n);
        if (drained != NULL)
            *drained += (size_t)n;
        return 1;
    }
    if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
        return 0;
    return -1;
}

int task_logs_pump(struct task_logs *tl, pid_t child, const char *sandbox, uint64_t max_size,
                   unsigned max_files, const struct task_user *owner)
{
    struct logrot logs[2];
    int fds[2] = { tl->out[0], tl->err[0] };
    char *buf = xmalloc(TL_CHUNK), *path, c;
    int status = 0, i;
    bool exited = false;
    size_t drained = 0;

    close(tl->out[1]);
    close(tl->err[1]);
    path = xasprintf("%s/stdout", sandbox);
    logrot_open(&logs[0], path, max_size, max_files);
    free(path);
    path = xasprintf("%s/stderr", sandbox);
    logrot_open(&logs[1], path, max_size, max_files);
    free(path);
    for (i = 0; owner != NULL && i < 2; i++)
        logrot_own(&logs[i], owner->uid, owner->gid); /* the task user's files */

    while (!exited) {
        struct pollfd pfd[3];
        int which[3], n = 0;
        memset(pfd, 0, sizeof(pfd));
        for (i = 0; i < 2; i++)
            if (fds[i] >= 0) {
                pfd[n].fd = fds[i];
                pfd[n].events = POLLIN;
                which[n++] = i;
            }
        pfd[n].fd = tl->sig[0];
        pfd[n].events = POLLIN;
        /* The timeout only guards against a lost wake-up. */
        if (poll(pfd, (nfds_t)n + 1, 1000) < 0 && errno != EINTR)
            break;
        for (int k = 0; k < n; k++) {
            i = which[k];
            if ((pfd[k].revents & (POLLIN | POLLHUP | POLLERR)) &&
                copy_once(fds[i], &logs[i], buf, NULL) == 0) {
                close(fds[i]);
                fds[i] = -1;
            }
        }
        if (pfd[n].revents & POLLIN)
            while (read(tl->sig[0], &c, 1) == 1) {
            }
        if (fdio_waitpid(child, &status, WNOHANG) == child)
            exited = true;
        else if (fds[0] < 0 && fds[1] < 0)
            exited = fdio_waitpid(child, &status, 0) == child;
    }
    if (!exited)
        fdio_waitpid(child, &status, 0);
    /* What the task wrote just before it exited, and no more than a bound
     * of what its descendants go on writing. */
    for (i = 0; i < 2; i++) {
        if (fds[i] < 0)
            continue;
        fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK);
        while (drained < TL_DRAIN_MAX && copy_once(fds[i], &logs[i], buf, &drained) == 1) {
        }
        close(fds[i]);
    }
    logrot_close(&logs[0]);
    logrot_close(&logs[1]);
    free(buf);
    return status;
}
