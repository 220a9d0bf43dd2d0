/*
 * inflight-app: the framework of tests/system/test_sdk_failover.py, in
 * which a master dies with this framework's ACCEPT in flight. It keeps the
 * first offer it gets (a copy: offers live only during the callback) and
 * launches one task on it once the file GATE exists — the test creates it
 * after freezing the master (SIGSTOP), so the ACCEPT reaches a master that
 * cannot answer, and then kills that master. The library must report the
 * ACCEPT as failed (its done function and call_done), and after the
 * re-subscription (resubscribed) the framework reconciles the task.
 * Every event is printed as one line on stdout for the test to wait on.
 *
 *   inflight-app MASTER GATE
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "agora/scheduler.h"

static const char *gate;
static Mesos__V1__Offer *held; /* copy of the first offer, until launched */
static int accepts_sent;

/* One line on stdout, flushed at once: the test reads it through a pipe. */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

static void on_accept_done(struct agora_scheduler *s, const struct agora_call_result *r, void *ctx)
{
    say("ACCEPT done ok=%d http_status=%d ctx=%s error=%s", r->ok, r->http_status,
        (const char *)ctx, r->error ? r->error : "-");
}

static void on_call_done(struct agora_scheduler *s, const struct agora_call_result *r, void *arg)
{
    if (!r->ok)
        say("call %d failed: http_status=%d error=%s", (int)r->type, r->http_status, r->error);
}

static void on_subscribed(struct agora_scheduler *s, const char *framework_id, double hb,
                          bool resubscribed, void *arg)
{
    say("subscribed %s resubscribed=%d", framework_id, resubscribed);
    if (resubscribed && accepts_sent) {
        const char *ids[] = { "inflight-1" };
        agora_scheduler_reconcile(s, ids, NULL, 1);
    }
}

static void on_offers(struct agora_scheduler *s, const Mesos__V1__Offer *const *offers, size_t n,
                      void *arg)
{
    for (size_t i = 0; i < n; i++) {
        if (held || accepts_sent) {
            agora_scheduler_decline(s, offers[i]->id->value, 60);
            continue;
        }
        size_t len = mesos__v1__offer__get_packed_size(offers[i]);
        uint8_t *buf = malloc(len ? len : 1);
        mesos__v1__offer__pack(offers[i], buf);
        held = mesos__v1__offer__unpack(NULL, len, buf);
        free(buf);
        say("held offer %s", held->id->value);
    }
}

static void on_gate_timer(struct agora_scheduler *s, void *ctx)
{
    if (!held || access(gate, F_OK) != 0)
        return;
    Mesos__V1__TaskInfo *task = agora_task_new("inflight", "inflight-1", NULL, "sleep 60", 0.1, 16);
    if (agora_scheduler_launch_ex(s, held, &task, 1, 60, on_accept_done, "launch-1") == 0) {
        accepts_sent++;
        say("ACCEPT sent");
    } else {
        say("ACCEPT not sent (%s)", agora_scheduler_state_name(agora_scheduler_state(s)));
    }
    agora_task_free(task);
    mesos__v1__offer__free_unpacked(held, NULL);
    held = NULL;
}

static void on_update(struct agora_scheduler *s, const Mesos__V1__TaskStatus *st, void *arg)
{
    say("update %s %s", st->task_id->value, agora_task_state_name(st->state));
}

static void on_disconnected(struct agora_scheduler *s, const char *reason, void *arg)
{
    say("disconnected: %s", reason);
}

static void on_error(struct agora_scheduler *s, const char *message, void *arg)
{
    say("error: %s", message);
    agora_scheduler_stop(s);
}

int main(int argc, char **argv)
{
    struct agora_scheduler_config cfg = {
        .master = argc > 1 ? argv[1] : "127.0.0.1:5050",
        .name = "inflight-app",
        .failover_timeout = 300,
    };
    struct agora_scheduler_callbacks cbs = {
        .subscribed = on_subscribed,
        .offers = on_offers,
        .update = on_update,
        .disconnected = on_disconnected,
        .error = on_error,
        .call_done = on_call_done,
    };
    char *err = NULL;

    gate = argc > 2 ? argv[2] : "/nonexistent";
    struct agora_scheduler *s = agora_scheduler_new(NULL, &cfg, &cbs, NULL, &err);
    if (!s) {
        fprintf(stderr, "inflight-app: %s\n", err);
        free(err);
        return 2;
    }
    agora_scheduler_add_timer(s, 20, true, on_gate_timer, NULL);
    agora_scheduler_run(s);
    agora_scheduler_free(s);
    return 0;
}
