/*
 * atomic_file: crash-safe file writes and small-file helpers.
 *
 * atomic_write() writes to PATH.tmp.<pid>, fsyncs it, renames it over PATH
 * and fsyncs the directory, so a reader sees either the old or the new
 * content, never a mix, even after a power loss.
 */
#ifndef AGORA_ATOMIC_FILE_H
#define AGORA_ATOMIC_FILE_H

#include <stddef.h>

/* 0 ok, -1 with *err (caller frees). */
int atomic_write(const char *path, const void *data, size_t len, char **err);
/* atomic_write without the two fsyncs: readers still see the old or the
 * new content, but a power loss may leave either (or, on some file
 * systems, an empty file). For files that are rebuilt at start and are
 * rewritten on an event loop, where an fsync can block it for tens of
 * milliseconds (pacer-lb's HAProxy configuration). */
int atomic_replace(const char *path, const void *data, size_t len, char **err);
/* Read a whole file into a NUL-terminated buffer (caller frees).
 * 0 ok, -1 with errno set (ENOENT when absent). max_len guards size. */
int file_read_all(const char *path, size_t max_len, char **data, size_t *len);
/* mkdir -p with mode 0755. 0 ok, -1 with errno. */
int mkdir_p(const char *path);
/* rm -rf. 0 ok, -1 with errno. */
int rm_rf(const char *path);

#endif
