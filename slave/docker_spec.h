/*
 * docker_spec: TaskInfo -> Docker Engine container-create JSON, as pure
 * functions (unit-tested in tests/unit/test_docker_spec.c).
 */
#ifndef AGORA_DOCKER_SPEC_H
#define AGORA_DOCKER_SPEC_H

#include <jansson.h>

#include "mesos.pb-c.h"

#define DK_SANDBOX_MOUNT "/mnt/mesos/sandbox"

/* Who and where the task is; strings are borrowed for the call. */
struct docker_spec_ctx {
    const char *task_id, *framework_id, *agent_id, *container_id;
    const char *hostname;   /* HOST in the environment */
    const char *sandbox;    /* host path, bound on DK_SANDBOX_MOUNT */
    const char *publish_ip; /* HostIp of BRIDGE port bindings */
    const char *user;       /* "uid:gid" for --user (--switch_user), NULL: the image's */
    const unsigned *groups; /* supplementary gids (GroupAdd) with user */
    size_t ngroups;
};

/* info has a DOCKER ContainerInfo with a valid image name. 0 ok, -1 with
 * *err (caller frees) naming the field. */
int docker_spec_check(const Mesos__V1__TaskInfo *info, char **err);

/* The create body for info (which passed docker_spec_check): *out is a new
 * reference. 0 ok, -1 with *err naming the field and the value. */
int docker_spec_create(const Mesos__V1__TaskInfo *info, const struct docker_spec_ctx *ctx,
                       json_t **out, char **err);

/* Append "name=value" (value NULL: empty) to an Env array. */
void docker_spec_env_add(json_t *env, const char *name, const char *value);

#endif
