/*
 * test_gc: slave/gc.c's allowed age of a finished sandbox at a disk usage
 * (Mesos' gc_delay * max(0, 1 - headroom - usage)).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "slave.h"

#define WEEK 604800.0

static void test_max_age(void **state)
{
    (void)state;
    /* An empty disk: the whole delay less the headroom's share. */
    assert_float_equal(gc_max_age(WEEK, 0.1, 0.0), WEEK * 0.9, 1e-6);
    assert_float_equal(gc_max_age(2.0, 0.1, 0.5), 0.8, 1e-9);
    assert_float_equal(gc_max_age(100.0, 0.0, 0.25), 75.0, 1e-9);
    /* At and past 1 - headroom used: due at once, never negative. */
    assert_float_equal(gc_max_age(WEEK, 0.1, 0.9), 0.0, 1e-6);
    assert_float_equal(gc_max_age(WEEK, 0.1, 0.97), 0.0, 0.0);
    assert_float_equal(gc_max_age(WEEK, 1.0, 0.0), 0.0, 0.0);
    assert_float_equal(gc_max_age(0.0, 0.1, 0.2), 0.0, 0.0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_age),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
