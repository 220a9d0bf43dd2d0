/*
 * source: follows Marathon (or Pacer) through its documented API.
 *
 * The apps and their tasks come from GET /v2/apps?embed=apps.tasks (a
 * full refresh): once at start, each time the event stream (re)connects,
 * every --resync_interval, and after an event this cannot place. Full
 * refreshes are coalesced: at most one in flight and one more queued. Its
 * 5.2 MB answer (1,000 apps / 10,000 tasks) is parsed and cut down to the
 * kept model (model.c) on a thread of its own (common/offload.c): parsing
 * it on the loop took 0.5-1.2 s, during which no task event was applied.
 * Other events cost at most one app:
 *   - a task event (status_update_event, health_status_changed_event) of
 *     a known app patches the kept document (patch.c);
 *   - a deployment event re-reads only the apps its plan names, with
 *     GET /v2/apps/<id>?embed=app.tasks (a 404 removes the app), except
 *     a ScaleApplication of a known app: Marathon plans one only when the
 *     definition is unchanged, and the instances it adds or kills come as
 *     task events; api_post_event and app_terminated_event re-read their
 *     app the same way.
 * The events (and app answers) received while a read is in flight are
 * replayed onto its answer, which may predate them. The apps go to the
 * caller once per turn of the loop, however many events one read
 * brought. The stream is a state machine (below); it reconnects
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
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "auth.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "offload.h"
#include "pacer_lb.h"
#include "sse.h"

#define SOURCE_APPS_PATH "/v2/apps?embed=apps.tasks"
#define SOURCE_EVENTS_PATH                                                                  \
    "/v2/events?event_type=status_update_event&event_type=health_status_changed_event"      \
    "&event_type=api_post_event&event_type=deployment_success&event_type=deployment_failed" \
    "&event_type=deployment_step_success&event_type=app_terminated_event"                   \
    "&event_type=group_change_success&event_type=deployment_info"                           \
    "&event_type=deployment_step_failure&plan-format=light"
#define SOURCE_MAX_EVENT (4 * 1024 * 1024)
#define SOURCE_BACKOFF_MIN 0.5
#define SOURCE_BACKOFF_MAX 10.0
#define SOURCE_RETRY_SECS 2.0
#define SOURCE_TIMEOUT_SECS 10.0
#define SOURCE_MAX_URLS 16
#define SOURCE_MAX_APP_ID 512

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
    struct offload *parse; /* full answer being parsed off the loop */
    struct parse_job *job; /* its job */
    json_t *doc;           /* the kept model (model.c), with the events since */
    /* What changed the kept document while a full refresh (call, then
     * parse) runs: [type, event] of task events, ["app", id, app or null]
     * of app answers. */
    json_t *replay;
    struct app_fetch *fetches; /* single-app reads in flight */
    struct event *deliver;     /* hands doc to fn at the next turn of the loop */
    struct metric *m_refreshes, *m_events, *m_failures, *m_switches, *m_patches, *m_app_reads;
};

/* GET /v2/apps/<id>?embed=app.tasks in flight. */
struct app_fetch {
    struct source *s;
    char *id;
    struct http_call *call;
    json_t *replay; /* [type, event] of this app's task events meanwhile */
    bool again;     /* an event came after the request: read once more */
    struct app_fetch *next;
};

/* A full answer handed to the parsing thread, and what it made of it. */
struct parse_job {
    struct source *s;
    char *body;
    size_t len;
    json_t *doc;                           /* the model, or NULL */
    char err[JSON_ERROR_TEXT_LENGTH + 32]; /* why not */
};

static void refresh(struct source *s);
static void stream_open(struct source *s);
static bool refreshing(const struct source *s)
{
    return s->call != NULL || s->parse != NULL;
}

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

/* The full refresh failed: retry, following the next URL when there is one. */
static void refresh_failed(struct source *s)
{
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
}

static json_t *find_app(json_t *doc, const char *id, size_t *index)
{
    size_t k;
    json_t *app;
    json_array_foreach(json_object_get(doc, "apps"), k, app)
    {
        const char *v = json_string_value(json_object_get(app, "id"));
        if (v != NULL && strcmp(v, id) == 0) {
            if (index != NULL)
                *index = k;
            return app;
        }
    }
    return NULL;
}

/* Put app (a model app, or NULL: gone) in doc in place of app id. */
static void put_app(json_t *doc, const char *id, json_t *app)
{
    json_t *apps = json_object_get(doc, "apps");
    size_t index;
    if (find_app(doc, id, &index) != NULL) {
        if (app != NULL)
            json_array_set(apps, index, app);
        else
            json_array_remove(apps, index);
    } else if (app != NULL) {
        json_array_append(apps, app);
    }
}

/* Replay the changes recorded in replay onto doc; false when one of its
 * task events does not fit doc (then only another read will do). */
static bool replay_onto(json_t *doc, json_t *replay)
{
    bool ok = true;
    size_t k;
    json_t *e;
    json_array_foreach(replay, k, e)
    {
        const char *type = json_string_value(json_array_get(e, 0));
        if (strcmp(type, "app") == 0) {
            json_t *app = json_array_get(e, 2);
            put_app(doc, json_string_value(json_array_get(e, 1)), json_is_null(app) ? NULL : app);
        } else if (lbpatch_apply(doc, type, json_array_get(e, 1)) < 0) {
            ok = false;
        }
    }
    json_array_clear(replay);
    return ok;
}

/* Runs on the parsing thread: nothing of the loop is touched. */
static void parse_work(void *arg)
{
    struct parse_job *j = arg;
    json_error_t jerr;
    json_t *full = json_loadb(j->body, j->len, 0, &jerr);
    free(j->body);
    j->body = NULL;
    if (full == NULL) {
        snprintf(j->err, sizeof(j->err), "bad JSON: %s", jerr.text);
        return;
    }
    json_t *lean = lbmodel_doc(full);
    json_decref(full);
    if (lean == NULL) {
        snprintf(j->err, sizeof(j->err), "no \"apps\" array");
        return;
    }
    /* The model is made again from its own text once the whole document
     * is freed and trimmed: built beside the parse, its objects would sit
     * in the parse's pages (filling the holes it left) and keep ~40 MB of
     * them resident at 10,000 tasks. */
    char *text = json_dumps(lean, JSON_COMPACT);
    json_decref(lean);
    malloc_trim(0);
    j->doc = text != NULL ? json_loads(text, 0, NULL) : NULL;
    free(text);
    if (j->doc == NULL)
        snprintf(j->err, sizeof(j->err), "cannot copy the apps");
}

static void parse_done(void *arg)
{
    struct parse_job *j = arg;
    struct source *s = j->s;
    json_t *doc = j->doc;
    s->parse = NULL;
    s->job = NULL;
    if (doc == NULL)
        log_error("GET %s: %s", SOURCE_APPS_PATH, j->err);
    free(j);
    if (doc == NULL) {
        refresh_failed(s);
        return;
    }
    metric_inc(s->m_refreshes, 1);
    if (!replay_onto(doc, s->replay))
        s->queued = true; /* this answer cannot take an event: ask again */
    json_decref(s->doc);
    s->doc = doc;
    evtimer_del(s->deliver);
    s->fn(doc, s->arg);
    /* The old model's pages (in the arena of the thread that parsed it). */
    malloc_trim(0);
    if (s->queued) {
        s->queued = false;
        refresh(s);
    }
}

static void on_apps(const struct http_response *resp, void *arg)
{
    struct source *s = arg;
    s->call = NULL;
    if (resp->status != 200) {
        log_error("GET %s from %s:%d: %s", SOURCE_APPS_PATH, s->host, s->port,
                  resp->status ? "unexpected status" : resp->error);
        if (resp->status)
            log_error("status %d: %.200s", resp->status, resp->body);
        refresh_failed(s);
        return;
    }
    struct parse_job *j = xcalloc(1, sizeof(*j));
    j->s = s;
    j->body = xmalloc(resp->len + 1);
    memcpy(j->body, resp->body, resp->len);
    j->body[resp->len] = '\0';
    j->len = resp->len;
    s->job = j;
    s->parse = offload_start(s->base, parse_work, parse_done, j);
    if (s->parse == NULL) { /* no thread: parse here */
        parse_work(j);
        parse_done(j);
    }
}

static void refresh(struct source *s)
{
    const struct http_header hdrs[] = { { "Accept", "application/json" },
                                        { "Authorization", s->auth_header } };
    if (refreshing(s)) {
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

/* ----------------------------------------------------- one app */

static void fetch_app(struct source *s, const char *id);

static void fetch_free(struct source *s, struct app_fetch *f)
{
    for (struct app_fetch **pp = &s->fetches; *pp != NULL; pp = &(*pp)->next) {
        if (*pp == f) {
            *pp = f->next;
            break;
        }
    }
    json_decref(f->replay);
    free(f->id);
    free(f);
}

/* The app's answer (200: {"app": ...}; 404: it is gone) into the kept
 * document. */
static void on_app(const struct http_response *resp, void *arg)
{
    struct app_fetch *f = arg;
    struct source *s = f->s;
    f->call = NULL;
    json_t *app = NULL;
    bool gone = resp->status == 404;
    if (resp->status == 200) {
        json_t *body = json_loadb(resp->body, resp->len, 0, NULL);
        json_t *a = json_object_get(body, "app");
        const char *id = json_string_value(json_object_get(a, "id"));
        if (id != NULL && strcmp(id, f->id) == 0)
            app = lbmodel_app(a);
        json_decref(body);
    }
    if (app == NULL && !gone) {
        log_warn("GET /v2/apps%s from %s:%d: %s; reading every app", f->id, s->host, s->port,
                 resp->status ? "unexpected answer" : resp->error);
        fetch_free(s, f);
        refresh(s);
        return;
    }
    metric_inc(s->m_app_reads, 1);
    if (app != NULL) {
        json_t *one = json_pack("{s:[O]}", "apps", app);
        bool ok = replay_onto(one, f->replay);
        json_decref(one);
        if (!ok)
            f->again = true;
    }
    if (s->doc != NULL)
        put_app(s->doc, f->id, app);
    if (refreshing(s))
        json_array_append_new(s->replay, json_pack("[s,s,o]", "app", f->id,
                                                   app != NULL ? json_incref(app) : json_null()));
    json_decref(app);
    event_active(s->deliver, EV_TIMEOUT, 0);
    bool again = f->again;
    char *id = xstrdup(f->id);
    fetch_free(s, f);
    if (again)
        fetch_app(s, id);
    free(id);
}

/* Read app id alone (again after the read in flight, if one is). An id
 * that cannot be put in a path is read with everything. */
static void fetch_app(struct source *s, const char *id)
{
    const struct http_header hdrs[] = { { "Accept", "application/json" },
                                        { "Authorization", s->auth_header } };
    size_t n = strlen(id);
    if (id[0] != '/' || n > SOURCE_MAX_APP_ID ||
        strspn(id, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") != n) {
        refresh(s);
        return;
    }
    for (struct app_fetch *f = s->fetches; f != NULL; f = f->next) {
        if (strcmp(f->id, id) == 0) {
            f->again = true;
            return;
        }
    }
    struct app_fetch *f = xcalloc(1, sizeof(*f));
    f->s = s;
    f->id = xstrdup(id);
    f->replay = json_array();
    char *path = xasprintf("/v2/apps%s?embed=app.tasks", id);
    f->call = http_call_start(s->base, s->host, s->port, "GET", path, hdrs, s->auth_header ? 2 : 1,
                              NULL, 0, SOURCE_TIMEOUT_SECS, on_app, f);
    free(path);
    if (f->call == NULL) {
        json_decref(f->replay);
        free(f->id);
        free(f);
        refresh(s);
        return;
    }
    f->next = s->fetches;
    s->fetches = f;
}

/* ----------------------------------------------------- events */

/* Patch the kept answer with a task event; false when it cannot be (the
 * app is read again). */
static bool patch(struct source *s, const char *type, json_t *data)
{
    int r = lbpatch_apply(s->doc, type, data);
    if (r < 0)
        return false;
    metric_inc(s->m_patches, 1);
    if (refreshing(s))
        json_array_append_new(s->replay, json_pack("[s,O]", type, data));
    const char *app = json_string_value(json_object_get(data, "appId"));
    for (struct app_fetch *f = s->fetches; f != NULL; f = f->next) {
        if (app != NULL && strcmp(f->id, app) == 0)
            json_array_append_new(f->replay, json_pack("[s,O]", type, data));
    }
    if (r > 0)
        event_active(s->deliver, EV_TIMEOUT, 0);
    return true;
}

/* Read again the apps of a deployment's plan (data, plan-format=light)
 * whose definition may have changed; false when the plan names none. */
static bool deployment(struct source *s, const json_t *data)
{
    const json_t *steps = json_object_get(json_object_get(data, "plan"), "steps");
    const json_t *current = json_object_get(json_object_get(data, "currentStep"), "actions");
    bool any = false;
    for (int pass = 0; pass < 2; pass++) {
        const json_t *list = pass == 0 ? steps : NULL;
        size_t nsteps = pass == 0 ? json_array_size(steps) : 1;
        for (size_t k = 0; k < nsteps; k++) {
            const json_t *acts =
                pass == 0 ? json_object_get(json_array_get(list, k), "actions") : current;
            size_t j;
            const json_t *act;
            json_array_foreach(acts, j, act)
            {
                const char *what = json_string_value(json_object_get(act, "action"));
                const char *app = json_string_value(json_object_get(act, "app"));
                if (what == NULL || app == NULL)
                    return false;
                any = true;
                if (strcmp(what, "ScaleApplication") == 0 && s->doc != NULL &&
                    find_app(s->doc, app, NULL) != NULL)
                    continue;
                fetch_app(s, app);
            }
        }
    }
    return any;
}

static bool is_deployment(const char *type)
{
    return strncmp(type, "deployment_", 11) == 0;
}

static int on_event(const struct sse_event *ev, void *arg)
{
    struct source *s = arg;
    metric_inc(s->m_events, 1);
    log_debug("event %s", ev->type);
    if (s->doc == NULL) { /* the first answer is on its way */
        refresh(s);
        return 0;
    }
    json_t *data = json_loads(ev->data, 0, NULL);
    const char *app = NULL;
    bool done = false;
    if (lbpatch_handles(ev->type)) {
        done = patch(s, ev->type, data);
        app = json_string_value(json_object_get(data, "appId"));
    } else if (is_deployment(ev->type)) {
        done = deployment(s, data);
    } else if (strcmp(ev->type, "api_post_event") == 0) {
        app = json_string_value(json_object_get(json_object_get(data, "appDefinition"), "id"));
    } else if (strcmp(ev->type, "app_terminated_event") == 0) {
        app = json_string_value(json_object_get(data, "appId"));
    }
    if (!done && app != NULL)
        fetch_app(s, app);
    else if (!done)
        refresh(s);
    json_decref(data);
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
    s->m_app_reads = metrics_counter("agora_pacer_lb_app_reads_total",
                                     "single apps read again (GET /v2/apps/<id>) after an event");
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
    if (s->parse != NULL) {
        offload_cancel(s->parse); /* waits for the thread */
        s->parse = NULL;
        json_decref(s->job->doc);
        free(s->job->body);
        free(s->job);
    }
    while (s->fetches != NULL) {
        if (s->fetches->call != NULL)
            http_call_cancel(s->fetches->call);
        fetch_free(s, s->fetches);
    }
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
