/*
 * http_proxy: forward a request received by an http_server to another
 * server and relay its answer — how a standby (Pacer without the
 * leadership) answers every REST call through the leader, as Marathon's
 * standbys do.
 *
 * http_proxy_forward sends method, path and query, body, and the request
 * headers that matter to a REST API (Content-Type, Accept,
 * Authorization), then answers the original request with the upstream
 * status, body, Content-Type, Location and the headers named in pass
 * (NULL-terminated), plus add. A long-lived answer (text/event-stream,
 * chunked) is relayed as it arrives, until either side closes. When the
 * upstream cannot be reached the request gets 503 through fail (the
 * server's error formatter), or a plain 503 when fail is NULL.
 */
#ifndef AGORA_HTTP_PROXY_H
#define AGORA_HTTP_PROXY_H

#include <stddef.h>

#include "http.h"

struct event_base;
struct evhttp_request;

typedef void (*http_proxy_fail_fn)(struct evhttp_request *req, int code, const char *message,
                                   void *arg);

void http_proxy_forward(struct event_base *base, struct evhttp_request *req, const char *host,
                        int port, const char *const *pass, const struct http_header *add,
                        size_t nadd, double timeout_secs, http_proxy_fail_fn fail, void *arg);

/* The same to uri (path and query) instead of the request's own, without
 * extra headers; what names the upstream in the 503 ("slave S1"). How the
 * master's UI reads a slave's sandbox through the master (master/ui.c).
 * The client's Authorization goes along and the upstream's
 * WWW-Authenticate comes back: the upstream authenticates and authorizes
 * the client itself (a slave's --authenticate_http_readonly and
 * access_sandboxes apply to the operator, not to the relay). */
void http_proxy_forward_uri(struct event_base *base, struct evhttp_request *req, const char *host,
                            int port, const char *uri, const char *what, double timeout_secs,
                            http_proxy_fail_fn fail, void *arg);

#endif
