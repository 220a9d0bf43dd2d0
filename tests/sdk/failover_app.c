/*
 * failover-app: step 2 of docs/tutorial.md, a framework that survives the
 * failover of its master. It runs NTASKS tasks of `sleep 3` to completion
 * while masters come and go: it follows the leader through ZooKeeper,
 * reconciles its tasks whenever it comes back (resubscribed), learns of
 * calls lost with a dying master (call_done), and relaunches the tasks
 * the cluster lost. tests/system/test_sdk.py builds it against the
 * installed SDK and kills the leading master while it runs.
 *
 *   failover-app MASTER [NTASKS]      (MASTER: zk://host:port/path, ...)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/scheduler.h"

#define MAX_TASKS 64

enum task_state { PENDING, LAUNCHED, RUNNING, FINISHED };

struct app {
    int ntasks, finished, relaunched;
    enum task_state state[MAX_TASKS];
    char agent[MAX_TASKS][64]; /* where it was launched ("" if unknown) */
};

static int task_index(const struct app *a, const char *task_id)
{
    int i = -1;
    return sscanf(task_id, "sleep-%d", &i) == 1 && i >= 0 && i < a->ntasks ? i : -1;
}

/* Ask the master for the state of every task launched but not finished.
 * Its answers are update() calls; a task it does not know comes back as
 * TASK_LOST, and is launched again. */
static void reconcile(struct agora_scheduler *s, struct app *a)
{
    const char *ids[MAX_TASKS], *agents[MAX_TASKS];
    char names[MAX_TASKS][32];
    size_t n = 0;

    for (int i = 0; i < a->ntasks; i++) {
        if (a->state[i] != LAUNCHED && a->state[i] != RUNNING)
            continue;
        snprintf(names[n], sizeof(names[n]), "sleep-%d", i);
        ids[n] = names[n];
        agents[n] = a->agent[i][0] ? a->agent[i] : NULL;
        n++;
    }
    if (n > 0 && agora_scheduler_reconcile(s, ids, agents, n) == 0)
        printf("reconciling %zu tasks\n", n);
}

/* The master may not answer at once (a slave that has not re-registered
 * with a new master yet): ask again every 5 s until every task is known. */
static void on_reconcile_timer(struct agora_scheduler *s, void *arg)
{
    if (agora_scheduler_state(s) == AGORA_SCHED_SUBSCRIBED)
        reconcile(s, arg);
}

static void on_subscribed(struct agora_scheduler *s, const char *framework_id, double hb,
                          bool resubscribed, void *arg)
{
    printf("subscribed as %s%s\n", framework_id, resubscribed ? " again" : "");
    if (resubscribed)
        reconcile(s, arg); /* statuses may have changed while we were away */
}

static void on_call_done(struct agora_scheduler *s, const struct agora_call_result *r, void *arg)
{
    /* An ACCEPT that failed may or may not have launched its tasks: only
     * the master knows, so ask it (after the next subscribed(), the
     * reconciliation above does the same). */
    if (!r->ok && r->type == AGORA_CALL_ACCEPT) {
        printf("ACCEPT failed: %s\n", r->error);
        reconcile(s, arg);
    }
}

static void on_offers(struct agora_scheduler *s, const Mesos__V1__Offer *const *offers, size_t n,
                      void *arg)
{
    struct app *a = arg;
    const struct agora_need need = { .cpus = 0.1, .mem = 16 };

    for (size_t k = 0; k < n; k++) {
        struct agora_resources *left = agora_resources_from_offer(offers[k], NULL);
        size_t fit = agora_resources_pack(left, &need, MAX_TASKS, NULL);
        Mesos__V1__TaskInfo *tasks[MAX_TASKS];
        size_t nt = 0;

        for (int i = 0; i < a->ntasks && nt < fit; i++) {
            if (a->state[i] != PENDING)
                continue;
            char id[32];
            snprintf(id, sizeof(id), "sleep-%d", i);
            tasks[nt++] = agora_task_new(id, id, NULL, "sleep 3", need.cpus, need.mem);
            a->state[i] = LAUNCHED;
            snprintf(a->agent[i], sizeof(a->agent[i]), "%s", offers[k]->agent_id->value);
        }
        agora_scheduler_launch(s, offers[k], tasks, nt, 1); /* nt == 0 declines */
        for (size_t j = 0; j < nt; j++)
            agora_task_free(tasks[j]);
        agora_resources_free(left);
    }
}

static void on_update(struct agora_scheduler *s, const Mesos__V1__TaskStatus *st, void *arg)
{
    struct app *a = arg;
    int i = task_index(a, st->task_id->value);

    if (i < 0 || a->state[i] == FINISHED)
        return;
    printf("task %s is %s\n", st->task_id->value, agora_task_state_name(st->state));
    if (st->state == MESOS__V1__TASK_STATE__TASK_FINISHED) {
        a->state[i] = FINISHED;
        if (++a->finished == a->ntasks)
            agora_scheduler_finish(s);
    } else if (agora_task_state_terminal(st->state)) {
        a->state[i] = PENDING; /* lost, failed, killed: run it again */
        a->relaunched++;
        agora_scheduler_revive(s);
    } else if (st->state == MESOS__V1__TASK_STATE__TASK_RUNNING) {
        a->state[i] = RUNNING;
    }
}

static void on_error(struct agora_scheduler *s, const char *message, void *arg)
{
    fprintf(stderr, "failover-app: %s\n", message);
    agora_scheduler_stop(s);
}

int main(int argc, char **argv)
{
    struct app a = { .ntasks = argc > 2 ? atoi(argv[2]) : 4 };
    struct agora_scheduler_config cfg = {
        .master = argc > 1 ? argv[1] : "127.0.0.1:5050",
        .name = "failover-app",
        .failover_timeout = 300, /* the master keeps our tasks 5 min for us */
        .checkpoint = true,      /* and so does a restarting slave */
    };
    struct agora_scheduler_callbacks cbs = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .update = on_update,
        .error = on_error,
        .call_done = on_call_done,
    };
    char *err = NULL;

    if (a.ntasks < 1 || a.ntasks > MAX_TASKS) {
        fprintf(stderr, "failover-app: NTASKS must be 1..%d\n", MAX_TASKS);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0); /* one line at a time, even to a pipe */
    struct agora_scheduler *s = agora_scheduler_new(NULL, &cfg, &cbs, &a, &err);
    if (!s) {
        fprintf(stderr, "failover-app: %s\n", err);
        free(err);
        return 2;
    }
    agora_scheduler_add_timer(s, 5000, true, on_reconcile_timer, &a);
    agora_scheduler_run(s);
    agora_scheduler_free(s);
    printf("%d tasks finished, %d relaunched\n", a.finished, a.relaunched);
    return a.finished == a.ntasks ? 0 : 1;
}
