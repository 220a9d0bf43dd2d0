/*
 * atomic_file: crash-safe writes (temp + fsync + rename + fsync dir) and
 * the small file-system helpers the slave's checkpointing needs.
 *
 * These calls block on disk; they are used for small metadata files where
 * the fsync latency is the price of surviving a power loss.
 */
#include "atomic_file.h"

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "fdio.h"
#include "mem.h"

/* fsync the directory holding path, so the rename itself is durable. */
static int fsync_parent_dir(const char *path)
{
    char *dir = xstrdup(path);
    char *slash = strrchr(dir, '/');
    int fd, rc = -1;

    if (slash == NULL) {
        free(dir);
        dir = xstrdup(".");
    } else if (slash == dir) {
        slash[1] = '\0'; /* "/file" -> "/" */
    } else {
        *slash = '\0';
    }
    fd = fdio_open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
    if (fd < 0)
        goto out;
    rc = fdio_fsync(fd);
    close(fd);
out:
    free(dir);
    return rc;
}

static int write_replace(const char *path, const void *data, size_t len, bool durable, char **err)
{
    char *tmp = xasprintf("%s.tmp.%ld", path, (long)getpid());
    int fd = -1, rc = -1;

    fd = fdio_open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        if (err)
            *err = xasprintf("atomic_write: open '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if (fdio_write_all(fd, data, len) < 0) {
        if (err)
            *err = xasprintf("atomic_write: write '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if (durable && fdio_fsync(fd) < 0) {
        if (err)
            *err = xasprintf("atomic_write: fsync '%s': %s", tmp, strerror(errno));
        goto out;
    }
    if (close(fd) < 0) {
        fd = -1;
        if (err)
            *err = xasprintf("atomic_write: close '%s': %s", tmp, strerror(errno));
        goto out;
    }
    fd = -1;
    if (rename(tmp, path) < 0) {
        if (err)
            *err = xasprintf("atomic_write: rename '%s' to '%s': %s", tmp, path, strerror(errno));
        goto out;
    }
    if (durable && fsync_parent_dir(path) < 0) {
        /* The new content is in place; only its durability is in doubt. */
        if (err)
            *err = xasprintf("atomic_write: fsync directory of '%s': %s", path, strerror(errno));
        goto out; /* tmp no longer exists: the unlink below is a no-op */
    }
    rc = 0;
out:
    if (fd >= 0)
        close(fd);
    if (rc < 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int atomic_write(const char *path, const void *data, size_t len, char **err)
{
    return write_replace(path, data, len, true, err);
}

int atomic_replace(const char *path, const void *data, size_t len, char **err)
{
    return write_replace(path, data, len, false, err);
}

int file_read_all(const char *path, size_t max_len, char **data, size_t *len)
{
    int fd, saved;
    size_t cap = 4096, used = 0;
    char *buf = NULL;

    *data = NULL;
    if (len)
        *len = 0;
    fd = fdio_open(path, O_RDONLY | O_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    buf = xmalloc(cap);
    for (;;) {
        ssize_t n;
        if (used + 1 >= cap) {
            cap *= 2;
            buf = xrealloc(buf, cap);
        }
        n = fdio_read(fd, buf + used, cap - used - 1);
        if (n < 0)
            goto fail;
        if (n == 0)
            break;
        used += (size_t)n;
        if (used > max_len) {
            errno = EFBIG;
            goto fail;
        }
    }
    close(fd);
    buf[used] = '\0';
    *data = buf;
    if (len)
        *len = used;
    return 0;
fail:
    saved = errno;
    close(fd);
    free(buf);
    errno = saved;
    return -1;
}

int mkdir_p(const char *path)
{
    char *p = xstrdup(path);
    char *s;
    int rc = -1, saved;
    struct stat st;

    /* Create each prefix in turn; EEXIST of a prefix is fine. */
    for (s = p + 1;; s++) {
        if (*s == '/' || *s == '\0') {
            char c = *s;
            *s = '\0';
            if (p[0] != '\0' && mkdir(p, 0755) < 0 && errno != EEXIST)
                goto out;
            *s = c;
            if (c == '\0')
                break;
        }
    }
    if (stat(path, &st) < 0)
        goto out;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        goto out;
    }
    rc = 0;
out:
    saved = errno;
    free(p);
    errno = saved;
    return rc;
}

/* Empty the directory open as dfd (consumed). Every entry is reached by
 * name relative to dfd and a directory is opened with O_NOFOLLOW, so a
 * symlink swapped in while we walk (by a task still running in the
 * sandbox being removed) is unlinked, never followed out of the tree. */
static int rm_tree_at(int dfd)
{
    DIR *d = fdopendir(dfd);
    struct dirent *e;
    int rc = 0, saved = 0;

    if (d == NULL) {
        saved = errno;
        close(dfd);
        errno = saved;
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        if (unlinkat(dirfd(d), e->d_name, 0) == 0 || errno == ENOENT)
            continue;
        int err = errno, cfd = -1;
        if (err == EISDIR) {
            cfd = openat(dirfd(d), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (cfd >= 0 && rm_tree_at(cfd) == 0 &&
                (unlinkat(dirfd(d), e->d_name, AT_REMOVEDIR) == 0 || errno == ENOENT))
                continue;
            err = errno;
        }
        if (rc == 0) {
            rc = -1;
            saved = err;
        }
    }
    closedir(d);
    errno = saved;
    return rc;
}

int rm_rf(const char *path)
{
    if (unlink(path) == 0 || errno == ENOENT)
        return 0;
    if (errno != EISDIR)
        return -1;
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT ? 0 : -1;
    int rc = rm_tree_at(fd), saved = errno;
    if (rmdir(path) < 0 && errno != ENOENT && rc == 0) {
        rc = -1;
        saved = errno;
    }
    errno = saved;
    return rc;
}
