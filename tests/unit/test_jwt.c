/*
 * test_jwt: bearer tokens (common/jwt.c) — a token signed with the key
 * is its sub; every other shape is refused with a reason: another key,
 * a changed payload, alg "none" or HS512, expired, not valid yet, no sub,
 * bad base64url, wrong part counts, oversize.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>

#include "jwt.h"
#include "mem.h"

#define NOW 1700000000.0

static const char *refused(const char *token)
{
    char *sub = NULL;
    const char *why = NULL;
    assert_int_equal(jwt_verify(token, NOW, &sub, &why), -1);
    assert_null(sub);
    assert_non_null(why);
    return why;
}

static char *signed_raw(const char *header, const char *claims)
{
    return jwt_sign_raw(header, strlen(header), claims, strlen(claims));
}

static void test_good_token_is_its_sub(void **state)
{
    (void)state;
    jwt_set_key("k3y", 3);
    /* jwt_check_bearer checks against the clock. */
    char *t = jwt_sign("alice", (double)time(NULL) + 60);
    char *sub = NULL;
    const char *why = NULL;
    assert_int_equal(jwt_verify(t, NOW, &sub, &why), 0);
    assert_string_equal(sub, "alice");
    free(sub);
    char *h = xasprintf("Bearer %s", t);
    const char *p1 = jwt_check_bearer(h);
    assert_non_null(p1);
    assert_string_equal(p1, "alice");
    assert_ptr_equal(jwt_check_bearer(h), p1); /* interned */
    assert_null(jwt_check_bearer("Basic YTpi"));
    free(h);
    free(t);
}

static void test_refusals(void **state)
{
    (void)state;
    jwt_set_key("k3y", 3);
    char *t = jwt_sign("alice", NOW + 60);

    /* Another key. */
    jwt_set_key("other", 5);
    assert_string_equal(refused(t), "bad signature");
    jwt_set_key("k3y", 3);

    /* The payload changed after signing: the signature no longer holds. */
    char *dot = strchr(t, '.');
    char *tampered = xstrdup(t);
    tampered[dot - t + 3] = tampered[dot - t + 3] == 'A' ? 'B' : 'A';
    assert_string_equal(refused(tampered), "bad signature");
    free(tampered);

    /* Signed with the key, refused for what they say. */
    static const struct {
        const char *header, *claims, *why;
    } bad[] = {
        { "{\"alg\":\"none\"}", "{\"sub\":\"a\"}", "alg is not HS256" },
        { "{\"alg\":\"HS512\"}", "{\"sub\":\"a\"}", "alg is not HS256" },
        { "{\"alg\":\"HS256\",\"typ\":\"JWS\"}", "{\"sub\":\"a\"}", "typ is not JWT" },
        { "{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":1700000000}", "expired" },
        { "{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"nbf\":1800000000}", "not valid yet (nbf)" },
        { "{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"exp\":\"soon\"}", "exp or nbf is not a number" },
        { "{\"alg\":\"HS256\"}", "{\"sub\":\"\"}", "no sub" },
        { "{\"alg\":\"HS256\"}", "[\"sub\"]", "malformed token" },
        { "{\"alg\":\"HS256\"}", "{\"sub\":\"a\",\"sub\":\"b\"}", "malformed token" },
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *x = signed_raw(bad[i].header, bad[i].claims);
        assert_string_equal(refused(x), bad[i].why);
        free(x);
    }

    assert_string_equal(refused(""), "malformed token");
    assert_string_equal(refused("a.b"), "malformed token");
    assert_string_equal(refused("a.b.c.d"), "malformed token");
    assert_string_equal(refused("eyJhbGciOiJIUzI1NiJ9.e30.!!"), "bad signature");
    assert_string_equal(refused("%%%.e30.e30"), "malformed token");
    char *big = xmalloc(9000);
    memset(big, 'A', 8999);
    big[8999] = '\0';
    big[10] = '.';
    big[20] = '.';
    assert_string_equal(refused(big), "malformed token");
    free(big);

    /* No key: nothing is a good token. */
    jwt_set_key(NULL, 0);
    assert_false(jwt_enabled());
    assert_string_equal(refused(t), "no key");
    free(t);
}

static void test_key_file(void **state)
{
    (void)state;
    char path[] = "/tmp/test_jwt_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "s3cret\n", 7), 7);
    close(fd);
    char *err = NULL;
    assert_int_equal(jwt_set_key_file(path, &err), 0);
    char *a = jwt_sign("bob", 0);
    jwt_set_key("s3cret", 6); /* the newline is not part of the key */
    char *b = jwt_sign("bob", 0);
    assert_string_equal(a, b);
    free(a);
    free(b);
    fd = open(path, O_WRONLY | O_TRUNC);
    close(fd);
    assert_int_equal(jwt_set_key_file(path, &err), -1);
    assert_non_null(strstr(err, "--jwt_secret_key"));
    free(err);
    unlink(path);
    assert_int_equal(jwt_set_key_file(path, &err), -1);
    free(err);
    jwt_set_key(NULL, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good_token_is_its_sub),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_key_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
