/*
 * routes: Pacer's one route table — every endpoint of its Marathon v2
 * REST API. Handlers live in api_apps.c, api_tasks.c, api_groups.c,
 * api_misc.c and events.c; /health and /metrics are common/rest.c's.
 * Errors are Marathon's {"message": ..., "details": [...]}.
 */
#include "pacer.h"
#include "rest.h"

static const char *const json_only[] = { "application/json", NULL };

#define J REST_JSON_BODY

static const struct rest_route pacer_routes[] = {
    { "GET", "/v2/apps", api_apps_get, 0, NULL },
    { "POST", "/v2/apps", api_apps_post, J, json_only },
    { "PUT", "/v2/apps", api_apps_put_many, J, json_only },
    { "PATCH", "/v2/apps", api_apps_put_many, J, json_only },
    { "GET", "/v2/apps/{id*}", api_app_get, 0, NULL },
    { "PUT", "/v2/apps/{id*}", api_app_put, J, json_only },
    { "PATCH", "/v2/apps/{id*}", api_app_patch, J, json_only },
    { "DELETE", "/v2/apps/{id*}", api_app_delete, 0, NULL },
    { "POST", "/v2/apps/{id*}/restart", api_app_restart, 0, NULL },
    { "GET", "/v2/apps/{id*}/versions", api_app_versions, 0, NULL },
    { "GET", "/v2/apps/{id*}/versions/{version}", api_app_version, 0, NULL },
    { "GET", "/v2/apps/{id*}/tasks", api_app_tasks_get, 0, NULL },
    { "DELETE", "/v2/apps/{id*}/tasks", api_app_tasks_delete, 0, NULL },
    { "DELETE", "/v2/apps/{id*}/tasks/{taskId}", api_app_task_delete, 0, NULL },
    { "GET", "/v2/tasks", api_tasks_get, 0, NULL },
    { "POST", "/v2/tasks/delete", api_tasks_delete, J, json_only },
    { "GET", "/v2/deployments", api_deployments_get, 0, NULL },
    { "GET", "/v2/deployments/{id}", api_deployment_get, 0, NULL },
    { "DELETE", "/v2/deployments/{id}", api_deployment_delete, 0, NULL },
    { "GET", "/v2/groups", api_groups_get, 0, NULL },
    { "POST", "/v2/groups", api_groups_post, J, json_only },
    { "GET", "/v2/groups/{id*}", api_groups_get, 0, NULL },
    { "POST", "/v2/groups/{id*}", api_groups_post, J, json_only },
    { "PUT", "/v2/groups", api_groups_put, J, json_only },
    { "PUT", "/v2/groups/{id*}", api_groups_put, J, json_only },
    { "DELETE", "/v2/groups", api_groups_delete, 0, NULL },
    { "DELETE", "/v2/groups/{id*}", api_groups_delete, 0, NULL },
    { "GET", "/v2/queue", api_queue_get, 0, NULL },
    { "DELETE", "/v2/queue/{id*}/delay", api_queue_delay_delete, 0, NULL },
    { "GET", "/v2/events", api_events, 0, NULL },
    { "GET", "/v2/info", api_info, 0, NULL },
    { "GET", "/v2/leader", api_leader, 0, NULL },
    { "DELETE", "/v2/leader", api_leader_delete, 0, NULL },
    { "GET", "/ping", api_ping, 0, NULL },
    { "GET", "/health", rest_handle_health, 0, NULL },
    { "GET", "/metrics", rest_handle_metrics, 0, NULL },
};

void pacer_routes_attach(struct pacer *p)
{
    p->rest = rest_server_attach(
        p->http, pacer_routes, sizeof(pacer_routes) / sizeof(pacer_routes[0]), p, rest_format_json);
}
