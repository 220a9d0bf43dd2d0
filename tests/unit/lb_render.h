/*
 * lb_render: pacer-lb's unit tests render apps JSON written with ' for "
 * (readable inside C strings) through config.c.
 */
#ifndef AGORA_TEST_LB_RENDER_H
#define AGORA_TEST_LB_RENDER_H

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "pacer_lb.h"

/* json as a document (caller decrefs); fails the test when it is not
 * JSON. */
static inline json_t *lb_load(const char *json)
{
    char *txt = strdup(json);
    for (char *p = txt; *p; p++) {
        if (*p == '\'')
            *p = '"';
    }
    json_error_t e;
    json_t *doc = json_loads(txt, 0, &e);
    free(txt);
    if (doc == NULL)
        fail_msg("bad test JSON: %s", e.text);
    return doc;
}

/* The configuration of json with o (caller frees); fails the test when
 * the JSON or the render fails. */
static inline char *lb_render(const char *json, const struct lbcfg_opts *o, struct lbcfg_stats *st)
{
    json_t *doc = lb_load(json);
    char *err = NULL;
    char *text = lbcfg_render(doc, o, st, &err);
    assert_non_null(text);
    assert_null(err);
    json_decref(doc);
    return text;
}

#endif
