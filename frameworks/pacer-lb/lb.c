/*
 * lb: agora-pacer-lb's core — wires the source (Marathon's apps), the
 * config renderer and the reloader together, and serves /health and
 * /metrics on its own port.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "daemon.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "pacer_lb.h"
#include "rest.h"

#define LB_MAX_BODY (64 * 1024)

struct pacer_lb {
    struct daemon *d;
    struct lbcfg_opts opts;
    char *config_path;
    char *admin_socket, *master_socket;
    struct http_server *http;
    struct rest_server *rest;
    struct source *source;
    struct reload *reload;
    struct metric *m_frontends, *m_servers;
};

static const struct rest_route lb_routes[] = {
    { "GET", "/health", rest_handle_health, 0, NULL },
    { "GET", "/metrics", rest_handle_metrics, 0, NULL },
};

static void on_apps(const json_t *doc, void *arg)
{
    struct pacer_lb *lb = arg;
    struct lbcfg_stats st;
    char *err = NULL;
    char *text = lbcfg_render(doc, &lb->opts, &st, &err);
    if (text == NULL) {
        log_error("cannot build the HAProxy configuration: %s", err);
        free(err);
        return;
    }
    log_debug("apps: %u frontends, %u servers, %u ports skipped", st.frontends, st.servers,
              st.skipped);
    metric_set(lb->m_frontends, st.frontends);
    metric_set(lb->m_servers, st.servers);
    reload_submit(lb->reload, text);
    free(text);
}

void pacer_lb_on_sigchld(struct pacer_lb *lb)
{
    reload_on_sigchld(lb->reload);
}

static void stopped(void *arg)
{
    struct pacer_lb *lb = arg;
    log_info("no haproxy left; exiting");
    daemon_exit(lb->d, 0);
}

void pacer_lb_stop(struct pacer_lb *lb)
{
    source_free(lb->source);
    lb->source = NULL;
    reload_stop(lb->reload, stopped, lb);
}

struct pacer_lb *pacer_lb_new(struct daemon *d, const struct pacer_lb_flags *f, char **err)
{
    struct pacer_lb *lb = xcalloc(1, sizeof(*lb));
    lb->d = d;
    lb->opts.group = f->group;
    lb->opts.bind = f->bind;
    lb->opts.maxconn = f->maxconn;
    if (f->haproxy_config != NULL) {
        lb->config_path = xstrdup(f->haproxy_config);
    } else {
        lb->config_path = xasprintf("%s/haproxy.cfg", f->work_dir);
        if (mkdir_p(f->work_dir) != 0) {
            *err = xasprintf("--work_dir: cannot create %s: %s", f->work_dir, strerror(errno));
            goto fail;
        }
    }
    lb->admin_socket = f->haproxy_socket != NULL ? xstrdup(f->haproxy_socket)
                                                 : xasprintf("%s.sock", lb->config_path);
    lb->master_socket = xasprintf("%s.master", lb->admin_socket);
    lb->opts.stats_socket = lb->admin_socket;
    lb->m_frontends = metrics_gauge("agora_pacer_lb_frontends", "frontends in the configuration");
    lb->m_servers = metrics_gauge("agora_pacer_lb_servers", "backend servers in the configuration");
    lb->http = http_server_new(daemon_base(d), f->ip, f->port, LB_MAX_BODY, err);
    if (lb->http == NULL)
        goto fail;
    lb->rest = rest_server_attach(lb->http, lb_routes, sizeof(lb_routes) / sizeof(lb_routes[0]), lb,
                                  rest_format_json);
    struct reload_opts ro = { f->haproxy_bin, lb->config_path, lb->master_socket };
    lb->reload = reload_new(daemon_base(d), &ro);
    lb->source = source_new(daemon_base(d), f->marathon, on_apps, lb, err);
    if (lb->source == NULL)
        goto fail;
    daemon_set_port(d, http_server_port(lb->http));
    log_info("pacer-lb: following %s, group %s, frontends on %s, config %s", f->marathon, f->group,
             f->bind, lb->config_path);
    return lb;
fail:
    pacer_lb_free(lb);
    return NULL;
}

void pacer_lb_free(struct pacer_lb *lb)
{
    if (lb == NULL)
        return;
    source_free(lb->source);
    reload_free(lb->reload);
    if (lb->rest != NULL)
        rest_server_free(lb->rest);
    if (lb->http != NULL)
        http_server_free(lb->http);
    free(lb->config_path);
    free(lb->admin_socket);
    free(lb->master_socket);
    free(lb);
}
