/*
 * http_tls: the process's TLS contexts (see http_tls.h).
 *
 * One SSL_CTX per side, built once; each connection gets its own SSL. The
 * client sets SNI and the name (or IP) to verify on every connection, so
 * one context serves every peer. TLS 1.2 is the floor.
 */
#include "http_tls.h"

#include <arpa/inet.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "log.h"
#include "mem.h"

static SSL_CTX *server_ctx, *client_ctx;

static char *ssl_error(void)
{
    unsigned long e = ERR_get_error();
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    ERR_clear_error();
    return xstrdup(e ? buf : "unknown OpenSSL error");
}

int http_tls_configure(const struct http_tls_config *cfg, char **err)
{
    char *e = NULL;
    if (!cfg->cert && !cfg->key && !cfg->ca && !cfg->enable)
        return 0;
    if (!cfg->cert != !cfg->key) {
        *err = xstrdup("--ssl_cert and --ssl_key go together");
        return -1;
    }
    if (cfg->cert) {
        server_ctx = SSL_CTX_new(TLS_server_method());
        SSL_CTX_set_min_proto_version(server_ctx, TLS1_2_VERSION);
        if (SSL_CTX_use_certificate_chain_file(server_ctx, cfg->cert) != 1) {
            e = ssl_error();
            *err = xasprintf("--ssl_cert=%s: %s", cfg->cert, e);
            goto fail;
        }
        if (SSL_CTX_use_PrivateKey_file(server_ctx, cfg->key, SSL_FILETYPE_PEM) != 1 ||
            SSL_CTX_check_private_key(server_ctx) != 1) {
            e = ssl_error();
            *err = xasprintf("--ssl_key=%s: %s", cfg->key, e);
            goto fail;
        }
    }
    client_ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(client_ctx, TLS1_2_VERSION);
    if (cfg->ca ? SSL_CTX_load_verify_locations(client_ctx, cfg->ca, NULL) != 1
                : SSL_CTX_set_default_verify_paths(client_ctx) != 1) {
        e = ssl_error();
        *err = xasprintf("--ssl_ca=%s: %s", cfg->ca ? cfg->ca : "(system)", e);
        goto fail;
    }
    SSL_CTX_set_verify(client_ctx, cfg->verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
    log_info("tls: servers %s, clients TLS%s", server_ctx ? "TLS only" : "plain",
             cfg->verify ? " (verifying certificates and host names)" : " (not verifying)");
    return 0;
fail:
    free(e);
    SSL_CTX_free(server_ctx);
    SSL_CTX_free(client_ctx);
    server_ctx = client_ctx = NULL;
    return -1;
}

bool http_tls_server_enabled(void)
{
    return server_ctx != NULL;
}

bool http_tls_client_enabled(void)
{
    return client_ctx != NULL;
}

const char *http_tls_scheme(void)
{
    return client_ctx ? "https" : "http";
}

struct bufferevent *http_tls_server_bev(struct event_base *base)
{
    if (server_ctx == NULL)
        return NULL;
    /* NULL would make evhttp serve the connection in plain HTTP; these
     * fail only out of memory, which aborts as xmalloc does. */
    SSL *ssl = SSL_new(server_ctx);
    if (ssl == NULL)
        abort();
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev == NULL)
        abort();
    return bev;
}

struct bufferevent *http_tls_client_bev(struct event_base *base, const char *host)
{
    if (client_ctx == NULL)
        return NULL;
    SSL *ssl = SSL_new(client_ctx);
    struct in_addr a4;
    struct in6_addr a6;
    bool ip = inet_pton(AF_INET, host, &a4) == 1 || inet_pton(AF_INET6, host, &a6) == 1;
    if (ip) {
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), host);
    } else {
        SSL_set_tlsext_host_name(ssl, host);
        SSL_set1_host(ssl, host);
    }
    struct bufferevent *bev = bufferevent_openssl_socket_new(
        base, -1, ssl, BUFFEREVENT_SSL_CONNECTING, BEV_OPT_CLOSE_ON_FREE);
    if (bev)
        /* Peers that close without close_notify are common (and evhttp's
         * own close does not send one): not an error. */
        bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
    return bev;
}
