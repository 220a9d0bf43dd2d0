/*
 * fuzz_rest: libFuzzer target for the REST layer's parsers of the wire:
 * the path against Marathon-style route patterns (greedy ids, suffix
 * routes), the Accept header negotiation, the Content-Type check and the
 * query helpers.
 *
 * The input is split at its first two NUL bytes into a path, an Accept (or
 * Content-Type) value and a query string. Besides crashes and sanitizer
 * findings it checks what the dispatcher relies on: a match fills at most
 * REST_MAX_PARAMS parameters, every value is a NUL-terminated string inside
 * buf, and a negotiation answers -1 or an index of the offers.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mem.h"
#include "rest.h"

static void h_none(struct rest_req *rq)
{
    (void)rq;
}

static const struct rest_route routes[] = {
    { "GET", "/v2/apps", h_none, 0, NULL },
    { "GET", "/v2/apps/{id*}", h_none, 0, NULL },
    { "GET", "/v2/apps/{id*}/tasks", h_none, 0, NULL },
    { "DELETE", "/v2/apps/{id*}/tasks/{task_id}", h_none, 0, NULL },
    { "POST", "/v2/apps/{id*}/restart", h_none, 0, NULL },
    { "GET", "/v2/apps/{id*}/versions/{version}", h_none, 0, NULL },
    { "PUT", "/v2/groups/{id*}", h_none, 0, NULL },
    { "GET", "/files/{a}/{b}/{c}/{d}/{e}/{f}/{g}/{h}", h_none, 0, NULL },
};

static const char *const offers[] = { "application/json", "application/x-protobuf",
                                      "application/recordio", "text/plain; version=0.0.4" };

static const char *methods[] = { "GET", "PUT", "POST", "DELETE", "HEAD" };

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = xmalloc(size + 3);
    memcpy(in, data, size);
    in[size] = in[size + 1] = in[size + 2] = '\0';
    const char *path = in;
    const char *header = path + strlen(path) + 1;
    const char *query = header <= in + size ? header + strlen(header) + 1 : in + size;
    if (query > in + size + 2)
        query = in + size + 2;

    size_t plen = strlen(path);
    char *buf = xmalloc(plen + REST_MAX_PARAMS + 1);
    struct rest_param params[REST_MAX_PARAMS];
    const struct rest_route *route = NULL;
    int nparams = 0;
    char allow[128];

    enum rest_match_result mr =
        rest_table_match(routes, sizeof(routes) / sizeof(routes[0]),
                         methods[size % (sizeof(methods) / sizeof(methods[0]))], path, &route,
                         params, &nparams, buf, allow, sizeof(allow));
    if (mr == REST_MATCH_OK) {
        if (route == NULL || nparams < 0 || nparams > REST_MAX_PARAMS)
            abort();
        for (int i = 0; i < nparams; i++) {
            const char *v = params[i].value;
            if (v < buf || v > buf + plen + REST_MAX_PARAMS || strlen(v) > plen)
                abort();
        }
    }

    int k = rest_negotiate(header, offers, sizeof(offers) / sizeof(offers[0]));
    if (k < -1 || k >= (int)(sizeof(offers) / sizeof(offers[0])))
        abort();
    (void)rest_media_is(header, "application/json");

    char *v = rest_query_get(query, "embed", 1);
    free(v);
    (void)rest_query_count(query, "embed");
    bool b;
    long long n;
    char *err = NULL;
    if (rest_query_bool(query, "force", false, &b, &err) < 0)
        free(err);
    err = NULL;
    if (rest_query_int(query, "offset", -5, 1000000, 0, &n, &err) < 0)
        free(err);
    else if (n < -5 || n > 1000000)
        abort();

    free(buf);
    free(in);
    return 0;
}
