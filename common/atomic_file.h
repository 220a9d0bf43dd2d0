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
/* Read a whole file into a NUL-terminated buffer (caller frees).
 * 0 ok, -1 with errno set (ENOENT when absent). max_len guards size. */
int file_read_all(const char *path, size_t max_len, char **data, size_t *len);
/* mkdir -p with mode 0755. 0 ok, -1 with errno. */
int mkdir_p(const char *path);
/* rm -rf. 0 ok, -1 with errno. */
int rm_rf(const char *path);

#endif
