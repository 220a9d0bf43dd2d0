/*
 * sse: Server-Sent Events (text/event-stream), both ends.
 *
 * Server: a hub broadcasts events to a set of subscribers, each an
 * http_stream. It sends comment heartbeats every heartbeat_secs and drops
 * (with a log line) a subscriber whose unsent bytes (queued this turn plus
 * on its socket) would exceed max_pending: a slow consumer is never
 * buffered without limit.
 *
 * Client: an incremental parser in the style of the RecordIO decoder and
 * following the WHATWG EventSource rules: feed it whatever bytes arrived
 * and it calls back once per dispatched event; any split of the input
 * gives the same events. An event (or a line) over max_event bytes is an
 * error; after an error the parser refuses further input.
 */
#ifndef AGORA_SSE_H
#define AGORA_SSE_H

#include <stdbool.h>
#include <stddef.h>

struct event_base;
struct evbuffer;
struct evhttp_request;

/* ---------------------------------------------------------------- framing */

/* Append one event to out: "event: <type>\n" (when type is non-NULL and
 * non-empty), "id: <id>\n" (when id is non-NULL), one "data: " line per
 * line of data (split at CRLF, LF or CR; at least one line), then the
 * empty line. -1 (nothing appended) when type or id contains CR or LF. */
int sse_format(struct evbuffer *out, const char *type, const char *id, const char *data,
               size_t len);

/* ---------------------------------------------------------------- server */

struct sse_hub;
struct sse_client;

/* Optional per-subscriber filter: true to send this event to c. */
typedef bool (*sse_filter_fn)(struct sse_client *c, const char *type, const char *data, size_t len,
                              void *arg);
/* The subscriber is gone (reason: "peer closed", "slow consumer",
 * "hub freed"); called once unless sse_client_close was called; c is freed
 * right after it returns. It must not add or close other subscribers. */
typedef void (*sse_close_fn)(struct sse_client *c, const char *reason, void *arg);

/* heartbeat_secs: period of the ": heartbeat" comments (0: none).
 * max_pending: bytes a subscriber may have queued and unsent before it is
 * dropped. */
struct sse_hub *sse_hub_new(struct event_base *base, double heartbeat_secs, size_t max_pending);
/* Closes every subscriber (their on_close runs with "hub freed"). */
void sse_hub_free(struct sse_hub *h);

/* Answer req with a 200 text/event-stream (Cache-Control: no-cache) and
 * add it to the hub. filter and on_close may be NULL; arg is the caller's.
 * NULL when the peer is already gone (req is then freed). */
struct sse_client *sse_hub_add(struct sse_hub *h, struct evhttp_request *req, sse_filter_fn filter,
                               sse_close_fn on_close, void *arg);
/* Send one event to every subscriber whose filter accepts it; slow ones
 * are dropped. Returns the number of subscribers it was queued for.
 *
 * Events are formatted once and coalesced: everything sent in one turn of
 * the event loop (broadcasts, sse_client_send, heartbeats) goes out at the
 * end of that turn as one HTTP chunk per subscriber, in order. Subscribers
 * that took all of the turn's events share one immutable, refcounted
 * chunk (no copy per subscriber); the others get their own. A filter may
 * call sse_client_send(c) (its variant of the event, queued before it)
 * but must not broadcast. */
int sse_hub_broadcast(struct sse_hub *h, const char *type, const char *id, const char *data,
                      size_t len);
/* Send one event (or, with sse_client_send_raw, preformatted bytes) to one
 * subscriber. 0 queued; -1 bad type/id or the subscriber was dropped (its
 * on_close has then run and c is freed). */
int sse_client_send(struct sse_client *c, const char *type, const char *id, const char *data,
                    size_t len);
int sse_client_send_raw(struct sse_client *c, const char *bytes, size_t len);
/* End this subscriber's stream; on_close does not run. */
void sse_client_close(struct sse_client *c);
size_t sse_hub_count(const struct sse_hub *h);
/* Subscribers dropped for falling behind, since the hub was created. */
unsigned long sse_hub_dropped(const struct sse_hub *h);
/* Chunks written to subscribers since the hub was created, and how many
 * of them were references to a turn's shared chunk (either may be NULL). */
void sse_hub_stats(const struct sse_hub *h, unsigned long *chunks, unsigned long *shared);

/* ---------------------------------------------------------------- parser */

struct sse_event {
    const char *type; /* the event: field, "message" when absent */
    const char *data; /* data: lines joined with '\n', NUL-terminated */
    size_t len;       /* bytes of data */
    const char *id;   /* the last event id seen on the stream ("" if none) */
};

/* Called once per dispatched event; strings valid only during the call.
 * Return 0 to go on, -1 to stop parsing (feed then returns -1). */
typedef int (*sse_event_fn)(const struct sse_event *ev, void *arg);

struct sse_parser;
struct sse_parser *sse_parser_new(size_t max_event);
void sse_parser_free(struct sse_parser *p);
/* 0 ok (zero or more events delivered); -1 when an event or a line
 * exceeds max_event, after an earlier error, or when the callback stopped;
 * *err (if non-NULL) then gets a message the caller frees. */
int sse_parser_feed(struct sse_parser *p, const char *data, size_t len, sse_event_fn cb, void *arg,
                    char **err);
/* Last valid retry: value in milliseconds, -1 when none was seen. */
long sse_parser_retry(const struct sse_parser *p);
/* The last event id (the Last-Event-ID to send on reconnect), "" if none. */
const char *sse_parser_last_id(const struct sse_parser *p);

#endif
