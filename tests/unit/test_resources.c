/*
 * test_resources: Mesos resources (common/resources.c): text parse/format
 * round trips, add/subtract/contains with range splitting and sets, fixed
 * point scalars, error messages, protobuf and JSON conversions.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mem.h"
#include "pbjson.h"
#include "resources.h"

/* Tests feed Mesos's deprecated Resource.role on purpose. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

static void parse_ok(const char *text, const char *role, struct resources *r)
{
    char *err = NULL;
    res_init(r);
    if (res_parse(text, role, r, &err) != 0)
        fail_msg("parse '%s': %s", text, err);
    assert_null(err);
}

static void expect_format(const char *text, const char *want)
{
    struct resources r;
    char *s;

    parse_ok(text, NULL, &r);
    s = res_format(&r);
    if (strcmp(s, want) != 0)
        fail_msg("format of '%s'\n  got  '%s'\n  want '%s'", text, s, want);
    free(s);
    res_cleanup(&r);
}

static void expect_parse_err(const char *text, const char *want)
{
    struct resources r;
    char *err = NULL;

    res_init(&r);
    if (res_parse(text, NULL, &r, &err) != -1)
        fail_msg("'%s' accepted", text);
    assert_non_null(err);
    if (strcmp(err, want) != 0)
        fail_msg("parse '%s'\n  got  '%s'\n  want '%s'", text, err, want);
    assert_int_equal(r.n, 0); /* left clean */
    free(err);
}

static void test_parse_format(void **state)
{
    expect_format("cpus:4;mem:8192;ports:[31000-32000]", "cpus:4;mem:8192;ports:[31000-32000]");
    /* Sorted by name, blanks ignored, duplicates merged. */
    expect_format(" mem : 1024 ; cpus:0.5;cpus:1.25 ;", "cpus:1.75;mem:1024");
    expect_format("ports:[33000-33010, 31000-32000,32001-32005]",
                  "ports:[31000-32005,33000-33010]");
    expect_format("ports:[5-5,1-3,2-4]", "ports:[1-5]");
    expect_format("disks:{b,a,b}", "disks:{a,b}");
    expect_format("cpus(web):2;cpus:1;cpus(*):1", "cpus:2;cpus(web):2");
    expect_format("cpus:0.0005", "cpus:0.001"); /* three decimals, rounded */
    expect_format("cpus:0.0004", "");           /* rounds to nothing */
    expect_format("mem:1e3", "mem:1000");
    expect_format("", "");
    expect_format("ports:[]", "");

    /* Every format parses back to the same resources. */
    {
        struct resources a, b;
        char *s;
        parse_ok("cpus(web):2.5;mem:100;ports(web):[1-10,20-30];disks:{x,y};gpus:1", NULL, &a);
        s = res_format(&a);
        parse_ok(s, NULL, &b);
        assert_true(res_equal(&a, &b));
        free(s);
        res_cleanup(&a);
        res_cleanup(&b);
    }
}

static void test_default_role(void **state)
{
    struct resources r;
    char *s;

    parse_ok("cpus:2;mem(*):10", "web", &r);
    s = res_format(&r);
    assert_string_equal(s, "cpus(web):2;mem:10");
    free(s);
    res_cleanup(&r);
}

static void test_parse_errors(void **state)
{
    expect_parse_err("cpus:x", "resources: bad value 'x' for 'cpus'");
    expect_parse_err("cpus:4;mem:-1", "resources: bad value '-1' for 'mem'");
    expect_parse_err("cpus:nan", "resources: bad value 'nan' for 'cpus'");
    expect_parse_err("cpus:1e300", "resources: bad value '1e300' for 'cpus'");
    expect_parse_err("cpus", "resources: bad entry 'cpus' (expected name:value)");
    expect_parse_err(":4", "resources: bad name in ':4'");
    expect_parse_err("cpus(web:4", "resources: bad role in 'cpus(web:4'");
    expect_parse_err("cpus():4", "resources: bad role in 'cpus():4'");
    expect_parse_err("ports:[10-5]", "resources: bad value '[10-5]' for 'ports'");
    expect_parse_err("ports:[1-2", "resources: bad value '[1-2' for 'ports'");
    expect_parse_err("ports:[a-b]", "resources: bad value '[a-b]' for 'ports'");
    expect_parse_err("ports:[1-2,]", "resources: bad value '[1-2,]' for 'ports'");
    expect_parse_err("ports:[1-99999999999999999999]",
                     "resources: bad value '[1-99999999999999999999]' for 'ports'");
    expect_parse_err("disks:{a,,b}", "resources: bad value '{a,,b}' for 'disks'");
    expect_parse_err("disks:{a b}", "resources: bad value '{a b}' for 'disks'");
    expect_parse_err("ports:[,]", "resources: bad value '[,]' for 'ports'");
    expect_parse_err("ports:[1-2]x", "resources: bad value '[1-2]x' for 'ports'");
    expect_parse_err("cpus:\xff\xfe", "resources: bad value '?"
                                      "?' for 'cpus'");
    expect_parse_err("cpus:1;cpus:[1-2]", "resources: 'cpus' is both SCALAR and RANGES");
    /* Found by fuzz_resources: entries that add up past the limit no
     * JSON or protobuf reader takes back, and names, roles and items that
     * JSON cannot carry (every endpoint and the registry would drop them). */
    expect_parse_err("cpus:1e12;cpus:1e12", "resources: 'cpus' adds up to more than 1e+12");
    expect_parse_err("cpus:1e13", "resources: bad value '1e13' for 'cpus'");
    expect_parse_err("[{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1e12}},"
                     "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1}}]",
                     "resources[1]: 'mem' adds up to more than 1e+12");
    expect_parse_err("\xf5:1", "resources: bad name in '?:1'");
    expect_parse_err("cpus(w\x01):1", "resources: bad role in 'cpus(w\x01):1'");
    expect_parse_err("disks:{a,\xc3}", "resources: bad value '{a,?}' for 'disks'");
    expect_parse_err("[{\"name\":\"cpus\"}]", "resources[0]: missing required field 'type'");
}

static void test_json_text(void **state)
{
    struct resources r;
    char *s, *err = NULL;

    parse_ok(
        "[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"role\":\"*\"},"
        "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":1,\"end\":2}]}},"
        "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":64},"
        "\"reservations\":[{\"type\":\"STATIC\",\"role\":\"web\"}]}]",
        "batch", &r);
    s = res_format(&r);
    /* explicit "*" stays, missing role takes the default, reservations win */
    assert_string_equal(s, "cpus:1;mem(web):64;ports(batch):[1-2]");
    free(s);
    res_cleanup(&r);

    res_init(&r);
    assert_int_equal(
        res_parse("[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":\"1\"}}]", NULL,
                  &r, &err),
        -1);
    assert_string_equal(err, "resources[0].scalar.value: expected a number, got string");
    free(err);
    assert_int_equal(res_parse("[1,", NULL, &r, &err), -1);
    assert_non_null(strstr(err, "resources: invalid JSON at line 1"));
    free(err);
}

static void test_add_subtract_ranges(void **state)
{
    struct resources a, b, c;
    char *s;

    parse_ok("cpus:4;mem:1024;ports:[31000-32000]", NULL, &a);
    parse_ok("cpus:1;ports:[31005-31005]", NULL, &b);
    assert_true(res_contains(&a, &b));
    assert_int_equal(res_subtract(&a, &b), 0);
    s = res_format(&a);
    assert_string_equal(s, "cpus:3;mem:1024;ports:[31000-31004,31006-32000]");
    free(s);

    /* Adding it back coalesces to the original range. */
    res_add(&a, &b);
    s = res_format(&a);
    assert_string_equal(s, "cpus:4;mem:1024;ports:[31000-32000]");
    free(s);

    /* Not contained: range straddles a hole / beyond the end. */
    parse_ok("ports:[31004-31006]", NULL, &c);
    assert_int_equal(res_subtract(&a, &b), 0);
    assert_false(res_contains(&a, &c));
    assert_int_equal(res_subtract(&a, &c), -1);
    s = res_format(&a); /* unchanged on failure */
    assert_string_equal(s, "cpus:3;mem:1024;ports:[31000-31004,31006-32000]");
    free(s);
    res_cleanup(&c);

    /* Several pieces at once, edges included; everything to zero. */
    res_cleanup(&b);
    parse_ok("ports:[31000-31000,31002-31003,31990-32000]", NULL, &b);
    assert_int_equal(res_subtract(&a, &b), 0);
    s = res_format(&a);
    assert_string_equal(s, "cpus:3;mem:1024;ports:[31001-31001,31004-31004,31006-31989]");
    free(s);
    res_cleanup(&b);
    res_copy(&b, &a);
    assert_true(res_equal(&a, &b));
    assert_int_equal(res_subtract(&a, &b), 0);
    assert_true(res_empty(&a));
    assert_int_equal(a.n, 0);
    res_cleanup(&a);
    res_cleanup(&b);

    /* Extreme ends do not overflow. */
    res_init(&a);
    res_add_range(&a, "ports", NULL, 0, UINT64_MAX);
    res_init(&b);
    res_add_range(&b, "ports", NULL, UINT64_MAX, UINT64_MAX);
    res_add_range(&b, "ports", NULL, 0, 0);
    assert_int_equal(res_subtract(&a, &b), 0);
    s = res_format(&a);
    assert_string_equal(s, "ports:[1-18446744073709551614]");
    free(s);
    res_add(&a, &b);
    s = res_format(&a);
    assert_string_equal(s, "ports:[0-18446744073709551615]");
    free(s);
    res_cleanup(&a);
    res_cleanup(&b);
}

static void test_roles_and_sets(void **state)
{
    struct resources a, b;
    char *s;

    parse_ok("cpus:2;cpus(web):2;disks:{a,b,c}", NULL, &a);
    parse_ok("cpus(web):3", NULL, &b);
    /* Roles are not interchangeable. */
    assert_false(res_contains(&a, &b));
    res_cleanup(&b);
    parse_ok("disks:{b}", NULL, &b);
    assert_true(res_contains(&a, &b));
    assert_int_equal(res_subtract(&a, &b), 0);
    s = res_format(&a);
    assert_string_equal(s, "cpus:2;cpus(web):2;disks:{a,c}");
    free(s);
    assert_false(res_contains(&a, &b));
    assert_true(res_scalar(&a, "cpus") == 4.0);
    assert_true(res_scalar(&a, "gpus") == 0.0);
    res_cleanup(&a);
    res_cleanup(&b);
}

static void test_fixed_point(void **state)
{
    struct resources a, b;

    res_init(&a);
    res_add_scalar(&a, "cpus", NULL, 0.1);
    res_add_scalar(&a, "cpus", NULL, 0.2);
    res_init(&b);
    res_add_scalar(&b, "cpus", NULL, 0.3);
    assert_true(res_equal(&a, &b));
    assert_int_equal(res_subtract(&a, &b), 0);
    assert_true(res_empty(&a));
    assert_true(res_scalar(&a, "cpus") == 0.0);
    res_cleanup(&b);

    /* Ten times 0.1 is exactly 1. */
    for (int i = 0; i < 10; i++)
        res_add_scalar(&a, "cpus", "*", 0.1);
    assert_int_equal(a.v[0].milli, 1000);
    assert_true(res_scalar(&a, "cpus") == 1.0);
    /* Non-positive adds nothing. */
    res_add_scalar(&a, "cpus", NULL, -5);
    res_add_scalar(&a, "mem", NULL, 0);
    assert_int_equal(a.n, 1);
    assert_true(res_scalar(&a, "cpus") == 1.0);
    res_cleanup(&a);
}

static void test_range_values(void **state)
{
    struct resources r;
    uint64_t out[8];

    parse_ok("ports:[10-12,20-20];ports(web):[11-14]", NULL, &r);
    assert_int_equal(res_range_values(&r, "ports", out, 8), 6);
    assert_int_equal(out[0], 10);
    assert_int_equal(out[4], 14);
    assert_int_equal(out[5], 20);
    assert_int_equal(res_range_values(&r, "ports", out, 2), 2);
    assert_int_equal(out[1], 11);
    assert_int_equal(res_range_values(&r, "nope", out, 8), 0);
    res_cleanup(&r);
}

static void test_pb_round_trip(void **state)
{
    struct resources a, b;
    Mesos__V1__Resource **pb;
    size_t n;
    char *err = NULL;

    parse_ok("cpus:0.1;cpus(web):2;mem:512;ports:[31000-31004,31006-32000];disks:{a,b}", NULL, &a);
    pb = res_to_pb(&a, &n);
    assert_int_equal(n, 5);
    assert_string_equal(pb[0]->name, "cpus");
    assert_string_equal(pb[0]->role, "*");
    assert_int_equal(pb[0]->type, MESOS__V1__VALUE__TYPE__SCALAR);
    assert_true(pb[0]->scalar->value == 0.1);
    res_init(&b);
    assert_int_equal(res_from_pb(pb, n, &b, &err), 0);
    assert_true(res_equal(&a, &b));

    /* The pb also packs and unpacks (every part is a heap block). */
    {
        size_t sz = protobuf_c_message_get_packed_size(&pb[4]->base);
        uint8_t *buf = xmalloc(sz);
        Mesos__V1__Resource *u;
        assert_string_equal(pb[4]->name, "ports");
        protobuf_c_message_pack(&pb[4]->base, buf);
        u = mesos__v1__resource__unpack(NULL, sz, buf);
        assert_non_null(u);
        assert_int_equal(u->ranges->n_range, 2);
        mesos__v1__resource__free_unpacked(u, NULL);
        free(buf);
    }
    res_pb_free(pb, n);
    res_cleanup(&a);
    res_cleanup(&b);

    pb = res_to_pb(&a, &n); /* empty */
    assert_int_equal(n, 0);
    res_pb_free(pb, n);
}

static void test_pb_errors(void **state)
{
    Mesos__V1__Resource r0 = MESOS__V1__RESOURCE__INIT, r1 = MESOS__V1__RESOURCE__INIT;
    Mesos__V1__Value__Scalar sc = MESOS__V1__VALUE__SCALAR__INIT;
    Mesos__V1__Value__Ranges rgs = MESOS__V1__VALUE__RANGES__INIT;
    Mesos__V1__Value__Range rg = MESOS__V1__VALUE__RANGE__INIT;
    Mesos__V1__Value__Range *rgp[1] = { &rg };
    Mesos__V1__Resource *v[2] = { &r0, &r1 };
    struct resources r;
    char *err = NULL;

    r0.name = "cpus";
    sc.value = 1;
    r0.scalar = &sc;
    r1.name = "mem";
    r1.type = MESOS__V1__VALUE__TYPE__SCALAR;
    res_init(&r);
    assert_int_equal(res_from_pb(v, 2, &r, &err), -1);
    assert_string_equal(err, "resources[1].scalar: missing for SCALAR");
    assert_int_equal(r.n, 0);
    free(err);

    r1.type = MESOS__V1__VALUE__TYPE__RANGES;
    r1.ranges = &rgs;
    rgs.n_range = 1;
    rgs.range = rgp;
    rg.begin = 5;
    rg.end = 3;
    assert_int_equal(res_from_pb(v, 2, &r, &err), -1);
    assert_string_equal(err, "resources[1].ranges.range[0]: begin 5 greater than end 3");
    free(err);

    sc.value = -1;
    assert_int_equal(res_from_pb(v, 1, &r, &err), -1);
    assert_string_equal(err, "resources[0].scalar.value: bad value -1 for 'cpus'");
    free(err);

    r1.type = MESOS__V1__VALUE__TYPE__TEXT;
    sc.value = 1;
    assert_int_equal(res_from_pb(v, 2, &r, &err), -1);
    assert_string_equal(err, "resources[1].type: 3 not supported for resources");
    free(err);
    assert_int_equal(r.n, 0);
}

static void test_json(void **state)
{
    struct resources r;
    json_t *j;
    char *s;

    parse_ok(
        "cpus:4;cpus(web):0.5;mem:8192;ports:[31000-32000];ports(web):[1-2];disks:{b};disks(x):{a}",
        NULL, &r);
    j = res_to_json_summary(&r);
    s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "{\"cpus\":4.5,\"mem\":8192.0,\"disk\":0.0,\"gpus\":0.0,"
                           "\"disks\":\"{a,b}\",\"ports\":\"[1-2,31000-32000]\"}");
    free(s);
    json_decref(j);

    j = res_to_json_array(&r);
    assert_int_equal(json_array_size(j), 7);
    s = json_dumps(json_array_get(j, 0), JSON_COMPACT);
    assert_string_equal(
        s, "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":4.0},\"role\":\"*\"}");
    free(s);
    {
        /* The array form reads back to the same resources. */
        struct resources back;
        char *err = NULL;
        res_init(&back);
        assert_int_equal(res_from_json(j, &back, &err), 0);
        assert_true(res_equal(&r, &back));
        res_cleanup(&back);
    }
    json_decref(j);
    res_cleanup(&r);

    res_init(&r);
    j = res_to_json_summary(&r);
    s = json_dumps(j, JSON_COMPACT);
    assert_string_equal(s, "{\"cpus\":0.0,\"mem\":0.0,\"disk\":0.0,\"gpus\":0.0}");
    free(s);
    json_decref(j);
}

/* Found by fuzz_resources: sums saturate rather than overflow int64 (a
 * cluster of many slaves at the per-entry limit). */
static void test_sum_saturates(void **state)
{
    struct resources a, b;

    (void)state;
    res_init(&a);
    res_init(&b);
    res_add_scalar(&b, "cpus", NULL, 1e12);
    for (int i = 0; i < 20000; i++)
        res_add(&a, &b);
    assert_true(res_scalar(&a, "cpus") > 9e15); /* INT64_MAX thousandths */
    assert_true(res_contains(&a, &b));
    res_cleanup(&a);
    res_cleanup(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_format),   cmocka_unit_test(test_default_role),
        cmocka_unit_test(test_parse_errors),   cmocka_unit_test(test_sum_saturates),
        cmocka_unit_test(test_json_text),      cmocka_unit_test(test_add_subtract_ranges),
        cmocka_unit_test(test_roles_and_sets), cmocka_unit_test(test_fixed_point),
        cmocka_unit_test(test_range_values),   cmocka_unit_test(test_pb_round_trip),
        cmocka_unit_test(test_pb_errors),      cmocka_unit_test(test_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
