/*
 * main.c: agora-master's entry point: the flag table and the start-up
 * that common/daemon.c drives (listener, master, cron). Everything else
 * is in master.c and its siblings.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "master.h"
#include "daemon.h"
#include "http.h"
#include "liveness.h"
#include "log.h"
#include "mem.h"
#include "rest.h"

static char *f_ip, *f_work_dir, *f_hostname, *f_zk;
static uint64_t f_max_body, f_op_buffer;
static int f_max_op_subs;
static int f_port, f_max_pings;
static double f_ping_timeout, f_offer_timeout, f_alloc_interval, f_alloc_batch, f_heartbeat;
static double f_zk_session_timeout, f_reregister_timeout;
static char *f_credentials, *f_acls;
static bool f_auth_frameworks, f_auth_agents, f_auth_ro, f_auth_rw;

static const struct flag flag_table[] = {
    { "ip", FLAG_STRING, &f_ip, "127.0.0.1", "IP address to listen on" },
    { "port", FLAG_INT, &f_port, "5050", "Port to listen on (0: any free port)" },
    { "work_dir", FLAG_STRING, &f_work_dir, "/tmp/agora-master",
      "Directory of the registry (admitted slaves, framework records)" },
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
    { "allocation_batch", FLAG_DURATION, &f_alloc_batch, "5ms",
      "Resources given back (a task ended, an offer declined or rescinded, the unused "
      "part of an ACCEPT) are offered by a pass this long after the first of them, "
      "batching a burst into one pass (0: at the end of the event loop's turn)" },
    { "heartbeat_interval", FLAG_DURATION, &f_heartbeat, "15secs",
      "Interval between HEARTBEAT events to subscribed frameworks" },
    { "max_body_size", FLAG_BYTES, &f_max_body, "8MB",
      "Largest accepted request body (B, KB, MB, GB)" },
    { "operator_stream_buffer", FLAG_BYTES, &f_op_buffer, "8MB",
      "Unsent bytes an operator API subscriber (SUBSCRIBE on /api/v1) may have queued; "
      "one that falls further behind is dropped" },
    { "max_operator_event_stream_subscribers", FLAG_INT, &f_max_op_subs, "1000",
      "Most operator API event stream subscribers at once (as Mesos); more get 503" },
    { "zk", FLAG_STRING, &f_zk, NULL,
      "ZooKeeper URL for leader election and the registry, zk://host:port,.../path "
      "(default: standalone, registry in --work_dir)" },
    { "zk_session_timeout", FLAG_DURATION, &f_zk_session_timeout, "10secs",
      "ZooKeeper session timeout; a leader cut off from ZooKeeper for a third of it "
      "stops leading (servers allow 2..20 x their tickTime)" },
    { "slave_reregister_timeout", FLAG_DURATION, &f_reregister_timeout, "10mins",
      "After an election, how long known slaves have to re-register before they are "
      "marked unreachable" },
    { "credentials", FLAG_STRING, &f_credentials, NULL,
      "File (or file:// URL) of the credentials the --authenticate_* surfaces accept: "
      "{\"credentials\": [{\"principal\": ..., \"secret\": ...}]} or \"principal secret\" "
      "lines" },
    { "acls", FLAG_STRING, &f_acls, NULL,
      "Mesos's ACLs (JSON text, or a file / file:// URL): register_frameworks, run_tasks, "
      "teardown_frameworks, view_frameworks, view_tasks; default: everything allowed" },
    { "authenticate_frameworks", FLAG_BOOL, &f_auth_frameworks, "false",
      "Schedulers must send HTTP Basic credentials (POST /api/v1/scheduler); a "
      "FrameworkInfo.principal must be the authenticated one" },
    { "authenticate_http_frameworks", FLAG_BOOL, &f_auth_frameworks, "false",
      "Same as --authenticate_frameworks (Mesos's name for HTTP schedulers)" },
    { "authenticate_agents", FLAG_BOOL, &f_auth_agents, "false",
      "Slaves must send credentials (their --credential)" },
    { "authenticate_slaves", FLAG_BOOL, &f_auth_agents, "false", "Same as --authenticate_agents" },
    { "authenticate_http_readonly", FLAG_BOOL, &f_auth_ro, "false",
      "State, metrics and the operator API (/api/v1) need credentials" },
    { "authenticate_http_readwrite", FLAG_BOOL, &f_auth_rw, "false",
      "Endpoints that change the cluster need credentials (none outside the scheduler "
      "and slave APIs yet)" },
};
struct master_main {
    struct http_server *http;
    struct master *m;
};

/* Checks across flags that the flag parser cannot make. --zk is parsed
 * (and refused) by master_new, in ha.c. */
static int check_flags(char **err)
{
    if (!(f_zk_session_timeout >= 0.1) || !(f_reregister_timeout > 0))
        *err = xstrdup("--zk_session_timeout must be at least 100ms and "
                       "--slave_reregister_timeout positive");
    else if (f_max_body < 1 || f_max_body > 4ULL << 30)
        *err = xasprintf("--max_body_size: %llu bytes is out of range (1B..4GB)",
                         (unsigned long long)f_max_body);
    else if (f_port < 0 || f_port > 65535)
        *err = xasprintf("--port: %d is not a port number", f_port);
    else if (f_max_pings < 1)
        *err = xasprintf("--max_slave_ping_timeouts: must be at least 1, got %d", f_max_pings);
    else if (!(f_ping_timeout > 0) || !(f_heartbeat > 0) || !(f_offer_timeout >= 0) ||
             !(f_alloc_interval >= 0) || !(f_alloc_batch >= 0))
        *err = xstrdup("--slave_ping_timeout and --heartbeat_interval must be positive, "
                       "--offer_timeout, --allocation_interval and --allocation_batch "
                       "non-negative");
    else
        return 0;
    return -1;
}

static int on_start(struct daemon *d, void *arg, char **err)
{
    struct master_main *mm = arg;
    char *e = NULL;

    if (check_flags(err) < 0)
        return -1;
    mm->http = http_server_new(daemon_base(d), f_ip, f_port, (size_t)f_max_body, &e);
    if (mm->http == NULL) {
        *err = xasprintf("cannot listen on %s:%d: %s", f_ip, f_port, e);
        free(e);
        return -1;
    }
    struct master_config cfg = {
        .ip = f_ip,
        .port = http_server_port(mm->http),
        .hostname = f_hostname,
        .work_dir = f_work_dir,
        .slave_ping_timeout = f_ping_timeout,
        .max_slave_ping_timeouts = f_max_pings,
        .offer_timeout = f_offer_timeout,
        .allocation_interval = f_alloc_interval,
        .allocation_batch = f_alloc_batch,
        .heartbeat_interval = f_heartbeat,
        .zk = f_zk && f_zk[0] ? f_zk : NULL,
        .zk_session_timeout = f_zk_session_timeout,
        .slave_reregister_timeout = f_reregister_timeout,
        .operator_stream_buffer = f_op_buffer,
        .max_operator_subscribers = f_max_op_subs,
        .credentials = f_credentials && f_credentials[0] ? f_credentials : NULL,
        .acls = f_acls && f_acls[0] ? f_acls : NULL,
        .auth_surfaces =
            (f_auth_frameworks ? REST_AUTH_FRAMEWORK : 0) | (f_auth_agents ? REST_AUTH_AGENT : 0) |
            (f_auth_ro ? REST_AUTH_READONLY : 0) | (f_auth_rw ? REST_AUTH_READWRITE : 0),
        .flags = flag_table,
        .nflags = sizeof(flag_table) / sizeof(flag_table[0]),
    };
    mm->m = master_new(daemon_base(d), &cfg, mm->http, &e);
    if (mm->m == NULL) {
        *err = xasprintf("cannot start the master: %s", e);
        free(e);
        return -1;
    }
    daemon_set_port(d, cfg.port);
    log_info("agora-master listening on %s:%d", f_ip, cfg.port);
    return 0;
}

static void on_cron(struct daemon *d, void *arg)
{
    master_cron(((struct master_main *)arg)->m);
}

static void on_cleanup(struct daemon *d, void *arg)
{
    struct master_main *mm = arg;

    if (mm->m != NULL && mm->m->exit_code != 0) {
        log_info("agora-master stopped (deposed)");
        daemon_exit(d, mm->m->exit_code);
    }
    /* Standbys' liveness streams end with the process, after the session. */
    liveness_linger();
    master_free(mm->m);
    if (mm->http)
        http_server_free(mm->http);
}

int main(int argc, char **argv)
{
    /* With the changelist, the EV_WRITE add and delete that each stream
     * write makes within one loop turn cost one epoll_ctl or none: with
     * 10,000 slave streams epoll_ctl was ~14% of the master's CPU. */
    static const struct daemon_def def = {
        .name = "agora-master",
        .version = AGORA_VERSION,
        .usage = "Usage: agora-master [--name=value ...]",
        .flags = flag_table,
        .nflags = sizeof(flag_table) / sizeof(flag_table[0]),
        .event_flags = EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST,
        .on_start = on_start,
        .on_cron = on_cron,
        .cron_interval = 1.0,
        .on_cleanup = on_cleanup,
    };
    struct master_main mm = { 0 };

    return daemon_main(&def, &mm, argc, argv);
}
