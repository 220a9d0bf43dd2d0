/*
 * zk_server.h: a standalone ZooKeeper server for the unit tests that need a
 * real one (test_store, test_leader): QuorumPeerMain from Debian's
 * zookeeper package on a free loopback port, started by the group setup
 * (zk_server_start) and killed by the group teardown (zk_server_stop).
 * Without /usr/share/java/zookeeper.jar zk_server.pid stays 0 and the tests
 * that need it skip. Header only: static functions for one test file each.
 */
#ifndef AGORA_TEST_ZK_SERVER_H
#define AGORA_TEST_ZK_SERVER_H

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "atomic_file.h"
#include "mem.h"
#include "zk.h"

#define ZK_JAR "/usr/share/java/zookeeper.jar"

static struct {
    pid_t pid;
    int port;
    char dir[64];
} zk_server;

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(a);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* zk_state_fn: sets *(int *)arg once CONNECTED. */
static void on_zk_state(struct zk *zk, enum zk_state st, void *arg)
{
    if (st == ZK_STATE_CONNECTED)
        *(int *)arg = 1;
}

static int zk_server_start(void **state)
{
    if (access(ZK_JAR, R_OK) != 0)
        return 0;
    strcpy(zk_server.dir, "/tmp/agora-test-store-zk-XXXXXX");
    assert_non_null(mkdtemp(zk_server.dir));
    zk_server.port = free_port();
    char *cfg = xasprintf("%s/zoo.cfg", zk_server.dir);
    char *body = xasprintf("tickTime=500\ndataDir=%s/data\nclientPort=%d\n"
                           "clientPortAddress=127.0.0.1\nmaxClientCnxns=0\n"
                           "admin.enableServer=false\n4lw.commands.whitelist=*\n",
                           zk_server.dir, zk_server.port);
    char *err = NULL;
    assert_int_equal(atomic_write(cfg, body, strlen(body), &err), 0);
    free(body);
    char *logp = xasprintf("%s/log", zk_server.dir);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        FILE *log = freopen(logp, "w", stdout);
        (void)log;
        dup2(1, 2);
        execlp("java", "java", "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
               "-Dzookeeper.admin.enableServer=false", "-Dzookeeper.jmx.log4j.disable=true", "-cp",
               ZK_JAR, "org.apache.zookeeper.server.quorum.QuorumPeerMain", cfg, (char *)NULL);
        _exit(127);
    }
    zk_server.pid = pid;
    free(cfg);
    free(logp);
    return 0;
}

static int zk_server_stop(void **state)
{
    if (zk_server.pid > 0) {
        kill(zk_server.pid, SIGKILL);
        waitpid(zk_server.pid, NULL, 0);
        zk_server.pid = 0;
        rm_rf(zk_server.dir);
    }
    return 0;
}

#endif
