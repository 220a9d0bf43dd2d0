/*
 * lb: agora-pacer-lb's core — wires the source (Marathon's apps), the
 * config renderer and the reloader together, and serves /health,
 * /metrics and /status on its own port.
 *
 * It chooses how each new text is applied (nothing, runtime API, or a
 * validated reload; diff.c decides) and owns the exclusions: the app
 * ports a render leaves out, and the backends held out until their app's
 * configuration changes because HAProxy would refuse them — blamed by
 * haproxy -c's error lines, or found by a test bind of a port HAProxy does
 * not bind yet. One bad app is left out; the rest is applied.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "atomic_file.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "pacer_lb.h"
#include "rest.h"
#include "timeutil.h"

#define LB_MAX_BODY (64 * 1024)
#define LB_DRAIN_TICK_SECS 0.25
#define LB_SETTLE_TICK_SECS 0.05
#define LB_SETTLE_MAX_TRIES 200 /* 10 s for a new worker to answer */
#define LB_REMOVE_MAX_TRIES 20

enum apply_kind { APPLY_NONE, APPLY_RUNTIME, APPLY_RELOAD, APPLY_START };

static const char *const apply_kind_names[] = { "none", "runtime", "reload", "start" };

/* A server HAProxy still holds that the configuration no longer lists:
 * draining until its deadline, then deleted. */
struct drain {
    char *name;      /* "backend/server" */
    double deadline; /* time_mono() when it is removed */
    int tries;       /* removals attempted */
};

struct pacer_lb {
    struct daemon *d;
    struct lbcfg_opts opts;
    struct lbtmpl *templates; /* --templates_dir; NULL: the defaults */
    char *config_path, *state_path;
    char *admin_socket, *master_socket;
    double drain_secs;
    struct http_server *http;
    struct rest_server *rest;
    struct source *source;
    struct reload *reload;
    struct runtime *rt;
    /* One apply at a time: while one runs, only the newest text waits. */
    bool applying;
    char *pending;
    char *inflight;           /* text being applied through the runtime API */
    double started;           /* time_mono() the apply began */
    int settle_tries;         /* after a reload: waiting for the new worker */
    long old_worker;          /* worker pid before the reload (0: unknown) */
    enum apply_kind settling; /* APPLY_RELOAD or APPLY_START */
    struct event *settle, *drain_timer;
    struct drain *drains;
    size_t ndrains;
    const char *removing; /* drains[].name of the removal in flight */
    json_t *doc;          /* the newest apps, to render again after an exclusion */
    json_t *exclude;      /* backends haproxy -c refused: lbcfg_opts.exclude */
    json_t *excluded;     /* the app ports the last render left out, for /status */
    int http_port;        /* --http_port: the shared HTTP frontend's */
    char *http_error;     /* why the last render left that frontend out; NULL: it did not */
    char *https_crt;      /* --ssl_certs as the HTTPS frontend's bind says it */
    /* /status */
    enum apply_kind last_kind;
    double last_secs, last_at;
    struct metric *m_excluded;
    struct metric *m_frontends, *m_servers, *m_reloads, *m_runtime, *m_apply, *m_runtime_failed;
    struct metric *m_render;
};

static void handle_status(struct rest_req *rq);

static const struct rest_route lb_routes[] = {
    { "GET", "/health", rest_handle_health, 0, NULL },
    { "GET", "/metrics", rest_handle_metrics, 0, NULL },
    { "GET", "/status", handle_status, 0, NULL },
};

static void apply_text(struct pacer_lb *lb, char *text);

/* The apply that ran is over: record it and start the newest waiting. */
static void apply_done(struct pacer_lb *lb, enum apply_kind kind)
{
    lb->applying = false;
    if (kind != APPLY_NONE) {
        lb->last_kind = kind;
        lb->last_secs = time_mono() - lb->started;
        lb->last_at = time_now();
        metric_observe(lb->m_apply, lb->last_secs);
        log_info("applied by %s in %.1f ms", apply_kind_names[kind], lb->last_secs * 1000);
    }
    if (lb->pending != NULL) {
        char *next = lb->pending;
        lb->pending = NULL;
        apply_text(lb, next);
    }
}

static void drains_clear(struct pacer_lb *lb)
{
    for (size_t k = 0; k < lb->ndrains; k++)
        free(lb->drains[k].name);
    lb->ndrains = 0;
}

static ssize_t drain_find(const struct pacer_lb *lb, const char *backend, const char *name)
{
    size_t bl = strlen(backend);
    for (size_t k = 0; k < lb->ndrains; k++) {
        const char *n = lb->drains[k].name;
        if (strncmp(n, backend, bl) == 0 && n[bl] == '/' && strcmp(n + bl + 1, name) == 0)
            return (ssize_t)k;
    }
    return -1;
}

static void drain_drop(struct pacer_lb *lb, size_t k)
{
    free(lb->drains[k].name);
    lb->drains[k] = lb->drains[--lb->ndrains];
}

static void arm(struct event *ev, double secs)
{
    struct timeval tv = time_tv(secs);
    evtimer_add(ev, &tv);
}

/* ----------------------------------------------------- reload path */

static long answer_pid(const char *answer)
{
    const char *p = answer ? strstr(answer, "\nPid: ") : NULL;
    if (p == NULL && answer != NULL && strncmp(answer, "Pid: ", 5) == 0)
        p = answer - 1;
    return p ? strtol(p + 6, NULL, 10) : 0;
}

static void on_settle_info(const char *answer, void *arg)
{
    struct pacer_lb *lb = arg;
    long pid = answer_pid(answer);
    if (pid > 0 && pid != lb->old_worker) {
        log_debug("haproxy worker %ld answers", pid);
        apply_done(lb, lb->settling);
        return;
    }
    if (++lb->settle_tries >= LB_SETTLE_MAX_TRIES) {
        log_warn("no new haproxy worker answered on %s", lb->admin_socket);
        apply_done(lb, lb->settling);
        return;
    }
    arm(lb->settle, LB_SETTLE_TICK_SECS);
}

static void on_settle(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pacer_lb *lb = arg;
    runtime_send(lb->rt, "show info", on_settle_info, lb);
}

static void render(struct pacer_lb *lb);

/* Hold backend name out of the configuration for why, until its app's
 * configuration changes. */
static void exclude_backend(struct pacer_lb *lb, const char *name, const char *why)
{
    const json_t *app = lbcfg_find_backend(lb->doc, name);
    const char *version = app != NULL ? lbcfg_app_version(app) : NULL;
    log_warn("leaving %s (app %s) out of the configuration: %s", name,
             app != NULL ? json_string_value(json_object_get(app, "id")) : "?", why);
    json_object_set_new(lb->exclude, name,
                        json_pack("{s:s,s:s?}", "reason", why, "version", version));
}

/* haproxy -c refused a text: leave out the apps it blamed (until they
 * change) and apply the rest. */
static void exclude_blamed(struct pacer_lb *lb)
{
    const char *log = NULL;
    const char *text = reload_rejected(lb->reload, &log);
    json_t *blamed = json_object();
    if (text == NULL || lbdiff_blame(text, log, reload_candidate_path(lb->reload), blamed) == 0) {
        log_error("haproxy -c refused a line that belongs to no app; keeping the last good "
                  "configuration");
        json_decref(blamed);
        apply_done(lb, APPLY_NONE);
        return;
    }
    const char *name;
    json_t *why;
    json_object_foreach(blamed, name, why)
    {
        exclude_backend(lb, name, json_string_value(why));
    }
    json_decref(blamed);
    free(lb->pending); /* rendered without the exclusion */
    lb->pending = NULL;
    apply_done(lb, APPLY_NONE);
    render(lb);
}

/* reload.c validated (and applied) a text, or rejected it. */
static void on_reloaded(int result, void *arg)
{
    struct pacer_lb *lb = arg;
    if (result == -2) {
        /* The file could not be written: the last one stays; the next
         * change or resync tries again. No app is to blame. */
        apply_done(lb, APPLY_NONE);
        return;
    }
    if (result < 0) {
        exclude_blamed(lb);
        return;
    }
    if (result == 1)
        metric_inc(lb->m_reloads, 1);
    lb->settling = result == 1 ? APPLY_RELOAD : APPLY_START;
    drains_clear(lb);
    /* Runtime commands must reach the new worker, not the old one. */
    lb->settle_tries = 0;
    on_settle(-1, 0, lb);
}

static void submit_reload(struct pacer_lb *lb, const char *text)
{
    reload_submit(lb->reload, text);
    if (!reload_busy(lb->reload)) /* nothing to validate after all */
        apply_done(lb, APPLY_NONE);
}

static void on_state_dumped(const char *answer, void *arg)
{
    struct pacer_lb *lb = arg;
    char *text = lb->inflight;
    lb->inflight = NULL;
    lb->old_worker = answer_pid(answer);
    const char *state = answer ? strstr(answer, "\n1\n# be_id") : NULL;
    if (state != NULL) {
        char *err = NULL;
        if (atomic_replace(lb->state_path, state + 1, strlen(state + 1), &err) != 0) {
            log_warn("cannot write %s: %s", lb->state_path, err);
            free(err);
        }
    }
    submit_reload(lb, text);
    free(text);
}

/* ----------------------------------------------------- runtime path */

static bool runtime_ok(const char *answer, size_t nadd)
{
    if (answer == NULL || strstr(answer, "No such") != NULL || strstr(answer, "Unknown") != NULL)
        return false;
    size_t n = 0;
    for (const char *p = answer; (p = strstr(p, "New server registered")) != NULL; p++)
        n++;
    return n >= nadd;
}

struct rt_apply {
    struct pacer_lb *lb;
    struct lbdiff diff;
    size_t nfresh; /* "add server" commands sent */
};

static void on_runtime_applied(const char *answer, void *arg)
{
    struct rt_apply *ra = arg;
    struct pacer_lb *lb = ra->lb;
    char *text = lb->inflight;
    lb->inflight = NULL;
    if (!runtime_ok(answer, ra->nfresh)) {
        log_warn("runtime API update failed (%s); reloading instead",
                 answer ? answer : "no answer");
        metric_inc(lb->m_runtime_failed, 1);
        lb->old_worker = 0;
        submit_reload(lb, text);
    } else {
        reload_adopt(lb->reload, text);
        metric_inc(lb->m_runtime, 1);
        for (size_t k = 0; k < ra->diff.nadd; k++) {
            ssize_t i = drain_find(lb, ra->diff.add[k].backend, ra->diff.add[k].name);
            if (i >= 0)
                drain_drop(lb, (size_t)i);
        }
        for (size_t k = 0; k < ra->diff.ndel; k++) {
            lb->drains = xrealloc(lb->drains, (lb->ndrains + 1) * sizeof(*lb->drains));
            lb->drains[lb->ndrains++] =
                (struct drain){ .name = xasprintf("%s/%s", ra->diff.del[k].backend,
                                                  ra->diff.del[k].name),
                                .deadline = time_mono() + lb->drain_secs };
        }
        if (ra->diff.ndel > 0 && !evtimer_pending(lb->drain_timer, NULL))
            arm(lb->drain_timer, lb->drain_secs);
        log_debug("runtime: %zu servers added, %zu draining", ra->diff.nadd, ra->diff.ndel);
        apply_done(lb, APPLY_RUNTIME);
    }
    free(text);
    lbdiff_cleanup(&ra->diff);
    free(ra);
}

static void on_removed(const char *answer, void *arg)
{
    struct pacer_lb *lb = arg;
    const char *name = lb->removing;
    lb->removing = NULL;
    /* "Server deleted." — or already gone; otherwise (connections left,
     * socket down) it is retried at the next tick. */
    for (size_t k = 0; k < lb->ndrains; k++) {
        struct drain *dr = &lb->drains[k];
        if (dr->name != name)
            continue;
        bool ok = answer != NULL &&
                  (strstr(answer, "Server deleted") != NULL || strstr(answer, "No such") != NULL);
        if (ok || dr->tries >= LB_REMOVE_MAX_TRIES) {
            if (!ok)
                log_warn("haproxy did not delete server %s: %s", dr->name,
                         answer ? answer : "no answer");
            else
                log_debug("server %s deleted", dr->name);
            drain_drop(lb, k);
        } else {
            dr->deadline = time_mono() + LB_DRAIN_TICK_SECS;
        }
        break;
    }
    if (lb->ndrains > 0)
        arm(lb->drain_timer, 0);
}

/* Delete the servers whose drain time is over, one at a time. */
static void on_drain_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct pacer_lb *lb = arg;
    if (lb->removing != NULL || lb->applying) {
        arm(lb->drain_timer, LB_DRAIN_TICK_SECS);
        return;
    }
    double now = time_mono(), next = now + LB_DRAIN_TICK_SECS;
    for (size_t k = 0; k < lb->ndrains; k++) {
        struct drain *dr = &lb->drains[k];
        if (dr->deadline <= now) {
            const char *names[1] = { dr->name };
            char *cmds = lbdiff_remove_commands(names, 1);
            dr->tries++;
            lb->removing = dr->name;
            runtime_send(lb->rt, cmds, on_removed, lb);
            free(cmds);
            return;
        }
        if (dr->deadline < next)
            next = dr->deadline;
    }
    if (lb->ndrains > 0)
        arm(lb->drain_timer, next - now);
}

/* ----------------------------------------------------- choosing */

/* Apply text (owned): nothing, runtime commands, or a validated reload. */
static void apply_text(struct pacer_lb *lb, char *text)
{
    if (lb->applying) {
        free(lb->pending);
        lb->pending = text;
        return;
    }
    const char *old = reload_applied(lb->reload);
    struct lbdiff diff;
    lbdiff_compute(old, text, &diff);
    if (diff.kind == LBDIFF_NONE) {
        lbdiff_cleanup(&diff);
        free(text);
        return;
    }
    lb->applying = true;
    lb->started = time_mono();
    lb->inflight = text;
    if (diff.kind == LBDIFF_RUNTIME && reload_running(lb->reload)) {
        const char **held = xcalloc(lb->ndrains + 1, sizeof(char *));
        for (size_t k = 0; k < lb->ndrains; k++)
            held[k] = lb->drains[k].name;
        char *cmds = lbdiff_commands(&diff, held, lb->ndrains);
        struct rt_apply *ra = xcalloc(1, sizeof(*ra));
        ra->lb = lb;
        for (size_t k = 0; k < diff.nadd; k++)
            ra->nfresh += drain_find(lb, diff.add[k].backend, diff.add[k].name) < 0;
        ra->diff = diff;
        free(held);
        runtime_send(lb->rt, cmds, on_runtime_applied, ra);
        free(cmds);
        return;
    }
    lbdiff_cleanup(&diff);
    if (reload_running(lb->reload)) {
        /* Keep the servers' runtime state across the reload. */
        runtime_send(lb->rt, "show info\nshow servers state", on_state_dumped, lb);
        return;
    }
    lb->inflight = NULL;
    lb->old_worker = 0;
    submit_reload(lb, text);
    free(text);
}

/* Can HAProxy bind addr:port (as config.c writes it)? A test bind of our
 * own, never listening (one non-blocking syscall): "haproxy -c" does not
 * bind, so an address of another host or a port another program holds
 * would only fail in the new worker, after the file was written. NULL,
 * or why not (caller frees). Names are left to HAProxy. */
static char *bind_probe(const char *addr, int port)
{
    struct sockaddr_storage ss;
    socklen_t len;
    memset(&ss, 0, sizeof(ss));
    char host[256];
    snprintf(host, sizeof(host), "%s", addr);
    if (host[0] == '[') {
        host[strcspn(host, "]")] = '\0';
        memmove(host, host + 1, strlen(host));
    }
    struct sockaddr_in *in4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&ss;
    if (strcmp(host, "*") == 0 || host[0] == '\0') {
        in4->sin_family = AF_INET;
        in4->sin_addr.s_addr = htonl(INADDR_ANY);
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET, host, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        len = sizeof(*in4);
    } else if (inet_pton(AF_INET6, host, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        len = sizeof(*in6);
    } else {
        return NULL;
    }
    in4->sin_port = htons((uint16_t)port); /* same offset in both */
    int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return NULL;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    char *why = NULL;
    if (bind(fd, (struct sockaddr *)&ss, len) != 0)
        why = xasprintf("cannot bind %s:%d: %s", addr, port, strerror(errno));
    close(fd);
    return why;
}

/* Probe the ports text binds that HAProxy does not bind yet; hold out the
 * apps whose bind would fail. true when one was. The shared HTTP frontend
 * is nobody's app: why it cannot bind goes to *http_error (caller frees). */
static bool exclude_unbindable(struct pacer_lb *lb, const char *text, char **http_error)
{
    json_t *binds = json_array();
    bool held = false;
    lbdiff_new_binds(reload_applied(lb->reload), text, binds);
    size_t k;
    json_t *b;
    json_array_foreach(binds, k, b)
    {
        const char *fe = json_string_value(json_object_get(b, "frontend"));
        char *why = bind_probe(json_string_value(json_object_get(b, "addr")),
                               (int)json_integer_value(json_object_get(b, "port")));
        if (why == NULL)
            continue;
        if (lbcfg_find_backend(lb->doc, fe) != NULL) {
            exclude_backend(lb, fe, why);
            held = true;
            free(why);
        } else {
            free(*http_error);
            *http_error = why;
        }
    }
    json_decref(binds);
    return held;
}

/* Is app port e (an entry of lbcfg_opts.excluded_out) in list, same reason? */
static bool excluded_in(const json_t *list, const json_t *e)
{
    size_t k;
    const json_t *x;
    json_array_foreach(list, k, x)
    {
        if (json_equal(x, e))
            return true;
    }
    return false;
}

/* lb->exclude keeps only what the last render still held out: an app
 * that changed, or is gone, is forgotten. New exclusions are logged. */
static void exclusions_update(struct pacer_lb *lb, json_t *excluded)
{
    size_t k;
    json_t *e;
    json_array_foreach(excluded, k, e)
    {
        if (!excluded_in(lb->excluded, e))
            log_warn("app %s port index %d left out: %s",
                     json_string_value(json_object_get(e, "app")),
                     (int)json_integer_value(json_object_get(e, "port_index")),
                     json_string_value(json_object_get(e, "reason")));
    }
    const char *name;
    json_t *v, *tmp;
    json_object_foreach_safe(lb->exclude, tmp, name, v)
    {
        bool used = false;
        json_array_foreach(excluded, k, e)
        {
            const char *be = json_string_value(json_object_get(e, "backend"));
            used |= be != NULL && strcmp(be, name) == 0;
        }
        if (!used) {
            log_info("%s is tried again", name);
            json_object_del(lb->exclude, name);
        }
    }
    json_decref(lb->excluded);
    lb->excluded = excluded;
}

/* Render the newest apps and apply the text. */
static void render(struct pacer_lb *lb)
{
    struct lbcfg_stats st;
    char *err = NULL, *text = NULL;
    json_t *excluded = NULL;
    if (lb->doc == NULL)
        return;
    /* The later passes only leave out what the probe refused: apps, then
     * (if it cannot bind either) the shared HTTP frontend, whose apps keep
     * their own service ports. */
    char *http_error = NULL;
    lb->opts.http_port = lb->http_port;
    for (int pass = 0; pass < 3; pass++) {
        free(text);
        json_decref(excluded);
        excluded = json_array();
        lb->opts.excluded_out = excluded;
        double t0 = time_mono();
        text = lbcfg_render(lb->doc, &lb->opts, &st, &err);
        metric_observe(lb->m_render, time_mono() - t0);
        lb->opts.excluded_out = NULL;
        if (text == NULL) {
            log_error("cannot build the HAProxy configuration: %s", err);
            free(err);
            json_decref(excluded);
            free(http_error);
            lb->opts.http_port = lb->http_port;
            return;
        }
        bool held = exclude_unbindable(lb, text, &http_error);
        if (http_error != NULL && lb->opts.http_port != 0) {
            lb->opts.http_port = 0;
            held = true;
        }
        if (!held)
            break;
    }
    lb->opts.http_port = lb->http_port;
    if (http_error != NULL && (lb->http_error == NULL || strcmp(http_error, lb->http_error) != 0))
        log_error("the shared HTTP frontend%s is left out (its VHOST and PATH routes with it): %s",
                  lb->https_crt != NULL ? " (and its HTTPS twin)" : "", http_error);
    else if (http_error == NULL && lb->http_error != NULL)
        log_info("the shared HTTP frontend binds again");
    free(lb->http_error);
    lb->http_error = http_error;
    exclusions_update(lb, excluded);
    metric_set(lb->m_excluded, st.excluded);
    log_debug("apps: %u frontends, %u servers, %u ports without a service port, %u left out",
              st.frontends, st.servers, st.skipped, st.excluded);
    metric_set(lb->m_frontends, st.frontends);
    metric_set(lb->m_servers, st.servers);
    apply_text(lb, text);
}

static void on_apps(const json_t *doc, void *arg)
{
    struct pacer_lb *lb = arg;
    json_decref(lb->doc);
    lb->doc = json_incref((json_t *)doc);
    render(lb);
}

/* GET /status: the backends of the applied configuration with their
 * servers (ready, or draining out), and the last apply. */
static void handle_status(struct rest_req *rq)
{
    struct pacer_lb *lb = rq->arg;
    json_t *backends = json_object();
    const char *p = reload_applied(lb->reload);
    json_t *cur = NULL;
    while (p != NULL && *p) {
        char a[256], b[256];
        if (sscanf(p, "backend %255s", a) == 1) {
            cur = json_array();
            json_object_set_new(backends, a, cur);
        } else if (*p != ' ') {
            cur = NULL;
        } else if (cur != NULL && sscanf(p, "    server %255s %255s", a, b) == 2) {
            json_array_append_new(
                cur, json_pack("{s:s,s:s,s:s}", "name", a, "address", b, "state", "ready"));
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    for (size_t k = 0; k < lb->ndrains; k++) {
        char *be = xstrdup(lb->drains[k].name);
        char *slash = strchr(be, '/');
        *slash = '\0';
        json_t *arr = json_object_get(backends, be);
        if (arr == NULL) {
            arr = json_array();
            json_object_set_new(backends, be, arr);
        }
        json_array_append_new(arr, json_pack("{s:s,s:s}", "name", slash + 1, "state", "drain"));
        free(be);
    }
    json_t *body =
        json_pack("{s:o,s:b,s:{s:s,s:f,s:f},s:O,s:{s:i,s:s?}}", "backends", backends, "applying",
                  lb->applying, "last_apply", "kind", apply_kind_names[lb->last_kind],
                  "duration_ms", lb->last_secs * 1000, "at", lb->last_at, "excluded_apps",
                  lb->excluded, "http_frontend", "port", lb->http_port, "error", lb->http_error);
    http_reply_json(rq->req, 200, body);
}

void pacer_lb_on_sigchld(struct pacer_lb *lb)
{
    reload_on_sigchld(lb->reload);
}

static void stopped(void *arg)
{
    struct pacer_lb *lb = arg;
    log_info("no haproxy of ours left; exiting");
    daemon_exit(lb->d, 0);
}

void pacer_lb_stop(struct pacer_lb *lb)
{
    source_free(lb->source);
    lb->source = NULL;
    reload_stop(lb->reload, stopped, lb);
}

struct pacer_lb *pacer_lb_new(struct daemon *d, const struct pacer_lb_flags *f, char **err)
{
    struct pacer_lb *lb = xcalloc(1, sizeof(*lb));
    lb->d = d;
    lb->opts.group = f->group;
    lb->opts.bind = f->bind;
    lb->opts.maxconn = f->maxconn;
    if (f->templates_dir != NULL) {
        lb->templates = lbtmpl_load(f->templates_dir, err);
        if (lb->templates == NULL)
            goto fail;
        log_info("templates: %zu of %s replace the defaults", lbtmpl_count(lb->templates),
                 f->templates_dir);
        lb->opts.templates = lb->templates;
    }
    if (f->ssl_certs != NULL && *f->ssl_certs) {
        char *bad = NULL;
        lb->https_crt = lbcfg_ssl_crt(f->ssl_certs, &bad);
        if (lb->https_crt == NULL) {
            *err = xasprintf("--ssl_certs: '%s' is not an absolute file path", bad);
            free(bad);
            goto fail;
        }
        if (f->https_port <= 0 || f->https_port > 65535) {
            *err = xasprintf("--https_port: %d is not a port", f->https_port);
            goto fail;
        }
        if (f->http_port <= 0) {
            *err = xstrdup("--ssl_certs: the HTTPS frontend is the HTTP one's twin; it needs "
                           "--http_port");
            goto fail;
        }
        if (f->https_port == f->http_port || f->https_port == f->stats_port) {
            *err = xasprintf("--https_port: %d is already --%s", f->https_port,
                             f->https_port == f->http_port ? "http_port" : "stats_port");
            goto fail;
        }
        lb->opts.https_crt = lb->https_crt;
        lb->opts.https_port = f->https_port;
    }
    if (f->haproxy_config != NULL) {
        lb->config_path = xstrdup(f->haproxy_config);
    } else {
        lb->config_path = xasprintf("%s/haproxy.cfg", f->work_dir);
        if (mkdir_p(f->work_dir) != 0) {
            *err = xasprintf("--work_dir: cannot create %s: %s", f->work_dir, strerror(errno));
            goto fail;
        }
    }
    lb->admin_socket = f->haproxy_socket != NULL ? xstrdup(f->haproxy_socket)
                                                 : xasprintf("%s.sock", lb->config_path);
    lb->master_socket = f->haproxy_master_socket != NULL ? xstrdup(f->haproxy_master_socket)
                                                         : xasprintf("%s.master", lb->admin_socket);
    lb->opts.stats_socket = lb->admin_socket;
    lb->state_path = xasprintf("%s.state", lb->config_path);
    lb->opts.state_file = lb->state_path;
    lb->drain_secs = f->drain_secs;
    lb->opts.http_port = f->http_port;
    lb->opts.stats_port = f->stats_port;
    lb->http_port = f->http_port;
    lb->exclude = json_object();
    lb->opts.exclude = lb->exclude;
    lb->excluded = json_array();
    if (access(lb->state_path, F_OK) != 0) { /* haproxy -c warns about a missing one */
        char *werr = NULL;
        if (atomic_write(lb->state_path, "1\n", 2, &werr) != 0) {
            log_warn("cannot write %s: %s", lb->state_path, werr);
            free(werr);
        }
    }
    lb->m_excluded = metrics_gauge("agora_pacer_lb_excluded_apps",
                                   "app ports left out for bad labels or refused by haproxy -c");
    lb->m_frontends = metrics_gauge("agora_pacer_lb_frontends", "frontends in the configuration");
    lb->m_servers = metrics_gauge("agora_pacer_lb_servers", "backend servers in the configuration");
    lb->m_reloads = metrics_counter("agora_pacer_lb_reloads_total",
                                    "validated configurations applied by a reload (SIGUSR2)");
    lb->m_runtime = metrics_counter("agora_pacer_lb_runtime_updates_total",
                                    "changes applied through HAProxy's runtime API");
    lb->m_runtime_failed =
        metrics_counter("agora_pacer_lb_runtime_failures_total",
                        "runtime API updates HAProxy refused (a reload applied them)");
    lb->m_apply = metrics_summary("agora_pacer_lb_apply_seconds",
                                  "from a new configuration to HAProxy running it");
    lb->m_render = metrics_summary("agora_pacer_lb_render_seconds",
                                   "time to build the whole HAProxy configuration from the apps");
    lb->http = http_server_new(daemon_base(d), f->ip, f->port, LB_MAX_BODY, err);
    if (lb->http == NULL)
        goto fail;
    lb->rest = rest_server_attach(lb->http, lb_routes, sizeof(lb_routes) / sizeof(lb_routes[0]), lb,
                                  rest_format_json);
    struct reload_opts ro = { f->haproxy_bin, lb->config_path, lb->master_socket,
                              f->haproxy_master_socket != NULL };
    lb->reload = reload_new(daemon_base(d), &ro);
    reload_set_done(lb->reload, on_reloaded, lb);
    lb->rt = runtime_new(daemon_base(d), lb->admin_socket);
    lb->settle = evtimer_new(daemon_base(d), on_settle, lb);
    lb->drain_timer = evtimer_new(daemon_base(d), on_drain_tick, lb);
    lb->source = source_new(daemon_base(d), f->marathon, f->resync_secs, f->marathon_credentials,
                            on_apps, lb, err);
    if (lb->source == NULL)
        goto fail;
    daemon_set_port(d, http_server_port(lb->http));
    log_info("pacer-lb: following %s, group %s, frontends on %s, config %s", f->marathon, f->group,
             f->bind, lb->config_path);
    return lb;
fail:
    pacer_lb_free(lb);
    return NULL;
}

void pacer_lb_free(struct pacer_lb *lb)
{
    if (lb == NULL)
        return;
    source_free(lb->source);
    reload_free(lb->reload);
    runtime_free(lb->rt);
    if (lb->settle != NULL)
        event_free(lb->settle);
    if (lb->drain_timer != NULL)
        event_free(lb->drain_timer);
    drains_clear(lb);
    free(lb->drains);
    free(lb->pending);
    free(lb->inflight);
    free(lb->state_path);
    free(lb->https_crt);
    free(lb->http_error);
    json_decref(lb->doc);
    json_decref(lb->exclude);
    json_decref(lb->excluded);
    if (lb->rest != NULL)
        rest_server_free(lb->rest);
    if (lb->http != NULL)
        http_server_free(lb->http);
    free(lb->config_path);
    free(lb->admin_socket);
    free(lb->master_socket);
    lbtmpl_free(lb->templates);
    free(lb);
}
