/*
 * fdio: system calls that a signal can interrupt, retried.
 *
 * libevent installs its signal handlers with SA_RESTART, so most blocking
 * calls restart by themselves; not all do. A write to a cgroup v1
 * memory.limit_in_bytes returns EINTR whenever a signal is pending (the
 * kernel checks before it reclaims), calls on FUSE or NFS paths may return
 * it, and any call made with a handler installed without SA_RESTART does.
 * A daemon that forks tasks gets a SIGCHLD for each one that ends, so with
 * thousands of tasks "interrupted" is routine, never a reason to fail one.
 *
 * Every function here retries on EINTR; the write functions also loop over
 * short writes until everything is written or a real error occurs. They
 * only call async-signal-safe functions, so a forked child may use them
 * between fork and exec. Each returns what the underlying call returns
 * (-1 with errno on a real error).
 */
#ifndef AGORA_FDIO_H
#define AGORA_FDIO_H

#include <stddef.h>
#include <sys/types.h>

/* open(2). mode is used with O_CREAT. */
int fdio_open(const char *path, int flags, mode_t mode);
/* read(2) once, retried on EINTR: a short read is returned as is. */
ssize_t fdio_read(int fd, void *buf, size_t len);
/* write(2) until all len bytes are written: len, or -1 (errno) with an
 * unknown part written. A write returning 0 counts as ENOSPC. */
ssize_t fdio_write_all(int fd, const void *buf, size_t len);
int fdio_fsync(int fd);
int fdio_dup2(int oldfd, int newfd);
pid_t fdio_waitpid(pid_t pid, int *status, int options);
/* Write text to an existing file in one write(2) (kernel interface files
 * such as cgroup controls take a value per write): open O_WRONLY, write
 * all, close. 0 ok, -1 with errno. */
int fdio_write_file(const char *path, const char *text);

#endif
