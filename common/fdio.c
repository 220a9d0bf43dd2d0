/*
 * fdio: EINTR-retrying wrappers of the system calls the daemons make on
 * files, pipes and children (see fdio.h for why they are needed).
 */
#include "fdio.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* Return call's result, made again while it fails with EINTR. */
#define FDIO_RETRY(type, call)             \
    do {                                   \
        type rc_;                          \
        do                                 \
            rc_ = (call);                  \
        while (rc_ < 0 && errno == EINTR); \
        return rc_;                        \
    } while (0)

int fdio_open(const char *path, int flags, mode_t mode)
{
    FDIO_RETRY(int, open(path, flags, mode));
}

ssize_t fdio_read(int fd, void *buf, size_t len)
{
    FDIO_RETRY(ssize_t, read(fd, buf, len));
}

ssize_t fdio_write_all(int fd, const void *buf, size_t len)
{
    const char *p = buf;
    size_t off = 0;

    while (off < len) {
        ssize_t n = write(fd, p + off, len - off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return -1;
        }
        if (n == 0) {
            errno = ENOSPC;
            return -1;
        }
        off += (size_t)n;
    }
    return (ssize_t)len;
}

int fdio_fsync(int fd)
{
    FDIO_RETRY(int, fsync(fd));
}

int fdio_dup2(int oldfd, int newfd)
{
    FDIO_RETRY(int, dup2(oldfd, newfd));
}

pid_t fdio_waitpid(pid_t pid, int *status, int options)
{
    FDIO_RETRY(pid_t, waitpid(pid, status, options));
}

int fdio_write_file(const char *path, const char *text)
{
    int fd = fdio_open(path, O_WRONLY | O_CLOEXEC, 0), saved;
    ssize_t n;

    if (fd < 0)
        return -1;
    n = fdio_write_all(fd, text, strlen(text));
    saved = errno;
    /* close(2) may report EINTR, but on Linux the fd is gone either way:
     * never retry it (the number may already be someone else's). */
    close(fd);
    errno = saved;
    return n < 0 ? -1 : 0;
}
