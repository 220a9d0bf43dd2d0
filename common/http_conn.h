/*
 * http_conn: which connections an HTTP server of this process admits, and
 * how long a request may take to arrive. Internal to http_server.c (the
 * daemons see only the flags, http.h's http_server_set_limits and
 * http_stream_set_registered).
 *
 * Admission (process-wide, as the file limit is): every accepted
 * connection counts against a global cap and against its peer address's
 * cap; a reserve of the global cap is kept for "registered" peers, the
 * addresses from which a slave's or a framework's stream is open (or was,
 * within HTTP_CONN_REGISTERED_GRACE). Deadline: a request must arrive in
 * full (line, headers, body) within the body timeout of its first byte.
 * See http_conn.c for why and how.
 */
#ifndef AGORA_HTTP_CONN_H
#define AGORA_HTTP_CONN_H

#include <stdbool.h>

struct bufferevent;
struct event_base;
struct evhttp_connection;

/* One server's admission of new connections. */
struct http_admit;
struct http_admit *http_admit_new(struct event_base *base, int port);
/* Connections already admitted live on; pending ones are dropped. */
void http_admit_free(struct http_admit *a);
/* evhttp just made bev for a connection it accepted (its bevcb): the
 * connection is admitted or refused within this loop iteration. */
void http_admit_bev(struct http_admit *a, struct bufferevent *bev);

/* An admitted connection, NULL for one evhttp made without us. */
struct http_conn;
struct http_conn *http_conn_of(struct evhttp_connection *evcon);
/* Its request was read completely and dispatched: no deadline until the
 * client sends more. */
void http_conn_request_in(struct http_conn *c);
/* The connection carries a stream from now on: never a deadline again.
 * on_close replaces evhttp's close callback (which the connection's
 * accounting owns): it runs once when the connection goes; NULL removes
 * it. registered: the peer is a registered slave or framework. */
typedef void (*http_conn_close_fn)(struct evhttp_connection *evcon, void *arg);
void http_conn_set_stream(struct http_conn *c, http_conn_close_fn on_close, void *arg);
void http_conn_set_close(struct http_conn *c, http_conn_close_fn on_close, void *arg);
void http_conn_set_registered(struct http_conn *c);

#endif
