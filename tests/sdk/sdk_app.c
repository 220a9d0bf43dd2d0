/*
 * sdk-app: a framework built outside Agora's tree against the installed
 * SDK (tests/system/test_sdk.py builds it with pkg-config and with
 * find_package, shared and static). It runs N short tasks, packing as
 * many into each offer as fit, and exits 0 once all of them finished.
 *
 *   sdk-app HOST:PORT [N]
 *
 * It uses only what an installed SDK provides: agora/scheduler.h and the
 * protoc-c API of agora/mesos.pb-c.h (a status is copied by packing and
 * unpacking it). It also defines xmalloc and log_msg, names that Agora's
 * internals use: a library that leaked them would call these, and they
 * abort.
 */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <agora/scheduler.h>

void *xmalloc(size_t n);
void log_msg(int level, const char *fmt, ...);

void *xmalloc(size_t n)
{
    fprintf(stderr, "sdk-app: the library called the framework's xmalloc(%zu)\n", n);
    abort();
}

void log_msg(int level, const char *fmt, ...)
{
    fprintf(stderr, "sdk-app: the library called the framework's log_msg(%d, %s)\n", level, fmt);
    abort();
}

struct app {
    int ntasks;   /* tasks to run */
    int launched; /* tasks handed to the master */
    int finished; /* TASK_FINISHED */
    int failed;   /* any other terminal state */
};

static void on_subscribed(struct agora_scheduler *s, const char *framework_id, double heartbeat,
                          bool resubscribed, void *arg)
{
    printf("sdk-app: subscribed as %s\n", framework_id);
    fflush(stdout);
}

static void on_offers(struct agora_scheduler *s, const Mesos__V1__Offer *const *offers, size_t n,
                      void *arg)
{
    struct app *a = arg;

    for (size_t i = 0; i < n; i++) {
        struct agora_resources *left = agora_resources_from_offer(offers[i], NULL);
        Mesos__V1__TaskInfo *tasks[16];
        size_t ntasks = 0;

        while (left && a->launched + (int)ntasks < a->ntasks && ntasks < 16) {
            char id[32];
            snprintf(id, sizeof(id), "sdk-%d", a->launched + (int)ntasks);
            Mesos__V1__TaskInfo *t = agora_task_new(id, id, NULL, "true", 0.1, 16);
            if (agora_resources_take(left, t) < 0) {
                agora_task_free(t);
                break;
            }
            tasks[ntasks++] = t;
        }
        if (ntasks > 0 && agora_scheduler_launch(s, offers[i], tasks, ntasks, 0) == 0)
            a->launched += (int)ntasks;
        else
            agora_scheduler_decline(s, offers[i]->id->value, a->launched < a->ntasks ? 0 : 60);
        for (size_t j = 0; j < ntasks; j++)
            agora_task_free(tasks[j]);
        agora_resources_free(left);
    }
}

static void on_update(struct agora_scheduler *s, const Mesos__V1__TaskStatus *status, void *arg)
{
    struct app *a = arg;
    /* Copy the status through the generated protobuf-c API. */
    size_t len = mesos__v1__task_status__get_packed_size(status);
    uint8_t *buf = malloc(len ? len : 1);
    mesos__v1__task_status__pack(status, buf);
    Mesos__V1__TaskStatus *copy = mesos__v1__task_status__unpack(NULL, len, buf);
    free(buf);
    if (!copy) {
        fprintf(stderr, "sdk-app: cannot unpack a copy of the status\n");
        exit(3);
    }
    printf("sdk-app: task %s is %s\n", copy->task_id->value, agora_task_state_name(copy->state));
    fflush(stdout);
    if (agora_task_state_terminal(copy->state)) {
        if (copy->state == MESOS__V1__TASK_STATE__TASK_FINISHED)
            a->finished++;
        else
            a->failed++;
    }
    mesos__v1__task_status__free_unpacked(copy, NULL);
    if (a->finished + a->failed >= a->ntasks) {
        agora_scheduler_teardown(s);
        agora_scheduler_stop(s);
    }
}

static void on_error(struct agora_scheduler *s, const char *message, void *arg)
{
    fprintf(stderr, "sdk-app: %s\n", message);
    agora_scheduler_stop(s);
}

int main(int argc, char **argv)
{
    struct app a = { .ntasks = argc > 2 ? atoi(argv[2]) : 5 };
    struct agora_scheduler_config cfg = {
        .master = argc > 1 ? argv[1] : "127.0.0.1:5050",
        .name = "sdk-app",
    };
    struct agora_scheduler_callbacks cbs = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .update = on_update,
        .error = on_error,
    };
    char *err = NULL;

    alarm(120); /* never outlive a broken test */
    struct agora_scheduler *s = agora_scheduler_new(NULL, &cfg, &cbs, &a, &err);
    if (!s) {
        fprintf(stderr, "sdk-app: %s\n", err);
        free(err);
        return 2;
    }
    agora_scheduler_run(s);
    agora_scheduler_free(s);
    printf("sdk-app: %d tasks: %d finished, %d failed\n", a.ntasks, a.finished, a.failed);
    return a.finished == a.ntasks ? 0 : 1;
}
