/*
 * test_pacer_lb_patch: task events applied to the kept apps document
 * (frameworks/pacer-lb/patch.c), checked through the servers config.c
 * renders from it: TASK_RUNNING adds a server (with Pacer's event as
 * it is sent), TASK_KILLING and terminal states take it out, health
 * events gate an app with a health check, replays are idempotent, and
 * whatever patch.c cannot be sure of (unknown app, several health
 * checks, unknown state, missing fields) asks for a refresh and leaves
 * the document as it was.
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

static const struct lbcfg_opts opts = { "external", "127.0.0.1", 2000, "/run/lb.sock" };

static int apply(json_t *doc, const char *type, const char *ev)
{
    json_t *e = lb_load(ev);
    int r = lbpatch_apply(doc, type, e);
    json_decref(e);
    return r;
}

/* The server lines of backend be, in order, one string. */
static char *servers(const json_t *doc, const char *be)
{
    char *err = NULL;
    char *text = lbcfg_render(doc, &opts, NULL, &err);
    assert_non_null(text);
    char head[256];
    snprintf(head, sizeof(head), "\nbackend %s\n", be);
    const char *p = strstr(text, head);
    size_t cap = 4096, n = 0;
    char *out = calloc(1, cap);
    while (p != NULL && (p = strchr(p + 1, '\n')) != NULL && p[1] == ' ') {
        const char *eol = strchr(p + 1, '\n');
        if (strncmp(p + 1, "    server ", 11) == 0 && eol != NULL && n + (size_t)(eol - p) < cap) {
            memcpy(out + n, p + 1, (size_t)(eol - p));
            n += (size_t)(eol - p);
        }
    }
    free(text);
    return out;
}

static void assert_servers(const json_t *doc, const char *be, const char *want)
{
    char *got = servers(doc, be);
    assert_string_equal(got, want);
    free(got);
}

/* clang-format off */
#define DOC                                                                                  \
    "{'apps':[{'id':'/web','portDefinitions':[{'port':10001}],'tasks':["                     \
    "{'id':'web.a','appId':'/web','state':'TASK_RUNNING','host':'slave0','ports':[31001],"   \
    "'ipAddresses':[{'ipAddress':'127.0.0.1','protocol':'IPv4'}],'healthCheckResults':[]}]}," \
    "{'id':'/hc','portDefinitions':[{'port':10002}],"                                        \
    "'healthChecks':[{'protocol':'HTTP','portIndex':0}],'tasks':[]},"                        \
    "{'id':'/two','portDefinitions':[{'port':10003}],"                                       \
    "'healthChecks':[{'protocol':'HTTP'},{'protocol':'TCP'}],'tasks':[]}]}"

/* Pacer's status_update_event (frameworks/pacer/events.c). */
#define STATUS(app, task, state, port)                                                       \
    "{'slaveId':'s0','taskId':'" task "','taskStatus':'" state "','message':'',"             \
    "'appId':'" app "','host':'slave0','ports':[" port "],"                                  \
    "'ipAddresses':[{'ipAddress':'127.0.0.1','protocol':'IPv4'}],'version':'v1'}"
#define HEALTH(app, task, alive)                                                             \
    "{'appId':'" app "','taskId':'" task "','instanceId':'" task ".i','version':'v1',"       \
    "'alive':" alive "}"
/* clang-format on */

static void test_running_then_killed(void **state)
{
    json_t *doc = lb_load(DOC);
    assert_servers(doc, "web_10001", "    server 127.0.0.1_31001 127.0.0.1:31001\n");
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/web", "web.b", "TASK_STAGING", "31002")), 1);
    assert_servers(doc, "web_10001", "    server 127.0.0.1_31001 127.0.0.1:31001\n");
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/web", "web.b", "TASK_RUNNING", "31002")), 1);
    assert_servers(doc, "web_10001",
                   "    server 127.0.0.1_31001 127.0.0.1:31001\n"
                   "    server 127.0.0.1_31002 127.0.0.1:31002\n");
    /* Replayed onto an answer that already has it: nothing changes. */
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/web", "web.b", "TASK_RUNNING", "31002")), 1);
    json_t *tasks = json_object_get(json_array_get(json_object_get(doc, "apps"), 0), "tasks");
    assert_int_equal(json_array_size(tasks), 2);
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/web", "web.a", "TASK_KILLING", "31001")), 1);
    assert_servers(doc, "web_10001", "    server 127.0.0.1_31002 127.0.0.1:31002\n");
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/web", "web.a", "TASK_KILLED", "31001")), 1);
    assert_int_equal(json_array_size(tasks), 1);
    /* Again (a replay), or a task never seen: nothing to do. */
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/web", "web.a", "TASK_KILLED", "31001")), 0);
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/web", "web.z", "TASK_FAILED", "31009")), 0);
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/web", "web.b", "TASK_LOST", "31002")), 1);
    assert_servers(doc, "web_10001", "");
    json_decref(doc);
}

static void test_health_gates_routing(void **state)
{
    json_t *doc = lb_load(DOC);
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/hc", "hc.a", "TASK_RUNNING", "31005")), 1);
    assert_servers(doc, "hc_10002", ""); /* no result yet: not routed */
    assert_int_equal(apply(doc, "health_status_changed_event", HEALTH("/hc", "hc.a", "true")), 1);
    assert_servers(doc, "hc_10002", "    server 127.0.0.1_31005 127.0.0.1:31005\n");
    assert_int_equal(apply(doc, "health_status_changed_event", HEALTH("/hc", "hc.a", "true")), 0);
    /* A later status update keeps the health result. */
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/hc", "hc.a", "TASK_RUNNING", "31005")), 1);
    assert_servers(doc, "hc_10002", "    server 127.0.0.1_31005 127.0.0.1:31005\n");
    assert_int_equal(apply(doc, "health_status_changed_event", HEALTH("/hc", "hc.a", "false")), 1);
    assert_servers(doc, "hc_10002", "");
    /* Marathon 1.4+ names the instance only: found through its result. */
    assert_int_equal(apply(doc, "health_status_changed_event",
                           "{'appId':'/hc','instanceId':'hc.a.i','alive':true}"),
                     1);
    assert_servers(doc, "hc_10002", "    server 127.0.0.1_31005 127.0.0.1:31005\n");
    /* A dead task of a task gone already is nothing; an alive one unknown
     * asks for a refresh. */
    assert_int_equal(apply(doc, "health_status_changed_event", HEALTH("/hc", "hc.z", "false")), 0);
    assert_int_equal(apply(doc, "health_status_changed_event", HEALTH("/hc", "hc.z", "true")), -1);
    json_decref(doc);
}

static void test_doubts_refresh(void **state)
{
    json_t *doc = lb_load(DOC);
    char *before = json_dumps(doc, JSON_SORT_KEYS);
    /* An app not in the document: its definition comes with a refresh. */
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/new", "new.a", "TASK_RUNNING", "31001")), -1);
    /* Which of two health checks the event is about is not known. */
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/two", "two.a", "TASK_RUNNING", "31003")), 1);
    json_decref(doc);
    doc = lb_load(DOC);
    assert_int_equal(apply(doc, "health_status_changed_event", HEALTH("/two", "two.a", "true")),
                     -1);
    assert_int_equal(
        apply(doc, "status_update_event", STATUS("/web", "web.b", "TASK_SOMETHING", "31002")), -1);
    assert_int_equal(
        apply(doc, "status_update_event",
              "{'taskId':'web.b','taskStatus':'TASK_RUNNING','appId':'/web','host':'h'}"),
        -1);
    assert_int_equal(
        apply(doc, "status_update_event",
              "{'taskId':'web.b','taskStatus':'TASK_RUNNING','appId':'/web','host':'h',"
              "'ports':['x'],'ipAddresses':[]}"),
        -1);
    /* A new task without its addresses: /v2/apps may route elsewhere. */
    assert_int_equal(
        apply(doc, "status_update_event",
              "{'taskId':'web.b','taskStatus':'TASK_RUNNING','appId':'/web','host':'h',"
              "'ports':[31002]}"),
        -1);
    assert_int_equal(
        apply(doc, "health_status_changed_event", "{'appId':'/hc','taskId':'hc.a','alive':'yes'}"),
        -1);
    assert_int_equal(apply(doc, "deployment_success", "{'appId':'/web'}"), -1);
    assert_int_equal(apply(doc, "status_update_event", "{'taskId':'web.b'}"), -1);
    assert_int_equal(lbpatch_apply(doc, "status_update_event", NULL), -1);
    assert_int_equal(lbpatch_apply(NULL, "status_update_event", NULL), -1);
    char *after = json_dumps(doc, JSON_SORT_KEYS);
    assert_string_equal(before, after);
    free(before);
    free(after);
    json_decref(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_running_then_killed),
        cmocka_unit_test(test_health_gates_routing),
        cmocka_unit_test(test_doubts_refresh),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
