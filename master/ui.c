/*
 * ui: the master's web UI (issue 12) — its files, built in from master/ui/
 * (agora_embed_assets, common/static_assets.h) and mounted at "/" for the
 * leader only, and the read-only window the UI's sandbox view has on a
 * slave.
 *
 * The page is a client of the public APIs: it follows the operator event
 * stream (POST /api/v1 SUBSCRIBE) for everything it shows. A task's
 * sandbox lives on its slave, whose HTTP port the operator's browser may
 * not reach (slaves sit on the cluster's network) and which is another
 * origin. So the master relays three read-only slave endpoints, and
 * nothing else, under /agents/{agent_id}/:
 *
 *   GET /agents/{id}/state                -> the slave's GET /state
 *   GET /agents/{id}/files/browse?path=   -> GET /files/browse
 *   GET /agents/{id}/files/read?path=...  -> GET /files/read
 *
 * The slave keeps its own guard (paths confined to the task sandboxes);
 * the master adds no CORS header anywhere, the page being same-origin. The
 * slave is reached at the address the master saw it connect from and the
 * port it advertised (its pid, "slave(1)@ip:port").
 *
 * The browser's credentials go along (and the slave's 401 challenge comes
 * back), as a Mesos UI's direct calls to an agent carry them: a slave with
 * --authenticate_http_readonly and --acls authenticates the operator and
 * applies access_sandboxes / view_tasks to the operator's principal. A
 * credential of the master's own would give every operator the master's
 * rights on every sandbox. So slaves that authenticate should accept the
 * operators' credentials (the master's --credentials file).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "master.h"
#include "http.h"
#include "http_proxy.h"
#include "log.h"
#include "mem.h"
#include "rest.h"
#include "static_assets.h"

#define UI_PROXY_TIMEOUT 10.0

extern const struct static_assets master_ui_assets;

static void ui_proxy_fail(struct evhttp_request *req, int code, const char *message, void *arg)
{
    struct master *m = arg;
    struct rest_req rq = { .req = req, .server = m->rest, .arg = m };

    rest_error(&rq, code, "%s", message);
}

/* Which slave endpoint a route of the UI relays (rq->route->pattern). */
static const char *ui_slave_path(const char *pattern)
{
    const char *tail = strrchr(pattern, '}');

    return tail != NULL ? tail + 1 : NULL;
}

void master_ui_handle_agent(struct rest_req *rq)
{
    struct master *m = rq->arg;
    const char *id = rest_param(rq, "agent_id");
    const char *path = ui_slave_path(rq->route->pattern);
    const char *query = rest_req_query(rq);
    struct slave *s = id ? slave_find(m, id) : NULL;
    const char *at;
    char *host = NULL, *uri = NULL, *what = NULL;
    int port = 0;

    if (s == NULL) {
        rest_error(rq, 404, "agent_id: no such slave: %s", id ? id : "");
        return;
    }
    if (s->state == SLAVE_STATE_UNREACHABLE) {
        rest_error(rq, 503, "slave %s is unreachable", s->id);
        return;
    }
    at = s->pid ? strchr(s->pid, '@') : NULL;
    if (at == NULL || http_parse_hostport(at + 1, s->port, &host, &port) < 0) {
        rest_error(rq, 503, "slave %s has no address", s->id);
        goto out;
    }
    uri = xasprintf("%s%s%s", path, query ? "?" : "", query ? query : "");
    what = xasprintf("slave %s (%s:%d)", s->id, host, port);
    http_proxy_forward_uri(m->base, rq->req, host, port, uri, what, UI_PROXY_TIMEOUT, ui_proxy_fail,
                           m);
out:
    free(host);
    free(uri);
    free(what);
}

void master_ui_attach(struct master *m)
{
    /* Read-only, like /master/state: --authenticate_http_readonly asks
     * for credentials (the browser then sends them on the page's calls). */
    rest_static_mount(m->rest, "/", &master_ui_assets, REST_LEADER_ONLY | REST_AUTH_READONLY);
}
