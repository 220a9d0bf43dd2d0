/*
 * fuzz_pacer_app: libFuzzer target for Pacer's AppDefinition reader
 * (frameworks/pacer/app.c). The input is parsed as JSON (any value) and
 * fed to app_normalize, app_merge and, as a raw string, appid_resolve.
 *
 * Besides crashes, leaks and sanitizer findings it checks what Pacer
 * relies on: app_normalize answers either canonical JSON or a non-empty
 * details array of {"path": "/...", "errors": [strings]}; canonical JSON
 * is a fixpoint (normalizing it again gives the same JSON, so a stored
 * app reads back unchanged), its typed view never fails, and it needs
 * no restart against itself; a resolved id is absolute and resolves to
 * itself.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "app.h"
#include "mem.h"

#define VERSION "2020-11-05T10:00:00.000Z"

static void check_details(const json_t *details)
{
    if (!json_is_array(details) || json_array_size(details) == 0)
        abort();
    for (size_t i = 0; i < json_array_size(details); i++) {
        const json_t *e = json_array_get(details, i);
        const char *path = json_string_value(json_object_get(e, "path"));
        const json_t *errs = json_object_get(e, "errors");
        if (path == NULL || path[0] != '/' || json_array_size(errs) == 0)
            abort();
        for (size_t j = 0; j < json_array_size(errs); j++)
            if (!json_is_string(json_array_get(errs, j)))
                abort();
    }
}

static void check_app(const json_t *in)
{
    json_t *details = NULL, *again, *merged, *mcanon;
    json_t *canon = app_normalize(in, "/fuzz", NULL, VERSION, &details);
    struct app_spec spec;
    char *err = NULL;

    if ((canon == NULL) == (details == NULL))
        abort();
    if (canon == NULL) {
        check_details(details);
        json_decref(details);
        /* a partial update laid over nothing is just as arbitrary */
        merged = app_merge(NULL, in);
        mcanon = app_normalize(merged, NULL, "/hint", VERSION, &details);
        json_decref(mcanon);
        json_decref(details);
        json_decref(merged);
        return;
    }
    again = app_normalize(canon, "/elsewhere", NULL, VERSION, &details);
    if (again == NULL || !json_equal(again, canon))
        abort();
    json_decref(again);
    if (app_spec_from_json(canon, &spec, &err) != 0)
        abort();
    app_spec_clear(&spec);
    if (app_needs_restart(canon, canon))
        abort();

    /* the input as a patch over its own canonical form */
    merged = app_merge(canon, in);
    if (!json_equal(json_object_get(merged, "id"), json_object_get(canon, "id")))
        abort();
    details = NULL;
    mcanon = app_normalize(merged, NULL, NULL, VERSION, &details);
    if ((mcanon == NULL) == (details == NULL))
        abort();
    json_decref(mcanon);
    json_decref(details);
    json_decref(merged);
    json_decref(canon);
}

static void check_id(const char *raw, bool allow_root)
{
    char *err = NULL, *err2 = NULL;
    char *id = appid_resolve("/g/h", raw, allow_root, &err);

    if (id == NULL) {
        if (err == NULL)
            abort();
        free(err);
        return;
    }
    if (id[0] != '/')
        abort();
    char *again = appid_resolve("/x", id, allow_root, &err2);
    if (again == NULL || strcmp(again, id) != 0)
        abort();
    free(again);
    free(id);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t e;
    json_t *in = json_loadb((const char *)data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &e);
    char *raw;

    if (in != NULL) {
        check_app(in);
        json_decref(in);
    }
    raw = xstrndup((const char *)data, size);
    check_id(raw, false);
    check_id(raw, true);
    free(raw);
    return 0;
}
