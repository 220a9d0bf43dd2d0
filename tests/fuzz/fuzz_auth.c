/*
 * fuzz_auth: libFuzzer target for what auth.c reads from outside — the
 * Authorization header and credentials files.
 *
 * Besides crashes it checks the round trip: a header that parses into
 * principal:secret (no ':' in the principal) is the header that
 * auth_basic_header makes of them, up to padding, and a credentials text
 * that parses checks its own first credential. The input is also read as
 * Marathon's --http_credentials list ("user:password,user:password").
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "jwt.h"
#include "mem.h"

/* Bearer tokens: the input as a token; and the input's two lines as a
 * token's header and claims, signed here, so that the checks past the
 * signature are reached. A good token has a sub; a refusal says why. */
static void fuzz_jwt(const char *text)
{
    static bool keyed;
    if (!keyed) {
        jwt_set_key("fuzz-key", 8);
        keyed = true;
    }
    char *sub = NULL;
    const char *why = NULL;
    if (jwt_verify(text, 1e9, &sub, &why) == 0) {
        if (sub == NULL || sub[0] == '\0')
            abort();
        free(sub);
    } else if (why == NULL) {
        abort();
    }
    const char *nl = strchr(text, '\n');
    if (nl == NULL)
        return;
    char *t = jwt_sign_raw(text, (size_t)(nl - text), nl + 1, strlen(nl + 1));
    sub = NULL;
    why = NULL;
    if (jwt_verify(t, 1e9, &sub, &why) == 0) {
        if (sub == NULL || sub[0] == '\0')
            abort();
        /* What signs as sub verifies as sub. */
        char *again = jwt_sign(sub, 0);
        char *sub2 = NULL;
        if (again == NULL || jwt_verify(again, 1e9, &sub2, &why) != 0 || strcmp(sub, sub2) != 0)
            abort();
        free(again);
        free(sub2);
        free(sub);
    } else if (why == NULL) {
        abort();
    }
    free(t);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = xstrndup((const char *)data, size);
    char *p = NULL, *s = NULL;

    if (auth_parse_basic(text, &p, &s)) {
        if (strchr(p, ':') == NULL) {
            char *h = auth_basic_header(p, s);
            char *p2 = NULL, *s2 = NULL;
            if (!auth_parse_basic(h, &p2, &s2) || strcmp(p, p2) != 0 || strcmp(s, s2) != 0)
                abort();
            free(p2);
            free(s2);
            free(h);
        }
        free(p);
        free(s);
    }

    char *err = NULL;
    struct auth_creds *c = auth_creds_parse((const char *)data, size, &err);
    if (c != NULL) {
        const char *cp, *cs, *who = NULL;
        if (!auth_creds_get(c, 0, &cp, &cs))
            abort();
        if (strchr(cp, ':') == NULL) {
            char *h = auth_basic_header(cp, cs);
            if (!auth_check_basic(c, h, &who))
                abort();
            free(h);
        }
        auth_creds_free(c);
    }
    free(err);
    err = NULL;

    c = auth_creds_from_pairs(text, &err);
    if (c == NULL) {
        if (err == NULL)
            abort();
        free(err);
    } else {
        const char *cp, *cs;
        size_t n = auth_creds_count(c);
        if (n == 0 || !auth_creds_get(c, n - 1, &cp, &cs) || auth_creds_get(c, n, &cp, &cs))
            abort();
        auth_creds_free(c);
    }
    fuzz_jwt(text);
    free(text);
    return 0;
}
