/*
 * http_tls: TLS for every HTTP server and client of a process (OpenSSL
 * through libevent's bufferevent_openssl), as Mesos's libprocess does it:
 * one process-wide configuration, set once at start from the daemon's
 * --ssl_* flags (common/daemon.c) or a framework's config.
 *
 * With a certificate and key, every server of the process speaks TLS only
 * (a plain HTTP request gets no answer: there is no downgrade on the same
 * port). With TLS on, every client connection is TLS, verifying the
 * server's certificate against --ssl_ca (or the system's CAs) and its host
 * name or IP, unless --ssl_verify=false — except the calls a slave makes to
 * its tasks' health-check ports (http_call_start_plain), which are the
 * tasks' own plain HTTP.
 */
#ifndef AGORA_HTTP_TLS_H
#define AGORA_HTTP_TLS_H

#include <stdbool.h>

struct bufferevent;
struct event_base;

struct http_tls_config {
    const char *cert; /* PEM certificate (chain) of this process's servers */
    const char *key;  /* its PEM private key */
    const char *ca;   /* PEM CA bundle clients verify servers with (NULL: system's) */
    bool enable;      /* clients speak TLS even without cert/key/ca */
    bool verify;      /* clients verify certificate and host name */
};

/* 0, or -1 with *err (malloc'd) naming the flag at fault. TLS stays off
 * when none of cert, key, ca and enable is given. */
int http_tls_configure(const struct http_tls_config *cfg, char **err);
bool http_tls_server_enabled(void);
bool http_tls_client_enabled(void);
/* A new TLS bufferevent (fd set later by evhttp), NULL when TLS is off
 * for that side. */
struct bufferevent *http_tls_server_bev(struct event_base *base);
struct bufferevent *http_tls_client_bev(struct event_base *base, const char *host);
/* "https" or "http": the scheme this process's clients use. */
const char *http_tls_scheme(void);

#endif
