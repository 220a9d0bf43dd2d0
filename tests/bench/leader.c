/*
 * leader.c: following the leading master through ZooKeeper, for
 * --master=zk://... runs (the failover scenario of issue 5).
 *
 * Every bench process (the parent with the frameworks, each slave child)
 * opens its own ZooKeeper session after the fork through
 * common/master_follow.h, as agora-slave and libagora-scheduler do: the
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
#include "master_follow.h"

/* Same as agora-slave's detector session: nothing ephemeral rides on it. */
#define BENCH_ZK_SESSION_TIMEOUT 10.0

struct bench_leader {
    struct master_follow *follow;
    char *host;
    int port;
    bench_leader_fn fn;
    void *arg;
};

static void on_leader(struct master_follow *f, const char *leader, int port, const char *name,
                      void *arg)
{
    struct bench_leader *l = arg;
    if (leader && l->host && strcmp(leader, l->host) == 0 && port == l->port)
        return;
    if (!leader && !l->host)
        return;
    free(l->host);
    l->host = leader ? xstrdup(leader) : NULL;
    l->port = port;
    l->fn(l->host, l->port, l->arg);
}

struct bench_leader *bench_leader_new(struct event_base *base, const char *zk_url,
                                      bench_leader_fn fn, void *arg)
{
    char *err = NULL;
    struct bench_leader *l = xcalloc(1, sizeof(*l));
    l->fn = fn;
    l->arg = arg;
    l->follow = master_follow_new(zk_url, &err);
    if (!l->follow ||
        master_follow_start(l->follow, base, BENCH_ZK_SESSION_TIMEOUT, on_leader, l, &err) != 0) {
        fprintf(stderr, "agora-bench: --master=%s: %s\n", zk_url, err ? err : "?");
        free(err);
        bench_leader_free(l);
        return NULL;
    }
    return l;
}

void bench_leader_free(struct bench_leader *l)
{
    if (!l)
        return;
    master_follow_free(l->follow);
    free(l->host);
    free(l);
}
