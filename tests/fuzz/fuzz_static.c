/*
 * fuzz_static: libFuzzer target for the lookup of built-in files
 * (common/static_assets.c) — the decoded request path below a mount, and
 * If-None-Match values.
 *
 * Besides crashes and sanitizer findings it checks the no-traversal
 * contract: a path with a "." or ".." segment, a backslash or a control
 * character is never FOUND, and what is found is an entry of the table
 * whose name is the path with its slashes collapsed (or that folder's
 * index.html).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "static_assets.h"

static const unsigned char body[] = "x";
static const struct static_asset files[] = {
    { "app.js", "text/javascript; charset=utf-8", body, 1, "\"e1\"" },
    { "css/site.css", "text/css; charset=utf-8", body, 1, "\"e2\"" },
    { "docs/index.html", "text/html; charset=utf-8", body, 1, "\"e3\"" },
    { "index.html", "text/html; charset=utf-8", body, 1, "\"e4\"" },
};
static const struct static_assets table = { "fuzz", files, 4 };

/* Does path hold a segment the lookup must refuse? */
static bool suspicious(const char *p)
{
    for (const char *s = p; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f || *s == '\\')
            return true;
    while (*p) {
        while (*p == '/')
            p++;
        size_t n = strcspn(p, "/");
        if ((n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.'))
            return true;
        p += n;
    }
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *in = malloc(size + 2);
    if (in == NULL)
        return 0;
    memcpy(in, data, size);
    in[size] = in[size + 1] = '\0';
    const char *path = in;
    const char *inm = path + strlen(path) + 1; /* after the first NUL */

    const struct static_asset *a = NULL;
    enum static_lookup r = static_assets_lookup(&table, path, &a);
    if (r == STATIC_FOUND) {
        if (a == NULL || a < files || a >= files + 4 || suspicious(path))
            abort();
    } else if (a != NULL) {
        abort();
    }
    if (r == STATIC_REFUSED && !suspicious(path))
        abort();
    for (size_t i = 0; i < 4; i++)
        (void)static_etag_matches(inm, files[i].etag);
    free(in);
    return 0;
}
