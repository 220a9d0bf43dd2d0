/*
 * main: agora-pacer-lb's entry point — the flag table and the start-up
 * that common/daemon.c drives. Everything else starts in lb.c.
 */
#include <signal.h>
#include <stdlib.h>

#include "daemon.h"
#include "flags.h"
#include "log.h"
#include "mem.h"
#include "pacer_lb.h"

static struct pacer_lb_flags flags;

static const struct flag flag_table[] = {
    { "marathon", FLAG_STRING, &flags.marathon, "http://127.0.0.1:8080",
      "Pacer or Marathon to follow, http://host:port; several (comma-separated): members of one "
      "quorum, the next one followed when the current one fails" },
    { "marathon_credentials", FLAG_STRING, &flags.marathon_credentials, NULL,
      "user:password sent (HTTP Basic) to a --marathon with --http_credentials "
      "(marathon-lb's --auth-credentials); a read-only user is enough" },
    { "resync_interval", FLAG_DURATION, &flags.resync_secs, "30secs",
      "a full read of /v2/apps at least this often, events or not (0 = only on events)" },
    { "haproxy_config", FLAG_STRING, &flags.haproxy_config, NULL,
      "the HAProxy configuration file written (default: <work_dir>/haproxy.cfg)" },
    { "haproxy_socket", FLAG_STRING, &flags.haproxy_socket, NULL,
      "HAProxy's admin socket (runtime API; default <haproxy_config>.sock); "
      "its master socket (-S) is PATH.master" },
    { "haproxy_bin", FLAG_STRING, &flags.haproxy_bin, "/usr/sbin/haproxy", "the haproxy program" },
    { "haproxy_master_socket", FLAG_STRING, &flags.haproxy_master_socket, NULL,
      "attach to the HAProxy of this master CLI socket instead of starting one (it keeps "
      "running when pacer-lb stops)" },
    { "templates_dir", FLAG_STRING, &flags.templates_dir, NULL,
      "directory of marathon-lb templates (files HAPROXY_HEAD, HAPROXY_FRONTEND_HEAD, "
      "HAPROXY_BACKEND_HEAD, ...) replacing the defaults; docs/pacer-lb.md lists them" },
    { "group", FLAG_STRING, &flags.group, "external",
      "HAPROXY_GROUP served (apps without the label are in \"external\"); * for all" },
    { "bind", FLAG_STRING, &flags.bind, "127.0.0.1", "address the frontends bind" },
    { "drain_timeout", FLAG_DURATION, &flags.drain_secs, "2secs",
      "how long a leaving server drains before it is deleted" },
    { "http_port", FLAG_INT, &flags.http_port, "80",
      "port of the shared HTTP frontend routing HAPROXY_n_VHOST by Host header (0: none)" },
    { "ssl_certs", FLAG_STRING, &flags.ssl_certs, NULL,
      "certificates (comma list of PEM files, each a certificate with its key) of an HTTPS "
      "frontend beside the HTTP one (marathon-lb's marathon_https_in); none without" },
    { "https_port", FLAG_INT, &flags.https_port, "443", "port of that HTTPS frontend" },
    { "maxconn", FLAG_INT, &flags.maxconn, "2000", "HAProxy's global maxconn" },
    { "stats_port", FLAG_INT, &flags.stats_port, "9090",
      "HAProxy's stats page on --bind (marathon-lb's: /haproxy?stats, and "
      "/_haproxy_health_check); 0: none" },
    { "ip", FLAG_STRING, &flags.ip, "127.0.0.1", "address of /health and /metrics" },
    { "port", FLAG_INT, &flags.port, "9091", "port of /health and /metrics (0 = any free port)" },
    { "work_dir", FLAG_STRING, &flags.work_dir, "/tmp/agora-pacer-lb",
      "where the configuration goes unless --haproxy_config says" },
};

static void on_stop(struct daemon *d, void *arg, int sig)
{
    struct pacer_lb *lb = *(struct pacer_lb **)arg;
    log_info("stopping (signal %d)", sig);
    pacer_lb_stop(lb);
}

static void on_sigchld(struct daemon *d, void *arg)
{
    struct pacer_lb *lb = *(struct pacer_lb **)arg;
    if (lb != NULL)
        pacer_lb_on_sigchld(lb);
}

static int on_start(struct daemon *d, void *arg, char **err)
{
    struct pacer_lb **lbp = arg;

    if (flags.maxconn <= 0) {
        *err = xasprintf("--maxconn: %d is not positive", flags.maxconn);
        return -1;
    }
    if (flags.stats_port < 0 || flags.stats_port > 65535) {
        *err = xasprintf("--stats_port: %d is not a port (0: none)", flags.stats_port);
        return -1;
    }
    if (daemon_on_signal(d, SIGCHLD, on_sigchld) != 0) {
        *err = xstrdup("cannot watch SIGCHLD");
        return -1;
    }
    *lbp = pacer_lb_new(d, &flags, err);
    return *lbp == NULL ? -1 : 0;
}

static void on_cleanup(struct daemon *d, void *arg)
{
    pacer_lb_free(*(struct pacer_lb **)arg);
}

int main(int argc, char **argv)
{
    static const struct daemon_def def = {
        .name = "agora-pacer-lb",
        .version = PACER_LB_VERSION,
        .usage = "Usage: agora-pacer-lb --marathon=http://HOST:PORT [options]",
        .flags = flag_table,
        .nflags = sizeof(flag_table) / sizeof(flag_table[0]),
        .on_start = on_start,
        .on_stop = on_stop,
        .on_cleanup = on_cleanup,
    };
    struct pacer_lb *lb = NULL;

    return daemon_main(&def, &lb, argc, argv);
}
