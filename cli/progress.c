/*
 * progress: what --wait prints and concludes, as functions of Pacer's
 * JSON (an app, its deployment, its queue item) — no network here, so
 * the unit tests feed them documents.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "mem.h"

static long int_of(const json_t *o, const char *key)
{
    return (long)json_integer_value(json_object_get(o, key));
}

/* *s += (", " if non-empty) + piece; piece is freed. */
static void join(char **s, const char *sep, char *piece)
{
    char *n = xasprintf("%s%s%s", *s, **s ? sep : "", piece);
    free(piece);
    free(*s);
    *s = n;
}

void progress_counts(const json_t *app, long *up, long *target, bool *health)
{
    *health = json_array_size(json_object_get(app, "healthChecks")) > 0;
    *target = int_of(app, "instances");
    *up = int_of(app, *health ? "tasksHealthy" : "tasksRunning");
}

const json_t *progress_queue_item(const json_t *queue, const char *app_id)
{
    const json_t *item;
    size_t i;
    json_array_foreach(json_object_get(queue, "queue"), i, item)
    {
        const char *id = json_string_value(json_object_get(json_object_get(item, "app"), "id"));
        if (id && strcmp(id, app_id) == 0)
            return item;
    }
    return NULL;
}

char *progress_not_placed(const json_t *queue_item)
{
    const json_t *sum = json_object_get(queue_item, "processedOffersSummary"), *r;
    long total = int_of(sum, "processedOffersCount");
    char *out = xstrdup("");
    size_t i;

    json_array_foreach(json_object_get(sum, "rejectSummaryLastOffers"), i, r)
    {
        long declined = int_of(r, "declined");
        const char *reason = json_string_value(json_object_get(r, "reason"));
        if (declined > 0 && reason)
            join(&out, ", ", xasprintf("%s (%ld of %ld offers)", reason, declined, total));
    }
    json_array_foreach(json_object_get(sum, "rejectSummaryConstraints"), i, r)
    {
        long declined = int_of(r, "declined");
        const char *cons = json_string_value(json_object_get(r, "constraint"));
        if (declined > 0 && cons)
            join(&out, ", ", xasprintf("constraint %s (%ld offers)", cons, declined));
    }
    if (*out == '\0') {
        free(out);
        return NULL;
    }
    return out;
}

char *progress_line(const char *app_id, const json_t *app, const json_t *deployment,
                    const json_t *queue_item, double elapsed)
{
    char *line, *why;
    long up, target;
    bool health;

    if (app) {
        progress_counts(app, &up, &target, &health);
        line = xasprintf("%s: %ld/%ld %s", app_id, up, target, health ? "healthy" : "running");
    } else {
        line = xasprintf("%s: removed", app_id);
    }
    if (deployment) {
        const json_t *acts = json_object_get(deployment, "currentActions"), *a;
        char *names = xstrdup("");
        size_t i;
        json_array_foreach(acts, i, a)
        {
            const char *n = json_string_value(json_object_get(a, "action"));
            if (n)
                join(&names, "+", xstrdup(n));
        }
        join(&line, ", ",
             xasprintf("step %ld/%ld%s%s", int_of(deployment, "currentStep"),
                       int_of(deployment, "totalSteps"), *names ? " " : "", names));
        free(names);
    }
    if (elapsed >= 60)
        join(&line, ", ", xasprintf("%dm%02ds", (int)elapsed / 60, (int)elapsed % 60));
    else
        join(&line, ", ", xasprintf("%.0fs", elapsed));
    if (queue_item && (why = progress_not_placed(queue_item)) != NULL) {
        join(&line, " - ", xasprintf("not placed: %s", why));
        free(why);
    } else if (deployment) {
        const char *w =
            json_string_value(json_object_get(json_object_get(deployment, "waitingFor"), app_id));
        if (w)
            join(&line, " - ", xasprintf("waiting for: %s", w));
    }
    return line;
}
