/*
 * wait: --wait, following one of Pacer's deployments to its end.
 *
 * Before the change is sent, Pacer's /v2/events is subscribed to for
 * deployment_success and deployment_failed (so the end of a quick
 * deployment cannot be missed). Then, every WAIT_POLL_SECS, the
 * deployment (/v2/deployments/{id}: step, actions, what it waits for),
 * the app (instances up / target) and the queue (why instances are not
 * placed) are read and the progress line is redrawn (in place on a
 * terminal; on a pipe, a new line whenever something but the clock
 * changed). The events are read while the loop pauses between polls.
 *
 * Ends: deployment_success (exit 0); deployment_failed (the deployment
 * was cancelled or replaced: exit 1); --timeout passed (exit 1, naming
 * what it waited for — for an app that cannot be placed, the queue's
 * reject reasons). Without the event stream, a deployment that is gone
 * from /v2/deployments is judged by the app: all instances up (or, for
 * destroy, the app gone) is a success.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "cli.h"
#include "http.h"
#include "mem.h"
#include "sse.h"
#include "timeutil.h"

#define WAIT_POLL_SECS 0.5
#define WAIT_GONE_GRACE 3.0  /* seconds to wait for the event after the plan is gone */
#define WAIT_MAX_FAILURES 10 /* Pacer unreachable this many polls in a row: give up */
#define EVENTS_MAX (1024 * 1024)
#define EVENTS_PATH "/v2/events?event_type=deployment_success&event_type=deployment_failed"

enum events_state {
    EVENTS_CONNECTING, /* request sent */
    EVENTS_OPEN,       /* 200: events flow */
    EVENTS_CLOSED,     /* refused or ended */
};

struct cli_events {
    struct http_sub *sub;
    struct sse_parser *parser;
    enum events_state state;
    json_t *ended; /* {deployment id: "deployment_success" | "deployment_failed"} */
};

static int on_event(const struct sse_event *e, void *arg)
{
    struct cli_events *ev = arg;
    json_t *j = json_loadb(e->data, e->len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "eventType"));
    const char *id = json_string_value(json_object_get(j, "id"));
    if (type && id)
        json_object_set_new(ev->ended, id, json_string(type));
    json_decref(j);
    return 0;
}

static void ev_response(struct http_sub *s, int status, struct evkeyvalq *headers, void *arg)
{
    struct cli_events *ev = arg;
    ev->state = status == 200 ? EVENTS_OPEN : EVENTS_CLOSED;
}

static void ev_data(struct http_sub *s, const char *data, size_t len, void *arg)
{
    struct cli_events *ev = arg;
    if (ev->state == EVENTS_OPEN &&
        sse_parser_feed(ev->parser, data, len, on_event, ev, NULL) < 0) {
        http_sub_close(ev->sub);
        ev->sub = NULL;
        ev->state = EVENTS_CLOSED;
    }
}

static void ev_close(struct http_sub *s, const char *reason, void *arg)
{
    struct cli_events *ev = arg;
    ev->sub = NULL;
    ev->state = EVENTS_CLOSED;
}

struct cli_events *cli_events_open(struct cli *c)
{
    struct http_header hdrs[2];
    size_t nhdrs = cli_headers(c, hdrs, "text/event-stream");
    static const struct http_sub_callbacks cbs = { ev_response, ev_data, ev_close };
    struct cli_events *ev = xcalloc(1, sizeof(*ev));
    char *host = NULL;
    int port;

    if (cli_pacer_addr(c, &host, &port) < 0) {
        free(ev);
        return NULL;
    }
    ev->parser = sse_parser_new(EVENTS_MAX);
    ev->ended = json_object();
    ev->state = EVENTS_CONNECTING;
    ev->sub = http_sub_open(c->base, host, port, "GET", EVENTS_PATH, hdrs, nhdrs, NULL, 0,
                            c->timeout, &cbs, ev);
    free(host);
    while (ev->sub && ev->state == EVENTS_CONNECTING)
        event_base_loop(c->base, EVLOOP_ONCE);
    if (ev->state != EVENTS_OPEN) {
        /* Not fatal: --wait polls without it. */
        cli_events_free(ev);
        return NULL;
    }
    return ev;
}

void cli_events_free(struct cli_events *ev)
{
    if (ev == NULL)
        return;
    if (ev->sub)
        http_sub_close(ev->sub);
    sse_parser_free(ev->parser);
    json_decref(ev->ended);
    free(ev);
}

/* The redrawn line: in place on a terminal, else one line per change. */
struct progress_out {
    bool tty;
    bool shown; /* something is on the current line (tty) */
    char *last; /* last text printed without the clock (pipe) */
};

static void show(struct progress_out *po, const char *line, const char *key)
{
    if (po->tty) {
        fprintf(stderr, "\r\033[K%s", line);
        po->shown = true;
    } else if (po->last == NULL || strcmp(po->last, key) != 0) {
        fprintf(stderr, "%s\n", line);
        free(po->last);
        po->last = xstrdup(key);
    }
    fflush(stderr);
}

static void show_end(struct progress_out *po)
{
    if (po->tty && po->shown)
        fputc('\n', stderr);
    free(po->last);
}

int cli_wait_deployment(struct cli *c, struct cli_events *ev, const char *app_id,
                        const char *deployment_id, bool stop, double started)
{
    struct progress_out po = { c->stderr_tty, false, NULL };
    char *dep_path, *app_path = cli_app_path(app_id, "");
    int rc = CLI_FAIL, failures = 0, status;
    double gone_at = 0;
    char *line = NULL, *not_placed = NULL;

    dep_path = xasprintf("/v2/deployments/%s", deployment_id);
    for (;;) {
        double elapsed = time_mono() - started;
        json_t *dep = cli_pacer_quiet404(c, "GET", dep_path, &status);
        bool dep_gone = dep == NULL && status == 404;
        json_t *app = cli_pacer_quiet404(c, "GET", app_path, &status);
        bool app_gone = app == NULL && status == 404;
        json_t *queue = cli_pacer(c, "GET", "/v2/queue", NULL, NULL, NULL);
        const json_t *item = progress_queue_item(queue, app_id);
        const char *ended =
            ev ? json_string_value(json_object_get(ev->ended, deployment_id)) : NULL;

        if ((dep == NULL && !dep_gone) || (app == NULL && !app_gone) || queue == NULL) {
            /* Pacer did not answer (the error is printed): a failover, a restart? */
            json_decref(dep);
            json_decref(app);
            json_decref(queue);
            if (++failures >= WAIT_MAX_FAILURES) {
                cli_error("deployment %s: Pacer did not answer %d times in a row", deployment_id,
                          failures);
                goto out;
            }
            cli_pause(c, WAIT_POLL_SECS);
            continue;
        }
        failures = 0;
        free(line);
        const json_t *app_doc = json_object_get(app, "app");
        line = progress_line(app_id, app_doc, dep, item, elapsed);
        char *key = progress_line(app_id, app_doc, dep, item, 0);
        show(&po, line, key);
        free(key);

        long up = 0, target = 0;
        bool health;
        if (app_doc)
            progress_counts(app_doc, &up, &target, &health);
        bool reached = stop ? app_gone : (app_doc != NULL && up == target);
        free(not_placed);
        not_placed = item ? progress_not_placed(item) : NULL;
        json_decref(dep);
        json_decref(app);
        json_decref(queue);

        if (ended && strcmp(ended, "deployment_success") == 0) {
            rc = CLI_OK;
            break;
        }
        if (ended) {
            show_end(&po);
            po.shown = false;
            po.last = NULL;
            cli_error("deployment %s of %s failed: it was cancelled or replaced by another "
                      "deployment (%s)",
                      deployment_id, app_id, line);
            goto out_shown;
        }
        if (dep_gone) {
            if (gone_at == 0)
                gone_at = time_mono();
            /* No event (no stream, or it is late): judge by the app. */
            if (ev == NULL || ev->state != EVENTS_OPEN || time_mono() - gone_at > WAIT_GONE_GRACE) {
                if (reached) {
                    rc = CLI_OK;
                    break;
                }
                show_end(&po);
                po.shown = false;
                po.last = NULL;
                cli_error("deployment %s of %s ended without reaching its goal (%s)", deployment_id,
                          app_id, line);
                goto out_shown;
            }
        }
        if (elapsed > c->wait_timeout) {
            show_end(&po);
            po.shown = false;
            po.last = NULL;
            if (not_placed)
                cli_error("deployment %s: timed out after %.0fs: %s cannot be placed: %s",
                          deployment_id, c->wait_timeout, app_id, not_placed);
            else
                cli_error("deployment %s: timed out after %.0fs (%s)", deployment_id,
                          c->wait_timeout, line);
            goto out_shown;
        }
        cli_pause(c, WAIT_POLL_SECS);
    }
    show_end(&po);
    po.shown = false;
    po.last = NULL;
    fprintf(c->json ? stderr : stdout, "deployment %s succeeded: %s\n", deployment_id, line);
    goto out_shown;
out:
    show_end(&po);
out_shown:
    free(not_placed);
    free(line);
    free(dep_path);
    free(app_path);
    return rc;
}
