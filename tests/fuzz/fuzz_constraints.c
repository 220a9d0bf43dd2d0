/*
 * fuzz_constraints: libFuzzer target for Pacer's placement constraints
 * (frameworks/pacer/constraints.c): validation of a client's
 * "constraints" value, its compilation (LIKE/UNLIKE's Java regular
 * expressions translated to POSIX ones) and the check of an offer against
 * the hosts an app already runs on.
 *
 * Input: JSON text (the "constraints" value), then after a NUL the hosts,
 * one a line: "hostname name=value name=value ..."; the first line is the
 * offer, the others where instances run. Besides crashes, leaks,
 * sanitizer findings and slow inputs (a regular expression that makes
 * regexec take seconds would stall Pacer's loop) it checks the contract:
 * validate appends one detail per bad entry, each at "/constraints...",
 * and returns their number; a valid value compiles, an invalid one does
 * not; every compiled constraint describes itself; a refusal names a
 * constraint that exists.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "constraints.h"
#include "mem.h"

#define MAX_HOSTS 8
#define MAX_ATTRS 6

struct hosts {
    struct cons_host h[MAX_HOSTS];
    struct cons_attr a[MAX_HOSTS][MAX_ATTRS];
    size_t n;
};

/* Split text (modified in place) into hosts. */
static void parse_hosts(char *text, struct hosts *hs)
{
    char *line = text;

    hs->n = 0;
    while (line != NULL && hs->n < MAX_HOSTS) {
        char *next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        struct cons_host *h = &hs->h[hs->n];
        char *tok = strtok(line, " ");
        h->hostname = tok ? tok : "";
        h->attrs = hs->a[hs->n];
        h->nattrs = 0;
        while ((tok = strtok(NULL, " ")) != NULL && h->nattrs < MAX_ATTRS) {
            char *eq = strchr(tok, '=');
            struct cons_attr *a = &hs->a[hs->n][h->nattrs++];
            if (eq) {
                *eq = '\0';
                a->value = eq + 1;
            } else {
                a->value = "";
            }
            a->name = tok;
        }
        hs->n++;
        line = next;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nul = memchr(data, '\0', size);
    size_t jlen = nul ? (size_t)(nul - (const char *)data) : size;
    char *hosts_text = nul ? xstrndup(nul + 1, size - jlen - 1) : xstrdup("h1 rack=r1 zone=a");
    json_error_t e;
    json_t *value = json_loadb((const char *)data, jlen, JSON_DECODE_ANY, &e);
    json_t *details;
    struct constraints *cs;
    struct hosts hs;

    if (value == NULL)
        goto out;
    details = json_array();
    int n = constraints_validate(value, details);
    if (n < 0 || (size_t)n != json_array_size(details))
        abort();
    for (size_t i = 0; i < json_array_size(details); i++) {
        const char *path = json_string_value(json_object_get(json_array_get(details, i), "path"));
        if (path == NULL || strncmp(path, "/constraints", 12) != 0)
            abort();
    }
    json_decref(details);
    cs = constraints_new(value);
    if ((cs == NULL) != (n > 0))
        abort();
    if (cs == NULL)
        goto out;
    size_t count = constraints_count(cs);
    if (count != (json_is_array(value) ? json_array_size(value) : 0))
        abort();
    for (size_t i = 0; i < count; i++)
        if (constraints_describe(cs, i) == NULL)
            abort();
    parse_hosts(hosts_text, &hs);
    if (hs.n > 0) {
        size_t which = SIZE_MAX;
        if (!constraints_check(cs, &hs.h[0], hs.h + 1, hs.n - 1, &which) && which >= count)
            abort();
        /* the same offer where nothing runs yet */
        which = SIZE_MAX;
        if (!constraints_check(cs, &hs.h[0], NULL, 0, &which) && which >= count)
            abort();
    }
    constraints_free(cs);
out:
    json_decref(value);
    if (size >= sizeof(double)) {
        double v;
        memcpy(&v, data, sizeof(v));
        free(cons_format_scalar(v));
    }
    free(hosts_text);
    return 0;
}
