/*
 * contender: leader election in ZooKeeper for any daemon. A contender
 * creates one ephemeral sequential znode <dir>/<prefix>N holding its
 * payload; the lowest N leads. Masters use prefix "json.info_" and their
 * MasterInfo JSON (Mesos' layout); Pacer its own path and prefix.
 *
 *   CONNECTING --znode created--> STANDBY --lowest is ours--> LEADING
 *        ^                           |                           |
 *        +---- session EXPIRED ------+                           v
 *                                  DEPOSED <-- session LOST/EXPIRED,
 *                                              the lowest is not ours
 *
 * contender_set_state() is the one place the state changes; it logs and
 * calls on_state. DEPOSED is final: the owner stops leading at once (a
 * master exits for its supervisor to restart it). A standby whose session
 * expired contends again on the new session. "Ours" compares payloads too,
 * so a znode duplicated by a create retried after a connection loss still
 * counts as ours: payloads must differ between contenders (a master's
 * carries its id). The contender holds a reference on the session; freeing
 * it deletes its znode only when the session closes (zk_free).
 */
#ifndef AGORA_CONTENDER_H
#define AGORA_CONTENDER_H

#include <stddef.h>

struct contender;
struct zk;

enum contender_state {
    CONTENDER_CONNECTING, /* no znode yet */
    CONTENDER_STANDBY,    /* our znode stands; another (or none yet) leads */
    CONTENDER_LEADING,    /* ours is the lowest */
    CONTENDER_DEPOSED,    /* was leading, may not any more (final) */
};
const char *contender_state_name(enum contender_state st);

typedef void (*contender_fn)(struct contender *c, enum contender_state st, void *arg);

/* Contend under dir with payload data[0..len). on_state may be NULL. */
struct contender *contender_new(struct zk *zk, const char *dir, const char *prefix,
                                const char *data, size_t len, contender_fn on_state, void *arg);
/* No callback runs afterwards. */
void contender_free(struct contender *c);
enum contender_state contender_state(const struct contender *c);
/* Our znode's name, or NULL while there is none. */
const char *contender_name(const struct contender *c);

#endif
