/*
 * jwt: HS256 bearer tokens (see jwt.h). Parsing is strict and bounded:
 * a token longer than JWT_MAX_TOKEN is refused before any decoding, each
 * part is decoded once, and the signature is checked before the payload
 * is parsed, so an unsigned payload is never looked at.
 */
#include "jwt.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <uthash.h>

#include "log.h"
#include "mem.h"
#include "pbjson.h"
#include "timeutil.h"

#define JWT_MAX_TOKEN 8192
#define JWT_MAX_KEY (64 * 1024)
/* Principals seen are kept for the process's life (a request borrows its
 * principal); only a token signed with the key adds one, and past this
 * many distinct ones new subjects are refused rather than kept. */
#define JWT_MAX_PRINCIPALS 100000

static unsigned char *key;
static size_t key_len;

struct principal {
    char *name;
    UT_hash_handle hh;
};
static struct principal *principals;

void jwt_set_key(const void *k, size_t len)
{
    if (key) {
        OPENSSL_cleanse(key, key_len);
        free(key);
    }
    key = NULL;
    key_len = 0;
    if (len == 0)
        return;
    key = xmalloc(len);
    memcpy(key, k, len);
    key_len = len;
}

bool jwt_enabled(void)
{
    return key_len > 0;
}

int jwt_set_key_file(const char *path, char **err)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) {
        *err = xasprintf("--jwt_secret_key=%s: %s", path, strerror(errno));
        return -1;
    }
    unsigned char *buf = xmalloc(JWT_MAX_KEY + 1);
    size_t n = fread(buf, 1, JWT_MAX_KEY + 1, f);
    fclose(f);
    if (n > 0 && buf[n - 1] == '\n')
        n--;
    if (n > 0 && buf[n - 1] == '\r')
        n--;
    int rc = 0;
    if (n == 0 || n > JWT_MAX_KEY) {
        *err = xasprintf("--jwt_secret_key=%s: %s", path, n ? "longer than 64 KiB" : "empty");
        rc = -1;
    } else {
        jwt_set_key(buf, n);
    }
    OPENSSL_cleanse(buf, JWT_MAX_KEY + 1);
    free(buf);
    return rc;
}

/* base64url without padding -> bytes (malloc'd), through pbjson's strict
 * standard-base64 decoder; NULL on a character outside the alphabet or an
 * impossible length. */
static unsigned char *b64url_decode(const char *s, size_t len, size_t *out_len)
{
    if (len % 4 == 1)
        return NULL;
    size_t padded = len + (4 - len % 4) % 4;
    char *t = xmalloc(padded + 1);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+' || c == '/' || c == '=' || c == '\0') {
            free(t); /* not base64url */
            return NULL;
        }
        t[i] = c == '-' ? '+' : c == '_' ? '/' : c;
    }
    memset(t + len, '=', padded - len);
    t[padded] = '\0';
    unsigned char *out = pbjson_base64_decode(t, out_len);
    free(t);
    return out;
}

static char *b64url_encode(const unsigned char *b, size_t len)
{
    char *out = pbjson_base64_encode(b, len);
    size_t n = strlen(out);
    while (n > 0 && out[n - 1] == '=')
        n--;
    out[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if (out[i] == '+')
            out[i] = '-';
        else if (out[i] == '/')
            out[i] = '_';
    }
    return out;
}

static void hs256(const char *msg, size_t len, unsigned char mac[32])
{
    unsigned int n = 32;
    HMAC(EVP_sha256(), key, (int)key_len, (const unsigned char *)msg, len, mac, &n);
}

/* A JSON object from a base64url part, or NULL. */
static json_t *part_json(const char *s, size_t len)
{
    size_t n = 0;
    unsigned char *raw = b64url_decode(s, len, &n);
    if (raw == NULL)
        return NULL;
    json_t *j = json_loadb((const char *)raw, n, JSON_REJECT_DUPLICATES, NULL);
    free(raw);
    if (j && !json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    return j;
}

int jwt_verify(const char *token, double now, char **sub, const char **why)
{
    *why = "no key";
    if (!jwt_enabled())
        return -1;
    *why = "malformed token";
    size_t len = token ? strnlen(token, JWT_MAX_TOKEN + 1) : 0;
    if (len == 0 || len > JWT_MAX_TOKEN)
        return -1;
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (d1 == NULL || d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return -1;

    json_t *header = part_json(token, (size_t)(d1 - token));
    if (header == NULL)
        return -1;
    const char *alg = json_string_value(json_object_get(header, "alg"));
    json_t *typ = json_object_get(header, "typ");
    bool alg_ok = alg && strcmp(alg, "HS256") == 0;
    bool typ_ok =
        typ == NULL || (json_is_string(typ) && strcmp(json_string_value(typ), "JWT") == 0);
    json_decref(header);
    if (!alg_ok || !typ_ok) {
        *why = alg_ok ? "typ is not JWT" : "alg is not HS256";
        return -1;
    }

    size_t slen = 0;
    unsigned char *sig = b64url_decode(d2 + 1, len - (size_t)(d2 + 1 - token), &slen);
    unsigned char mac[32];
    hs256(token, (size_t)(d2 - token), mac);
    bool sig_ok = sig && slen == 32 && CRYPTO_memcmp(sig, mac, 32) == 0;
    free(sig);
    if (!sig_ok) {
        *why = "bad signature";
        return -1;
    }

    json_t *claims = part_json(d1 + 1, (size_t)(d2 - d1 - 1));
    if (claims == NULL)
        return -1;
    json_t *exp = json_object_get(claims, "exp"), *nbf = json_object_get(claims, "nbf");
    const char *s = json_string_value(json_object_get(claims, "sub"));
    int rc = -1;
    if ((exp && !json_is_number(exp)) || (nbf && !json_is_number(nbf)))
        *why = "exp or nbf is not a number";
    else if (exp && !(now < json_number_value(exp)))
        *why = "expired";
    else if (nbf && !(now >= json_number_value(nbf)))
        *why = "not valid yet (nbf)";
    else if (s == NULL || s[0] == '\0')
        *why = "no sub";
    else {
        *sub = xstrdup(s);
        rc = 0;
    }
    json_decref(claims);
    return rc;
}

const char *jwt_check_bearer(const char *authorization)
{
    if (!jwt_enabled() || authorization == NULL || strncasecmp(authorization, "Bearer ", 7) != 0)
        return NULL;
    const char *t = authorization + 7;
    while (*t == ' ')
        t++;
    char *sub = NULL;
    const char *why = NULL;
    if (jwt_verify(t, time_now(), &sub, &why) != 0) {
        log_info("http: bearer token refused: %s", why);
        return NULL;
    }
    struct principal *p = NULL;
    HASH_FIND_STR(principals, sub, p);
    if (p == NULL) {
        if (HASH_COUNT(principals) >= JWT_MAX_PRINCIPALS) {
            log_warn("http: bearer token of a new subject refused: %d subjects seen already",
                     JWT_MAX_PRINCIPALS);
            free(sub);
            return NULL;
        }
        p = xcalloc(1, sizeof(*p));
        p->name = sub;
        HASH_ADD_KEYPTR(hh, principals, p->name, strlen(p->name), p);
    } else {
        free(sub);
    }
    return p->name;
}

char *jwt_sign_raw(const char *header, size_t hlen, const char *claims, size_t clen)
{
    if (!jwt_enabled())
        return NULL;
    char *h = b64url_encode((const unsigned char *)header, hlen);
    char *p = b64url_encode((const unsigned char *)claims, clen);
    char *signing = xasprintf("%s.%s", h, p);
    unsigned char mac[32];
    hs256(signing, strlen(signing), mac);
    char *s = b64url_encode(mac, 32);
    char *out = xasprintf("%s.%s", signing, s);
    free(h);
    free(p);
    free(s);
    free(signing);
    return out;
}

char *jwt_sign(const char *sub, double exp)
{
    json_t *claims = json_pack("{s:s}", "sub", sub);
    if (claims == NULL)
        return NULL;
    if (exp > 0)
        json_object_set_new(claims, "exp", json_integer((json_int_t)exp));
    char *payload = json_dumps(claims, JSON_COMPACT);
    json_decref(claims);
    static const char header[] = "{\"alg\":\"HS256\",\"typ\":\"JWT\"}";
    char *out = jwt_sign_raw(header, strlen(header), payload, strlen(payload));
    free(payload);
    return out;
}
