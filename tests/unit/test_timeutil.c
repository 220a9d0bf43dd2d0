/*
 * test_timeutil: common/timeutil.c and common/pbutil.c — timeval
 * conversions (rounding, negative, NaN, huge values), ISO-8601 format and
 * parse (round trip with milliseconds, offsets, bad input), and pb_dup /
 * pb_pack on a real message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mesos.pb-c.h"
#include "pbutil.h"
#include "timeutil.h"

static void test_timeval(void **state)
{
    struct timeval tv;

    tv = time_tv(1.5);
    assert_int_equal(tv.tv_sec, 1);
    assert_int_equal(tv.tv_usec, 500000);
    tv = time_tv(0.3); /* 0.3 * 1e6 is 299999.99...: rounded, not truncated */
    assert_int_equal(tv.tv_sec, 0);
    assert_int_equal(tv.tv_usec, 300000);
    tv = time_tv(-2.5);
    assert_int_equal(tv.tv_sec, 0);
    assert_int_equal(tv.tv_usec, 0);
    tv = time_tv(NAN);
    assert_int_equal(tv.tv_sec, 0);
    assert_int_equal(tv.tv_usec, 0);
    tv = time_tv(1e300);
    assert_int_equal(tv.tv_sec, (time_t)TIME_TV_MAX_SECS);
    assert_int_equal(tv.tv_usec, 0);
    tv = time_tv(INFINITY);
    assert_int_equal(tv.tv_sec, (time_t)TIME_TV_MAX_SECS);
    tv = time_tv(86400.0 * 365 * 50 + 0.25);
    assert_int_equal(tv.tv_sec, 86400L * 365 * 50);
    assert_int_equal(tv.tv_usec, 250000);
    tv = time_tv_ceil(0.0000001);
    assert_int_equal(tv.tv_sec, 0);
    assert_int_equal(tv.tv_usec, 1);
    tv = time_tv_ceil(2.0);
    assert_int_equal(tv.tv_sec, 2);
    assert_int_equal(tv.tv_usec, 0);
    tv = time_tv(1234.000001);
    assert_true(fabs(time_from_tv(tv) - 1234.000001) < 1e-9);
    assert_true(time_now() > 1.7e9);
    assert_true(time_mono() > 0);
}

static void test_iso8601(void **state)
{
    char buf[TIME_ISO_LEN];
    double t;

    assert_string_equal(time_format_iso8601(0, buf), "1970-01-01T00:00:00.000Z");
    assert_int_equal(time_parse_iso8601("2026-12-02T03:04:05.678Z", &t), 0);
    assert_string_equal(time_format_iso8601(t, buf), "2026-12-02T03:04:05.678Z");
    assert_true(fabs(t - 1796180645.678) < 1e-6);
    /* every millisecond of one second survives the round trip */
    for (int ms = 0; ms < 1000; ms++) {
        char in[TIME_ISO_LEN];
        snprintf(in, sizeof(in), "2031-02-28T23:59:59.%03dZ", ms);
        assert_int_equal(time_parse_iso8601(in, &t), 0);
        assert_string_equal(time_format_iso8601(t, buf), in);
    }
    /* rounding to the millisecond carries into the seconds */
    assert_string_equal(time_format_iso8601(59.9996, buf), "1970-01-01T00:01:00.000Z");
    /* before the epoch */
    assert_string_equal(time_format_iso8601(-0.5, buf), "1969-12-31T23:59:59.500Z");
    assert_int_equal(time_parse_iso8601("1969-12-31T23:59:59.500Z", &t), 0);
    assert_true(fabs(t + 0.5) < 1e-9);
    /* no fraction, offsets, leap day */
    assert_int_equal(time_parse_iso8601("2026-12-02T03:04:05Z", &t), 0);
    assert_string_equal(time_format_iso8601(t, buf), "2026-12-02T03:04:05.000Z");
    assert_int_equal(time_parse_iso8601("2026-12-02T05:04:05.5+02:00", &t), 0);
    assert_string_equal(time_format_iso8601(t, buf), "2026-12-02T03:04:05.500Z");
    assert_int_equal(time_parse_iso8601("2026-12-01T22:04:05-0500", &t), 0);
    assert_string_equal(time_format_iso8601(t, buf), "2026-12-02T03:04:05.000Z");
    assert_int_equal(time_parse_iso8601("2024-02-29T00:00:00.000Z", &t), 0);

    const char *bad[] = { "",
                          "2026-12-02",
                          "2026-12-02T03:04:05",
                          "2026-12-02T03:04:05.Z",
                          "2026-13-02T03:04:05Z",
                          "2026-02-30T03:04:05Z",
                          "2025-02-29T03:04:05Z",
                          "2026-12-02T24:04:05Z",
                          "2026-12-02T03:60:05Z",
                          "2026-12-02 03:04:05Z",
                          "2026-12-02T03:04:05Zjunk",
                          "2026-12-02T03:04:05+2:00",
                          "26-12-02T03:04:05Z" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(time_parse_iso8601(bad[i], &t), -1);
    assert_int_equal(time_parse_iso8601(NULL, &t), -1);
}

static void test_pb(void **state)
{
    Mesos__V1__TaskID id = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__TaskID *copy;
    uint8_t *buf;
    size_t len;

    id.value = "task-1";
    copy = pb_dup(&id.base);
    assert_string_equal(copy->value, "task-1");
    assert_ptr_not_equal(copy->value, id.value);
    pb_free(copy);
    pb_free(NULL);
    buf = pb_pack(&id.base, &len);
    assert_int_equal(len, 8);
    assert_memory_equal(buf + 2, "task-1", 6);
    free(buf);
    {
        Mesos__V1__Filters empty = MESOS__V1__FILTERS__INIT;
        buf = pb_pack(&empty.base, &len);
        assert_non_null(buf);
        assert_int_equal(len, 0);
        free(buf);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timeval),
        cmocka_unit_test(test_iso8601),
        cmocka_unit_test(test_pb),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
