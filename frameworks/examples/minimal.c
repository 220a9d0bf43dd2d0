/* agora-minimal [HOST:PORT] [COMMAND]: one command on the cluster; docs/tutorial.md */
#include <stdio.h>
#include <stdlib.h>
#include "agora/scheduler.h"

static const char *command = "echo hello from agora";
static int launched, exit_code = 1;

static void on_offers(struct agora_scheduler *s, const Mesos__V1__Offer *const *offers, size_t n,
                      void *arg)
{
    const struct agora_need need = { .cpus = 0.1, .mem = 32 };
    for (size_t i = 0; i < n; i++) {
        struct agora_resources *left = agora_resources_from_offer(offers[i], NULL);
        if (!launched && agora_resources_fits_need(left, &need)) {
            Mesos__V1__TaskInfo *task =
                agora_task_new("hello", "hello-1", NULL, command, need.cpus, need.mem);
            launched = agora_scheduler_launch(s, offers[i], &task, 1, 60) == 0;
            agora_task_free(task);
        } else {
            agora_scheduler_decline(s, offers[i]->id->value, 60);
        }
        agora_resources_free(left);
    }
}

static void on_update(struct agora_scheduler *s, const Mesos__V1__TaskStatus *status, void *arg)
{
    printf("task %s is %s\n", status->task_id->value, agora_task_state_name(status->state));
    if (agora_task_state_terminal(status->state)) {
        exit_code = status->state == MESOS__V1__TASK_STATE__TASK_FINISHED ? 0 : 1;
        agora_scheduler_finish(s); /* teardown, then stop */
    }
}

static void on_error(struct agora_scheduler *s, const char *message, void *arg)
{
    fprintf(stderr, "agora-minimal: %s\n", message);
    agora_scheduler_stop(s);
}

int main(int argc, char **argv)
{
    struct agora_scheduler_config cfg = { .master = argc > 1 ? argv[1] : "127.0.0.1:5050",
                                          .name = "agora-minimal" };
    struct agora_scheduler_callbacks cbs = { .offers = on_offers,
                                             .update = on_update,
                                             .error = on_error };
    command = argc > 2 ? argv[2] : command;
    char *err = NULL;
    struct agora_scheduler *s = agora_scheduler_new(NULL, &cfg, &cbs, NULL, &err);
    if (!s) {
        fprintf(stderr, "agora-minimal: %s\n", err);
        free(err);
        return 2;
    }
    agora_scheduler_run(s);
    agora_scheduler_free(s);
    return exit_code;
}
