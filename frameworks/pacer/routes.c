/*
 * routes: Pacer's one route table — every endpoint of its Marathon v2
 * REST API. Handlers live in api_apps.c, api_tasks.c, api_groups.c,
 * api_misc.c and events.c; /health and /metrics are common/rest.c's.
 * Errors are Marathon's {"message": ..., "details": [...]}.
 *
 * The web UI (frameworks/pacer/ui/, built in) is mounted at /ui: a client
 * of these same routes and of /v2/events. Every Pacer serves the files,
 * a standby too (its API calls are proxied to the leader like any
 * client's); reading them asks for credentials as the read routes do.
 */
#include "pacer.h"
#include "jwt.h"
#include "rest.h"
#include "static_assets.h"

extern const struct static_assets pacer_ui_assets;

static const char *const json_only[] = { "application/json", NULL };

#define J REST_JSON_BODY
/* Leader only: a standby (HA) proxies these to the leader (ha.c). */
#define L REST_LEADER_ONLY
/* With --http_credentials: reads (R) are open to read-only users too,
 * changes (W) to the full users only (auth.c). /ping, /health and the
 * standbys' liveness route are never authenticated. */
#define R REST_AUTH_READONLY
#define W REST_AUTH_READWRITE

static const struct rest_route pacer_routes[] = {
    { "GET", "/v2/apps", api_apps_get, L | R, NULL },
    { "POST", "/v2/apps", api_apps_post, J | L | W, json_only },
    { "PUT", "/v2/apps", api_apps_put_many, J | L | W, json_only },
    { "PATCH", "/v2/apps", api_apps_put_many, J | L | W, json_only },
    { "GET", "/v2/apps/{id*}", api_app_get, L | R, NULL },
    { "PUT", "/v2/apps/{id*}", api_app_put, J | L | W, json_only },
    { "PATCH", "/v2/apps/{id*}", api_app_patch, J | L | W, json_only },
    { "DELETE", "/v2/apps/{id*}", api_app_delete, L | W, NULL },
    { "POST", "/v2/apps/{id*}/restart", api_app_restart, L | W, NULL },
    { "GET", "/v2/apps/{id*}/versions", api_app_versions, L | R, NULL },
    { "GET", "/v2/apps/{id*}/versions/{version}", api_app_version, L | R, NULL },
    { "GET", "/v2/apps/{id*}/tasks", api_app_tasks_get, L | R, NULL },
    { "DELETE", "/v2/apps/{id*}/tasks", api_app_tasks_delete, L | W, NULL },
    { "DELETE", "/v2/apps/{id*}/tasks/{taskId}", api_app_task_delete, L | W, NULL },
    { "GET", "/v2/tasks", api_tasks_get, L | R, NULL },
    { "POST", "/v2/tasks/delete", api_tasks_delete, J | L | W, json_only },
    { "GET", "/v2/deployments", api_deployments_get, L | R, NULL },
    { "GET", "/v2/deployments/{id}", api_deployment_get, L | R, NULL },
    { "DELETE", "/v2/deployments/{id}", api_deployment_delete, L | W, NULL },
    { "GET", "/v2/groups", api_groups_get, L | R, NULL },
    { "POST", "/v2/groups", api_groups_post, J | L | W, json_only },
    { "GET", "/v2/groups/{id*}", api_groups_get, L | R, NULL },
    { "POST", "/v2/groups/{id*}", api_groups_post, J | L | W, json_only },
    { "PUT", "/v2/groups", api_groups_put, J | L | W, json_only },
    { "PUT", "/v2/groups/{id*}", api_groups_put, J | L | W, json_only },
    { "DELETE", "/v2/groups", api_groups_delete, L | W, NULL },
    { "DELETE", "/v2/groups/{id*}", api_groups_delete, L | W, NULL },
    { "GET", "/v2/queue", api_queue_get, L | R, NULL },
    { "DELETE", "/v2/queue/{id*}/delay", api_queue_delay_delete, L | W, NULL },
    { "GET", "/v2/events", api_events, L | R, NULL },
    { "GET", "/v2/info", api_info, L | R, NULL },
    { "GET", "/v2/leader", api_leader, R, NULL },
    { "DELETE", "/v2/leader", api_leader_delete, L | W, NULL },
    { "GET", "/ping", api_ping, 0, NULL },
    { "GET", PACER_ALIVE_ROUTE, pacer_ha_handle_alive, 0, NULL },
    { "GET", "/health", rest_handle_health, 0, NULL },
    { "GET", "/metrics", rest_handle_metrics, R, NULL },
};

void pacer_routes_attach(struct pacer *p)
{
    p->rest = rest_server_attach(
        p->http, pacer_routes, sizeof(pacer_routes) / sizeof(pacer_routes[0]), p, rest_format_json);
    if (p->http_creds || jwt_enabled()) {
        rest_server_set_auth(p->rest, REST_AUTH_READONLY | REST_AUTH_READWRITE, p->http_creds,
                             "pacer");
        rest_server_set_auth_readonly(p->rest, p->http_creds_ro);
    }
    rest_static_mount(p->rest, "/ui", &pacer_ui_assets, R);
}
