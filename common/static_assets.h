/*
 * static_assets: files built into a binary (a web UI's HTML, CSS and
 * JavaScript) and the pure lookup that serves them safely.
 *
 * A folder of assets becomes a `const struct static_assets` table at build
 * time: agora_embed_assets() (cmake/AgoraAssets.cmake) runs
 * cmake/embed_assets.cmake, which writes one C source of byte arrays with
 * each file's Content-Type and ETag. Nothing is read from disk or fetched
 * from the network at run time. rest_static_mount() (rest.h) serves such a
 * table under a path prefix of a REST server.
 *
 * Lookups take the request's decoded path below the mount and never leave
 * the table: there is no file system behind it, and a path with a "." or
 * ".." segment, a backslash or a control character is refused outright
 * rather than normalised, so that no spelling of a traversal can name an
 * asset it should not.
 */
#ifndef AGORA_STATIC_ASSETS_H
#define AGORA_STATIC_ASSETS_H

#include <stdbool.h>
#include <stddef.h>

struct static_asset {
    const char *path;         /* relative to the folder, '/'-separated, no leading '/' */
    const char *content_type; /* from the extension; text types say charset=utf-8 */
    const unsigned char *data;
    size_t len;       /* bytes of data (a NUL follows, not counted) */
    const char *etag; /* strong ETag, quoted: "\"<sha-256 prefix>\"" */
};

struct static_assets {
    const char *name;                 /* the generated symbol's name, for logs */
    const struct static_asset *files; /* sorted by path (strcmp) */
    size_t n;
};

/* The file served for path, or NULL. */
const struct static_asset *static_assets_find(const struct static_assets *a, const char *path);

enum static_lookup {
    STATIC_FOUND,     /* *out set */
    STATIC_NOT_FOUND, /* a well-formed path that names no asset: 404 */
    STATIC_REFUSED,   /* ".", "..", '\\' or a control character: 404 as well, and logged */
};

/* Resolve rel, the decoded request path below the mount point (it may
 * start with '/' or be empty). Repeated slashes are ignored; a path that
 * is empty or ends in '/' names that folder's "index.html". */
enum static_lookup static_assets_lookup(const struct static_assets *a, const char *rel,
                                        const struct static_asset **out);

/* Does the If-None-Match header value inm (may be NULL) match etag? "*"
 * and weak validators ("W/...") count, as RFC 9110 says for GET. */
bool static_etag_matches(const char *inm, const char *etag);

#endif
