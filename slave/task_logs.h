/*
 * task_logs: the stdout/stderr of a process task, rotated in its sandbox
 * (--task_log_max_size, --task_log_files; common/logrot.h).
 *
 * The task writes into two pipes whose read ends its monitor holds (the
 * monitor already outlives the slave, so a slave restart never closes a
 * task's stdout under it, and the slave's loop never touches the data).
 * The monitor copies from the pipes to the rotated files until the task
 * exits, then drains what is still in the pipes and returns the task's
 * wait status.
 */
#ifndef AGORA_TASK_LOGS_H
#define AGORA_TASK_LOGS_H

#include <stdint.h>
#include <sys/types.h>

struct task_user; /* slave.h */

struct task_logs {
    int out[2], err[2]; /* pipes: [0] read end (monitor), [1] write end (task) */
    int sig[2];         /* self-pipe woken by SIGCHLD */
};

/* Before forking the task: make the pipes and catch SIGCHLD. 0, or -1
 * with errno. */
int task_logs_prepare(struct task_logs *tl);
/* In the task child: the write ends become fds 1 and 2, the rest closes. */
void task_logs_child(struct task_logs *tl);
/* In the monitor, the task forked as child: copy its output into
 * <sandbox>/stdout and <sandbox>/stderr (rotated) until it exits; returns
 * its wait status. */
int task_logs_pump(struct task_logs *tl, pid_t child, const char *sandbox, uint64_t max_size,
                   unsigned max_files, const struct task_user *owner);

#endif
