/*
 * routes: the slave's one route table, every endpoint it serves. The
 * handlers live in http_api.c; /health and /metrics are common/rest.c's.
 * Errors (404, 405, 413 and the files API's) are {"message": ...} JSON;
 * 401 carries WWW-Authenticate: Basic realm="agora-slave".
 */
#include "slave.h"
#include "rest.h"

static const char *const json_only[] = { "application/json", NULL };

/* Surfaces as a Mesos agent's: everything but /health needs credentials
 * under --authenticate_http_readonly; /api/v1 (read calls only so far)
 * under either flag, as the master's. */
static const struct rest_route slave_routes[] = {
    { "POST", "/api/v1", slave_http_api_v1,
      REST_JSON_BODY | REST_AUTH_READONLY | REST_AUTH_READWRITE, json_only },
    { "GET", "/state", slave_http_state, REST_AUTH_READONLY, NULL },
    { "GET", "/state.json", slave_http_state, REST_AUTH_READONLY, NULL },
    { "GET", "/slave(1)/state", slave_http_state, REST_AUTH_READONLY, NULL },
    { "GET", "/health", rest_handle_health, 0, NULL },
    { "GET", "/metrics", rest_handle_metrics, REST_AUTH_READONLY, NULL },
    { "GET", "/files/browse", slave_http_browse, REST_AUTH_READONLY, NULL },
    { "GET", "/files/read", slave_http_read, REST_AUTH_READONLY, NULL },
    { "GET", "/files/download", slave_http_download, REST_AUTH_READONLY, NULL },
};

void slave_routes_attach(struct slave *s)
{
    s->rest = rest_server_attach(
        s->http, slave_routes, sizeof(slave_routes) / sizeof(slave_routes[0]), s, rest_format_json);
    rest_server_set_auth(s->rest, s->http_auth, s->http_creds, "agora-slave");
}
