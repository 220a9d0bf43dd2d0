/*
 * routes: the master's one route table (every endpoint it serves), its
 * leader callback for REST_LEADER_ONLY routes, and the Accept negotiation
 * the scheduler and operator APIs share. The handlers live with their
 * concern (scheduler_api.c, slave_api.c, http_state.c, ui.c).
 */
#include <stdlib.h>
#include <string.h>

#include "master.h"
#include "http.h"
#include "rest.h"

#define CT_JSON "application/json"
#define CT_PROTOBUF "application/x-protobuf"
#define CT_RECORDIO "application/recordio"

/* What each POST endpoint's body may be; scheduler_api.c
 * and http_state.c read rq->consumed (0 JSON, 1 protobuf). */
static const char *const json_or_protobuf[] = { CT_JSON, CT_PROTOBUF, NULL };
static const char *const protobuf_only[] = { CT_PROTOBUF, NULL };

static const struct rest_route master_routes[] = {
    { "POST", "/api/v1/scheduler", scheduler_api_handle, REST_LEADER_ONLY | REST_AUTH_FRAMEWORK,
      json_or_protobuf },
    { "POST", "/internal/v1/slave", slave_api_handle, REST_LEADER_ONLY | REST_AUTH_AGENT,
      protobuf_only },
    /* Reads (GET_*, SUBSCRIBE) and one change (TEARDOWN) share the
     * endpoint: either surface turned on authenticates every call. */
    { "POST", "/api/v1", http_state_handle_operator,
      REST_LEADER_ONLY | REST_AUTH_READONLY | REST_AUTH_READWRITE, json_or_protobuf },
    { "GET", "/master/state", http_state_handle_state, REST_AUTH_READONLY, NULL },
    { "GET", "/master/state.json", http_state_handle_state, REST_AUTH_READONLY, NULL },
    { "GET", "/state", http_state_handle_state, REST_AUTH_READONLY, NULL },
    { "GET", "/state.json", http_state_handle_state, REST_AUTH_READONLY, NULL },
    { "GET", "/master/redirect", http_state_handle_redirect, 0, NULL },
    { "GET", "/redirect", http_state_handle_redirect, 0, NULL },
    { "GET", MASTER_ALIVE_ROUTE, master_ha_handle_alive, 0, NULL },
    { "GET", "/health", rest_handle_health, 0, NULL },
    { "GET", "/master/health", rest_handle_health, 0, NULL },
    { "GET", "/metrics", rest_handle_metrics, REST_AUTH_READONLY, NULL },
    { "GET", "/metrics/snapshot", http_state_handle_metrics_snapshot, REST_AUTH_READONLY, NULL },
    /* The web UI's read-only window on a slave (ui.c); the UI's files are
     * mounted at "/" by master_ui_attach. */
    { "GET", "/agents/{agent_id}/state", master_ui_handle_agent,
      REST_LEADER_ONLY | REST_AUTH_READONLY, NULL },
    { "GET", "/agents/{agent_id}/files/browse", master_ui_handle_agent,
      REST_LEADER_ONLY | REST_AUTH_READONLY, NULL },
    { "GET", "/agents/{agent_id}/files/read", master_ui_handle_agent,
      REST_LEADER_ONLY | REST_AUTH_READONLY, NULL },
};

static bool master_leading(void *arg, const char **host, int *port)
{
    struct master *m = arg;

    if (m->leading)
        return true;
    if (!master_ha_leader(m, host, port, NULL))
        *host = NULL;
    return false;
}

void master_routes_attach(struct master *m)
{
    m->rest = rest_server_attach(m->http, master_routes,
                                 sizeof(master_routes) / sizeof(master_routes[0]), m, NULL);
    rest_server_set_leader(m->rest, master_leading);
    rest_server_set_auth(m->rest, m->cfg.auth_surfaces, m->creds, "agora-master");
    master_ui_attach(m);
}

int master_negotiate_accept(struct evhttp_request *req, enum master_enc *enc, bool *recordio)
{
    static const char *const outer[] = { CT_JSON, CT_PROTOBUF, CT_RECORDIO };
    static const char *const inner[] = { CT_JSON, CT_PROTOBUF };
    int i = rest_negotiate(http_req_header(req, "Accept"), outer, 3);

    *recordio = false;
    if (i == 2) {
        *recordio = true;
        i = rest_negotiate(http_req_header(req, "Message-Accept"), inner, 2);
    }
    if (i < 0)
        return -1;
    *enc = i == 0 ? ENC_JSON : ENC_PROTOBUF;
    return 0;
}
