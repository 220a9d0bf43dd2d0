/*
 * liveness: a standby's one connection to the leader's process, so that a
 * leader whose process died on a host that is still up is replaced at once
 * instead of after its ZooKeeper session timeout.
 *
 * The standby (liveness_follow) opens GET <route>?znode=<name> on the
 * address the leader's znode advertises; the leader (liveness_serve)
 * answers 200 with a chunked stream that never ends, and only for its own
 * candidacy's name. When that established stream ends by EOF or reset —
 * the kernel closes a dead process's sockets — the standby deletes the
 * leader's znode, by its exact name and version, and the next candidate is
 * elected by the contender recipe. A connection that times out, is refused
 * or never got its 200 changes nothing: the session timeout decides, as
 * without liveness (a frozen or cut-off leader keeps its socket open, so
 * no EOF ever comes from it).
 *
 *   IDLE --follow--> CONNECTING --200--> ESTABLISHED --EOF/reset--> DELETING --> DONE
 *                     ^      |                 |
 *                     |      v  timeout, refused, non-2xx, other end
 *                     +--- WAITING (0.5 s) <---+
 *
 * liveness_set_state() is the one place the state changes; it logs.
 */
#ifndef AGORA_LIVENESS_H
#define AGORA_LIVENESS_H

struct event_base;
struct evhttp_request;
struct liveness;
struct zk;

enum liveness_state {
    LIVENESS_IDLE,        /* no leader followed (none known, or we lead) */
    LIVENESS_CONNECTING,  /* request sent, no 200 yet */
    LIVENESS_ESTABLISHED, /* the leader's process answered; stream open */
    LIVENESS_WAITING,     /* not established; retry after a pause */
    LIVENESS_DELETING,    /* the stream ended by EOF/reset: deleting its znode */
    LIVENESS_DONE,        /* znode deleted (or gone); wait for the next leader */
};
const char *liveness_state_name(enum liveness_state st);

/* Follow leaders of group dir (their znodes are <dir>/<name>) whose
 * processes serve route (e.g. "/internal/alive"). Holds a session ref. */
struct liveness *liveness_new(struct event_base *base, struct zk *zk, const char *dir,
                              const char *route);
/* The leader is znode name (version) served at host:port; name NULL: none
 * (or we lead). Same name as now: nothing changes. */
void liveness_follow(struct liveness *l, const char *name, int version, const char *host, int port);
void liveness_free(struct liveness *l);
enum liveness_state liveness_state(const struct liveness *l);

/* The leader's side of route: a never-ending stream when ?znode= is
 * own_name (our candidacy, NULL while none), else 404. */
void liveness_serve(struct evhttp_request *req, const char *own_name);
/* Shutdown, before freeing an HTTP server that may still hold served
 * streams while writes of ours may be in flight: their sockets then stay
 * open until the process exits (after its session closed), so standbys
 * see no EOF before our last write and the session's close. */
void liveness_linger(void);

#endif
