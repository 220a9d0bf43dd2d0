/*
 * acls: Mesos's ACLs, parsed once into arrays and evaluated by a linear
 * scan (see acls.h for the rules). ACL lists are short (tens of entries),
 * so a scan per check is cheaper than any index.
 */
#include "acls.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "host_policy.h"
#include "mem.h"

enum entity_type { ENTITY_SOME, ENTITY_ANY, ENTITY_NONE };

struct entity {
    enum entity_type type;
    char **values;
    size_t n;
};

struct acl {
    struct entity subject, object;
};

struct acl_list {
    struct acl *v;
    size_t n;
};

struct acls {
    bool permissive;
    struct acl_list lists[ACL_NACTIONS];
};

/* How an object value of an ACL matches a request's object. */
enum match_kind { MATCH_EXACT, MATCH_CAPABILITY, MATCH_PATH_PREFIX };

/* The JSON names: the action, and its object's key. */
static const struct {
    const char *name, *object;
    enum match_kind match;
} actions[ACL_NACTIONS] = {
    [ACL_REGISTER_FRAMEWORKS] = { "register_frameworks", "roles" },
    [ACL_RUN_TASKS] = { "run_tasks", "users" },
    [ACL_TEARDOWN_FRAMEWORKS] = { "teardown_frameworks", "framework_principals" },
    [ACL_VIEW_FRAMEWORKS] = { "view_frameworks", "users" },
    [ACL_VIEW_TASKS] = { "view_tasks", "users" },
    [ACL_ACCESS_SANDBOXES] = { "access_sandboxes", "users" },
    [ACL_LAUNCH_PRIVILEGED_CONTAINERS] = { "launch_privileged_containers", "users" },
    [ACL_ADD_CAPABILITIES] = { "add_capabilities", "capabilities", MATCH_CAPABILITY },
    [ACL_MOUNT_HOST_PATHS] = { "mount_host_paths", "paths", MATCH_PATH_PREFIX },
    [ACL_CHANGE_APPS] = { "change_apps", "app_ids", MATCH_PATH_PREFIX },
};

const char *acl_action_name(enum acl_action action)
{
    return action < ACL_NACTIONS ? actions[action].name : "?";
}

static void entity_free(struct entity *e)
{
    for (size_t i = 0; i < e->n; i++)
        free(e->values[i]);
    free(e->values);
}

/* Absent: ANY (Mesos's default for an unset entity). */
static int entity_parse(const json_t *j, const char *where, struct entity *e, char **err)
{
    memset(e, 0, sizeof(*e));
    e->type = ENTITY_ANY;
    if (j == NULL)
        return 0;
    const json_t *type = json_object_get(j, "type"), *values = json_object_get(j, "values");
    if (!json_is_object(j) || (type && values) || (!type && !values)) {
        *err = xasprintf("%s: want {\"values\": [...]} or {\"type\": \"ANY\"|\"NONE\"}", where);
        return -1;
    }
    if (type) {
        const char *t = json_string_value(type);
        if (t && strcmp(t, "ANY") == 0)
            e->type = ENTITY_ANY;
        else if (t && strcmp(t, "NONE") == 0)
            e->type = ENTITY_NONE;
        else {
            *err = xasprintf("%s.type: want \"ANY\" or \"NONE\"", where);
            return -1;
        }
        return 0;
    }
    if (!json_is_array(values)) {
        *err = xasprintf("%s.values: want an array of strings", where);
        return -1;
    }
    e->type = ENTITY_SOME;
    e->values = xcalloc(json_array_size(values) + 1, sizeof(char *));
    for (size_t i = 0; i < json_array_size(values); i++) {
        const json_t *v = json_array_get(values, i);
        if (!json_is_string(v)) {
            *err = xasprintf("%s.values[%zu]: want a string", where, i);
            return -1;
        }
        e->values[e->n++] = xstrdup(json_string_value(v));
    }
    return 0;
}

static int list_parse(const json_t *arr, enum acl_action act, struct acl_list *l, char **err)
{
    const char *name = actions[act].name, *obj = actions[act].object;
    if (!json_is_array(arr)) {
        *err = xasprintf("%s: want an array of ACLs", name);
        return -1;
    }
    l->v = xcalloc(json_array_size(arr) + 1, sizeof(*l->v));
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *acl = json_array_get(arr, i);
        char where[96];
        if (!json_is_object(acl)) {
            *err = xasprintf("%s[%zu]: want an object", name, i);
            return -1;
        }
        const char *key;
        const json_t *val;
        json_object_foreach((json_t *)acl, key, val)
        {
            if (strcmp(key, "principals") != 0 && strcmp(key, obj) != 0) {
                *err = xasprintf("%s[%zu]: unknown field '%s' (want principals, %s)", name, i, key,
                                 obj);
                return -1;
            }
        }
        struct acl *a = &l->v[l->n++];
        snprintf(where, sizeof(where), "%s[%zu].principals", name, i);
        if (entity_parse(json_object_get(acl, "principals"), where, &a->subject, err) < 0)
            return -1;
        snprintf(where, sizeof(where), "%s[%zu].%s", name, i, obj);
        if (entity_parse(json_object_get(acl, obj), where, &a->object, err) < 0)
            return -1;
    }
    return 0;
}

struct acls *acls_parse(const char *text, size_t len, char **err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    struct acls *a = xcalloc(1, sizeof(*a));
    a->permissive = true;
    int rc = 0;
    if (doc == NULL || !json_is_object(doc)) {
        *err = doc ? xstrdup("want a JSON object")
                   : xasprintf("not valid JSON (line %d: %s)", jerr.line, jerr.text);
        rc = -1;
    }
    const char *key;
    json_t *val;
    if (rc == 0) {
        json_object_foreach(doc, key, val)
        {
            if (strcmp(key, "permissive") == 0) {
                if (!json_is_boolean(val)) {
                    *err = xstrdup("permissive: want true or false");
                    rc = -1;
                    break;
                }
                a->permissive = json_is_true(val);
                continue;
            }
            int act = -1;
            for (int i = 0; i < ACL_NACTIONS; i++)
                if (strcmp(key, actions[i].name) == 0)
                    act = i;
            if (act < 0) {
                *err = xasprintf("unknown field '%s'", key);
                rc = -1;
                break;
            }
            if (list_parse(val, (enum acl_action)act, &a->lists[act], err) < 0) {
                rc = -1;
                break;
            }
        }
    }
    json_decref(doc);
    if (rc != 0) {
        acls_free(a);
        return NULL;
    }
    return a;
}

struct acls *acls_load(const char *path, char **err)
{
    if (strncmp(path, "file://", 7) == 0)
        path += 7;
    json_error_t jerr;
    json_t *doc = json_load_file(path, 0, &jerr);
    if (doc == NULL) {
        *err = xasprintf("%s: %s", path, jerr.text);
        return NULL;
    }
    char *text = json_dumps(doc, JSON_COMPACT);
    json_decref(doc);
    char *e = NULL;
    struct acls *a = acls_parse(text, strlen(text), &e);
    free(text);
    if (a == NULL) {
        *err = xasprintf("%s: %s", path, e);
        free(e);
    }
    return a;
}

void acls_free(struct acls *a)
{
    if (a == NULL)
        return;
    for (int i = 0; i < ACL_NACTIONS; i++) {
        for (size_t j = 0; j < a->lists[i].n; j++) {
            entity_free(&a->lists[i].v[j].subject);
            entity_free(&a->lists[i].v[j].object);
        }
        free(a->lists[i].v);
    }
    free(a);
}

static bool value_matches(enum match_kind kind, const char *acl_value, const char *value)
{
    bool m;
    char *a, *b;

    switch (kind) {
    case MATCH_CAPABILITY:
        a = host_capability_canonical(acl_value);
        b = host_capability_canonical(value);
        m = strcmp(a, b) == 0;
        free(a);
        free(b);
        return m;
    case MATCH_PATH_PREFIX:
        return host_path_under(value, acl_value);
    case MATCH_EXACT:
        break;
    }
    return strcmp(acl_value, value) == 0;
}

static bool matches(const struct entity *e, enum match_kind kind, const char *value)
{
    if (e->type != ENTITY_SOME)
        return true;
    if (value == NULL)
        return false;
    for (size_t i = 0; i < e->n; i++)
        if (value_matches(kind, e->values[i], value))
            return true;
    return false;
}

bool acls_allowed(const struct acls *a, enum acl_action action, const char *principal,
                  const char *object)
{
    if (a == NULL || action >= ACL_NACTIONS)
        return true;
    const struct acl_list *l = &a->lists[action];
    for (size_t i = 0; i < l->n; i++) {
        const struct acl *acl = &l->v[i];
        if (matches(&acl->subject, MATCH_EXACT, principal) &&
            matches(&acl->object, actions[action].match, object))
            return acl->subject.type != ENTITY_NONE && acl->object.type != ENTITY_NONE;
    }
    return a->permissive;
}

bool acls_allowed_all(const struct acls *a, enum acl_action action, const char *principal)
{
    if (a == NULL || action >= ACL_NACTIONS)
        return true;
    const struct acl_list *l = &a->lists[action];
    for (size_t i = 0; i < l->n; i++) {
        const struct acl *acl = &l->v[i];
        if (!matches(&acl->subject, MATCH_EXACT, principal))
            continue;
        /* The first ACL of this principal decides every object only when
         * it names them all (ANY); one naming some leaves the others to
         * later ACLs: not known to be all, so no. */
        return acl->object.type == ENTITY_ANY && acl->subject.type != ENTITY_NONE;
    }
    return a->permissive;
}
