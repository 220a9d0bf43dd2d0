/*
 * log: leveled logging to stderr, one line per message:
 *   2026-11-22T17:40:01.123Z I master.c:120] message
 * Not thread-safe beyond what stdio guarantees per call.
 *
 * Every call site (file:line) is rate-limited: at most `burst` lines per
 * `interval` seconds each; the rest are counted and reported as one line
 *   ... W master.c:120] ... last message repeated 41230 times
 * once the site's interval is over (at its next message, at the next
 * message of any site a second later, or at log_flush_repeats()). So no
 * loop that logs on every turn can flood the disk.
 */
#ifndef AGORA_LOG_H
#define AGORA_LOG_H

enum log_level { LOG_LVL_DEBUG = 0, LOG_LVL_INFO, LOG_LVL_WARN, LOG_LVL_ERROR };

void log_set_level(enum log_level level);
/* Where lines go: fn(level, line, ctx) instead of stderr (line without the
 * trailing newline, valid during the call), or stderr again with NULL.
 * For libraries whose embedder owns logging (libagora-scheduler's
 * log_fn). Process-wide, like the level. */
void log_set_sink(void (*fn)(enum log_level level, const char *line, void *ctx), void *ctx);
enum log_level log_get_level(void);
/* Accepts debug|info|warn|warning|error (any case). 0 ok, -1 unknown. */
int log_parse_level(const char *s, enum log_level *out);
/* Per-site limit: burst lines per interval_secs (defaults 20 per 1 s).
 * burst 0 turns rate limiting off. */
void log_set_rate_limit(unsigned burst, double interval_secs);
/* Clock used by the limiter (time_mono by default; NULL restores it). For
 * tests. */
void log_set_clock(double (*now)(void));
/* Report the suppressed counts of sites whose interval is over (all of
 * them when force). */
void log_flush_repeats(int force);
/* Lines dropped by the limiter since start. */
unsigned long log_suppressed_total(void);
void log_msg(enum log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

#define log_debug(...)                                               \
    do {                                                             \
        if (log_get_level() <= LOG_LVL_DEBUG)                        \
            log_msg(LOG_LVL_DEBUG, __FILE__, __LINE__, __VA_ARGS__); \
    } while (0)
#define log_info(...) log_msg(LOG_LVL_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_LVL_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LVL_ERROR, __FILE__, __LINE__, __VA_ARGS__)

#endif
