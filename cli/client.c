/*
 * client: how `agora` talks to the master, the slaves and Pacer.
 *
 * Requests go through common/http's client (http_call_start); a command
 * blocks on the answer by running the loop until the call's callback has
 * run. The master comes from --master: a HOST:PORT list is tried in turn,
 * zk://hosts/path is resolved by common/master_follow (a ZooKeeper session
 * and the masters' detector) to the current leader; a standby's
 * /master/state names the leader, which is then asked instead. Failures
 * become one line naming what could not be done and why.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/keyvalq_struct.h>

#include "cli.h"
#include "http.h"
#include "master_follow.h"
#include "http_tls.h"
#include "atomic_file.h"
#include "auth.h"
#include "mem.h"
#include "timeutil.h"

#define CLI_ZK_SESSION_TIMEOUT 10.0
#define CLI_ZK_LEADER_WAIT 10.0

void cli_error(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fputs("agora: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_resp_cleanup(struct cli_resp *r)
{
    free(r->error);
    free(r->body);
    free(r->deployment_id);
    free(r->location);
    free(r->content_type);
    memset(r, 0, sizeof(*r));
}

struct pending {
    bool done;
    struct cli_resp *r;
};

static char *dup_header(const struct http_response *resp, const char *name)
{
    const char *v = resp->headers ? http_header_get(resp->headers, name) : NULL;
    return v ? xstrdup(v) : NULL;
}

static void on_response(const struct http_response *resp, void *arg)
{
    struct pending *p = arg;
    struct cli_resp *r = p->r;
    r->status = resp->status;
    r->error = resp->status ? NULL : xstrdup(resp->error ? resp->error : "no answer");
    r->body = xstrndup(resp->body ? resp->body : "", resp->len);
    r->len = resp->len;
    r->deployment_id = dup_header(resp, "Marathon-Deployment-Id");
    r->location = dup_header(resp, "Location");
    r->content_type = dup_header(resp, "Content-Type");
    p->done = true;
}

int cli_security_setup(struct cli *c)
{
    char *err = NULL;

    if (c->principal && c->principal[0]) {
        char *secret = NULL;
        size_t len = 0;
        if (!c->secret_file || file_read_all(c->secret_file, 4096, &secret, &len) < 0) {
            cli_error("--principal needs --secret_file=FILE%s%s",
                      c->secret_file ? ": cannot read " : "", c->secret_file ? c->secret_file : "");
            return -1;
        }
        secret[strcspn(secret, "\r\n")] = '\0';
        c->auth_header = auth_basic_header(c->principal, secret);
        explicit_bzero(secret, len);
        free(secret);
    } else if (c->secret_file) {
        cli_error("--secret_file needs --principal");
        return -1;
    }
    struct http_tls_config tls = { .ca = c->ssl_ca, .enable = c->ssl, .verify = true };
    if (http_tls_configure(&tls, &err) != 0) {
        cli_error("%s", err);
        free(err);
        return -1;
    }
    return 0;
}

size_t cli_headers(const struct cli *c, struct http_header *hdrs, const char *accept)
{
    size_t n = 0;
    hdrs[n++] = (struct http_header){ "Accept", accept };
    if (c->auth_header)
        hdrs[n++] = (struct http_header){ "Authorization", c->auth_header };
    return n;
}

int cli_http(struct cli *c, const char *host, int port, const char *method, const char *path,
             const char *body, size_t len, struct cli_resp *r)
{
    struct http_header hdrs[3];
    size_t n = cli_headers(c, hdrs, "application/json");
    if (body)
        hdrs[n++] = (struct http_header){ "Content-Type", "application/json" };
    struct pending p = { false, r };
    memset(r, 0, sizeof(*r));
    struct http_call *call = http_call_start(c->base, host, port, method, path, hdrs, n, body,
                                             body ? len : 0, c->timeout, on_response, &p);
    if (call == NULL) {
        r->error = xstrdup("bad request arguments");
        r->body = xstrdup("");
        return -1;
    }
    while (!p.done)
        event_base_loop(c->base, EVLOOP_ONCE);
    return r->status ? 0 : -1;
}

static void on_pause(evutil_socket_t fd, short what, void *arg)
{
}

void cli_pause(struct cli *c, double secs)
{
    struct timeval tv = time_tv(secs);
    struct event *ev = evtimer_new(c->base, on_pause, NULL);
    evtimer_add(ev, &tv);
    while (evtimer_pending(ev, NULL))
        event_base_loop(c->base, EVLOOP_ONCE);
    event_free(ev);
}

/* "path: error, error" for one Marathon details entry. */
static void append_detail(char **out, const json_t *d)
{
    const char *path = json_string_value(json_object_get(d, "path"));
    const json_t *errs = json_object_get(d, "errors"), *e;
    size_t i;
    char *s = xasprintf("%s%s%s:", *out, **out ? "; " : "", path && *path ? path : "(body)");
    json_array_foreach(errs, i, e)
    {
        char *t = xasprintf("%s%s %s", s, i ? "," : "",
                            json_string_value(e) ? json_string_value(e) : "?");
        free(s);
        s = t;
    }
    free(*out);
    *out = s;
}

char *cli_api_error(int status, const char *body, size_t len)
{
    json_t *j = json_loadb(body, len, 0, NULL);
    const char *msg = json_string_value(json_object_get(j, "message"));
    const json_t *details = json_object_get(j, "details"), *d;
    char *out, *det = xstrdup("");
    size_t i;

    if (msg == NULL) {
        /* Plain text (or a JSON body without message): its first line. */
        size_t n = len;
        while (n > 0 && (body[n - 1] == '\n' || body[n - 1] == '\r' || body[n - 1] == ' '))
            n--;
        const char *nl = memchr(body, '\n', n);
        if (nl)
            n = (size_t)(nl - body);
        if (n > 300)
            n = 300;
        out = n ? xasprintf("%d %.*s", status, (int)n, body) : xasprintf("status %d", status);
        goto out;
    }
    json_array_foreach(details, i, d) append_detail(&det, d);
    out = *det ? xasprintf("%d %s (%s)", status, msg, det) : xasprintf("%d %s", status, msg);
out:
    free(det);
    json_decref(j);
    return out;
}

void cli_print_json(const json_t *j)
{
    char *s = json_dumps(j, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (s)
        printf("%s\n", s);
    free(s);
}

/* ---------------------------------------------------------- the master */

static void on_zk_leader(struct master_follow *f, const char *host, int port, const char *name,
                         void *arg)
{
}

/* Address of the leading master per ZooKeeper (c->follow_master is zk). */
static int zk_leader(struct cli *c, char **host, int *port)
{
    char *err = NULL;
    const char *h;
    if (master_follow_start(c->follow_master, c->base, CLI_ZK_SESSION_TIMEOUT, on_zk_leader, c,
                            &err) < 0) {
        cli_error("--master=%s: %s", c->master, err);
        free(err);
        return -1;
    }
    double deadline = time_mono() + CLI_ZK_LEADER_WAIT;
    while (!master_follow_leader(c->follow_master, &h, port)) {
        if (time_mono() > deadline) {
            cli_error("--master=%s: no leading master known in ZooKeeper after %.0fs "
                      "(ZooKeeper unreachable, or no master elected)",
                      c->master, CLI_ZK_LEADER_WAIT);
            return -1;
        }
        cli_pause(c, 0.1);
    }
    *host = xstrdup(h);
    return 0;
}

json_t *cli_master_state_at(struct cli *c, const char *host, int port, char **why)
{
    struct cli_resp r;
    json_t *j = NULL;
    json_error_t jerr;
    if (cli_http(c, host, port, "GET", "/master/state", NULL, 0, &r) < 0)
        *why = xasprintf("cannot reach the master at %s:%d: %s", host, port, r.error);
    else if (r.status != 200) {
        char *m = cli_api_error(r.status, r.body, r.len);
        *why = xasprintf("the master at %s:%d answered GET /master/state with %s", host, port, m);
        free(m);
    } else if ((j = json_loadb(r.body, r.len, 0, &jerr)) == NULL || !json_is_object(j)) {
        *why = xasprintf("%s:%d is not an Agora master (GET /master/state: %s)", host, port,
                         j ? "not a JSON object" : jerr.text);
        json_decref(j);
        j = NULL;
    }
    cli_resp_cleanup(&r);
    return j;
}

/* "master@1.2.3.4:5050" -> host, port. */
static int parse_pid(const char *pid, char **host, int *port)
{
    const char *at = pid ? strchr(pid, '@') : NULL;
    return at ? http_parse_hostport(at + 1, 5050, host, port) : -1;
}

json_t *cli_master_state(struct cli *c)
{
    char *err = NULL, *why = NULL, *host = NULL;
    int port = 0;
    json_t *st = NULL;

    if (c->follow_master == NULL) {
        c->follow_master = master_follow_new(c->master, &err);
        if (c->follow_master == NULL) {
            cli_error("--master=%s: %s", c->master ? c->master : "", err);
            free(err);
            return NULL;
        }
    }
    if (c->master_host) {
        host = xstrdup(c->master_host);
        port = c->master_port;
    } else if (master_follow_zk(c->follow_master)) {
        if (zk_leader(c, &host, &port) < 0)
            return NULL;
    } else {
        /* The first candidate that answers. */
        for (size_t i = 0; i < master_follow_count(c->follow_master) && st == NULL; i++) {
            const char *h;
            master_follow_candidate(c->follow_master, i, &h, &port);
            free(why);
            why = NULL;
            st = cli_master_state_at(c, h, port, &why);
            if (st)
                host = xstrdup(h);
        }
        if (st == NULL)
            goto fail;
    }
    if (st == NULL && (st = cli_master_state_at(c, host, port, &why)) == NULL)
        goto fail;
    /* A standby names the leader: ask it. */
    if (json_is_false(json_object_get(st, "elected"))) {
        const char *leader = json_string_value(json_object_get(st, "leader"));
        char *lhost = NULL;
        int lport = 0;
        if (leader == NULL || parse_pid(leader, &lhost, &lport) < 0) {
            why = xasprintf("the master at %s:%d is a standby and knows no leader", host, port);
            goto fail;
        }
        json_decref(st);
        free(host);
        host = lhost;
        port = lport;
        if ((st = cli_master_state_at(c, host, port, &why)) == NULL)
            goto fail;
    }
    free(c->master_host);
    c->master_host = host;
    c->master_port = port;
    return st;
fail:
    cli_error("%s", why ? why : "no master");
    free(why);
    free(host);
    json_decref(st);
    return NULL;
}

/* ---------------------------------------------------------------- Pacer */

int cli_pacer_addr(struct cli *c, char **host, int *port)
{
    if (c->pacer == NULL || http_parse_hostport(c->pacer, 8080, host, port) < 0 || *port <= 0 ||
        *port > 65535) {
        cli_error("--pacer=%s: not a URL (expected http://HOST:PORT)", c->pacer ? c->pacer : "");
        return -1;
    }
    return 0;
}

static json_t *pacer_call(struct cli *c, const char *method, const char *path, const json_t *body,
                          int *status, char **deployment_id, bool quiet404)
{
    char *host = NULL, *text = NULL;
    int port;
    struct cli_resp r;
    json_t *out = NULL;
    json_error_t jerr;

    if (status)
        *status = 0;
    if (deployment_id)
        *deployment_id = NULL;
    if (cli_pacer_addr(c, &host, &port) < 0)
        return NULL;
    if (body)
        text = json_dumps(body, JSON_COMPACT);
    if (cli_http(c, host, port, method, path, text, text ? strlen(text) : 0, &r) < 0) {
        cli_error("cannot reach Pacer at %s:%d (%s %s): %s", host, port, method, path, r.error);
        goto out;
    }
    if (status)
        *status = r.status;
    if (r.status < 200 || r.status > 299) {
        if (!(quiet404 && r.status == 404)) {
            char *m = cli_api_error(r.status, r.body, r.len);
            cli_error("Pacer refused %s %s: %s", method, path, m);
            free(m);
        }
        goto out;
    }
    if (r.len == 0)
        out = json_null();
    else if ((out = json_loadb(r.body, r.len, JSON_DECODE_ANY, &jerr)) == NULL)
        cli_error("%s %s on Pacer at %s:%d: the answer is not JSON (%s)", method, path, host, port,
                  jerr.text);
    if (out && deployment_id && r.deployment_id)
        *deployment_id = xstrdup(r.deployment_id);
out:
    cli_resp_cleanup(&r);
    free(text);
    free(host);
    return out;
}

json_t *cli_pacer(struct cli *c, const char *method, const char *path, const json_t *body,
                  int *status, char **deployment_id)
{
    return pacer_call(c, method, path, body, status, deployment_id, false);
}

json_t *cli_pacer_quiet404(struct cli *c, const char *method, const char *path, int *status)
{
    return pacer_call(c, method, path, NULL, status, NULL, true);
}
