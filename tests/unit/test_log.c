/*
 * test_log: common/log.c's per-site rate limit — a site repeating within
 * its interval is cut after the burst and its count reported once as
 * "... last message repeated N times" (at its next message after the
 * interval, at a sweep a second later, or when forced); other sites are
 * not affected; burst 0 turns the limit off. stderr goes to a temporary
 * file that the tests read back; the clock is a fake.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"

static double fake_now = 1000.0;

static double fake_clock(void)
{
    return fake_now;
}

static FILE *capture;
static int saved_stderr = -1;

static int setup(void **state)
{
    (void)state;
    fflush(stderr);
    saved_stderr = dup(fileno(stderr));
    capture = tmpfile();
    dup2(fileno(capture), fileno(stderr));
    log_set_clock(fake_clock);
    log_set_rate_limit(5, 1.0);
    fake_now += 100; /* a fresh interval for every site */
    log_flush_repeats(1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fflush(stderr);
    dup2(saved_stderr, fileno(stderr));
    close(saved_stderr);
    fclose(capture);
    log_set_clock(NULL);
    log_set_rate_limit(20, 1.0);
    return 0;
}

/* Lines written since setup containing needle; *last: the last one. */
static int count_lines(const char *needle, char *last, size_t lastsz)
{
    char line[4096];
    int n = 0;

    fflush(stderr);
    rewind(capture);
    while (fgets(line, sizeof(line), capture)) {
        if (strstr(line, needle)) {
            n++;
            if (last)
                snprintf(last, lastsz, "%s", line);
        }
    }
    fseek(capture, 0, SEEK_END);
    return n;
}

static void flood(int n)
{
    for (int i = 0; i < n; i++)
        log_warn("flood %d", i); /* one site */
}

static void test_burst_then_repeated(void **state)
{
    char last[4096];

    (void)state;
    flood(1000);
    assert_int_equal(count_lines("flood ", NULL, 0), 5);
    assert_int_equal(count_lines("repeated", NULL, 0), 0);
    /* Another site is not affected by the first one's flood. */
    log_warn("other site");
    assert_int_equal(count_lines("other site", NULL, 0), 1);
    /* The interval is over: the next message reports the count first. */
    fake_now += 1.5;
    flood(1);
    assert_int_equal(count_lines("repeated", last, sizeof(last)), 1);
    assert_non_null(strstr(last, "last message repeated 995 times"));
    assert_non_null(strstr(last, " W test_log.c:"));
    assert_int_equal(count_lines("flood ", NULL, 0), 6);
}

static void test_quiet_site_reported_by_sweep(void **state)
{
    char last[4096];

    (void)state;
    flood(12);
    assert_int_equal(count_lines("repeated", NULL, 0), 0);
    /* The site goes quiet; another one logging a second later sweeps. */
    fake_now += 2;
    log_info("unrelated");
    assert_int_equal(count_lines("repeated", last, sizeof(last)), 1);
    assert_non_null(strstr(last, "repeated 7 times"));
    /* Forced flush with nothing pending writes nothing more. */
    log_flush_repeats(1);
    assert_int_equal(count_lines("repeated", NULL, 0), 1);
}

static void test_forced_flush(void **state)
{
    char last[4096];

    (void)state;
    flood(8);
    log_flush_repeats(1);
    assert_int_equal(count_lines("repeated", last, sizeof(last)), 1);
    assert_non_null(strstr(last, "repeated 3 times"));
}

static void test_disabled(void **state)
{
    (void)state;
    log_set_rate_limit(0, 1.0);
    flood(100);
    assert_int_equal(count_lines("flood ", NULL, 0), 100);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_burst_then_repeated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_quiet_site_reported_by_sweep, setup, teardown),
        cmocka_unit_test_setup_teardown(test_forced_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disabled, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
