/*
 * static_assets: lookup of built-in files (see static_assets.h). The
 * serving itself (headers, 304, 404 through the server's formatter) is
 * rest_static_mount's, in rest.c.
 */
#include "static_assets.h"

#include <stdlib.h>
#include <string.h>

#define STATIC_MAX_PATH 512

static int cmp_path(const void *key, const void *elem)
{
    return strcmp(key, ((const struct static_asset *)elem)->path);
}

const struct static_asset *static_assets_find(const struct static_assets *a, const char *path)
{
    if (a == NULL || path == NULL)
        return NULL;
    return bsearch(path, a->files, a->n, sizeof(a->files[0]), cmp_path);
}

/* Is the segment [s, s + len) acceptable as part of an asset name? */
static bool segment_ok(const char *s, size_t len)
{
    if ((len == 1 && s[0] == '.') || (len == 2 && s[0] == '.' && s[1] == '.'))
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || c == '\\')
            return false;
    }
    return true;
}

enum static_lookup static_assets_lookup(const struct static_assets *a, const char *rel,
                                        const struct static_asset **out)
{
    /* At most STATIC_MAX_PATH bytes of name, then "/index.html" and NUL. */
    char name[STATIC_MAX_PATH + 1 + sizeof("index.html")];
    size_t n = 0;
    const char *p = rel ? rel : "";

    *out = NULL;
    while (*p) {
        while (*p == '/')
            p++;
        size_t len = strcspn(p, "/");
        if (len == 0)
            break;
        if (!segment_ok(p, len))
            return STATIC_REFUSED;
        if (n + (n ? 1 : 0) + len > STATIC_MAX_PATH)
            return STATIC_NOT_FOUND;
        if (n)
            name[n++] = '/';
        memcpy(name + n, p, len);
        n += len;
        p += len;
    }
    /* A folder ("", "/", "css/") is its index.html. */
    size_t rl = rel ? strlen(rel) : 0;
    if (rl == 0 || rel[rl - 1] == '/') {
        if (n)
            name[n++] = '/';
        memcpy(name + n, "index.html", sizeof("index.html"));
    } else {
        name[n] = '\0';
    }
    *out = static_assets_find(a, name);
    return *out ? STATIC_FOUND : STATIC_NOT_FOUND;
}

bool static_etag_matches(const char *inm, const char *etag)
{
    size_t el = strlen(etag);
    const char *p = inm;

    if (p == NULL)
        return false;
    while (*p) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        if (*p == '\0')
            break;
        size_t len = strcspn(p, ",");
        size_t l = len;
        while (l && (p[l - 1] == ' ' || p[l - 1] == '\t'))
            l--;
        const char *v = p;
        if (l >= 2 && v[0] == 'W' && v[1] == '/') {
            v += 2;
            l -= 2;
        }
        if ((l == 1 && v[0] == '*') || (l == el && memcmp(v, etag, el) == 0))
            return true;
        p += len;
    }
    return false;
}
