/*
 * Unit tests of the CLI's pure parts: tables fitted to a width, API error
 * messages, and --wait's progress line and "not placed" reasons.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "cli.h"
#include "mem.h"

/* The table printed at width, as a string (caller frees). */
static char *render(const struct table *t, int width)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    table_print(t, width, f);
    fclose(f);
    return buf;
}

static void test_table_fits(void **state)
{
    static const char *const heads[] = { "ID", "STATE", "NAME" };
    (void)state;
    struct table *t = table_new(3, heads, TABLE_FLEX(0) | TABLE_FLEX(2));
    const char *r1[] = { "web.instance-0123456789abcdef", "TASK_RUNNING", "web" };
    const char *r2[] = { "db.1", NULL, "a name with\ttab" };
    table_add(t, r1);
    table_add(t, r2);

    /* Wide enough: natural widths, no trailing blanks, NULL as "-". */
    char *out = render(t, 200);
    assert_string_equal(out, "ID                             STATE         NAME\n"
                             "web.instance-0123456789abcdef  TASK_RUNNING  web\n"
                             "db.1                           -             a name with tab\n");
    free(out);

    /* Narrow: the flexible columns give, STATE stays whole. */
    out = render(t, 40);
    char *line = out;
    for (int i = 0; i < 3; i++) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl);
        assert_true(nl - line <= 40);
        line = nl + 1;
    }
    assert_non_null(strstr(out, "TASK_RUNNING"));
    assert_non_null(strstr(out, "~"));
    free(out);

    /* Too narrow: the others give too, down to their heading. */
    out = render(t, 10);
    assert_non_null(strstr(out, "ID    STATE  NAME\n"));
    assert_non_null(strstr(out, "TA~NG"));
    free(out);
    table_free(t);
}

static void test_text_width_utf8(void **state)
{
    (void)state;
    assert_int_equal(table_text_width("abc"), 3);
    assert_int_equal(table_text_width("h\xc3\xa9llo"), 5); /* é is one column */
    static const char *const heads[] = { "N" };
    struct table *t = table_new(1, heads, TABLE_FLEX(0));
    const char *r[] = { "\xc3\xa9\xc3\xa9\xc3\xa9x\xc3\xa9\xc3\xa9" };
    table_add(t, r);
    char *out = render(t, 5);
    /* Cut at code points: 5 columns, the middle one "~". */
    assert_string_equal(out, "N\n\xc3\xa9\xc3\xa9~\xc3\xa9\xc3\xa9\n");
    free(out);
    table_free(t);
}

static void test_formats(void **state)
{
    char b[64];
    (void)state;
    assert_string_equal(fmt_num(b, sizeof(b), 0.1 + 0.2), "0.3");
    assert_string_equal(fmt_num(b, sizeof(b), 8), "8");
    assert_string_equal(fmt_mb(b, sizeof(b), 512), "512MB");
    assert_string_equal(fmt_mb(b, sizeof(b), 4096), "4GB");
    assert_string_equal(fmt_mb(b, sizeof(b), 1536), "1.5GB");
    assert_string_equal(fmt_used(b, sizeof(b), 0.25, 4, false), "0.25/4");
    assert_string_equal(fmt_used(b, sizeof(b), 64, 8192, true), "64MB/8GB");
}

static void test_api_error(void **state)
{
    (void)state;
    const char *marathon = "{\"message\":\"Object is not valid\",\"details\":[{\"path\":\"/cpus\","
                           "\"errors\":[\"error.min\",\"must be positive\"]},{\"path\":\"/id\","
                           "\"errors\":[\"bad\"]}]}";
    char *m = cli_api_error(422, marathon, strlen(marathon));
    assert_string_equal(m,
                        "422 Object is not valid (/cpus: error.min, must be positive; /id: bad)");
    free(m);
    const char *mesos = "{\"message\":\"path: cannot open file\"}";
    m = cli_api_error(404, mesos, strlen(mesos));
    assert_string_equal(m, "404 path: cannot open file");
    free(m);
    const char *text = "Not the leader\nmore\n";
    m = cli_api_error(503, text, strlen(text));
    assert_string_equal(m, "503 Not the leader");
    free(m);
    m = cli_api_error(500, "", 0);
    assert_string_equal(m, "status 500");
    free(m);
}

static void test_app_path(void **state)
{
    (void)state;
    char *p = cli_app_path("/web/api", "/restart");
    assert_string_equal(p, "/v2/apps/web/api/restart");
    free(p);
    p = cli_app_path("web", "");
    assert_string_equal(p, "/v2/apps/web");
    free(p);
    assert_null(cli_app_path("we b", ""));
    assert_null(cli_app_path("a?b", ""));
    assert_null(cli_app_path("", ""));
}

static const char *queue_doc =
    "{\"queue\":[{\"app\":{\"id\":\"/huge\"},\"count\":1,"
    "\"processedOffersSummary\":{\"processedOffersCount\":8,\"unusedOffersCount\":8,"
    "\"rejectSummaryLastOffers\":[{\"reason\":\"UnfulfilledRole\",\"declined\":0,\"processed\":8},"
    "{\"reason\":\"InsufficientCpus\",\"declined\":6,\"processed\":8},"
    "{\"reason\":\"InsufficientMemory\",\"declined\":2,\"processed\":2}],"
    "\"rejectSummaryConstraints\":[{\"constraint\":\"hostname:UNIQUE\",\"declined\":0}]}}]}";

static void test_not_placed(void **state)
{
    (void)state;
    json_t *q = json_loads(queue_doc, 0, NULL);
    assert_non_null(q);
    assert_null(progress_queue_item(q, "/other"));
    const json_t *item = progress_queue_item(q, "/huge");
    assert_non_null(item);
    char *why = progress_not_placed(item);
    assert_string_equal(why,
                        "InsufficientCpus (6 of 8 offers), InsufficientMemory (2 of 8 offers)");
    free(why);
    /* No offer declined yet: no reason. */
    json_t *fresh = json_pack("{s:{s:i, s:[]}}", "processedOffersSummary", "processedOffersCount",
                              0, "rejectSummaryLastOffers");
    assert_null(progress_not_placed(fresh));
    json_decref(fresh);
    json_decref(q);
}

static void test_progress_line(void **state)
{
    (void)state;
    json_t *app =
        json_pack("{s:s, s:i, s:i, s:i, s:[{s:s}]}", "id", "/web", "instances", 3, "tasksRunning",
                  3, "tasksHealthy", 1, "healthChecks", "protocol", "HTTP");
    json_t *dep = json_pack("{s:i, s:i, s:[{s:s, s:s}], s:{s:s}}", "currentStep", 1, "totalSteps",
                            2, "currentActions", "action", "RestartApplication", "app", "/web",
                            "waitingFor", "/web", "1 of 3 healthy");
    char *line = progress_line("/web", app, dep, NULL, 75);
    assert_string_equal(line, "/web: 1/3 healthy, step 1/2 RestartApplication, 1m15s - waiting "
                              "for: 1 of 3 healthy");
    free(line);
    /* Without health checks, running counts; the queue's reason wins. */
    json_object_del(app, "healthChecks");
    json_t *q = json_loads(queue_doc, 0, NULL);
    line = progress_line("/web", app, NULL, progress_queue_item(q, "/huge"), 4.4);
    assert_string_equal(line, "/web: 3/3 running, 4s - not placed: InsufficientCpus (6 of 8 "
                              "offers), InsufficientMemory (2 of 8 offers)");
    free(line);
    line = progress_line("/gone", NULL, NULL, NULL, 0);
    assert_string_equal(line, "/gone: removed, 0s");
    free(line);
    json_decref(q);
    json_decref(dep);
    json_decref(app);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_fits),    cmocka_unit_test(test_text_width_utf8),
        cmocka_unit_test(test_formats),       cmocka_unit_test(test_api_error),
        cmocka_unit_test(test_app_path),      cmocka_unit_test(test_not_placed),
        cmocka_unit_test(test_progress_line),
    };
    mem_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
