/*
 * agora-batch: run N copies of a shell command on the cluster and exit 0
 * only when all of them finished (TASK_FINISHED).
 *
 *   agora-batch --master=HOST:PORT --tasks=N --cmd=CMD --cpus=C --mem=M
 *               [--name=NAME] [--timeout=DURATION] [--docker_image=IMAGE]
 *
 * With --docker_image every task is a Docker container of IMAGE (host
 * networking) running CMD with /bin/sh -c, or the image's own command when
 * --cmd is not given.
 *
 * Each offer is packed with as many pending tasks as fit (every task's
 * resources are subtracted from what is left of the offer); leftovers are
 * declined with a short refusal so freed resources come back quickly. Once
 * every task is launched the framework suppresses offers. A task that
 * fails or is lost is not relaunched: it counts as failed / lost. At the
 * end the framework tears itself down and prints one summary line.
 */
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#include "agora/scheduler.h"
#include "flags.h"
#include "log.h"
#include "mem.h"
#include "timeutil.h"

#define BATCH_PROGRESS_SECS 5.0
#define BATCH_REFUSE_SHORT 0.5  /* leftovers while tasks are pending */
#define BATCH_REFUSE_LONG 120.0 /* everything launched: keep them away */

/* Per task: where it is, as far as this framework knows. */
enum batch_task {
    BT_PENDING = 0, /* not launched yet */
    BT_LAUNCHED,    /* ACCEPT sent, no terminal update yet */
    BT_FINISHED,
    BT_FAILED, /* FAILED, KILLED, ERROR */
    BT_LOST,   /* LOST, DROPPED, GONE, GONE_BY_OPERATOR */
};

struct batch {
    struct agora_scheduler *s;
    /* flags */
    char *master, *cmd, *name, *role, *log_level, *principal, *secret, *ssl_ca;
    char *docker_image; /* run tasks as Docker containers of this image */
    int ntasks;
    double cpus, mem, timeout, failover_timeout;
    bool json;

    unsigned char *tasks; /* enum batch_task per task index */
    int next;             /* lowest index that may still be pending */
    int launched, finished, failed, lost;
    bool suppressed;
    bool done;
    bool timed_out;
    int exit_code;
    double t0; /* time_mono() at the start */
    struct event *progress_ev, *timeout_ev, *sigint_ev, *sigterm_ev;
    int last_report; /* terminal count at the last progress line */
};

static double batch_elapsed(const struct batch *b)
{
    return time_mono() - b->t0;
}

static int batch_terminal(const struct batch *b)
{
    return b->finished + b->failed + b->lost;
}

/* Tear the framework down (kills what still runs) and leave the loop. */
static void batch_finish(struct batch *b)
{
    if (b->done)
        return;
    b->done = true;
    b->exit_code = b->finished == b->ntasks ? 0 : 1;
    agora_scheduler_teardown(b->s);
    agora_scheduler_stop(b->s);
}

/* ---------------------------------------------------------------- offers */

static int batch_next_pending(struct batch *b)
{
    while (b->next < b->ntasks && b->tasks[b->next] != BT_PENDING)
        b->next++;
    return b->next < b->ntasks ? b->next : -1;
}

/* ContainerInfo DOCKER with host networking; freed with the task. */
static void batch_set_docker(Mesos__V1__TaskInfo *t, const char *image)
{
    Mesos__V1__ContainerInfo *ci = xmalloc(sizeof(*ci));
    Mesos__V1__ContainerInfo__DockerInfo *di = xmalloc(sizeof(*di));

    mesos__v1__container_info__init(ci);
    mesos__v1__container_info__docker_info__init(di);
    ci->type = MESOS__V1__CONTAINER_INFO__TYPE__DOCKER;
    di->image = xstrdup(image);
    di->has_network = 1;
    di->network = MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__HOST;
    ci->docker = di;
    t->container = ci;
}

static void batch_pack(struct batch *b, const Mesos__V1__Offer *offer)
{
    const struct agora_need need = { .cpus = b->cpus, .mem = b->mem };
    struct agora_resources *left = NULL;
    Mesos__V1__TaskInfo **tasks = NULL;
    int *idx = NULL;
    size_t n = 0, fit;
    char *err = NULL;

    left = agora_resources_from_offer(offer, &err);
    if (!left) {
        log_warn("offer %s: %s; declined", offer->id->value, err);
        agora_scheduler_decline(b->s, offer->id->value, BATCH_REFUSE_SHORT);
        goto out;
    }
    /* How many tasks fit first, so that only those are built. */
    fit = agora_resources_pack(left, &need, (size_t)b->ntasks, NULL);
    tasks = xcalloc(fit ? fit : 1, sizeof(*tasks));
    idx = xcalloc(fit ? fit : 1, sizeof(*idx));
    for (int i = batch_next_pending(b); i >= 0 && n < fit; i = batch_next_pending(b)) {
        char id[64];
        snprintf(id, sizeof(id), "%s-%d", b->name, i);
        tasks[n] = agora_task_new(id, id, NULL, b->cmd, b->cpus, b->mem);
        if (b->docker_image)
            batch_set_docker(tasks[n], b->docker_image);
        idx[n++] = i;
        b->tasks[i] = BT_LAUNCHED; /* so batch_next_pending moves on */
    }
    if (n == 0) {
        agora_scheduler_decline(b->s, offer->id->value,
                                batch_next_pending(b) < 0 ? BATCH_REFUSE_LONG : BATCH_REFUSE_SHORT);
        goto out;
    }
    if (agora_scheduler_launch(b->s, offer, tasks, n,
                               batch_next_pending(b) < 0 ? BATCH_REFUSE_LONG : BATCH_REFUSE_SHORT) <
        0) {
        /* Not sent (disconnected): these tasks are still pending. */
        for (size_t k = 0; k < n; k++) {
            b->tasks[idx[k]] = BT_PENDING;
            if (idx[k] < b->next)
                b->next = idx[k];
        }
        goto out;
    }
    b->launched += (int)n;
    log_debug("offer %s on %s: launched %zu tasks", offer->id->value, offer->hostname, n);
out:
    for (size_t k = 0; k < n; k++)
        agora_task_free(tasks[k]);
    free(tasks);
    free(idx);
    free(err);
    agora_resources_free(left);
}

static void on_offers(struct agora_scheduler *s, const Mesos__V1__Offer *const *offers, size_t n,
                      void *arg)
{
    struct batch *b = arg;

    for (size_t i = 0; i < n; i++) {
        if (b->done || batch_next_pending(b) < 0)
            agora_scheduler_decline(s, offers[i]->id->value, BATCH_REFUSE_LONG);
        else
            batch_pack(b, offers[i]);
    }
    if (!b->done && !b->suppressed && batch_next_pending(b) < 0 && agora_scheduler_suppress(s) == 0)
        b->suppressed = true;
}

/* --------------------------------------------------------------- updates */

static int batch_task_index(const struct batch *b, const char *task_id)
{
    size_t nl = strlen(b->name);
    char *end = NULL;
    long i;

    if (strncmp(task_id, b->name, nl) != 0 || task_id[nl] != '-')
        return -1;
    i = strtol(task_id + nl + 1, &end, 10);
    if (*end || i < 0 || i >= b->ntasks)
        return -1;
    return (int)i;
}

static void on_update(struct agora_scheduler *s, const Mesos__V1__TaskStatus *st, void *arg)
{
    struct batch *b = arg;
    int i = batch_task_index(b, st->task_id->value);

    if (i < 0) {
        log_warn("update for unknown task %s (%s)", st->task_id->value,
                 agora_task_state_name(st->state));
        return;
    }
    if (!agora_task_state_terminal(st->state) || b->tasks[i] >= BT_FINISHED)
        return; /* running states, or a duplicate terminal update */
    switch (st->state) {
    case MESOS__V1__TASK_STATE__TASK_FINISHED:
        b->tasks[i] = BT_FINISHED;
        b->finished++;
        break;
    case MESOS__V1__TASK_STATE__TASK_LOST:
    case MESOS__V1__TASK_STATE__TASK_DROPPED:
    case MESOS__V1__TASK_STATE__TASK_GONE:
    case MESOS__V1__TASK_STATE__TASK_GONE_BY_OPERATOR:
        b->tasks[i] = BT_LOST;
        b->lost++;
        break;
    default:
        b->tasks[i] = BT_FAILED;
        b->failed++;
        break;
    }
    if (st->state != MESOS__V1__TASK_STATE__TASK_FINISHED)
        fprintf(stderr, "agora-batch: task %s %s%s%s\n", st->task_id->value,
                agora_task_state_name(st->state), st->message ? ": " : "",
                st->message ? st->message : "");
    if (batch_terminal(b) == b->ntasks)
        batch_finish(b);
}

/* ------------------------------------------------------- other events */

static void on_subscribed(struct agora_scheduler *s, const char *framework_id, double heartbeat,
                          bool resubscribed, void *arg)
{
    struct batch *b = arg;

    fprintf(stderr, "agora-batch: subscribed to %s as framework %s\n", agora_scheduler_master(s),
            framework_id);
    /* After a re-subscription, offers may have been suppressed by the old
   * master session; ask again if work remains. */
    if (b->suppressed && batch_next_pending(b) >= 0) {
        agora_scheduler_revive(s);
        b->suppressed = false;
    }
}

static void on_disconnected(struct agora_scheduler *s, const char *reason, void *arg)
{
    fprintf(stderr, "agora-batch: disconnected from %s (%s); reconnecting\n",
            agora_scheduler_master(s), reason);
}

static void on_error(struct agora_scheduler *s, const char *message, void *arg)
{
    struct batch *b = arg;

    fprintf(stderr, "agora-batch: %s\n", message);
    b->done = true;
    b->exit_code = 1;
    agora_scheduler_stop(s);
}

static void on_progress(evutil_socket_t fd, short what, void *arg)
{
    struct batch *b = arg;

    if (batch_terminal(b) == b->last_report)
        return;
    b->last_report = batch_terminal(b);
    fprintf(stderr, "agora-batch: %d/%d launched, %d finished, %d failed, %d lost (%.0f s)\n",
            b->launched, b->ntasks, b->finished, b->failed, b->lost, batch_elapsed(b));
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    struct batch *b = arg;

    fprintf(stderr, "agora-batch: timed out after %.1f s\n", b->timeout);
    b->timed_out = true;
    batch_finish(b);
    b->exit_code = 1;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct batch *b = arg;

    fprintf(stderr, "agora-batch: signal %d, tearing down\n", (int)sig);
    batch_finish(b);
    b->exit_code = 1;
}

/* ------------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    struct batch b;
    const struct flag flags[] = {
        { "master", FLAG_STRING, &b.master, NULL, "leading master, HOST:PORT (required)" },
        { "tasks", FLAG_INT, &b.ntasks, "1", "number of tasks to run" },
        { "cmd", FLAG_STRING, &b.cmd, NULL,
          "shell command of every task (required without --docker_image)" },
        { "docker_image", FLAG_STRING, &b.docker_image, NULL,
          "run every task as a Docker container of this image" },
        { "cpus", FLAG_DOUBLE, &b.cpus, "0.1", "cpus per task" },
        { "mem", FLAG_DOUBLE, &b.mem, "32", "memory per task, MB" },
        { "name", FLAG_STRING, &b.name, "agora-batch", "framework name, also the task id prefix" },
        { "role", FLAG_STRING, &b.role, NULL, "role to register with (default *)" },
        { "principal", FLAG_STRING, &b.principal, NULL,
          "FrameworkInfo.principal; with --secret, the credentials sent to the master" },
        { "ssl_ca", FLAG_STRING, &b.ssl_ca, NULL,
          "PEM CA bundle: speak TLS to the master and verify it with this" },
        { "secret", FLAG_STRING, &b.secret, NULL,
          "secret of --principal (for a master with --authenticate_frameworks)" },
        { "timeout", FLAG_DURATION, &b.timeout, "0", "give up after this long (0: never)" },
        { "failover_timeout", FLAG_DURATION, &b.failover_timeout, "1mins",
          "how long the master keeps the tasks while disconnected" },
        { "json", FLAG_BOOL, &b.json, "false", "speak JSON instead of protobuf to the master" },
        { "log_level", FLAG_STRING, &b.log_level, "warn", "debug, info, warn or error" },
    };
    const size_t nflags = sizeof(flags) / sizeof(flags[0]);
    struct agora_scheduler_config cfg = { 0 };
    struct agora_scheduler_callbacks cbs = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .update = on_update,
        .error = on_error,
        .disconnected = on_disconnected,
    };
    struct event_base *base;
    enum log_level lvl;
    char *err = NULL;
    int rc, exit_code = 1;
    double elapsed;

    mem_init();
    memset(&b, 0, sizeof(b));
    rc = flags_parse(flags, nflags, argc, argv,
                     "agora-batch --master=HOST:PORT --tasks=N --cmd=CMD [--cpus=C --mem=M]", &err);
    if (rc == 1) {
        exit_code = 0;
        goto out;
    }
    if (rc < 0) {
        fprintf(stderr, "agora-batch: %s\n", err);
        exit_code = 2;
        goto out;
    }
    if (!b.master || (!b.cmd && !b.docker_image) || b.ntasks < 1 || b.cpus < 0 || b.mem < 0) {
        fprintf(stderr, "agora-batch: %s\n",
                !b.master                   ? "--master is required"
                : !b.cmd && !b.docker_image ? "--cmd is required"
                : b.ntasks < 1              ? "--tasks must be at least 1"
                                            : "--cpus and --mem must not be negative");
        exit_code = 2;
        goto out;
    }
    if (log_parse_level(b.log_level, &lvl) < 0) {
        fprintf(stderr, "agora-batch: --log_level: unknown level '%s'\n", b.log_level);
        exit_code = 2;
        goto out;
    }
    log_set_level(lvl);

    cfg.master = b.master;
    cfg.name = b.name;
    cfg.role = b.role;
    cfg.principal = b.principal;
    cfg.secret = b.secret;
    cfg.ssl_ca = b.ssl_ca;
    cfg.failover_timeout = b.failover_timeout;
    cfg.json = b.json;
    b.tasks = xcalloc((size_t)b.ntasks, 1);
    b.s = agora_scheduler_new(NULL, &cfg, &cbs, &b, &err);
    if (!b.s) {
        fprintf(stderr, "agora-batch: %s\n", err);
        exit_code = 2;
        goto out;
    }

    base = agora_scheduler_base(b.s);
    struct timeval progress = { (time_t)BATCH_PROGRESS_SECS, 0 };
    b.progress_ev = event_new(base, -1, EV_PERSIST, on_progress, &b);
    event_add(b.progress_ev, &progress);
    if (b.timeout > 0) {
        struct timeval tv = time_tv(b.timeout);
        b.timeout_ev = evtimer_new(base, on_timeout, &b);
        evtimer_add(b.timeout_ev, &tv);
    }
    b.sigint_ev = evsignal_new(base, SIGINT, on_signal, &b);
    b.sigterm_ev = evsignal_new(base, SIGTERM, on_signal, &b);
    evsignal_add(b.sigint_ev, NULL);
    evsignal_add(b.sigterm_ev, NULL);

    b.t0 = time_mono();
    b.exit_code = 1;
    if (agora_scheduler_run(b.s) < 0)
        b.exit_code = 1;
    elapsed = batch_elapsed(&b);
    printf("agora-batch: %d tasks: %d finished, %d failed, %d lost in %.1f s (%.1f tasks/s)%s\n",
           b.ntasks, b.finished, b.failed, b.lost, elapsed,
           elapsed > 0 ? batch_terminal(&b) / elapsed : 0.0, b.timed_out ? " (timed out)" : "");
    fflush(stdout);
    exit_code = b.exit_code;

out:
    if (b.progress_ev)
        event_free(b.progress_ev);
    if (b.timeout_ev)
        event_free(b.timeout_ev);
    if (b.sigint_ev)
        event_free(b.sigint_ev);
    if (b.sigterm_ev)
        event_free(b.sigterm_ev);
    agora_scheduler_free(b.s);
    free(b.tasks);
    free(err);
    flags_cleanup(flags, nflags);
    return exit_code;
}
