/*
 * metrics: a process-wide registry of counters, gauges and summaries,
 * rendered in Prometheus text format for GET /metrics.
 *
 * Names follow Prometheus rules (e.g. "agora_master_offers_sent_total").
 * Handles returned by metrics_* live until metrics_cleanup(); registering a
 * name twice returns the same handle. Not thread-safe: call from the loop.
 */
#ifndef AGORA_METRICS_H
#define AGORA_METRICS_H

struct metric;

struct metric *metrics_counter(const char *name, const char *help);
struct metric *metrics_gauge(const char *name, const char *help);
/* Gauge whose value is computed at render time. */
struct metric *metrics_gauge_fn(const char *name, const char *help, double (*fn)(void *arg),
                                void *arg);
/* Summary with quantiles 0.5, 0.9, 0.99 over the last 1024 observations,
 * plus _sum and _count. */
struct metric *metrics_summary(const char *name, const char *help);

void metric_inc(struct metric *m, double by);
void metric_set(struct metric *m, double value);
void metric_observe(struct metric *m, double value);
double metric_value(const struct metric *m);
/* Quantile q in [0,1] of a summary's window (0 when empty). */
double metric_quantile(const struct metric *m, double q);

/* Prometheus text exposition; caller frees. */
char *metrics_render(void);
void metrics_cleanup(void);

#endif
