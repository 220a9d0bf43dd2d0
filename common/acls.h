/*
 * acls: authorization in Mesos's ACL format (--acls), pure and unit-tested.
 *
 *   {"permissive": true,
 *    "register_frameworks": [{"principals": {"values": ["a"]},
 *                             "roles": {"values": ["web"]}}, ...],
 *    "run_tasks":           [{"principals": ..., "users": ...}],
 *    "teardown_frameworks": [{"principals": ..., "framework_principals": ...}],
 *    "view_frameworks":     [{"principals": ..., "users": ...}],
 *    "view_tasks":          [{"principals": ..., "users": ...}],
 *    "access_sandboxes":    [{"principals": ..., "users": ...}],
 *    "launch_privileged_containers": [{"principals": ..., "users": ...}],
 *    "add_capabilities":    [{"principals": ..., "capabilities": ...}],
 *    "mount_host_paths":    [{"principals": ..., "paths": ...}],
 *    "change_apps":         [{"principals": ..., "app_ids": ...}]}
 *
 * Each entity is {"values": [...]} or {"type": "ANY"} or {"type": "NONE"}.
 * As Mesos's local authorizer: the ACLs of an action are tried in order;
 * the first whose subject and object both match the request decides —
 * allowed unless either of its entities is NONE. An entity of type ANY or
 * NONE matches everything; one with values matches those. No ACL matching:
 * "permissive" decides (default true). Without --acls everything is
 * allowed. Capabilities match without "CAP_" and case; a path value
 * matches itself and every path under it (after normalising ".."). A
 * request without a principal (authentication off and none
 * given) matches only ANY/NONE subjects.
 */
#ifndef AGORA_ACLS_H
#define AGORA_ACLS_H

#include <stdbool.h>
#include <stddef.h>

enum acl_action {
    ACL_REGISTER_FRAMEWORKS, /* object: role */
    ACL_RUN_TASKS,           /* object: user */
    ACL_TEARDOWN_FRAMEWORKS, /* object: the framework's principal */
    ACL_VIEW_FRAMEWORKS,     /* object: the framework's user */
    ACL_VIEW_TASKS,          /* object: the task's user */
    ACL_ACCESS_SANDBOXES,    /* object: the task's user */
    /* What a task asks of the host (host_policy.h), Agora's own: */
    ACL_LAUNCH_PRIVILEGED_CONTAINERS, /* object: the task's user */
    ACL_ADD_CAPABILITIES,             /* object: a capability (NET_ADMIN; CAP_ and case ignored) */
    ACL_MOUNT_HOST_PATHS,             /* object: a host path; a value holds the paths under it */
    /* Pacer's (frameworks/pacer/authz.c): */
    ACL_CHANGE_APPS, /* object: an app or group id; a value holds the ids under it */
    ACL_NACTIONS
};

struct acls;

/* Parse the JSON text of --acls; NULL with *err (malloc'd, naming the
 * field) on failure. */
struct acls *acls_parse(const char *text, size_t len, char **err);
/* Load a file (or "file://PATH"). */
struct acls *acls_load(const char *path, char **err);
void acls_free(struct acls *a);

/* May principal (NULL: none) do action on object (NULL: none)? a NULL
 * acls allows everything. */
bool acls_allowed(const struct acls *a, enum acl_action action, const char *principal,
                  const char *object);

/* May principal do action on every object? True only when that is sure
 * (its first matching ACL has an ANY object, or none matches and the ACLs
 * are permissive): for what cannot be filtered object by object. */
bool acls_allowed_all(const struct acls *a, enum acl_action action, const char *principal);
const char *acl_action_name(enum acl_action action);

#endif
