/*
 * main.c: agora-bench's entry point — flags, the slave processes, the
 * run's phases and the one JSON line of figures (issue 5; the scenarios
 * and the latest figures are in tests/bench/README.md).
 *
 * Phases of a run, driven by a 20 ms tick in the parent:
 *   REGISTER  children subscribe their slaves; register_s is the time from
 *             the first SUBSCRIBE to the last REGISTERED;
 *   RUN       the frameworks subscribe and launch --tasks tasks; done when
 *             every task reported a terminal state (or --timeout);
 *   METRICS   GET /metrics of the master for allocation_cycle_ms, then the
 *             master's RSS and CPU time from /proc, the JSON line, and the
 *             children are told to stop.
 *   FAILOVER  (--failover, zk runs) once every task is RUNNING and
 *             --kill_leader_after passed: kill -9 the leading master, wait
 *             for ZooKeeper to name another (the parent's own detector), then
 *             for every slave to re-register and every framework to
 *             re-subscribe with it: failover_reregister_s is the time from
 *             that election to the last slave's REGISTERED, and
 *             failover_election_s the time from the kill to the election.
 *             The new leader's /metrics then confirm the counts.
 *   HOLD      (--frameworks=0 --hold=D) instead of RUN: no frameworks, the
 *             slaves stay registered for another framework (agora-pacer,
 *             tests/bench/pacer_bench.py) for D or until SIGTERM/SIGINT.
 * A run is bounded: --timeout ends it (the figures then say timed_out),
 * and the children die with the parent (PR_SET_PDEATHSIG).
 */
#define _GNU_SOURCE
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "bench.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "zk.h"

static char *f_master, *f_slave_resources;
static int f_slaves, f_frameworks, f_procs, f_conns, f_window, f_master_pid, f_rounds;
static int f_leader_pid, f_ports_per_slave;
static double f_tasks, f_task_duration, f_task_cpus, f_task_mem, f_timeout, f_state_interval;
static double f_kill_after, f_backoff_factor, f_hold;
static bool f_allocator_only, f_failover;

static const struct flag flag_table[] = {
    { "master", FLAG_STRING, &f_master, "127.0.0.1:5050",
      "The agora-master to load: HOST:PORT, or zk://host:port,.../path to follow the leader" },
    { "slaves", FLAG_INT, &f_slaves, "100", "Emulated slaves" },
    { "frameworks", FLAG_INT, &f_frameworks, "2", "Emulated frameworks" },
    { "tasks", FLAG_DOUBLE, &f_tasks, "1000", "Tasks in total, shared by the frameworks" },
    { "task_duration", FLAG_DURATION, &f_task_duration, "0secs",
      "Time from TASK_RUNNING to TASK_FINISHED" },
    { "slave_resources", FLAG_STRING, &f_slave_resources,
      "cpus:16;mem:16384;disk:102400;ports:[31000-32000]", "Resources of each emulated slave" },
    { "slave_ports_per_slave", FLAG_INT, &f_ports_per_slave, "0",
      "N > 0: slave i offers ports [B+i*N, B+i*N+N-1] (B: the first port of --slave_resources) "
      "instead of the same range everywhere, so a real listener can answer each task's port" },
    { "task_cpus", FLAG_DOUBLE, &f_task_cpus, "1", "cpus of each task" },
    { "task_mem", FLAG_DOUBLE, &f_task_mem, "1024", "mem (MB) of each task" },
    { "procs", FLAG_INT, &f_procs, "0",
      "Processes for the slaves (0: one per 4,000 slaves, at least 1)" },
    { "conns", FLAG_INT, &f_conns, "4", "Pipelined keep-alive call connections per bench process" },
    { "connect_window", FLAG_INT, &f_window, "64", "SUBSCRIBEs in flight per slave process" },
    { "timeout", FLAG_DURATION, &f_timeout, "10mins", "The whole run stops after this" },
    { "state_interval", FLAG_DURATION, &f_state_interval, "0secs",
      "GET /master/state this often during the run and report its latency (0: never)" },
    { "master_pid", FLAG_INT, &f_master_pid, "0",
      "pid of the master for RSS/CPU (0: found from the port)" },
    { "allocator_only", FLAG_BOOL, &f_allocator_only, "false",
      "Benchmark the allocator alone, in-process (no master needed)" },
    { "rounds", FLAG_INT, &f_rounds, "10", "--allocator_only: full allocation passes timed" },
    { "failover", FLAG_BOOL, &f_failover, "false",
      "zk runs: kill -9 the leading master once every task runs and time the slaves' "
      "re-registration with the next leader (give tasks a --task_duration that outlasts it)" },
    { "kill_leader_after", FLAG_DURATION, &f_kill_after, "2secs",
      "--failover: wait this long after the last task reported RUNNING" },
    { "leader_pid", FLAG_INT, &f_leader_pid, "0",
      "--failover: pid of the leader to kill (0: found from the port in its MasterInfo)" },
    { "registration_backoff_factor", FLAG_DURATION, &f_backoff_factor, "1secs",
      "zk runs: slaves re-register after a delay uniform in [0.5s, this], as agora-slave" },
    { "hold", FLAG_DURATION, &f_hold, "0secs",
      "With --frameworks=0: keep the slaves registered this long for another framework "
      "(e.g. agora-pacer), ending early on SIGTERM/SIGINT; then the figures" },
};
#define NFLAGS (sizeof(flag_table) / sizeof(flag_table[0]))

enum phase { PH_REGISTER, PH_RUN, PH_FAILOVER, PH_METRICS, PH_DONE };

struct run {
    struct event_base *base;
    struct bench_config cfg;
    struct bench_shm *shm;
    struct bench_fws *fws;
    enum phase phase;
    double t0, register_s, run_start, last_progress, subscribed_at;
    bool timed_out, registered_all;
    double cycle_p50, cycle_p99, cycle_count, busy_p50, busy_p99, cycle_max;
    double *state_ms;
    size_t nstate, capstate;
    bool state_inflight;
    double state_sent, next_state;
    double cpu0;
    int pid; /* the master measured (the new leader after a failover) */
    /* zk runs */
    struct bench_leader *leader;
    bool leader_known;
    double all_running_at, killed_at, elected_at, rereg_done_at, resub_done_at;
    char *killed_host;
    int killed_port, killed_pid;
    double new_slaves_active, new_tasks_running, new_reregistrations;
    double hold_until; /* --hold: slaves only, until then or a signal */
};

/* --hold: SIGTERM/SIGINT end the hold early (the figures are still printed). */
static volatile sig_atomic_t hold_stop;
static void on_hold_signal(int sig)
{
    (void)sig;
    hold_stop = 1;
}

static void on_leader(const char *host, int port, void *arg)
{
    struct run *r = arg;
    double now = bench_now();
    fprintf(stderr, "agora-bench: %6.1fs leading master: %s:%d\n", now - r->t0,
            host ? host : "(none)", host ? port : 0);
    r->leader_known = host != NULL;
    if (!host)
        return;
    free(r->cfg.master_host);
    r->cfg.master_host = xstrdup(host);
    r->cfg.master_port = port;
    if (r->killed_at > 0 && r->elected_at == 0 &&
        (strcmp(host, r->killed_host) != 0 || port != r->killed_port))
        r->elected_at = now;
    if (r->fws)
        bench_fws_set_master(r->fws, host, port);
}

static void find_master_pid(struct run *r)
{
    double rss0;
    r->pid = f_master_pid > 0 ? f_master_pid : bench_find_master_pid(r->cfg.master_port);
    if (r->pid <= 0 || bench_proc_usage(r->pid, &rss0, &r->cpu0) != 0) {
        fprintf(stderr, "agora-bench: master process not found (port %d); RSS/CPU not reported\n",
                r->cfg.master_port);
        r->pid = -1;
    }
}

static double metric_value(const char *body, const char *name)
{
    char key[160];
    snprintf(key, sizeof(key), "\n%s ", name);
    const char *p = strstr(body, key);
    return p ? strtod(p + strlen(key), NULL) : NAN;
}

static void metrics_done(const struct http_response *resp, void *arg)
{
    struct run *r = arg;
    r->cycle_p50 = r->cycle_p99 = r->cycle_count = NAN;
    r->busy_p50 = r->busy_p99 = r->cycle_max = NAN;
    if (resp->status == 200) {
        const char *p;
        if ((p = strstr(resp->body, "agora_master_allocation_busy_cycle_ms{quantile=\"0.5\"} ")))
            r->busy_p50 = strtod(strchr(p, '}') + 2, NULL);
        if ((p = strstr(resp->body, "agora_master_allocation_busy_cycle_ms{quantile=\"0.99\"} ")))
            r->busy_p99 = strtod(strchr(p, '}') + 2, NULL);
        if ((p = strstr(resp->body, "\nagora_master_allocation_cycle_max_ms ")))
            r->cycle_max = strtod(p + strlen("\nagora_master_allocation_cycle_max_ms "), NULL);
        if ((p = strstr(resp->body, "agora_master_allocation_cycle_ms{quantile=\"0.5\"} ")))
            r->cycle_p50 = strtod(strchr(p, '}') + 2, NULL);
        if ((p = strstr(resp->body, "agora_master_allocation_cycle_ms{quantile=\"0.99\"} ")))
            r->cycle_p99 = strtod(strchr(p, '}') + 2, NULL);
        if ((p = strstr(resp->body, "agora_master_allocation_cycle_ms_count ")))
            r->cycle_count = strtod(p + strlen("agora_master_allocation_cycle_ms_count "), NULL);
        if (r->killed_at > 0) {
            r->new_slaves_active = metric_value(resp->body, "agora_master_slaves_active");
            r->new_tasks_running = metric_value(resp->body, "agora_master_tasks_running");
            r->new_reregistrations =
                metric_value(resp->body, "agora_master_slave_reregistrations_total");
        }
    } else {
        fprintf(stderr, "agora-bench: GET /metrics: %d %s\n", resp->status,
                resp->error ? resp->error : "");
    }
    r->phase = PH_DONE;
    event_base_loopbreak(r->base);
}

static void state_done(const struct http_response *resp, void *arg)
{
    struct run *r = arg;
    r->state_inflight = false;
    if (resp->status != 200) {
        fprintf(stderr, "agora-bench: GET /master/state: %d\n", resp->status);
        return;
    }
    if (r->nstate == r->capstate) {
        r->capstate = r->capstate ? r->capstate * 2 : 64;
        r->state_ms = xrealloc(r->state_ms, r->capstate * sizeof(double));
    }
    r->state_ms[r->nstate++] = (bench_now() - r->state_sent) * 1e3;
}

static void progress(struct run *r, const char *phase)
{
    const struct bench_fw_stats *st = r->fws ? bench_fws_stats(r->fws) : NULL;
    fprintf(stderr,
            "agora-bench: %6.1fs %s: %llu/%d slaves registered, running %llu, "
            "finished %llu/%ld, failed %llu\n",
            bench_now() - r->t0, phase,
            (unsigned long long)__atomic_load_n(&r->shm->registered, __ATOMIC_RELAXED),
            r->cfg.slaves, st ? (unsigned long long)st->running : 0ull,
            st ? (unsigned long long)st->finished : 0ull, r->cfg.tasks,
            st ? (unsigned long long)st->failed : 0ull);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    double now = bench_now();
    if (now - r->last_progress >= 5) {
        r->last_progress = now;
        progress(r, r->phase == PH_REGISTER   ? "register"
                    : r->phase == PH_FAILOVER ? "failover"
                                              : "run");
    }
    if (now - r->t0 > r->cfg.timeout && r->phase < PH_METRICS && r->phase != PH_RUN) {
        r->timed_out = true;
        progress(r, "timed out");
        if (!r->fws)
            fprintf(stderr, "agora-bench: no leading master found through ZooKeeper\n");
        r->phase = r->fws ? PH_DONE : PH_METRICS; /* no figures without frameworks */
        event_base_loopbreak(r->base);
        return;
    }
    if (r->phase == PH_FAILOVER) {
        uint64_t rereg = __atomic_load_n(&r->shm->reregistered, __ATOMIC_RELAXED);
        double last_resub;
        uint64_t resub = bench_fws_resubscribed(r->fws, &last_resub);
        if (r->elected_at > 0 && r->rereg_done_at == 0 &&
            rereg >= __atomic_load_n(&r->shm->registered, __ATOMIC_RELAXED)) {
            r->rereg_done_at =
                (double)__atomic_load_n(&r->shm->last_rereg_ns, __ATOMIC_RELAXED) / 1e9;
            fprintf(stderr,
                    "agora-bench: %6.1fs all %llu slaves re-registered, %.3f s after the "
                    "election\n",
                    now - r->t0, (unsigned long long)rereg, r->rereg_done_at - r->elected_at);
        }
        if (r->elected_at > 0 && r->resub_done_at == 0 && resub >= (uint64_t)r->cfg.frameworks)
            r->resub_done_at = last_resub;
        if (r->rereg_done_at > 0 && r->resub_done_at > 0) {
            progress(r, "failover done");
            r->pid = f_master_pid > 0 ? f_master_pid : bench_find_master_pid(r->cfg.master_port);
            r->cpu0 = 0;
            r->phase = PH_METRICS;
            http_call_start(r->base, r->cfg.master_host, r->cfg.master_port, "GET", "/metrics",
                            NULL, 0, NULL, 0, 30, metrics_done, r);
        }
        return;
    }
    if (r->phase == PH_REGISTER) {
        if (r->cfg.zk_url && !r->leader_known)
            return;
        if (r->cfg.zk_url && r->pid == 0)
            find_master_pid(r);
        uint64_t reg = __atomic_load_n(&r->shm->registered, __ATOMIC_RELAXED);
        uint64_t failed = __atomic_load_n(&r->shm->subscribe_failed, __ATOMIC_RELAXED);
        if (reg + failed >= (uint64_t)r->cfg.slaves || now - r->t0 > r->cfg.timeout / 2) {
            r->registered_all = reg == (uint64_t)r->cfg.slaves;
            r->register_s = now - r->t0;
            r->run_start = now;
            r->phase = PH_RUN;
            if (r->cfg.frameworks == 0) { /* --hold: slaves only */
                r->hold_until = now + f_hold;
                fprintf(stderr, "agora-bench: %6.1fs holding %llu registered slaves for %.1f s\n",
                        now - r->t0,
                        (unsigned long long)__atomic_load_n(&r->shm->registered, __ATOMIC_RELAXED),
                        f_hold);
                return;
            }
            r->fws = bench_fws_start(r->base, &r->cfg, r->shm);
            r->next_state = now + r->cfg.state_interval;
        }
        return;
    }
    if (r->phase != PH_RUN)
        return;
    if (!r->fws) { /* --hold: until its end or a signal; no --timeout here */
        if ((hold_stop || now >= r->hold_until) && !r->state_inflight) {
            progress(r, hold_stop ? "hold ended by a signal" : "hold done");
            r->phase = PH_METRICS;
            http_call_start(r->base, r->cfg.master_host, r->cfg.master_port, "GET", "/metrics",
                            NULL, 0, NULL, 0, 30, metrics_done, r);
        }
        return;
    }
    const struct bench_fw_stats *st = bench_fws_stats(r->fws);
    if (r->cfg.state_interval > 0 && !r->state_inflight && now >= r->next_state) {
        r->state_inflight = true;
        r->state_sent = now;
        r->next_state = now + r->cfg.state_interval;
        http_call_start(r->base, r->cfg.master_host, r->cfg.master_port, "GET", "/master/state",
                        NULL, 0, NULL, 0, 60, state_done, r);
    }
    bool done;
    if (r->cfg.failover) {
        bool all = r->cfg.tasks > 0 ? st->running >= (uint64_t)r->cfg.tasks
                                    : bench_fws_all_subscribed(r->fws);
        if (all && r->all_running_at == 0)
            r->all_running_at = now;
        if (st->finished + st->failed > 0 && r->all_running_at == 0) {
            fprintf(stderr, "agora-bench: --failover: tasks ended before all ran; "
                            "use a longer --task_duration\n");
            r->timed_out = true;
            r->phase = PH_DONE;
            event_base_loopbreak(r->base);
            return;
        }
        if (r->all_running_at > 0 && now - r->all_running_at >= r->cfg.kill_after &&
            !r->state_inflight) {
            int pid = f_leader_pid > 0 ? f_leader_pid : bench_find_master_pid(r->cfg.master_port);
            progress(r, "killing the leader");
            if (pid <= 0 || kill(pid, SIGKILL) != 0) {
                fprintf(stderr, "agora-bench: cannot kill the leader (pid %d, port %d)\n", pid,
                        r->cfg.master_port);
                r->timed_out = true;
                r->phase = PH_DONE;
                event_base_loopbreak(r->base);
                return;
            }
            fprintf(stderr, "agora-bench: killed the leading master %s:%d (pid %d)\n",
                    r->cfg.master_host, r->cfg.master_port, pid);
            r->killed_at = bench_now();
            r->killed_pid = pid;
            r->killed_host = xstrdup(r->cfg.master_host);
            r->killed_port = r->cfg.master_port;
            r->phase = PH_FAILOVER;
            return;
        }
        done = false;
    } else if (r->cfg.tasks > 0) {
        done = st->finished + st->failed >= (uint64_t)r->cfg.tasks;
    } else {
        /* No tasks: done once subscribed and the first offers went out. */
        if (bench_fws_all_subscribed(r->fws) && r->subscribed_at == 0)
            r->subscribed_at = now;
        done = r->subscribed_at > 0 && now - r->subscribed_at > 2;
    }
    if (now - r->t0 > r->cfg.timeout) {
        r->timed_out = true;
        done = true;
    }
    if (done && !r->state_inflight) {
        progress(r, "done");
        r->phase = PH_METRICS;
        http_call_start(r->base, r->cfg.master_host, r->cfg.master_port, "GET", "/metrics", NULL, 0,
                        NULL, 0, 30, metrics_done, r);
    }
}

static json_t *jnum(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

static json_t *quantiles(double *v, size_t n)
{
    json_t *q = json_object();
    json_object_set_new(q, "p50", jnum(bench_quantile(v, n, 0.5)));
    json_object_set_new(q, "p99", jnum(bench_quantile(v, n, 0.99)));
    return q;
}

static void print_figures(struct run *r)
{
    int pid = r->pid;
    static const struct bench_fw_stats none; /* --hold: no frameworks */
    const struct bench_fw_stats *st = r->fws ? bench_fws_stats(r->fws) : &none;
    struct bench_shm *shm = r->shm;
    json_t *j = json_object();
    json_object_set_new(j, "slaves", json_integer((json_int_t)shm->registered));
    json_object_set_new(j, "frameworks", json_integer((json_int_t)st->subscribed));
    json_object_set_new(j, "tasks", json_integer((json_int_t)st->running));
    json_object_set_new(j, "register_s", jnum(r->registered_all ? r->register_s : NAN));
    double span = st->last_running - st->first_accept;
    json_object_set_new(j, "launch_tasks_per_s",
                        jnum(st->running > 0 && span > 0 ? (double)st->running / span : NAN));
    json_object_set_new(j, "offer_latency_ms",
                        quantiles(st->offer_latency_ms, st->n_offer_latency));
    json_t *cyc = json_object();
    json_object_set_new(cyc, "p50", jnum(r->cycle_p50));
    json_object_set_new(cyc, "p99", jnum(r->cycle_p99));
    json_object_set_new(j, "allocation_cycle_ms", cyc);
    double rss = NAN, cpu = NAN;
    /* After a failover: the new leader, CPU since it started. */
    if (pid > 0 && bench_proc_usage(pid, &rss, &cpu) == 0)
        cpu -= r->cpu0;
    json_object_set_new(j, "master_rss_mb", jnum(rss));
    json_object_set_new(j, "master_cpu_s", jnum(cpu));
    /* Failover runs only (--failover with --master=zk://...). */
    bool fo = r->killed_at > 0;
    json_object_set_new(j, "failover_reregister_s",
                        jnum(fo && r->rereg_done_at > 0 ? r->rereg_done_at - r->elected_at : NAN));
    if (fo) {
        json_object_set_new(j, "failover_election_s",
                            jnum(r->elected_at > 0 ? r->elected_at - r->killed_at : NAN));
        json_object_set_new(j, "failover_resubscribe_s",
                            jnum(r->resub_done_at > 0 ? r->resub_done_at - r->elected_at : NAN));
        json_object_set_new(j, "failover_slaves_reregistered",
                            json_integer((json_int_t)shm->reregistered));
        json_object_set_new(j, "failover_resubscribe_tries",
                            json_integer((json_int_t)shm->resubscribe_tries));
        /* The new leader's own view (its /metrics). */
        json_object_set_new(j, "failover_leader_slaves_active", jnum(r->new_slaves_active));
        json_object_set_new(j, "failover_leader_tasks_running", jnum(r->new_tasks_running));
        json_object_set_new(j, "failover_leader_reregistrations", jnum(r->new_reregistrations));
    }
    /* Extras: what the figures above are made of. */
    json_object_set_new(j, "tasks_requested", json_integer((json_int_t)r->cfg.tasks));
    json_object_set_new(j, "tasks_finished", json_integer((json_int_t)st->finished));
    json_object_set_new(j, "tasks_failed", json_integer((json_int_t)st->failed));
    json_object_set_new(j, "launch_latency_ms",
                        quantiles(st->launch_latency_ms, st->n_launch_latency));
    static const char *const stages[3] = { "accept_to_run_task", "run_task_to_running_sent",
                                           "running_sent_to_update" };
    json_t *stj = json_object();
    for (int k = 0; k < 3; k++)
        json_object_set_new(stj, stages[k], quantiles(st->stage_ms[k], st->n_stage[k]));
    json_object_set_new(j, "launch_stages_ms", stj);
    json_object_set_new(j, "run_s", jnum(bench_now() - r->run_start));
    json_object_set_new(j, "offers", json_integer((json_int_t)st->offers));
    json_object_set_new(j, "accepts", json_integer((json_int_t)st->accepts));
    json_object_set_new(j, "declines", json_integer((json_int_t)st->declined));
    json_object_set_new(j, "declines_done", json_integer((json_int_t)st->declined_done));
    json_object_set_new(j, "allocation_cycles", jnum(r->cycle_count));
    /* Passes that made offers (most passes have nothing to do) and the
   * longest pass: the costly passes the quantiles above may not show. */
    json_t *busy = json_object();
    json_object_set_new(busy, "p50", jnum(r->busy_p50));
    json_object_set_new(busy, "p99", jnum(r->busy_p99));
    json_object_set_new(busy, "max", jnum(r->cycle_max));
    json_object_set_new(j, "allocation_busy_cycle_ms", busy);
    json_object_set_new(j, "slave_subscribe_failed",
                        json_integer((json_int_t)shm->subscribe_failed));
    json_object_set_new(j, "slave_streams_lost", json_integer((json_int_t)shm->streams_lost));
    json_object_set_new(j, "call_errors", json_integer((json_int_t)shm->call_errors));
    json_object_set_new(j, "updates_sent", json_integer((json_int_t)shm->updates_sent));
    json_object_set_new(j, "update_calls", json_integer((json_int_t)shm->update_calls));
    if (r->cfg.frameworks == 0) /* --hold: tasks another framework ran on the slaves */
        json_object_set_new(j, "slave_run_tasks", json_integer((json_int_t)shm->run_tasks));
    if (r->cfg.state_interval > 0) {
        json_t *sj = quantiles(r->state_ms, r->nstate);
        double mx = 0;
        for (size_t i = 0; i < r->nstate; i++)
            mx = r->state_ms[i] > mx ? r->state_ms[i] : mx;
        json_object_set_new(sj, "max", jnum(r->nstate ? mx : NAN));
        json_object_set_new(sj, "n", json_integer((json_int_t)r->nstate));
        json_object_set_new(j, "state_ms", sj);
    }
    json_object_set_new(j, "procs", json_integer(r->cfg.procs));
    json_object_set_new(j, "timed_out", json_boolean(r->timed_out));
    char *s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(6));
    printf("%s\n", s);
    fflush(stdout);
    free(s);
    json_decref(j);
}

int main(int argc, char **argv)
{
    struct run r;
    char *err = NULL;
    int rc = 1;
    pid_t *kids = NULL;
    memset(&r, 0, sizeof(r));

    mem_init();
    log_set_level(LOG_LVL_WARN);
    int fr =
        flags_parse(flag_table, NFLAGS, argc, argv, "Usage: agora-bench [--name=value ...]", &err);
    if (fr == 1) {
        rc = 0;
        goto out;
    }
    if (fr != 0) {
        fprintf(stderr, "agora-bench: %s\n", err);
        goto out;
    }
    struct bench_config *cfg = &r.cfg;
    cfg->slaves = f_slaves;
    cfg->frameworks = f_frameworks;
    cfg->tasks = (long)f_tasks;
    cfg->task_duration = f_task_duration;
    cfg->slave_resources = f_slave_resources;
    cfg->ports_per_slave = f_ports_per_slave;
    cfg->task_cpus = f_task_cpus;
    cfg->task_mem = f_task_mem;
    cfg->conns_per_proc = f_conns;
    cfg->connect_window = f_window > 0 ? f_window : 1;
    cfg->timeout = f_timeout;
    cfg->state_interval = f_state_interval;
    cfg->backoff_factor = f_backoff_factor;
    cfg->failover = f_failover;
    cfg->kill_after = f_kill_after;
    if (f_allocator_only) {
        rc = bench_allocator_only(cfg, f_rounds);
        goto out;
    }
    if (strncmp(f_master, "zk://", 5) == 0) {
        char *hosts = NULL, *path = NULL;
        if (zk_parse_url(f_master, &hosts, &path, &err) != 0) {
            fprintf(stderr, "agora-bench: --master: %s\n", err);
            goto out;
        }
        free(hosts);
        free(path);
        cfg->zk_url = f_master; /* the leader's address comes from ZooKeeper */
    } else if (cfg->failover) {
        fprintf(stderr, "agora-bench: --failover needs --master=zk://...\n");
        goto out;
    } else if (http_parse_hostport(f_master, 5050, &cfg->master_host, &cfg->master_port) != 0) {
        fprintf(stderr, "agora-bench: --master: expected HOST:PORT, got '%s'\n", f_master);
        goto out;
    }
    if (f_hold > 0 && (cfg->frameworks != 0 || cfg->failover)) {
        fprintf(stderr, "agora-bench: --hold needs --frameworks=0 (and no --failover)\n");
        goto out;
    }
    if (cfg->slaves < 1 || (cfg->frameworks < 1 && !(f_hold > 0)) || cfg->tasks < 0 ||
        !(cfg->task_cpus > 0) || !(cfg->task_mem > 0)) {
        fprintf(stderr, "agora-bench: --slaves and --frameworks must be >= 1 (--frameworks=0 "
                        "with --hold), --tasks >= 0, --task_cpus and --task_mem > 0\n");
        goto out;
    }
    cfg->procs = f_procs > 0 ? f_procs : (cfg->slaves + 3999) / 4000;
    if (cfg->procs > cfg->slaves)
        cfg->procs = cfg->slaves;
    /* zk runs: the leader's pid once ZooKeeper named it (find_master_pid). */
    if (!cfg->zk_url)
        find_master_pid(&r);
    srandom((unsigned)bench_now_ns());
    signal(SIGPIPE, SIG_IGN);
    if (f_hold > 0) { /* before fork: the children ignore them too (they stop on shm->stop) */
        struct sigaction sa;
        memset(&sa, 0, sizeof(sa));
        sa.sa_handler = on_hold_signal;
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGINT, &sa, NULL);
    }

    size_t shm_len = sizeof(struct bench_shm) + (size_t)cfg->slaves * sizeof(uint64_t);
    r.shm = mmap(NULL, shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r.shm == MAP_FAILED) {
        perror("agora-bench: mmap");
        goto out;
    }
    size_t stamps_len = (size_t)(cfg->tasks > 0 ? cfg->tasks : 1) * sizeof(struct bench_task_stamp);
    r.shm->stamps =
        mmap(NULL, stamps_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (r.shm->stamps == MAP_FAILED) {
        perror("agora-bench: mmap");
        goto out;
    }
    r.shm->nstamps = cfg->tasks;
    kids = xcalloc((size_t)cfg->procs, sizeof(*kids));
    r.t0 = bench_now();
    r.last_progress = r.t0;
    int per = cfg->slaves / cfg->procs, extra = cfg->slaves % cfg->procs, first = 0;
    for (int i = 0; i < cfg->procs; i++) {
        int count = per + (i < extra ? 1 : 0);
        fflush(NULL);
        pid_t k = fork();
        if (k < 0) {
            perror("agora-bench: fork");
            r.shm->stop = 1;
            goto reap;
        }
        if (k == 0) {
            if (f_hold > 0) { /* SIGTERM (also PR_SET_PDEATHSIG's) kills a child as before */
                signal(SIGTERM, SIG_DFL);
                signal(SIGINT, SIG_IGN);
            }
            _exit(bench_slaves_run(cfg, r.shm, i, first, count));
        }
        kids[i] = k;
        first += count;
    }

    r.base = event_base_new();
    if (cfg->zk_url && !(r.leader = bench_leader_new(r.base, cfg->zk_url, on_leader, &r))) {
        __atomic_store_n(&r.shm->stop, 1, __ATOMIC_RELAXED);
        goto reap;
    }
    struct event *tick = event_new(r.base, -1, EV_PERSIST, on_tick, &r);
    struct timeval tv = { 0, 20000 };
    evtimer_add(tick, &tv);
    event_base_dispatch(r.base);
    event_free(tick);
    rc = r.timed_out ? 1 : 0;

reap:
    /* Children add their call errors to the shared counters as they exit. */
    __atomic_store_n(&r.shm->stop, 1, __ATOMIC_RELAXED);
    for (int i = 0; i < cfg->procs; i++) {
        int status;
        if (kids[i] > 0 && waitpid(kids[i], &status, 0) == kids[i] &&
            (!WIFEXITED(status) || WEXITSTATUS(status) != 0)) {
            fprintf(stderr, "agora-bench: slave process %d failed\n", (int)kids[i]);
            rc = 1;
        }
    }
    if (r.phase == PH_DONE)
        print_figures(&r);
    bench_fws_free(r.fws);
    bench_leader_free(r.leader);
    free(r.killed_host);
    if (r.base)
        event_base_free(r.base);
    munmap(r.shm->stamps, stamps_len);
    munmap(r.shm, shm_len);
    free(cfg->master_host);

out:
    free(kids);
    free(r.state_ms);
    free(err);
    flags_cleanup(flag_table, NFLAGS);
    return rc;
}
