/*
 * timeutil: clocks, seconds <-> struct timeval, and ISO-8601 UTC
 * timestamps with milliseconds ("2026-12-02T03:04:05.678Z", the format of
 * Agora's logs and of Marathon's app versions).
 *
 * Seconds are doubles everywhere in Agora (flags, protobuf timestamps);
 * these are the only conversions to and from libevent's timevals.
 */
#ifndef AGORA_TIMEUTIL_H
#define AGORA_TIMEUTIL_H

#include <sys/time.h>

#define TIME_ISO_LEN 64         /* buffer size for time_format_iso8601 */
#define TIME_TV_MAX_SECS 3.15e9 /* ~100 years: larger (or infinite) values clamp */

/* Wall clock, seconds since the epoch (for timestamps). */
double time_now(void);

/* Monotonic clock, seconds (for durations and deadlines). */
double time_mono(void);

/* secs as a timeval, rounded to the nearest microsecond. Negative and NaN
 * give zero; values over TIME_TV_MAX_SECS (and +inf) clamp to it. */
struct timeval time_tv(double secs);

/* Like time_tv but rounded up, so that a timer never fires before secs. */
struct timeval time_tv_ceil(double secs);

double time_from_tv(struct timeval tv);

/* secs (since the epoch, UTC) as "YYYY-MM-DDTHH:MM:SS.mmmZ", rounded to the
 * millisecond, into buf; returns buf. */
char *time_format_iso8601(double secs, char buf[TIME_ISO_LEN]);

/* Parse "YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM|+HHMM)" into
 * seconds since the epoch. 0 ok, -1 on anything else (ranges checked). */
int time_parse_iso8601(const char *s, double *secs);

#endif
