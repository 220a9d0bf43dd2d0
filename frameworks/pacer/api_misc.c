/*
 * api_misc: the smaller endpoints — /v2/deployments, /v2/queue,
 * /v2/info, /v2/leader, /ping.
 */
#include <stdlib.h>
#include <string.h>

#include "pacer.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "rest.h"
#include "timeutil.h"

void api_deployments_get(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    json_t *list = json_array();
    struct deployment *d;

    DL_FOREACH (p->deployment_list, d) {
        json_array_append_new(list, deploy_json(p, d));
    }
    http_reply_json(rq->req, 200, list);
}

/* GET /v2/deployments/{id}: a Pacer extension — the deployment and, per
 * app of its current step, what it waits for. */
void api_deployment_get(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    struct deployment *d = deploy_find(p, rest_param(rq, "id"));
    json_t *j, *waiting;

    if (d == NULL) {
        rest_error(rq, 404, "DeploymentPlan %s does not exist", rest_param(rq, "id"));
        return;
    }
    j = deploy_json(p, d);
    waiting = json_object();
    for (size_t k = 0; d->current < d->nsteps && k < d->steps[d->current].nactions; k++) {
        const char *id = d->steps[d->current].actions[k].app_id;
        struct papp *a = papp_find(p, id);

        json_object_set_new(waiting, id,
                            a && a->waiting_for ? json_string(a->waiting_for) : json_null());
    }
    json_object_set_new(j, "waitingFor", waiting);
    http_reply_json(rq->req, 200, j);
}

void api_deployment_delete(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    struct deployment *d = deploy_find(p, rest_param(rq, "id")), *back;
    json_t *original, *target, *conflicts = NULL, *v;
    const char *id;
    char *e = NULL, ts[TIME_ISO_LEN];
    bool force;

    if (rest_query_bool(rest_req_query(rq), "force", false, &force, &e) < 0) {
        rest_error(rq, 400, "%s", e);
        free(e);
        return;
    }
    if (d == NULL) {
        rest_error(rq, 404, "DeploymentPlan %s does not exist", rest_param(rq, "id"));
        return;
    }
    /* Cancelling or rolling back changes every app the deployment holds. */
    if (!authz_change_target(rq, d->target) || !authz_change_target(rq, d->original))
        return;
    if (force) {
        deploy_cancel(p, d, "cancelled through the API (force)");
        pacer_reply_synced(p, rq->req, 202, json_object());
        return;
    }
    /* Rollback: a new deployment from the target back to the original,
     * with new versions, superseding this one. */
    original = json_object();
    target = json_object();
    {
        char *nv = pacer_new_version();

        snprintf(ts, sizeof(ts), "%s", nv);
        free(nv);
    }
    json_object_foreach(d->target, id, v)
    {
        struct papp *a = papp_find(p, id);

        json_object_set(original, id, a ? a->def : json_null());
    }
    json_object_foreach(d->original, id, v)
    {
        if (json_is_object(v)) {
            json_t *def = json_deep_copy(v);

            json_object_set_new(def, "version", json_string(ts));
            json_object_set_new(target, id, def);
        } else {
            json_object_set_new(target, id, json_null());
        }
        if (json_object_get(original, id) == NULL) {
            struct papp *a = papp_find(p, id);

            json_object_set(original, id, a ? a->def : json_null());
        }
    }
    back = deploy_start(p, original, target, true, false, &conflicts);
    json_decref(conflicts);
    if (back == NULL) {
        rest_error(rq, 500, "cannot start the rollback");
        return;
    }
    http_add_header(rq->req, "Marathon-Deployment-Id", back->id);
    pacer_reply_synced(p, rq->req, 200,
                       json_pack("{s:s, s:s}", "deploymentId", back->id, "version", back->version));
}

void api_queue_get(struct rest_req *rq)
{
    http_reply_json(rq->req, 200, queue_json(rq->arg));
}

void api_queue_delay_delete(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    char *e = NULL, *id = appid_resolve("/", rest_param(rq, "id"), false, &e);
    struct papp *a = id ? papp_find(p, id) : NULL;

    if (a == NULL || a->waiting == 0) {
        rest_error(rq, 404, "Application %s not found in tasks queue.",
                   id ? id : rest_param(rq, "id"));
    } else if (authz_change(rq, a->id)) {
        queue_reset_delay(p, a);
        http_reply(rq->req, 204, "application/json", "", 0);
    }
    free(e);
    free(id);
}

void api_info(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    struct pacer_flags *f = p->flags;
    json_t *mc, *zk, *http, *ev;

    mc = json_pack("{s:s, s:s, s:f, s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:s, s:b, "
                   "s:s, s:[], s:s}",
                   "master", f->master, "framework_name", f->framework_name, "failover_timeout",
                   f->failover_timeout, "mesos_role", f->role, "mesos_user", f->user ? f->user : "",
                   "hostname", p->hostport, "checkpoint", true, "local_port_min",
                   (json_int_t)p->service_port_min, "local_port_max",
                   (json_int_t)p->service_port_max, "task_launch_timeout",
                   (json_int_t)(f->task_launch_timeout * 1000), "reconciliation_interval",
                   (json_int_t)(f->reconcile_interval * 1000), "decline_offer_duration",
                   (json_int_t)(f->decline_seconds * 1000), "webui_url", "", "ha", p->ha != NULL,
                   "mesos_leader_ui_url", "", "features", "executor", "//cmd");
    zk = json_pack("{s:s, s:I, s:I, s:I}", "zk", f->zk ? f->zk : "", "zk_timeout",
                   (json_int_t)10000, "zk_session_timeout",
                   (json_int_t)(f->zk_session_timeout * 1000), "zk_max_versions", (json_int_t)50);
    http = json_pack("{s:I, s:I, s:s}", "http_port", (json_int_t)http_server_port(p->http),
                     "https_port", (json_int_t)8443, "assets_path", "");
    ev = json_pack("{s:s, s:[]}", "type", "http_callback", "http_endpoints");
    http_reply_json(rq->req, 200,
                    json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:o, s:o, s:o, s:o}", "name", "pacer",
                              "version", PACER_VERSION, "buildref", "agora", "leader",
                              pacer_leader(p) ? pacer_leader(p) : "", "elected", p->leading,
                              "frameworkId", p->framework_id ? p->framework_id : "",
                              "marathon_config", mc, "zookeeper_config", zk, "http_config", http,
                              "event_subscriber", ev));
}

void api_leader(struct rest_req *rq)
{
    struct pacer *p = rq->arg;
    const char *leader = pacer_leader(p);

    if (leader == NULL)
        rest_error(rq, 404, "There is no leader");
    else
        http_reply_json(rq->req, 200, json_pack("{s:s}", "leader", leader));
}

/* Reached on the leader only (a standby proxies it there). */
void api_leader_delete(struct rest_req *rq)
{
    struct pacer *p = rq->arg;

    if (p->ha == NULL) {
        rest_error(rq, 400, "This Pacer runs standalone (no --zk): there is no one to take over");
        return;
    }
    if (!authz_change_everything(rq))
        return;
    http_reply_json(rq->req, 200, json_pack("{s:s}", "message", "Leadership abdicated"));
    pacer_abdicate(p, "DELETE /v2/leader");
}

void api_ping(struct rest_req *rq)
{
    http_reply(rq->req, 200, "text/plain", "pong\n", 5);
}
