/*
 * log: leveled logging to stderr, one line per message, format
 *   2026-11-22T17:40:01.123Z I master.c:120] message
 *
 * The line is built in a stack buffer and written with one fputs, so lines
 * from several processes sharing a log file do not interleave mid-line.
 *
 * Rate limiting (see log.h) keeps one slot per call site in a small
 * direct-mapped table keyed by the __FILE__ pointer and line; two sites
 * that collide share a slot (the one leaving reports its count first), so
 * a collision can only make the limit report early, never drop silently.
 */
#include "log.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "timeutil.h"

static enum log_level log_level = LOG_LVL_INFO;
static void (*log_sink)(enum log_level, const char *, void *);
static void *log_sink_ctx;

#define LOG_SITES 512
struct log_site {
    const char *file;         /* __FILE__ of the site, NULL when free */
    int line;                 /* its __LINE__ */
    enum log_level level;     /* of its last message (for the report) */
    double window_start;      /* when the current interval began */
    unsigned long in_window;  /* lines written in the current interval */
    unsigned long suppressed; /* lines dropped since the last report */
};

static struct log_site log_sites[LOG_SITES];
static unsigned log_burst = 20;
static double log_interval = 1.0;
static double (*log_clock)(void) = time_mono;
static double log_last_sweep;
static unsigned long log_dropped;

void log_set_rate_limit(unsigned burst, double interval_secs)
{
    log_burst = burst;
    log_interval = interval_secs > 0 ? interval_secs : 1.0;
}

void log_set_clock(double (*now)(void))
{
    log_clock = now ? now : time_mono;
}

unsigned long log_suppressed_total(void)
{
    return log_dropped;
}

void log_set_level(enum log_level level)
{
    log_level = level;
}

void log_set_sink(void (*fn)(enum log_level level, const char *line, void *ctx), void *ctx)
{
    log_sink = fn;
    log_sink_ctx = fn ? ctx : NULL;
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

static const char *log_basename(const char *file)
{
    /* __FILE__ may be an absolute path; the basename is what people grep. */
    const char *base = strrchr(file, '/');

    return base ? base + 1 : file;
}

/* Format and write one line. */
static void log_vwrite(enum log_level level, const char *file, int line, const char *fmt,
                       va_list ap)
{
    static const char letters[] = "DIWE";
    char buf[4096];
    char stamp[TIME_ISO_LEN];
    size_t off;
    int n;

    off = 0;
    n = snprintf(buf, sizeof(buf), "%s %c %s:%d] ", time_format_iso8601(time_now(), stamp),
                 letters[(unsigned)level < 4 ? (unsigned)level : 3], log_basename(file), line);
    if (n > 0)
        off += (size_t)n < sizeof(buf) - off ? (size_t)n : sizeof(buf) - off - 1;

    n = vsnprintf(buf + off, sizeof(buf) - off, fmt, ap);
    if (n > 0)
        off += (size_t)n < sizeof(buf) - off ? (size_t)n : sizeof(buf) - off - 1;

    /* Long messages are truncated, but always end in a newline. */
    if (off > sizeof(buf) - 2)
        off = sizeof(buf) - 2;
    if (log_sink) {
        buf[off] = '\0';
        log_sink(level, buf, log_sink_ctx);
        return;
    }
    buf[off++] = '\n';
    buf[off] = '\0';
    fputs(buf, stderr);
    fflush(stderr);
}

static void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void log_write(enum log_level level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vwrite(level, file, line, fmt, ap);
    va_end(ap);
}

static void log_site_report(struct log_site *site)
{
    if (site->suppressed == 0)
        return;
    log_write(site->level, site->file, site->line, "... last message repeated %lu times",
              site->suppressed);
    site->suppressed = 0;
}

void log_flush_repeats(int force)
{
    double now = log_clock();

    for (size_t i = 0; i < LOG_SITES; i++) {
        struct log_site *site = &log_sites[i];

        if (site->file && site->suppressed && (force || now - site->window_start >= log_interval)) {
            log_site_report(site);
            site->window_start = now;
            site->in_window = 0;
        }
    }
    log_last_sweep = now;
}

/* May this site write now? Counts the line as suppressed when not. */
static bool log_admit(enum log_level level, const char *file, int line)
{
    uintptr_t h = ((uintptr_t)file >> 3) * 31u + (uintptr_t)line * 2654435761u;
    struct log_site *site = &log_sites[h % LOG_SITES];
    double now;

    if (log_burst == 0)
        return true;
    now = log_clock();
    /* Sites that went quiet still get their count out, within a second
     * of any other message. */
    if (now - log_last_sweep >= log_interval)
        log_flush_repeats(0);
    if (site->file != file || site->line != line) {
        log_site_report(site);
        site->file = file;
        site->line = line;
        site->window_start = now;
        site->in_window = 0;
    } else if (now - site->window_start >= log_interval) {
        log_site_report(site);
        site->window_start = now;
        site->in_window = 0;
    }
    site->level = level;
    if (site->in_window >= log_burst) {
        site->suppressed++;
        log_dropped++;
        return false;
    }
    site->in_window++;
    return true;
}

void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
{
    va_list ap;

    if (level < log_level)
        return;
    if (!log_admit(level, file, line))
        return;
    va_start(ap, fmt);
    log_vwrite(level, file, line, fmt, ap);
    va_end(ap);
}
