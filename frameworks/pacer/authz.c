/*
 * authz: which principals may change which apps (--acls). Pacer's action
 * in Mesos's ACL format (common/acls.h), next to Mesos's own:
 *
 *   {"permissive": false,
 *    "change_apps": [{"principals": {"values": ["alice"]},
 *                     "app_ids": {"values": ["/team-a"]}},
 *                    {"principals": {"values": ["ops"]}, "app_ids": {"type": "ANY"}}]}
 *
 * An app id value holds itself and every app and group under it
 * ("/team-a" holds "/team-a/web", not "/team-ab"). The principal is the
 * user --http_credentials authenticated; without authentication there is
 * none, and only ACLs whose principals are ANY (or NONE) match it.
 *
 * Every change of an app goes through a deployment, so the handlers check
 * the ids of the deployment's target before starting it; kills and the
 * launch queue's delay check their app. A refusal is Marathon's 403
 * before anything was changed.
 */
#include <stdlib.h>

#include "pacer.h"
#include "acls.h"
#include "mem.h"
#include "rest.h"

static void deny(struct rest_req *rq, const char *id)
{
    char *why = xasprintf("principal '%s' may not change '%s' (change_apps)",
                          rq->principal ? rq->principal : "(none)", id);
    json_t *details = json_pack("[{s:s, s:[s]}]", "path", id, "errors", why);

    rest_error_details(rq, 403, details, "Not Authorized to perform this action!");
    json_decref(details);
    free(why);
}

bool authz_change(struct rest_req *rq, const char *id)
{
    struct pacer *p = rq->arg;

    if (acls_allowed(p->acls, ACL_CHANGE_APPS, rq->principal, id))
        return true;
    deny(rq, id);
    return false;
}

bool authz_change_target(struct rest_req *rq, const json_t *target)
{
    const char *id;
    json_t *v;

    json_object_foreach((json_t *)target, id, v)
    {
        if (!authz_change(rq, id))
            return false;
    }
    return true;
}

bool authz_change_everything(struct rest_req *rq)
{
    struct pacer *p = rq->arg;

    if (acls_allowed_all(p->acls, ACL_CHANGE_APPS, rq->principal))
        return true;
    deny(rq, "/");
    return false;
}
