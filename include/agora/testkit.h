/*
 * libagora-testkit: a real Agora cluster inside a framework's own tests.
 *
 * agora_testkit_start() runs an agora-master (standalone: its registry
 * lives in its work directory, no ZooKeeper needed) and N agora-slaves as
 * child processes on loopback ports chosen by the kernel, and waits until
 * every slave is registered. The test then points its framework at
 * agora_testkit_master() and drives failures through the kit: kill and
 * restart the master (on the same port and work directory, so slaves and
 * frameworks find it again and it recovers its registry), kill or restart
 * a slave, or partition one (SIGSTOP: its connections stay open but it
 * answers nothing, so the master's pings time out and it is marked
 * unreachable) and heal it (SIGCONT) — the failures a framework must
 * survive, as Mesos's own suite tests them.
 *
 * Threading and blocking: every call blocks the calling thread (they wait
 * for processes, port files and HTTP answers with deadlines) and is meant
 * for the test's main thread. Run the framework under test on another
 * thread (agora_scheduler_run() in a pthread), or pump its event loop
 * from the condition given to agora_testkit_wait(). A kit is not safe to
 * use from two threads at once.
 *
 * Processes: every child gets SIGKILL if the test process dies
 * (PR_SET_PDEATHSIG), and agora_testkit_free() kills and reaps those still
 * running, so a failed test leaves nothing behind. Their logs are in
 * agora_testkit_work_dir()/master/log and .../slaveN/log.
 *
 * Binaries: cfg.bin_dir, else $AGORA_BIN_DIR, else the PATH.
 *
 * Errors: calls return 0 or -1; after -1, agora_testkit_error() says why
 * (owned by the kit, valid until its next call).
 */
#ifndef AGORA_TESTKIT_H
#define AGORA_TESTKIT_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

#pragma GCC visibility push(default)

#define AGORA_TESTKIT_MAX_SLAVES 16

struct agora_testkit;

/* Zero-initialise; every zero field has a default. Strings are copied. */
struct agora_testkit_config {
    const char *bin_dir;            /* where agora-master and agora-slave are */
    const char *work_dir;           /* parent of the daemons' directories, kept
                                     by free; NULL: a fresh directory under
                                     $TMPDIR (or /tmp) that free removes */
    int nslaves;                    /* 0..AGORA_TESTKIT_MAX_SLAVES */
    const char *slave_resources;    /* NULL: "cpus:2;mem:1024;disk:1000" plus
                                     100 ports of slave i's own,
                                     [31000+100i-31099+100i] */
    double ping_timeout;            /* seconds between the master's pings of a
                                     slave (0: 0.5) */
    int max_ping_timeouts;          /* missed pings before a slave is
                                     unreachable (0: 2): with the defaults a
                                     partitioned slave is unreachable ~1 s
                                     after agora_testkit_partition_slave */
    const char *const *master_args; /* NULL-terminated extra flags, or NULL */
    const char *const *slave_args;  /* the same for every slave */
    double start_timeout;           /* seconds a daemon has to come up (0: 15) */
};

/* Start the master and cfg->nslaves slaves and wait until the master
 * reports every slave active. NULL on failure with *err set (caller frees;
 * err may be NULL), and nothing left running. */
struct agora_testkit *agora_testkit_start(const struct agora_testkit_config *cfg, char **err);

/* Kill (SIGCONT first, then SIGKILL) and reap every daemon still running,
 * remove the work directory the kit created. NULL is ignored. */
void agora_testkit_free(struct agora_testkit *k);

/* "127.0.0.1:PORT" of the master, the same across restarts (owned by the
 * kit): give it to agora_scheduler_config.master. */
const char *agora_testkit_master(const struct agora_testkit *k);
/* The directory holding master/ and slave0/, slave1/, ... */
const char *agora_testkit_work_dir(const struct agora_testkit *k);
/* Why the last call returned -1 ("" if it did not). */
const char *agora_testkit_error(const struct agora_testkit *k);

/* The master dies at once (SIGKILL), as in a crash: no goodbye to slaves
 * or frameworks. */
int agora_testkit_kill_master(struct agora_testkit *k);
/* Start the master again (after a kill) on the same port and work
 * directory, and wait until it serves. Its slaves re-register by
 * themselves; wait for them with agora_testkit_wait_slaves(). */
int agora_testkit_start_master(struct agora_testkit *k);
/* kill then start. */
int agora_testkit_restart_master(struct agora_testkit *k);

/* Slave i (0-based) dies at once (SIGKILL). Its tasks keep running as
 * orphans only if they outlive it; the kit does not reap them. */
int agora_testkit_kill_slave(struct agora_testkit *k, int i);
/* Start slave i again with its work directory (it recovers its
 * checkpointed tasks) and wait until it serves. */
int agora_testkit_start_slave(struct agora_testkit *k, int i);
/* Partition slave i from the cluster (SIGSTOP): its process and tasks stay,
 * its connections stay open, it answers nothing. */
int agora_testkit_partition_slave(struct agora_testkit *k, int i);
/* End the partition (SIGCONT): the slave resumes and re-registers. */
int agora_testkit_heal_slave(struct agora_testkit *k, int i);
/* The pid of slave i (0 when not running), e.g. to check its tasks. */
int agora_testkit_slave_pid(const struct agora_testkit *k, int i);

/* Wait until cond(ctx) returns true, calling it about every 10 ms: 0, or
 * -1 after timeout_ms. cond runs on the calling thread. */
int agora_testkit_wait(struct agora_testkit *k, bool (*cond)(void *ctx), void *ctx,
                       unsigned timeout_ms);
/* Wait until the master reports exactly n active (connected) slaves. */
int agora_testkit_wait_slaves(struct agora_testkit *k, int n, unsigned timeout_ms);
/* GET /master/state: the JSON text (caller frees), NULL if the master does
 * not answer within 2 s. */
char *agora_testkit_master_state(struct agora_testkit *k);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif

#endif
