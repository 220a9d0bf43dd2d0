/*
 * constraints: Marathon 1.10's placement constraints, validated as
 * SchedulingValidation.complyWithAppConstraintRules does and evaluated as
 * mesosphere.mesos.Constraints (v1.10.26) does.
 *
 * A field is "hostname"/"@hostname" (the slave's host name) or the name of
 * a slave attribute, looked up in cons_host.attrs; placement.c adds the
 * fault domain as the pseudo-attributes "@region" and "@zone", so those
 * two fields need nothing special here. Values are compared as text, in
 * the form Marathon formats them: scalars "0.###", ranges "[a-b,c-d]",
 * sets "{a,b}".
 *
 * LIKE/UNLIKE take Java regular expressions, fully anchored
 * (String.matches). They run on POSIX EREs: java_to_ere() translates what
 * commonly differs (\d, \D, (?:...), backreference numbers, escapes inside
 * brackets); Java-only syntax beyond that (lookaround, possessive
 * quantifiers, inline flags) fails to compile and is refused at
 * validation with Marathon's "is not a valid regular expression". So are
 * backreferences and expressions regcomp would make huge
 * (ere_small_enough): either would let one app stall or exhaust Pacer.
 */
#include "constraints.h"

#include <limits.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

enum cons_op {
    CONS_UNIQUE,
    CONS_CLUSTER,
    CONS_GROUP_BY,
    CONS_LIKE,
    CONS_UNLIKE,
    CONS_MAX_PER,
    CONS_IS
};

static const char *const op_names[] = {
    [CONS_UNIQUE] = "UNIQUE", [CONS_CLUSTER] = "CLUSTER", [CONS_GROUP_BY] = "GROUP_BY",
    [CONS_LIKE] = "LIKE",     [CONS_UNLIKE] = "UNLIKE",   [CONS_MAX_PER] = "MAX_PER",
    [CONS_IS] = "IS",
};

/* Marathon's messages (SchedulingValidationMessages, 1.10.26). */
#define MSG_FIELDS "Each constraint must have either 2 or 3 fields"
#define MSG_ILLEGAL "illegal constraint specification"
#define MSG_OPERATOR \
    "operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, LIKE, MAX_PER, UNLIKE or IS"
#define MSG_UNIQUE "UNIQUE does not accept a value"
#define MSG_GROUP_BY "GROUP BY must define an integer value or else no value at all"
#define MSG_MAX_PER "MAX_PER requires an integer value"
#define MSG_LIKE "LIKE and UNLIKE require a non-empty, regular expression value"
#define MSG_REGEX "is not a valid regular expression"
#define MSG_IS                                           \
    "IS only supports Mesos text and float values (see " \
    "http://mesos.apache.org/documentation/latest/attributes-resources/)"

struct constraint {
    char *field;
    enum cons_op op;
    char *value;    /* NULL when the constraint has 2 items */
    int number;     /* GROUP_BY: expected groups (0 = none given); MAX_PER: max per value */
    char *is_value; /* IS: the value as compared (a scalar formatted "0.###") */
    regex_t re;     /* LIKE/UNLIKE with a non-empty value */
    bool has_re;
    char *text; /* constraints_describe */
};

struct constraints {
    struct constraint *v;
    size_t n;
};

/* Java's Integer.parseInt: optional sign, decimal digits, within int32. */
static bool parse_java_int(const char *s, int *out)
{
    const char *p = s;
    long long v = 0;
    bool neg = false;

    if (*p == '+' || *p == '-')
        neg = *p++ == '-';
    if (*p == '\0')
        return false;
    for (; *p; p++) {
        if (*p < '0' || *p > '9')
            return false;
        v = v * 10 + (*p - '0');
        if (v > (long long)INT_MAX + 1)
            return false;
    }
    if (neg)
        v = -v;
    if (v > INT_MAX || v < INT_MIN)
        return false;
    *out = (int)v;
    return true;
}

/* Marathon's MesosScalarValue: [0-9]+(\.[0-9]+)?, matched whole. */
static bool is_mesos_scalar(const char *s)
{
    const char *p = s;

    if (*p < '0' || *p > '9')
        return false;
    while (*p >= '0' && *p <= '9')
        p++;
    if (*p == '.') {
        p++;
        if (*p < '0' || *p > '9')
            return false;
        while (*p >= '0' && *p <= '9')
            p++;
    }
    return *p == '\0';
}

/* Marathon's MesosLiteralOrFloatValue, ^[a-zA-Z0-9_/.-]*$, for IS. */
static bool is_text_or_float(const char *s)
{
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              strchr("_/.-", *s)))
            return false;
    }
    return true;
}

/* Java's DecimalFormat("0.###"): three decimals at most, no trailing
 * zeros, so that IS "0.80" matches an attribute of 0.8; placement.c
 * turns scalar attributes into text with it. Caller frees. */
char *cons_format_scalar(double v)
{
    char *s = xasprintf("%.3f", v);
    char *dot = strchr(s, '.');

    if (dot) {
        char *end = s + strlen(s) - 1;
        while (end > dot && *end == '0')
            *end-- = '\0';
        if (end == dot)
            *end = '\0';
    }
    if (strcmp(s, "-0") == 0)
        strcpy(s, "0");
    return s;
}

/* Translate a Java regular expression into a POSIX ERE wrapped as
 * ^(...)$, which is what String.matches tests. Caller frees. */
static char *java_to_ere(const char *in)
{
    size_t cap = strlen(in) * 10 + 8;
    char *out = xmalloc(cap);
    size_t o = 0;
    bool bracket = false;

    out[o++] = '^';
    out[o++] = '(';
    for (const char *p = in; *p; p++) {
        const char *rep = NULL;
        char one[3] = { 0 };

        if (*p == '\\' && p[1] != '\0') {
            char c = *++p;
            if (bracket) {
                /* POSIX takes a backslash inside [] literally: drop the escape. */
                switch (c) {
                case 'd':
                    rep = "0-9";
                    break;
                case 's':
                    rep = "[:space:]";
                    break;
                case 'w':
                    rep = "[:alnum:]_";
                    break;
                case 't':
                    rep = "\t";
                    break;
                case 'n':
                    rep = "\n";
                    break;
                default:
                    one[0] = c;
                    rep = one;
                }
            } else {
                switch (c) {
                case 'd':
                    rep = "[0-9]";
                    break;
                case 'D':
                    rep = "[^0-9]";
                    break;
                case 't':
                    rep = "\t";
                    break;
                case 'n':
                    rep = "\n";
                    break;
                default:
                    /* Our ^( adds a group before the user's: shift backreferences. */
                    one[0] = '\\';
                    one[1] = (c >= '1' && c <= '8') ? (char)(c + 1) : c;
                    rep = one;
                }
            }
        } else if (!bracket && p[0] == '(' && p[1] == '?' && p[2] == ':') {
            rep = "(";
            p += 2;
        } else if (!bracket && *p == '[') {
            bracket = true;
            one[0] = '[';
            if (p[1] == '^') {
                one[1] = '^';
                p++;
            }
            rep = one;
        } else if (bracket && *p == ']') {
            bracket = false;
            rep = "]";
        } else {
            one[0] = *p;
            rep = one;
        }
        size_t len = strlen(rep);
        memcpy(out + o, rep, len);
        o += len;
    }
    out[o++] = ')';
    out[o++] = '$';
    out[o] = '\0';
    return out;
}

/* Largest expression compile_regex lets regcomp build, in rough nodes.
 * Real constraints ("rack-[0-9]+", "web[0-9]\\.example\\.com") need
 * tens. */
#define CONS_REGEX_MAX_NODES 4096

/* Number of the bound of a {n,m} repetition at *pp (moved past it); -1 when
 * there is none or it is absurd. */
static long dup_bound(const char **pp)
{
    const char *p = *pp;
    long v = 0;

    if (*p < '0' || *p > '9')
        return -1;
    while (*p >= '0' && *p <= '9') {
        v = v * 10 + (*p++ - '0');
        if (v > 100000)
            return -1;
    }
    *pp = p;
    return v;
}

/* Is the ERE small enough for regcomp, and free of backreferences? glibc
 * copies the operand of '+' and of {n,m} once per repetition, so
 * repetitions multiply: "a++++..." (40 '+', taken from Java's possessive
 * "a++") or nested bounds made
 * regcomp allocate gigabytes from one constraint of a client's app (found
 * by fuzz_constraints). Estimates the nodes per group level: an atom is
 * 1, a group the sum of its items, a repetition multiplies the item
 * before it. Malformed input is left to regcomp to refuse. */
static bool ere_small_enough(const char *ere)
{
    enum { MAX_DEPTH = 32 };
    size_t sum[MAX_DEPTH], last[MAX_DEPTH];
    /* Repetitions nested in each other, in the group so far and in its
     * last item: "((a+)*)+" is 3, and regcomp's closures on such nesting
     * also take minutes; 2 ("(\\.[a-z]+)*") is what constraints use. */
    int nest[MAX_DEPTH], last_nest[MAX_DEPTH];
    int d = 0;
    bool after_rep = false; /* the last token was a repetition */

    sum[0] = last[0] = 0;
    nest[0] = last_nest[0] = 0;
    for (const char *p = ere; *p; p++) {
        size_t atom = 1, mult;
        int atom_nest = 0;

        /* A repetition of a repetition ("a+*", Java's lazy "a+?" and
         * possessive "a++"): glibc's closure computation takes minutes on a
         * few of them ("a++++*+++++": 57 s); Java refuses most as well. */
        if (after_rep && (*p == '*' || *p == '+' || *p == '?' || *p == '{'))
            return false;
        after_rep = *p == '*' || *p == '+' || *p == '?' || *p == '{';
        switch (*p) {
        case '\\':
            /* A backreference makes glibc's regexec backtrack: 17 s for
             * "((a*)*\\2\\2\\2b)" on 120 characters, per offer, on
             * Pacer's loop. Constraints have no use for them. */
            if (p[1] >= '1' && p[1] <= '9')
                return false;
            if (p[1] != '\0')
                p++;
            break;
        case '[':
            /* to the closing ']': one atom ("[]...]" and "[^]...]" start
             * with a literal ']', "[:alpha:]" holds one) */
            p++;
            if (*p == '^')
                p++;
            if (*p == ']')
                p++;
            while (*p && *p != ']') {
                if (p[0] == '[' && (p[1] == ':' || p[1] == '.' || p[1] == '=')) {
                    const char *close = strchr(p + 2, ']');
                    if (close == NULL)
                        return true;
                    p = close;
                }
                p++;
            }
            if (*p == '\0')
                return true;
            break;
        case '(':
            if (++d >= MAX_DEPTH)
                return false;
            sum[d] = last[d] = 0;
            nest[d] = last_nest[d] = 0;
            continue;
        case ')':
            if (d == 0)
                return true;
            atom_nest = nest[d];
            atom = sum[d--];
            break;
        case '*':
        case '?':
            if (++last_nest[d] > 2)
                return false;
            nest[d] = last_nest[d] > nest[d] ? last_nest[d] : nest[d];
            continue;
        case '+':
        case '{': {
            if (*p == '+') {
                mult = 2;
            } else {
                const char *q = p + 1;
                long lo = dup_bound(&q), hi = lo;
                if (lo >= 0 && *q == ',') {
                    q++;
                    hi = *q == '}' ? lo : dup_bound(&q);
                }
                if (lo < 0 || hi < 0 || *q != '}')
                    break; /* not a bound: regcomp decides what it is */
                mult = (size_t)(hi > lo ? hi : lo) + 1;
                p = q;
            }
            sum[d] += last[d] * (mult - 1);
            last[d] *= mult;
            if (sum[d] > CONS_REGEX_MAX_NODES || ++last_nest[d] > 2)
                return false;
            nest[d] = last_nest[d] > nest[d] ? last_nest[d] : nest[d];
            continue;
        }
        default:
            break;
        }
        sum[d] += atom;
        last[d] = atom;
        last_nest[d] = atom_nest;
        nest[d] = atom_nest > nest[d] ? atom_nest : nest[d];
        if (sum[d] > CONS_REGEX_MAX_NODES)
            return false;
    }
    return true;
}

static bool compile_regex(const char *java, regex_t *re)
{
    char *ere = java_to_ere(java);
    int rc;

    if (!ere_small_enough(ere)) {
        free(ere);
        return false;
    }
    rc = regcomp(re, ere, REG_EXTENDED | REG_NOSUB);

    free(ere);
    return rc == 0;
}

static bool parse_op(const char *s, enum cons_op *op)
{
    for (size_t i = 0; i < sizeof(op_names) / sizeof(op_names[0]); i++) {
        /* Marathon upper-cases the operator before matching it. */
        if (strcasecmp(s, op_names[i]) == 0) {
            *op = (enum cons_op)i;
            return true;
        }
    }
    return false;
}

/* The one message for constraint c (Marathon reports one per
 * constraint), or NULL when it is valid. Static strings. */
static const char *check_one(const json_t *c)
{
    const char *field, *value = NULL;
    enum cons_op op;
    size_t n;
    int num;

    if (!json_is_array(c))
        return "error.expected.jsarray";
    n = json_array_size(c);
    for (size_t k = 0; k < n; k++) {
        if (!json_is_string(json_array_get(c, k)))
            return "error.expected.jsstring";
    }
    if (n < 2 || n > 3)
        return MSG_FIELDS;
    field = json_string_value(json_array_get(c, 0));
    if (n == 3)
        value = json_string_value(json_array_get(c, 2));
    /* 1.10 answers an empty field with its generic message, not with
     * "missing field for constraint declaration" (SchedulingValidationTest). */
    if (field[0] == '\0')
        return MSG_ILLEGAL;
    if (!parse_op(json_string_value(json_array_get(c, 1)), &op))
        return MSG_OPERATOR;
    switch (op) {
    case CONS_UNIQUE:
        return value ? MSG_UNIQUE : NULL;
    case CONS_CLUSTER:
        return NULL;
    case CONS_GROUP_BY:
        return (value && !parse_java_int(value, &num)) ? MSG_GROUP_BY : NULL;
    case CONS_MAX_PER:
        return (!value || !parse_java_int(value, &num)) ? MSG_MAX_PER : NULL;
    case CONS_LIKE:
    case CONS_UNLIKE: {
        regex_t re;
        if (!value)
            return MSG_LIKE;
        if (!compile_regex(value, &re))
            return MSG_REGEX;
        regfree(&re);
        return NULL;
    }
    case CONS_IS:
        return is_text_or_float(value ? value : "") ? NULL : MSG_IS;
    }
    return MSG_OPERATOR;
}

static void add_detail(json_t *details, const char *path, const char *msg)
{
    json_t *d = json_object();

    json_object_set_new(d, "path", json_string(path));
    json_object_set_new(d, "errors", json_pack("[s]", msg));
    json_array_append_new(details, d);
}

int constraints_validate(const json_t *value, json_t *details)
{
    int nerr = 0;
    size_t i;
    json_t *c;

    if (value == NULL || json_is_null(value))
        return 0;
    if (!json_is_array(value)) {
        add_detail(details, "/constraints", "error.expected.jsarray");
        return 1;
    }
    json_array_foreach(value, i, c)
    {
        const char *msg = check_one(c);
        if (msg) {
            char path[48];
            snprintf(path, sizeof(path), "/constraints(%zu)", i);
            add_detail(details, path, msg);
            nerr++;
        }
    }
    return nerr;
}

static void constraint_clear(struct constraint *c)
{
    free(c->field);
    free(c->value);
    free(c->is_value);
    free(c->text);
    if (c->has_re)
        regfree(&c->re);
}

struct constraints *constraints_new(const json_t *value)
{
    struct constraints *cs = xcalloc(1, sizeof(*cs));
    size_t i;
    json_t *j;

    if (value == NULL || json_is_null(value))
        return cs;
    if (!json_is_array(value))
        goto fail;
    cs->v = xcalloc(json_array_size(value) + 1, sizeof(*cs->v));
    json_array_foreach(value, i, j)
    {
        struct constraint *c = &cs->v[cs->n];

        if (check_one(j) != NULL)
            goto fail;
        cs->n++;
        c->field = xstrdup(json_string_value(json_array_get(j, 0)));
        parse_op(json_string_value(json_array_get(j, 1)), &c->op);
        if (json_array_size(j) == 3)
            c->value = xstrdup(json_string_value(json_array_get(j, 2)));
        if (c->value)
            c->text = xasprintf("%s:%s:%s", c->field, op_names[c->op], c->value);
        else
            c->text = xasprintf("%s:%s", c->field, op_names[c->op]);
        switch (c->op) {
        case CONS_GROUP_BY:
        case CONS_MAX_PER:
            if (!c->value || !parse_java_int(c->value, &c->number))
                c->number = 0;
            break;
        case CONS_LIKE:
        case CONS_UNLIKE:
            /* An empty pattern is valid in 1.10 but never matches (checkLike). */
            if (c->value[0] != '\0') {
                if (!compile_regex(c->value, &c->re))
                    goto fail;
                c->has_re = true;
            }
            break;
        case CONS_IS:
            /* A scalar-looking value compares as Marathon formats scalars. */
            if (c->value && is_mesos_scalar(c->value))
                c->is_value = cons_format_scalar(strtod(c->value, NULL));
            else
                c->is_value = xstrdup(c->value ? c->value : "");
            break;
        default:
            break;
        }
    }
    return cs;
fail:
    constraints_free(cs);
    return NULL;
}

void constraints_free(struct constraints *cs)
{
    if (cs == NULL)
        return;
    for (size_t i = 0; i < cs->n; i++)
        constraint_clear(&cs->v[i]);
    free(cs->v);
    free(cs);
}

size_t constraints_count(const struct constraints *cs)
{
    return cs ? cs->n : 0;
}

const char *constraints_describe(const struct constraints *cs, size_t i)
{
    return (cs && i < cs->n) ? cs->v[i].text : NULL;
}

/* The field's value on h, NULL when h has no such attribute (Marathon's
 * None). The first attribute of that name wins, as Marathon's find. */
static const char *field_value(const char *field, const struct cons_host *h)
{
    if (strcmp(field, "hostname") == 0 || strcmp(field, "@hostname") == 0)
        return h->hostname;
    for (size_t i = 0; i < h->nattrs; i++) {
        if (h->attrs[i].name && strcmp(h->attrs[i].name, field) == 0)
            return h->attrs[i].value;
    }
    return NULL;
}

static bool same(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* NULL (no attribute) sorts first: it is a group of its own, as
 * Marathon's groupBy over Option[String] makes None one. */
static int cmp_values(const void *a, const void *b)
{
    const char *x = *(const char *const *)a, *y = *(const char *const *)b;

    if (x == NULL || y == NULL)
        return (x != NULL) - (y != NULL);
    return strcmp(x, y);
}

/* Marathon 1.10.26 checkGroupBy: the offer's value is acceptable if no
 * instance runs there yet, or if at least `number` groups exist and its
 * group is one of the smallest. (The releases/1.10 branch later got a
 * different rule, #7252, that needs the app's target instance count; no
 * 1.10 release shipped it.) */
static bool check_group_by(const struct constraint *c, const char *offer_value,
                           const struct cons_host *placed, size_t nplaced)
{
    const char **vals;
    size_t ngroups = 0, min_count = 0, offer_count = 0;
    bool found = false, ok;

    if (nplaced == 0)
        return true;
    vals = xcalloc(nplaced, sizeof(*vals));
    for (size_t i = 0; i < nplaced; i++)
        vals[i] = field_value(c->field, &placed[i]);
    qsort(vals, nplaced, sizeof(*vals), cmp_values);
    for (size_t i = 0; i < nplaced;) {
        size_t j = i;
        while (j < nplaced && cmp_values(&vals[i], &vals[j]) == 0)
            j++;
        if (ngroups == 0 || j - i < min_count)
            min_count = j - i;
        ngroups++;
        if (same(vals[i], offer_value)) {
            found = true;
            offer_count = j - i;
        }
        i = j;
    }
    free(vals);
    ok = !found || ((long long)ngroups >= (long long)c->number && offer_count == min_count);
    return ok;
}

static bool check_one_constraint(const struct constraint *c, const struct cons_host *offer,
                                 const struct cons_host *placed, size_t nplaced)
{
    const char *v = field_value(c->field, offer);
    size_t count = 0;

    /* Without the field only UNLIKE accepts, whatever its value
     * (Constraints.checkConstraint, case None). */
    if (v == NULL)
        return c->op == CONS_UNLIKE;
    switch (c->op) {
    case CONS_UNIQUE:
        for (size_t i = 0; i < nplaced; i++) {
            if (same(field_value(c->field, &placed[i]), v))
                return false;
        }
        return true;
    case CONS_CLUSTER:
        if (c->value && c->value[0] != '\0')
            return strcmp(v, c->value) == 0;
        /* No value: where the first instance runs, all the others go. */
        return nplaced == 0 || same(field_value(c->field, &placed[0]), v);
    case CONS_GROUP_BY:
        return check_group_by(c, v, placed, nplaced);
    case CONS_MAX_PER:
        for (size_t i = 0; i < nplaced; i++) {
            if (same(field_value(c->field, &placed[i]), v))
                count++;
        }
        return count == 0 || (long long)count < (long long)c->number;
    case CONS_LIKE:
        return c->has_re && regexec(&c->re, v, 0, NULL, 0) == 0;
    case CONS_UNLIKE:
        return c->has_re && regexec(&c->re, v, 0, NULL, 0) != 0;
    case CONS_IS:
        return strcmp(v, c->is_value) == 0;
    }
    return false;
}

bool constraints_check(const struct constraints *cs, const struct cons_host *offer,
                       const struct cons_host *placed, size_t nplaced, size_t *which)
{
    for (size_t i = 0; cs && i < cs->n; i++) {
        if (!check_one_constraint(&cs->v[i], offer, placed, nplaced)) {
            if (which)
                *which = i;
            return false;
        }
    }
    return true;
}
