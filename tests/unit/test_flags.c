/*
 * test_flags: common/flags.c — defaults, environment (AGORA_<NAME>),
 * argv precedence, bool forms, durations, --help output, and errors that
 * name the flag and the value.
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

#include "flags.h"
#include "mem.h"

static char *work_dir;
static int port;
static double ratio;
static bool verbose;
static double timeout;
static char *zk;
static uint64_t max_body;

static const struct flag table[] = {
    { "work_dir", FLAG_STRING, &work_dir, "/var/lib/agora", "Where state lives" },
    { "port", FLAG_INT, &port, "5050", "Port to listen on" },
    { "ratio", FLAG_DOUBLE, &ratio, "0.5", "A ratio" },
    { "verbose", FLAG_BOOL, &verbose, "false", "Log more" },
    { "timeout", FLAG_DURATION, &timeout, "10secs", "How long to wait" },
    { "zk", FLAG_STRING, &zk, NULL, "ZooKeeper URL" },
    { "max_body", FLAG_BYTES, &max_body, "8MB", "Largest body" },
};
#define NFLAGS (sizeof(table) / sizeof(table[0]))

static int parse(int argc, char **argv, char **err)
{
    return flags_parse(table, NFLAGS, argc, argv, "usage: agora-test [flags]", err);
}

static int clear_env(void **state)
{
    (void)state;
    unsetenv("AGORA_PORT");
    unsetenv("AGORA_WORK_DIR");
    unsetenv("AGORA_VERBOSE");
    unsetenv("AGORA_TIMEOUT");
    return 0;
}

static int cleanup(void **state)
{
    (void)state;
    flags_cleanup(table, NFLAGS);
    assert_null(work_dir);
    return clear_env(state);
}

static void test_defaults(void **state)
{
    char *argv[] = { "prog", NULL };
    char *err = NULL;

    (void)state;
    assert_int_equal(parse(1, argv, &err), 0);
    assert_null(err);
    assert_string_equal(work_dir, "/var/lib/agora");
    assert_int_equal(port, 5050);
    assert_true(ratio == 0.5);
    assert_false(verbose);
    assert_true(timeout == 10.0);
    assert_null(zk);
}

static void test_argv_and_env(void **state)
{
    char *argv[] = { "prog",      "--port=0",        "--work-dir=/tmp/w",
                     "--verbose", "--timeout=500ms", "--zk=zk://a:2181/agora",
                     NULL };
    char *err = NULL;

    (void)state;
    setenv("AGORA_PORT", "6060", 1);
    setenv("AGORA_RATIO", "0.25", 1);
    setenv("AGORA_WORK_DIR", "/env/dir", 1);
    assert_int_equal(parse(6, argv, &err), 0);
    assert_int_equal(port, 0);               /* argv beats env */
    assert_true(ratio == 0.25);              /* env beats default */
    assert_string_equal(work_dir, "/tmp/w"); /* dashes work too */
    assert_true(verbose);
    assert_true(timeout > 0.4999 && timeout < 0.5001);
    assert_string_equal(zk, "zk://a:2181/agora");
    unsetenv("AGORA_RATIO");
}

static void test_bool_forms(void **state)
{
    char *a1[] = { "prog", "--verbose=true", "--no-verbose", NULL };
    char *a2[] = { "prog", "--verbose=yes", NULL };
    char *a3[] = { "prog", "--verbose=0", NULL };
    char *err = NULL;

    (void)state;
    assert_int_equal(parse(3, a1, &err), 0);
    assert_false(verbose);
    flags_cleanup(table, NFLAGS);
    assert_int_equal(parse(2, a2, &err), 0);
    assert_true(verbose);
    flags_cleanup(table, NFLAGS);
    assert_int_equal(parse(2, a3, &err), 0);
    assert_false(verbose);
}

static void expect_error(int argc, char **argv, const char *needle1, const char *needle2)
{
    char *err = NULL;

    assert_int_equal(parse(argc, argv, &err), -1);
    assert_non_null(err);
    if (needle1 && strstr(err, needle1) == NULL)
        fail_msg("error '%s' does not name '%s'", err, needle1);
    if (needle2 && strstr(err, needle2) == NULL)
        fail_msg("error '%s' does not name '%s'", err, needle2);
    free(err);
    flags_cleanup(table, NFLAGS);
}

static void test_errors(void **state)
{
    char *a1[] = { "prog", "--bogus=1", NULL };
    char *a2[] = { "prog", "--port=abc", NULL };
    char *a3[] = { "prog", "--port=99999999999", NULL };
    char *a4[] = { "prog", "--timeout=10parsecs", NULL };
    char *a5[] = { "prog", "positional", NULL };
    char *a6[] = { "prog", "--port", NULL };
    char *a7[] = { "prog", "--verbose=maybe", NULL };
    char *a8[] = { "prog", "--no-port", NULL };
    char *a9[] = { "prog", "--ratio=1.5x", NULL };
    char *a10[] = { "prog", NULL };

    (void)state;
    expect_error(2, a1, "--bogus", NULL);
    expect_error(2, a2, "--port", "abc");
    expect_error(2, a3, "--port", "99999999999");
    expect_error(2, a4, "--timeout", "10parsecs");
    expect_error(2, a5, "positional", NULL);
    expect_error(2, a6, "--port", NULL);
    expect_error(2, a7, "--verbose", "maybe");
    expect_error(2, a8, "no-port", NULL);
    expect_error(2, a9, "--ratio", "1.5x");
    setenv("AGORA_PORT", "eighty", 1);
    expect_error(1, a10, "AGORA_PORT", "eighty");
}

static void test_durations(void **state)
{
    double s;

    (void)state;
    assert_int_equal(flags_parse_duration("500ms", &s), 0);
    assert_true(s > 0.4999 && s < 0.5001);
    assert_int_equal(flags_parse_duration("10secs", &s), 0);
    assert_true(s == 10);
    assert_int_equal(flags_parse_duration("2mins", &s), 0);
    assert_true(s == 120);
    assert_int_equal(flags_parse_duration("1hrs", &s), 0);
    assert_true(s == 3600);
    assert_int_equal(flags_parse_duration("1days", &s), 0);
    assert_true(s == 86400);
    assert_int_equal(flags_parse_duration("1weeks", &s), 0);
    assert_true(s == 604800);
    assert_int_equal(flags_parse_duration("1.5h", &s), 0);
    assert_true(s == 5400);
    assert_int_equal(flags_parse_duration("3", &s), 0);
    assert_true(s == 3);
    assert_int_equal(flags_parse_duration("100us", &s), 0);
    assert_int_equal(flags_parse_duration("100ns", &s), 0);
    assert_int_equal(flags_parse_duration("5d", &s), 0);
    assert_true(s == 5 * 86400);
    assert_int_equal(flags_parse_duration("", &s), -1);
    assert_int_equal(flags_parse_duration("ms", &s), -1);
    assert_int_equal(flags_parse_duration("-1secs", &s), -1);
    assert_int_equal(flags_parse_duration("1 secs", &s), -1);
    assert_int_equal(flags_parse_duration("1years", &s), -1);
    assert_int_equal(flags_parse_duration("nan", &s), -1);
    assert_int_equal(flags_parse_duration(NULL, &s), -1);
}

static void test_bytes(void **state)
{
    uint64_t b = 0;
    char *err = NULL;
    char *argv_ok[] = { "prog", "--max_body=2GB" };
    char *argv_bad[] = { "prog", "--max_body=12XB" };

    assert_int_equal(flags_parse_bytes("512MB", &b), 0);
    assert_int_equal(b, 512ULL << 20);
    assert_int_equal(flags_parse_bytes("100KB", &b), 0);
    assert_int_equal(b, 102400);
    assert_int_equal(flags_parse_bytes("1024B", &b), 0);
    assert_int_equal(b, 1024);
    assert_int_equal(flags_parse_bytes("4096", &b), 0);
    assert_int_equal(b, 4096);
    assert_int_equal(flags_parse_bytes("1.5kb", &b), 0);
    assert_int_equal(b, 1536);
    assert_int_equal(flags_parse_bytes("3TB", &b), 0);
    assert_int_equal(b, 3ULL << 40);
    assert_int_equal(flags_parse_bytes("0", &b), 0);
    assert_int_equal(b, 0);
    const char *bad[] = { "",    "MB",  "-1MB", " 1MB", "1 MB",      "1MBx",
                          "1PB", "abc", "nan",  "inf",  "99999999TB" };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_int_equal(flags_parse_bytes(bad[i], &b), -1);
    assert_int_equal(flags_parse_bytes(NULL, &b), -1);

    assert_int_equal(parse(2, argv_ok, &err), 0);
    assert_int_equal(max_body, 2ULL << 30);
    flags_cleanup(table, NFLAGS);
    assert_int_equal(parse(2, argv_bad, &err), -1);
    assert_non_null(strstr(err, "--max_body"));
    assert_non_null(strstr(err, "12XB"));
    free(err);
}

static void test_help(void **state)
{
    char *argv[] = { "prog", "--port=1", "--help", NULL };
    char path[] = "/tmp/test_flags_help_XXXXXX";
    int fd = mkstemp(path), saved = dup(STDOUT_FILENO);
    char buf[4096];
    ssize_t n;
    FILE *f;

    (void)state;
    assert_true(fd >= 0);
    fflush(stdout);
    dup2(fd, STDOUT_FILENO);
    assert_int_equal(parse(3, argv, NULL), 1);
    fflush(stdout);
    dup2(saved, STDOUT_FILENO);
    close(saved);
    f = fdopen(fd, "r");
    rewind(f);
    n = (ssize_t)fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    unlink(path);
    assert_true(n > 0);
    buf[n] = '\0';
    assert_non_null(strstr(buf, "usage: agora-test"));
    assert_non_null(strstr(buf, "  --port=VALUE  Port to listen on (default: 5050)\n"));
    assert_non_null(strstr(buf, "  --timeout=VALUE  How long to wait (default: 10secs)\n"));
    assert_non_null(strstr(buf, "  --zk=VALUE  ZooKeeper URL\n"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, clear_env, cleanup),
        cmocka_unit_test_setup_teardown(test_argv_and_env, clear_env, cleanup),
        cmocka_unit_test_setup_teardown(test_bool_forms, clear_env, cleanup),
        cmocka_unit_test_setup_teardown(test_errors, clear_env, cleanup),
        cmocka_unit_test(test_durations),
        cmocka_unit_test_setup_teardown(test_bytes, clear_env, cleanup),
        cmocka_unit_test_setup_teardown(test_help, clear_env, cleanup),
    };

    mem_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
