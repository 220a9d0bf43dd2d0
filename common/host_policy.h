/*
 * host_policy: what a task asks of the host it runs on — a privileged
 * container, added Linux capabilities, bind mounts of host paths — found
 * in its TaskInfo, and the slave's allow-lists that decide them. Pure
 * (no I/O): the slave checks its --docker_allow_privileged,
 * --allowed_capabilities and --allowed_host_paths with it before a
 * launch, the master its ACLs (launch_privileged_containers,
 * add_capabilities, mount_host_paths) at ACCEPT. Unit-tested in
 * tests/unit/test_host_policy.c.
 */
#ifndef AGORA_HOST_POLICY_H
#define AGORA_HOST_POLICY_H

#include <stdbool.h>
#include <stddef.h>

#include "mesos.pb-c.h"

enum host_ask_kind {
    HOST_ASK_PRIVILEGED, /* value: "true" */
    HOST_ASK_CAPABILITY, /* value: the capability, canonical (NET_ADMIN) */
    HOST_ASK_HOST_PATH,  /* value: the absolute host path, normalised */
};

/* One request of a task. Both strings are owned by the list. */
struct host_ask {
    enum host_ask_kind kind;
    char *field; /* "container.docker.parameters[2]", "container.volumes[0].host_path" */
    char *value;
};

struct host_asks {
    struct host_ask *v;
    size_t n;
};

/* Every host request of ti into *out (host_asks_cleanup frees it).
 * Docker `volume` parameters with an absolute source count as host
 * paths; named volumes do not. A relative host_path lies in the sandbox
 * and is no request, but one that climbs out of it with ".." is refused,
 * as is a relative source.host_path.path. 0 ok, -1 with *err naming the
 * field (*out then empty). */
int host_asks_scan(const Mesos__V1__TaskInfo *ti, struct host_asks *out, char **err);
void host_asks_cleanup(struct host_asks *a);

/* Lexical normalisation of an absolute path into a new string: repeated
 * and trailing '/' dropped, "." removed, ".." takes the previous
 * component away (never above "/"). NULL when path is not absolute. */
char *host_path_normalize(const char *path);

/* Whether absolute path (normalised first) is prefix or lies under it
 * (component-wise: /srv/data is under /srv, /srvx is not). prefix "/"
 * holds everything. */
bool host_path_under(const char *path, const char *prefix);

/* A capability's canonical name: upper case, without "CAP_" (caller
 * frees). */
char *host_capability_canonical(const char *name);

/* The slave's side: the allow-lists of its flags. */
struct host_policy {
    bool allow_privileged;
    char **capabilities; /* canonical; "ALL" allows any */
    size_t ncapabilities;
    char **paths; /* normalised absolute prefixes */
    size_t npaths;
};

/* Parse --allowed_capabilities and --allowed_host_paths (comma lists,
 * NULL or "" for none). 0 ok, -1 with *err naming the flag and entry. */
int host_policy_init(struct host_policy *p, bool allow_privileged, const char *capabilities,
                     const char *paths, char **err);
void host_policy_cleanup(struct host_policy *p);

/* Whether the policy allows one request; when not, *err says so naming
 * the field and the slave flag that would open it. */
bool host_policy_allows(const struct host_policy *p, const struct host_ask *a, char **err);

#endif
