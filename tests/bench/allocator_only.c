/*
 * allocator_only.c: `agora-bench --allocator_only`, the allocator of
 * agora-master (master/allocator.c) alone, in-process, as Mesos's own
 * allocator benchmarks do: --slaves slaves of --slave_resources and
 * --frameworks frameworks, no network. Beyond 15,000 slaves a master
 * cannot hold the connections (20,000 open files per process), so scale
 * beyond that is measured here.
 *
 * Round 0 is the first pass (every slave offered). Each later round gives
 * every allocation back (as if all offers were declined without a filter)
 * and times the next full pass, the worst case of a steady-state pass.
 * allocation_cycle_ms is the allocator's own figure (allocation only, as
 * in the master's agora_master_allocation_cycle_ms); pass_with_offers_ms
 * adds the offer callbacks.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "allocator.h"
#include "bench.h"
#include "log.h"
#include "mem.h"

struct held {
    int fw, slave;
};

struct ao_ctx {
    struct held *held;
    size_t nheld, cap;
};

static void ao_offer(const char *fw, const char *slave, const struct resources *res, void *arg)
{
    struct ao_ctx *c = arg;
    if (c->nheld == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 1024;
        c->held = xrealloc(c->held, c->cap * sizeof(*c->held));
    }
    c->held[c->nheld].fw = atoi(fw + 3);       /* "fw-N" */
    c->held[c->nheld].slave = atoi(slave + 6); /* "slave-N" */
    c->nheld++;
}

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int bench_allocator_only(const struct bench_config *cfg, int rounds)
{
    struct ao_ctx c = { 0 };
    struct alloc_callbacks cbs = { .offer = ao_offer };
    struct resources total;
    char *err = NULL;
    char id[32];
    res_init(&total);
    if (res_parse(cfg->slave_resources, NULL, &total, &err) != 0) {
        fprintf(stderr, "agora-bench: --slave_resources: %s\n", err);
        free(err);
        return 2;
    }
    if (rounds < 1)
        rounds = 1;
    struct allocator *a = alloc_new(NULL, 0, &cbs, &c);
    double t0 = bench_now();
    for (int i = 0; i < cfg->frameworks; i++) {
        snprintf(id, sizeof(id), "fw-%d", i);
        alloc_add_framework(a, id, "*", true);
    }
    for (int i = 0; i < cfg->slaves; i++) {
        snprintf(id, sizeof(id), "slave-%d", i);
        alloc_add_slave(a, id, &total);
    }
    double setup_s = bench_now() - t0;

    double *cycle = xcalloc((size_t)rounds, sizeof(double));
    double *pass = xcalloc((size_t)rounds, sizeof(double));
    double cpu_first = 0, recover_ms = 0;
    size_t offers_first = 0;
    for (int r = 0; r < rounds; r++) {
        if (r > 0) {
            double tr = bench_now();
            char fid[32], sid[32];
            for (size_t i = 0; i < c.nheld; i++) {
                snprintf(fid, sizeof(fid), "fw-%d", c.held[i].fw);
                snprintf(sid, sizeof(sid), "slave-%d", c.held[i].slave);
                alloc_recover(a, fid, sid, &total, 0);
            }
            recover_ms += (bench_now() - tr) * 1e3;
            c.nheld = 0;
        }
        double t = bench_now(), cpu = cpu_now();
        alloc_run(a);
        pass[r] = (bench_now() - t) * 1e3;
        struct alloc_stats st;
        alloc_get_stats(a, &st);
        cycle[r] = st.last_cycle_ms;
        if (r == 0) {
            cpu_first = (cpu_now() - cpu) * 1e3;
            offers_first = c.nheld;
        }
    }
    double first_cycle = cycle[0], first_pass = pass[0];
    json_t *j = json_object();
    json_object_set_new(j, "mode", json_string("allocator_only"));
    json_object_set_new(j, "slaves", json_integer(cfg->slaves));
    json_object_set_new(j, "frameworks", json_integer(cfg->frameworks));
    json_object_set_new(j, "rounds", json_integer(rounds));
    json_object_set_new(j, "offers_first_pass", json_integer((json_int_t)offers_first));
    json_object_set_new(j, "setup_s", json_real(setup_s));
    json_object_set_new(j, "first_cycle_ms", json_real(first_cycle));
    json_object_set_new(j, "first_pass_with_offers_ms", json_real(first_pass));
    json_object_set_new(j, "first_pass_cpu_ms", json_real(cpu_first));
    json_object_set_new(j, "recover_all_ms", json_real(rounds > 1 ? recover_ms / (rounds - 1) : 0));
    json_t *q = json_object();
    json_object_set_new(q, "p50", json_real(bench_quantile(cycle, (size_t)rounds, 0.5)));
    json_object_set_new(q, "p99", json_real(bench_quantile(cycle, (size_t)rounds, 0.99)));
    json_object_set_new(j, "allocation_cycle_ms", q);
    q = json_object();
    json_object_set_new(q, "p50", json_real(bench_quantile(pass, (size_t)rounds, 0.5)));
    json_object_set_new(q, "p99", json_real(bench_quantile(pass, (size_t)rounds, 0.99)));
    json_object_set_new(j, "pass_with_offers_ms", q);
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(j);
    free(cycle);
    free(pass);
    free(c.held);
    alloc_free(a);
    res_cleanup(&total);
    return offers_first == (size_t)cfg->slaves || cfg->frameworks == 0 ? 0 : 1;
}
