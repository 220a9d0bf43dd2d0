/*
 * metrics: process-wide registry of counters, gauges and summaries, and
 * their Prometheus text exposition (format 0.0.4) for GET /metrics.
 *
 * Metrics are kept in registration order (so /metrics reads the way the
 * code declares them) with a uthash index by name. Summaries keep the
 * last SUMMARY_WINDOW observations in a ring; quantiles are computed by
 * sorting a copy at render time, which is cheap at this size and keeps
 * metric_observe() O(1) on the hot path.
 */
#include "metrics.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <uthash.h>

#include "log.h"
#include "mem.h"

#define SUMMARY_WINDOW 1024

enum metric_type { METRIC_COUNTER, METRIC_GAUGE, METRIC_GAUGE_FN, METRIC_SUMMARY };

struct metric {
    char *name;
    char *help;
    enum metric_type type;
    double value;            /* counter / gauge */
    double (*fn)(void *arg); /* gauge_fn */
    void *fn_arg;
    double *window;     /* summary: ring of SUMMARY_WINDOW */
    size_t window_len;  /* observations in the ring (<= window) */
    size_t window_next; /* next slot to overwrite */
    double sum;         /* summary: over all observations */
    unsigned long long count;
    struct metric *next; /* registration order */
    UT_hash_handle hh;   /* index by name */
};

static struct metric *metrics_by_name;
static struct metric *metrics_head, **metrics_tail = &metrics_head;

static const char *metric_type_name(enum metric_type t)
{
    switch (t) {
    case METRIC_COUNTER:
        return "counter";
    case METRIC_GAUGE:
    case METRIC_GAUGE_FN:
        return "gauge";
    case METRIC_SUMMARY:
        return "summary";
    }
    return "untyped";
}

static bool metric_name_valid(const char *name)
{
    const char *p;

    if (name == NULL || *name == '\0' || (*name >= '0' && *name <= '9'))
        return false;
    for (p = name; *p; p++) {
        char c = *p;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == ':'))
            return false;
    }
    return true;
}

static struct metric *metric_register(const char *name, const char *help, enum metric_type type)
{
    struct metric *m;

    HASH_FIND_STR(metrics_by_name, name, m);
    if (m) {
        if (m->type != type)
            log_warn("metric '%s' registered again as %s (was %s); keeping the first", name,
                     metric_type_name(type), metric_type_name(m->type));
        return m;
    }
    if (!metric_name_valid(name))
        log_error("metric name '%s' is not a valid Prometheus name", name);
    m = xcalloc(1, sizeof(*m));
    m->name = xstrdup(name);
    m->help = xstrdup(help ? help : "");
    m->type = type;
    if (type == METRIC_SUMMARY)
        m->window = xcalloc(SUMMARY_WINDOW, sizeof(double));
    HASH_ADD_KEYPTR(hh, metrics_by_name, m->name, strlen(m->name), m);
    *metrics_tail = m;
    metrics_tail = &m->next;
    return m;
}

struct metric *metrics_counter(const char *name, const char *help)
{
    return metric_register(name, help, METRIC_COUNTER);
}

struct metric *metrics_gauge(const char *name, const char *help)
{
    return metric_register(name, help, METRIC_GAUGE);
}

struct metric *metrics_gauge_fn(const char *name, const char *help, double (*fn)(void *arg),
                                void *arg)
{
    struct metric *m = metric_register(name, help, METRIC_GAUGE_FN);

    if (m->type == METRIC_GAUGE_FN) {
        m->fn = fn;
        m->fn_arg = arg;
    }
    return m;
}

struct metric *metrics_summary(const char *name, const char *help)
{
    return metric_register(name, help, METRIC_SUMMARY);
}

/* Handles may be NULL (a component built without metrics): no-ops then. */
void metric_inc(struct metric *m, double by)
{
    if (m)
        m->value += by;
}

void metric_set(struct metric *m, double value)
{
    if (m)
        m->value = value;
}

void metric_observe(struct metric *m, double value)
{
    if (m == NULL || m->type != METRIC_SUMMARY)
        return;
    m->window[m->window_next] = value;
    m->window_next = (m->window_next + 1) % SUMMARY_WINDOW;
    if (m->window_len < SUMMARY_WINDOW)
        m->window_len++;
    m->sum += value;
    m->count++;
}

/* Counter/gauge value; a gauge_fn is evaluated; a summary gives its sum. */
double metric_value(const struct metric *m)
{
    if (m == NULL)
        return 0;
    switch (m->type) {
    case METRIC_GAUGE_FN:
        return m->fn ? m->fn(m->fn_arg) : 0;
    case METRIC_SUMMARY:
        return m->sum;
    case METRIC_COUNTER:
    case METRIC_GAUGE:
        break;
    }
    return m->value;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank quantile over a sorted array. */
static double quantile_sorted(const double *v, size_t n, double q)
{
    size_t idx;

    if (n == 0)
        return 0;
    if (q <= 0)
        return v[0];
    if (q >= 1)
        return v[n - 1];
    idx = (size_t)ceil(q * (double)n);
    return v[idx ? idx - 1 : 0];
}

double metric_quantile(const struct metric *m, double q)
{
    double *copy;
    double r;

    if (m == NULL || m->type != METRIC_SUMMARY || m->window_len == 0)
        return 0;
    copy = xmalloc(m->window_len * sizeof(double));
    memcpy(copy, m->window, m->window_len * sizeof(double));
    qsort(copy, m->window_len, sizeof(double), cmp_double);
    r = quantile_sorted(copy, m->window_len, q);
    free(copy);
    return r;
}

/* Prometheus float syntax: NaN, +Inf, -Inf, else shortest exact-enough. */
static void add_value(struct evbuffer *out, double v)
{
    if (isnan(v))
        evbuffer_add_printf(out, "NaN\n");
    else if (isinf(v))
        evbuffer_add_printf(out, "%sInf\n", v > 0 ? "+" : "-");
    else {
        /* %.15g reads well (0.1, not 0.10000000000000001); fall back to
         * %.17g only when 15 digits would not round-trip. */
        char buf[32];
        snprintf(buf, sizeof(buf), "%.15g", v);
        if (strtod(buf, NULL) != v)
            snprintf(buf, sizeof(buf), "%.17g", v);
        evbuffer_add_printf(out, "%s\n", buf);
    }
}

/* HELP text escapes only backslash and newline. */
static void add_help(struct evbuffer *out, const struct metric *m)
{
    const char *p;

    evbuffer_add_printf(out, "# HELP %s ", m->name);
    for (p = m->help; *p; p++) {
        if (*p == '\\')
            evbuffer_add(out, "\\\\", 2);
        else if (*p == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, p, 1);
    }
    evbuffer_add(out, "\n", 1);
}

char *metrics_render(void)
{
    static const double quantiles[] = { 0.5, 0.9, 0.99 };
    struct evbuffer *out = evbuffer_new();
    struct metric *m;
    size_t len, i;
    char *text;

    for (m = metrics_head; m; m = m->next) {
        add_help(out, m);
        evbuffer_add_printf(out, "# TYPE %s %s\n", m->name, metric_type_name(m->type));
        if (m->type != METRIC_SUMMARY) {
            evbuffer_add_printf(out, "%s ", m->name);
            add_value(out, metric_value(m));
            continue;
        }
        {
            double *sorted = xmalloc((m->window_len ? m->window_len : 1) * sizeof(double));
            memcpy(sorted, m->window, m->window_len * sizeof(double));
            qsort(sorted, m->window_len, sizeof(double), cmp_double);
            for (i = 0; i < sizeof(quantiles) / sizeof(quantiles[0]); i++) {
                evbuffer_add_printf(out, "%s{quantile=\"%g\"} ", m->name, quantiles[i]);
                /* An empty window has no quantiles: Prometheus says NaN. */
                add_value(out, m->window_len ? quantile_sorted(sorted, m->window_len, quantiles[i])
                                             : NAN);
            }
            free(sorted);
        }
        evbuffer_add_printf(out, "%s_sum ", m->name);
        add_value(out, m->sum);
        evbuffer_add_printf(out, "%s_count %llu\n", m->name, m->count);
    }
    len = evbuffer_get_length(out);
    text = xmalloc(len + 1);
    evbuffer_remove(out, text, len);
    text[len] = '\0';
    evbuffer_free(out);
    return text;
}

void metrics_cleanup(void)
{
    struct metric *m, *next;

    HASH_CLEAR(hh, metrics_by_name);
    for (m = metrics_head; m; m = next) {
        next = m->next;
        free(m->name);
        free(m->help);
        free(m->window);
        free(m);
    }
    metrics_head = NULL;
    metrics_tail = &metrics_head;
}
