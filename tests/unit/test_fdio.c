/*
 * test_fdio: common/fdio.c under a storm of signals whose handler is
 * installed without SA_RESTART (every blocking call is interrupted, as a
 * cgroup v1 memory.limit_in_bytes write is by any pending signal): whole
 * writes through a pipe a slow reader drains, blocking reads and waits
 * that see EINTR and go on, fdio_write_file on a missing file.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdio.h"

static volatile sig_atomic_t interrupts;

static void on_alarm(int sig)
{
    (void)sig;
    interrupts++;
}

/* SIGALRM every 200 us, without SA_RESTART: blocking calls get EINTR. */
static void storm_start(void)
{
    struct sigaction sa;
    struct itimerval it = { { 0, 200 }, { 0, 200 } };

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;
    assert_int_equal(sigaction(SIGALRM, &sa, NULL), 0);
    interrupts = 0;
    assert_int_equal(setitimer(ITIMER_REAL, &it, NULL), 0);
}

static void storm_stop(void)
{
    struct itimerval off = { { 0, 0 }, { 0, 0 } };

    setitimer(ITIMER_REAL, &off, NULL);
    signal(SIGALRM, SIG_DFL);
}

static void nap_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L }, rem;

    while (nanosleep(&ts, &rem) < 0 && errno == EINTR)
        ts = rem;
}

struct drain {
    int fd;
    size_t got;
    unsigned sum;
};

/* Reads slowly, so that the writer blocks on a full pipe again and again. */
static void *drain_main(void *arg)
{
    struct drain *d = arg;
    unsigned char buf[512];
    ssize_t n;
    sigset_t block;

    sigemptyset(&block);
    sigaddset(&block, SIGALRM); /* the writer's thread takes the storm */
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    while ((n = read(d->fd, buf, sizeof(buf))) > 0) {
        for (ssize_t i = 0; i < n; i++)
            d->sum += buf[i];
        d->got += (size_t)n;
        if (d->got % 8192 < 512)
            nap_ms(1);
    }
    return NULL;
}

static void test_write_all_interrupted(void **state)
{
    enum { LEN = 256 * 1024 };
    unsigned char *data = malloc(LEN);
    unsigned sum = 0;
    int fds[2];
    pthread_t th;
    struct drain d = { 0 };

    (void)state;
    for (size_t i = 0; i < LEN; i++) {
        data[i] = (unsigned char)(i * 7 + 3);
        sum += data[i];
    }
    assert_int_equal(pipe(fds), 0);
    fcntl(fds[1], F_SETPIPE_SZ, 4096);
    d.fd = fds[0];
    assert_int_equal(pthread_create(&th, NULL, drain_main, &d), 0);
    storm_start();
    assert_int_equal(fdio_write_all(fds[1], data, LEN), LEN);
    storm_stop();
    close(fds[1]);
    pthread_join(th, NULL);
    close(fds[0]);
    assert_int_equal(d.got, LEN);
    assert_int_equal(d.sum, sum);
    assert_true(interrupts > 0);
    free(data);
}

static void *late_writer(void *arg)
{
    int fd = *(int *)arg;
    sigset_t block;

    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    pthread_sigmask(SIG_BLOCK, &block, NULL);
    nap_ms(50);
    assert_int_equal(write(fd, "R 42\n", 5), 5);
    return NULL;
}

static void test_read_interrupted(void **state)
{
    int fds[2];
    char buf[16];
    pthread_t th;

    (void)state;
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(pthread_create(&th, NULL, late_writer, &fds[1]), 0);
    storm_start();
    assert_int_equal(fdio_read(fds[0], buf, sizeof(buf)), 5);
    storm_stop();
    pthread_join(th, NULL);
    assert_memory_equal(buf, "R 42\n", 5);
    assert_true(interrupts > 0);
    close(fds[0]);
    close(fds[1]);
}

static void test_waitpid_interrupted(void **state)
{
    pid_t pid;
    int status = 0;

    (void)state;
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGALRM, SIG_IGN);
        nap_ms(50);
        _exit(7);
    }
    storm_start();
    assert_int_equal(fdio_waitpid(pid, &status, 0), pid);
    storm_stop();
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
    assert_true(interrupts > 0);
}

static void test_write_file(void **state)
{
    char path[] = "/tmp/agora-test-fdio-XXXXXX";
    char buf[32] = { 0 };
    int fd = mkstemp(path);

    (void)state;
    assert_true(fd >= 0);
    assert_int_equal(fdio_write_file(path, "33554432"), 0);
    assert_int_equal(fdio_read(fd, buf, sizeof(buf) - 1), 8);
    assert_string_equal(buf, "33554432");
    close(fd);
    unlink(path);
    errno = 0;
    assert_int_equal(fdio_write_file(path, "1"), -1);
    assert_int_equal(errno, ENOENT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_write_all_interrupted),
        cmocka_unit_test(test_read_interrupted),
        cmocka_unit_test(test_waitpid_interrupted),
        cmocka_unit_test(test_write_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
