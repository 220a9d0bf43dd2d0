/*
 * test_pacer_lb_config: pacer-lb's HAProxy configuration for a set of
 * apps (frameworks/pacer-lb/config.c): the group filter (default
 * "external", per-port override, "*"), the healthy-task filter, the
 * HAPROXY_0_PORT override, modes, addresses, port conflicts,
 * deterministic output whatever the input order, marathon-lb's labels
 * (VHOST, PATH, BALANCE, BIND_ADDR, STICKY, ENABLED) and the app ports
 * left out, with their reasons, when a label is bad.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lb_render.h"
#include "pacer_lb.h"

static const struct lbcfg_opts opts = { "external", "127.0.0.1", 2000, "/run/lb.sock" };

static char *render_with(const char *json, const struct lbcfg_opts *o, struct lbcfg_stats *st)
{
    return lb_render(json, o, st);
}

static char *render(const char *json)
{
    return render_with(json, &opts, NULL);
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p += strlen(needle))
        n++;
    return n;
}

/* A running task on slave0 (which does not resolve) reached at ip:port. */
#define TASK(id, ip, port)                                                      \
    "{'id':'" id "','state':'TASK_RUNNING','host':'slave0','ports':[" port "]," \
    "'ipAddresses':[{'ipAddress':'" ip "','protocol':'IPv4'}]"
#define ALIVE2 ",'healthCheckResults':[{'alive':true},{'alive':true}]"

/* The JSON of the tests below reads best one task per line. */
/* clang-format off */
static void test_basic_frontend_and_servers(void **state)
{
    struct lbcfg_stats st;
    char *t = render_with("{'apps':[{'id':'/web/http','portDefinitions':[{'port':10001}],"
                          "'tasks':[" TASK("a", "127.0.0.1", "31001") "},"
                          TASK("b", "127.0.0.1", "31002") "}]}]}",
                          &opts, &st);
    assert_non_null(strstr(t, "global\n    maxconn 2000\n"));
    assert_non_null(strstr(t, "    stats socket /run/lb.sock mode 600 level admin"));
    assert_non_null(strstr(t, "\nfrontend web_http_10001\n    bind 127.0.0.1:10001\n"
                              "    mode tcp\n    default_backend web_http_10001\n"));
    assert_non_null(strstr(t, "\nbackend web_http_10001\n    mode tcp\n    balance roundrobin\n"
                              "    server 127.0.0.1_31001 127.0.0.1:31001\n"
                              "    server 127.0.0.1_31002 127.0.0.1:31002\n"));
    assert_int_equal(st.frontends, 1);
    assert_int_equal(st.servers, 2);
    free(t);
}

/* The kept model (model.c) renders as the whole answer does, without
 * the fields pacer-lb never reads. */
static void test_model_renders_the_same(void **state)
{
    (void)state;
    struct lbcfg_opts o = opts;
    o.http_port = 8088;
    json_t *doc = lb_load(
        "{'apps':["
        "{'id':'/h','cmd':'sleep 1','env':{'A':'b'},'cpus':0.1,'instances':2,"
        " 'version':'v2','versionInfo':{'lastConfigChangeAt':'v1','lastScalingAt':'v2'},"
        " 'portDefinitions':[{'port':10001,'name':'http','protocol':'tcp'},{'port':10002}],"
        " 'labels':{'HAPROXY_0_VHOST':'h.test','HAPROXY_1_MODE':'tcp'},"
        " 'healthChecks':[{'protocol':'HTTP','portIndex':0,'path':'/','gracePeriodSeconds':3}],"
        " 'tasks':["
        "  {'id':'h.1','state':'TASK_RUNNING','host':'h1','ports':[31001,31002],'slaveId':'s',"
        "   'stagedAt':'x','ipAddresses':[{'ipAddress':'127.0.0.1','protocol':'IPv4'}],"
        "   'healthCheckResults':[{'alive':true,'consecutiveFailures':0,'taskId':'h.1'}]},"
        "  {'id':'h.2','state':'TASK_RUNNING','host':'127.0.0.2','ports':[31003,31004],"
        "   'healthCheckResults':[{'alive':false}]}]},"
        "{'id':'/c','container':{'type':'DOCKER','docker':{'image':'i',"
        "  'portMappings':[{'containerPort':80,'servicePort':10003}]}},"
        " 'tasks':[{'id':'c.1','state':'TASK_RUNNING','host':'127.0.0.3','ports':[31005]}]},"
        "{'id':'/m','container':{'portMappings':[{'containerPort':80,'servicePort':10004}]},"
        " 'tasks':[{'id':'m.1','state':'TASK_STAGING','host':'127.0.0.4','ports':[31006]}]}]}");
    json_t *lean = lbmodel_doc(doc);
    assert_non_null(lean);
    char *err = NULL;
    char *a = lbcfg_render(doc, &o, NULL, &err);
    char *b = lbcfg_render(lean, &o, NULL, &err);
    assert_non_null(a);
    assert_non_null(b);
    assert_string_equal(a, b);
    assert_non_null(strstr(a, "server 127.0.0.1_31001 127.0.0.1:31001"));
    assert_non_null(strstr(a, "server 127.0.0.3_31005 127.0.0.3:31005"));
    char *dump = json_dumps(lean, JSON_SORT_KEYS);
    assert_null(strstr(dump, "sleep"));
    assert_null(strstr(dump, "slaveId"));
    assert_null(strstr(dump, "IPv4"));
    assert_null(strstr(dump, "gracePeriodSeconds"));
    assert_null(strstr(dump, "lastScalingAt"));
    assert_string_equal(lbcfg_app_version(json_array_get(json_object_get(lean, "apps"), 0)), "v1");
    free(dump);
    free(a);
    free(b);
    assert_null(lbmodel_doc(json_object_get(doc, "apps")));
    json_decref(lean);
    json_decref(doc);
}
/* clang-format on */

static void test_group_filter(void **state)
{
    const char *apps = "{'apps':["
                       "{'id':'/nolabel','portDefinitions':[{'port':10001}]},"
                       "{'id':'/ext','labels':{'HAPROXY_GROUP':'external'},"
                       "'portDefinitions':[{'port':10002}]},"
                       "{'id':'/int','labels':{'HAPROXY_GROUP':'internal'},"
                       "'portDefinitions':[{'port':10003}]},"
                       "{'id':'/both','labels':{'HAPROXY_GROUP':'internal, external'},"
                       "'portDefinitions':[{'port':10004}]},"
                       "{'id':'/perport','labels':{'HAPROXY_GROUP':'internal',"
                       "'HAPROXY_1_GROUP':'external'},"
                       "'portDefinitions':[{'port':10005},{'port':10006}]}]}";
    char *t = render(apps);
    assert_non_null(strstr(t, "frontend nolabel_10001\n"));
    assert_non_null(strstr(t, "frontend ext_10002\n"));
    assert_null(strstr(t, "int_10003"));
    assert_non_null(strstr(t, "frontend both_10004\n"));
    assert_null(strstr(t, "perport_10005"));
    assert_non_null(strstr(t, "frontend perport_10006\n"));
    free(t);

    struct lbcfg_opts internal = { "internal", "127.0.0.1", 2000, NULL };
    t = render_with(apps, &internal, NULL);
    assert_null(strstr(t, "nolabel_10001"));
    assert_non_null(strstr(t, "frontend int_10003\n"));
    assert_non_null(strstr(t, "frontend both_10004\n"));
    assert_non_null(strstr(t, "frontend perport_10005\n"));
    assert_null(strstr(t, "perport_10006"));
    assert_null(strstr(t, "stats socket"));
    free(t);

    struct lbcfg_opts all = { "*", "127.0.0.1", 2000, NULL };
    struct lbcfg_stats st;
    free(render_with(apps, &all, &st));
    assert_int_equal(st.frontends, 6);
}

/* clang-format off */
static void test_healthy_filter(void **state)
{
    char *t = render("{'apps':[{'id':'/h','portDefinitions':[{'port':10001}],"
                     "'healthChecks':[{'protocol':'HTTP','portIndex':0},"
                     "{'protocol':'TCP','portIndex':0}],"
                     "'tasks':["
                     TASK("alive", "127.0.0.1", "31001") ALIVE2 "},"
                     TASK("half", "127.0.0.1", "31002")
                     ",'healthCheckResults':[{'alive':true},{'alive':false}]},"
                     TASK("unknown", "127.0.0.1", "31003") "},"
                     "{'id':'staging','state':'TASK_STAGING','ports':[31004],'host':'h'"
                     ALIVE2 "}]},"
                     "{'id':'/nohc','portDefinitions':[{'port':10002}],'tasks':["
                     TASK("x", "127.0.0.1", "31005") "},"
                     "{'id':'y','state':'TASK_KILLING','ports':[31006],'host':'h'}]}]}");
    assert_non_null(strstr(t, "server 127.0.0.1_31001 "));
    assert_null(strstr(t, "31002"));
    assert_null(strstr(t, "31003"));
    assert_null(strstr(t, "31004"));
    assert_non_null(strstr(t, "server 127.0.0.1_31005 "));
    assert_null(strstr(t, "31006"));
    /* An HTTP health check on the port makes the frontend http. */
    assert_non_null(strstr(t, "frontend h_10001\n    bind 127.0.0.1:10001\n    mode http\n"));
    assert_non_null(strstr(t, "frontend nohc_10002\n    bind 127.0.0.1:10002\n    mode tcp\n"));
    free(t);
}
/* clang-format on */

static void test_port_override_and_mode_label(void **state)
{
    char *t = render("{'apps':[{'id':'/a','labels':{'HAPROXY_0_PORT':'8081',"
                     "'HAPROXY_0_MODE':'http','HAPROXY_1_PORT':'junk'},"
                     "'portDefinitions':[{'port':10001},{'port':10002}],"
                     "'tasks':[" TASK("t", "10.0.0.5", "31001,31002") "}]}]}");
    assert_null(strstr(t, ":10001"));
    assert_non_null(strstr(t, "frontend a_8081\n    bind 127.0.0.1:8081\n    mode http\n"));
    /* A bad override leaves the port out (not silently on another port). */
    assert_null(strstr(t, "10002"));
    assert_non_null(strstr(t, "backend a_8081\n    mode http\n    balance roundrobin\n"
                              "    server 10.0.0.5_31001 10.0.0.5:31001\n"));
    free(t);
}

static void test_addresses_ports_and_conflicts(void **state)
{
    struct lbcfg_stats st;
    char *t = render_with("{'apps':["
                          "{'id':'/z','portDefinitions':[{'port':10001}]},"
                          "{'id':'/a','portDefinitions':[{'port':10001}],'tasks':["
                          "{'id':'h','state':'TASK_RUNNING','host':'slave0','ports':[31001]},"
                          "{'id':'noport','state':'TASK_RUNNING','host':'slave0','ports':[]},"
                          "{'id':'bad','state':'TASK_RUNNING','host':'a b','ports':[31009]}]},"
                          "{'id':'/noports','portDefinitions':[]},"
                          "{'id':'/zero','portDefinitions':[{'port':0}]},"
                          "{'id':'/bridge','container':{'docker':{'portMappings':"
                          "[{'containerPort':80,'servicePort':10007}]}}}]}",
                          &opts, &st);
    /* host without ipAddresses; a name that is no single token is dropped. */
    assert_non_null(strstr(t, "server slave0_31001 slave0:31001\n"));
    assert_null(strstr(t, "31009"));
    /* /a wins 10001 over /z (ids sorted); /zero has no service port. */
    assert_non_null(strstr(t, "frontend a_10001\n"));
    assert_null(strstr(t, "z_10001"));
    assert_non_null(strstr(t, "frontend bridge_10007\n"));
    assert_int_equal(st.frontends, 2);
    assert_int_equal(st.skipped, 1);  /* /zero */
    assert_int_equal(st.excluded, 1); /* /z: its port is /a's */
    free(t);
}

/* clang-format off */
static void test_deterministic_order(void **state)
{
    char *a = render("{'apps':["
                     "{'id':'/b','portDefinitions':[{'port':10002}],'tasks':["
                     TASK("2", "127.0.0.1", "31002") "}," TASK("1", "127.0.0.1", "31001") "}]},"
                     "{'id':'/a','portDefinitions':[{'port':10003}]},"
                     "{'id':'/c','portDefinitions':[{'port':10001}]}]}");
    char *b = render("{'apps':["
                     "{'id':'/c','portDefinitions':[{'port':10001}]},"
                     "{'id':'/a','portDefinitions':[{'port':10003}]},"
                     "{'id':'/b','portDefinitions':[{'port':10002}],'tasks':["
                     TASK("1", "127.0.0.1", "31001") "}," TASK("2", "127.0.0.1", "31002") "}]}]}");
    assert_string_equal(a, b);
    /* Frontends by service port, servers by address and port. */
    const char *c = strstr(a, "frontend c_10001");
    const char *bb = strstr(a, "frontend b_10002");
    const char *aa = strstr(a, "frontend a_10003");
    assert_true(c && bb && aa && c < bb && bb < aa);
    assert_true(strstr(a, "31001") < strstr(a, "31002"));
    assert_int_equal(count(a, "\nfrontend "), 3);
    free(a);
    free(b);
}
/* clang-format on */

static void test_bad_document(void **state)
{
    json_t *doc = json_pack("{s:i}", "apps", 1);
    char *err = NULL;
    assert_null(lbcfg_render(doc, &opts, NULL, &err));
    assert_non_null(err);
    free(err);
    json_decref(doc);

    /* No apps: global and defaults only. */
    char *t = render("{'apps':[]}");
    assert_null(strstr(t, "frontend"));
    assert_non_null(strstr(t, "defaults\n"));
    free(t);
}

static const char *reason(const json_t *excluded, size_t k)
{
    return json_string_value(json_object_get(json_array_get(excluded, k), "reason"));
}

/* clang-format off */
static void test_labels_balance_bind_enabled_vhost(void **state)
{
    (void)state;
    struct lbcfg_opts o = opts;
    o.http_port = 8088;
    o.excluded_out = json_array();
    struct lbcfg_stats st;
    char *t = lb_render(
        "{'apps':["
        "{'id':'/a','portDefinitions':[{'port':10001},{'port':10002}],"
        " 'labels':{'HAPROXY_0_BALANCE':'leastconn','HAPROXY_0_BIND_ADDR':'127.0.0.2',"
        "           'HAPROXY_1_ENABLED':'false'},"
        " 'tasks':[" TASK("a", "127.0.0.1", "31001,31002") "}]},"
        "{'id':'/v','portDefinitions':[{'port':10003}],"
        " 'labels':{'HAPROXY_0_VHOST':'v.example,www.v.example'},'tasks':[]},"
        "{'id':'/bad','portDefinitions':[{'port':10004},{'port':10005}],"
        " 'labels':{'HAPROXY_0_BALANCE':'static-rr','HAPROXY_1_BIND_ADDR':'1.2.3.4 x'},"
        " 'tasks':[]}]}",
        &o, &st);
    assert_non_null(strstr(t, "frontend a_10001\n    bind 127.0.0.2:10001\n"));
    assert_non_null(strstr(t, "backend a_10001\n    mode tcp\n    balance leastconn\n"));
    assert_null(strstr(t, "a_10002"));
    assert_non_null(strstr(t, "frontend marathon_http_in\n    bind 127.0.0.1:8088\n"
                              "    mode http\n"));
    assert_non_null(strstr(t, "    use_backend v_10003 if { req.hdr(host),field(1,:) -i v.example }\n"
                              "    use_backend v_10003 if { req.hdr(host),field(1,:) -i www.v.example }\n"));
    assert_non_null(strstr(t, "backend v_10003\n    mode http\n"));
    assert_null(strstr(t, "bad_"));
    assert_int_equal(st.excluded, 2);
    assert_int_equal(json_array_size(o.excluded_out), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(o.excluded_out, 0), "app")),
                        "/bad");
    assert_string_equal(reason(o.excluded_out, 0), "HAPROXY_0_BALANCE 'static-rr' is not one of "
                        "roundrobin, leastconn, first, random, source, uri (HAProxy 2.6 adds "
                        "servers at run time only to a dynamic algorithm)");
    assert_string_equal(reason(o.excluded_out, 1), "HAPROXY_1_BIND_ADDR '1.2.3.4 x' is not an address");
    assert_string_equal(json_string_value(json_object_get(json_array_get(o.excluded_out, 1),
                                                          "backend")), "bad_10005");
    free(t);

    /* Held out by name while the app keeps the version HAProxy refused. */
    json_t *ex = json_pack("{s:{s:s,s:s}}", "a_10001", "reason", "refused", "version", "v1");
    o.exclude = ex;
    json_array_clear(o.excluded_out);
    t = lb_render("{'apps':[{'id':'/a','version':'v1','portDefinitions':[{'port':10001}]}]}", &o,
                  &st);
    assert_null(strstr(t, "a_10001"));
    assert_int_equal(st.excluded, 1);
    free(t);
    t = lb_render("{'apps':[{'id':'/a','version':'v2','portDefinitions':[{'port':10001}]}]}", &o,
                  &st);
    assert_non_null(strstr(t, "frontend a_10001"));
    assert_int_equal(st.excluded, 0);
    free(t);
    /* versionInfo.lastConfigChangeAt is the key when there is one: scaling
     * (a new version, the same configuration) does not try it again. */
    json_object_set_new(json_object_get(ex, "a_10001"), "version", json_string("c1"));
    t = lb_render("{'apps':[{'id':'/a','version':'v3','versionInfo':{'lastConfigChangeAt':'c1'},"
                  "'portDefinitions':[{'port':10001}]}]}", &o, &st);
    assert_null(strstr(t, "a_10001"));
    free(t);
    json_decref(ex);
    json_decref(o.excluded_out);
}

/* Every bad value of a label leaves only that app port out, saying why. */
/* Apps /good (port 10001) and /x (10002, with labels) rendered with o,
 * o->excluded_out a new array (caller decrefs); /good must be served. */
static char *render_good_and_x(struct lbcfg_opts *o, const char *labels, struct lbcfg_stats *st)
{
    char json[1024];
    snprintf(json, sizeof(json),
             "{'apps':[{'id':'/good','portDefinitions':[{'port':10001}]},"
             "{'id':'/x','portDefinitions':[{'port':10002}],'labels':{%s}}]}",
             labels);
    o->excluded_out = json_array();
    char *t = lb_render(json, o, st);
    assert_non_null(strstr(t, "frontend good_10001\n"));
    return t;
}

static void test_bad_labels_excluded(void **state)
{
    (void)state;
    static const struct { const char *labels, *why; } cases[] = {
        { "'HAPROXY_0_MODE':'udp'", "HAPROXY_0_MODE 'udp' is not http or tcp" },
        { "'HAPROXY_0_PORT':'70000'", "HAPROXY_0_PORT '70000' is not a port (1-65535)" },
        { "'HAPROXY_0_ENABLED':'maybe'", "HAPROXY_0_ENABLED 'maybe' is not true or false" },
        { "'HAPROXY_0_STICKY':'sure'", "HAPROXY_0_STICKY 'sure' is not true or false" },
        { "'HAPROXY_0_STICKY':'true','HAPROXY_0_MODE':'tcp'",
          "HAPROXY_0_STICKY needs HAPROXY_0_MODE http (the stickiness is a cookie)" },
        { "'HAPROXY_0_VHOST':'a.test,b c'", "HAPROXY_0_VHOST 'a.test,b c': 'b c' is not"
          " a host name" },
        { "'HAPROXY_0_VHOST':'x.test','HAPROXY_0_MODE':'tcp'",
          "HAPROXY_0_VHOST and HAPROXY_0_PATH need HAPROXY_0_MODE http, not tcp" },
        { "'HAPROXY_0_VHOST':'a.*.test'", "HAPROXY_0_VHOST 'a.*.test': 'a.*.test' is not a"
          " host name" },
        { "'HAPROXY_0_PATH':'api'", "HAPROXY_0_PATH 'api' is not a list of paths starting"
          " with '/'" },
        { "'HAPROXY_0_PATH':'/a }'", "HAPROXY_0_PATH '/a }' is not a list of paths starting"
          " with '/'" },
        { "'HAPROXY_0_BALANCE':'uri'", "HAPROXY_0_BALANCE 'uri' needs HAPROXY_0_MODE http" },
        { "'HAPROXY_0_BIND_ADDR':''", "HAPROXY_0_BIND_ADDR '' is not an address" },
        { "'HAPROXY_0_PORT':'8088'", "service port 8088 is the HTTP frontend's (--http_port)" },
    };
    struct lbcfg_opts o = opts;
    o.http_port = 8088;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct lbcfg_stats st;
        char *t = render_good_and_x(&o, cases[k].labels, &st);
        if (strstr(t, "x_10002") != NULL)
            fail_msg("case %zu: %s", k, t);
        assert_int_equal(st.excluded, 1);
        assert_int_equal(st.frontends, 1);
        assert_string_equal(reason(o.excluded_out, 0), cases[k].why);
        free(t);
        json_decref(o.excluded_out);
    }
}

/* An app's HAPROXY_<i>_<template> labels: used when they keep to the
 * app's own sections and name known variables, else the port is left out
 * with the reason while the other apps are served. */
static void test_template_labels(void **state)
{
    (void)state;
    static const struct { const char *labels, *want, *why; } cases[] = {
        { "'HAPROXY_0_BACKEND_HEAD':'\\nbackend {backend}\\n  mode {mode}\\n  balance "
          "{balance}\\n  timeout server 7s # {appId} {{x}}\\n'",
          "\nbackend x_10002\n    mode tcp\n    balance roundrobin\n"
          "    timeout server 7s # /x {x}\n",
          NULL },
        { "'HAPROXY_0_FRONTEND_BACKEND_GLUE':'\\t use_backend {backend} if TRUE'",
          "    use_backend x_10002 if TRUE\n", NULL },
        { "'HAPROXY_0_SSL_CERT':'/etc/a.pem, /etc/b.pem','HAPROXY_0_BIND_OPTIONS':'alpn h2'",
          "    bind 127.0.0.1:10002 ssl crt /etc/a.pem crt /etc/b.pem alpn h2\n", NULL },
        { "'HAPROXY_0_BACKEND_HEAD':'\\nbackend good_10001\\n'", NULL,
          "HAPROXY_0_BACKEND_HEAD: must open \"backend x_10002\" on its first line and no other"
          " section (found \"backend good_10001\")" },
        { "'HAPROXY_0_BACKEND_HEAD':'  timeout server 1s\\nbackend x_10002\\n'", NULL,
          "HAPROXY_0_BACKEND_HEAD: must open \"backend x_10002\" on its first line and no other"
          " section (found \"timeout server 1s\")" },
        { "'HAPROXY_0_FRONTEND_HEAD':'\\nfrontend x_10002\\n bind :1\\nlisten evil\\n'",
          NULL,
          "HAPROXY_0_FRONTEND_HEAD: must open \"frontend x_10002\" on its first line and no "
          "other section (found \"listen evil\")" },
        { "'HAPROXY_0_FRONTEND_HEAD':' \\n\\n'", NULL,
          "HAPROXY_0_FRONTEND_HEAD: must open \"frontend x_10002\" on its first line (found "
          "nothing)" },
        { "'HAPROXY_0_FRONTEND_BACKEND_GLUE':'global'", NULL,
          "HAPROXY_0_FRONTEND_BACKEND_GLUE: may not open a section (found \"global\")" },
        { "'HAPROXY_0_BACKEND_HEAD':'backend {backend}\\n  balance {nope}'", NULL,
          "HAPROXY_0_BACKEND_HEAD: unknown variable {nope}" },
        { "'HAPROXY_0_BACKEND_HEAD':'backend {backend}\\n  acl a { src 1.2.3.4 }'", NULL,
          "HAPROXY_0_BACKEND_HEAD: unknown variable { src 1.2.3.4 }" },
        { "'HAPROXY_0_FRONTEND_BACKEND_GLUE':'  use_backend {backend'", NULL,
          "HAPROXY_0_FRONTEND_BACKEND_GLUE: a '{' without its '}' (write '{{' for a brace)" },
        { "'HAPROXY_0_BACKEND_HEAD':'backend {sslCert}'", NULL,
          "HAPROXY_0_BACKEND_HEAD: unknown variable {sslCert}" },
        { "'HAPROXY_0_SSL_CERT':'a.pem'", NULL,
          "HAPROXY_0_SSL_CERT 'a.pem': 'a.pem' is not an absolute file path" },
        { "'HAPROXY_0_BIND_OPTIONS':'x\\ny'", NULL,
          "HAPROXY_0_BIND_OPTIONS 'x\ny' holds a character that is not allowed there (a line "
          "break, '#', a quote or a brace)" },
    };
    struct lbcfg_opts o = opts;
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct lbcfg_stats st;
        char *t = render_good_and_x(&o, cases[k].labels, &st);
        if (cases[k].want != NULL && strstr(t, cases[k].want) == NULL)
            fail_msg("case %zu: no %s in %s", k, cases[k].want, t);
        if (cases[k].why != NULL) {
            if (strstr(t, "x_10002") != NULL)
                fail_msg("case %zu: %s", k, t);
            assert_int_equal(st.excluded, 1);
            assert_string_equal(reason(o.excluded_out, 0), cases[k].why);
        } else {
            assert_int_equal(st.excluded, 0);
            assert_int_equal(st.frontends, 2);
        }
        free(t);
        json_decref(o.excluded_out);
    }
}

static void write_file(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* --templates_dir: the operator's files replace the defaults for every
 * app (any section allowed), are checked at load, and an app's label
 * still wins for its own port. */
static void test_templates_dir(void **state)
{
    (void)state;
    char dir[] = "/tmp/lbtmpl-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char *err = NULL;
    struct lbtmpl *t = lbtmpl_load(dir, &err);
    assert_non_null(t);
    assert_int_equal(lbtmpl_count(t), 0);
    lbtmpl_free(t);

    write_file(dir, "HAPROXY_HEAD",
               "global\n  maxconn {maxconn}\n  log stdout format raw local0\n"
               "defaults\n  mode tcp\n  timeout connect 1s\n  timeout client 9s\n"
               "  timeout server 9s\n\nlisten ops\n  bind 127.0.0.1:19999\n  mode http\n"
               "  http-request return status 200 if {{ path /ok }}\n");
    write_file(dir, "HAPROXY_BACKEND_HEAD",
               "\nbackend {backend}\n  mode {mode}\n  balance {balance}\n"
               "  # app {appId} on {servicePort} from {bindAddr}\n");
    write_file(dir, "unrelated.txt", "{nope}");
    t = lbtmpl_load(dir, &err);
    assert_non_null(t);
    assert_int_equal(lbtmpl_count(t), 2);
    struct lbcfg_opts o = opts;
    o.templates = t;
    char *text = render_with("{'apps':[{'id':'/a','portDefinitions':[{'port':10001}]},"
                             "{'id':'/b','portDefinitions':[{'port':10002}],'labels':{"
                             "'HAPROXY_0_BACKEND_HEAD':'backend {backend}\\n mode tcp'}}]}",
                             &o, NULL);
    assert_non_null(strstr(text, "global\n    maxconn 2000\n    log stdout format raw local0\n"));
    assert_non_null(strstr(text, "    http-request return status 200 if { path /ok }\n"));
    assert_non_null(strstr(text, "\nbackend a_10001\n    mode tcp\n    balance roundrobin\n"
                                 "    # app /a on 10001 from 127.0.0.1\n"));
    assert_non_null(strstr(text, "backend b_10002\n    mode tcp\n"));
    assert_null(strstr(text, "# app /b"));
    /* pacer-lb's own lines whatever the head says. */
    assert_non_null(strstr(text, "\nglobal\n    stats socket /run/lb.sock "));
    free(text);
    lbtmpl_free(t);

    write_file(dir, "HAPROXY_FRONTEND_HEAD", "frontend {backend}\n  bind {bindAddr}:{port}\n");
    assert_null(lbtmpl_load(dir, &err));
    char want[600];
    snprintf(want, sizeof(want),
             "--templates_dir: %s/HAPROXY_FRONTEND_HEAD: unknown variable {port}", dir);
    assert_string_equal(err, want);
    free(err);
    err = NULL;
    write_file(dir, "HAPROXY_FRONTEND_HEAD", "frontend {backend}\n  bind {bindAddr}:{httpPort}\n");
    assert_null(lbtmpl_load(dir, &err));
    assert_non_null(strstr(err, "unknown variable {httpPort}"));
    free(err);
    err = NULL;
    /* Empty, or opening another section: the apps' lines would land in
     * the section before (found by fuzz_lbcfg). */
    write_file(dir, "HAPROXY_FRONTEND_HEAD", "\n");
    assert_null(lbtmpl_load(dir, &err));
    assert_non_null(strstr(err, "HAPROXY_FRONTEND_HEAD: must open \"frontend app_10000\" on its "
                                "first line (found nothing)"));
    free(err);
    err = NULL;
    write_file(dir, "HAPROXY_FRONTEND_HEAD", "frontend {backend}\n  bind {bindAddr}:1\n");
    write_file(dir, "HAPROXY_BACKEND_STICKY_OPTIONS", "backend x\n");
    assert_null(lbtmpl_load(dir, &err));
    assert_non_null(strstr(err, "HAPROXY_BACKEND_STICKY_OPTIONS: may not open a section"));
    free(err);

    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

static void test_vhost_path_sticky_balance(void **state)
{
    (void)state;
    struct lbcfg_opts o = opts;
    o.http_port = 8088;
    char *t = lb_render(
        "{'apps':["
        "{'id':'/site','portDefinitions':[{'port':10001}],"
        " 'labels':{'HAPROXY_0_VHOST':'*.site.test, site.test'}},"
        "{'id':'/api','portDefinitions':[{'port':10002}],"
        " 'labels':{'HAPROXY_0_VHOST':'site.test','HAPROXY_0_PATH':'/api /v2'}},"
        "{'id':'/any','portDefinitions':[{'port':10003}],"
        " 'labels':{'HAPROXY_0_PATH':'/static','HAPROXY_0_MODE':'HTTP'}},"
        "{'id':'/sticky','portDefinitions':[{'port':10004}],"
        " 'labels':{'HAPROXY_0_STICKY':'true','HAPROXY_0_MODE':'http',"
        "           'HAPROXY_0_BALANCE':'source','HAPROXY_0_BIND_ADDR':'::1'},"
        " 'tasks':[" TASK("s", "127.0.0.1", "31004") "}]},"
        "{'id':'/off','portDefinitions':[{'port':10005}],"
        " 'labels':{'HAPROXY_0_ENABLED':'False','HAPROXY_0_VHOST':'off.test'}}]}",
        &o, NULL);
    /* Host with paths, then paths on any host, then whole hosts. */
    assert_non_null(strstr(t,
        "frontend marathon_http_in\n    bind 127.0.0.1:8088\n    mode http\n"
        "    option idle-close-on-response\n"
        "    use_backend api_10002 if { req.hdr(host),field(1,:) -i site.test } { path_beg /api /v2 }\n"
        "    use_backend any_10003 if { path_beg /static }\n"
        "    use_backend site_10001 if { req.hdr(host),field(1,:) -m end -i .site.test }\n"
        "    use_backend site_10001 if { req.hdr(host),field(1,:) -i site.test }\n\n"));
    assert_non_null(strstr(t, "frontend site_10001\n    bind 127.0.0.1:10001\n    mode http\n"));
    assert_non_null(strstr(t, "frontend any_10003\n    bind 127.0.0.1:10003\n    mode http\n"));
    assert_null(strstr(t, "off"));
    assert_non_null(strstr(t, "frontend sticky_10004\n    bind [::1]:10004\n"));
    assert_non_null(strstr(t, "backend sticky_10004\n    mode http\n    balance source\n"
                              "    hash-type consistent\n"
                              "    cookie mesosphere_server_id insert indirect nocache\n"
                              "    server 127.0.0.1_31004 127.0.0.1:31004 cookie 127.0.0.1_31004\n"));
    free(t);

    /* No VHOST or PATH: no shared HTTP frontend; none either without a port. */
    t = lb_render("{'apps':[{'id':'/a','portDefinitions':[{'port':10001}]}]}", &o, NULL);
    assert_null(strstr(t, "marathon_http_in"));
    free(t);
    o.http_port = 0;
    t = lb_render("{'apps':[{'id':'/a','portDefinitions':[{'port':10001}],"
                  "'labels':{'HAPROXY_0_VHOST':'a.test'}}]}", &o, NULL);
    assert_null(strstr(t, "marathon_http_in"));
    assert_non_null(strstr(t, "frontend a_10001\n    bind 127.0.0.1:10001\n    mode http\n"));
    free(t);
}

/* --ssl_certs: marathon_https_in beside marathon_http_in with the same
 * routes; HAPROXY_<i>_REDIRECT_TO_HTTPS answers plain HTTP with a 301,
 * written before every use_backend; the label without a VHOST, without
 * certificates, or neither true nor false leaves the port out. */
static void test_https_frontend_and_redirect(void **state)
{
    (void)state;
    struct lbcfg_opts o = opts;
    o.http_port = 8088;
    o.https_port = 8443;
    o.https_crt = " ssl crt /etc/a.pem";
    char *t = lb_render(
        "{'apps':["
        "{'id':'/site','portDefinitions':[{'port':10001}],"
        " 'labels':{'HAPROXY_0_VHOST':'site.test','HAPROXY_0_REDIRECT_TO_HTTPS':'true'}},"
        "{'id':'/any','portDefinitions':[{'port':10003}],"
        " 'labels':{'HAPROXY_0_PATH':'/static'}},"
        "{'id':'/p','portDefinitions':[{'port':8443}],'labels':{'HAPROXY_0_MODE':'http'}}]}",
        &o, NULL);
    assert_non_null(strstr(t,
        "frontend marathon_http_in\n    bind 127.0.0.1:8088\n    mode http\n"
        "    option idle-close-on-response\n"
        "    redirect scheme https code 301 if { req.hdr(host),field(1,:) -i site.test }\n"
        "    use_backend any_10003 if { path_beg /static }\n\n"
        "frontend marathon_https_in\n    bind 127.0.0.1:8443 ssl crt /etc/a.pem\n    mode http\n"
        "    option idle-close-on-response\n"
        "    use_backend any_10003 if { path_beg /static }\n"
        "    use_backend site_10001 if { req.hdr(host),field(1,:) -i site.test }\n\n"));
    assert_null(strstr(t, "frontend p_8443"));
    free(t);

    static const struct { const char *labels, *why; } cases[] = {
        { "'HAPROXY_0_REDIRECT_TO_HTTPS':'true'",
          "HAPROXY_0_REDIRECT_TO_HTTPS needs HAPROXY_0_VHOST (the redirect is by Host header)" },
        { "'HAPROXY_0_VHOST':'x.test','HAPROXY_0_REDIRECT_TO_HTTPS':'maybe'",
          "HAPROXY_0_REDIRECT_TO_HTTPS 'maybe' is not true or false" },
        { "'HAPROXY_0_VHOST':'x.test','HAPROXY_0_REDIRECT_TO_HTTPS':'TRUE'",
          "HAPROXY_0_REDIRECT_TO_HTTPS needs pacer-lb's --ssl_certs (no HTTPS frontend)" },
    };
    for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
        struct lbcfg_stats st;
        o.https_crt = k < 2 ? " ssl crt /etc/a.pem" : NULL;
        t = render_good_and_x(&o, cases[k].labels, &st);
        if (strstr(t, "x_10002") != NULL)
            fail_msg("case %zu: %s", k, t);
        assert_string_equal(reason(o.excluded_out, 0), cases[k].why);
        free(t);
        json_decref(o.excluded_out);
    }
    o.excluded_out = NULL;

    char *bad = NULL, *crt = lbcfg_ssl_crt(" /a.pem , /b.pem ", &bad);
    assert_string_equal(crt, " ssl crt /a.pem crt /b.pem");
    free(crt);
    assert_null(lbcfg_ssl_crt("/a.pem,b.pem", &bad));
    assert_string_equal(bad, "b.pem");
    free(bad);
    assert_null(lbcfg_ssl_crt(" , ", &bad));
    free(bad);
}

/* The backend of a name, and the key of an app's configuration. */
static void test_find_backend_and_version(void **state)
{
    (void)state;
    json_t *doc = json_loads("{\"apps\":[{\"id\":\"/a/b\",\"version\":\"v1\","
                             "\"portDefinitions\":[{\"port\":10001},{\"port\":10002}]}]}",
                             0, NULL);
    const json_t *app = lbcfg_find_backend(doc, "a_b_10002");
    assert_non_null(app);
    assert_string_equal(lbcfg_app_version(app), "v1");
    assert_null(lbcfg_find_backend(doc, "a_b_10003"));
    json_decref(doc);
}
/* clang-format on */

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_frontend_and_servers),
        cmocka_unit_test(test_group_filter),
        cmocka_unit_test(test_healthy_filter),
        cmocka_unit_test(test_port_override_and_mode_label),
        cmocka_unit_test(test_addresses_ports_and_conflicts),
        cmocka_unit_test(test_deterministic_order),
        cmocka_unit_test(test_bad_document),
        cmocka_unit_test(test_labels_balance_bind_enabled_vhost),
        cmocka_unit_test(test_bad_labels_excluded),
        cmocka_unit_test(test_vhost_path_sticky_balance),
        cmocka_unit_test(test_https_frontend_and_redirect),
        cmocka_unit_test(test_template_labels),
        cmocka_unit_test(test_templates_dir),
        cmocka_unit_test(test_find_backend_and_version),
        cmocka_unit_test(test_model_renders_the_same),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
