/*
 * test_daemon: common/daemon.c — --version and --help, flag errors, a
 * failed start, --port_file written after on_start, the cron, SIGTERM
 * calling on_stop, a second signal exiting at once (128 + signal), and
 * the exit code of daemon_exit().
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "mem.h"

static int f_n;
static const struct flag flags[] = {
    { "n", FLAG_INT, &f_n, "3", "cron ticks before the test acts" },
};

struct run {
    int starts, crons, stops, cleanups;
    bool fail_start;
    int mode; /* 0: daemon_exit(7) from cron; 1: SIGTERM; 2: SIGTERM twice */
};

static int on_start(struct daemon *d, void *arg, char **err)
{
    struct run *r = arg;

    r->starts++;
    if (r->fail_start) {
        *err = xstrdup("--n: cannot start");
        return -1;
    }
    daemon_set_port(d, 4242);
    return 0;
}

static void on_cron(struct daemon *d, void *arg)
{
    struct run *r = arg;

    if (++r->crons < f_n)
        return;
    if (r->mode == 0)
        daemon_exit(d, 7);
    else if (r->crons == f_n)
        raise(SIGTERM);
    else if (r->mode == 2)
        raise(SIGINT);
}

static void on_stop(struct daemon *d, void *arg, int sig)
{
    struct run *r = arg;

    assert_int_equal(sig, SIGTERM);
    r->stops++;
    if (r->mode == 1)
        daemon_exit(d, 0); /* mode 2 never finishes its graceful stop */
}

static void on_cleanup(struct daemon *d, void *arg)
{
    ((struct run *)arg)->cleanups++;
}

static const struct daemon_def def = {
    .name = "agora-test",
    .version = "9.8.7",
    .usage = "Usage: agora-test",
    .flags = flags,
    .nflags = 1,
    .on_start = on_start,
    .on_stop = on_stop,
    .on_cron = on_cron,
    .cron_interval = 0.01,
    .on_cleanup = on_cleanup,
};

static int run(struct run *r, int argc, char **argv)
{
    return daemon_main(&def, r, argc, argv);
}

static void test_version_help_errors(void **state)
{
    struct run r = { 0 };
    char *v[] = { "t", "--version" }, *h[] = { "t", "--help" }, *bad[] = { "t", "--n=x" };
    char *lvl[] = { "t", "--log_level=loud" };

    assert_int_equal(run(&r, 2, v), 0);
    assert_int_equal(run(&r, 2, h), 0);
    assert_int_equal(run(&r, 2, bad), 1);
    assert_int_equal(run(&r, 2, lvl), 1);
    assert_int_equal(r.starts, 0);
    r.fail_start = true;
    assert_int_equal(run(&r, 1, (char *[]){ "t" }), 1);
    assert_int_equal(r.starts, 1);
    assert_int_equal(r.cleanups, 1);
}

static void test_port_file_cron_exit(void **state)
{
    char path[] = "/tmp/test_daemon_XXXXXX", arg[64], buf[16] = { 0 };
    int fd = mkstemp(path);
    struct run r = { 0 };
    FILE *f;

    close(fd);
    unlink(path);
    snprintf(arg, sizeof(arg), "--port_file=%s", path);
    assert_int_equal(run(&r, 2, (char *[]){ "t", arg }), 7);
    assert_int_equal(r.crons, 3);
    assert_int_equal(r.cleanups, 1);
    f = fopen(path, "r");
    assert_non_null(f);
    assert_non_null(fgets(buf, sizeof(buf), f));
    fclose(f);
    assert_string_equal(buf, "4242\n");
    unlink(path);
}

static void test_signals(void **state)
{
    struct run r = { .mode = 1 };

    assert_int_equal(run(&r, 1, (char *[]){ "t" }), 0);
    assert_int_equal(r.stops, 1);
    r = (struct run){ .mode = 2 };
    assert_int_equal(run(&r, 1, (char *[]){ "t" }), 128 + SIGINT);
    assert_int_equal(r.stops, 1);
    assert_int_equal(r.cleanups, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_version_help_errors),
        cmocka_unit_test(test_port_file_cron_exit),
        cmocka_unit_test(test_signals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
