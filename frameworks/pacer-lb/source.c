/*
 * source: follows Marathon (or Pacer) through its documented API.
 *
 * The apps and their tasks come from GET /v2/apps?embed=apps.tasks: once
 * at start, each time the event stream (re)connects, and after every
 * event on /v2/events that may change routing. Refreshes are coalesced:
 * at most one request in flight and one more queued, however many events
 * arrive meanwhile. A task event (status_update_event,
 * health_status_changed_event) of a known app patches the kept answer
 * instead (patch.c): a refresh costs ~1 s at 10,000 tasks, which would
 * route a new instance seconds late. The task events received while a
 * refresh is in flight are replayed onto its answer, which may predate
 * them. The apps go to the caller once per turn of the loop, however
 * many events one read brought. The stream is a state machine (below); it reconnects
 * with exponential backoff (0.5 s to 10 s). A failed refresh is retried
 * after 2 s. A full refresh also runs every --resync_interval, so that a
 * change whose event was lost (or a stream that stays open but silent)
 * is still picked up.
 *
 * Several URLs (--marathon=URL,URL,...): one is followed at a time. Any
 * member of a Pacer or Marathon quorum answers for the leader (standbys
 * proxy), so the current URL is kept while it answers; a failed or timed
 * out refresh, or a dropped event stream, moves on to the next URL. One
 * member hanging therefore costs at most SOURCE_TIMEOUT_SECS.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "pacer_lb.h"
#include "sse.h"

#define SOURCE_APPS_PATH "/v2/apps?embed=apps.tasks"
#define SOURCE_EVENTS_PATH                                                                  \
    "/v2/events?event_type=status_update_event&event_type=health_status_changed_event"      \
    "&event_type=api_post_event&event_type=deployment_success&event_type=deployment_failed" \
    "&event_type=deployment_step_success&event_type=app_terminated_event"                   \
    "&event_type=group_change_success&plan-format=light"
#define SOURCE_MAX_EVENT (4 * 1024 * 1024)
#define SOURCE_BACKOFF_MIN 0.5
#define SOURCE_BACKOFF_MAX 10.0
#define SOURCE_RETRY_SECS 2.0
#define SOURCE_TIMEOUT_SECS 10.0
#define SOURCE_MAX_URLS 16

enum stream_state {
    STREAM_WAITING,    /* backoff timer armed */
    STREAM_CONNECTING, /* request sent, no headers yet */
    STREAM_OPEN,       /* 200 received, events flowing */
};

static const char *const stream_state_names[] = {
    [STREAM_WAITING] = "waiting",
    [STREAM_CONNECTING] = "connecting",
    [STREAM_OPEN] = "open",
};

struct source {
    struct event_base *base;
    char *hosts[SOURCE_MAX_URLS];
    int ports[SOURCE_MAX_URLS];
    size_t nurls, cur;
    const char *host; /* hosts[cur], ports[cur] */
    int port;
    double resync_secs;
    struct event *resync;
    char *auth_header; /* --marathon_credentials as "Basic ...", NULL: none */
    source_apps_fn fn;
    void *arg;
    struct http_call *call; /* refresh in flight */
    bool queued;            /* another refresh wanted after it */
    struct event *retry;    /* refresh retry after a failure */
    enum stream_state state;
    struct http_sub *sub;
    struct sse_parser *parser;
    double backoff;
    struct event *reconnect;
    json_t *doc;           /* the last answer, with the task events since */
    json_t *replay;        /* [type, event] of task events while call runs */
    struct event *deliver; /* hands doc to fn at the next turn of the loop */
    struct metric *m_refreshes, *m_events, *m_failures, *m_switches, *m_patches;
};

static void refresh(struct source *s);
static void stream_open(struct source *s);

static void set_state(struct source *s, enum stream_state st)
{
    if (s->state != st)
        log_info("event stream %s:%d: %s -> %s", s->host, s->port, stream_state_names[s->state],
                 stream_state_names[st]);
    s->state = st;
}

static void arm(struct event *ev, double secs)
{
    struct timeval tv = { (time_t)secs, (suseconds_t)((secs - (time_t)secs) * 1e6) };
    evtimer_add(ev, &tv);
}

/* The current URL failed: follow the next one (no-op with a single URL). */
static void next_url(struct source *s, const char *why)
{
    if (s->nurls < 2)
        return;
    size_t from = s->cur;
    s->cur = (s->cur + 1) % s->nurls;
    s->host = s->hosts[s->cur];
    s->port = s->ports[s->cur];
    metric_inc(s->m_switches, 1);
    log_warn("%s:%d %s; following %s:%d", s->hosts[from], s->ports[from], why, s->host, s->port);
}

static void on_apps(const struct http_response *resp, void *arg)
{
    struct source *s = arg;
    s->call = NULL;
    json_t *doc = NULL;
    if (resp->status == 200) {
        json_error_t jerr;
        doc = json_loadb(resp->body, resp->len, 0, &jerr);
        if (doc == NULL)
            log_error("GET %s: bad JSON: %s", SOURCE_APPS_PATH, jerr.text);
    } else {
        log_error("GET %s from %s:%d: %s", SOURCE_APPS_PATH, s->host, s->port,
                  resp->status ? "unexpected status" : resp->error);
        if (resp->status)
            log_error("status %d: %.200s", resp->status, resp->body);
    }
    if (doc == NULL) {
        metric_inc(s->m_failures, 1);
        s->queued = false;
        if (s->nurls > 1) {
            /* The stream follows the URL the refresh moves to. */
            next_url(s, "did not answer GET /v2/apps");
            if (s->sub != NULL) {
                http_sub_close(s->sub);
                s->sub = NULL;
            }
            s->backoff = SOURCE_BACKOFF_MIN;
            set_state(s, STREAM_WAITING);
            arm(s->reconnect, 0);
            arm(s->retry, 0);
        } else {
            arm(s->retry, SOURCE_RETRY_SECS);
        }
        return;
    }
    metric_inc(s->m_refreshes, 1);
    size_t k;
    json_t *pair;
    json_array_foreach(s->replay, k, pair)
    {
        if (lbpatch_apply(doc, json_string_value(json_array_get(pair, 0)),
                          json_array_get(pair, 1)) < 0)
            s->queued = true; /* this answer cannot take it: ask again */
    }
    json_array_clear(s->replay);
    json_decref(s->doc);
    s->doc = doc;
    evtimer_del(s->deliver);
    s->fn(doc, s->arg);
    if (s->queued) {
        s->queued = false;
        refresh(s);
    }
}

static void refresh(struct source *s)
{
    const struct http_header hdrs[] = { { "Accept", "application/json" },
                                        { "Authorization", s->auth_header } };
    if (s->call != NULL) {
        s->queued = true;
        return;
    }
    evtimer_del(s->retry);
    /* The new answer is read after every event received so far. */
    json_array_clear(s->replay);
    if (s->resync_secs > 0)
        arm(s->resync, s->resync_secs);
    s->call = http_call_start(s->base, s->host, s->port, "GET", SOURCE_APPS_PATH, hdrs,
                              s->auth_header ? 2 : 1, NULL, 0, SOURCE_TIMEOUT_SECS, on_apps, s);
}

static void on_retry(evutil_socket_t fd, short what, void *arg)
{
    refresh(arg);
}

static void on_deliver(evutil_socket_t fd, short what, void *arg)
{
    struct source *s = arg;
    if (s->doc != NULL)
        s->fn(s->doc, s->arg);
}

/* Patch the kept answer with a task event; false when only a refresh
 * will do. */
static bool patch(struct source *s, const struct sse_event *ev)
{
    if (s->doc == NULL || !lbpatch_handles(ev->type))
        return false;
    json_t *data = json_loads(ev->data, 0, NULL);
    int r = lbpatch_apply(s->doc, ev->type, data);
    if (r < 0) {
        json_decref(data);
        return false;
    }
    metric_inc(s->m_patches, 1);
    if (s->call != NULL)
        json_array_append_new(s->replay, json_pack("[s,o]", ev->type, data));
    else
        json_decref(data);
    if (r > 0)
        event_active(s->deliver, EV_TIMEOUT, 0);
    return true;
}

static int on_event(const struct sse_event *ev, void *arg)
{
    struct source *s = arg;
    metric_inc(s->m_events, 1);
    log_debug("event %s", ev->type);
    if (!patch(s, ev))
        refresh(s);
    return 0;
}

static void on_response(struct http_sub *sub, int status, struct evkeyvalq *headers, void *arg)
{
    struct source *s = arg;
    if (status != 200) {
        log_error("GET /v2/events from %s:%d: status %d", s->host, s->port, status);
        return; /* on_close follows */
    }
    set_state(s, STREAM_OPEN);
    s->backoff = SOURCE_BACKOFF_MIN;
    /* Whatever happened while we were away. */
    refresh(s);
}

static void on_data(struct http_sub *sub, const char *data, size_t len, void *arg)
{
    struct source *s = arg;
    char *err = NULL;
    if (s->state != STREAM_OPEN)
        return;
    if (sse_parser_feed(s->parser, data, len, on_event, s, &err) != 0) {
        log_error("event stream: %s", err ? err : "parse error");
        free(err);
        http_sub_close(s->sub);
        s->sub = NULL;
        set_state(s, STREAM_WAITING);
        arm(s->reconnect, s->backoff);
    }
}

static void on_close(struct http_sub *sub, const char *reason, void *arg)
{
    struct source *s = arg;
    s->sub = NULL;
    log_warn("event stream from %s:%d closed (%s); reconnecting in %.1fs", s->host, s->port, reason,
             s->backoff);
    next_url(s, "closed its event stream");
    set_state(s, STREAM_WAITING);
    arm(s->reconnect, s->backoff);
    s->backoff = s->backoff * 2 > SOURCE_BACKOFF_MAX ? SOURCE_BACKOFF_MAX : s->backoff * 2;
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    stream_open(arg);
}

static void stream_open(struct source *s)
{
    const struct http_header hdrs[] = { { "Accept", "text/event-stream" },
                                        { "Authorization", s->auth_header } };
    static const struct http_sub_callbacks cbs = { on_response, on_data, on_close };
    sse_parser_free(s->parser);
    s->parser = sse_parser_new(SOURCE_MAX_EVENT);
    set_state(s, STREAM_CONNECTING);
    s->sub = http_sub_open(s->base, s->host, s->port, "GET", SOURCE_EVENTS_PATH, hdrs,
                           s->auth_header ? 2 : 1, NULL, 0, SOURCE_TIMEOUT_SECS, &cbs, s);
    if (s->sub == NULL) {
        set_state(s, STREAM_WAITING);
        arm(s->reconnect, s->backoff);
    }
}

struct source *source_new(struct event_base *base, const char *urls, double resync_secs,
                          const char *credentials, source_apps_fn fn, void *arg, char **err)
{
    struct source *s = xcalloc(1, sizeof(*s));
    char *list = xstrdup(urls), *save = NULL;
    for (char *u = strtok_r(list, ",", &save); u; u = strtok_r(NULL, ",", &save)) {
        if (s->nurls == SOURCE_MAX_URLS) {
            *err = xasprintf("--marathon: more than %d URLs", SOURCE_MAX_URLS);
            break;
        }
        if (http_parse_hostport(u, 8080, &s->hosts[s->nurls], &s->ports[s->nurls]) != 0) {
            *err = xasprintf("--marathon: cannot parse '%s' (want http://host:port[,...])", u);
            break;
        }
        s->nurls++;
    }
    free(list);
    if (*err == NULL && s->nurls == 0)
        *err = xstrdup("--marathon: no URL given");
    if (*err != NULL) {
        for (size_t i = 0; i < s->nurls; i++)
            free(s->hosts[i]);
        free(s);
        return NULL;
    }
    if (credentials && credentials[0]) {
        const char *colon = strchr(credentials, ':');
        if (colon == NULL || colon == credentials) {
            *err = xstrdup("--marathon_credentials: want user:password");
            for (size_t i = 0; i < s->nurls; i++)
                free(s->hosts[i]);
            free(s);
            return NULL;
        }
        char *user = xstrndup(credentials, (size_t)(colon - credentials));
        s->auth_header = auth_basic_header(user, colon + 1);
        free(user);
    }
    s->host = s->hosts[0];
    s->port = s->ports[0];
    s->resync_secs = resync_secs;
    s->base = base;
    s->fn = fn;
    s->arg = arg;
    s->backoff = SOURCE_BACKOFF_MIN;
    s->state = STREAM_WAITING;
    s->retry = evtimer_new(base, on_retry, s);
    s->reconnect = evtimer_new(base, on_reconnect, s);
    s->resync = evtimer_new(base, on_retry, s);
    s->deliver = evtimer_new(base, on_deliver, s);
    s->replay = json_array();
    s->m_refreshes = metrics_counter("agora_pacer_lb_refreshes_total",
                                     "GET /v2/apps answers turned into a configuration");
    s->m_events = metrics_counter("agora_pacer_lb_events_total", "events read from /v2/events");
    s->m_failures =
        metrics_counter("agora_pacer_lb_refresh_failures_total", "GET /v2/apps calls that failed");
    s->m_switches = metrics_counter("agora_pacer_lb_marathon_switches_total",
                                    "moves to the next --marathon URL after a failure");
    s->m_patches = metrics_counter("agora_pacer_lb_patches_total",
                                   "task events applied to the kept apps without a refresh");
    refresh(s);
    stream_open(s);
    return s;
}

void source_free(struct source *s)
{
    if (s == NULL)
        return;
    if (s->call != NULL)
        http_call_cancel(s->call);
    if (s->sub != NULL)
        http_sub_close(s->sub);
    sse_parser_free(s->parser);
    event_free(s->retry);
    event_free(s->reconnect);
    event_free(s->resync);
    event_free(s->deliver);
    json_decref(s->doc);
    json_decref(s->replay);
    free(s->auth_header);
    for (size_t i = 0; i < s->nurls; i++)
        free(s->hosts[i]);
    free(s);
}
