/*
 * main: agora-slave's entry point. Parses flags, builds the event loop,
 * installs the signal events, the HTTP listener and the one-second cron,
 * then dispatches. Everything else lives in slave.c and its modules.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "slave.h"
#include "atomic_file.h"
#include "flags.h"
#include "http.h"
#include "rest.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"

static struct slave_flags flags;

static const struct flag flag_table[] = {
    { "ip", FLAG_STRING, &flags.ip, "127.0.0.1", "address to listen on" },
    { "port", FLAG_INT, &flags.port, "5051", "port to listen on (0 = any free port)" },
    { "port_file", FLAG_STRING, &flags.port_file, NULL, "write the bound port to this file" },
    { "work_dir", FLAG_STRING, &flags.work_dir, "/tmp/agora-slave",
      "sandboxes and checkpoints (meta/)" },
    { "log_level", FLAG_STRING, &flags.log_level, "info", "debug|info|warn|error" },
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
    { "registration_backoff_factor", FLAG_DURATION, &flags.registration_backoff_factor, "1secs",
      "initial ceiling of the (re-)registration backoff" },
};
#define NFLAGS (sizeof(flag_table) / sizeof(flag_table[0]))

static void on_stop_signal(evutil_socket_t sig, short what, void *arg)
{
    log_info("received %s, exiting (tasks keep running and are recovered on restart)",
             strsignal((int)sig));
    event_base_loopexit(arg, NULL);
}

static void on_sigchld(evutil_socket_t sig, short what, void *arg)
{
    slave_reap_children(arg);
}

static void on_cron(evutil_socket_t fd, short what, void *arg)
{
    slave_cron(arg);
}

int main(int argc, char **argv)
{
    struct event_base *base = NULL;
    struct event *ev_int = NULL, *ev_term = NULL, *ev_chld = NULL, *ev_cron = NULL;
    struct slave *s = NULL;
    struct timeval one = { 1, 0 };
    enum log_level level;
    char *err = NULL, buf[32];
    int rc, exit_code = 1;

    mem_init();
    rc = flags_parse(flag_table, NFLAGS, argc, argv,
                     "Usage: agora-slave --master=HOST:PORT [options]", &err);
    if (rc == 1) {
        exit_code = 0;
        goto out;
    }
    if (rc < 0) {
        fprintf(stderr, "agora-slave: %s\n", err);
        goto out;
    }
    if (log_parse_level(flags.log_level, &level) < 0) {
        fprintf(stderr, "agora-slave: --log_level: unknown level '%s'\n", flags.log_level);
        goto out;
    }
    log_set_level(level);
    signal(SIGPIPE, SIG_IGN);

    base = event_base_new();
    if (base == NULL) {
        log_error("cannot create the event base");
        goto out;
    }
    s = slave_new(base, &flags, &err);
    if (s == NULL) {
        log_error("%s", err);
        goto out;
    }
    if (http_api_start(s, &err) < 0) {
        log_error("cannot listen on %s:%d: %s", flags.ip, flags.port, err);
        goto out;
    }
    log_info("agora-slave %s listening on %s:%d, work_dir %s", SLAVE_VERSION, flags.ip,
             s->http_port, flags.work_dir);

    ev_int = evsignal_new(base, SIGINT, on_stop_signal, base);
    ev_term = evsignal_new(base, SIGTERM, on_stop_signal, base);
    ev_chld = evsignal_new(base, SIGCHLD, on_sigchld, s);
    ev_cron = event_new(base, -1, EV_PERSIST, on_cron, s);
    event_add(ev_int, NULL);
    event_add(ev_term, NULL);
    event_add(ev_chld, NULL);
    event_add(ev_cron, &one);

    if (slave_start(s, &err) < 0) {
        log_error("recovery failed: %s", err);
        goto out;
    }
    /* Written last: a test that sees the port file can talk to us. */
    if (flags.port_file != NULL) {
        snprintf(buf, sizeof(buf), "%d\n", s->http_port);
        if (atomic_write(flags.port_file, buf, strlen(buf), &err) < 0) {
            log_error("--port_file=%s: %s", flags.port_file, err);
            goto out;
        }
    }
    event_base_dispatch(base);
    exit_code = 0;
out:
    if (ev_int)
        event_free(ev_int);
    if (ev_term)
        event_free(ev_term);
    if (ev_chld)
        event_free(ev_chld);
    if (ev_cron)
        event_free(ev_cron);
    if (s != NULL) {
        if (s->http != NULL)
            http_server_free(s->http);
        rest_server_free(s->rest);
        slave_free(s);
    }
    if (base != NULL)
        event_base_free(base);
    metrics_cleanup();
    flags_cleanup(flag_table, NFLAGS);
    free(err);
    return exit_code;
}
