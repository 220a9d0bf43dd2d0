/*
 * pacer_lb: agora-pacer-lb's internal interfaces.
 *
 * source.c  follows Marathon's API: GET /v2/apps?embed=apps.tasks at start
 *           and after every relevant /v2/events event (coalesced).
 * config.c  the pure part: apps JSON -> HAProxy configuration text.
 * reload.c  writes, validates (haproxy -c) and applies that text, owning
 *           the HAProxy master process (-W) it starts and reloads.
 * lb.c      wires the three together with the /health and /metrics server.
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
    char *marathon;       /* http://host:port of Pacer / Marathon */
    char *haproxy_config; /* the file written for HAProxy */
    char *haproxy_socket; /* HAProxy's admin socket; "<it>.master" is -S */
    char *haproxy_bin;    /* /usr/sbin/haproxy */
    char *group;          /* HAPROXY_GROUP to serve; "*" for all */
    char *bind;           /* address frontends bind */
    char *ip;             /* address of pacer-lb's own HTTP server */
    char *work_dir;       /* default place of the config file */
    int maxconn;          /* global maxconn */
    int port;             /* pacer-lb's own HTTP port (0: any) */
};

/* ---------------------------------------------------------------- config.c */

struct lbcfg_opts {
    const char *group; /* served HAPROXY_GROUP; "*" serves every group */
    const char *bind;  /* frontends' bind address */
    int maxconn;
    /* HAProxy's admin socket (runtime API), in "global"; NULL: none. It
     * is also the listener that keeps an HAProxy without apps running. */
    const char *stats_socket;
};

/* What one render produced, for logs and metrics. */
struct lbcfg_stats {
    unsigned frontends; /* one per served app port */
    unsigned servers;   /* backend servers over all frontends */
    unsigned skipped;   /* app ports left out (no service port, conflict) */
};

/* The whole HAProxy configuration for doc, the body of
 * GET /v2/apps?embed=apps.tasks ({"apps": [...]}). Deterministic: the same
 * apps and tasks in any order give the same text. Returns a string the
 * caller frees, or NULL with *err (caller frees) when doc has no "apps"
 * array. stats may be NULL. */
char *lbcfg_render(const json_t *doc, const struct lbcfg_opts *o, struct lbcfg_stats *stats,
                   char **err);

/* ---------------------------------------------------------------- source.c */

struct source;
/* doc is borrowed for the call. */
typedef void (*source_apps_fn)(const json_t *doc, void *arg);
struct source *source_new(struct event_base *base, const char *url, source_apps_fn fn, void *arg,
                          char **err);
void source_free(struct source *s);

/* ---------------------------------------------------------------- reload.c */

struct reload;
struct reload_opts {
    const char *haproxy_bin;
    const char *config_path;
    const char *socket_path; /* NULL or "": no master socket */
};
struct reload *reload_new(struct event_base *base, const struct reload_opts *o);
/* Apply text (copied) when it differs from what is applied or queued:
 * validate it with haproxy -c, then write it and start or reload HAProxy.
 * While one validation runs, only the newest submitted text is kept. */
void reload_submit(struct reload *r, const char *text);
/* Reap children; call on every SIGCHLD. */
void reload_on_sigchld(struct reload *r);
/* Stop HAProxy (SIGTERM, then SIGKILL after a grace period) and call
 * done(arg) once no child of ours is left. */
void reload_stop(struct reload *r, void (*done)(void *arg), void *arg);
pid_t reload_haproxy_pid(const struct reload *r);
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
