/*
 * jwt: bearer tokens, as Mesos's JWT authenticator takes them
 * ("Authorization: Bearer <JWT>"): JSON Web Tokens (RFC 7519) signed with
 * HMAC-SHA256 under a secret key shared with whoever issues them
 * (--jwt_secret_key, Mesos's flag name). Process-wide, as TLS is: every
 * REST surface of the daemon that asks for authentication then takes a
 * good token as well as Basic credentials.
 *
 * A token is good when: three base64url parts; its header is a JSON
 * object with "alg": "HS256" (no other algorithm, never "none") and, if
 * present, "typ": "JWT"; its signature is the HMAC of "header.payload"
 * (compared in constant time); its payload is a JSON object whose "exp"
 * and "nbf" (seconds since the epoch), when present, are numbers that
 * hold now; and whose "sub" is a non-empty string: the principal, as a
 * credentials file's principal is (ACLs match it).
 */
#ifndef AGORA_JWT_H
#define AGORA_JWT_H

#include <stdbool.h>
#include <stddef.h>

/* The key is the file's bytes, less one trailing newline. 0, or -1 with
 * *err (malloc'd) naming the flag. */
int jwt_set_key_file(const char *path, char **err);
/* The same from memory (tests, the fuzzer); len 0 turns tokens off. */
void jwt_set_key(const void *key, size_t len);
bool jwt_enabled(void);

/* Check a token against the key at time now. 0 and *sub (malloc'd), or
 * -1 and *why (static text: what was wrong, for the log, never the token). */
int jwt_verify(const char *token, double now, char **sub, const char **why);

/* Check an Authorization header "Bearer <token>" now: the principal
 * (interned, lives as long as the process), or NULL. */
const char *jwt_check_bearer(const char *authorization);

/* "header.payload.signature" for sub expiring at exp (0: no exp), under
 * the key set; malloc'd, NULL when no key (or sub is not UTF-8). For
 * tests and tools. */
char *jwt_sign(const char *sub, double exp);
/* The same of any header and claims text, signed as they are (the
 * fuzzer's way past the signature). */
char *jwt_sign_raw(const char *header, size_t hlen, const char *claims, size_t clen);

#endif
