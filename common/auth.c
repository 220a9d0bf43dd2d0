/*
 * auth: credentials files and HTTP Basic checks (see auth.h).
 *
 * Comparisons go through SHA-256: the stored principal and secret are
 * hashed once at load, a presented pair is hashed once per check, and the
 * digests are compared with CRYPTO_memcmp. That makes the comparison's
 * time independent of the lengths and contents involved (a plain memcmp
 * stops at the first wrong byte; comparing raw strings of different
 * lengths leaks the length).
 */
#include "auth.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "mem.h"

#define AUTH_MAX_FILE (1024 * 1024)
#define AUTH_MAX_HEADER 4096

struct cred {
    char *principal, *secret;
    unsigned char hp[32], hs[32]; /* SHA-256 of each */
};

struct auth_creds {
    struct cred *v;
    size_t n, cap;
};

static void sha256(const char *s, size_t len, unsigned char out[32])
{
    unsigned int n = 32;
    EVP_Digest(s, len, out, &n, EVP_sha256(), NULL);
}

static void add(struct auth_creds *c, const char *p, size_t plen, const char *s, size_t slen)
{
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 4;
        c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
    }
    struct cred *cr = &c->v[c->n++];
    cr->principal = xstrndup(p, plen);
    cr->secret = xstrndup(s, slen);
    sha256(p, plen, cr->hp);
    sha256(s, slen, cr->hs);
}

static int add_json(struct auth_creds *c, const json_t *o, size_t i, char **err)
{
    const json_t *p = json_object_get(o, "principal"), *s = json_object_get(o, "secret");
    if (!json_is_object(o) || !json_is_string(p) || json_string_length(p) == 0 ||
        !json_is_string(s)) {
        *err = xasprintf("credentials[%zu]: want {\"principal\": string, \"secret\": string}", i);
        return -1;
    }
    if (strlen(json_string_value(p)) != json_string_length(p) ||
        strlen(json_string_value(s)) != json_string_length(s)) {
        *err = xasprintf("credentials[%zu]: a NUL character inside", i);
        return -1;
    }
    add(c, json_string_value(p), json_string_length(p), json_string_value(s),
        json_string_length(s));
    return 0;
}

static int parse_json(struct auth_creds *c, const char *text, size_t len, char **err)
{
    json_error_t jerr;
    json_t *doc = json_loadb(text, len, 0, &jerr);
    int rc = 0;
    if (doc == NULL) {
        *err = xasprintf("not valid JSON (line %d: %s)", jerr.line, jerr.text);
        return -1;
    }
    const json_t *list = json_object_get(doc, "credentials");
    if (list == NULL && json_object_get(doc, "principal") != NULL) {
        rc = add_json(c, doc, 0, err);
    } else if (!json_is_array(list)) {
        *err = xstrdup("want {\"credentials\": [{\"principal\": ..., \"secret\": ...}]}");
        rc = -1;
    } else {
        for (size_t i = 0; i < json_array_size(list) && rc == 0; i++)
            rc = add_json(c, json_array_get(list, i), i, err);
    }
    json_decref(doc);
    return rc;
}

/* "principal secret" per line; the secret is the rest of the line. */
static int parse_text(struct auth_creds *c, const char *text, size_t len, char **err)
{
    size_t line = 0;
    for (const char *p = text, *end = text + len; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        const char *e = eol ? eol : end;
        line++;
        while (p < e && isspace((unsigned char)*p))
            p++;
        const char *q = e;
        while (q > p && isspace((unsigned char)q[-1]))
            q--;
        if (p < q) {
            const char *sp = p;
            while (sp < q && !isspace((unsigned char)*sp))
                sp++;
            const char *sec = sp;
            while (sec < q && isspace((unsigned char)*sec))
                sec++;
            if (sec == q) {
                *err = xasprintf("line %zu: want \"principal secret\"", line);
                return -1;
            }
            add(c, p, (size_t)(sp - p), sec, (size_t)(q - sec));
        }
        p = eol ? eol + 1 : end;
    }
    return 0;
}

struct auth_creds *auth_creds_parse(const char *text, size_t len, char **err)
{
    struct auth_creds *c = xcalloc(1, sizeof(*c));
    size_t i = 0;
    while (i < len && isspace((unsigned char)text[i]))
        i++;
    int rc;
    if (memchr(text, '\0', len) != NULL) {
        *err = xstrdup("a NUL byte inside");
        rc = -1;
    } else {
        rc = i < len && text[i] == '{' ? parse_json(c, text, len, err)
                                       : parse_text(c, text, len, err);
    }
    if (rc == 0 && c->n == 0) {
        *err = xstrdup("no credentials in it");
        rc = -1;
    }
    if (rc != 0) {
        auth_creds_free(c);
        return NULL;
    }
    return c;
}

struct auth_creds *auth_creds_load(const char *path, char **err)
{
    if (strncmp(path, "file://", 7) == 0)
        path += 7;
    FILE *f = fopen(path, "r");
    if (f == NULL) {
        *err = xasprintf("%s: cannot open: %m", path);
        return NULL;
    }
    char *buf = xmalloc(AUTH_MAX_FILE + 1);
    size_t n = fread(buf, 1, AUTH_MAX_FILE + 1, f);
    bool bad = ferror(f) != 0;
    fclose(f);
    struct auth_creds *c = NULL;
    char *why = NULL;
    if (bad)
        why = xstrdup("read error");
    else if (n > AUTH_MAX_FILE)
        why = xasprintf("over %d bytes", AUTH_MAX_FILE);
    else
        c = auth_creds_parse(buf, n, &why);
    free(buf);
    if (c == NULL) {
        *err = xasprintf("%s: %s", path, why);
        free(why);
    }
    return c;
}

struct auth_creds *auth_creds_from_pairs(const char *list, char **err)
{
    struct auth_creds *c = xcalloc(1, sizeof(*c));
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        const char *colon = memchr(p, ':', n);
        if (colon == NULL || colon == p) {
            *err = xasprintf("credential %zu: want user:password", c->n + 1);
            auth_creds_free(c);
            return NULL;
        }
        add(c, p, (size_t)(colon - p), colon + 1, n - (size_t)(colon - p) - 1);
        p = end ? end + 1 : p + n;
    }
    if (c->n == 0) {
        *err = xstrdup("no user:password in it");
        auth_creds_free(c);
        return NULL;
    }
    return c;
}

void auth_creds_free(struct auth_creds *c)
{
    if (c == NULL)
        return;
    for (size_t i = 0; i < c->n; i++) {
        OPENSSL_cleanse(c->v[i].secret, strlen(c->v[i].secret));
        free(c->v[i].secret);
        free(c->v[i].principal);
    }
    free(c->v);
    free(c);
}

size_t auth_creds_count(const struct auth_creds *c)
{
    return c ? c->n : 0;
}

bool auth_creds_get(const struct auth_creds *c, size_t n, const char **principal,
                    const char **secret)
{
    if (c == NULL || n >= c->n)
        return false;
    *principal = c->v[n].principal;
    *secret = c->v[n].secret;
    return true;
}

bool auth_parse_basic(const char *h, char **principal, char **secret)
{
    if (h == NULL || strncasecmp(h, "Basic", 5) != 0 || h[5] != ' ')
        return false;
    h += 6;
    while (*h == ' ')
        h++;
    size_t len = strlen(h);
    while (len > 0 && h[len - 1] == ' ')
        len--;
    if (len == 0 || len % 4 != 0 || len > AUTH_MAX_HEADER)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)h[i]) && h[i] != '+' && h[i] != '/' && h[i] != '=')
            return false;
    unsigned char *out = xmalloc(len / 4 * 3 + 1);
    int n = EVP_DecodeBlock(out, (const unsigned char *)h, (int)len);
    if (n < 0) {
        free(out);
        return false;
    }
    /* EVP_DecodeBlock counts the padding as zero bytes. */
    for (size_t i = len; i > 0 && h[i - 1] == '='; i--)
        n--;
    if (n < 0) {
        free(out);
        return false;
    }
    const unsigned char *colon = memchr(out, ':', (size_t)n);
    if (colon == NULL || memchr(out, '\0', (size_t)n) != NULL) {
        OPENSSL_cleanse(out, (size_t)n);
        free(out);
        return false;
    }
    *principal = xstrndup((const char *)out, (size_t)(colon - out));
    *secret = xstrndup((const char *)colon + 1, (size_t)n - (size_t)(colon - out) - 1);
    OPENSSL_cleanse(out, (size_t)n);
    free(out);
    return true;
}

bool auth_check_basic(const struct auth_creds *c, const char *authorization, const char **principal)
{
    char *p = NULL, *s = NULL;
    if (c == NULL || !auth_parse_basic(authorization, &p, &s))
        return false;
    unsigned char hp[32], hs[32];
    sha256(p, strlen(p), hp);
    sha256(s, strlen(s), hs);
    OPENSSL_cleanse(s, strlen(s));
    free(p);
    free(s);
    /* Every credential is compared, whichever matches. */
    const struct cred *found = NULL;
    for (size_t i = 0; i < c->n; i++) {
        int bad = CRYPTO_memcmp(hp, c->v[i].hp, 32) | CRYPTO_memcmp(hs, c->v[i].hs, 32);
        if (bad == 0 && found == NULL)
            found = &c->v[i];
    }
    if (found)
        *principal = found->principal;
    return found != NULL;
}

char *auth_basic_header(const char *principal, const char *secret)
{
    char *plain = xasprintf("%s:%s", principal, secret);
    size_t len = strlen(plain);
    char *out = xmalloc(6 + (len + 2) / 3 * 4 + 1);
    memcpy(out, "Basic ", 6);
    EVP_EncodeBlock((unsigned char *)out + 6, (const unsigned char *)plain, (int)len);
    OPENSSL_cleanse(plain, len);
    free(plain);
    return out;
}
