/*
 * test_metrics: common/metrics.c — registry semantics (same name, same
 * handle), counters, gauges, computed gauges, summary quantiles over the
 * sliding window, and the Prometheus text exposition.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "metrics.h"

static int cleanup(void **state)
{
    (void)state;
    metrics_cleanup();
    return 0;
}

static void assert_contains(const char *text, const char *needle)
{
    if (strstr(text, needle) == NULL)
        fail_msg("missing '%s' in:\n%s", needle, text);
}

static double forty_two(void *arg)
{
    return *(double *)arg;
}

static void test_counter_gauge(void **state)
{
    struct metric *c = metrics_counter("agora_test_offers_total", "Offers sent");
    struct metric *g = metrics_gauge("agora_test_slaves", "Slaves connected");
    double v = 42;
    char *text;

    (void)state;
    assert_ptr_equal(c, metrics_counter("agora_test_offers_total", "again"));
    metric_inc(c, 1);
    metric_inc(c, 2.5);
    assert_true(metric_value(c) == 3.5);
    metric_set(g, 7);
    metric_inc(g, -2);
    assert_true(metric_value(g) == 5);
    metrics_gauge_fn("agora_test_fn", "Computed", forty_two, &v);
    metric_inc(NULL, 1); /* no-op */

    text = metrics_render();
    assert_contains(text, "# HELP agora_test_offers_total Offers sent\n"
                          "# TYPE agora_test_offers_total counter\n"
                          "agora_test_offers_total 3.5\n");
    assert_contains(text, "# TYPE agora_test_slaves gauge\nagora_test_slaves 5\n");
    assert_contains(text, "# TYPE agora_test_fn gauge\nagora_test_fn 42\n");
    /* Registration order is kept. */
    assert_true(strstr(text, "agora_test_offers_total") < strstr(text, "agora_test_slaves"));
    free(text);

    v = 0.1;
    text = metrics_render();
    assert_contains(text, "agora_test_fn 0.1\n");
    free(text);
}

static void test_summary(void **state)
{
    struct metric *s = metrics_summary("agora_test_latency_seconds", "Latency");
    char *text;
    int i;

    (void)state;
    assert_true(metric_quantile(s, 0.5) == 0);
    text = metrics_render();
    assert_contains(text, "agora_test_latency_seconds{quantile=\"0.5\"} NaN\n");
    assert_contains(text, "agora_test_latency_seconds_count 0\n");
    free(text);

    for (i = 1; i <= 100; i++)
        metric_observe(s, i);
    assert_true(metric_quantile(s, 0.5) == 50);
    assert_true(metric_quantile(s, 0.9) == 90);
    assert_true(metric_quantile(s, 0.99) == 99);
    assert_true(metric_quantile(s, 1) == 100);
    assert_true(metric_quantile(s, 0) == 1);
    text = metrics_render();
    assert_contains(text, "# TYPE agora_test_latency_seconds summary\n");
    assert_contains(text, "agora_test_latency_seconds{quantile=\"0.5\"} 50\n");
    assert_contains(text, "agora_test_latency_seconds{quantile=\"0.9\"} 90\n");
    assert_contains(text, "agora_test_latency_seconds{quantile=\"0.99\"} 99\n");
    assert_contains(text, "agora_test_latency_seconds_sum 5050\n");
    assert_contains(text, "agora_test_latency_seconds_count 100\n");
    free(text);

    /* The window holds the last 1024 observations; sum/count hold all. */
    for (i = 0; i < 2000; i++)
        metric_observe(s, 1000);
    assert_true(metric_quantile(s, 0) == 1000);
    text = metrics_render();
    assert_contains(text, "agora_test_latency_seconds_count 2100\n");
    free(text);
}

static void test_help_escaping_and_specials(void **state)
{
    struct metric *g = metrics_gauge("agora_test_weird", "line1\nback\\slash");
    char *text;

    (void)state;
    metric_set(g, INFINITY);
    text = metrics_render();
    assert_contains(text, "# HELP agora_test_weird line1\\nback\\\\slash\n");
    assert_contains(text, "agora_test_weird +Inf\n");
    free(text);
    metric_set(g, NAN);
    text = metrics_render();
    assert_contains(text, "agora_test_weird NaN\n");
    free(text);
}

static void test_cleanup_resets(void **state)
{
    char *text;

    (void)state;
    metrics_counter("agora_test_a_total", "a");
    metrics_cleanup();
    text = metrics_render();
    assert_string_equal(text, "");
    free(text);
    metrics_counter("agora_test_b_total", "b");
    text = metrics_render();
    assert_contains(text, "agora_test_b_total 0\n");
    assert_null(strstr(text, "agora_test_a_total"));
    free(text);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_counter_gauge, cleanup),
        cmocka_unit_test_teardown(test_summary, cleanup),
        cmocka_unit_test_teardown(test_help_escaping_and_specials, cleanup),
        cmocka_unit_test_teardown(test_cleanup_resets, cleanup),
    };

    mem_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
