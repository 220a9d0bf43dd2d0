/*
 * master_follow: "which master do I talk to", for every client of the
 * masters (agora-slave, libagora-scheduler, the bench). --master is either
 * a list of HOST:PORT candidates (tried in turn by the caller) or
 * zk://hosts/path, in which case a ZooKeeper session of its own (nothing
 * ephemeral) runs a detector on <path>/json.info_* and the owner is told
 * the leading master's address whenever the leader changes (host NULL: no
 * leader known; the caller disconnects and waits).
 *
 * Parsing and starting are separate so that a library can check its
 * configuration at construction and open no connection before it is
 * started (libagora-scheduler's agora_scheduler_start).
 */
#ifndef AGORA_MASTER_FOLLOW_H
#define AGORA_MASTER_FOLLOW_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct master_follow;

/* The leader changed: host/port of the new one (only valid during the
 * call), host NULL when none is known; name is its znode. */
typedef void (*master_follow_fn)(struct master_follow *f, const char *host, int port,
                                 const char *name, void *arg);

/* Parse "zk://h1:p1,h2:p2/path" or "HOST[:PORT][,HOST[:PORT]...]" (port
 * 5050 when omitted). NULL with *err naming the value. Connects nothing. */
struct master_follow *master_follow_new(const char *master, char **err);
/* zk://: open the session and follow (session_timeout in seconds); a list
 * of candidates needs nothing. 0, or -1 with *err. */
int master_follow_start(struct master_follow *f, struct event_base *base, double session_timeout,
                        master_follow_fn on_leader, void *arg, char **err);
/* Closes the session; no callback runs afterwards. */
void master_follow_free(struct master_follow *f);

/* True for zk://. */
bool master_follow_zk(const struct master_follow *f);
/* zk://: the leader's address, false while none is known. */
bool master_follow_leader(const struct master_follow *f, const char **host, int *port);
/* zk://, after master_follow_start: every master contending now (the
 * <path>/json.info_N children, lowest N, the leader, first), for an
 * operator's view of the quorum. cb runs once per master (host NULL when
 * its MasterInfo cannot be read), then once with name NULL (rc 0, or -1
 * when the children could not be listed). Calls come on the loop; strings
 * are only valid during the call; master_follow_free drops a listing in
 * flight (cb does not run). -1 when nothing could be asked (not zk://,
 * not started). */
typedef void (*master_follow_list_fn)(const char *name, const char *host, int port, int rc,
                                      void *arg);
int master_follow_list(struct master_follow *f, master_follow_list_fn cb, void *arg);

/* HOST:PORT lists: how many, and the i-th (0 for zk://). */
size_t master_follow_count(const struct master_follow *f);
void master_follow_candidate(const struct master_follow *f, size_t i, const char **host, int *port);

#endif
