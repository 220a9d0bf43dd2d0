/*
 * main: agora-slave's entry point: the flag table and the start-up that
 * common/daemon.c drives (slave, HTTP listener, recovery, SIGCHLD reaping,
 * one-second cron). Everything else lives in slave.c and its modules.
 * --port_file and --log_level are daemon.c's (slave_flags keeps the
 * fields, unused).
 */
#include <signal.h>
#include <stdlib.h>

#include "slave.h"
#include "daemon.h"
#include "flags.h"
#include "http.h"
#include "rest.h"
#include "log.h"
#include "mem.h"

static struct slave_flags flags;

static const struct flag flag_table[] = {
    { "ip", FLAG_STRING, &flags.ip, "127.0.0.1", "address to listen on" },
    { "port", FLAG_INT, &flags.port, "5051", "port to listen on (0 = any free port)" },
    { "work_dir", FLAG_STRING, &flags.work_dir, "/tmp/agora-slave",
      "sandboxes and checkpoints (meta/)" },
    { "credential", FLAG_STRING, &flags.credential, NULL,
      "file (or file:// URL) with this slave's credential for a master with "
      "--authenticate_agents: {\"principal\": ..., \"secret\": ...} or \"principal secret\"" },
    { "http_credentials", FLAG_STRING, &flags.http_credentials, NULL,
      "file (or file:// URL) of the credentials the --authenticate_http_* endpoints accept: "
      "{\"credentials\": [{\"principal\": ..., \"secret\": ...}]} or \"principal secret\" lines "
      "(usually the master's --credentials, so that operators and the master's UI relay get in)" },
    { "authenticate_http_readonly", FLAG_BOOL, &flags.authenticate_http_readonly, "false",
      "/state, /files/browse, /files/read, /metrics and /api/v1 need HTTP Basic credentials "
      "(--http_credentials); /health stays open" },
    { "authenticate_http_readwrite", FLAG_BOOL, &flags.authenticate_http_readwrite, "false",
      "endpoints that change something need credentials (/api/v1; its calls only read so far)" },
    { "acls", FLAG_STRING, &flags.acls, NULL,
      "Mesos's ACLs (JSON text, or a file / file:// URL): access_sandboxes (principal -> the "
      "users whose sandboxes /files may read), view_frameworks, view_tasks (what /state lists), "
      "view_containers (GET_CONTAINERS); "
      "default: everything allowed" },
    { "master", FLAG_STRING, &flags.master, NULL,
      "the master, HOST:PORT, or zk://host:port,.../path to follow the leader (required)" },
    { "resources", FLAG_STRING, &flags.resources, NULL,
      "e.g. cpus:4;mem:8192;ports:[31000-32000] (missing ones are detected)" },
    { "attributes", FLAG_STRING, &flags.attributes, NULL, "e.g. rack:a;zone:b" },
    { "hostname", FLAG_STRING, &flags.hostname, NULL, "hostname to advertise" },
    { "isolation", FLAG_STRING, &flags.isolation, NULL,
      "cgroups|none (default: cgroups when writable, else none)" },
    { "containerizers", FLAG_STRING, &flags.containerizers, NULL,
      "docker,process (default: process, plus docker when --docker_socket answers)" },
    { "docker_socket", FLAG_STRING, &flags.docker_socket, "/var/run/docker.sock",
      "the Docker Engine API unix socket" },
    { "docker_pull_timeout", FLAG_DURATION, &flags.docker_pull_timeout, "10mins",
      "how long one image pull may take before the task fails" },
    { "docker_publish_ip", FLAG_STRING, &flags.docker_publish_ip, "0.0.0.0",
      "host address that BRIDGE port mappings are published on" },
    { "executor_shutdown_grace_period", FLAG_DURATION, &flags.executor_shutdown_grace_period,
      "5secs", "default time between SIGTERM and SIGKILL of a killed task" },
    { "zk_session_timeout", FLAG_DURATION, &flags.zk_session_timeout, "10secs",
      "ZooKeeper session timeout when --master is zk://" },
    { "registration_backoff_factor", FLAG_DURATION, &flags.registration_backoff_factor, "1secs",
      "initial ceiling of the (re-)registration backoff" },
    { "gc_delay", FLAG_DURATION, &flags.gc_delay, "1weeks",
      "how long a finished task's sandbox is kept at most (less as the disk fills)" },
    { "disk_watch_interval", FLAG_DURATION, &flags.disk_watch_interval, "1mins",
      "how often the disk usage of --work_dir is checked for garbage collection" },
    { "switch_user", FLAG_BOOL, &flags.switch_user, "true",
      "run each task as its user (CommandInfo.user, else FrameworkInfo.user), with that user's "
      "groups, and give it its sandbox; needs a root slave for any other user than its own "
      "(--no-switch_user: tasks run as the slave's user)" },
    { "docker_allow_privileged", FLAG_BOOL, &flags.docker_allow_privileged, "false",
      "allow Docker tasks container.docker.privileged (and security-opt values that turn "
      "seccomp, AppArmor or SELinux confinement off); refused with TASK_ERROR otherwise" },
    { "allowed_capabilities", FLAG_STRING, &flags.allowed_capabilities, NULL,
      "capabilities Docker tasks may cap-add, comma list (NET_ADMIN,SYS_TIME; ALL for any); "
      "others are refused with TASK_ERROR" },
    { "allowed_host_paths", FLAG_STRING, &flags.allowed_host_paths, NULL,
      "host paths tasks may bind-mount (volumes' host_path, docker volume=SRC:DST), comma list "
      "of prefixes (/srv/data,/var/log); a path is allowed under one of them after '..' is "
      "resolved; others are refused with TASK_ERROR" },
    { "gc_disk_headroom", FLAG_DOUBLE, &flags.gc_disk_headroom, "0.1",
      "sandboxes are kept gc_delay * max(0, 1 - gc_disk_headroom - disk usage)" },
    { "task_log_max_size", FLAG_BYTES, &flags.task_log_max_size, "10MB",
      "a task's stdout or stderr file in its sandbox is rotated beyond this size (0: never)" },
    { "task_log_files", FLAG_INT, &flags.task_log_files, "5",
      "rotated copies of a task's stdout/stderr kept (stdout.1 ... stdout.N)" },
    { "orphan_sweep_interval", FLAG_DURATION, &flags.orphan_sweep_interval, "1mins",
      "how often containers and processes of this slave that no task owns are removed" },
};

static void on_stop(struct daemon *d, void *arg, int sig)
{
    log_info("exiting (tasks keep running and are recovered on restart)");
    daemon_exit(d, 0);
}

static void on_sigchld(struct daemon *d, void *arg)
{
    slave_reap_children(*(struct slave **)arg);
}

static void on_cron(struct daemon *d, void *arg)
{
    slave_cron(*(struct slave **)arg);
}

static int on_start(struct daemon *d, void *arg, char **err)
{
    struct slave **sp = arg, *s;
    char *e = NULL;

    s = *sp = slave_new(daemon_base(d), &flags, err);
    if (s == NULL)
        return -1;
    if (http_api_start(s, &e) < 0) {
        *err = xasprintf("cannot listen on %s:%d: %s", flags.ip, flags.port, e);
        free(e);
        return -1;
    }
    log_info("agora-slave %s listening on %s:%d, work_dir %s", SLAVE_VERSION, flags.ip,
             s->http_port, flags.work_dir);
    if (daemon_on_signal(d, SIGCHLD, on_sigchld) < 0)
        return -1;
    if (slave_start(s, &e) < 0) {
        *err = xasprintf("recovery failed: %s", e);
        free(e);
        return -1;
    }
    daemon_set_port(d, s->http_port);
    return 0;
}

static void on_cleanup(struct daemon *d, void *arg)
{
    struct slave *s = *(struct slave **)arg;

    if (s == NULL)
        return;
    if (s->http != NULL)
        http_server_free(s->http);
    rest_server_free(s->rest);
    slave_free(s);
}

int main(int argc, char **argv)
{
    static const struct daemon_def def = {
        .name = "agora-slave",
        .version = SLAVE_VERSION,
        .usage = "Usage: agora-slave --master=HOST:PORT [options]",
        .flags = flag_table,
        .nflags = sizeof(flag_table) / sizeof(flag_table[0]),
        .on_start = on_start,
        .on_stop = on_stop,
        .on_cron = on_cron,
        .cron_interval = 1.0,
        .on_cleanup = on_cleanup,
    };
    struct slave *s = NULL;

    return daemon_main(&def, &s, argc, argv);
}
