/*
 * logrot: size-rotated log files (see logrot.h for the contract).
 */
#define _GNU_SOURCE
#include "logrot.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fdio.h"
#include "mem.h"

static int open_current(struct logrot *lr, int extra)
{
    struct stat st;

    /* O_NOFOLLOW: logs live in a task's sandbox; a link it left there
     * must not point our (root's) writes at a host file. */
    lr->fd =
        fdio_open(lr->path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW | extra, 0644);
    if (lr->fd < 0)
        return -1;
    if (lr->owned && fchown(lr->fd, lr->uid, lr->gid) < 0) {
        /* the file stays ours: its user can still read it (0644) */
    }
    lr->size = fstat(lr->fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    return 0;
}

int logrot_open(struct logrot *lr, const char *path, uint64_t max_size, unsigned max_files)
{
    lr->path = xstrdup(path);
    lr->owned = false;
    lr->max_size = max_size;
    lr->max_files = max_files;
    lr->size = 0;
    return open_current(lr, 0);
}

void logrot_own(struct logrot *lr, uid_t uid, gid_t gid)
{
    lr->owned = true;
    lr->uid = uid;
    lr->gid = gid;
    if (lr->fd >= 0 && fchown(lr->fd, uid, gid) < 0) {
        /* as in open_current */
    }
}

/* Shift the older copies up by one, the current file into PATH.1, and
 * start a new current file. A reader holding the old file open keeps
 * reading it; one that opens PATH again gets the new one. */
static void rotate(struct logrot *lr)
{
    size_t n = strlen(lr->path) + 16;
    char *from = xmalloc(n), *to = xmalloc(n);

    if (lr->fd >= 0)
        close(lr->fd);
    if (lr->max_files == 0) {
        unlink(lr->path);
    } else {
        for (unsigned i = lr->max_files - 1; i >= 1; i--) {
            snprintf(from, n, "%s.%u", lr->path, i);
            snprintf(to, n, "%s.%u", lr->path, i + 1);
            rename(from, to); /* a missing copy is fine: fewer rotations so far */
        }
        snprintf(to, n, "%s.1", lr->path);
        rename(lr->path, to);
    }
    free(from);
    free(to);
    open_current(lr, O_TRUNC);
}

int logrot_write(struct logrot *lr, const void *buf, size_t len)
{
    const char *p = buf;
    int rc = 0;

    while (len > 0) {
        size_t n = len;
        if (lr->max_size > 0) {
            if (lr->size >= lr->max_size)
                rotate(lr);
            if (n > lr->max_size - lr->size)
                n = (size_t)(lr->max_size - lr->size);
        }
        if (lr->fd < 0 || fdio_write_all(lr->fd, p, n) < 0)
            rc = -1;
        lr->size += n; /* counted even if lost: the file's end is unknown */
        p += n;
        len -= n;
    }
    return rc;
}

void logrot_close(struct logrot *lr)
{
    if (lr->fd >= 0)
        close(lr->fd);
    lr->fd = -1;
    free(lr->path);
    lr->path = NULL;
}
