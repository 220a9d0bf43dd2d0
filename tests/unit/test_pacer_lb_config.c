/*
 * test_pacer_lb_config: pacer-lb's HAProxy configuration for a set of
 * apps (frameworks/pacer-lb/config.c): the group filter (default
 * "external", per-port override, "*"), the healthy-task filter, the
 * HAPROXY_0_PORT override, modes, addresses, port conflicts and
 * deterministic output whatever the input order.
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
    /* A bad override falls back to the service port. */
    assert_non_null(strstr(t, "frontend a_10002\n    bind 127.0.0.1:10002\n    mode tcp\n"));
    assert_non_null(strstr(t, "backend a_8081\n    mode http\n    balance roundrobin\n"
                              "    server 10.0.0.5_31001 10.0.0.5:31001\n"));
    assert_non_null(strstr(t, "backend a_10002\n    mode tcp\n    balance roundrobin\n"
                              "    server 10.0.0.5_31002 10.0.0.5:31002\n"));
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
    assert_int_equal(st.skipped, 2);
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
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
