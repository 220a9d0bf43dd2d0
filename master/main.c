/*
 * main.c: agora-master's entry point. Parses flags, builds the event base,
 * installs the SIGTERM/SIGINT events, the HTTP listener and the cron timer,
 * writes --port_file once bound, then dispatches. Everything else is in
 * master.c and its siblings.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/event.h>

#include "master.h"
#include "atomic_file.h"
#include "flags.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "zk.h"

#define CRON_INTERVAL_MS 1000

static char *f_ip, *f_port_file, *f_work_dir, *f_log_level, *f_hostname, *f_max_body, *f_zk;
static int f_port, f_max_pings;
static double f_ping_timeout, f_offer_timeout, f_alloc_interval, f_heartbeat;
static double f_zk_session_timeout, f_reregister_timeout;

static const struct flag flag_table[] = {
    { "ip", FLAG_STRING, &f_ip, "127.0.0.1", "IP address to listen on" },
    { "port", FLAG_INT, &f_port, "5050", "Port to listen on (0: any free port)" },
    { "port_file", FLAG_STRING, &f_port_file, NULL,
      "Write the bound port to this file (atomically) once listening" },
    { "work_dir", FLAG_STRING, &f_work_dir, "/tmp/agora-master",
      "Directory of the registry (admitted slaves, framework records)" },
    { "log_level", FLAG_STRING, &f_log_level, "info", "debug, info, warn or error" },
    { "hostname", FLAG_STRING, &f_hostname, NULL,
      "Hostname advertised in MasterInfo (default: the system hostname)" },
    { "slave_ping_timeout", FLAG_DURATION, &f_ping_timeout, "15secs",
      "Interval between PINGs to each slave" },
    { "max_slave_ping_timeouts", FLAG_INT, &f_max_pings, "5",
      "Unanswered PINGs in a row after which a slave is unreachable" },
    { "offer_timeout", FLAG_DURATION, &f_offer_timeout, "30secs",
      "Rescind offers not answered within this time (0: never)" },
    { "allocation_interval", FLAG_DURATION, &f_alloc_interval, "1secs",
      "Interval between periodic allocation passes" },
    { "heartbeat_interval", FLAG_DURATION, &f_heartbeat, "15secs",
      "Interval between HEARTBEAT events to subscribed frameworks" },
    { "max_body_size", FLAG_STRING, &f_max_body, "8MB",
      "Largest accepted request body (B, KB, MB, GB)" },
    { "zk", FLAG_STRING, &f_zk, NULL,
      "ZooKeeper URL for leader election and the registry, zk://host:port,.../path "
      "(default: standalone, registry in --work_dir)" },
    { "zk_session_timeout", FLAG_DURATION, &f_zk_session_timeout, "10secs",
      "ZooKeeper session timeout; a leader cut off from ZooKeeper for a third of it "
      "stops leading (servers allow 2..20 x their tickTime)" },
    { "slave_reregister_timeout", FLAG_DURATION, &f_reregister_timeout, "10mins",
      "After an election, how long known slaves have to re-register before they are "
      "marked unreachable" },
};
#define NFLAGS (sizeof(flag_table) / sizeof(flag_table[0]))

/* "8MB", "512KB", "1024", "1GB" -> bytes. 0 ok, -1 bad. */
static int parse_bytes(const char *s, size_t *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || !(v >= 0))
        return -1;
    while (*end == ' ')
        end++;
    double mult = 1;
    if (!*end || strcasecmp(end, "B") == 0)
        mult = 1;
    else if (strcasecmp(end, "KB") == 0)
        mult = 1024.0;
    else if (strcasecmp(end, "MB") == 0)
        mult = 1024.0 * 1024;
    else if (strcasecmp(end, "GB") == 0)
        mult = 1024.0 * 1024 * 1024;
    else
        return -1;
    if (v * mult < 1 || v * mult > 4.0 * 1024 * 1024 * 1024)
        return -1;
    *out = (size_t)(v * mult);
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    log_info("received %s; shutting down", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    event_base_loopbreak(arg);
}

static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    master_cron(arg);
}

int main(int argc, char **argv)
{
    struct event_base *base = NULL;
    struct event *sigterm = NULL, *sigint = NULL, *cron = NULL;
    struct http_server *http = NULL;
    struct master *m = NULL;
    char *err = NULL;
    int rc = 1;

    mem_init();
    int fr =
        flags_parse(flag_table, NFLAGS, argc, argv, "Usage: agora-master [--name=value ...]", &err);
    if (fr == 1) {
        rc = 0;
        goto out;
    }
    if (fr != 0) {
        fprintf(stderr, "agora-master: %s\n", err);
        goto out;
    }
    enum log_level lvl;
    if (log_parse_level(f_log_level, &lvl) != 0) {
        fprintf(stderr, "agora-master: --log_level: unknown level '%s'\n", f_log_level);
        goto out;
    }
    log_set_level(lvl);
    if (f_zk && f_zk[0]) {
        char *hosts = NULL, *path = NULL;
        if (zk_parse_url(f_zk, &hosts, &path, &err) != 0) {
            fprintf(stderr, "agora-master: --zk: %s\n", err);
            goto out;
        }
        free(hosts);
        free(path);
    }
    if (!(f_zk_session_timeout >= 0.1) || !(f_reregister_timeout > 0)) {
        fprintf(stderr, "agora-master: --zk_session_timeout must be at least 100ms and "
                        "--slave_reregister_timeout positive\n");
        goto out;
    }
    size_t max_body;
    if (parse_bytes(f_max_body, &max_body) != 0) {
        fprintf(stderr, "agora-master: --max_body_size: bad size '%s' (e.g. 8MB)\n", f_max_body);
        goto out;
    }
    if (f_port < 0 || f_port > 65535) {
        fprintf(stderr, "agora-master: --port: %d is not a port number\n", f_port);
        goto out;
    }
    if (f_max_pings < 1) {
        fprintf(stderr, "agora-master: --max_slave_ping_timeouts: must be at least 1, got %d\n",
                f_max_pings);
        goto out;
    }
    if (!(f_ping_timeout > 0) || !(f_heartbeat > 0) || !(f_offer_timeout >= 0) ||
        !(f_alloc_interval >= 0)) {
        fprintf(stderr, "agora-master: --slave_ping_timeout and --heartbeat_interval must be "
                        "positive, --offer_timeout and --allocation_interval non-negative\n");
        goto out;
    }
    signal(SIGPIPE, SIG_IGN);

    /* With the changelist, the EV_WRITE add and delete that each stream
   * write makes within one loop turn cost one epoll_ctl or none: with
   * 10,000 slave streams epoll_ctl was ~14% of the master's CPU. */
    struct event_config *ecfg = event_config_new();
    if (ecfg)
        event_config_set_flag(ecfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
    base = ecfg ? event_base_new_with_config(ecfg) : NULL;
    if (ecfg)
        event_config_free(ecfg);
    if (!base) {
        log_error("cannot create the event base");
        goto out;
    }
    http = http_server_new(base, f_ip, f_port, max_body, &err);
    if (!http) {
        log_error("cannot listen on %s:%d: %s", f_ip, f_port, err);
        goto out;
    }
    struct master_config cfg = {
        .ip = f_ip,
        .port = http_server_port(http),
        .hostname = f_hostname,
        .work_dir = f_work_dir,
        .slave_ping_timeout = f_ping_timeout,
        .max_slave_ping_timeouts = f_max_pings,
        .offer_timeout = f_offer_timeout,
        .allocation_interval = f_alloc_interval,
        .heartbeat_interval = f_heartbeat,
        .zk = f_zk && f_zk[0] ? f_zk : NULL,
        .zk_session_timeout = f_zk_session_timeout,
        .slave_reregister_timeout = f_reregister_timeout,
    };
    m = master_new(base, &cfg, http, &err);
    if (!m) {
        log_error("cannot start the master: %s", err);
        goto out;
    }
    if (f_port_file) {
        char buf[16];
        int n = snprintf(buf, sizeof(buf), "%d\n", cfg.port);
        if (atomic_write(f_port_file, buf, (size_t)n, &err) != 0) {
            log_error("--port_file=%s: %s", f_port_file, err);
            goto out;
        }
    }

    sigterm = evsignal_new(base, SIGTERM, on_signal, base);
    sigint = evsignal_new(base, SIGINT, on_signal, base);
    cron = event_new(base, -1, EV_PERSIST, on_cron, m);
    struct timeval tv = { CRON_INTERVAL_MS / 1000, (CRON_INTERVAL_MS % 1000) * 1000 };
    evsignal_add(sigterm, NULL);
    evsignal_add(sigint, NULL);
    evtimer_add(cron, &tv);

    log_info("agora-master listening on %s:%d", f_ip, cfg.port);
    event_base_dispatch(base);
    rc = m->exit_code;
    log_info("agora-master stopped%s", rc ? " (deposed)" : "");

out:
    if (cron)
        event_free(cron);
    if (sigterm)
        event_free(sigterm);
    if (sigint)
        event_free(sigint);
    master_free(m);
    if (http)
        http_server_free(http);
    if (base)
        event_base_free(base);
    metrics_cleanup();
    flags_cleanup(flag_table, NFLAGS);
    free(err);
    return rc;
}
