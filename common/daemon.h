/*
 * daemon: the start-up every Agora program shares.
 *
 * A program describes itself in a struct daemon_def (name, version, usage,
 * flag table, callbacks, cron interval) and calls daemon_main() from
 * main(). daemon_main() parses the flags (adding --port_file and
 * --log_level to the table; --help and --version print and return 0),
 * sets the log level, ignores SIGPIPE, builds the event base, installs
 * SIGTERM/SIGINT (the first calls on_stop, or ends the loop when there is
 * none; a second one ends it at once with 128 + signal), calls on_start,
 * writes --port_file once the program reported its port with
 * daemon_set_port(), runs on_cron every cron_interval seconds,
 * dispatches, calls on_cleanup and returns the exit code for main().
 */
#ifndef AGORA_DAEMON_H
#define AGORA_DAEMON_H

#include <stddef.h>

#include <event2/event.h>

#include "flags.h"

struct daemon;

struct daemon_def {
    const char *name;    /* "agora-master": --version, error prefix */
    const char *version; /* "1.0.0" */
    const char *usage;   /* first line of --help */
    const struct flag *flags;
    size_t nflags;
    int event_flags; /* EVENT_BASE_FLAG_* for the base's config (0: none) */
    /* After flag parsing, with the base and signals ready and before the
     * loop runs: create everything, report the port. 0 ok, -1 with *err
     * (logged; daemon_main returns 1). */
    int (*on_start)(struct daemon *d, void *arg, char **err);
    /* First SIGTERM/SIGINT: begin a graceful stop and call daemon_exit()
     * when done. NULL: the loop ends at once, exit code 0. */
    void (*on_stop)(struct daemon *d, void *arg, int sig);
    void (*on_cron)(struct daemon *d, void *arg); /* NULL: none */
    double cron_interval;                         /* seconds */
    /* After the loop (or a failed on_start): free what on_start made.
     * Must cope with a partial start. */
    void (*on_cleanup)(struct daemon *d, void *arg);
};

/* Run the program; returns main()'s exit code. arg goes to every
 * callback. */
int daemon_main(const struct daemon_def *def, void *arg, int argc, char **argv);

struct event_base *daemon_base(struct daemon *d);

/* The port the program listens on. Written to --port_file when on_start
 * returns (or at once when reported later); a failed write ends the
 * program with exit code 1. */
void daemon_set_port(struct daemon *d, int port);

/* Set the exit code and end the loop (if it runs). */
void daemon_exit(struct daemon *d, int code);

/* Call fn(d, arg) on every delivery of signal sig (e.g. SIGCHLD), from the
 * loop. 0 ok, -1 when too many are installed. */
int daemon_on_signal(struct daemon *d, int sig, void (*fn)(struct daemon *d, void *arg));

#endif
