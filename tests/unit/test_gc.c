/*
 * test_gc: slave/gc.c's allowed age of a finished sandbox at a disk usage
 * (Mesos' gc_delay * max(0, 1 - headroom - usage)), and the removal it
 * runs (common rm_rf), which must never follow a symlink a task left in
 * its sandbox.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "atomic_file.h"
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

static void touch(const char *dir, const char *name)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("x", f);
    fclose(f);
}

static void test_rm_rf_never_follows_symlinks(void **state)
{
    (void)state;
    char root[] = "/tmp/test_gc.XXXXXX", path[512], outside[512], sandbox[512];
    assert_non_null(mkdtemp(root));
    snprintf(outside, sizeof(outside), "%s/outside", root);
    snprintf(sandbox, sizeof(sandbox), "%s/sandbox", root);
    assert_int_equal(mkdir(outside, 0755), 0);
    touch(outside, "precious");
    snprintf(path, sizeof(path), "%s/deep/er", sandbox);
    assert_int_equal(mkdir_p(path), 0);
    touch(path, "stdout");
    /* A task's links to a directory and a file outside its sandbox. */
    snprintf(path, sizeof(path), "%s/deep/to-dir", sandbox);
    assert_int_equal(symlink(outside, path), 0);
    snprintf(path, sizeof(path), "%s/to-file", sandbox);
    char target[600];
    snprintf(target, sizeof(target), "%s/precious", outside);
    assert_int_equal(symlink(target, path), 0);

    assert_int_equal(rm_rf(sandbox), 0);
    struct stat st;
    assert_int_equal(lstat(sandbox, &st), -1);
    assert_int_equal(stat(target, &st), 0);
    /* The sandbox itself a symlink: the link goes, not what it names. */
    snprintf(path, sizeof(path), "%s/link-sandbox", root);
    assert_int_equal(symlink(outside, path), 0);
    assert_int_equal(rm_rf(path), 0);
    assert_int_equal(stat(target, &st), 0);
    /* Absent: nothing to do. */
    assert_int_equal(rm_rf(sandbox), 0);
    assert_int_equal(rm_rf(root), 0);
    assert_int_equal(lstat(root, &st), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_max_age),
        cmocka_unit_test(test_rm_rf_never_follows_symlinks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
