/*
 * rest: route tables, the one dispatcher, error formatting, negotiation
 * and query helpers (see rest.h and docs/internals/rest.md).
 *
 * Matching works on the decoded path without copying it: segments are
 * compared in place, and only parameter values are copied, into a buffer
 * on the dispatcher's stack (heap only for paths over REST_STACK_PATH).
 */
#include "rest.h"
#include "http_proxy.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/http.h>

#include "auth.h"
#include "jwt.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "static_assets.h"

#define REST_STACK_PATH 1024

struct rest_server {
    struct http_server *http;
    const struct rest_route *table;
    size_t n;
    void *arg;
    rest_format_fn format;
    rest_leader_fn leader;
    struct event_base *proxy_base; /* non-NULL: proxy to the leader instead of 307 */
    char *proxy_header;            /* added to proxied answers: "<name>: host:port" */
    struct rest_mount {
        char *prefix; /* "/" or "/ui": no trailing slash but for the root */
        const struct static_assets *assets;
        unsigned flags;
    } mounts[REST_MAX_MOUNTS];
    size_t nmounts;
    unsigned auth_surfaces; /* REST_AUTH_* bits that need credentials */
    const struct auth_creds *creds;
    const struct auth_creds *creds_ro; /* read-only users, NULL: none */
    char *auth_challenge;              /* WWW-Authenticate value */
    char *bearer_challenge;            /* the second one, with --jwt_secret_key */
};

/* ------------------------------------------------------------ patterns */

static const char *skip_slashes(const char *p)
{
    while (*p == '/')
        p++;
    return p;
}

static size_t seg_len(const char *p)
{
    const char *e = strchr(p, '/');
    return e ? (size_t)(e - p) : strlen(p);
}

/* Copy path[from, to) into buf at *pos with repeated slashes collapsed. */
static const char *copy_value(const char *from, const char *to, char *buf, size_t *pos)
{
    char *out = buf + *pos, *o = out;

    for (const char *p = from; p < to; p++) {
        if (*p == '/' && o > out && o[-1] == '/')
            continue;
        *o++ = *p;
    }
    while (o > out && o[-1] == '/')
        o--;
    *o++ = '\0';
    *pos += (size_t)(o - out);
    return out;
}

static int match_from(const char *pat, const char *path, struct rest_param *params, int *np,
                      char *buf, size_t pos, int score)
{
    pat = skip_slashes(pat);
    path = skip_slashes(path);
    if (*pat == '\0')
        return *path == '\0' ? score : -1;
    if (*path == '\0')
        return -1;
    size_t plen = seg_len(pat), slen = seg_len(path);
    if (pat[0] == '{' && pat[plen - 1] == '}') {
        bool greedy = plen >= 3 && pat[plen - 2] == '*';
        if (*np >= REST_MAX_PARAMS)
            return -1;
        struct rest_param *pr = &params[*np];
        pr->name = pat + 1;
        pr->name_len = plen - 2 - (greedy ? 1 : 0);
        if (!greedy) {
            pr->value = copy_value(path, path + slen, buf, &pos);
            (*np)++;
            int r = match_from(pat + plen, path + slen, params, np, buf, pos, score + 2);
            if (r < 0)
                (*np)--;
            return r;
        }
        /* Greedy: the longest run of segments that lets the rest match.
         * The rest is tried first, its values placed after room for this
         * one, which is copied once it is known: copying it per attempt made
         * a path of many segments quadratic (fuzz_http spent 80 % here). */
        const char *end = path + strlen(path);
        while (end > path) {
            (*np)++;
            int r = match_from(pat + plen, end, params, np, buf, pos + (size_t)(end - path) + 1,
                               score + 1);
            if (r >= 0) {
                pr->value = copy_value(path, end, buf, &pos);
                return r;
            }
            (*np)--;
            /* Back to the previous segment boundary. */
            while (end > path && end[-1] == '/')
                end--;
            while (end > path && end[-1] != '/')
                end--;
            while (end > path && end[-1] == '/')
                end--;
        }
        return -1;
    }
    if (plen != slen || memcmp(pat, path, plen) != 0)
        return -1;
    return match_from(pat + plen, path + slen, params, np, buf, pos, score + 16);
}

int rest_pattern_match(const char *pattern, const char *path, struct rest_param *params,
                       int *nparams, char *buf)
{
    *nparams = 0;
    return match_from(pattern, path, params, nparams, buf, 0, 0);
}

static void allow_add(char *allow, size_t len, const char *m)
{
    size_t ml = strlen(m);
    const char *p = allow;

    while ((p = strstr(p, m)) != NULL) {
        if ((p == allow || p[-1] == ' ') && (p[ml] == '\0' || p[ml] == ','))
            return;
        p += ml;
    }
    if (strlen(allow) + ml + 3 >= len)
        return;
    if (allow[0])
        strcat(allow, ", ");
    strcat(allow, m);
}

enum rest_match_result rest_table_match(const struct rest_route *table, size_t n,
                                        const char *method, const char *path,
                                        const struct rest_route **route, struct rest_param *params,
                                        int *nparams, char *buf, char *allow, size_t allow_len)
{
    const struct rest_route *best = NULL, *best_get = NULL;
    int best_score = -1, get_score = -1;
    bool known = false;
    struct rest_param tmp[REST_MAX_PARAMS];
    int ntmp;
    bool head = strcmp(method, "HEAD") == 0;

    if (allow_len)
        allow[0] = '\0';
    /* First pass: the best score per method; the winner's params are
     * recomputed into buf afterwards (buf is shared by every attempt). */
    for (size_t i = 0; i < n; i++) {
        int sc = rest_pattern_match(table[i].pattern, path, tmp, &ntmp, buf);
        if (sc < 0)
            continue;
        known = true;
        if (strcmp(table[i].method, method) == 0) {
            if (sc > best_score) {
                best_score = sc;
                best = &table[i];
            }
        } else {
            if (head && strcmp(table[i].method, "GET") == 0 && sc > get_score) {
                get_score = sc;
                best_get = &table[i];
            }
            if (allow_len)
                allow_add(allow, allow_len, table[i].method);
        }
    }
    if (best == NULL)
        best = best_get;
    if (best == NULL)
        return known ? REST_MATCH_NO_METHOD : REST_MATCH_NOT_FOUND;
    rest_pattern_match(best->pattern, path, params, nparams, buf);
    *route = best;
    return REST_MATCH_OK;
}

const char *rest_param(const struct rest_req *rq, const char *name)
{
    size_t len = strlen(name);

    for (int i = 0; i < rq->nparams; i++)
        if (rq->params[i].name_len == len && memcmp(rq->params[i].name, name, len) == 0)
            return rq->params[i].value;
    return NULL;
}

/* ------------------------------------------------------------ media types */

static const char *skip_ws(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* Length of the token at p up to one of stop (or NUL), trailing blanks cut. */
static size_t token_len(const char *p, const char *stop)
{
    size_t n = strcspn(p, stop);

    while (n && (p[n - 1] == ' ' || p[n - 1] == '\t'))
        n--;
    return n;
}

bool rest_media_is(const char *ct, const char *type)
{
    size_t n = strlen(type);

    if (ct == NULL)
        return false;
    ct = skip_ws(ct);
    return token_len(ct, ";,") == n && strncasecmp(ct, type, n) == 0;
}

/* Does the range's parameter "name=value" (len bytes at p) allow the
 * offer? Only when the offer has that parameter with another value does it
 * refuse: "application/json; charset=utf-8" still gets "application/json"
 * (as before the REST layer, and as clients expect), while
 * "text/plain; version=1.0" does not get "text/plain; version=0.0.4". */
static bool offer_allows_param(const char *offer, const char *p, size_t len)
{
    const char *eq = memchr(p, '=', len);
    size_t nl = eq ? (size_t)(eq - p) : len;
    const char *o = strchr(offer, ';');

    while (nl && (p[nl - 1] == ' ' || p[nl - 1] == '\t'))
        nl--;
    while (o) {
        o = skip_ws(o + 1);
        size_t ol = token_len(o, ";");
        const char *oeq = memchr(o, '=', ol);
        size_t onl = oeq ? (size_t)(oeq - o) : ol;
        while (onl && (o[onl - 1] == ' ' || o[onl - 1] == '\t'))
            onl--;
        if (onl == nl && strncasecmp(o, p, nl) == 0)
            return ol == len && strncasecmp(o, p, len) == 0;
        o = strchr(o, ';');
    }
    return true;
}

/* Specificity (0 none, 1 * / *, 2 type/ *, 3 exact, +1 with parameters) of
 * the media range r (len bytes) for offer, and its q in *q (0..1000). */
static int range_matches(const char *r, size_t len, const char *offer, int *q)
{
    size_t tl = token_len(r, ";,");
    size_t ol = token_len(offer, ";");
    const char *slash = memchr(offer, '/', ol);
    size_t major = slash ? (size_t)(slash - offer) : ol;
    int spec;
    bool params = false;

    if (tl > len)
        tl = len;
    if (tl == 3 && memcmp(r, "*/*", 3) == 0)
        spec = 1;
    else if (tl == major + 2 && strncasecmp(r, offer, major) == 0 &&
             memcmp(r + major, "/*", 2) == 0)
        spec = 2;
    else if (tl == ol && strncasecmp(r, offer, ol) == 0)
        spec = 3;
    else
        return 0;
    *q = 1000;
    const char *p = r + tl, *end = r + len;
    while (p < end && *p == ';') {
        p = skip_ws(p + 1);
        size_t pl = token_len(p, ";,");
        if (p + pl > end)
            pl = (size_t)(end - p);
        if (pl >= 2 && (p[0] == 'q' || p[0] == 'Q') && p[1] == '=') {
            double v = strtod(p + 2, NULL);
            /* !(v > 0) also catches "q=nan", which no cast may see. */
            *q = !(v > 0) ? 0 : v > 1 ? 1000 : (int)(v * 1000 + 0.5);
        } else if (pl) {
            if (!offer_allows_param(offer, p, pl))
                return 0;
            params = true;
        }
        p += strcspn(p, ";,");
        if (p > end)
            p = end;
    }
    return spec + (params ? 1 : 0) * 3;
}

int rest_negotiate(const char *accept, const char *const *offers, size_t n)
{
    int best = -1, best_q = 0;

    if (n == 0)
        return -1;
    if (accept == NULL || *skip_ws(accept) == '\0')
        return 0;
    for (size_t i = 0; i < n; i++) {
        int spec = 0, q = 0;
        const char *p = accept;
        while (*p) {
            p = skip_ws(p);
            while (*p == ',')
                p = skip_ws(p + 1);
            if (*p == '\0')
                break;
            size_t len = strcspn(p, ",");
            int rq, s = range_matches(p, len, offers[i], &rq);
            if (s > spec) {
                spec = s;
                q = rq;
            }
            p += len;
        }
        if (spec && q > best_q) {
            best_q = q;
            best = (int)i;
        }
    }
    return best;
}

/* ------------------------------------------------------------ queries */

char *rest_query_get(const char *query, const char *key, size_t nth)
{
    size_t klen = strlen(key);
    const char *p = query;

    while (p && *p) {
        size_t len = strcspn(p, "&");
        size_t kl = strcspn(p, "=&");
        char *rawk = xstrndup(p, kl);
        char *k = evhttp_uridecode(rawk, 1, NULL);
        bool hit = k && strlen(k) == klen && strcmp(k, key) == 0;
        free(k);
        free(rawk);
        if (hit && nth-- == 0) {
            if (kl >= len)
                return xstrdup("");
            char *raw = xstrndup(p + kl + 1, len - kl - 1);
            char *v = evhttp_uridecode(raw, 1, NULL);
            free(raw);
            if (v == NULL)
                return xstrdup("");
            char *out = xstrdup(v);
            free(v);
            return out;
        }
        p += len;
        if (*p == '&')
            p++;
    }
    return NULL;
}

size_t rest_query_count(const char *query, const char *key)
{
    size_t n = 0;
    char *v;

    while ((v = rest_query_get(query, key, n)) != NULL) {
        free(v);
        n++;
    }
    return n;
}

int rest_query_bool(const char *query, const char *key, bool def, bool *out, char **err)
{
    char *v = rest_query_get(query, key, 0);
    int rc = 0;

    *out = def;
    if (v == NULL)
        return 0;
    if (!strcmp(v, "true") || !strcmp(v, "True") || !strcmp(v, "1"))
        *out = true;
    else if (!strcmp(v, "false") || !strcmp(v, "False") || !strcmp(v, "0"))
        *out = false;
    else {
        if (err)
            *err = xasprintf("'%s' must be true or false, got '%s'", key, v);
        rc = -1;
    }
    free(v);
    return rc;
}

int rest_query_int(const char *query, const char *key, long long min, long long max, long long def,
                   long long *out, char **err)
{
    char *v = rest_query_get(query, key, 0), *end;
    long long x;
    int rc = 0;

    *out = def;
    if (v == NULL)
        return 0;
    errno = 0;
    x = strtoll(v, &end, 10);
    if (*v == '\0' || errno || *end != '\0' || x < min || x > max) {
        if (err)
            *err = xasprintf("'%s' must be an integer in [%lld, %lld], got '%s'", key, min, max, v);
        rc = -1;
    } else {
        *out = x;
    }
    free(v);
    return rc;
}

const char *rest_req_query(const struct rest_req *rq)
{
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(rq->req);

    return uri ? evhttp_uri_get_query(uri) : NULL;
}

/* ------------------------------------------------------------ errors */

char *rest_format_text(int code, const char *message, const json_t *details,
                       const char **content_type)
{
    (void)code;
    (void)details;
    *content_type = "text/plain; charset=utf-8";
    return xasprintf("%s\n", message);
}

char *rest_format_json(int code, const char *message, const json_t *details,
                       const char **content_type)
{
    json_t *j = json_pack("{s:s}", "message", message);
    char *out;

    (void)code;
    if (details)
        json_object_set_new(j, "details", json_deep_copy(details));
    out = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    *content_type = "application/json";
    return out ? out : xstrdup("{}");
}

static void rest_verror(struct rest_server *rs, struct evhttp_request *req, int code,
                        const json_t *details, const char *fmt, va_list ap)
{
    char *msg = xvasprintf(fmt, ap);
    const char *ct = NULL;
    char *body = (rs && rs->format ? rs->format : rest_format_text)(code, msg, details, &ct);

    http_reply(req, code, ct, body, strlen(body));
    free(body);
    free(msg);
}

static void rest_server_error(struct rest_server *rs, struct evhttp_request *req, int code,
                              const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static void rest_server_error(struct rest_server *rs, struct evhttp_request *req, int code,
                              const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rest_verror(rs, req, code, NULL, fmt, ap);
    va_end(ap);
}

void rest_error(struct rest_req *rq, int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rest_verror(rq->server, rq->req, code, NULL, fmt, ap);
    va_end(ap);
}

void rest_error_details(struct rest_req *rq, int code, const json_t *details, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    rest_verror(rq->server, rq->req, code, details, fmt, ap);
    va_end(ap);
}

/* ------------------------------------------------------------ dispatch */

/* Not leading: 307 to the leader keeping path and query, or 503. */
static void rest_proxy_fail(struct evhttp_request *req, int code, const char *message, void *arg)
{
    rest_server_error(arg, req, code, "%s", message);
}

void rest_server_set_proxy(struct rest_server *rs, struct event_base *base,
                           const char *leader_header)
{
    rs->proxy_base = base;
    free(rs->proxy_header);
    rs->proxy_header = leader_header ? xstrdup(leader_header) : NULL;
}

static bool rest_leader_check(struct rest_server *rs, struct evhttp_request *req)
{
    const char *host = NULL;
    int port = 0;

    if (rs->leader == NULL || rs->leader(rs->arg, &host, &port))
        return true;
    if (host && rs->proxy_base != NULL) {
        char *hp = xasprintf("%s:%d", host, port);
        struct http_header add = { rs->proxy_header, hp };

        http_proxy_forward(rs->proxy_base, req, host, port, NULL, &add, rs->proxy_header ? 1 : 0,
                           10.0, rest_proxy_fail, rs);
        free(hp);
        return false;
    }
    if (host) {
        const char *uri = evhttp_request_get_uri(req);
        char *loc = xasprintf("//%s:%d%s", host, port, uri && uri[0] == '/' ? uri : "/");
        http_add_header(req, "Location", loc);
        free(loc);
        rest_server_error(rs, req, 307, "Not the leading master; the leader is %s:%d", host, port);
        return false;
    }
    rest_server_error(rs, req, 503, "No leader elected");
    return false;
}

/* The body's Content-Type against route->consumes: true when it is one
 * of them (rq->consumed says which), else 415 naming what is expected. */
static bool rest_consumes_check(struct rest_server *rs, struct rest_req *rq)
{
    const char *ct = http_req_header(rq->req, "Content-Type");
    const char *const *c = rq->route->consumes;
    char expect[256];
    size_t off = 0;

    for (int i = 0; c[i] != NULL; i++) {
        if (rest_media_is(ct, c[i])) {
            rq->consumed = i;
            return true;
        }
        off +=
            (size_t)snprintf(expect + off, off < sizeof(expect) ? sizeof(expect) - off : 0, "%s%s",
                             i == 0     ? ""
                             : c[i + 1] ? ", "
                                        : " or ",
                             c[i]);
        if (off >= sizeof(expect))
            off = sizeof(expect) - 1;
    }
    rest_server_error(rs, rq->req, 415, "Expecting 'Content-Type' of %s, got '%s'", expect,
                      ct ? ct : "");
    return false;
}

/* ------------------------------------------------------------ static files */

static bool rest_auth_check(struct rest_server *rs, struct rest_req *rq);

void rest_static_mount(struct rest_server *rs, const char *prefix,
                       const struct static_assets *assets, unsigned flags)
{
    size_t len = strlen(prefix);

    if (rs->nmounts == REST_MAX_MOUNTS) {
        log_error("rest: more than %d static mounts: %s not mounted", REST_MAX_MOUNTS, prefix);
        return;
    }
    while (len > 1 && prefix[len - 1] == '/')
        len--;
    rs->mounts[rs->nmounts].prefix = xstrndup(prefix, len);
    rs->mounts[rs->nmounts].assets = assets;
    rs->mounts[rs->nmounts].flags = flags;
    rs->nmounts++;
}

/* The mount whose prefix is the longest one path lies under; *rel is
 * the rest of the path (empty for the prefix itself). */
static const struct rest_mount *mount_for(const struct rest_server *rs, const char *path,
                                          const char **rel)
{
    const struct rest_mount *best = NULL;
    size_t best_len = 0;

    for (size_t i = 0; i < rs->nmounts; i++) {
        const char *pre = rs->mounts[i].prefix;
        size_t pl = strcmp(pre, "/") == 0 ? 0 : strlen(pre);
        if (strncmp(path, pre, pl) != 0 || (path[pl] != '\0' && path[pl] != '/'))
            continue;
        if (best == NULL || pl > best_len) {
            best = &rs->mounts[i];
            best_len = pl;
        }
    }
    if (best != NULL)
        *rel = path + best_len;
    return best;
}

/* Answer req from a static mount. false: no mount covers path (the
 * caller answers 404 as for any unknown path). */
static bool rest_static_serve(struct rest_server *rs, struct evhttp_request *req,
                              const char *method, const char *path)
{
    const char *rel = NULL;
    const struct rest_mount *mt = mount_for(rs, path, &rel);
    const struct static_asset *a = NULL;
    bool get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;

    if (mt == NULL)
        return false;
    switch (static_assets_lookup(mt->assets, rel, &a)) {
    case STATIC_FOUND:
        break;
    case STATIC_REFUSED:
        log_warn("rest: refusing static path %s (not a plain file name)", path);
        /* fall through */
    case STATIC_NOT_FOUND:
        rest_server_error(rs, req, 404, "no such path: %s", path);
        return true;
    }
    if (!get) {
        http_add_header(req, "Allow", "GET, HEAD");
        rest_server_error(rs, req, 405, "method %s not allowed on %s", method, path);
        return true;
    }
    /* After the lookup, so that an unknown path stays a 404 everywhere.
     * Credentials first, as for routes: the mount stands for a route. */
    if (mt->flags & rs->auth_surfaces) {
        struct rest_route route = { method, mt->prefix, NULL, mt->flags, NULL };
        struct rest_req rq = {
            .req = req, .server = rs, .route = &route, .arg = rs->arg, .path = path, .consumed = -1
        };
        if (!rest_auth_check(rs, &rq))
            return true;
    }
    if ((mt->flags & REST_LEADER_ONLY) && !rest_leader_check(rs, req))
        return true;
    if (rel[0] == '\0' && (path[0] == '\0' || path[strlen(path) - 1] != '/')) {
        /* "/ui" -> "/ui/": the page's relative URLs need the slash. */
        const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
        const char *q = uri ? evhttp_uri_get_query(uri) : NULL;
        char *loc = xasprintf("%s/%s%s", mt->prefix, q ? "?" : "", q ? q : "");
        http_add_header(req, "Location", loc);
        free(loc);
        http_reply(req, 301, "text/plain", "", 0);
        return true;
    }
    http_add_header(req, "ETag", a->etag);
    http_add_header(req, "Cache-Control", "no-cache");
    http_add_header(req, "X-Content-Type-Options", "nosniff");
    if (strncmp(a->content_type, "text/html", 9) == 0) {
        http_add_header(req, "Content-Security-Policy",
                        "default-src 'self'; img-src 'self' data:; object-src 'none'; "
                        "base-uri 'none'; frame-ancestors 'none'");
        http_add_header(req, "Referrer-Policy", "no-referrer");
    }
    if (static_etag_matches(http_req_header(req, "If-None-Match"), a->etag)) {
        http_reply(req, 304, NULL, "", 0);
        return true;
    }
    http_reply(req, 200, a->content_type, a->data, a->len);
    return true;
}

/* 401 unless the request carries a good credential; sets rq->principal. */
static bool rest_auth_check(struct rest_server *rs, struct rest_req *rq)
{
    const char *h = http_req_header(rq->req, "Authorization");
    const char *bearer = jwt_check_bearer(h); /* NULL unless --jwt_secret_key */
    if (bearer) {
        rq->principal = bearer;
        return true;
    }
    if (auth_check_basic(rs->creds, h, &rq->principal))
        return true;
    if (rs->creds_ro && auth_check_basic(rs->creds_ro, h, &rq->principal)) {
        if (rq->route->flags & REST_AUTH_READONLY)
            return true;
        log_info("http: %s %s from %s: 403 (%s may only read)", http_req_method(rq->req), rq->path,
                 http_req_peer(rq->req), rq->principal);
        rest_server_error(rs, rq->req, 403, "'%s' may not %s %s (read-only access)", rq->principal,
                          http_req_method(rq->req), rq->path);
        return false;
    }
    static struct metric *failures;
    if (failures == NULL)
        failures = metrics_counter("agora_http_auth_failures_total",
                                   "requests refused for missing or wrong credentials (401)");
    metric_inc(failures, 1);
    log_info("http: %s %s from %s: 401 (%s credentials)", http_req_method(rq->req), rq->path,
             http_req_peer(rq->req), http_req_header(rq->req, "Authorization") ? "wrong" : "no");
    http_add_header(rq->req, "WWW-Authenticate", rs->auth_challenge);
    if (jwt_enabled())
        http_add_header(rq->req, "WWW-Authenticate", rs->bearer_challenge);
    rest_server_error(rs, rq->req, 401, "Unauthorized");
    return false;
}

static void rest_dispatch(struct evhttp_request *req, void *arg)
{
    struct rest_server *rs = arg;
    const char *method = http_req_method(req);
    const char *path = http_req_path(req);
    size_t plen = strlen(path);
    char stackbuf[REST_STACK_PATH + REST_MAX_PARAMS + 1];
    char *buf = plen <= REST_STACK_PATH ? stackbuf : xmalloc(plen + REST_MAX_PARAMS + 1);
    char allow[128];
    struct rest_req rq = { .req = req, .server = rs, .arg = rs->arg, .path = path, .consumed = -1 };
    enum rest_match_result mr;

    if (http_server_body_too_large(rs->http, req)) {
        rest_server_error(rs, req, 413, "Request body is over the limit of %zu bytes",
                          http_server_max_body(rs->http));
        goto out;
    }
    mr = rest_table_match(rs->table, rs->n, method, path, &rq.route, rq.params, &rq.nparams, buf,
                          allow, sizeof(allow));
    if (mr == REST_MATCH_NOT_FOUND && rest_static_serve(rs, req, method, path))
        goto out;
    if (mr == REST_MATCH_NOT_FOUND) {
        rest_server_error(rs, req, 404, "no such path: %s", path);
        goto out;
    }
    if (mr == REST_MATCH_NO_METHOD) {
        if (allow[0])
            http_add_header(req, "Allow", allow);
        rest_server_error(rs, req, 405, "method %s not allowed on %s", method, path);
        goto out;
    }
    if ((rq.route->flags & rs->auth_surfaces) && !rest_auth_check(rs, &rq))
        goto out;
    if ((rq.route->flags & REST_LEADER_ONLY) && !rest_leader_check(rs, req))
        goto out;
    if (rq.route->consumes != NULL && !rest_consumes_check(rs, &rq))
        goto out;
    if (rq.route->flags & REST_JSON_BODY) {
        size_t len;
        const char *body = http_req_body(req, &len);
        json_error_t jerr;
        rq.json = json_loadb(body, len, 0, &jerr);
        if (rq.json == NULL) {
            rest_server_error(rs, req, 400, "Failed to parse JSON body: %s", jerr.text);
            goto out;
        }
    }
    rq.route->fn(&rq);
    json_decref(rq.json);
out:
    if (buf != stackbuf)
        free(buf);
}

struct rest_server *rest_server_attach(struct http_server *http, const struct rest_route *table,
                                       size_t n, void *arg, rest_format_fn format)
{
    struct rest_server *rs = xcalloc(1, sizeof(*rs));

    rs->http = http;
    rs->table = table;
    rs->n = n;
    rs->arg = arg;
    rs->format = format ? format : rest_format_text;
    http_server_set_handler(http, rest_dispatch, rs);
    return rs;
}

void rest_server_set_leader(struct rest_server *rs, rest_leader_fn fn)
{
    rs->leader = fn;
}

void rest_server_set_auth_readonly(struct rest_server *rs, const struct auth_creds *readonly)
{
    rs->creds_ro = readonly;
}

void rest_server_set_auth(struct rest_server *rs, unsigned surfaces, const struct auth_creds *creds,
                          const char *realm)
{
    /* Bearer tokens (--jwt_secret_key, process-wide) are a credential too. */
    rs->auth_surfaces = creds || jwt_enabled() ? surfaces : 0;
    rs->creds = creds;
    free(rs->auth_challenge);
    free(rs->bearer_challenge);
    rs->auth_challenge = xasprintf("Basic realm=\"%s\"", realm ? realm : "agora");
    rs->bearer_challenge = xasprintf("Bearer realm=\"%s\"", realm ? realm : "agora");
}

void rest_server_free(struct rest_server *rs)
{
    /* The http server may be gone already: free it first, or this while
     * it still runs would leave it dispatching into freed memory. */
    if (rs != NULL) {
        free(rs->proxy_header);
        for (size_t i = 0; i < rs->nmounts; i++)
            free(rs->mounts[i].prefix);
        free(rs->auth_challenge);
        free(rs->bearer_challenge);
    }
    free(rs);
}

/* ------------------------------------------------------------ standard */

void rest_handle_health(struct rest_req *rq)
{
    http_reply(rq->req, 200, "text/plain", "", 0);
}

void rest_handle_metrics(struct rest_req *rq)
{
    char *text = metrics_render();

    http_reply(rq->req, 200, "text/plain; version=0.0.4", text, strlen(text));
    free(text);
}
