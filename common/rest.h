/*
 * rest: the REST layer over http_server — static route tables with path
 * parameters, one dispatcher, one error formatter per server, media-type
 * negotiation, query helpers, and the "leader only" route flag.
 *
 * A daemon describes its endpoints once, in one file (master/routes.c,
 * slave/routes.c), as a table of struct rest_route, and hands it to
 * rest_server_attach(). Patterns are '/'-separated segments: a literal, a
 * named parameter "{name}" (one segment) or a greedy parameter "{name*}"
 * (one or more segments, for ids that contain slashes). See
 * docs/internals/rest.md for the precedence rules.
 *
 * Handlers get a struct rest_req (path parameters, the request, the route's
 * flags, the server's argument) and answer exactly once, with http_reply*()
 * or rest_error() or by starting a stream (http_stream_start). Errors of
 * every kind go through the server's formatter.
 */
#ifndef AGORA_REST_H
#define AGORA_REST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct http_server;
struct evhttp_request;
struct rest_server;
struct rest_req;

enum rest_flags {
    REST_LEADER_ONLY = 1 << 0, /* not leading: 307 to the leader, or 503 */
    REST_JSON_BODY = 1 << 1,   /* decode the body as JSON into rq->json (400 if bad) */
    /* Which authentication surface a route is on (rest_server_set_auth
     * turns each on): Mesos's --authenticate_http_readonly /
     * _readwrite, --authenticate_frameworks, --authenticate_agents. A
     * route on none (health, redirects) is never authenticated. */
    REST_AUTH_READONLY = 1 << 2,
    REST_AUTH_READWRITE = 1 << 3,
    REST_AUTH_FRAMEWORK = 1 << 4,
    REST_AUTH_AGENT = 1 << 5,
};
#define REST_AUTH_ALL \
    (REST_AUTH_READONLY | REST_AUTH_READWRITE | REST_AUTH_FRAMEWORK | REST_AUTH_AGENT)

typedef void (*rest_handler_fn)(struct rest_req *rq);

struct rest_route {
    const char *method; /* "GET", "POST", ...; HEAD falls back to GET */
    const char *pattern;
    rest_handler_fn fn;
    unsigned flags; /* enum rest_flags */
    /* Media types the request body may have (NULL-terminated), checked
     * with rest_media_is before the handler runs: anything else is 415 from
     * the formatter. NULL: any (or none). */
    const char *const *consumes;
};

#define REST_MAX_PARAMS 8

struct rest_param {
    const char *name; /* points into the route's pattern, not NUL-terminated */
    size_t name_len;
    const char *value; /* NUL-terminated, owned by the dispatcher */
};

struct rest_req {
    struct evhttp_request *req;
    struct rest_server *server;
    const struct rest_route *route;
    void *arg;        /* the server's argument (the daemon) */
    const char *path; /* decoded, as sent (params are slash-collapsed) */
    struct rest_param params[REST_MAX_PARAMS];
    int nparams;
    json_t *json; /* REST_JSON_BODY: the decoded body (borrowed; freed after the handler) */
    int consumed; /* index in route->consumes of the body's type; -1 without consumes */
    /* The authenticated principal (borrowed from the credentials), NULL
     * when the route's surface is not authenticated. */
    const char *principal;
};

/* Formats an error body: returns a malloc'd body (the caller frees) and
 * sets *content_type to a static string. details may be NULL. */
typedef char *(*rest_format_fn)(int code, const char *message, const json_t *details,
                                const char **content_type);
/* Is this daemon leading? When not, set *leader to "host:port" of the
 * leader (static or owned by the daemon) or NULL when none is known. */
typedef bool (*rest_leader_fn)(void *arg, const char **leader_host, int *leader_port);

/* Route every request of http through table (n entries, kept by
 * reference: a static table). arg goes to handlers as rq->arg. format NULL:
 * rest_format_text. The rest server is freed with rest_server_free. */
struct rest_server *rest_server_attach(struct http_server *http, const struct rest_route *table,
                                       size_t n, void *arg, rest_format_fn format);
void rest_server_free(struct rest_server *rs);
void rest_server_set_leader(struct rest_server *rs, rest_leader_fn fn);
/* Authenticate requests to routes whose flags have any bit of surfaces
 * (REST_AUTH_*) with HTTP Basic against creds (borrowed; common/auth.h):
 * anything else is 401 with WWW-Authenticate: Basic realm="realm", and
 * the body never says whether the principal or the secret was wrong.
 * Counted in agora_http_auth_failures_total. */
struct auth_creds;
void rest_server_set_auth(struct rest_server *rs, unsigned surfaces, const struct auth_creds *creds,
                          const char *realm);
/* Also accept readonly (borrowed) on REST_AUTH_READONLY routes; one of
 * them on any other authenticated route is 403 (it may only read). */
void rest_server_set_auth_readonly(struct rest_server *rs, const struct auth_creds *readonly);
/* Answer REST_LEADER_ONLY routes of a non-leader by proxying the request
 * to the leader (common/http_proxy.h) instead of a 307; the answer gets
 * the header "leader_header: host:port" when leader_header is not NULL
 * (Marathon's X-Marathon-Leader). No leader known: 503 as before. */
struct event_base;
void rest_server_set_proxy(struct rest_server *rs, struct event_base *base,
                           const char *leader_header);

/* Serve the built-in files of assets (static_assets.h) under prefix ("/"
 * for the root, or "/ui"), for GET and HEAD requests that no route of the
 * table matches; assets is kept by reference (a generated table). flags:
 * REST_LEADER_ONLY and REST_AUTH_* surfaces, as for a route (credentials
 * are checked, then the leadership, once the file is found). At most REST_MAX_MOUNTS mounts; the longest
 * matching prefix serves. Answers: 200 with the file's Content-Type, its
 * ETag, "Cache-Control: no-cache" (every use revalidates, so a new binary
 * is seen at once) and X-Content-Type-Options: nosniff, HTML pages with a
 * same-origin Content-Security-Policy; 304 when If-None-Match matches;
 * 301 from "/ui" to "/ui/"; 405 for other methods on a file; 404 through
 * the formatter for anything else, "." and ".." segments included. */
#define REST_MAX_MOUNTS 4
struct static_assets;
void rest_static_mount(struct rest_server *rs, const char *prefix,
                       const struct static_assets *assets, unsigned flags);

/* The text formatter: "message\n", text/plain (Mesos's bodies). */
char *rest_format_text(int code, const char *message, const json_t *details,
                       const char **content_type);
/* Marathon's {"message": ..., "details": [...]}, application/json. */
char *rest_format_json(int code, const char *message, const json_t *details,
                       const char **content_type);

/* Answer an error through the server's formatter. */
void rest_error(struct rest_req *rq, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void rest_error_details(struct rest_req *rq, int code, const json_t *details, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Value of the path parameter name, NULL if the route has none. */
const char *rest_param(const struct rest_req *rq, const char *name);

/* ----------------------------------------------------- pure helpers */

/* Match path (already decoded) against one pattern. On a match fill
 * params (values point into buf, which must hold strlen(path) + 1 +
 * REST_MAX_PARAMS bytes) and return the match's score (higher wins), else
 * -1. Repeated slashes in path are ignored. */
int rest_pattern_match(const char *pattern, const char *path, struct rest_param *params,
                       int *nparams, char *buf);

enum rest_match_result { REST_MATCH_OK, REST_MATCH_NOT_FOUND, REST_MATCH_NO_METHOD };
/* Choose the route of table for method and path. OK: *route and params
 * set. NO_METHOD: allow (size allow_len) lists the methods of the path. */
enum rest_match_result rest_table_match(const struct rest_route *table, size_t n,
                                        const char *method, const char *path,
                                        const struct rest_route **route, struct rest_param *params,
                                        int *nparams, char *buf, char *allow, size_t allow_len);

/* Does Content-Type ct name type ("application/json"), whatever its
 * parameters? Case-insensitive; NULL ct never matches. */
bool rest_media_is(const char *ct, const char *type);
/* Pick one of offers (n media types, in the server's preference order)
 * for the Accept header value accept (NULL or empty: offers[0]). Honours
 * q-values (q=0 refuses), "type/ *" and "* / *" ranges (written without
 * the space) and parameters (one refuses only an offer with the same
 * parameter set to another value); the most specific range decides a
 * type's q. Returns the index or -1 (406). */
int rest_negotiate(const char *accept, const char *const *offers, size_t n);

/* Query string helpers. query is the raw (encoded) query, may be NULL.
 * rest_query_get returns the nth (0-based) value of key, decoded (caller
 * frees), or NULL. */
char *rest_query_get(const char *query, const char *key, size_t nth);
/* Count of values for key (repeatable keys: embed=a&embed=b). */
size_t rest_query_count(const char *query, const char *key);
/* Booleans true/True/1 and false/False/0; absent: def. -1 with *err. */
int rest_query_bool(const char *query, const char *key, bool def, bool *out, char **err);
/* Integers in [min, max]; absent: def. -1 with *err naming key and value. */
int rest_query_int(const char *query, const char *key, long long min, long long max, long long def,
                   long long *out, char **err);
/* The raw query of a request, or NULL. */
const char *rest_req_query(const struct rest_req *rq);

/* Standard handlers: /health (200, empty text) and /metrics (Prometheus
 * text of metrics_render()). */
void rest_handle_health(struct rest_req *rq);
void rest_handle_metrics(struct rest_req *rq);

#endif
