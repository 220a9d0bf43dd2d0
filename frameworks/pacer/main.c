/*
 * main: agora-pacer's entry point — the flag table and the start-up that
 * common/daemon.c drives. Everything else starts in pacer.c.
 */
#include <stdlib.h>

#include "pacer.h"
#include "daemon.h"
#include "flags.h"
#include "log.h"
#include "mem.h"

static struct pacer_flags flags;

static const struct flag flag_table[] = {
    { "master", FLAG_STRING, &flags.master, NULL,
      "the master, HOST:PORT, or zk://host:port,.../path to follow the leader (required)" },
    { "ip", FLAG_STRING, &flags.ip, "127.0.0.1", "address the REST API listens on" },
    { "http_port", FLAG_INT, &flags.http_port, "8080", "port of the REST API (0 = any free port)" },
    { "port", FLAG_INT, &flags.port, "-1",
      "same as --http_port (the name every Agora daemon takes)" },
    { "work_dir", FLAG_STRING, &flags.work_dir, "/tmp/agora-pacer",
      "where apps, versions, deployments, instances and the framework id are kept" },
    { "framework_name", FLAG_STRING, &flags.framework_name, "pacer", "FrameworkInfo.name" },
    { "role", FLAG_STRING, &flags.role, "*", "the role Pacer's framework registers with" },
    { "user", FLAG_STRING, &flags.user, NULL,
      "user tasks run as when an app names none (default: the user running Pacer)" },
    { "hostname", FLAG_STRING, &flags.hostname, NULL,
      "FrameworkInfo.hostname (default: gethostname)" },
    { "failover_timeout", FLAG_DURATION, &flags.failover_timeout, "1weeks",
      "how long the master keeps Pacer's tasks while Pacer is away" },
    { "service_ports", FLAG_STRING, &flags.service_ports, "10000-20000",
      "range that servicePort 0 is assigned from" },
    { "decline_offer_duration", FLAG_DURATION, &flags.decline_seconds, "120secs",
      "how long an offer Pacer has no use for is refused" },
    { "task_launch_timeout", FLAG_DURATION, &flags.task_launch_timeout, "300secs",
      "a launched task with no status by then is killed and replaced" },
    { "reconciliation_interval", FLAG_DURATION, &flags.reconcile_interval, "600secs",
      "period of implicit task reconciliation" },
    { "event_stream_heartbeat", FLAG_DURATION, &flags.event_heartbeat, "30secs",
      "period of the /v2/events heartbeat comment" },
    { "zk", FLAG_STRING, &flags.zk, NULL,
      "zk://host:port,.../path: run in a quorum, state and leader latch in ZooKeeper" },
    { "zk_session_timeout", FLAG_DURATION, &flags.zk_session_timeout, "10secs",
      "ZooKeeper session timeout (--zk)" },
    { "json", FLAG_BOOL, &flags.json, "false", "speak JSON to the master instead of protobuf" },
    { "http_credentials", FLAG_STRING, &flags.http_credentials, NULL,
      "user:password[,user:password...]: the REST API needs HTTP Basic credentials "
      "(Marathon's flag); these users may read and change everything" },
    { "http_readonly_credentials", FLAG_STRING, &flags.http_readonly_credentials, NULL,
      "user:password[,...] of users that may only read (GET); with --http_credentials" },
    { "acls", FLAG_STRING, &flags.acls, NULL,
      "file (or file://) of ACLs in Mesos's JSON format: change_apps says which principals "
      "may change which app ids (and the apps under them)" },
    { "mesos_authentication_principal", FLAG_STRING, &flags.mesos_principal, NULL,
      "principal Pacer's framework registers with (FrameworkInfo.principal, and the "
      "credentials sent to a master with --authenticate_frameworks)" },
    { "mesos_authentication_secret_file", FLAG_STRING, &flags.mesos_secret_file, NULL,
      "file holding the secret of --mesos_authentication_principal" },
};

static void on_stop(struct daemon *d, void *arg, int sig)
{
    /* Tasks keep running: the master keeps them for failover_timeout and
     * the next start adopts them. */
    log_info("exiting (tasks keep running and are adopted on restart)");
    daemon_exit(d, 0);
}

static void on_cron(struct daemon *d, void *arg)
{
    pacer_cron(*(struct pacer **)arg);
}

static int on_start(struct daemon *d, void *arg, char **err)
{
    struct pacer **pp = arg;

    if (flags.master == NULL) {
        *err = xstrdup("--master is required");
        return -1;
    }
    *pp = pacer_new(d, &flags, err);
    return *pp == NULL ? -1 : 0;
}

static void on_cleanup(struct daemon *d, void *arg)
{
    pacer_free(*(struct pacer **)arg);
}

int main(int argc, char **argv)
{
    static const struct daemon_def def = {
        .name = "agora-pacer",
        .version = PACER_VERSION,
        .usage = "Usage: agora-pacer --master=HOST:PORT|zk://... [options]",
        .flags = flag_table,
        .nflags = sizeof(flag_table) / sizeof(flag_table[0]),
        .on_start = on_start,
        .on_stop = on_stop,
        .on_cron = on_cron,
        .cron_interval = 1.0,
        .on_cleanup = on_cleanup,
    };
    struct pacer *p = NULL;

    return daemon_main(&def, &p, argc, argv);
}
