/*
 * resources: Mesos resources arithmetic (see resources.h for the contract).
 *
 * Canonical form, kept by every function that modifies a struct resources:
 *   - entries sorted by (name, role, type), at most one per key;
 *   - no entry with a zero amount (scalar milli == 0, no range, no item);
 *   - ranges sorted by begin and coalesced, overlapping *and* adjacent
 *     ones ([1-2],[3-4] -> [1-4]), as Mesos does;
 *   - set items sorted (strcmp) and unique.
 * With that, equality is a field-by-field comparison and containment a
 * merge walk.
 *
 * Scalars are int64 thousandths: Mesos keeps three decimals, and integer
 * arithmetic makes 0.1 + 0.2 - 0.3 exactly zero.
 */
#include "resources.h"

#include <ctype.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "pbjson.h"

/* Largest scalar accepted (value, not milli): far above any real machine,
 * and below 2^53 / 1000, where value * 1000 stops being exact in the double
 * that JSON and protobuf carry it in (1e15 was too much: 0.51e15 + 10 read
 * back 16 thousandths off; found by fuzz_resources). */
#define RES_SCALAR_MAX 1e12
#define RES_MILLI_MAX ((int64_t)(RES_SCALAR_MAX * 1000))

/* Sums of scalars saturate instead of overflowing (undefined behaviour):
 * a cluster's total of many slaves at the limit is still counted. */
static int64_t milli_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    return a + b;
}

/* ------------------------------------------------------------------ */
/* ranges on sorted, coalesced arrays                                  */
/* ------------------------------------------------------------------ */

static int range_cmp(const void *a, const void *b)
{
    const struct res_range *x = a, *y = b;
    if (x->begin != y->begin)
        return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

/* Sort and coalesce in place; *n shrinks. */
static void ranges_normalize(struct res_range *v, size_t *n)
{
    size_t o = 0;

    if (*n == 0)
        return;
    qsort(v, *n, sizeof(*v), range_cmp);
    for (size_t i = 1; i < *n; i++) {
        /* cur.end + 1 would overflow at UINT64_MAX: everything after
         * starts at or below it then. */
        if (v[o].end == UINT64_MAX || v[i].begin <= v[o].end + 1) {
            if (v[i].end > v[o].end)
                v[o].end = v[i].end;
        } else {
            v[++o] = v[i];
        }
    }
    *n = o + 1;
}

/* a and b normalized: is every number of b in a? A b range must lie inside
 * one a range, since a's ranges are coalesced. */
static bool ranges_contains(const struct res_range *a, size_t na, const struct res_range *b,
                            size_t nb)
{
    size_t i = 0;

    for (size_t k = 0; k < nb; k++) {
        while (i < na && a[i].end < b[k].begin)
            i++;
        if (i == na || a[i].begin > b[k].begin || a[i].end < b[k].end)
            return false;
    }
    return true;
}

/* a - b (both normalized) into a new array; b need not be contained. */
static struct res_range *ranges_subtract(const struct res_range *a, size_t na,
                                         const struct res_range *b, size_t nb, size_t *nout)
{
    /* Each b range splits at most one a range in two: na + nb bounds it. */
    struct res_range *out = xmalloc((na + nb + 1) * sizeof(*out));
    size_t o = 0, k = 0;

    for (size_t i = 0; i < na; i++) {
        uint64_t cur = a[i].begin;
        bool done = false;

        while (k < nb && b[k].end < cur)
            k++;
        for (size_t j = k; j < nb && b[j].begin <= a[i].end; j++) {
            if (b[j].begin > cur) {
                out[o].begin = cur;
                out[o].end = b[j].begin - 1;
                o++;
            }
            if (b[j].end >= a[i].end) {
                done = true;
                break;
            }
            if (b[j].end + 1 > cur)
                cur = b[j].end + 1;
        }
        if (!done) {
            out[o].begin = cur;
            out[o].end = a[i].end;
            o++;
        }
    }
    *nout = o;
    return out;
}

/* ------------------------------------------------------------------ */
/* sets                                                                */
/* ------------------------------------------------------------------ */

static int str_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sort and drop duplicates (freeing them) in place. */
static void items_normalize(char **v, size_t *n)
{
    size_t o = 0;

    if (*n == 0)
        return;
    qsort(v, *n, sizeof(*v), str_cmp);
    for (size_t i = 1; i < *n; i++) {
        if (strcmp(v[i], v[o]) == 0)
            free(v[i]);
        else
            v[++o] = v[i];
    }
    *n = o + 1;
}

static bool items_has(char *const *v, size_t n, const char *s)
{
    return n > 0 && bsearch(&s, v, n, sizeof(*v), str_cmp) != NULL;
}

/* ------------------------------------------------------------------ */
/* entries                                                             */
/* ------------------------------------------------------------------ */

static const char *type_name(enum res_type t)
{
    switch (t) {
    case RES_SCALAR:
        return "SCALAR";
    case RES_RANGES:
        return "RANGES";
    case RES_SET:
        return "SET";
    }
    return "?";
}

static void entry_free(struct resource *e)
{
    free(e->name);
    free(e->role);
    free(e->ranges);
    for (size_t i = 0; i < e->nitems; i++)
        free(e->items[i]);
    free(e->items);
    memset(e, 0, sizeof(*e));
}

static bool entry_is_empty(const struct resource *e)
{
    switch (e->type) {
    case RES_SCALAR:
        return e->milli <= 0;
    case RES_RANGES:
        return e->nranges == 0;
    case RES_SET:
        return e->nitems == 0;
    }
    return true;
}

static int entry_key_cmp(const struct resource *e, const char *name, const char *role,
                         enum res_type type)
{
    int c = strcmp(e->name, name);
    if (c == 0)
        c = strcmp(e->role, role);
    if (c == 0)
        c = (int)e->type - (int)type;
    return c;
}

static struct resource *res_find(const struct resources *r, const char *name, const char *role,
                                 enum res_type type)
{
    for (size_t i = 0; i < r->n; i++) {
        if (entry_key_cmp(&r->v[i], name, role, type) == 0)
            return &r->v[i];
    }
    return NULL;
}

/* The entry for the key, inserted empty at its sorted place if missing.
 * The pointer is valid until the next insertion. */
static struct resource *res_slot(struct resources *r, const char *name, const char *role,
                                 enum res_type type)
{
    size_t i = 0;

    for (; i < r->n; i++) {
        int c = entry_key_cmp(&r->v[i], name, role, type);
        if (c == 0)
            return &r->v[i];
        if (c > 0)
            break;
    }
    r->v = xrealloc(r->v, (r->n + 1) * sizeof(*r->v));
    memmove(&r->v[i + 1], &r->v[i], (r->n - i) * sizeof(*r->v));
    r->n++;
    memset(&r->v[i], 0, sizeof(r->v[i]));
    r->v[i].name = xstrdup(name);
    r->v[i].role = xstrdup(role);
    r->v[i].type = type;
    return &r->v[i];
}

static void res_drop_empty(struct resources *r)
{
    size_t o = 0;

    for (size_t i = 0; i < r->n; i++) {
        if (entry_is_empty(&r->v[i]))
            entry_free(&r->v[i]);
        else
            r->v[o++] = r->v[i];
    }
    r->n = o;
    if (r->n == 0) {
        free(r->v);
        r->v = NULL;
    }
}

/* dst += src for entries of the same key. */
static void entry_add(struct resource *dst, const struct resource *src)
{
    switch (src->type) {
    case RES_SCALAR:
        dst->milli = milli_add(dst->milli, src->milli);
        break;
    case RES_RANGES:
        dst->ranges = xrealloc(dst->ranges, (dst->nranges + src->nranges) * sizeof(*dst->ranges));
        memcpy(dst->ranges + dst->nranges, src->ranges, src->nranges * sizeof(*src->ranges));
        dst->nranges += src->nranges;
        ranges_normalize(dst->ranges, &dst->nranges);
        break;
    case RES_SET:
        dst->items = xrealloc(dst->items, (dst->nitems + src->nitems) * sizeof(*dst->items));
        for (size_t i = 0; i < src->nitems; i++)
            dst->items[dst->nitems++] = xstrdup(src->items[i]);
        items_normalize(dst->items, &dst->nitems);
        break;
    }
}

static bool entry_contains(const struct resource *a, const struct resource *b)
{
    switch (b->type) {
    case RES_SCALAR:
        return a->milli >= b->milli;
    case RES_RANGES:
        return ranges_contains(a->ranges, a->nranges, b->ranges, b->nranges);
    case RES_SET:
        for (size_t i = 0; i < b->nitems; i++) {
            if (!items_has(a->items, a->nitems, b->items[i]))
                return false;
        }
        return true;
    }
    return false;
}

/* a -= b; b must be contained in a. */
static void entry_sub(struct resource *a, const struct resource *b)
{
    switch (b->type) {
    case RES_SCALAR:
        a->milli -= b->milli;
        break;
    case RES_RANGES: {
        size_t n;
        struct res_range *v = ranges_subtract(a->ranges, a->nranges, b->ranges, b->nranges, &n);
        free(a->ranges);
        a->ranges = v;
        a->nranges = n;
        break;
    }
    case RES_SET: {
        size_t o = 0;
        for (size_t i = 0; i < a->nitems; i++) {
            if (items_has(b->items, b->nitems, a->items[i]))
                free(a->items[i]);
            else
                a->items[o++] = a->items[i];
        }
        a->nitems = o;
        break;
    }
    }
}

/* ------------------------------------------------------------------ */
/* basics                                                              */
/* ------------------------------------------------------------------ */

void res_init(struct resources *r)
{
    r->v = NULL;
    r->n = 0;
}

void res_cleanup(struct resources *r)
{
    for (size_t i = 0; i < r->n; i++)
        entry_free(&r->v[i]);
    free(r->v);
    res_init(r);
}

void res_copy(struct resources *dst, const struct resources *src)
{
    res_init(dst);
    if (src->n == 0)
        return;
    dst->v = xcalloc(src->n, sizeof(*dst->v));
    for (size_t i = 0; i < src->n; i++) {
        const struct resource *s = &src->v[i];
        struct resource *d = &dst->v[i];
        d->name = xstrdup(s->name);
        d->role = xstrdup(s->role);
        d->type = s->type;
        d->milli = s->milli;
        if (s->nranges > 0) {
            d->ranges = xmalloc(s->nranges * sizeof(*d->ranges));
            memcpy(d->ranges, s->ranges, s->nranges * sizeof(*d->ranges));
            d->nranges = s->nranges;
        }
        if (s->nitems > 0) {
            d->items = xmalloc(s->nitems * sizeof(*d->items));
            for (size_t k = 0; k < s->nitems; k++)
                d->items[k] = xstrdup(s->items[k]);
            d->nitems = s->nitems;
        }
    }
    dst->n = src->n;
}

bool res_empty(const struct resources *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (!entry_is_empty(&r->v[i]))
            return false;
    }
    return true;
}

/* ------------------------------------------------------------------ */
/* arithmetic                                                          */
/* ------------------------------------------------------------------ */

void res_add(struct resources *a, const struct resources *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct resource *e = &b->v[i];
        if (entry_is_empty(e))
            continue;
        entry_add(res_slot(a, e->name, e->role, e->type), e);
    }
    res_drop_empty(a);
}

bool res_contains(const struct resources *a, const struct resources *b)
{
    for (size_t i = 0; i < b->n; i++) {
        const struct resource *e = &b->v[i];
        const struct resource *have;
        if (entry_is_empty(e))
            continue;
        have = res_find(a, e->name, e->role, e->type);
        if (have == NULL || !entry_contains(have, e))
            return false;
    }
    return true;
}

int res_subtract(struct resources *a, const struct resources *b)
{
    if (!res_contains(a, b))
        return -1;
    for (size_t i = 0; i < b->n; i++) {
        const struct resource *e = &b->v[i];
        if (entry_is_empty(e))
            continue;
        entry_sub(res_find(a, e->name, e->role, e->type), e);
    }
    res_drop_empty(a);
    return 0;
}

bool res_equal(const struct resources *a, const struct resources *b)
{
    if (a->n != b->n)
        return false;
    for (size_t i = 0; i < a->n; i++) {
        const struct resource *x = &a->v[i], *y = &b->v[i];
        if (entry_key_cmp(x, y->name, y->role, y->type) != 0)
            return false;
        switch (x->type) {
        case RES_SCALAR:
            if (x->milli != y->milli)
                return false;
            break;
        case RES_RANGES:
            if (x->nranges != y->nranges ||
                (x->nranges > 0 &&
                 memcmp(x->ranges, y->ranges, x->nranges * sizeof(*x->ranges)) != 0))
                return false;
            break;
        case RES_SET:
            if (x->nitems != y->nitems)
                return false;
            for (size_t k = 0; k < x->nitems; k++) {
                if (strcmp(x->items[k], y->items[k]) != 0)
                    return false;
            }
            break;
        }
    }
    return true;
}

double res_scalar(const struct resources *r, const char *name)
{
    int64_t milli = 0;

    for (size_t i = 0; i < r->n; i++) {
        if (r->v[i].type == RES_SCALAR && strcmp(r->v[i].name, name) == 0)
            milli += r->v[i].milli;
    }
    return (double)milli / 1000.0;
}

static bool scalar_to_milli(double value, int64_t *milli)
{
    if (!isfinite(value) || value < 0 || value > RES_SCALAR_MAX)
        return false;
    *milli = llround(value * 1000.0);
    return true;
}

/* Non-positive or non-finite values add nothing: a negative resource has
 * no meaning, use res_subtract to take away. */
void res_add_scalar(struct resources *r, const char *name, const char *role, double value)
{
    int64_t milli;

    if (!scalar_to_milli(value, &milli) || milli == 0)
        return;
    {
        struct resource *slot = res_slot(r, name, role ? role : "*", RES_SCALAR);
        slot->milli = milli_add(slot->milli, milli);
    }
}

/* begin > end is an empty range and adds nothing. */
void res_add_range(struct resources *r, const char *name, const char *role, uint64_t begin,
                   uint64_t end)
{
    struct resource *e;

    if (begin > end)
        return;
    e = res_slot(r, name, role ? role : "*", RES_RANGES);
    e->ranges = xrealloc(e->ranges, (e->nranges + 1) * sizeof(*e->ranges));
    e->ranges[e->nranges].begin = begin;
    e->ranges[e->nranges].end = end;
    e->nranges++;
    ranges_normalize(e->ranges, &e->nranges);
}

/* Union of the ranges of `name` over all roles (caller frees). */
static struct res_range *ranges_of(const struct resources *r, const char *name, size_t *n)
{
    struct res_range *v = NULL;

    *n = 0;
    for (size_t i = 0; i < r->n; i++) {
        const struct resource *e = &r->v[i];
        if (e->type != RES_RANGES || strcmp(e->name, name) != 0)
            continue;
        v = xrealloc(v, (*n + e->nranges) * sizeof(*v));
        memcpy(v + *n, e->ranges, e->nranges * sizeof(*v));
        *n += e->nranges;
    }
    ranges_normalize(v, n);
    return v;
}

size_t res_range_values(const struct resources *r, const char *name, uint64_t *out, size_t max)
{
    size_t n, o = 0;
    struct res_range *v = ranges_of(r, name, &n);

    for (size_t i = 0; i < n && o < max; i++) {
        for (uint64_t p = v[i].begin; o < max; p++) {
            out[o++] = p;
            if (p == v[i].end)
                break;
        }
    }
    free(v);
    return o;
}

/* ------------------------------------------------------------------ */
/* text                                                                */
/* ------------------------------------------------------------------ */

static void str_append(char **buf, size_t *len, size_t *cap, const char *s)
{
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = xrealloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

/* Shortest decimal of a milli amount: 4000 -> "4", 1500 -> "1.5". */
static void fmt_milli(char *buf, size_t sz, int64_t milli)
{
    int64_t ip = milli / 1000;
    int frac = (int)(milli % 1000);
    int len;

    if (frac == 0) {
        snprintf(buf, sz, "%" PRId64, ip);
        return;
    }
    len = snprintf(buf, sz, "%" PRId64 ".%03d", ip, frac);
    while (len > 0 && buf[len - 1] == '0')
        buf[--len] = '\0';
}

static char *fmt_ranges(const struct res_range *v, size_t n)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char tmp[48];

    str_append(&buf, &len, &cap, "[");
    for (size_t i = 0; i < n; i++) {
        snprintf(tmp, sizeof(tmp), "%s%" PRIu64 "-%" PRIu64, i ? "," : "", v[i].begin, v[i].end);
        str_append(&buf, &len, &cap, tmp);
    }
    str_append(&buf, &len, &cap, "]");
    return buf;
}

static char *fmt_items(char *const *v, size_t n)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;

    str_append(&buf, &len, &cap, "{");
    for (size_t i = 0; i < n; i++) {
        if (i)
            str_append(&buf, &len, &cap, ",");
        str_append(&buf, &len, &cap, v[i]);
    }
    str_append(&buf, &len, &cap, "}");
    return buf;
}

char *res_format(const struct resources *r)
{
    char *buf = NULL;
    size_t len = 0, cap = 0;
    char tmp[32];

    str_append(&buf, &len, &cap, "");
    for (size_t i = 0; i < r->n; i++) {
        const struct resource *e = &r->v[i];
        char *val;

        if (i)
            str_append(&buf, &len, &cap, ";");
        str_append(&buf, &len, &cap, e->name);
        if (strcmp(e->role, "*") != 0) {
            str_append(&buf, &len, &cap, "(");
            str_append(&buf, &len, &cap, e->role);
            str_append(&buf, &len, &cap, ")");
        }
        str_append(&buf, &len, &cap, ":");
        switch (e->type) {
        case RES_SCALAR:
            fmt_milli(tmp, sizeof(tmp), e->milli);
            str_append(&buf, &len, &cap, tmp);
            break;
        case RES_RANGES:
            val = fmt_ranges(e->ranges, e->nranges);
            str_append(&buf, &len, &cap, val);
            free(val);
            break;
        case RES_SET:
            val = fmt_items(e->items, e->nitems);
            str_append(&buf, &len, &cap, val);
            free(val);
            break;
        }
    }
    return buf;
}

/* [s, e) trimmed of blanks, as a new string. */
static char *trim_dup(const char *s, const char *e)
{
    while (s < e && isspace((unsigned char)*s))
        s++;
    while (e > s && isspace((unsigned char)e[-1]))
        e--;
    return xstrndup(s, (size_t)(e - s));
}

/* Names and roles must not contain the syntax characters. */
/* A name, role or set item of the text syntax. It must also be valid
 * UTF-8 without control characters: every one of them reaches JSON (offers,
 * /state, the registry), where jansson refuses anything else and the
 * resource would silently vanish (found by fuzz_resources). */
static bool word_ok(const char *s)
{
    const char *p;
    json_t *j;

    if (*s == '\0')
        return false;
    for (p = s; *p; p++) {
        if (strchr("();:,[]{}", *p) || isspace((unsigned char)*p) || (unsigned char)*p < 0x20 ||
            *p == 0x7f)
            return false;
    }
    j = json_string(s);
    if (j == NULL)
        return false;
    json_decref(j);
    return true;
}

static bool parse_u64(const char *s, uint64_t *out)
{
    uint64_t v = 0;

    if (*s == '\0')
        return false;
    for (; *s; s++) {
        unsigned d;
        if (*s < '0' || *s > '9')
            return false;
        d = (unsigned)(*s - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    *out = v;
    return true;
}

/* "4", "0.5", "1e3": plain decimal only (no hex, inf, nan). */
static bool parse_scalar(const char *s, int64_t *milli)
{
    char *end;
    double v;

    if (*s == '\0' || strspn(s, "0123456789.eE+-") != strlen(s))
        return false;
    v = strtod(s, &end);
    if (*end != '\0')
        return false;
    return scalar_to_milli(v, milli);
}

/* Split the inside of "[...]" or "{...}" (delimiters already checked) at
 * commas and hand each trimmed token to fn; "[]" has no token, but an
 * empty token elsewhere ("[1-2,]") is an error. */
static bool parse_list(const char *s, bool (*fn)(char *tok, struct resource *e), struct resource *e)
{
    char *inner = trim_dup(s + 1, s + strlen(s) - 1);
    char *p = inner;
    bool ok = true;

    if (*inner == '\0') {
        free(inner);
        return true;
    }
    for (;;) {
        char *comma = strchr(p, ',');
        char *tok = trim_dup(p, comma ? comma : p + strlen(p));
        if (*tok == '\0') {
            free(tok);
            ok = false;
        } else {
            ok = fn(tok, e); /* fn owns tok */
        }
        if (!ok || comma == NULL)
            break;
        p = comma + 1;
    }
    free(inner);
    return ok;
}

/* "a-b" or "a" into e's ranges. */
static bool parse_range_tok(char *tok, struct resource *e)
{
    char *dash = strchr(tok, '-');
    struct res_range rg = { 0, 0 };
    bool ok;

    if (dash) {
        char *b, *en;
        *dash = '\0';
        b = trim_dup(tok, dash);
        en = trim_dup(dash + 1, dash + 1 + strlen(dash + 1));
        ok = parse_u64(b, &rg.begin) && parse_u64(en, &rg.end) && rg.begin <= rg.end;
        free(b);
        free(en);
    } else {
        ok = parse_u64(tok, &rg.begin);
        rg.end = rg.begin;
    }
    free(tok);
    if (!ok)
        return false;
    e->ranges = xrealloc(e->ranges, (e->nranges + 1) * sizeof(*e->ranges));
    e->ranges[e->nranges++] = rg;
    return true;
}

static bool parse_item_tok(char *tok, struct resource *e)
{
    if (!word_ok(tok)) {
        free(tok);
        return false;
    }
    e->items = xrealloc(e->items, (e->nitems + 1) * sizeof(*e->items));
    e->items[e->nitems++] = tok;
    return true;
}

static bool parse_ranges(const char *s, struct resource *e)
{
    if (!parse_list(s, parse_range_tok, e))
        return false;
    ranges_normalize(e->ranges, &e->nranges);
    return true;
}

static bool parse_items(const char *s, struct resource *e)
{
    if (!parse_list(s, parse_item_tok, e))
        return false;
    items_normalize(e->items, &e->nitems);
    return true;
}

/* Mesos requires one type per resource name. */
static int check_type(const struct resources *r, const char *name, enum res_type type,
                      const char *where, char **err)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(r->v[i].name, name) == 0 && r->v[i].type != type) {
            if (err)
                *err = xasprintf("%s'%s' is both %s and %s", where, name, type_name(r->v[i].type),
                                 type_name(type));
            return -1;
        }
    }
    return 0;
}

/* After adding an entry to slot: each entry is within RES_SCALAR_MAX, but
 * "cpus:1e12;cpus:1e12" adds up past it, to an amount that no JSON or
 * protobuf reader takes back (found by fuzz_resources). */
static int check_total(const struct resource *slot, const char *where, char **err)
{
    if (slot->type == RES_SCALAR && slot->milli > RES_MILLI_MAX) {
        if (err)
            *err = xasprintf("%s'%s' adds up to more than %g", where, slot->name, RES_SCALAR_MAX);
        return -1;
    }
    return 0;
}

/* One "name(role):value" entry of the text syntax, added to r. */
static int parse_entry(const char *ent, const char *default_role, struct resources *r, char **err)
{
    const char *colon = strchr(ent, ':');
    char *name = NULL, *role = NULL, *val = NULL;
    struct resource e;
    char *open;
    int rc = -1;

    memset(&e, 0, sizeof(e));
    if (colon == NULL) {
        if (err)
            *err = xasprintf("resources: bad entry '%s' (expected name:value)", ent);
        return -1;
    }
    name = trim_dup(ent, colon);
    val = trim_dup(colon + 1, colon + 1 + strlen(colon + 1));
    open = strchr(name, '(');
    if (open != NULL) {
        size_t nl = strlen(name);
        if (name[nl - 1] != ')') {
            if (err)
                *err = xasprintf("resources: bad role in '%s'", ent);
            goto out;
        }
        name[nl - 1] = '\0';
        role = trim_dup(open + 1, open + 1 + strlen(open + 1));
        *open = '\0';
        if (!word_ok(role)) {
            if (err)
                *err = xasprintf("resources: bad role in '%s'", ent);
            goto out;
        }
    } else {
        role = xstrdup(default_role ? default_role : "*");
    }
    {
        char *t = trim_dup(name, name + strlen(name));
        free(name);
        name = t;
    }
    if (!word_ok(name)) {
        if (err)
            *err = xasprintf("resources: bad name in '%s'", ent);
        goto out;
    }

    e.name = name;
    e.role = role;
    if (val[0] == '[') {
        e.type = RES_RANGES;
        if (val[strlen(val) - 1] != ']' || !parse_ranges(val, &e))
            goto bad_value;
    } else if (val[0] == '{') {
        e.type = RES_SET;
        if (val[strlen(val) - 1] != '}' || !parse_items(val, &e))
            goto bad_value;
    } else {
        e.type = RES_SCALAR;
        if (!parse_scalar(val, &e.milli))
            goto bad_value;
    }
    if (check_type(r, name, e.type, "resources: ", err) < 0)
        goto out;
    if (!entry_is_empty(&e)) {
        struct resource *slot = res_slot(r, name, role, e.type);
        entry_add(slot, &e);
        if (check_total(slot, "resources: ", err) < 0)
            goto out;
    }
    rc = 0;
    goto out;

bad_value:
    if (err)
        *err = xasprintf("resources: bad value '%s' for '%s'", val, name);
out:
    /* e borrows name and role; free them once, below. */
    e.name = NULL;
    e.role = NULL;
    entry_free(&e);
    free(name);
    free(role);
    free(val);
    return rc;
}

static int res_from_pb_role(Mesos__V1__Resource *const *pb, size_t n, const char *default_role,
                            struct resources *r, char **err);

/* The JSON array goes through pbjson as the `resources` field of a
 * TaskResourceLimitation (a message holding only that field), so the
 * errors carry paths like "resources[2].scalar.value". */
static int res_from_json_role(const json_t *json, const char *default_role, struct resources *r,
                              char **err)
{
    json_t *wrap;
    Mesos__V1__TaskResourceLimitation *lim;
    int rc;

    if (err)
        *err = NULL;
    if (!json_is_array(json)) {
        if (err)
            *err = xstrdup("resources: expected a JSON array of Resource objects");
        return -1;
    }
    wrap = json_pack("{sO}", "resources", (json_t *)json);
    lim = (Mesos__V1__TaskResourceLimitation *)pbjson_decode(
        &mesos__v1__task_resource_limitation__descriptor, wrap, err);
    json_decref(wrap);
    if (lim == NULL)
        return -1;
    rc = res_from_pb_role(lim->resources, lim->n_resources, default_role, r, err);
    protobuf_c_message_free_unpacked(&lim->base, NULL);
    return rc;
}

int res_from_json(const json_t *json, struct resources *r, char **err)
{
    return res_from_json_role(json, NULL, r, err);
}

/* Errors quote user text and may end up in a JSON error body, which
 * jansson only builds from valid UTF-8: if it is not, degrade every
 * non-ASCII byte to '?'. */
static void err_scrub(char **err)
{
    json_t *j;

    if (err == NULL || *err == NULL)
        return;
    j = json_string(*err);
    if (j != NULL) {
        json_decref(j);
        return;
    }
    for (unsigned char *p = (unsigned char *)*err; *p; p++) {
        if (*p >= 0x80)
            *p = '?';
    }
}

int res_parse(const char *text, const char *default_role, struct resources *r, char **err)
{
    const char *p = text;

    if (err)
        *err = NULL;
    while (isspace((unsigned char)*p))
        p++;
    /* Mesos --resources also takes the JSON form; a text entry never
     * starts with '['. */
    if (*p == '[') {
        json_error_t jerr;
        json_t *j = json_loads(p, 0, &jerr);
        int rc;
        if (j == NULL) {
            if (err)
                *err = xasprintf("resources: invalid JSON at line %d, column %d: %s", jerr.line,
                                 jerr.column, jerr.text);
            err_scrub(err);
            return -1;
        }
        rc = res_from_json_role(j, default_role, r, err);
        json_decref(j);
        err_scrub(err);
        return rc;
    }

    while (*p) {
        const char *semi = strchr(p, ';');
        const char *end = semi ? semi : p + strlen(p);
        char *ent = trim_dup(p, end);
        int rc = 0;

        if (*ent != '\0')
            rc = parse_entry(ent, default_role, r, err);
        free(ent);
        if (rc < 0) {
            res_cleanup(r);
            err_scrub(err);
            return -1;
        }
        p = semi ? semi + 1 : end;
    }
    return 0;
}

/* ------------------------------------------------------------------ */
/* protobuf and JSON                                                   */
/* ------------------------------------------------------------------ */

/* Resource.role is deprecated in Mesos (reservations replace it) but is
 * still what pre-refinement clients send and expect: access it in one
 * place, without the deprecation warning. */
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
static const char *pb_get_role(const Mesos__V1__Resource *res)
{
    return res->role;
}

static void pb_set_role(Mesos__V1__Resource *res, char *role)
{
    res->role = role;
}
#pragma GCC diagnostic pop

/* Role of a Resource: refined reservations win (the last is the most
 * specific), else the pre-refinement `role` field, else default_role. An
 * untouched `role` still points at protobuf-c's shared "*" default. */
static const char *pb_role(const Mesos__V1__Resource *res, const char *default_role)
{
    if (res->n_reservations > 0) {
        const Mesos__V1__Resource__ReservationInfo *ri = res->reservations[res->n_reservations - 1];
        if (ri != NULL && ri->role != NULL)
            return ri->role;
    }
    if (pb_get_role(res) != NULL && pb_get_role(res) != mesos__v1__resource__role__default_value)
        return pb_get_role(res);
    return default_role ? default_role : "*";
}

static int res_from_pb_role(Mesos__V1__Resource *const *pb, size_t n, const char *default_role,
                            struct resources *r, char **err)
{
    struct resource e;
    char where[64];

    if (err)
        *err = NULL;
    memset(&e, 0, sizeof(e));
    for (size_t i = 0; i < n; i++) {
        const Mesos__V1__Resource *res = pb[i];
        const char *role;

        if (res == NULL || res->name == NULL || res->name[0] == '\0') {
            if (err)
                *err = xasprintf("resources[%zu].name: missing", i);
            goto fail;
        }
        role = pb_role(res, default_role);
        memset(&e, 0, sizeof(e));
        switch (res->type) {
        case MESOS__V1__VALUE__TYPE__SCALAR:
            e.type = RES_SCALAR;
            if (res->scalar == NULL) {
                if (err)
                    *err = xasprintf("resources[%zu].scalar: missing for SCALAR", i);
                goto fail;
            }
            if (!scalar_to_milli(res->scalar->value, &e.milli)) {
                if (err)
                    *err = xasprintf("resources[%zu].scalar.value: bad value %g for '%s'", i,
                                     res->scalar->value, res->name);
                goto fail;
            }
            break;
        case MESOS__V1__VALUE__TYPE__RANGES:
            e.type = RES_RANGES;
            if (res->ranges == NULL) {
                if (err)
                    *err = xasprintf("resources[%zu].ranges: missing for RANGES", i);
                goto fail;
            }
            e.ranges = xcalloc(res->ranges->n_range + 1, sizeof(*e.ranges));
            for (size_t k = 0; k < res->ranges->n_range; k++) {
                const Mesos__V1__Value__Range *rg = res->ranges->range[k];
                if (rg == NULL || rg->begin > rg->end) {
                    if (err)
                        *err = xasprintf("resources[%zu].ranges.range[%zu]: begin %" PRIu64
                                         " greater than end %" PRIu64,
                                         i, k, rg ? rg->begin : 0, rg ? rg->end : 0);
                    goto fail;
                }
                e.ranges[e.nranges].begin = rg->begin;
                e.ranges[e.nranges].end = rg->end;
                e.nranges++;
            }
            ranges_normalize(e.ranges, &e.nranges);
            break;
        case MESOS__V1__VALUE__TYPE__SET:
            e.type = RES_SET;
            if (res->set == NULL) {
                if (err)
                    *err = xasprintf("resources[%zu].set: missing for SET", i);
                goto fail;
            }
            e.items = xcalloc(res->set->n_item + 1, sizeof(*e.items));
            for (size_t k = 0; k < res->set->n_item; k++) {
                if (res->set->item[k] == NULL) {
                    if (err)
                        *err = xasprintf("resources[%zu].set.item[%zu]: missing", i, k);
                    goto fail;
                }
                e.items[e.nitems++] = xstrdup(res->set->item[k]);
            }
            items_normalize(e.items, &e.nitems);
            break;
        default:
            if (err)
                *err = xasprintf("resources[%zu].type: %d not supported for resources", i,
                                 (int)res->type);
            goto fail;
        }
        snprintf(where, sizeof(where), "resources[%zu]: ", i);
        if (check_type(r, res->name, e.type, where, err) < 0)
            goto fail;
        if (!entry_is_empty(&e)) {
            struct resource *slot = res_slot(r, res->name, role, e.type);
            entry_add(slot, &e);
            if (check_total(slot, where, err) < 0)
                goto fail;
        }
        entry_free(&e);
    }
    return 0;

fail:
    entry_free(&e);
    res_cleanup(r);
    err_scrub(err);
    return -1;
}

int res_from_pb(Mesos__V1__Resource *const *pb, size_t n, struct resources *r, char **err)
{
    return res_from_pb_role(pb, n, NULL, r, err);
}

static Mesos__V1__Resource *entry_to_pb(const struct resource *e)
{
    Mesos__V1__Resource *res = xmalloc(sizeof(*res));

    mesos__v1__resource__init(res);
    res->name = xstrdup(e->name);
    pb_set_role(res, xstrdup(e->role));
    switch (e->type) {
    case RES_SCALAR:
        res->type = MESOS__V1__VALUE__TYPE__SCALAR;
        res->scalar = xmalloc(sizeof(*res->scalar));
        mesos__v1__value__scalar__init(res->scalar);
        res->scalar->value = (double)e->milli / 1000.0;
        break;
    case RES_RANGES:
        res->type = MESOS__V1__VALUE__TYPE__RANGES;
        res->ranges = xmalloc(sizeof(*res->ranges));
        mesos__v1__value__ranges__init(res->ranges);
        res->ranges->range = xcalloc(e->nranges + 1, sizeof(*res->ranges->range));
        for (size_t k = 0; k < e->nranges; k++) {
            Mesos__V1__Value__Range *rg = xmalloc(sizeof(*rg));
            mesos__v1__value__range__init(rg);
            rg->begin = e->ranges[k].begin;
            rg->end = e->ranges[k].end;
            res->ranges->range[k] = rg;
        }
        res->ranges->n_range = e->nranges;
        break;
    case RES_SET:
        res->type = MESOS__V1__VALUE__TYPE__SET;
        res->set = xmalloc(sizeof(*res->set));
        mesos__v1__value__set__init(res->set);
        res->set->item = xcalloc(e->nitems + 1, sizeof(*res->set->item));
        for (size_t k = 0; k < e->nitems; k++)
            res->set->item[k] = xstrdup(e->items[k]);
        res->set->n_item = e->nitems;
        break;
    }
    return res;
}

/* Every part is its own heap block, as after protobuf_c_message_unpack,
 * so the messages may also be handed to a parent message and freed with
 * it by protobuf_c_message_free_unpacked. Empty input gives NULL, *n = 0. */
Mesos__V1__Resource **res_to_pb(const struct resources *r, size_t *n)
{
    Mesos__V1__Resource **pb = NULL;
    size_t o = 0;

    if (r->n > 0)
        pb = xcalloc(r->n, sizeof(*pb));
    for (size_t i = 0; i < r->n; i++) {
        if (!entry_is_empty(&r->v[i]))
            pb[o++] = entry_to_pb(&r->v[i]);
    }
    if (o == 0) {
        free(pb);
        pb = NULL;
    }
    *n = o;
    return pb;
}

void res_pb_free(Mesos__V1__Resource **pb, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (pb[i])
            protobuf_c_message_free_unpacked(&pb[i]->base, NULL);
    }
    free(pb);
}

json_t *res_to_json_array(const struct resources *r)
{
    json_t *arr = json_array();

    for (size_t i = 0; i < r->n; i++) {
        Mesos__V1__Resource *res;
        if (entry_is_empty(&r->v[i]))
            continue;
        res = entry_to_pb(&r->v[i]);
        json_array_append_new(arr, pbjson_encode(&res->base));
        protobuf_c_message_free_unpacked(&res->base, NULL);
    }
    return arr;
}

/* Scalars summed over roles, ranges and sets merged over roles and shown in
 * the text syntax, as Mesos's /state "resources" objects. */
json_t *res_to_json_summary(const struct resources *r)
{
    static const char *const always[] = { "cpus", "mem", "disk", "gpus" };
    json_t *obj = json_object();

    for (size_t i = 0; i < sizeof(always) / sizeof(always[0]); i++)
        json_object_set_new(obj, always[i], json_real(res_scalar(r, always[i])));
    for (size_t i = 0; i < r->n; i++) {
        const struct resource *e = &r->v[i];
        char *s = NULL;

        if (json_object_get(obj, e->name) != NULL)
            continue; /* already summed over roles */
        switch (e->type) {
        case RES_SCALAR:
            json_object_set_new(obj, e->name, json_real(res_scalar(r, e->name)));
            break;
        case RES_RANGES: {
            size_t n;
            struct res_range *v = ranges_of(r, e->name, &n);
            s = fmt_ranges(v, n);
            free(v);
            break;
        }
        case RES_SET: {
            /* Gather every role's items, then sort and dedupe. */
            char **items = NULL;
            size_t n = 0;
            for (size_t k = i; k < r->n; k++) {
                const struct resource *o = &r->v[k];
                if (o->type != RES_SET || strcmp(o->name, e->name) != 0)
                    continue;
                items = xrealloc(items, (n + o->nitems) * sizeof(*items));
                for (size_t m = 0; m < o->nitems; m++)
                    items[n++] = xstrdup(o->items[m]);
            }
            items_normalize(items, &n);
            s = fmt_items(items, n);
            for (size_t m = 0; m < n; m++)
                free(items[m]);
            free(items);
            break;
        }
        }
        if (s != NULL) {
            json_object_set_new(obj, e->name, json_string(s));
            free(s);
        }
    }
    return obj;
}
