/*
 * constraints: Marathon's placement constraints — [field, OPERATOR(, value)]
 * with UNIQUE, CLUSTER, GROUP_BY (optional count), LIKE, UNLIKE (anchored
 * regular expressions, as Java's String.matches), MAX_PER, IS, on
 * "hostname" or a slave attribute — validated for app.c and evaluated for
 * placement.c. Pure functions: no network, no loop.
 */
#ifndef PACER_CONSTRAINTS_H
#define PACER_CONSTRAINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

/* A slave attribute, its value as text ("rack-1", "2.5", "[1-10]", "{a,b}"). */
struct cons_attr {
    const char *name;
    const char *value;
};

/* Where an instance runs, or what an offer is on. */
struct cons_host {
    const char *hostname;
    const struct cons_attr *attrs;
    size_t nattrs;
};

struct constraints;

/* A scalar attribute as Marathon compares it (Java's DecimalFormat
 * "0.###", which is how Constraints.getValueString writes it; %g would
 * write 1234567 as "1.23457e+06"). Caller frees. */
char *cons_format_scalar(double v);

/* Validate a client's "constraints" value (an array of arrays of
 * strings). Appends one {"path": "/constraints(<i>)", "errors": [...]}
 * per bad entry to details (an array) and returns how many it appended;
 * 0 = valid. A non-array value is one error at "/constraints". */
int constraints_validate(const json_t *value, json_t *details);

/* Compile a validated array (NULL or empty: no constraints). NULL only
 * if the array is invalid (a bug: validate first). */
struct constraints *constraints_new(const json_t *value);
void constraints_free(struct constraints *cs);
size_t constraints_count(const struct constraints *cs);

/* Does an instance on offer satisfy every constraint, given where the
 * app's other instances already run (placed, nplaced; terminal ones not
 * included)? true, or false with *which set to the index of the first
 * constraint that refuses. */
bool constraints_check(const struct constraints *cs, const struct cons_host *offer,
                       const struct cons_host *placed, size_t nplaced, size_t *which);

/* "hostname:UNIQUE", "rack:GROUP_BY:3": constraint i as text (owned by cs). */
const char *constraints_describe(const struct constraints *cs, size_t i);

#endif
