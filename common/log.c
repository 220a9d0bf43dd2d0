/*
 * log: leveled logging to stderr, one line per message, format
 *   2026-11-22T17:40:01.123Z I master.c:120] message
 *
 * The line is built in a stack buffer and written with one fputs, so lines
 * from several processes sharing a log file do not interleave mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "timeutil.h"

static enum log_level log_level = LOG_LVL_INFO;

void log_set_level(enum log_level level)
{
    log_level = level;
}

enum log_level log_get_level(void)
{
    return log_level;
}

int log_parse_level(const char *s, enum log_level *out)
{
    static const struct {
        const char *name;
        enum log_level level;
    } names[] = {
        { "debug", LOG_LVL_DEBUG },  { "info", LOG_LVL_INFO },   { "warn", LOG_LVL_WARN },
        { "warning", LOG_LVL_WARN }, { "error", LOG_LVL_ERROR },
    };
    size_t i;

    if (s == NULL)
        return -1;
    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            *out = names[i].level;
            return 0;
        }
    }
    return -1;
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
    static const char letters[] = "DIWE";
    char buf[4096];
    char stamp[TIME_ISO_LEN];
    const char *base;
    size_t off;
    int n;
    va_list ap;

    if (level < log_level)
        return;
    /* __FILE__ may be an absolute path; the basename is what people grep. */
    base = strrchr(file, '/');
    base = base ? base + 1 : file;

    off = 0;
    n = snprintf(buf, sizeof(buf), "%s %c %s:%d] ", time_format_iso8601(time_now(), stamp),
                 letters[(unsigned)level < 4 ? (unsigned)level : 3], base, line);
    if (n > 0)
        off += (size_t)n < sizeof(buf) - off ? (size_t)n : sizeof(buf) - off - 1;

    va_start(ap, fmt);
    n = vsnprintf(buf + off, sizeof(buf) - off, fmt, ap);
    va_end(ap);
    if (n > 0)
        off += (size_t)n < sizeof(buf) - off ? (size_t)n : sizeof(buf) - off - 1;

    /* Long messages are truncated, but always end in a newline. */
    if (off > sizeof(buf) - 2)
        off = sizeof(buf) - 2;
    buf[off++] = '\n';
    buf[off] = '\0';
    fputs(buf, stderr);
    fflush(stderr);
}
