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
#include <unistd.h>

#include <event2/event.h>
#include <jansson.h>

#include "bench.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "mem.h"

static char *f_master, *f_slave_resources;
static int f_slaves, f_frameworks, f_procs, f_conns, f_window, f_master_pid, f_rounds;
static double f_tasks, f_task_duration, f_task_cpus, f_task_mem, f_timeout, f_state_interval;
static bool f_allocator_only;

static const struct flag flag_table[] = {
  { "master", FLAG_STRING, &f_master, "127.0.0.1:5050",
    "The agora-master to load, HOST:PORT (zk://... once HA exists)" },
  { "slaves", FLAG_INT, &f_slaves, "100", "Emulated slaves" },
  { "frameworks", FLAG_INT, &f_frameworks, "2", "Emulated frameworks" },
  { "tasks", FLAG_DOUBLE, &f_tasks, "1000", "Tasks in total, shared by the frameworks" },
  { "task_duration", FLAG_DURATION, &f_task_duration, "0secs",
    "Time from TASK_RUNNING to TASK_FINISHED" },
  { "slave_resources", FLAG_STRING, &f_slave_resources,
    "cpus:16;mem:16384;disk:102400;ports:[31000-32000]", "Resources of each emulated slave" },
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
};
#define NFLAGS (sizeof(flag_table) / sizeof(flag_table[0]))

enum phase { PH_REGISTER, PH_RUN, PH_METRICS, PH_DONE };

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
};

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
  fprintf(stderr, "agora-bench: %6.1fs %s: %llu/%d slaves registered, running %llu, "
          "finished %llu/%ld, failed %llu\n", bench_now() - r->t0, phase,
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
    progress(r, r->phase == PH_REGISTER ? "register" : "run");
  }
  if (r->phase == PH_REGISTER) {
    uint64_t reg = __atomic_load_n(&r->shm->registered, __ATOMIC_RELAXED);
    uint64_t failed = __atomic_load_n(&r->shm->subscribe_failed, __ATOMIC_RELAXED);
    if (reg + failed >= (uint64_t)r->cfg.slaves || now - r->t0 > r->cfg.timeout / 2) {
      r->registered_all = reg == (uint64_t)r->cfg.slaves;
      r->register_s = now - r->t0;
      r->run_start = now;
      r->phase = PH_RUN;
      r->fws = bench_fws_start(r->base, &r->cfg, r->shm);
      r->next_state = now + r->cfg.state_interval;
    }
    return;
  }
  if (r->phase != PH_RUN)
    return;
  const struct bench_fw_stats *st = bench_fws_stats(r->fws);
  if (r->cfg.state_interval > 0 && !r->state_inflight && now >= r->next_state) {
    r->state_inflight = true;
    r->state_sent = now;
    r->next_state = now + r->cfg.state_interval;
    http_call_start(r->base, r->cfg.master_host, r->cfg.master_port, "GET", "/master/state",
                    NULL, 0, NULL, 0, 60, state_done, r);
  }
  bool done;
  if (r->cfg.tasks > 0) {
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
    http_call_start(r->base, r->cfg.master_host, r->cfg.master_port, "GET", "/metrics", NULL,
                    0, NULL, 0, 30, metrics_done, r);
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

static void print_figures(struct run *r, int pid)
{
  const struct bench_fw_stats *st = bench_fws_stats(r->fws);
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
  if (pid > 0 && bench_proc_usage(pid, &rss, &cpu) == 0)
    cpu -= r->cpu0;
  json_object_set_new(j, "master_rss_mb", jnum(rss));
  json_object_set_new(j, "master_cpu_s", jnum(cpu));
  /* Needs leader election (the HA issue); standalone runs have none. */
  json_object_set_new(j, "failover_reregister_s", json_null());
  /* Extras: what the figures above are made of. */
  json_object_set_new(j, "tasks_requested", json_integer((json_int_t)r->cfg.tasks));
  json_object_set_new(j, "tasks_finished", json_integer((json_int_t)st->finished));
  json_object_set_new(j, "tasks_failed", json_integer((json_int_t)st->failed));
  json_object_set_new(j, "launch_latency_ms",
                      quantiles(st->launch_latency_ms, st->n_launch_latency));
  json_object_set_new(j, "run_s", jnum(bench_now() - r->run_start));
  json_object_set_new(j, "offers", json_integer((json_int_t)st->offers));
  json_object_set_new(j, "accepts", json_integer((json_int_t)st->accepts));
  json_object_set_new(j, "declines", json_integer((json_int_t)st->declined));
  json_object_set_new(j, "allocation_cycles", jnum(r->cycle_count));
  /* Passes that made offers (most passes have nothing to do) and the
   * longest pass: the costly passes the quantiles above may not show. */
  json_t *busy = json_object();
  json_object_set_new(busy, "p50", jnum(r->busy_p50));
  json_object_set_new(busy, "p99", jnum(r->busy_p99));
  json_object_set_new(busy, "max", jnum(r->cycle_max));
  json_object_set_new(j, "allocation_busy_cycle_ms", busy);
  json_object_set_new(j, "slave_subscribe_failed", json_integer((json_int_t)shm->subscribe_failed));
  json_object_set_new(j, "slave_streams_lost", json_integer((json_int_t)shm->streams_lost));
  json_object_set_new(j, "call_errors", json_integer((json_int_t)shm->call_errors));
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
  int fr = flags_parse(flag_table, NFLAGS, argc, argv, "Usage: agora-bench [--name=value ...]",
                       &err);
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
  cfg->task_cpus = f_task_cpus;
  cfg->task_mem = f_task_mem;
  cfg->conns_per_proc = f_conns;
  cfg->connect_window = f_window > 0 ? f_window : 1;
  cfg->timeout = f_timeout;
  cfg->state_interval = f_state_interval;
  if (f_allocator_only) {
    rc = bench_allocator_only(cfg, f_rounds);
    goto out;
  }
  if (strncmp(f_master, "zk://", 5) == 0) {
    fprintf(stderr, "agora-bench: --master=zk://...: leader detection needs the HA work; "
            "give HOST:PORT of the leader\n");
    goto out;
  }
  if (http_parse_hostport(f_master, 5050, &cfg->master_host, &cfg->master_port) != 0) {
    fprintf(stderr, "agora-bench: --master: expected HOST:PORT, got '%s'\n", f_master);
    goto out;
  }
  if (cfg->slaves < 1 || cfg->frameworks < 1 || cfg->tasks < 0 || !(cfg->task_cpus > 0) ||
      !(cfg->task_mem > 0)) {
    fprintf(stderr, "agora-bench: --slaves and --frameworks must be >= 1, --tasks >= 0, "
            "--task_cpus and --task_mem > 0\n");
    goto out;
  }
  cfg->procs = f_procs > 0 ? f_procs : (cfg->slaves + 3999) / 4000;
  if (cfg->procs > cfg->slaves)
    cfg->procs = cfg->slaves;
  int pid = f_master_pid > 0 ? f_master_pid : bench_find_master_pid(cfg->master_port);
  double rss0;
  if (pid <= 0 || bench_proc_usage(pid, &rss0, &r.cpu0) != 0) {
    fprintf(stderr, "agora-bench: master process not found (port %d); RSS/CPU not reported\n",
            cfg->master_port);
    pid = -1;
  }
  signal(SIGPIPE, SIG_IGN);

  size_t shm_len = sizeof(struct bench_shm) + (size_t)cfg->slaves * sizeof(uint64_t);
  r.shm = mmap(NULL, shm_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  if (r.shm == MAP_FAILED) {
    perror("agora-bench: mmap");
    goto out;
  }
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
    if (k == 0)
      _exit(bench_slaves_run(cfg, r.shm, i, first, count));
    kids[i] = k;
    first += count;
  }

  r.base = event_base_new();
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
    print_figures(&r, pid);
  bench_fws_free(r.fws);
  if (r.base)
    event_base_free(r.base);
  munmap(r.shm, shm_len);
  free(cfg->master_host);

out:
  free(kids);
  free(r.state_ms);
  free(err);
  flags_cleanup(flag_table, NFLAGS);
  return rc;
}
