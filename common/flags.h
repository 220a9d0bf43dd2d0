/*
 * flags: Mesos-style command-line flags.
 *
 * A daemon declares a table of struct flag; flags_parse() fills each target
 * from its default, then from the environment (AGORA_<NAME> upper case),
 * then from argv (`--name=value`; `--name` alone sets a bool true,
 * `--no-name` false). `--help` prints the table and makes flags_parse
 * return 1. Unknown flags and bad values are errors naming the flag.
 * Durations accept Mesos units: ns, us, ms, secs, mins, hrs, days, weeks
 * (also s, m, h, d), e.g. "500ms", "10secs", "2mins"; a bare number is seconds.
 */
#ifndef AGORA_FLAGS_H
#define AGORA_FLAGS_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

enum flag_type {
    FLAG_STRING,   /* char **: xstrdup'ed value, NULL when no default */
    FLAG_INT,      /* int * */
    FLAG_DOUBLE,   /* double * */
    FLAG_BOOL,     /* bool * */
    FLAG_DURATION, /* double *, seconds */
    FLAG_BYTES,    /* uint64_t *: 512MB, 2GB, 100KB, 1024B, 4096 (bytes) */
};

struct flag {
    const char *name; /* without leading dashes, e.g. "work_dir" */
    enum flag_type type;
    void *target;
    const char *defval; /* default as text, or NULL for none */
    const char *help;
};

/* Returns 0 on success, 1 after printing --help (caller exits 0), -1 on
 * error with *err set (caller frees). */
int flags_parse(const struct flag *table, size_t n, int argc, char **argv, const char *usage,
                char **err);

/* Parse a Mesos-style duration into seconds. 0 ok, -1 on bad input. */
int flags_parse_duration(const char *s, double *secs);

/* Parse a Mesos-style byte size: a number (fractions allowed) with one
 * of B, KB, MB, GB, TB (powers of 1024, any case) or none (bytes).
 * 0 ok, -1 on bad input (negative, garbage, over 2^64). */
int flags_parse_bytes(const char *s, uint64_t *bytes);

/* f's current value as text (durations in secs, sizes in B), as an
 * operator reads it back (GET_FLAGS); caller frees. NULL for a string
 * flag without a value. */
char *flags_value_text(const struct flag *f);
/* Free the strings flags_parse allocated for FLAG_STRING targets. */
void flags_cleanup(const struct flag *table, size_t n);

#endif
