/*
 * test_logrot: common/logrot.c: rotation at max_size with max_files
 * copies (names, sizes, contents in order), a restarted writer going on
 * from the file's size, max_files 0 and max_size 0.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "logrot.h"

static char dir[] = "/tmp/test_logrot.XXXXXX";

static long size_of(const char *name)
{
    char path[256];
    struct stat st;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

static char first_byte(const char *name)
{
    char path[256], c = 0;
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    f = fopen(path, "r");
    if (f != NULL) {
        if (fread(&c, 1, 1, f) != 1)
            c = 0;
        fclose(f);
    }
    return c;
}

static void clean(void)
{
    const char *names[] = { "out", "out.1", "out.2", "out.3" };
    char path[256];

    for (size_t i = 0; i < 4; i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        unlink(path);
    }
}

static void test_rotates_and_keeps_n(void **state)
{
    struct logrot lr;
    char path[256], buf[100];

    (void)state;
    clean();
    snprintf(path, sizeof(path), "%s/out", dir);
    assert_int_equal(logrot_open(&lr, path, 100, 2), 0);
    /* 5 blocks of 100 bytes, 'a' to 'e', written in pieces of 60 and 40. */
    for (char c = 'a'; c <= 'e'; c++) {
        memset(buf, c, sizeof(buf));
        assert_int_equal(logrot_write(&lr, buf, 60), 0);
        assert_int_equal(logrot_write(&lr, buf, 40), 0);
    }
    assert_int_equal(size_of("out"), 100);
    assert_int_equal(size_of("out.1"), 100);
    assert_int_equal(size_of("out.2"), 100);
    assert_int_equal(size_of("out.3"), -1);
    assert_int_equal(first_byte("out"), 'e');
    assert_int_equal(first_byte("out.1"), 'd');
    assert_int_equal(first_byte("out.2"), 'c');
    /* One write larger than max_size is split across files. */
    memset(buf, 'f', sizeof(buf));
    assert_int_equal(logrot_write(&lr, buf, 50), 0);
    logrot_close(&lr);

    /* A new writer counts from the file's size: 50 more fill "out". */
    assert_int_equal(logrot_open(&lr, path, 100, 2), 0);
    assert_int_equal(lr.size, 50);
    memset(buf, 'g', sizeof(buf));
    assert_int_equal(logrot_write(&lr, buf, 51), 0);
    assert_int_equal(size_of("out"), 1);
    assert_int_equal(first_byte("out"), 'g');
    assert_int_equal(size_of("out.1"), 100);
    assert_int_equal(first_byte("out.1"), 'f');
    assert_int_equal(first_byte("out.2"), 'e');
    logrot_close(&lr);
}

static void test_no_copies_and_no_rotation(void **state)
{
    struct logrot lr;
    char path[256], buf[300];

    (void)state;
    clean();
    snprintf(path, sizeof(path), "%s/out", dir);
    memset(buf, 'x', sizeof(buf));
    assert_int_equal(logrot_open(&lr, path, 100, 0), 0);
    assert_int_equal(logrot_write(&lr, buf, 250), 0);
    assert_int_equal(size_of("out"), 50);
    assert_int_equal(size_of("out.1"), -1);
    logrot_close(&lr);
    clean();
    assert_int_equal(logrot_open(&lr, path, 0, 3), 0);
    assert_int_equal(logrot_write(&lr, buf, 300), 0);
    assert_int_equal(size_of("out"), 300);
    assert_int_equal(size_of("out.1"), -1);
    logrot_close(&lr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rotates_and_keeps_n),
        cmocka_unit_test(test_no_copies_and_no_rotation),
    };
    int rc;

    if (mkdtemp(dir) == NULL)
        return 1;
    rc = cmocka_run_group_tests(tests, NULL, NULL);
    clean();
    rmdir(dir);
    return rc;
}
