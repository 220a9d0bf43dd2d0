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
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "mem.h"

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
    free(text);
    return 0;
}
