/*
 * routes: the slave's one route table, every endpoint it serves. The
 * handlers live in http_api.c; /health and /metrics are common/rest.c's.
 * Errors (404, 405, 413 and the files API's) are {"message": ...} JSON.
 */
#include "slave.h"
#include "rest.h"

static const char *const json_only[] = { "application/json", NULL };

static const struct rest_route slave_routes[] = {
    { "POST", "/api/v1", slave_http_api_v1, REST_JSON_BODY, json_only },
    { "GET", "/state", slave_http_state, 0, NULL },
    { "GET", "/state.json", slave_http_state, 0, NULL },
    { "GET", "/slave(1)/state", slave_http_state, 0, NULL },
    { "GET", "/health", rest_handle_health, 0, NULL },
    { "GET", "/metrics", rest_handle_metrics, 0, NULL },
    { "GET", "/files/browse", slave_http_browse, 0, NULL },
    { "GET", "/files/read", slave_http_read, 0, NULL },
};

void slave_routes_attach(struct slave *s)
{
    s->rest = rest_server_attach(
        s->http, slave_routes, sizeof(slave_routes) / sizeof(slave_routes[0]), s, rest_format_json);
}
