/*
 * cli.h: the parts of `agora`, the operators' command line, and what they
 * share.
 *
 *   main.c      start-up only: flags, the command table, dispatch
 *   client.c    blocking calls over common/http (the loop runs until the
 *               answer is in), the master's address (HOST:PORT list or
 *               zk://, through common/master_follow), API error messages
 *   table.c     tables sized to the terminal
 *   cluster.c   cluster, slaves, frameworks, tasks (from /master/state)
 *   logs.c      logs TASK [-f]: a sandbox file through the slave's /files
 *   apps.c      app list|show|deploy|scale|restart|rollback|destroy (Pacer)
 *   wait.c      --wait: follows a deployment to its end (/v2/events,
 *               /v2/deployments/{id}, /v2/queue) with a live progress line
 *   progress.c  the pure part of --wait: progress text, why an app is not
 *               placed, whether it is done (unit-tested)
 *
 * A CLI blocks by nature, so unlike the daemons it runs the event loop
 * only while it waits for something (an answer, a pause between polls).
 */
#ifndef AGORA_CLI_H
#define AGORA_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <jansson.h>

#include "http.h"

struct event_base;
struct master_follow;

/* Exit codes. */
#define CLI_OK 0
#define CLI_FAIL 1  /* the API refused, something unreachable, a deployment failed */
#define CLI_USAGE 2 /* bad command line */

struct cli {
    struct event_base *base;
    /* flags (main.c) */
    char *master;        /* HOST:PORT[,HOST:PORT...] or zk://hosts/path */
    char *pacer;         /* http://host:port of Pacer */
    bool json;           /* raw JSON on stdout */
    bool wait;           /* follow a change's deployment to its end */
    double wait_timeout; /* seconds --wait gives a deployment */
    double timeout;      /* seconds for one HTTP request */
    char *framework;     /* tasks --framework: id or name */
    char *state;         /* tasks --state */
    bool all;            /* tasks: completed ones too */
    bool use_stderr;     /* logs: stderr instead of stdout */
    bool follow;         /* logs -f */
    bool force;          /* app changes: ?force=true */
    char *principal;     /* --principal, with --secret_file: HTTP Basic */
    char *secret_file;
    char *ssl_ca;      /* --ssl_ca: TLS, servers verified with this CA */
    bool ssl;          /* --ssl: TLS with the system's CAs */
    char *auth_header; /* "Basic ..." (cli_security_setup), NULL: none */
    /* positional arguments after the command */
    char **args;
    int nargs;
    /* output */
    int width;       /* columns of the terminal (or the default) */
    bool tty;        /* stdout is a terminal */
    bool stderr_tty; /* stderr is a terminal (progress line redrawn in place) */
    /* the master, resolved once (client.c) */
    struct master_follow *follow_master;
    char *master_host;
    int master_port;
};

/* ------------------------------------------------------------ client.c */

struct cli_resp {
    int status;          /* 0: no answer, error says why */
    char *error;         /* "connection refused", "timeout", ... */
    char *body;          /* NUL-terminated, never NULL once filled */
    size_t len;          /* bytes of body */
    char *deployment_id; /* Marathon-Deployment-Id header, or NULL */
    char *location;      /* Location header, or NULL */
    char *content_type;  /* or NULL */
};

void cli_resp_cleanup(struct cli_resp *r);

/* "agora: <message>" on stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* One request, blocking until the answer (or c->timeout). 0 when an
 * answer came (any status), -1 when none did (r->error says why). body
 * may be NULL; it is sent as application/json. */
/* Credentials and TLS from the flags: 0, or -1 after printing why. */
int cli_security_setup(struct cli *c);

/* Headers every request carries: Accept, and Authorization when given. */
size_t cli_headers(const struct cli *c, struct http_header *hdrs, const char *accept);

int cli_http(struct cli *c, const char *host, int port, const char *method, const char *path,
             const char *body, size_t len, struct cli_resp *r);

/* Run the loop for secs (events that arrive meanwhile are handled). */
void cli_pause(struct cli *c, double secs);

/* The message a 4xx/5xx answer carries, with its field details when it
 * has them (Marathon's {"message", "details": [{"path", "errors"}]},
 * Mesos' {"message"}, or plain text); caller frees. */
char *cli_api_error(int status, const char *body, size_t len);

/* The leading master's /master/state (c->master resolved, a standby's
 * answer followed to the leader it names). NULL after printing why. */
json_t *cli_master_state(struct cli *c);

/* GET /master/state of the master at host:port: the decoded state, or
 * NULL with *why set (caller frees). */
json_t *cli_master_state_at(struct cli *c, const char *host, int port, char **why);

/* A call to Pacer (c->pacer) with a JSON body (may be NULL). Returns the
 * decoded answer (json null for an empty body) on 2xx, with the
 * Marathon-Deployment-Id header in *deployment_id (may be NULL; caller
 * frees); NULL after printing the error (unreachable, or the API's
 * message with its fields). *status (may be NULL) gets the status. */
json_t *cli_pacer(struct cli *c, const char *method, const char *path, const json_t *body,
                  int *status, char **deployment_id);
/* The same without printing a 404 (NULL with *status 404). */
json_t *cli_pacer_quiet404(struct cli *c, const char *method, const char *path, int *status);
/* Pacer's host and port, parsed from c->pacer. -1 after printing why. */
int cli_pacer_addr(struct cli *c, char **host, int *port);

/* Print j as JSON on stdout (indented, newline-ended). */
void cli_print_json(const json_t *j);

/* ------------------------------------------------------------- table.c */

struct table;
/* ncols headers, each a string; flexible: the columns narrowed first
 * (ids, names, commands), TABLE_FLEX(i) | ... */
#define TABLE_FLEX(i) (1u << (i))
struct table *table_new(size_t ncols, const char *const *heads, unsigned flexible);
void table_free(struct table *t);
/* One row of ncols cells (NULL prints as "-"); the strings are copied. */
void table_add(struct table *t, const char *const *cells);
/* Columns fitted into width: when the natural widths do not fit, the
 * flexible columns, then the others, are narrowed (not below their
 * heading or 4 columns), cells losing their middle to a "~". Two spaces between columns; lines end with no
 * trailing blank. */
void table_print(const struct table *t, int width, FILE *out);
/* Print t on stdout at c's width, and free it. */
void table_show(struct table *t, const struct cli *c);
/* Width of the terminal on fd (TIOCGWINSZ), else $COLUMNS, else dflt. */
int table_term_width(int fd, int dflt);
/* Display width of UTF-8 s (code points). */
size_t table_text_width(const char *s);

/* Formatting helpers for cells: buf holds the text. */
char *fmt_num(char *buf, size_t n, double v);                            /* 0.5, 12, 1.25 */
char *fmt_mb(char *buf, size_t n, double mb);                            /* 512MB, 1.5GB */
char *fmt_used(char *buf, size_t n, double used, double total, bool mb); /* 1.5/4 */

/* ----------------------------------------------------------- commands */

int cmd_cluster(struct cli *c);
int cmd_slaves(struct cli *c);
int cmd_frameworks(struct cli *c);
int cmd_tasks(struct cli *c);
int cmd_logs(struct cli *c);
int cmd_app(struct cli *c);

/* /v2/apps/<id><suffix> for an app id with or without its leading "/";
 * NULL when id holds characters app ids cannot (Marathon: lower-case
 * letters, digits, '-', '.', '/'; upper case is let through for Pacer to
 * refuse with its own message). Caller frees. */
char *cli_app_path(const char *id, const char *suffix);

/* -------------------------------------------------------------- wait.c */

struct cli_events;
/* Subscribe to Pacer's deployment_success / deployment_failed events
 * before a change is made, so that its end cannot be missed. NULL (after
 * a warning) when the stream cannot be opened: --wait then polls only. */
struct cli_events *cli_events_open(struct cli *c);
void cli_events_free(struct cli_events *ev);
/* Follow deployment_id (touching app_id) until it ends or c->wait_timeout
 * passes, with a progress line on stderr. stop: the app's removal is the
 * goal (destroy). CLI_OK on success, CLI_FAIL after printing the reason. */
int cli_wait_deployment(struct cli *c, struct cli_events *ev, const char *app_id,
                        const char *deployment_id, bool stop, double started);

/* ---------------------------------------------------------- progress.c */

/* The tasks that count as "up" for app (healthy when it has health
 * checks, running otherwise) and its target instances. */
void progress_counts(const json_t *app, long *up, long *target, bool *health);
/* Why queue_item's instances are not placed, from its reject summaries:
 * "InsufficientCpus (8 of 8 offers)", reasons joined with ", ", then the
 * constraints that declined offers; NULL when no offer was refused (or
 * none seen yet). Caller frees. */
char *progress_not_placed(const json_t *queue_item);
/* The queue item of app_id in a /v2/queue answer, or NULL. Borrowed. */
const json_t *progress_queue_item(const json_t *queue, const char *app_id);
/* One line: "/web: 1/2 healthy, step 1/1 ScaleApplication, 3s" and, when
 * known, " - waiting: <why>" (deployment's waitingFor) or
 * " - not placed: <reasons>". app, deployment, queue_item may be NULL.
 * Caller frees. */
char *progress_line(const char *app_id, const json_t *app, const json_t *deployment,
                    const json_t *queue_item, double elapsed);

#endif
