/*
 * fuzz_resources: libFuzzer target for the resources parser and its
 * arithmetic (common/resources.c) — what a slave's --resources and every
 * offer, launch and reservation go through.
 *
 * The input is split at its first NUL into two resource texts, a (default
 * role "*") and b (default role "web"); either may be the text syntax or
 * the JSON array form. Besides crashes, leaks and sanitizer findings
 * (signed overflow of the fixed-point scalars included) it checks the
 * invariants the allocator relies on, for whatever parses:
 *   - the JSON array and the protobuf forms read back equal;
 *   - the text a formats to reads back equal, for text input whose set
 *     items are plain words;
 *   - a contains a; a + b contains a and b, and (a + b) - b is within a
 *     (ranges and sets add as unions);
 *   - a - b succeeds exactly when a contains b, leaves a unchanged when
 *     it fails, and (a - b) + b == a when it succeeds.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "resources.h"

static void check_forms(const struct resources *r, bool text_form)
{
    struct resources back;
    char *err = NULL;

    json_t *j = res_to_json_array(r);
    res_init(&back);
    if (res_from_json(j, &back, &err) != 0 || !res_equal(r, &back))
        abort();
    res_cleanup(&back);
    json_decref(j);

    size_t n;
    Mesos__V1__Resource **pb = res_to_pb(r, &n);
    res_init(&back);
    if (res_from_pb(pb, n, &back, &err) != 0 || !res_equal(r, &back))
        abort();
    res_cleanup(&back);
    res_pb_free(pb, n);

    json_decref(res_to_json_summary(r));
    uint64_t ports[64];
    (void)res_range_values(r, "ports", ports, 64);
    (void)res_scalar(r, "cpus");

    char *text = res_format(r);
    if (text_form) {
        res_init(&back);
        if (res_parse(text, NULL, &back, &err) != 0 || !res_equal(r, &back))
            abort();
        res_cleanup(&back);
    }
    free(text);
}

/* Text input whose format is meant to read back: not the JSON form, and
 * no character the text syntax cannot carry in a set item. */
static bool plain_text(const char *s)
{
    while (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' || *s == '\f' || *s == '\v')
        s++;
    return *s != '[';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = xmalloc(size + 2);
    memcpy(in, data, size);
    in[size] = in[size + 1] = '\0';
    const char *ta = in;
    const char *tb = ta + strlen(ta) + 1;
    struct resources a, b, sum, diff;
    char *err = NULL;
    int ra, rb;

    res_init(&a);
    res_init(&b);
    ra = res_parse(ta, NULL, &a, &err);
    if (ra != 0 && err == NULL)
        abort();
    free(err);
    err = NULL;
    rb = res_parse(tb, "web", &b, &err);
    if (rb != 0 && err == NULL)
        abort();
    free(err);
    err = NULL;
    if (ra == 0)
        check_forms(&a, plain_text(ta));
    if (rb == 0)
        check_forms(&b, plain_text(tb));
    if (ra == 0 && rb == 0) {
        if (!res_contains(&a, &a) || !res_contains(&b, &b))
            abort();
        res_copy(&sum, &a);
        res_add(&sum, &b);
        if (!res_contains(&sum, &a) || !res_contains(&sum, &b))
            abort();
        /* Ranges and sets add as unions (as in Mesos), so (a + b) - b
         * gives back a only where a and b do not overlap: at most a. */
        if (res_subtract(&sum, &b) != 0 || !res_contains(&a, &sum))
            abort();
        res_cleanup(&sum);

        res_copy(&diff, &a);
        bool has = res_contains(&a, &b);
        int rc = res_subtract(&diff, &b);
        if ((rc == 0) != has)
            abort();
        if (rc != 0 && !res_equal(&diff, &a))
            abort();
        if (rc == 0) {
            res_add(&diff, &b);
            if (!res_equal(&diff, &a))
                abort();
        }
        res_cleanup(&diff);
    }
    res_cleanup(&a);
    res_cleanup(&b);
    free(in);
    return 0;
}
