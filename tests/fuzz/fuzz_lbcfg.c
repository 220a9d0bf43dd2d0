/*
 * fuzz_lbcfg: libFuzzer target for what agora-pacer-lb reads from the
 * wire: the JSON of Marathon's GET /v2/apps?embed=apps.tasks (or of one
 * app, wrapped), turned into its lean model (model.c), rendered into an
 * HAProxy configuration with every label and template label the apps
 * carry (config.c, templates.c), and compared with a baseline the way a
 * change is applied (diff.c: the runtime commands, the new binds).
 *
 * Besides crashes, leaks and sanitizer findings it checks what pacer-lb
 * relies on: the lean model renders the same text as the whole document;
 * a render is deterministic; and no app, whatever its labels say, adds a
 * section beyond its own frontend/backend pair: the text has the head's
 * global and defaults, pacer-lb's second global, the stats listener, the
 * shared HTTP frontend, and then frontend X / backend X pairs only.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "mem.h"
#include "pacer_lb.h"

static const char baseline_json[] =
    "{\"apps\":[{\"id\":\"/a\",\"portDefinitions\":[{\"port\":10001}],\"tasks\":["
    "{\"id\":\"a.1\",\"state\":\"TASK_RUNNING\",\"host\":\"127.0.0.1\",\"ports\":[31001]}]}]}";

static char *render(const json_t *doc, const struct lbcfg_opts *o)
{
    char *err = NULL;
    char *text = lbcfg_render(doc, o, NULL, &err);
    if (text == NULL && err == NULL)
        abort(); /* a failed render says why */
    free(err);
    return text;
}

/* Every section is the head's, pacer-lb's own, or one half of an app's
 * frontend/backend pair. */
static void check_sections(const char *text)
{
    int globals = 0, defaults = 0, fes = 0, bes = 0;
    /* Names are as long as the app ids (HAProxy takes 2,000 characters). */
    static char prev_fe[16384], line[16384];
    prev_fe[0] = '\0';
    for (const char *p = text; *p;) {
        const char *e = strchr(p, '\n');
        size_t n = e != NULL ? (size_t)(e - p) : strlen(p);
        line[0] = '\0';
        if (n >= sizeof(line))
            abort(); /* longer than the inputs (-max_len) can make it */
        if (n > 0 && p[0] != ' ' && p[0] != '#') {
            memcpy(line, p, n);
            line[n] = '\0';
        }
        if (line[0] == '\0') {
            /* not a section line */
        } else if (strcmp(line, "global") == 0) {
            globals++;
        } else if (strcmp(line, "defaults") == 0) {
            defaults++;
        } else if (strcmp(line, "listen stats") == 0 ||
                   strcmp(line, "frontend marathon_http_in") == 0 ||
                   strcmp(line, "frontend marathon_https_in") == 0) {
            /* pacer-lb's */
        } else if (strncmp(line, "frontend ", 9) == 0) {
            if (prev_fe[0] != '\0')
                abort(); /* two frontends without their backend */
            snprintf(prev_fe, sizeof(prev_fe), "%s", line + 9);
            fes++;
        } else if (strncmp(line, "backend ", 8) == 0) {
            if (strcmp(prev_fe, line + 8) != 0)
                abort(); /* a backend that is not its frontend's */
            prev_fe[0] = '\0';
            bes++;
        } else {
            fprintf(stderr, "fuzz_lbcfg: unexpected section line: %s\n", line);
            abort();
        }
        p = e != NULL ? e + 1 : p + n;
    }
    if (globals != 2 || defaults != 1 || fes != bes) {
        fprintf(stderr, "fuzz_lbcfg: %d global, %d defaults, %d frontends, %d backends\n%s\n",
                globals, defaults, fes, bes, text);
        abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static json_t *baseline_doc;
    static char *baseline;
    struct lbcfg_opts o = { .group = "external",
                            .bind = "127.0.0.1",
                            .maxconn = 2000,
                            .stats_socket = "/run/lb.sock",
                            .state_file = "/run/lb.state",
                            .http_port = 8088,
                            .https_crt = " ssl crt /etc/lb.pem",
                            .https_port = 8443,
                            .stats_port = 9090 };

    if (baseline == NULL) {
        baseline_doc = json_loads(baseline_json, 0, NULL);
        baseline = render(baseline_doc, &o);
        if (baseline == NULL)
            abort();
    }
    json_t *doc = json_loadb((const char *)data, size, JSON_DECODE_ANY, NULL);
    if (doc == NULL)
        return 0;
    if (json_object_get(doc, "app") != NULL) {
        /* GET /v2/apps/<id>: one app, as an event's re-read brings it. */
        json_t *wrapped = json_pack("{s:[O]}", "apps", json_object_get(doc, "app"));
        json_decref(doc);
        doc = wrapped;
    }
    json_t *lean = lbmodel_doc(doc);
    o.excluded_out = json_array();
    char *text = render(doc, &o);
    if (text != NULL) {
        check_sections(text);
        char *again = render(doc, &o);
        if (again == NULL || strcmp(text, again) != 0)
            abort(); /* not deterministic */
        free(again);
        if (lean != NULL) {
            char *lean_text = render(lean, &o);
            if (lean_text == NULL || strcmp(text, lean_text) != 0)
                abort(); /* the lean model lost something the render reads */
            free(lean_text);
        }
        struct lbdiff d;
        if (lbdiff_compute(baseline, text, &d) == 0 && d.kind == LBDIFF_RUNTIME)
            free(lbdiff_commands(&d, NULL, 0));
        lbdiff_cleanup(&d);
        json_t *binds = json_array();
        lbdiff_new_binds(baseline, text, binds);
        json_decref(binds);
        json_t *blamed = json_object();
        lbdiff_blame(text, "[ALERT] parsing [/x/haproxy.cfg:12] : 'bind' : bad\n", "/x/haproxy.cfg",
                     blamed);
        json_decref(blamed);
        free(text);
    }
    json_decref(o.excluded_out);
    json_decref(lean);
    json_decref(doc);
    return 0;
}
