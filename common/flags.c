/*
 * flags: Mesos-style `--name=value` flags with AGORA_<NAME> environment
 * fallbacks and `--help`.
 *
 * Precedence, lowest first: the table's default, the environment, argv.
 * Every error names the flag (or the environment variable) and the value,
 * so that an operator can fix a unit file without reading code.
 */
#include "flags.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "mem.h"

static const struct {
    const char *unit;
    double secs;
} duration_units[] = {
    { "ns", 1e-9 },      { "us", 1e-6 },     { "ms", 1e-3 },    { "secs", 1 },    { "sec", 1 },
    { "s", 1 },          { "mins", 60 },     { "min", 60 },     { "m", 60 },      { "hrs", 3600 },
    { "hr", 3600 },      { "h", 3600 },      { "days", 86400 }, { "day", 86400 }, { "d", 86400 },
    { "weeks", 604800 }, { "week", 604800 }, { "w", 604800 },
};

int flags_parse_duration(const char *s, double *secs)
{
    char *end;
    double v;
    size_t i;

    if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0)
        return -1;
    if (*end == '\0') {
        *secs = v; /* a bare number is seconds */
        return 0;
    }
    for (i = 0; i < sizeof(duration_units) / sizeof(duration_units[0]); i++) {
        if (strcmp(end, duration_units[i].unit) == 0) {
            *secs = v * duration_units[i].secs;
            return 0;
        }
    }
    return -1;
}

int flags_parse_bytes(const char *s, uint64_t *bytes)
{
    static const struct {
        const char *unit;
        double mult;
    } units[] = { { "", 1 },
                  { "B", 1 },
                  { "KB", 1024.0 },
                  { "MB", 1048576.0 },
                  { "GB", 1073741824.0 },
                  { "TB", 1099511627776.0 } };
    char *end;
    double v;
    size_t i;

    if (s == NULL || !(isdigit((unsigned char)*s) || *s == '.'))
        return -1;
    errno = 0;
    v = strtod(s, &end);
    if (end == s || errno != 0 || !isfinite(v) || v < 0)
        return -1;
    for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (strcasecmp(end, units[i].unit) == 0) {
            v *= units[i].mult;
            if (v >= 18446744073709551616.0) /* 2^64 */
                return -1;
            *bytes = (uint64_t)v;
            return 0;
        }
    }
    return -1;
}

static int parse_bool(const char *s, bool *out)
{
    static const char *yes[] = { "true", "1", "yes", "on" };
    static const char *no[] = { "false", "0", "no", "off" };
    size_t i;

    for (i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = true;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = false;
            return 0;
        }
    }
    return -1;
}

char *flags_value_text(const struct flag *f)
{
    switch (f->type) {
    case FLAG_STRING: {
        const char *v = *(char *const *)f->target;
        return v ? xstrdup(v) : NULL;
    }
    case FLAG_INT:
        return xasprintf("%d", *(const int *)f->target);
    case FLAG_DOUBLE:
        return xasprintf("%g", *(const double *)f->target);
    case FLAG_BOOL:
        return xstrdup(*(const bool *)f->target ? "true" : "false");
    case FLAG_DURATION:
        return xasprintf("%gsecs", *(const double *)f->target);
    case FLAG_BYTES:
        return xasprintf("%lluB", (unsigned long long)*(const uint64_t *)f->target);
    }
    return NULL;
}

static const char *type_expect(enum flag_type t)
{
    switch (t) {
    case FLAG_INT:
        return "an integer";
    case FLAG_DOUBLE:
        return "a number";
    case FLAG_BOOL:
        return "true or false";
    case FLAG_DURATION:
        return "a duration such as 500ms, 10secs, 2mins";
    case FLAG_BYTES:
        return "a size such as 512MB, 2GB, 100KB, 1024B";
    case FLAG_STRING:
        break;
    }
    return "a string";
}

/* Store value into f's target. `from` says where it came from, for errors
 * ("--port", "AGORA_PORT", "default of --port"). */
static int flag_set(const struct flag *f, const char *value, const char *from, char **err)
{
    char *end;

    switch (f->type) {
    case FLAG_STRING: {
        char **t = f->target;
        free(*t);
        *t = xstrdup(value);
        return 0;
    }
    case FLAG_INT: {
        long v;
        errno = 0;
        v = strtol(value, &end, 10);
        if (*value == '\0' || *end != '\0' || errno != 0 || v < INT_MIN || v > INT_MAX)
            goto bad;
        *(int *)f->target = (int)v;
        return 0;
    }
    case FLAG_DOUBLE: {
        double v;
        errno = 0;
        v = strtod(value, &end);
        if (*value == '\0' || *end != '\0' || errno != 0 || !isfinite(v))
            goto bad;
        *(double *)f->target = v;
        return 0;
    }
    case FLAG_BOOL:
        if (parse_bool(value, f->target) < 0)
            goto bad;
        return 0;
    case FLAG_DURATION:
        if (flags_parse_duration(value, f->target) < 0)
            goto bad;
        return 0;
    case FLAG_BYTES:
        if (flags_parse_bytes(value, f->target) < 0)
            goto bad;
        return 0;
    }
bad:
    if (err)
        *err = xasprintf("%s: invalid value '%s' (expected %s)", from, value, type_expect(f->type));
    return -1;
}

/* Flag names are matched with '-' and '_' equivalent, so that
 * --work-dir and --work_dir both work. len bounds name (not NUL-ended). */
static const struct flag *flag_find(const struct flag *table, size_t n, const char *name,
                                    size_t len)
{
    size_t i, j;

    for (i = 0; i < n; i++) {
        const char *t = table[i].name;
        if (strlen(t) != len)
            continue;
        for (j = 0; j < len; j++) {
            char a = name[j] == '-' ? '_' : name[j];
            char b = t[j] == '-' ? '_' : t[j];
            if (a != b)
                break;
        }
        if (j == len)
            return &table[i];
    }
    return NULL;
}

static void flags_print_help(const struct flag *table, size_t n, const char *usage)
{
    size_t i;

    if (usage)
        printf("%s\n\n", usage);
    for (i = 0; i < n; i++) {
        const struct flag *f = &table[i];
        printf("  --%s=VALUE  %s", f->name, f->help ? f->help : "");
        if (f->defval)
            printf(" (default: %s)", f->defval);
        printf("\n");
    }
    fflush(stdout);
}

static char *env_name(const char *flag_name)
{
    char *s = xasprintf("AGORA_%s", flag_name);
    char *p;

    for (p = s + 6; *p; p++)
        *p = *p == '-' ? '_' : (char)toupper((unsigned char)*p);
    return s;
}

int flags_parse(const struct flag *table, size_t n, int argc, char **argv, const char *usage,
                char **err)
{
    size_t i;
    int a;

    if (err)
        *err = NULL;
    /* Defaults first. String targets start NULL: whatever the caller left
     * there is not ours to free. */
    for (i = 0; i < n; i++) {
        const struct flag *f = &table[i];
        if (f->type == FLAG_STRING)
            *(char **)f->target = NULL;
        if (f->defval) {
            char *from = xasprintf("default of --%s", f->name);
            int rc = flag_set(f, f->defval, from, err);
            free(from);
            if (rc < 0)
                return -1;
        }
    }

    /* Environment: AGORA_WORK_DIR for --work_dir. */
    for (i = 0; i < n; i++) {
        const struct flag *f = &table[i];
        char *var = env_name(f->name);
        const char *v = getenv(var);
        int rc = v ? flag_set(f, v, var, err) : 0;
        free(var);
        if (rc < 0)
            return -1;
    }

    /* --help wins over everything else on the command line. */
    for (a = 1; a < argc; a++) {
        if (strcmp(argv[a], "--help") == 0 || strcmp(argv[a], "-h") == 0) {
            flags_print_help(table, n, usage);
            return 1;
        }
    }

    for (a = 1; a < argc; a++) {
        const char *arg = argv[a];
        const char *name, *eq, *value;
        const struct flag *f;
        size_t len;
        int rc;
        char *from;

        if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
            if (err)
                *err = xasprintf("unexpected argument '%s' (flags are --name=value)", arg);
            return -1;
        }
        name = arg + 2;
        eq = strchr(name, '=');
        len = eq ? (size_t)(eq - name) : strlen(name);
        value = eq ? eq + 1 : NULL;
        f = flag_find(table, n, name, len);

        if (f == NULL && value == NULL && len > 3 &&
            (strncmp(name, "no-", 3) == 0 || strncmp(name, "no_", 3) == 0)) {
            f = flag_find(table, n, name + 3, len - 3);
            if (f && f->type == FLAG_BOOL) {
                *(bool *)f->target = false;
                continue;
            }
            f = NULL;
        }
        if (f == NULL) {
            if (err)
                *err = xasprintf("unknown flag '--%.*s'", (int)len, name);
            return -1;
        }
        if (value == NULL) {
            if (f->type == FLAG_BOOL) {
                *(bool *)f->target = true;
                continue;
            }
            if (err)
                *err = xasprintf("flag '--%s' needs a value (--%s=VALUE)", f->name, f->name);
            return -1;
        }
        from = xasprintf("--%s", f->name);
        rc = flag_set(f, value, from, err);
        free(from);
        if (rc < 0)
            return -1;
    }
    return 0;
}

void flags_cleanup(const struct flag *table, size_t n)
{
    size_t i;

    for (i = 0; i < n; i++) {
        if (table[i].type == FLAG_STRING) {
            char **t = table[i].target;
            free(*t);
            *t = NULL;
        }
    }
}
