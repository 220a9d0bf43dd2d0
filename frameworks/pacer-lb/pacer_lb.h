/*
 * pacer_lb: agora-pacer-lb's internal interfaces.
 *
 * source.c  follows Marathon's API: GET /v2/apps?embed=apps.tasks at start
 *           and on resync (parsed off the loop), then /v2/events: task
 *           events patch the kept document (patch.c), deployment events
 *           re-read only their apps (GET /v2/apps/<id>).
 * model.c   the lean copy of that JSON pacer-lb keeps (fields it reads).
 * config.c  the pure part: apps JSON -> HAProxy configuration text.
 * reload.c  writes, validates (haproxy -c) and applies that text, owning
 *           the HAProxy master process (-W) it starts and reloads.
 * diff.c    the pure part: old text -> new text as a reload or as runtime
 *           API commands (servers added, drained, deleted).
 * runtime.c HAProxy's admin socket (runtime API) client, non-blocking.
 * lb.c      wires them together with the /health and /metrics server.
 * main.c    the flag table and daemon start-up.
 */
#ifndef AGORA_PACER_LB_H
#define AGORA_PACER_LB_H

#include <stdbool.h>
#include <sys/types.h>

#include <jansson.h>

#define PACER_LB_VERSION "0.1.0"

struct daemon;
struct event_base;

struct pacer_lb_flags {
    char *marathon;              /* http://host:port of Pacer / Marathon */
    char *haproxy_config;        /* the file written for HAProxy */
    char *haproxy_socket;        /* HAProxy's admin socket; "<it>.master" is -S */
    char *haproxy_bin;           /* /usr/sbin/haproxy */
    char *haproxy_master_socket; /* attach to this running HAProxy's master CLI */
    char *templates_dir;         /* HAPROXY_<name> files replacing the defaults */
    char *group;                 /* HAPROXY_GROUP to serve; "*" for all */
    char *bind;                  /* address frontends bind */
    char *ip;                    /* address of pacer-lb's own HTTP server */
    char *work_dir;              /* default place of the config file */
    int maxconn;                 /* global maxconn */
    double resync_secs;          /* full GET /v2/apps at least this often */
    char *marathon_credentials;  /* user:password sent to --marathon */
    double drain_secs;           /* a leaving server drains this long before del server */
    int port;                    /* pacer-lb's own HTTP port (0: any) */
    int http_port;               /* shared HTTP frontend of HAPROXY_n_VHOST apps (0: none) */
    char *ssl_certs;             /* its HTTPS twin's certificates (comma list; NULL: none) */
    int https_port;              /* ... and port */
    int stats_port;              /* HAProxy's stats page (0: none) */
};

/* ------------------------------------------------------------- templates.c */

/* The configuration's replaceable pieces, marathon-lb's names
 * (HAPROXY_<name>); docs/pacer-lb.md lists their variables. */
enum lbtmpl_id {
    LBTMPL_HEAD,                   /* global and defaults */
    LBTMPL_HTTP_FRONTEND_HEAD,     /* the shared frontend of VHOST/PATH */
    LBTMPL_FRONTEND_HEAD,          /* per app port: its frontend */
    LBTMPL_FRONTEND_BACKEND_GLUE,  /* the frontend's line naming its backend */
    LBTMPL_BACKEND_HEAD,           /* per app port: its backend */
    LBTMPL_BACKEND_STICKY_OPTIONS, /* HAPROXY_<i>_STICKY's cookie line */
    LBTMPL_COUNT
};
struct lbtmpl_var {
    const char *name, *value;
};
struct lbtmpl;

/* DIR/HAPROXY_<name> for each template present there, each checked;
 * NULL and *err (naming the file) when one cannot be read or used. */
struct lbtmpl *lbtmpl_load(const char *dir, char **err);
void lbtmpl_free(struct lbtmpl *t);
size_t lbtmpl_count(const struct lbtmpl *t); /* how many the dir replaced */
const char *lbtmpl_name(enum lbtmpl_id id);  /* "BACKEND_HEAD" */
bool lbtmpl_per_app(enum lbtmpl_id id);      /* may a label replace it? */
/* The text in use: the dir's, else the default (t may be NULL). */
const char *lbtmpl_get(const struct lbtmpl *t, enum lbtmpl_id id);
/* Write template t with vars to f, normalised (sections at column 0,
 * other lines indented four spaces). own_section NULL: the operator's
 * text, anything goes; "": an app's text that may open no section; else
 * an app's text whose first line must be exactly own_section ("backend
 * x_80") and that opens no other. -1 and *err, nothing written, on an
 * unknown variable, a stray brace or a section refused. */
int lbtmpl_expand(FILE *f, const char *t, const struct lbtmpl_var *vars, size_t nvars,
                  const char *own_section, char **err);
/* Expand text as template id with sample values: 0, or -1 and *err. */
int lbtmpl_check(enum lbtmpl_id id, const char *text, char **err);

/* ---------------------------------------------------------------- config.c */

struct lbcfg_opts {
    const char *group; /* served HAPROXY_GROUP; "*" serves every group */
    const char *bind;  /* frontends' bind address */
    int maxconn;
    /* HAProxy's admin socket (runtime API), in "global"; NULL: none. It
     * is also the listener that keeps an HAProxy without apps running. */
    const char *stats_socket;
    /* server-state-file dumped before each reload and loaded by the new
     * worker ("load-server-state-from-file global"); NULL: none. */
    const char *state_file;
    /* The shared HTTP frontend of HAPROXY_n_VHOST apps (0: none). */
    int http_port;
    /* Its HTTPS twin (marathon-lb's marathon_https_in) on https_port with
     * https_crt (" ssl crt <file>...", lbcfg_ssl_crt); NULL: none. */
    const char *https_crt;
    int https_port;
    /* HAProxy's stats page on bind:stats_port, marathon-lb's "listen
     * stats" (/haproxy?stats, /_haproxy_health_check); 0: none. */
    int stats_port;
    /* Backends to leave out, by name: {"reason": why, "version": the
     * lbcfg_app_version HAProxy refused (absent: any)}; the app is tried
     * again once its configuration changes. NULL: none. */
    const json_t *exclude;
    /* When not NULL, every app port left out is appended to this array as
     * {"app", "port_index", "backend", "reason"}. */
    json_t *excluded_out;
    /* --templates_dir's templates; NULL: the defaults. */
    const struct lbtmpl *templates;
};

/* What one render produced, for logs and metrics. */
struct lbcfg_stats {
    unsigned frontends; /* one per served app port */
    unsigned servers;   /* backend servers over all frontends */
    unsigned skipped;   /* app ports without a service port */
    unsigned excluded;  /* app ports left out: bad labels, port taken, o->exclude */
};

/* The whole HAProxy configuration for doc, the body of
 * GET /v2/apps?embed=apps.tasks ({"apps": [...]}). Deterministic: the same
 * apps and tasks in any order give the same text. Returns a string the
 * caller frees, or NULL with *err (caller frees) when doc has no "apps"
 * array. stats may be NULL. */
char *lbcfg_render(const json_t *doc, const struct lbcfg_opts *o, struct lbcfg_stats *stats,
                   char **err);

/* " ssl crt A crt B" for the comma list "A, B" of absolute file paths
 * (caller frees); NULL with *bad (caller frees) the entry that is not. */
char *lbcfg_ssl_crt(const char *list, char **bad);
/* The backend name of app's port i ("<app id, / as _>_<service port>",
 * caller frees), NULL without an id or a service port. */
char *lbcfg_backend_name(const json_t *app, size_t i);
/* The app of doc (as lbcfg_render takes it) one of whose ports is backend
 * (borrowed from doc), or NULL. */
const json_t *lbcfg_find_backend(const json_t *doc, const char *backend);
/* What changes when the app's configuration does, not when it scales:
 * versionInfo.lastConfigChangeAt, else version (borrowed; NULL: none). */
const char *lbcfg_app_version(const json_t *app);

/* ---------------------------------------------------------------- diff.c */

enum lbdiff_kind {
    LBDIFF_NONE,    /* same routing */
    LBDIFF_RUNTIME, /* only servers of existing backends changed */
    LBDIFF_RELOAD,  /* anything else: validate and reload */
};

struct lbdiff_server {
    char *backend, *name, *addr; /* addr is "ip:port" as in the config */
};

struct lbdiff {
    enum lbdiff_kind kind;
    struct lbdiff_server *add, *del; /* sorted by backend, then name */
    size_t nadd, ndel;
};

/* Compare two texts of lbcfg_render (old may be NULL: reload). Fills *d
 * (release with lbdiff_cleanup); add/del are set for LBDIFF_RUNTIME. */
int lbdiff_compute(const char *old_text, const char *new_text, struct lbdiff *d);
void lbdiff_cleanup(struct lbdiff *d);
/* Runtime API commands, one a line (caller frees), applying d: "add
 * server" + "state ready" for new servers ("state ready" alone for those
 * of draining[], "backend/server" names HAProxy still holds), and "state
 * drain" for leaving ones. */
char *lbdiff_commands(const struct lbdiff *d, const char *const *draining, size_t ndraining);
/* The commands that delete drained servers ("backend/server" names):
 * maint, shutdown sessions, del server. Caller frees. */
char *lbdiff_remove_commands(const char *const *names, size_t n);

/* The backends haproxy -c blamed: for each "<path>:<line>" of log, the
 * backend of that line of text (a frontend or backend section of that
 * name, or the backend of a use_backend line); when no line names one,
 * the app sections quoted in its ALERT lines ("Proxy 'name': ..."). Adds
 * name -> HAProxy's message to out (an object). Returns how many were
 * added. */
size_t lbdiff_blame(const char *text, const char *log, const char *path, json_t *out);
/* The frontends of new_text that bind a port old_text (NULL: none) binds
 * nowhere: appends {"frontend", "addr", "port"} to out (an array), addr
 * as written ("*", an IPv4 address, "[IPv6]" or a name). Returns how
 * many. */
size_t lbdiff_new_binds(const char *old_text, const char *new_text, json_t *out);

/* ---------------------------------------------------------------- runtime.c */

struct runtime;
/* answer: what HAProxy wrote back (borrowed), NULL when the socket failed. */
typedef void (*runtime_done_fn)(const char *answer, void *arg);
struct runtime *runtime_new(struct event_base *base, const char *socket_path);
/* Queue a batch of commands (one a line, copied); fn runs once, later,
 * from the loop. Batches run in order. */
void runtime_send(struct runtime *rt, const char *commands, runtime_done_fn fn, void *arg);
bool runtime_busy(const struct runtime *rt);
void runtime_free(struct runtime *rt);

/* ---------------------------------------------------------------- source.c */

struct source;
/* doc is borrowed for the call. */
typedef void (*source_apps_fn)(const json_t *doc, void *arg);
struct source *source_new(struct event_base *base, const char *urls, double resync_secs,
                          const char *credentials, source_apps_fn fn, void *arg, char **err);
void source_free(struct source *s);

/* ---------------------------------------------------------------- model.c */

/* The lean copies pacer-lb keeps of Marathon's JSON (model.c lists the
 * fields): of a whole GET /v2/apps answer (NULL when it has no "apps"
 * array), of one app (json_null() when app is not an object), of one
 * task. A copy: the input may be freed after; the caller decrefs. */
json_t *lbmodel_doc(const json_t *doc);
json_t *lbmodel_app(const json_t *app);
json_t *lbmodel_task(const json_t *task);

/* ---------------------------------------------------------------- patch.c */

/* Is type an event lbpatch_apply may take (task-level)? */
bool lbpatch_handles(const char *type);
/* Apply the task event ev (the data of an event of that type) to doc,
 * a GET /v2/apps?embed=apps.tasks answer, in place, as /v2/apps would
 * show it after the event. Idempotent. Returns 1 when doc changed, 0
 * when it did not need to, -1 when it cannot be sure (an unknown app,
 * event type or state, a field missing or malformed): doc is left as it
 * was and only a full refresh is right. */
int lbpatch_apply(json_t *doc, const char *type, const json_t *ev);

/* ---------------------------------------------------------------- reload.c */

struct reload;
struct reload_opts {
    const char *haproxy_bin;
    const char *config_path;
    const char *socket_path; /* NULL or "": no master socket */
    bool attach;             /* HAProxy runs already: reload through socket_path */
};
struct reload *reload_new(struct event_base *base, const struct reload_opts *o);
/* Apply text (copied) when it differs from what is applied or queued:
 * validate it with haproxy -c, then write it and start or reload HAProxy.
 * While one validation runs, only the newest submitted text is kept. */
void reload_submit(struct reload *r, const char *text);
/* Called after each validation ends: result -1 rejected by haproxy -c,
 * -2 valid but not written (I/O error: nothing to blame on an app), 0
 * HAProxy started, 1 HAProxy reloaded (SIGUSR2 sent). */
typedef void (*reload_done_fn)(int result, void *arg);
void reload_set_done(struct reload *r, reload_done_fn fn, void *arg);
/* The text HAProxy runs, NULL before the first. */
const char *reload_applied(const struct reload *r);
/* text was applied some other way (the runtime API): write it as the
 * configuration, so a later start or reload keeps it. 0 or -1. */
int reload_adopt(struct reload *r, const char *text);
bool reload_busy(const struct reload *r);
/* Reap children; call on every SIGCHLD. */
void reload_on_sigchld(struct reload *r);
/* Stop HAProxy (SIGTERM, then SIGKILL after a grace period) and call
 * done(arg) once no child of ours is left. */
void reload_stop(struct reload *r, void (*done)(void *arg), void *arg);
pid_t reload_haproxy_pid(const struct reload *r);
/* The last text haproxy -c rejected (NULL: none) and, in *log, its
 * output, which names lines of reload_candidate_path(). */
const char *reload_rejected(const struct reload *r, const char **log);
const char *reload_candidate_path(const struct reload *r);
/* Is there an HAProxy to send runtime commands to (ours, or attached)? */
bool reload_running(const struct reload *r);
void reload_free(struct reload *r);

/* ---------------------------------------------------------------- lb.c */

struct pacer_lb;
struct pacer_lb *pacer_lb_new(struct daemon *d, const struct pacer_lb_flags *f, char **err);
/* Graceful stop: HAProxy is stopped, then the daemon exits. */
void pacer_lb_stop(struct pacer_lb *lb);
/* Reap children (main.c calls it on every SIGCHLD). */
void pacer_lb_on_sigchld(struct pacer_lb *lb);
void pacer_lb_free(struct pacer_lb *lb);

#endif
