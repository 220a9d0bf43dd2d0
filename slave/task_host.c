/*
 * task_host: what a task asks of this slave's host (a privileged
 * container, capabilities, bind mounts of host paths; common/host_policy.c
 * finds them) decided against --docker_allow_privileged,
 * --allowed_capabilities and --allowed_host_paths before a launch. The
 * slave, unlike the master, sees the file system: host paths are checked
 * as written and again with their symbolic links resolved.
 */
#define _GNU_SOURCE
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "slave.h"
#include "host_policy.h"
#include "mem.h"

/* Where a host path leads on this host: the longest existing leading
 * part with its symbolic links resolved, and the rest as written (docker
 * creates it). A link a task left in an allowed directory must not lead
 * it to "/" on the next launch. Local file system calls only. */
static char *host_path_resolved(const char *path)
{
    char *head = xstrdup(path), *real = NULL, *out, *slash;
    size_t cut = strlen(head);

    for (;;) {
        real = realpath(head, NULL);
        if (real != NULL || cut <= 1)
            break;
        slash = strrchr(head, '/');
        if (slash == NULL || slash == head) {
            head[1] = '\0';
            cut = 1;
        } else {
            *slash = '\0';
            cut = (size_t)(slash - head);
        }
    }
    if (real == NULL) {
        out = xstrdup(path);
    } else {
        char *joined = xasprintf("%s/%s", real, path + cut);
        out = host_path_normalize(joined); /* "/" + "/etc" is "/etc" */
        free(joined);
    }
    free(real);
    free(head);
    return out;
}

/* --docker_allow_privileged, --allowed_capabilities, --allowed_host_paths:
 * may ti have what it asks of the host? false with *err naming the field
 * and the flag. */
bool slave_host_allows(struct slave *s, const Mesos__V1__TaskInfo *ti, char **err)
{
    struct host_asks asks;
    bool ok = true;

    if (host_asks_scan(ti, &asks, err) < 0)
        return false;
    for (size_t i = 0; i < asks.n && ok; i++) {
        struct host_ask *a = &asks.v[i];
        ok = host_policy_allows(&s->host_policy, a, err);
        if (ok && a->kind == HOST_ASK_HOST_PATH) {
            char *real = host_path_resolved(a->value);
            if (strcmp(real, a->value) != 0) {
                free(a->value);
                a->value = real;
                real = NULL;
                ok = host_policy_allows(&s->host_policy, a, err);
            }
            free(real);
        }
    }
    host_asks_cleanup(&asks);
    return ok;
}
