/*
 * app: Marathon's AppDefinition — validation with every error named,
 * Marathon's defaults, the canonical JSON Pacer stores and serves, and the
 * typed view (struct app_spec) that placement and launching read.
 *
 * An app lives as its canonical JSON (app_normalize): every field Marathon
 * 1.10 has in an AppDefinition, defaults filled in, ids absolute, and
 * nothing else (strict clients build typed models from it and fail on an
 * unknown key). That JSON is what the store keeps, what GET /v2/apps/{id}
 * returns (plus the runtime fields api_apps.c adds: tasksRunning, ...),
 * and what a version is. app_spec_from_json derives the typed view from
 * canonical JSON; it cannot fail on JSON that app_normalize produced.
 *
 * Ids follow Marathon's path rules (appid_resolve): '/'-separated segments
 * of [a-z0-9-.] that start and end with [a-z0-9]; "." and ".." resolved;
 * relative ids are taken relative to a base group ("/" for /v2/apps).
 */
#ifndef PACER_APP_H
#define PACER_APP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

enum app_container { APP_CONTAINER_NONE, APP_CONTAINER_MESOS, APP_CONTAINER_DOCKER };
enum app_network { APP_NET_HOST, APP_NET_BRIDGE, APP_NET_CONTAINER };
enum app_kill_selection { APP_KILL_YOUNGEST_FIRST, APP_KILL_OLDEST_FIRST };

enum app_hc_protocol {
    APP_HC_HTTP, /* Marathon-side HTTP; Pacer runs it on the slave too */
    APP_HC_HTTPS,
    APP_HC_TCP,
    APP_HC_COMMAND,
    APP_HC_MESOS_HTTP,
    APP_HC_MESOS_HTTPS,
    APP_HC_MESOS_TCP,
};

/* One port of the app: a portDefinitions entry (host networking) or a
 * container.portMappings entry (BRIDGE / container networks). */
struct app_port {
    int container_port; /* portMappings only; 0 otherwise */
    int host_port;      /* portMappings: 0 = any from the offer, -1 = none
                           (container networks without a host port) */
    int service_port;   /* servicePort / portDefinitions.port; 0 = assigned */
    char *name;         /* NULL when absent */
    char *protocol;     /* "tcp", "udp", "udp,tcp" */
};

struct app_health_check {
    enum app_hc_protocol protocol;
    int port_index;      /* -1 when port is given instead */
    int port;            /* 0 when port_index is used */
    char *path;          /* HTTP(S): "/" by default; NULL for others */
    char *command;       /* COMMAND: command.value; NULL for others */
    double grace_period; /* gracePeriodSeconds, 300 */
    double interval;     /* intervalSeconds, 60 */
    double timeout;      /* timeoutSeconds, 20 */
    int max_failures;    /* maxConsecutiveFailures, 3 */
    double delay;        /* delaySeconds, 15 */
    bool ignore_http1xx;
};

struct app_volume {
    char *container_path;
    char *host_path; /* NULL for persistent/external volumes (not supported: 422) */
    bool read_only;  /* mode "RO" */
};

struct app_spec {
    char *id;      /* absolute, "/group/app" */
    char *version; /* ISO-8601 with milliseconds and Z */
    char *cmd;     /* NULL when args are used */
    char **args;   /* NULL-terminated, NULL when absent */
    size_t nargs;
    char *user;          /* NULL: Pacer's default */
    double cpus;         /* 1 */
    double mem;          /* 128 */
    double disk;         /* 0 */
    double gpus;         /* 0 */
    int instances;       /* 1 */
    json_t *env;         /* object of strings (secrets refs refused at validation) */
    json_t *labels;      /* object of strings */
    json_t *constraints; /* validated array of [field, OPERATOR(, value)] (constraints.h) */

    enum app_container container;
    char *image;               /* docker.image (DOCKER) */
    bool force_pull;           /* docker.forcePullImage */
    json_t *docker_parameters; /* array of {key, value} */
    enum app_network network;
    struct app_port *ports; /* portDefinitions or portMappings, in order */
    size_t nports;
    bool port_mappings; /* ports come from container.portMappings */
    bool require_ports;
    struct app_volume *volumes;
    size_t nvolumes;

    struct app_health_check *health_checks;
    size_t nhealth_checks;

    double min_health_capacity; /* upgradeStrategy.minimumHealthCapacity, 1 */
    double max_over_capacity;   /* upgradeStrategy.maximumOverCapacity, 1 */
    double backoff_seconds;     /* 1 */
    double backoff_factor;      /* 1.15 */
    double max_launch_delay;    /* maxLaunchDelaySeconds, 300 (Marathon 1.10: 300) */
    enum app_kill_selection kill_selection;
    bool unreachable_disabled;         /* unreachableStrategy "disabled" */
    double unreachable_inactive_after; /* 0 */
    double unreachable_expunge_after;  /* 0 */
    double kill_grace_period;          /* taskKillGracePeriodSeconds; 0 = the slave's default */
    char **dependencies;               /* absolute ids, NULL-terminated */
    size_t ndependencies;
    char **accepted_roles; /* acceptedResourceRoles, NULL-terminated; NULL = any */
    size_t naccepted_roles;
    char **uris; /* fetch[].uri (and legacy uris), NULL-terminated */
    size_t nuris;
};

/* Resolve raw (absolute, or relative to base, which is absolute) into an
 * absolute id ("/a/b"). NULL with *err ("'X' is not a valid path: ...")
 * for an invalid id, the root ("/" is a group, not an app) included unless
 * allow_root. Caller frees. */
char *appid_resolve(const char *base, const char *raw, bool allow_root, char **err);

/* Validate an AppDefinition posted by a client and return its canonical
 * JSON (new reference): Marathon's defaults filled in, "id" resolved
 * against base (NULL: "/"), "version" set to version (an ISO-8601 string
 * the caller chose), unknown keys dropped. On invalid input returns NULL
 * and sets *details to a new array of {"path": "/cpus", "errors": [...]},
 * one entry per invalid field, every one of them (not just the first).
 * When the input has no "id", id_hint (may be NULL) is used (PUT
 * /v2/apps/{id}); without either, /id is an error. */
json_t *app_normalize(const json_t *in, const char *base, const char *id_hint, const char *version,
                      json_t **details);

/* Fill out from canonical JSON. 0, or -1 with *err when canon is not
 * canonical (a bug: app_normalize output never fails). */
int app_spec_from_json(const json_t *canon, struct app_spec *out, char **err);
void app_spec_clear(struct app_spec *spec);

/* The fields of a client's partial update (PUT without ?partialUpdate=false,
 * PATCH) laid over the current app: a new object (new reference) that
 * app_normalize then validates. Top-level keys of patch replace those of
 * current; "id" and "version" of current are kept. */
json_t *app_merge(const json_t *current, const json_t *patch);

/* Do two canonical apps differ in anything but "version" and "instances"
 * (and the fields that only affect scaling)? A pure scale needs no
 * restart of running instances. */
bool app_needs_restart(const json_t *a, const json_t *b);

#endif
