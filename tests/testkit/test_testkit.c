/*
 * test_testkit: libagora-testkit used as a framework author would. The
 * framework under test keeps NTASKS long tasks running (relaunching what
 * the cluster loses); it runs on its own thread with agora_scheduler_run()
 * while the test, on the main thread, drives the cluster through the kit:
 *
 *   1. the master is killed (-9) and started again: the framework
 *      re-subscribes, reconciles, and its tasks are still running, none
 *      relaunched;
 *   2. a slave is partitioned (SIGSTOP): the master marks it unreachable,
 *      the framework learns its tasks are lost and runs them on the other
 *      slave; the partition heals (SIGCONT) and the slave comes back.
 *
 * Each step waits for its condition with a deadline and fails otherwise.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agora/scheduler.h"
#include "agora/testkit.h"

#define NTASKS 4

struct fw {
    pthread_mutex_t mu;
    struct agora_scheduler *s;
    int state[NTASKS];      /* Mesos__V1__TaskState, -1: not launched */
    char host[NTASKS][32];  /* hostname of the slave it runs on */
    char agent[NTASKS][64]; /* its agent id, for reconciliation */
    char agents[4][2][64];  /* agent id -> hostname, from offers */
    int nagents;
    int subscribed, resubscribed, disconnected, relaunched, reconcile_answers;
};

static const char *fw_hostname(struct fw *f, const char *agent)
{
    for (int i = 0; i < f->nagents; i++)
        if (strcmp(f->agents[i][0], agent) == 0)
            return f->agents[i][1];
    return "?";
}

static void fw_reconcile(struct agora_scheduler *s, struct fw *f)
{
    const char *ids[NTASKS], *agents[NTASKS];
    char names[NTASKS][16];
    size_t n = 0;

    for (int i = 0; i < NTASKS; i++) {
        if (f->state[i] < 0)
            continue;
        snprintf(names[n], sizeof(names[n]), "svc-%d", i);
        ids[n] = names[n];
        /* With the agent id, the master answers for a task of a slave that
         * has not re-registered yet once it has (a new master knows no
         * task before its slaves come back); without, it says TASK_LOST. */
        agents[n] = f->agent[i][0] ? f->agent[i] : NULL;
        n++;
    }
    if (n)
        agora_scheduler_reconcile(s, ids, agents, n);
}

/* Reconcile every second while subscribed: answers deferred by the master
 * come with a later round. */
static void on_reconcile_timer(struct agora_scheduler *s, void *arg)
{
    struct fw *f = arg;

    pthread_mutex_lock(&f->mu);
    if (f->resubscribed && agora_scheduler_state(s) == AGORA_SCHED_SUBSCRIBED)
        fw_reconcile(s, f);
    pthread_mutex_unlock(&f->mu);
}

static void on_subscribed(struct agora_scheduler *s, const char *id, double hb, bool resub,
                          void *arg)
{
    struct fw *f = arg;

    pthread_mutex_lock(&f->mu);
    f->subscribed++;
    if (resub) {
        f->resubscribed++;
        fw_reconcile(s, f);
    }
    pthread_mutex_unlock(&f->mu);
}

static void on_disconnected(struct agora_scheduler *s, const char *reason, void *arg)
{
    struct fw *f = arg;

    pthread_mutex_lock(&f->mu);
    f->disconnected++;
    pthread_mutex_unlock(&f->mu);
}

static void on_offers(struct agora_scheduler *s, const Mesos__V1__Offer *const *offers, size_t n,
                      void *arg)
{
    struct fw *f = arg;
    const struct agora_need need = { .cpus = 0.25, .mem = 32 };

    pthread_mutex_lock(&f->mu);
    for (size_t k = 0; k < n; k++) {
        const Mesos__V1__Offer *o = offers[k];
        if (f->nagents < 4 && strcmp(fw_hostname(f, o->agent_id->value), "?") == 0) {
            snprintf(f->agents[f->nagents][0], 64, "%s", o->agent_id->value);
            snprintf(f->agents[f->nagents][1], 64, "%s", o->hostname);
            f->nagents++;
        }
        struct agora_resources *left = agora_resources_from_offer(o, NULL);
        size_t fit = agora_resources_pack(left, &need, NTASKS, NULL);
        Mesos__V1__TaskInfo *tasks[NTASKS];
        size_t nt = 0;
        for (int i = 0; i < NTASKS && nt < fit; i++) {
            if (f->state[i] >= 0)
                continue;
            char id[16];
            snprintf(id, sizeof(id), "svc-%d", i);
            tasks[nt++] = agora_task_new(id, id, NULL, "sleep 600", need.cpus, need.mem);
            f->state[i] = MESOS__V1__TASK_STATE__TASK_STAGING;
        }
        agora_scheduler_launch(s, o, tasks, nt, 0);
        for (size_t j = 0; j < nt; j++)
            agora_task_free(tasks[j]);
        agora_resources_free(left);
    }
    pthread_mutex_unlock(&f->mu);
}

static void on_update(struct agora_scheduler *s, const Mesos__V1__TaskStatus *st, void *arg)
{
    struct fw *f = arg;
    int i = -1;

    if (sscanf(st->task_id->value, "svc-%d", &i) != 1 || i < 0 || i >= NTASKS)
        return;
    pthread_mutex_lock(&f->mu);
    if (st->has_reason && st->reason == MESOS__V1__TASK_STATUS__REASON__REASON_RECONCILIATION)
        f->reconcile_answers++;
    if (agora_task_state_terminal(st->state)) {
        f->state[i] = -1; /* lost with its slave: launch it again */
        f->agent[i][0] = '\0';
        f->relaunched++;
        agora_scheduler_revive(s);
    } else {
        f->state[i] = st->state;
        if (st->agent_id) {
            snprintf(f->host[i], sizeof(f->host[i]), "%s", fw_hostname(f, st->agent_id->value));
            snprintf(f->agent[i], sizeof(f->agent[i]), "%s", st->agent_id->value);
        }
    }
    printf("  task %s %s on %s\n", st->task_id->value, agora_task_state_name(st->state),
           f->host[i]);
    pthread_mutex_unlock(&f->mu);
}

static void *fw_thread(void *arg)
{
    struct fw *f = arg;
    agora_scheduler_run(f->s);
    return NULL;
}

/* ---------------------------------------------------------- conditions */

static struct fw fw = { .mu = PTHREAD_MUTEX_INITIALIZER };
static const char *want_host; /* all_running: on this slave only, if set */

static bool all_running(void *ctx)
{
    bool ok = true;

    pthread_mutex_lock(&fw.mu);
    for (int i = 0; i < NTASKS; i++)
        if (fw.state[i] != MESOS__V1__TASK_STATE__TASK_RUNNING ||
            (want_host && strcmp(fw.host[i], want_host) != 0))
            ok = false;
    pthread_mutex_unlock(&fw.mu);
    return ok;
}

static int failures;

#define CHECK(cond, ...)                                         \
    do {                                                         \
        if (!(cond)) {                                           \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__); \
            fprintf(stderr, __VA_ARGS__);                        \
            fprintf(stderr, "\n");                               \
            failures++;                                          \
            goto out;                                            \
        }                                                        \
    } while (0)

/* agora_testkit_wait's condition: *counter >= value, read under the lock. */
struct at_least {
    int *counter;
    int value;
};

static bool counter_reached(void *ctx)
{
    const struct at_least *c = ctx;
    bool ok;

    pthread_mutex_lock(&fw.mu);
    ok = *c->counter >= c->value;
    pthread_mutex_unlock(&fw.mu);
    return ok;
}

static int wait_counter(struct agora_testkit *k, int *counter, int value, unsigned ms)
{
    struct at_least c = { counter, value };
    return agora_testkit_wait(k, counter_reached, &c, ms);
}

int main(void)
{
    struct agora_testkit_config kc = { .nslaves = 2 };
    char *err = NULL;
    struct agora_testkit *k = agora_testkit_start(&kc, &err);
    pthread_t th;
    bool thread_started = false;

    if (!k) {
        fprintf(stderr, "FAIL: agora_testkit_start: %s\n", err);
        free(err);
        return 1;
    }
    printf("cluster: master %s, 2 slaves, in %s\n", agora_testkit_master(k),
           agora_testkit_work_dir(k));
    for (int i = 0; i < NTASKS; i++)
        fw.state[i] = -1;
    struct agora_scheduler_config cfg = {
        .master = agora_testkit_master(k),
        .name = "testkit-fw",
        .failover_timeout = 300,
        .checkpoint = true,
        .log_level = AGORA_LOG_WARN,
    };
    struct agora_scheduler_callbacks cbs = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .update = on_update,
        .disconnected = on_disconnected,
    };
    fw.s = agora_scheduler_new(NULL, &cfg, &cbs, &fw, &err);
    CHECK(fw.s, "agora_scheduler_new: %s", err);
    agora_scheduler_add_timer(fw.s, 1000, true, on_reconcile_timer, &fw);
    CHECK(pthread_create(&th, NULL, fw_thread, &fw) == 0, "pthread_create");
    thread_started = true;
    CHECK(agora_testkit_wait(k, all_running, NULL, 20000) == 0, "tasks not running: %s",
          agora_testkit_error(k));
    printf("step 0: %d tasks running\n", NTASKS);

    /* 1. master crash and restart */
    CHECK(agora_testkit_kill_master(k) == 0, "kill master: %s", agora_testkit_error(k));
    CHECK(wait_counter(k, &fw.disconnected, 1, 20000) == 0, "framework never disconnected");
    CHECK(agora_testkit_start_master(k) == 0, "start master: %s", agora_testkit_error(k));
    CHECK(agora_testkit_wait_slaves(k, 2, 20000) == 0, "slaves: %s", agora_testkit_error(k));
    CHECK(wait_counter(k, &fw.resubscribed, 1, 20000) == 0, "framework never re-subscribed");
    CHECK(wait_counter(k, &fw.reconcile_answers, NTASKS, 20000) == 0, "no reconcile answers");
    CHECK(agora_testkit_wait(k, all_running, NULL, 20000) == 0, "tasks after failover");
    pthread_mutex_lock(&fw.mu);
    int relaunched = fw.relaunched;
    pthread_mutex_unlock(&fw.mu);
    CHECK(relaunched == 0, "%d tasks relaunched after a master restart", relaunched);
    printf("step 1: master killed and restarted; re-subscribed, %d tasks still running\n", NTASKS);

    /* 2. partition the slave that runs task 0; its tasks move to the other */
    pthread_mutex_lock(&fw.mu);
    int victim = strcmp(fw.host[0], "slave0") == 0 ? 0 : 1;
    pthread_mutex_unlock(&fw.mu);
    want_host = victim == 0 ? "slave1" : "slave0";
    CHECK(agora_testkit_partition_slave(k, victim) == 0, "partition: %s", agora_testkit_error(k));
    CHECK(agora_testkit_wait_slaves(k, 1, 20000) == 0, "partitioned slave still active: %s",
          agora_testkit_error(k));
    CHECK(wait_counter(k, &fw.relaunched, 1, 20000) == 0, "no task of the partitioned slave lost");
    CHECK(agora_testkit_wait(k, all_running, NULL, 30000) == 0, "tasks not all on %s", want_host);
    printf("step 2: slave%d partitioned; %d tasks relaunched, all running on %s\n", victim,
           fw.relaunched, want_host);
    CHECK(agora_testkit_heal_slave(k, victim) == 0, "heal: %s", agora_testkit_error(k));
    CHECK(agora_testkit_wait_slaves(k, 2, 30000) == 0, "healed slave not back: %s",
          agora_testkit_error(k));
    printf("step 2: partition healed, 2 slaves active\n");

out:
    if (fw.s) {
        agora_scheduler_stop(fw.s);
        if (thread_started)
            pthread_join(th, NULL);
        agora_scheduler_free(fw.s);
    }
    agora_testkit_free(k);
    printf("%s\n", failures ? "FAILED" : "PASSED");
    return failures ? 1 : 0;
}
