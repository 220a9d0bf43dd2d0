/*
 * test_acls: Mesos's ACL semantics — first matching ACL decides, NONE
 * denies, ANY and absent entities match everything, "permissive" decides
 * when nothing matches — and errors that name the bad field.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "acls.h"

static struct acls *parse(const char *text)
{
    char *err = NULL;
    struct acls *a = acls_parse(text, strlen(text), &err);
    if (a == NULL)
        print_error("acls: %s\n", err);
    free(err);
    assert_non_null(a);
    return a;
}

static void test_first_match_decides(void **state)
{
    (void)state;
    struct acls *a =
        parse("{\"register_frameworks\": ["
              "  {\"principals\": {\"values\": [\"ops\"]}, \"roles\": {\"type\": \"ANY\"}},"
              "  {\"principals\": {\"values\": [\"web\"]}, \"roles\": {\"values\": [\"web\"]}},"
              "  {\"principals\": {\"type\": \"ANY\"}, \"roles\": {\"values\": [\"web\"]}},"
              "  {\"principals\": {\"values\": [\"x\"]}, \"roles\": {\"type\": \"NONE\"}}"
              "]}");
    assert_true(acls_allowed(a, ACL_REGISTER_FRAMEWORKS, "ops", "anything"));
    assert_true(acls_allowed(a, ACL_REGISTER_FRAMEWORKS, "web", "web"));
    /* "web" on another role: no ACL with a matching object until the last
     * (whose subject does not match), so permissive (default true). */
    assert_true(acls_allowed(a, ACL_REGISTER_FRAMEWORKS, "web", "db"));
    /* ANY principal may register "web"; x may register nothing. */
    assert_true(acls_allowed(a, ACL_REGISTER_FRAMEWORKS, "other", "web"));
    assert_false(acls_allowed(a, ACL_REGISTER_FRAMEWORKS, "x", "db"));
    /* Other actions have no ACLs: permissive. */
    assert_true(acls_allowed(a, ACL_RUN_TASKS, "x", "root"));
    acls_free(a);
}

static void test_allowed_all(void **state)
{
    (void)state;
    struct acls *a =
        parse("{\"view_tasks\": ["
              "  {\"principals\": {\"values\": [\"ops\"]}, \"users\": {\"type\": \"ANY\"}},"
              "  {\"principals\": {\"values\": [\"web\"]}, \"users\": {\"values\": [\"web\"]}},"
              "  {\"principals\": {\"values\": [\"no\"]}, \"users\": {\"type\": \"NONE\"}}"
              "]}");
    assert_true(acls_allowed_all(a, ACL_VIEW_TASKS, "ops"));
    /* Some users only (later ones left to permissive): not sure, no. */
    assert_false(acls_allowed_all(a, ACL_VIEW_TASKS, "web"));
    assert_false(acls_allowed_all(a, ACL_VIEW_TASKS, "no"));
    /* Nothing about this principal: permissive decides. */
    assert_true(acls_allowed_all(a, ACL_VIEW_TASKS, "other"));
    assert_true(acls_allowed_all(a, ACL_VIEW_FRAMEWORKS, "web"));
    assert_true(acls_allowed_all(NULL, ACL_VIEW_TASKS, NULL));
    acls_free(a);
    a = parse("{\"permissive\": false, \"view_frameworks\": ["
              "  {\"principals\": {\"type\": \"ANY\"}, \"users\": {\"type\": \"ANY\"}}]}");
    assert_true(acls_allowed_all(a, ACL_VIEW_FRAMEWORKS, NULL));
    assert_false(acls_allowed_all(a, ACL_VIEW_TASKS, "ops"));
    acls_free(a);
}

static void test_not_permissive(void **state)
{
    (void)state;
    struct acls *a = parse(
        "{\"permissive\": false, \"run_tasks\": ["
        "  {\"principals\": {\"values\": [\"batch\"]}, \"users\": {\"values\": [\"nobody\"]}},"
        "  {\"principals\": {\"type\": \"NONE\"}, \"users\": {\"values\": [\"root\"]}}"
        "]}");
    assert_true(acls_allowed(a, ACL_RUN_TASKS, "batch", "nobody"));
    assert_false(acls_allowed(a, ACL_RUN_TASKS, "batch", "root"));    /* NONE subject */
    assert_false(acls_allowed(a, ACL_RUN_TASKS, "batch", "daemon"));  /* nothing matches */
    assert_false(acls_allowed(a, ACL_RUN_TASKS, NULL, "nobody"));     /* no principal */
    assert_false(acls_allowed(a, ACL_VIEW_TASKS, "batch", "nobody")); /* no ACLs, not permissive */
    acls_free(a);
    assert_true(acls_allowed(NULL, ACL_RUN_TASKS, NULL, "root")); /* no --acls */
}

static void test_errors_name_the_field(void **state)
{
    (void)state;
    static const struct {
        const char *text, *want;
    } cases[] = {
        { "[]", "object" },
        { "{\"permissive\": 1}", "permissive" },
        { "{\"run_task\": []}", "unknown field 'run_task'" },
        { "{\"run_tasks\": {}}", "run_tasks" },
        { "{\"run_tasks\": [{\"principals\": {\"values\": [1]}}]}",
          "run_tasks[0].principals.values[0]" },
        { "{\"run_tasks\": [{\"users\": {\"type\": \"SOME\"}}]}", "run_tasks[0].users.type" },
        { "{\"run_tasks\": [{\"roles\": {\"type\": \"ANY\"}}]}", "unknown field 'roles'" },
        { "{\"view_tasks\": [{\"users\": {\"type\": \"ANY\", \"values\": []}}]}",
          "view_tasks[0].users" },
        { "{oops", "JSON" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *err = NULL;
        assert_null(acls_parse(cases[i].text, strlen(cases[i].text), &err));
        if (strstr(err, cases[i].want) == NULL)
            fail_msg("%s: error '%s' does not name '%s'", cases[i].text, err, cases[i].want);
        free(err);
    }
}

/* Pacer's change_apps: an app id value holds the ids under it, by path
 * component. */
static void test_change_apps_by_prefix(void **state)
{
    (void)state;
    struct acls *a =
        parse("{\"permissive\": false, \"change_apps\": ["
              "  {\"principals\": {\"values\": [\"alice\"]}, \"app_ids\": {\"values\": "
              "[\"/team-a\"]}},"
              "  {\"principals\": {\"values\": [\"ops\"]}, \"app_ids\": {\"type\": \"ANY\"}}"
              "]}");
    assert_true(acls_allowed(a, ACL_CHANGE_APPS, "alice", "/team-a"));
    assert_true(acls_allowed(a, ACL_CHANGE_APPS, "alice", "/team-a/web"));
    assert_true(acls_allowed(a, ACL_CHANGE_APPS, "alice", "/team-a/db/primary"));
    assert_false(acls_allowed(a, ACL_CHANGE_APPS, "alice", "/team-ab"));
    assert_false(acls_allowed(a, ACL_CHANGE_APPS, "alice", "/team-b/web"));
    assert_false(acls_allowed(a, ACL_CHANGE_APPS, "alice", "/team-a/../team-b"));
    assert_false(acls_allowed(a, ACL_CHANGE_APPS, "bob", "/team-a/web"));
    assert_false(acls_allowed(a, ACL_CHANGE_APPS, NULL, "/team-a/web"));
    assert_true(acls_allowed(a, ACL_CHANGE_APPS, "ops", "/anything"));
    assert_true(acls_allowed_all(a, ACL_CHANGE_APPS, "ops"));
    assert_false(acls_allowed_all(a, ACL_CHANGE_APPS, "alice"));
    acls_free(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_match_decides),   cmocka_unit_test(test_allowed_all),
        cmocka_unit_test(test_not_permissive),        cmocka_unit_test(test_errors_name_the_field),
        cmocka_unit_test(test_change_apps_by_prefix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
