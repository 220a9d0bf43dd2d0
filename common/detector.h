/*
 * detector: follows a leader group in ZooKeeper — the children of a folder
 * named <prefix><sequence> (ephemeral sequential znodes made by contenders,
 * common/contender.h) — and hands out the name and payload of the one with
 * the lowest sequence whenever it changes. Usable by any daemon: masters
 * use prefix "json.info_" (Mesos' layout, so Mesos tools find the leader),
 * Pacer its own path and prefix.
 *
 * The folder is created when missing, so the watch can be set before anyone
 * contends. "No leader" (name NULL) is reported when the group is empty and
 * when the session is LOST or EXPIRED (nothing can be known then). Calls
 * come on the loop; a detector holds a reference on the session (zk_ref).
 */
#ifndef AGORA_DETECTOR_H
#define AGORA_DETECTOR_H

#include <stddef.h>

struct detector;
struct zk;

/* name is the leader's znode ("json.info_0000000003") or NULL; data is its
 * payload; both only valid during the call. */
typedef void (*detector_fn)(struct detector *d, const char *name, const char *data, size_t len,
                            void *arg);

/* Follow <dir>/<prefix>N. on_leader may be NULL. Never fails. */
struct detector *detector_new(struct zk *zk, const char *dir, const char *prefix,
                              detector_fn on_leader, void *arg);
/* No callback runs afterwards. */
void detector_free(struct detector *d);
/* The leader's znode name reported last, or NULL. */
const char *detector_leader(const struct detector *d);
/* The data version of that znode when it was read (-1 while none): what
 * a conditional delete of exactly that candidacy takes (liveness.h). */
int detector_leader_version(const struct detector *d);
/* Sequence of a <prefix>N child name; -1 for other names. */
long long detector_sequence(const char *prefix, const char *name);

#endif
