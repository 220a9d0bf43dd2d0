/*
 * daemon: flags, signals, cron, --port_file and the loop of every Agora
 * program (see daemon.h and docs/internals/daemon.md).
 */
#define _GNU_SOURCE
#include "daemon.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "http.h"
#include "http_tls.h"
#include "jwt.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "timeutil.h"

#define DAEMON_MAX_SIGNALS 4

struct daemon_signal {
    struct daemon *d;
    struct event *ev;
    void (*fn)(struct daemon *d, void *arg);
};

struct daemon {
    const struct daemon_def *def;
    void *arg;
    struct event_base *base;
    struct event *sigterm, *sigint, *cron;
    struct daemon_signal extra[DAEMON_MAX_SIGNALS];
    size_t nextra;
    char *port_file, *log_level; /* the module's own flags */
    double http_header_timeout;  /* http_server_set_timeouts */
    double http_idle_timeout;
    double http_body_timeout; /* http_server_set_limits */
    int max_connections, max_connections_per_peer;
    char *ssl_cert, *ssl_key, *ssl_ca; /* http_tls_configure */
    bool ssl_verify, ssl_require;
    char *jwt_secret_key; /* jwt_set_key_file */
    int port;             /* reported port, -1 before */
    bool started;         /* on_start returned: write the port file at once */
    bool stopping;        /* a stop signal arrived */
    int exit_code;
};

struct event_base *daemon_base(struct daemon *d)
{
    return d->base;
}

void daemon_exit(struct daemon *d, int code)
{
    d->exit_code = code;
    event_base_loopexit(d->base, NULL);
}

static int write_port_file(struct daemon *d, char **err)
{
    char buf[16];
    int n;

    if (d->port_file == NULL || d->port < 0)
        return 0;
    n = snprintf(buf, sizeof(buf), "%d\n", d->port);
    return atomic_write(d->port_file, buf, (size_t)n, err);
}

void daemon_set_port(struct daemon *d, int port)
{
    char *err = NULL;

    d->port = port;
    if (d->started && write_port_file(d, &err) < 0) {
        log_error("--port_file=%s: %s", d->port_file, err);
        free(err);
        daemon_exit(d, 1);
    }
}

static const char *sig_name(int sig)
{
    return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : strsignal(sig);
}

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon *d = arg;

    if (d->stopping) {
        log_warn("received %s again; exiting now", sig_name((int)sig));
        d->exit_code = 128 + (int)sig;
        event_base_loopbreak(d->base);
        return;
    }
    d->stopping = true;
    log_info("received %s; shutting down", sig_name((int)sig));
    if (d->def->on_stop != NULL)
        d->def->on_stop(d, d->arg, (int)sig);
    else
        event_base_loopexit(d->base, NULL);
}

static void on_extra_signal(evutil_socket_t sig, short what, void *arg)
{
    struct daemon_signal *ds = arg;

    ds->fn(ds->d, ds->d->arg);
}

int daemon_on_signal(struct daemon *d, int sig, void (*fn)(struct daemon *d, void *arg))
{
    struct daemon_signal *ds;

    if (d->nextra == DAEMON_MAX_SIGNALS)
        return -1;
    ds = &d->extra[d->nextra++];
    ds->d = d;
    ds->fn = fn;
    ds->ev = evsignal_new(d->base, sig, on_extra_signal, ds);
    return evsignal_add(ds->ev, NULL);
}

static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    struct daemon *d = arg;

    d->def->on_cron(d, d->arg);
}

/* def's flags plus the module's; freed by the caller. */
static struct flag *flag_table(struct daemon *d, size_t *n)
{
    const struct daemon_def *def = d->def;
    struct flag *t = xcalloc(def->nflags + 13, sizeof(*t));

    if (def->nflags > 0)
        memcpy(t, def->flags, def->nflags * sizeof(*t));
    t[def->nflags] = (struct flag){ "port_file", FLAG_STRING, &d->port_file, NULL,
                                    "write the bound port to this file (atomically) once "
                                    "ready" };
    t[def->nflags + 1] =
        (struct flag){ "log_level", FLAG_STRING, &d->log_level, "info", "debug|info|warn|error" };
    t[def->nflags + 2] =
        (struct flag){ "http_header_timeout", FLAG_DURATION, &d->http_header_timeout, "10secs",
                       "close a connection whose first request (line, headers, "
                       "body) stalls this long" };
    t[def->nflags + 3] =
        (struct flag){ "http_idle_timeout", FLAG_DURATION, &d->http_idle_timeout, "60secs",
                       "close a connection silent this long once a request was "
                       "read (keep-alive idle, slow handler); streams exempt" };
    t[def->nflags + 4] = (struct flag){ "ssl_cert", FLAG_STRING, &d->ssl_cert, NULL,
                                        "PEM certificate (chain): every HTTP server of this "
                                        "daemon speaks TLS only, and its clients TLS" };
    t[def->nflags + 5] =
        (struct flag){ "ssl_key", FLAG_STRING, &d->ssl_key, NULL, "PEM private key of --ssl_cert" };
    t[def->nflags + 6] = (struct flag){ "ssl_ca", FLAG_STRING, &d->ssl_ca, NULL,
                                        "PEM CA bundle: clients speak TLS and verify servers "
                                        "against it (default with TLS on: the system's CAs)" };
    t[def->nflags + 7] = (struct flag){ "ssl_verify", FLAG_BOOL, &d->ssl_verify, "true",
                                        "with TLS on, clients check the server's certificate "
                                        "and host name" };
    t[def->nflags + 8] = (struct flag){ "ssl_require", FLAG_BOOL, &d->ssl_require, "false",
                                        "TLS for everything: clients always (system CAs without "
                                        "--ssl_ca), and --ssl_cert/--ssl_key required" };
    t[def->nflags + 9] =
        (struct flag){ "jwt_secret_key", FLAG_STRING, &d->jwt_secret_key, NULL,
                       "file holding the HMAC-SHA256 key of bearer tokens: where this daemon "
                       "asks for credentials it also takes \"Authorization: Bearer <JWT>\" "
                       "signed with it, the principal being the token's sub" };
    t[def->nflags + 10] =
        (struct flag){ "http_body_timeout", FLAG_DURATION, &d->http_body_timeout, "60secs",
                       "close a connection whose request (line, headers, body) "
                       "has not arrived in full this long after its first byte; "
                       "streams exempt" };
    t[def->nflags + 11] = (struct flag){ "max_connections", FLAG_INT, &d->max_connections, "0",
                                         "HTTP connections open at once, all peers (0: the file "
                                         "limit less a tenth); a tenth kept for registered "
                                         "slaves and frameworks" };
    t[def->nflags + 12] =
        (struct flag){ "max_connections_per_peer", FLAG_INT, &d->max_connections_per_peer, "0",
                       "HTTP connections open at once from one address that "
                       "holds no registered stream (0: --max_connections / 4)" };
    *n = def->nflags + 13;
    return t;
}

static void daemon_libevent_log(int severity, const char *msg)
{
    enum log_level lvl = severity >= EVENT_LOG_ERR    ? LOG_LVL_ERROR
                         : severity >= EVENT_LOG_WARN ? LOG_LVL_WARN
                         : severity >= EVENT_LOG_MSG  ? LOG_LVL_INFO
                                                      : LOG_LVL_DEBUG;

    /* One site per severity: the limiter caps libevent as a whole. */
    if (lvl >= log_get_level())
        log_msg(lvl, "libevent", severity, "%s", msg);
}

static double daemon_log_suppressed(void *arg)
{
    (void)arg;
    return (double)log_suppressed_total();
}

static bool wants(int argc, char **argv, const char *a, const char *b)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], a) == 0 || (b && strcmp(argv[i], b) == 0))
            return true;
    return false;
}

static struct event_base *base_new(int event_flags)
{
    struct event_config *cfg = event_config_new();
    struct event_base *base;

    if (cfg == NULL)
        return NULL;
    if (event_flags)
        event_config_set_flag(cfg, event_flags);
    base = event_base_new_with_config(cfg);
    event_config_free(cfg);
    return base;
}

int daemon_main(const struct daemon_def *def, void *arg, int argc, char **argv)
{
    struct daemon d = { .def = def, .arg = arg, .port = -1, .exit_code = 1 };
    struct flag *table;
    size_t n, i;
    enum log_level level;
    char *err = NULL;
    int rc;

    mem_init();
    table = flag_table(&d, &n);
    if (wants(argc, argv, "--version", NULL) && !wants(argc, argv, "--help", "-h")) {
        printf("%s %s\n", def->name, def->version);
        fflush(stdout);
        free(table);
        return 0;
    }
    rc = flags_parse(table, n, argc, argv, def->usage, &err);
    if (rc != 0) {
        if (rc < 0)
            fprintf(stderr, "%s: %s\n", def->name, err);
        d.exit_code = rc < 0 ? 1 : 0;
        goto out_flags;
    }
    if (log_parse_level(d.log_level, &level) < 0) {
        fprintf(stderr, "%s: --log_level: unknown level '%s'\n", def->name, d.log_level);
        goto out_flags;
    }
    log_set_level(level);
    http_server_set_timeouts(d.http_header_timeout, d.http_idle_timeout);
    if (d.max_connections < 0 || d.max_connections_per_peer < 0) {
        fprintf(stderr, "%s: --max_connections and --max_connections_per_peer must be >= 0\n",
                def->name);
        goto out_flags;
    }
    http_server_set_limits(d.max_connections, d.max_connections_per_peer, d.http_body_timeout);
    {
        struct http_tls_config tls = { .cert = d.ssl_cert,
                                       .key = d.ssl_key,
                                       .ca = d.ssl_ca,
                                       .enable = d.ssl_require,
                                       .verify = d.ssl_verify };
        if (d.ssl_require && !d.ssl_cert) {
            fprintf(stderr, "%s: --ssl_require needs --ssl_cert and --ssl_key\n", def->name);
            goto out_flags;
        }
        if (http_tls_configure(&tls, &err) != 0) {
            fprintf(stderr, "%s: %s\n", def->name, err);
            goto out_flags;
        }
    }
    if (d.jwt_secret_key && jwt_set_key_file(d.jwt_secret_key, &err) != 0) {
        fprintf(stderr, "%s: %s\n", def->name, err);
        goto out_flags;
    }
    /* libevent's own warnings go through our (rate-limited) log. */
    event_set_log_callback(daemon_libevent_log);
    metrics_gauge_fn("agora_log_suppressed_lines", "log lines dropped by the per-site rate limit",
                     daemon_log_suppressed, NULL);
    signal(SIGPIPE, SIG_IGN);

    d.base = base_new(def->event_flags);
    if (d.base == NULL) {
        log_error("cannot create the event base");
        goto out_flags;
    }
    d.sigterm = evsignal_new(d.base, SIGTERM, on_stop_signal, &d);
    d.sigint = evsignal_new(d.base, SIGINT, on_stop_signal, &d);
    evsignal_add(d.sigterm, NULL);
    evsignal_add(d.sigint, NULL);
    if (def->on_cron != NULL && def->cron_interval > 0) {
        struct timeval tv = time_tv(def->cron_interval);
        d.cron = event_new(d.base, -1, EV_PERSIST, on_cron, &d);
        event_add(d.cron, &tv);
    }

    if (def->on_start != NULL && def->on_start(&d, arg, &err) < 0) {
        log_error("%s", err ? err : "start-up failed");
        goto out;
    }
    /* Written last: whoever sees the port file can talk to us. */
    if (write_port_file(&d, &err) < 0) {
        log_error("--port_file=%s: %s", d.port_file, err);
        goto out;
    }
    d.started = true;
    d.exit_code = 0;
    event_base_dispatch(d.base);
out:
    if (def->on_cleanup != NULL)
        def->on_cleanup(&d, arg);
    log_flush_repeats(1);
    for (i = 0; i < d.nextra; i++)
        event_free(d.extra[i].ev);
    if (d.cron)
        event_free(d.cron);
    event_free(d.sigterm);
    event_free(d.sigint);
    event_base_free(d.base);
    metrics_cleanup();
out_flags:
    flags_cleanup(table, n);
    free(table);
    free(err);
    return d.exit_code;
}
