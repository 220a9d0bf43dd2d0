/*
 * test_pacer_lb_diff: how pacer-lb goes from one HAProxy configuration to
 * the next (frameworks/pacer-lb/diff.c): no change, servers only (runtime
 * API commands: add + ready, drain, ready again for a draining server,
 * the delayed delete) and anything else (a reload, and always for a
 * sticky backend), on texts rendered by config.c itself; which backend a
 * line of haproxy -c's complaint blames; which ports a new text binds;
 * changes between unchanged sections (the common head and tail skipped).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "lb_render.h"
#include "pacer_lb.h"

static const struct lbcfg_opts opts = { "external", "127.0.0.1", 2000, "/run/lb.sock",
                                        "/run/lb.state" };

static char *render(const char *json)
{
    return lb_render(json, &opts, NULL);
}

#define TASK(port) "{'id':'t" port "','state':'TASK_RUNNING','host':'10.0.0.1','ports':[" port "]}"
#define APP(id, sp, tasks) "{'id':'" id "','portDefinitions':[{'port':" sp "}],'tasks':[" tasks "]}"

static void test_same_text_is_nothing(void **state)
{
    (void)state;
    char *a = render("{'apps':[" APP("/web", "10001", TASK("31001")) "]}");
    struct lbdiff d;
    lbdiff_compute(a, a, &d);
    assert_int_equal(d.kind, LBDIFF_NONE);
    assert_int_equal(d.nadd + d.ndel, 0);
    lbdiff_cleanup(&d);
    free(a);
}

static void test_scale_up_is_runtime(void **state)
{
    (void)state;
    char *a = render("{'apps':[" APP("/web", "10001", TASK("31001")) "," APP("/db", "10002",
                                                                             TASK("31005")) "]}");
    char *b = render(
        "{'apps':[" APP("/web", "10001", TASK("31003") "," TASK("31001") "," TASK("31002")) "," APP(
            "/db", "10002", TASK("31005")) "]}");
    struct lbdiff d;
    lbdiff_compute(a, b, &d);
    assert_int_equal(d.kind, LBDIFF_RUNTIME);
    assert_int_equal(d.nadd, 2);
    assert_int_equal(d.ndel, 0);
    assert_string_equal(d.add[0].backend, "web_10001");
    assert_string_equal(d.add[0].name, "10.0.0.1_31002");
    assert_string_equal(d.add[0].addr, "10.0.0.1:31002");
    assert_string_equal(d.add[1].name, "10.0.0.1_31003");
    char *cmds = lbdiff_commands(&d, NULL, 0);
    assert_string_equal(cmds, "add server web_10001/10.0.0.1_31002 10.0.0.1:31002\n"
                              "set server web_10001/10.0.0.1_31002 state ready\n"
                              "add server web_10001/10.0.0.1_31003 10.0.0.1:31003\n"
                              "set server web_10001/10.0.0.1_31003 state ready\n");
    free(cmds);
    lbdiff_cleanup(&d);
    free(a);
    free(b);
}

static void test_scale_down_drains_then_deletes(void **state)
{
    (void)state;
    char *a = render(
        "{'apps':[" APP("/web", "10001", TASK("31001") "," TASK("31002") "," TASK("31003")) "]}");
    char *b = render("{'apps':[" APP("/web", "10001", TASK("31002")) "]}");
    struct lbdiff d;
    lbdiff_compute(a, b, &d);
    assert_int_equal(d.kind, LBDIFF_RUNTIME);
    assert_int_equal(d.nadd, 0);
    assert_int_equal(d.ndel, 2);
    char *cmds = lbdiff_commands(&d, NULL, 0);
    assert_string_equal(cmds, "set server web_10001/10.0.0.1_31001 state drain\n"
                              "set server web_10001/10.0.0.1_31003 state drain\n");
    free(cmds);
    const char *names[] = { "web_10001/10.0.0.1_31001" };
    cmds = lbdiff_remove_commands(names, 1);
    assert_string_equal(cmds, "set server web_10001/10.0.0.1_31001 state maint\n"
                              "shutdown sessions server web_10001/10.0.0.1_31001\n"
                              "del server web_10001/10.0.0.1_31001\n");
    free(cmds);
    lbdiff_cleanup(&d);

    /* Back while still draining: made ready again, not added twice. */
    lbdiff_compute(b, a, &d);
    assert_int_equal(d.kind, LBDIFF_RUNTIME);
    assert_int_equal(d.nadd, 2);
    cmds = lbdiff_commands(&d, names, 1);
    assert_string_equal(cmds, "set server web_10001/10.0.0.1_31001 state ready\n"
                              "add server web_10001/10.0.0.1_31003 10.0.0.1:31003\n"
                              "set server web_10001/10.0.0.1_31003 state ready\n");
    free(cmds);
    lbdiff_cleanup(&d);
    free(a);
    free(b);
}

/* The kind and the counts of the diff from a to b. */
static void expect(const char *a, const char *b, enum lbdiff_kind kind, size_t nadd, size_t ndel)
{
    struct lbdiff d;
    lbdiff_compute(a, b, &d);
    assert_int_equal(d.kind, kind);
    assert_int_equal(d.nadd, nadd);
    assert_int_equal(d.ndel, ndel);
    lbdiff_cleanup(&d);
}

static void test_backend_to_empty_and_back(void **state)
{
    (void)state;
    char *a = render("{'apps':[" APP("/web", "10001", TASK("31001")) "]}");
    char *b = render("{'apps':[" APP("/web", "10001", ) "]}");
    expect(a, b, LBDIFF_RUNTIME, 0, 1);
    expect(b, a, LBDIFF_RUNTIME, 1, 0);
    free(a);
    free(b);
}

static void test_frontend_changes_reload(void **state)
{
    (void)state;
    char *a = render("{'apps':[" APP("/web", "10001", TASK("31001")) "]}");
    /* A new app: a new frontend. */
    char *b = render("{'apps':[" APP("/web", "10001", TASK("31001")) "," APP("/db", "10002",
                                                                             TASK("31005")) "]}");
    /* A new mode. */
    char *c = render("{'apps':[{'id':'/web','portDefinitions':[{'port':10001}],"
                     "'labels':{'HAPROXY_0_MODE':'http'},'tasks':[" TASK("31001") "]}]}");
    expect(a, b, LBDIFF_RELOAD, 0, 0);
    expect(b, a, LBDIFF_RELOAD, 0, 0);
    expect(a, c, LBDIFF_RELOAD, 0, 0);
    expect(NULL, a, LBDIFF_RELOAD, 0, 0); /* nothing applied yet */
    free(a);
    free(b);
    free(c);
}

static void test_state_file_in_config(void **state)
{
    (void)state;
    char *a = render("{'apps':[{'id':'/a','portDefinitions':[{'port':10001}]}]}");
    assert_non_null(strstr(a, "    server-state-file /run/lb.state\n"));
    /* In each backend: HAPROXY_HEAD (defaults) may be the operator's. */
    assert_non_null(strstr(a, "\nbackend a_10001\n    mode tcp\n    balance roundrobin\n"
                              "    load-server-state-from-file global\n"));
    assert_non_null(strstr(a, "    hard-stop-after "));
    free(a);
}

/* HAProxy's complaint about a line of the candidate names its backend. */
static void test_blame(void **state)
{
    (void)state;
    char *a = render("{'apps':[" APP("/web", "10001", TASK("31001")) "," APP("/db", "10002",
                                                                             TASK("31005")) "]}");
    /* The line of db's bind. */
    const char *p = strstr(a, "    bind 127.0.0.1:10002");
    assert_non_null(p);
    long line = 1;
    for (const char *c = a; c < p; c++)
        line += *c == '\n';
    char log[512];
    snprintf(log, sizeof(log),
             "[ALERT]    (1) : config : parsing [/x/haproxy.cfg.candidate:%ld] : 'bind' : bad\n"
             "[ALERT]    (1) : config : Error(s) found in configuration file : "
             "/x/haproxy.cfg.candidate\n",
             line);
    json_t *out = json_object();
    assert_int_equal(lbdiff_blame(a, log, "/x/haproxy.cfg.candidate", out), 1);
    assert_non_null(json_object_get(out, "db_10002"));
    char want[128];
    snprintf(want, sizeof(want), "parsing [/x/haproxy.cfg.candidate:%ld] : 'bind' : bad", line);
    assert_string_equal(json_string_value(json_object_get(out, "db_10002")), want);
    /* A line of global blames nobody. */
    json_object_clear(out);
    assert_int_equal(lbdiff_blame(a, "[/x/c:2] bad", "/x/c", out), 0);
    /* A check after parsing names the proxy, not a line. */
    assert_int_equal(
        lbdiff_blame(a,
                     "[NOTICE]   (1) : haproxy version is 2.6.12\n"
                     "[ALERT]    (1) : config : Proxy 'web_10001': bad thing 'x'.\n"
                     "[ALERT]    (1) : config : Fatal errors found in configuration.\n",
                     "/x/c", out),
        1);
    assert_string_equal(json_string_value(json_object_get(out, "web_10001")),
                        "Proxy 'web_10001': bad thing 'x'.");
    json_object_clear(out);
    assert_int_equal(
        lbdiff_blame(a, "[ALERT] (1) : config : Proxy 'marathon_http_in': bad\n", "/x/c", out), 0);
    json_decref(out);
    free(a);
}

/* A sticky backend's servers carry cookies, which HAProxy 2.6 refuses on
 * servers added at run time: its membership changes by reload. */
static void test_sticky_membership_reloads(void **state)
{
    (void)state;
#define STICKY(tasks)                                                                      \
    "{'apps':[{'id':'/s','portDefinitions':[{'port':10001}],'labels':{'HAPROXY_0_STICKY':" \
    "'true','HAPROXY_0_MODE':'http'},'tasks':[" tasks                                      \
    "]}," APP("/web", "10002", TASK("31009")) "]}"
    char *a = render(STICKY(TASK("31001")));
    char *b = render(STICKY(TASK("31001") "," TASK("31002")));
    expect(a, b, LBDIFF_RELOAD, 0, 0);
    expect(b, a, LBDIFF_RELOAD, 0, 0);
    free(a);
    free(b);
#undef STICKY
}

/* The ports a new text binds that the applied one does not: the ones to
 * probe before a reload. */
static void test_new_binds(void **state)
{
    (void)state;
    char *a = render("{'apps':[" APP("/web", "10001", TASK("31001")) "]}");
    char *b = render(
        "{'apps':[" APP("/web", "10001", TASK("31001")) ",{'id':'/db',"
                                                        "'portDefinitions':[{'port':10002}],'"
                                                        "labels':{'HAPROXY_0_BIND_ADDR':'::1'}}]}");
    json_t *out = json_array();
    assert_int_equal(lbdiff_new_binds(a, b, out), 1);
    json_t *e = json_array_get(out, 0);
    assert_string_equal(json_string_value(json_object_get(e, "frontend")), "db_10002");
    assert_string_equal(json_string_value(json_object_get(e, "addr")), "[::1]");
    assert_int_equal(json_integer_value(json_object_get(e, "port")), 10002);
    json_array_clear(out);
    assert_int_equal(lbdiff_new_binds(b, a, out), 0);
    assert_int_equal(lbdiff_new_binds(NULL, a, out), 1);
    json_array_clear(out);
    free(a);
    free(b);

    /* A bound port with words after it (ssl crt, bind options) is bound:
     * read from the end of the line it was probed again, found in use by
     * HAProxy itself, and its app left out at the next change. */
    a = render(
        "{'apps':[{'id':'/s','portDefinitions':[{'port':10003}],"
        "'labels':{'HAPROXY_0_SSL_CERT':'/e/a:b.pem','HAPROXY_0_BIND_OPTIONS':'alpn h2'}}]}");
    b = render("{'apps':[{'id':'/s','portDefinitions':[{'port':10003}],"
               "'labels':{'HAPROXY_0_SSL_CERT':'/e/a:b.pem','HAPROXY_0_BIND_OPTIONS':'alpn h2'}},"
               "{'id':'/t','portDefinitions':[{'port':10004}]}]}");
    assert_non_null(strstr(a, "    bind 127.0.0.1:10003 ssl crt /e/a:b.pem alpn h2\n"));
    assert_int_equal(lbdiff_new_binds(a, b, out), 1);
    e = json_array_get(out, 0);
    assert_string_equal(json_string_value(json_object_get(e, "frontend")), "t_10004");
    json_array_clear(out);
    assert_int_equal(lbdiff_new_binds(NULL, a, out), 1);
    e = json_array_get(out, 0);
    assert_string_equal(json_string_value(json_object_get(e, "addr")), "127.0.0.1");
    assert_int_equal(json_integer_value(json_object_get(e, "port")), 10003);
    json_decref(out);
    free(a);
    free(b);
}

/* Only the part between the texts' common head and tail is compared:
 * a change in the middle, at both ends, or of a frontend between
 * unchanged ones must come out as it would from the whole texts. */
static void test_change_between_same_sections(void **state)
{
    (void)state;
#define THREE(a, b, c) \
    "{'apps':[" APP("/a", "10001", a) "," APP("/b", "10002", b) "," APP("/c", "10003", c) "]}"
    char *base = render(THREE(TASK("31001"), TASK("31002"), TASK("31003")));
    char *mid = render(THREE(TASK("31001"), TASK("31002") "," TASK("31004"), TASK("31003")));
    char *ends = render(THREE(TASK("31005"), TASK("31002"), TASK("31003") "," TASK("31006")));
    char *moved = render(THREE(TASK("31001"), "", TASK("31003") "," TASK("31002")));
    char *port = render("{'apps':[" APP("/a", "10001", TASK("31001")) "," APP(
        "/b", "10009", TASK("31002")) "," APP("/c", "10003", TASK("31003")) "]}");
    struct lbdiff d;
    lbdiff_compute(base, mid, &d);
    assert_int_equal(d.kind, LBDIFF_RUNTIME);
    assert_int_equal(d.nadd, 1);
    assert_int_equal(d.ndel, 0);
    assert_string_equal(d.add[0].backend, "b_10002");
    assert_string_equal(d.add[0].name, "10.0.0.1_31004");
    lbdiff_cleanup(&d);
    lbdiff_compute(mid, base, &d);
    assert_int_equal(d.kind, LBDIFF_RUNTIME);
    assert_int_equal(d.nadd, 0);
    assert_int_equal(d.ndel, 1);
    assert_string_equal(d.del[0].backend, "b_10002");
    lbdiff_cleanup(&d);
    lbdiff_compute(base, ends, &d);
    assert_int_equal(d.kind, LBDIFF_RUNTIME);
    assert_int_equal(d.nadd, 2);
    assert_int_equal(d.ndel, 1);
    assert_string_equal(d.add[0].backend, "a_10001");
    assert_string_equal(d.add[0].name, "10.0.0.1_31005");
    assert_string_equal(d.add[1].backend, "c_10003");
    assert_string_equal(d.add[1].name, "10.0.0.1_31006");
    assert_string_equal(d.del[0].backend, "a_10001");
    assert_string_equal(d.del[0].name, "10.0.0.1_31001");
    lbdiff_cleanup(&d);
    lbdiff_compute(base, moved, &d);
    assert_int_equal(d.kind, LBDIFF_RUNTIME);
    assert_int_equal(d.nadd, 1);
    assert_int_equal(d.ndel, 1);
    assert_string_equal(d.add[0].backend, "c_10003");
    assert_string_equal(d.add[0].name, "10.0.0.1_31002");
    assert_string_equal(d.del[0].backend, "b_10002");
    assert_string_equal(d.del[0].name, "10.0.0.1_31002");
    lbdiff_cleanup(&d);
    lbdiff_compute(base, port, &d);
    assert_int_equal(d.kind, LBDIFF_RELOAD);
    lbdiff_cleanup(&d);
    lbdiff_compute(base, base, &d);
    assert_int_equal(d.kind, LBDIFF_NONE);
    lbdiff_cleanup(&d);
    free(base);
    free(mid);
    free(ends);
    free(moved);
    free(port);
#undef THREE
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_text_is_nothing),
        cmocka_unit_test(test_scale_up_is_runtime),
        cmocka_unit_test(test_scale_down_drains_then_deletes),
        cmocka_unit_test(test_backend_to_empty_and_back),
        cmocka_unit_test(test_frontend_changes_reload),
        cmocka_unit_test(test_state_file_in_config),
        cmocka_unit_test(test_blame),
        cmocka_unit_test(test_sticky_membership_reloads),
        cmocka_unit_test(test_new_binds),
        cmocka_unit_test(test_change_between_same_sections),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
