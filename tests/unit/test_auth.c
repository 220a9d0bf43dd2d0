/*
 * test_auth: credentials files in both of Mesos's formats, HTTP Basic
 * checks (right, wrong principal, wrong secret, malformed), and the
 * header a client sends.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"

static struct auth_creds *parse(const char *text)
{
    char *err = NULL;
    struct auth_creds *c = auth_creds_parse(text, strlen(text), &err);
    if (c == NULL)
        print_error("parse: %s\n", err);
    free(err);
    return c;
}

static char *parse_err(const char *text)
{
    char *err = NULL;
    struct auth_creds *c = auth_creds_parse(text, strlen(text), &err);
    assert_null(c);
    assert_non_null(err);
    return err;
}

static void test_json_and_text_formats(void **state)
{
    (void)state;
    struct auth_creds *c = parse("{\"credentials\": [{\"principal\": \"alice\", \"secret\": "
                                 "\"s3cret\"}, {\"principal\": \"bob\", \"secret\": \"x y\"}]}");
    const char *p, *s;
    assert_non_null(c);
    assert_int_equal(auth_creds_count(c), 2);
    assert_true(auth_creds_get(c, 1, &p, &s));
    assert_string_equal(p, "bob");
    assert_string_equal(s, "x y");
    assert_false(auth_creds_get(c, 2, &p, &s));
    auth_creds_free(c);

    c = parse("\n  alice   s3cret  \n\nbob pass word\n");
    assert_int_equal(auth_creds_count(c), 2);
    assert_true(auth_creds_get(c, 1, &p, &s));
    assert_string_equal(p, "bob");
    assert_string_equal(s, "pass word");
    auth_creds_free(c);

    /* A single credential (the slave's --credential). */
    c = parse("{\"principal\": \"agent\", \"secret\": \"a\"}");
    assert_int_equal(auth_creds_count(c), 1);
    auth_creds_free(c);
}

static void test_bad_files_say_why(void **state)
{
    (void)state;
    char *e = parse_err("{\"credentials\": [{\"principal\": \"a\"}]}");
    assert_non_null(strstr(e, "credentials[0]"));
    free(e);
    e = parse_err("alice\n");
    assert_non_null(strstr(e, "line 1"));
    free(e);
    e = parse_err("{\"credentials\": 3}");
    assert_non_null(strstr(e, "credentials"));
    free(e);
    e = parse_err("{nope");
    assert_non_null(strstr(e, "JSON"));
    free(e);
    e = parse_err("\n\n");
    assert_non_null(strstr(e, "no credentials"));
    free(e);
    e = parse_err("{\"credentials\": [{\"principal\": \"a\", \"secret\": \"b\\u0000c\"}]}");
    assert_non_null(strstr(e, "NUL"));
    free(e);
    char *err = NULL;
    assert_null(auth_creds_load("/nonexistent/creds", &err));
    assert_non_null(strstr(err, "/nonexistent/creds"));
    free(err);
    /* Mesos's file:// form is the same file. */
    assert_null(auth_creds_load("file:///nonexistent/creds", &err));
    assert_non_null(strstr(err, ": cannot open"));
    assert_null(strstr(err, "file://"));
    free(err);
}

static void test_basic_check(void **state)
{
    (void)state;
    struct auth_creds *c = parse("alice s3cret\nbob hunter2\n");
    const char *who = NULL;
    char *h = auth_basic_header("bob", "hunter2");
    assert_string_equal(h, "Basic Ym9iOmh1bnRlcjI=");
    assert_true(auth_check_basic(c, h, &who));
    assert_string_equal(who, "bob");
    free(h);

    h = auth_basic_header("bob", "hunter3"); /* wrong secret */
    assert_false(auth_check_basic(c, h, &who));
    free(h);
    h = auth_basic_header("carol", "hunter2"); /* unknown principal */
    assert_false(auth_check_basic(c, h, &who));
    free(h);
    h = auth_basic_header("alice", "hunter2"); /* another one's secret */
    assert_false(auth_check_basic(c, h, &who));
    free(h);
    /* Case of the scheme does not matter; anything malformed fails. */
    assert_true(auth_check_basic(c, "basic YWxpY2U6czNjcmV0", &who));
    assert_string_equal(who, "alice");
    assert_false(auth_check_basic(c, NULL, &who));
    assert_false(auth_check_basic(c, "", &who));
    assert_false(auth_check_basic(c, "Bearer YWxpY2U6czNjcmV0", &who));
    assert_false(auth_check_basic(c, "Basic YWxpY2U6czNjcmV", &who));     /* not 4n */
    assert_false(auth_check_basic(c, "Basic YWxp!2U6czNjcmV0", &who));    /* not base64 */
    assert_false(auth_check_basic(c, "Basic YWxpY2U=", &who));            /* no ':' */
    assert_false(auth_check_basic(NULL, "Basic YWxpY2U6czNjcmV0", &who)); /* no creds */
    auth_creds_free(c);
}

static void test_secret_with_colon(void **state)
{
    (void)state;
    struct auth_creds *c = parse("{\"principal\": \"p\", \"secret\": \"a:b:c\"}");
    const char *who = NULL;
    char *h = auth_basic_header("p", "a:b:c");
    char *p = NULL, *s = NULL;
    assert_true(auth_parse_basic(h, &p, &s));
    assert_string_equal(p, "p");
    assert_string_equal(s, "a:b:c");
    assert_true(auth_check_basic(c, h, &who));
    free(p);
    free(s);
    free(h);
    auth_creds_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_and_text_formats),
        cmocka_unit_test(test_bad_files_say_why),
        cmocka_unit_test(test_basic_check),
        cmocka_unit_test(test_secret_with_colon),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
