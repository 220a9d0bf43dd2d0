/*
 * auth: HTTP Basic authentication against a credentials file (Mesos's
 * formats), shared by every daemon's REST layer and by the clients that
 * send credentials.
 *
 * Credentials files, as Mesos reads them:
 *   JSON  {"credentials": [{"principal": "p", "secret": "s"}, ...]}
 *   text  one "principal secret" pair per line (blank lines ignored)
 * A single credential (the slave's --credential, a framework's) is the
 * same, or a bare {"principal": "p", "secret": "s"} object.
 *
 * A check never says which half was wrong, compares secrets in constant
 * time and looks at every credential whatever matches, so that its time
 * does not depend on how much of a guess was right. Secrets are never
 * logged.
 */
#ifndef AGORA_AUTH_H
#define AGORA_AUTH_H

#include <stdbool.h>
#include <stddef.h>

struct auth_creds;

/* Load a credentials file (a path, or "file://PATH" as Mesos's flags take
 * it); NULL with *err (malloc'd) on failure. */
struct auth_creds *auth_creds_load(const char *path, char **err);
/* Parse credentials from text (the file's content); same formats. */
struct auth_creds *auth_creds_parse(const char *text, size_t len, char **err);
/* Marathon's --http_credentials form: "user:password[,user:password...]"
 * (a password may hold ':' but not ','). */
struct auth_creds *auth_creds_from_pairs(const char *list, char **err);
void auth_creds_free(struct auth_creds *c);
size_t auth_creds_count(const struct auth_creds *c);
/* The nth credential (0-based), borrowed; false past the end. */
bool auth_creds_get(const struct auth_creds *c, size_t n, const char **principal,
                    const char **secret);

/* Check an Authorization header value. true: *principal (borrowed from c)
 * is who it is. false for a missing, malformed or wrong header. */
bool auth_check_basic(const struct auth_creds *c, const char *authorization,
                      const char **principal);

/* "Basic <base64(principal:secret)>", malloc'd: what a client sends. */
char *auth_basic_header(const char *principal, const char *secret);

/* Split "Basic <base64>" into principal and secret (malloc'd, the caller
 * frees both); false when it is not well-formed. Exposed for the fuzzer. */
bool auth_parse_basic(const char *authorization, char **principal, char **secret);

#endif
