/*
 * leader.c: following the leading master through ZooKeeper, for
 * --master=zk://... runs (the failover scenario of issue 5).
 *
 * Every bench process (the parent with the frameworks, each slave child)
 * opens its own ZooKeeper session after the fork and runs common/detector.h's
 * detector on it, the recipe agora-slave and libagora-scheduler use: the
 * lowest json.info_ znode leads, its MasterInfo names host and port. The
 * owner is told only when that address changes (host NULL: no leader
 * known, e.g. while the session is LOST).
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "mem.h"
#include "detector.h"
#include "zk.h"

/* Same as agora-slave's detector session: nothing ephemeral rides on it. */
#define BENCH_ZK_SESSION_TIMEOUT 10.0

struct bench_leader {
    struct zk *zk;
    struct detector *det;
    char *host;
    int port;
    bench_leader_fn fn;
    void *arg;
};

static void on_leader(struct detector *d, const char *name, const char *data, size_t len, void *arg)
{
    struct bench_leader *l = arg;
    char *host = NULL, *err = NULL;
    int port = 0;
    if (name && zk_master_address(data, len, &host, &port, &err) != 0) {
        fprintf(stderr, "agora-bench: leading master %s: %s\n", name, err);
        free(err);
    }
    if (host && l->host && strcmp(host, l->host) == 0 && port == l->port) {
        free(host);
        return;
    }
    if (!host && !l->host)
        return;
    free(l->host);
    l->host = host;
    l->port = port;
    l->fn(l->host, l->port, l->arg);
}

struct bench_leader *bench_leader_new(struct event_base *base, const char *zk_url,
                                      bench_leader_fn fn, void *arg)
{
    char *hosts = NULL, *path = NULL, *err = NULL;
    if (zk_parse_url(zk_url, &hosts, &path, &err) != 0) {
        fprintf(stderr, "agora-bench: --master: %s\n", err);
        free(err);
        return NULL;
    }
    struct bench_leader *l = xcalloc(1, sizeof(*l));
    l->fn = fn;
    l->arg = arg;
    l->zk = zk_new(base, hosts, BENCH_ZK_SESSION_TIMEOUT, NULL, NULL, &err);
    if (!l->zk) {
        fprintf(stderr, "agora-bench: ZooKeeper %s: %s\n", hosts, err ? err : "?");
        free(err);
        free(l);
        l = NULL;
    } else {
        l->det = detector_new(l->zk, path, ZK_LEADER_PREFIX, on_leader, l);
    }
    free(hosts);
    free(path);
    return l;
}

void bench_leader_free(struct bench_leader *l)
{
    if (!l)
        return;
    detector_free(l->det);
    zk_free(l->zk);
    free(l->host);
    free(l);
}
