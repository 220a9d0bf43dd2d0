/*
 * logrot: a log file rotated by size, as logrotate's "size" and "rotate"
 * (Mesos's logrotate container logger): the current file is PATH; when a
 * write would take it past max_size, PATH.(n-1) becomes PATH.n, ...,
 * PATH becomes PATH.1, the oldest beyond max_files is dropped, and PATH
 * starts empty. So PATH and its older copies hold at most
 * (max_files + 1) * max_size bytes, and a reader that opens PATH by name
 * (the slave's /files/read) always sees the newest lines.
 *
 * Writes are split at max_size boundaries (a line may straddle two
 * files); a failed write (disk full) loses log bytes, never the writer.
 * Used by the process task's monitor (a process of its own, blocking
 * writes are fine there) and by the Docker containerizer on the slave's
 * loop (writes to a local file, as before rotation existed).
 */
#ifndef AGORA_LOGROT_H
#define AGORA_LOGROT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <stdint.h>

struct logrot {
    char *path;         /* the current file */
    int fd;             /* -1 when it could not be opened */
    uint64_t size;      /* bytes in the current file */
    uint64_t max_size;  /* rotate beyond this; 0: never */
    unsigned max_files; /* older copies kept (PATH.1 ... PATH.max_files) */
    bool owned;         /* logrot_own: every file made is uid:gid's */
    uid_t uid;
    gid_t gid;
};

/* Open path for appending (created if missing), its size taken from the
 * file so a restarted writer goes on where the last one stopped. 0, or -1
 * with errno (lr->fd stays -1; writes are then dropped). */
int logrot_open(struct logrot *lr, const char *path, uint64_t max_size, unsigned max_files);
/* The files are uid:gid's from now on, the current one and every one a
 * rotation makes (the task's user, --switch_user). After logrot_open. */
void logrot_own(struct logrot *lr, uid_t uid, gid_t gid);
/* Append len bytes, rotating as needed. 0, or -1 when bytes were lost. */
int logrot_write(struct logrot *lr, const void *buf, size_t len);
void logrot_close(struct logrot *lr);

#endif
