/*
 * apps: the apps Pacer runs, in memory — the current definition of each
 * (canonical JSON and its typed view), its versions, its service ports
 * (servicePort 0 assigned from --service_ports and kept across versions),
 * and the questions the rest of Pacer asks about its instances (live,
 * running, healthy). Persistence is state.c's; decisions deployments.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "pacer.h"
#include "log.h"
#include "mem.h"

struct papp *papp_find(struct pacer *p, const char *id)
{
    struct papp *a = NULL;

    if (id != NULL)
        HASH_FIND_STR(p->apps, id, a);
    return a;
}

bool instance_live(const struct instance *i)
{
    return i->state < 0 || !agora_task_state_terminal(i->state);
}

bool instance_running(const struct instance *i)
{
    return i->state == MESOS__V1__TASK_STATE__TASK_RUNNING;
}

/* Healthy in Marathon's sense: running and, when the app has health
 * checks, the last check passed. */
bool instance_healthy(const struct instance *i)
{
    if (!instance_running(i) || i->killing)
        return false;
    return !i->has_health || i->healthy == 1;
}

size_t papp_live(const struct papp *a)
{
    const struct instance *i;
    size_t n = 0;

    DL_FOREACH (a->instances, i) {
        if (instance_live(i))
            n++;
    }
    return n;
}

static bool port_taken(struct pacer *p, int port)
{
    int k = port - p->service_port_min;

    return k >= 0 && port <= p->service_port_max && (p->service_port_used[k / 8] & (1u << (k % 8)));
}

static void port_mark(struct pacer *p, int port, bool used)
{
    int k = port - p->service_port_min;

    if (k < 0 || port > p->service_port_max)
        return;
    if (used)
        p->service_port_used[k / 8] |= (unsigned char)(1u << (k % 8));
    else
        p->service_port_used[k / 8] &= (unsigned char)~(1u << (k % 8));
}

void papp_release_service_ports(struct pacer *p, struct papp *a)
{
    for (size_t k = 0; k < a->nservice_ports; k++)
        port_mark(p, a->service_ports[k], false);
    a->nservice_ports = 0;
}

/* One service port per app port: the one the app asks for, else the one
 * this app already had at that index, else the lowest free one. The
 * canonical JSON is updated so clients see the assigned ports, as in
 * Marathon. */
int papp_assign_service_ports(struct pacer *p, struct papp *a, char **err)
{
    int old[PACER_MAX_PORTS];
    size_t nold = a->nservice_ports, n = a->spec.nports;
    json_t *list;

    if (n > PACER_MAX_PORTS) {
        *err = xasprintf("an app may have at most %d ports", PACER_MAX_PORTS);
        return -1;
    }
    memcpy(old, a->service_ports, sizeof(old));
    papp_release_service_ports(p, a);
    for (size_t k = 0; k < n; k++) {
        int want = a->spec.ports[k].service_port;

        if (want == 0 && k < nold && !port_taken(p, old[k]))
            want = old[k];
        if (want == 0) {
            for (int port = p->service_port_min; port <= p->service_port_max; port++) {
                if (!port_taken(p, port)) {
                    want = port;
                    break;
                }
            }
            if (want == 0) {
                *err = xasprintf("no service port left in %d-%d", p->service_port_min,
                                 p->service_port_max);
                papp_release_service_ports(p, a);
                return -1;
            }
        }
        a->service_ports[k] = want;
        a->spec.ports[k].service_port = want;
        port_mark(p, want, true);
        a->nservice_ports = k + 1;
    }
    /* Reflect the assignment in the canonical definition. */
    if (a->spec.port_mappings) {
        json_t *c = json_object_get(a->def, "container");

        list = c ? json_object_get(c, "portMappings") : NULL;
        for (size_t k = 0; list && k < json_array_size(list) && k < n; k++)
            json_object_set_new(json_array_get(list, k), "servicePort",
                                json_integer(a->service_ports[k]));
    } else {
        list = json_object_get(a->def, "portDefinitions");
        for (size_t k = 0; list && k < json_array_size(list) && k < n; k++)
            json_object_set_new(json_array_get(list, k), "port", json_integer(a->service_ports[k]));
    }
    return 0;
}

/* Is version in use: the current configuration, or what an instance runs? */
static bool version_in_use(const struct papp *a, const char *v)
{
    const struct instance *i;

    if (strcmp(v, a->last_config_change) == 0 ||
        strcmp(v, json_string_value(json_object_get(a->def, "version"))) == 0)
        return true;
    DL_FOREACH (a->instances, i) {
        if (strcmp(v, i->version) == 0 || strcmp(v, i->config_version) == 0)
            return true;
    }
    return false;
}

/* Keep the newest PACER_MAX_VERSIONS versions (Marathon's zk_max_versions),
 * plus any still in use; the others' store keys go too. */
void papp_trim_versions(struct pacer *p, struct papp *a)
{
    size_t k = 0;

    while (json_array_size(a->versions) > PACER_MAX_VERSIONS && k < json_array_size(a->versions)) {
        const char *v = json_string_value(json_array_get(a->versions, k));

        if (v == NULL || version_in_use(a, v)) {
            k++;
            continue;
        }
        state_delete_version(p, a->id, v);
        json_array_remove(a->versions, k);
    }
}

struct papp *papp_put(struct pacer *p, json_t *def, bool config_change)
{
    const char *id = json_string_value(json_object_get(def, "id"));
    const char *version = json_string_value(json_object_get(def, "version"));
    struct papp *a = papp_find(p, id);
    char *e = NULL;

    if (a == NULL) {
        a = xcalloc(1, sizeof(*a));
        a->id = xstrdup(id);
        a->versions = json_array();
        HASH_ADD_KEYPTR(hh, p->apps, a->id, strlen(a->id), a);
        config_change = true;
    } else {
        json_decref(a->def);
        app_spec_clear(&a->spec);
        constraints_free(a->cons);
        a->cons = NULL;
    }
    a->def = def;
    if (app_spec_from_json(def, &a->spec, &e) < 0) {
        log_error("app %s: %s", id, e); /* app_normalize output: cannot happen */
        free(e);
        e = NULL;
    }
    a->cons = constraints_new(json_object_get(def, "constraints"));
    if (papp_assign_service_ports(p, a, &e) < 0) {
        log_warn("app %s: %s", id, e);
        free(e);
    }
    if (config_change || a->last_config_change == NULL) {
        free(a->last_config_change);
        a->last_config_change = xstrdup(version);
    }
    free(a->last_scaling);
    a->last_scaling = xstrdup(version);
    {
        size_t nv = json_array_size(a->versions);
        const char *last = nv ? json_string_value(json_array_get(a->versions, nv - 1)) : NULL;

        if (last == NULL || strcmp(last, version) != 0)
            json_array_append_new(a->versions, json_string(version));
    }
    papp_trim_versions(p, a);
    return a;
}

void papp_remove(struct pacer *p, struct papp *a)
{
    HASH_DEL(p->apps, a);
    papp_release_service_ports(p, a);
    a->removed = true;
    if (a->instances == NULL) {
        papp_free(p, a);
        return;
    }
    DL_APPEND2(p->dying, a, dprev, dnext);
}

void papp_reap(struct pacer *p, struct papp *a)
{
    if (a->removed && a->instances == NULL) {
        DL_DELETE2(p->dying, a, dprev, dnext);
        papp_free(p, a);
    }
}

/* Free the app's memory; its instances must be gone or forgotten. */
void papp_free(struct pacer *p, struct papp *a)
{
    struct instance *i, *tmp;

    DL_FOREACH_SAFE (a->instances, i, tmp) {
        DL_DELETE(a->instances, i);
        i->prev = i->next = NULL;
        i->app = NULL;
    }
    if (!a->removed) {
        HASH_DEL(p->apps, a);
        papp_release_service_ports(p, a);
    }
    app_spec_clear(&a->spec);
    constraints_free(a->cons);
    json_decref(a->def);
    json_decref(a->versions);
    json_decref(a->last_task_failure);
    free(a->last_config_change);
    free(a->last_scaling);
    free(a->waiting_for);
    free(a->id);
    free(a);
}
