/*
 * timeutil: clocks, seconds <-> timeval and ISO-8601 timestamps (see
 * timeutil.h). Formatting works in integer milliseconds so that a value
 * parsed from a millisecond timestamp formats back to the same text.
 */
#define _GNU_SOURCE
#include "timeutil.h"

#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

double time_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double time_mono(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static struct timeval usec_tv(double usec)
{
    struct timeval tv;
    long long u;

    if (!(usec > 0)) /* negative and NaN */
        usec = 0;
    if (usec > TIME_TV_MAX_SECS * 1e6)
        usec = TIME_TV_MAX_SECS * 1e6;
    u = (long long)usec;
    tv.tv_sec = (time_t)(u / 1000000);
    tv.tv_usec = (suseconds_t)(u % 1000000);
    return tv;
}

struct timeval time_tv(double secs)
{
    return usec_tv(round(secs * 1e6));
}

struct timeval time_tv_ceil(double secs)
{
    return usec_tv(ceil(secs * 1e6));
}

double time_from_tv(struct timeval tv)
{
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

char *time_format_iso8601(double secs, char buf[TIME_ISO_LEN])
{
    long long ms = isfinite(secs) ? llround(secs * 1000.0) : 0;
    long long s = ms / 1000, rem = ms % 1000;
    time_t t;
    struct tm tm;

    if (rem < 0) { /* floor division for times before 1970 */
        rem += 1000;
        s--;
    }
    t = (time_t)s;
    gmtime_r(&t, &tm);
    snprintf(buf, TIME_ISO_LEN, "%04d-%02d-%02dT%02d:%02d:%02d.%03lldZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, rem);
    return buf;
}

/* n digits at *p into *out; advances *p. */
static int digits(const char **p, int n, int *out)
{
    int v = 0, i;

    for (i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -1;
    (*p)++;
    return 0;
}

int time_parse_iso8601(const char *s, double *secs)
{
    static const int mdays[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    const char *p = s;
    int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
    double frac = 0, scale = 0.1;
    struct tm tm;
    time_t t;

    if (s == NULL || digits(&p, 4, &y) || expect(&p, '-') || digits(&p, 2, &mo) ||
        expect(&p, '-') || digits(&p, 2, &d) || (*p != 'T' && *p != 't') || !++p ||
        digits(&p, 2, &h) || expect(&p, ':') || digits(&p, 2, &mi) || expect(&p, ':') ||
        digits(&p, 2, &sec))
        return -1;
    if (mo < 1 || mo > 12 || d < 1 || d > mdays[mo - 1] || h > 23 || mi > 59 || sec > 60)
        return -1;
    if (mo == 2 && d == 29 && !((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
        return -1;
    if (*p == '.') {
        p++;
        if (!isdigit((unsigned char)*p))
            return -1;
        for (; isdigit((unsigned char)*p); p++, scale /= 10)
            frac += (*p - '0') * scale;
    }
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        sign = *p++ == '+' ? 1 : -1;
        if (digits(&p, 2, &oh) || (*p == ':' && !++p) || digits(&p, 2, &om) || oh > 23 || om > 59)
            return -1;
    } else {
        return -1;
    }
    if (*p != '\0')
        return -1;
    memset(&tm, 0, sizeof(tm));
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = sec;
    t = timegm(&tm);
    *secs = (double)t + frac - sign * (oh * 3600 + om * 60);
    return 0;
}
