/*
 * test_pacer_placement: Pacer's constraints (validation messages and
 * paths, every operator on hostnames and attributes, missing attributes,
 * anchored regular expressions, GROUP_BY spreading) and placement of
 * instances into offers (packing until a resource runs out, the reason
 * funnel, ports from ranges, requirePorts, BRIDGE host ports, roles).
 * The apps are struct app_spec values built by hand.
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

#include "constraints.h"
#include "mem.h"
#include "placement.h"
#include "resources.h"

/* ------------------------------------------------------------ helpers */

static struct constraints *compile(const char *json)
{
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    json_t *details = json_array();
    struct constraints *cs;

    assert_non_null(j);
    assert_int_equal(constraints_validate(j, details), 0);
    cs = constraints_new(j);
    assert_non_null(cs);
    json_decref(details);
    json_decref(j);
    return cs;
}

/* Does an offer on host with one attribute (name may be NULL: none)
 * satisfy json, given the hosts in placed? */
static bool fits(const char *json, const char *host, const char *name, const char *value,
                 const struct cons_host *placed, size_t nplaced)
{
    struct cons_attr a = { name, value };
    struct cons_host h = { host, &a, name ? 1 : 0 };
    struct constraints *cs = compile(json);
    size_t which = 99;
    bool ok = constraints_check(cs, &h, placed, nplaced, &which);

    if (!ok)
        assert_int_equal(which, 0);
    constraints_free(cs);
    return ok;
}

/* Hosts with a "rack" attribute, one per value (NULL: without it). */
static struct cons_attr rack_attrs[16];
static struct cons_host *racks(struct cons_host *out, const char *const *values, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        rack_attrs[i].name = "rack";
        rack_attrs[i].value = values[i];
        out[i].hostname = "h";
        out[i].attrs = &rack_attrs[i];
        out[i].nattrs = values[i] ? 1 : 0;
    }
    return out;
}

/* Validation details for json, as text "path:message|path:message". */
static char *invalid(const char *json, int *n)
{
    json_t *j = json_loads(json, JSON_DECODE_ANY, NULL);
    json_t *details = json_array();
    char *out = xstrdup(""), *t;
    size_t i;
    json_t *d;

    assert_non_null(j);
    *n = constraints_validate(j, details);
    assert_int_equal((size_t)*n, json_array_size(details));
    json_array_foreach(details, i, d)
    {
        assert_int_equal(json_array_size(json_object_get(d, "errors")), 1);
        t = xasprintf("%s%s%s:%s", out, i ? "|" : "", json_string_value(json_object_get(d, "path")),
                      json_string_value(json_array_get(json_object_get(d, "errors"), 0)));
        free(out);
        out = t;
    }
    if (*n > 0)
        assert_null(constraints_new(j));
    json_decref(details);
    json_decref(j);
    return out;
}

/* An offer with Mesos text resources ("cpus:4;ports:[31000-31005]"), an
 * allocation role (NULL: none) and hostname; free with offer_free. */
static Mesos__V1__Offer *offer_new(const char *host, const char *alloc_role, const char *text)
{
    Mesos__V1__Offer *o = xcalloc(1, sizeof(*o));
    struct resources r;
    char *err = NULL;

    mesos__v1__offer__init(o);
    o->id = xcalloc(1, sizeof(*o->id));
    mesos__v1__offer_id__init(o->id);
    o->id->value = xstrdup("offer-1");
    o->hostname = xstrdup(host);
    if (alloc_role) {
        o->allocation_info = xcalloc(1, sizeof(*o->allocation_info));
        mesos__v1__resource__allocation_info__init(o->allocation_info);
        o->allocation_info->role = xstrdup(alloc_role);
    }
    res_init(&r);
    assert_int_equal(res_parse(text, NULL, &r, &err), 0);
    o->resources = res_to_pb(&r, &o->n_resources);
    res_cleanup(&r);
    return o;
}

static Mesos__V1__Attribute *attr_add(Mesos__V1__Offer *o, const char *name,
                                      Mesos__V1__Value__Type type)
{
    Mesos__V1__Attribute *a = xcalloc(1, sizeof(*a));

    mesos__v1__attribute__init(a);
    a->name = xstrdup(name);
    a->type = type;
    o->attributes = xrealloc(o->attributes, (o->n_attributes + 1) * sizeof(*o->attributes));
    o->attributes[o->n_attributes++] = a;
    return a;
}

static void offer_free(Mesos__V1__Offer *o)
{
    res_pb_free(o->resources, o->n_resources);
    o->resources = NULL;
    o->n_resources = 0;
    mesos__v1__offer__free_unpacked(o, NULL);
}

/* An app as app_spec_from_json would give it: 1 cpu, 128 MB, no ports. */
static void app_init(struct app_spec *a)
{
    memset(a, 0, sizeof(*a));
    a->id = "/web";
    a->cpus = 1;
    a->mem = 128;
    a->instances = 1;
}

/* ------------------------------------------------------- validation */

static void test_validate_messages(void **state)
{
    char *s;
    int n;

    (void)state;
    s = invalid(
        "[[\"hostname\",\"UNIQUE\"],[\"rack\",\"cluster\"],[\"rack\",\"GROUP_BY\"],"
        "[\"rack\",\"GROUP_BY\",\"3\"],[\"rack\",\"MAX_PER\",\"2\"],"
        "[\"rack\",\"LIKE\",\"rack-[0-9]+\"],[\"rack\",\"UNLIKE\",\"a|b\"],"
        "[\"rack\",\"IS\",\"rack-1\"],[\"level\",\"IS\",\"0.8\"],[\"rack\",\"CLUSTER\",\"\"]]",
        &n);
    assert_int_equal(n, 0);
    assert_string_equal(s, "");
    free(s);

    s = invalid("[[\"hostname\"],[\"hostname\",\"UNIQUE\",\"x\"],[\"hostname\",\"FOO\"],"
                "[\"\",\"CLUSTER\"],[\"rack\",\"GROUP_BY\",\"three\"],[\"rack\",\"MAX_PER\"],"
                "[\"rack\",\"MAX_PER\",\"1.5\"],[\"rack\",\"LIKE\"],[\"rack\",\"UNLIKE\",\"*\"],"
                "[\"rack\",\"IS\",\"[0-9]\"],[\"a\",\"UNIQUE\",\"b\",\"c\"],\"x\",[\"a\",1],"
                "[\"hostname\",\"UNIQUE\"]]",
                &n);
    assert_int_equal(n, 13);
    assert_string_equal(
        s, "/constraints(0):Each constraint must have either 2 or 3 fields"
           "|/constraints(1):UNIQUE does not accept a value"
           "|/constraints(2):operator must be one of the following UNIQUE, CLUSTER, GROUP_BY, "
           "LIKE, MAX_PER, UNLIKE or IS"
           "|/constraints(3):illegal constraint specification"
           "|/constraints(4):GROUP BY must define an integer value or else no value at all"
           "|/constraints(5):MAX_PER requires an integer value"
           "|/constraints(6):MAX_PER requires an integer value"
           "|/constraints(7):LIKE and UNLIKE require a non-empty, regular expression value"
           "|/constraints(8):is not a valid regular expression"
           "|/constraints(9):IS only supports Mesos text and float values (see "
           "http://mesos.apache.org/documentation/latest/attributes-resources/)"
           "|/constraints(10):Each constraint must have either 2 or 3 fields"
           "|/constraints(11):error.expected.jsarray"
           "|/constraints(12):error.expected.jsstring");
    free(s);

    /* Found by fuzz_constraints: refused are expressions regcomp would
     * blow up to gigabytes (repetitions copy their operand), repetitions
     * of repetitions and repetitions nested three deep (its closures take
     * minutes), and backreferences (regexec backtracks for seconds);
     * ordinary repetitions still compile. */
    s = invalid(
        "[[\"h\",\"LIKE\",\"a++++++++++++++++++++++++++++++++++++++++\"],"
        "[\"h\",\"LIKE\",\"((a{100}){100}){100}\"],"
        "[\"h\",\"UNLIKE\",\"(((((((((((((x+)+)+)+)+)+)+)+)+)+)+)+)+)\"],"
        "[\"h\",\"LIKE\",\"((a*)*\\\\1\\\\1b)\"],"
        "[\"h\",\"LIKE\",\"a++++*+++++\"],[\"h\",\"LIKE\",\"x(ab)+?\"],"
        "[\"h\",\"LIKE\",\"(((a+)*)+)*\"],"
        "[\"h\",\"LIKE\",\"r-[0-9]{1,3}(\\\\.[a-z]+)*\"],[\"h\",\"LIKE\",\"x{2,}y|z{,2}\"]]",
        &n);
    assert_int_equal(n, 7);
    for (int i = 0; i < 7; i++) {
        char want[64];
        snprintf(want, sizeof(want), "/constraints(%d):is not a valid regular expression", i);
        assert_non_null(strstr(s, want));
    }
    free(s);

    s = invalid("{\"a\":1}", &n);
    assert_int_equal(n, 1);
    assert_string_equal(s, "/constraints:error.expected.jsarray");
    free(s);
}

static void test_compile_describe(void **state)
{
    struct constraints *cs;

    (void)state;
    cs = compile("[[\"hostname\",\"unique\"],[\"rack\",\"GROUP_BY\",\"3\"]]");
    assert_int_equal(constraints_count(cs), 2);
    /* The operator reads upper case whatever the client sent. */
    assert_string_equal(constraints_describe(cs, 0), "hostname:UNIQUE");
    assert_string_equal(constraints_describe(cs, 1), "rack:GROUP_BY:3");
    assert_null(constraints_describe(cs, 2));
    constraints_free(cs);

    cs = constraints_new(NULL);
    assert_non_null(cs);
    assert_int_equal(constraints_count(cs), 0);
    constraints_free(cs);
}

/* -------------------------------------------------------- operators */

static void test_unique(void **state)
{
    struct cons_host placed[3];
    const char *v[] = { "r1", NULL };
    struct cons_host ha = { "a", NULL, 0 };

    (void)state;
    assert_true(fits("[[\"hostname\",\"UNIQUE\"]]", "a", NULL, NULL, NULL, 0));
    assert_false(fits("[[\"hostname\",\"UNIQUE\"]]", "a", NULL, NULL, &ha, 1));
    assert_true(fits("[[\"@hostname\",\"UNIQUE\"]]", "b", NULL, NULL, &ha, 1));
    assert_false(fits("[[\"@hostname\",\"UNIQUE\"]]", "a", NULL, NULL, &ha, 1));

    racks(placed, v, 2);
    assert_false(fits("[[\"rack\",\"UNIQUE\"]]", "x", "rack", "r1", placed, 2));
    /* An instance on a host without the attribute holds no value. */
    assert_true(fits("[[\"rack\",\"UNIQUE\"]]", "x", "rack", "r2", placed, 2));
    /* An offer without it is refused. */
    assert_false(fits("[[\"rack\",\"UNIQUE\"]]", "x", NULL, NULL, NULL, 0));
}

static void test_cluster(void **state)
{
    struct cons_host placed[2];
    const char *v[] = { "r2", "r2" };
    const char *none[] = { NULL };

    (void)state;
    assert_true(fits("[[\"rack\",\"CLUSTER\",\"r1\"]]", "x", "rack", "r1", NULL, 0));
    assert_false(fits("[[\"rack\",\"CLUSTER\",\"r1\"]]", "x", "rack", "r10", NULL, 0));
    assert_false(fits("[[\"rack\",\"CLUSTER\",\"r1\"]]", "x", NULL, NULL, NULL, 0));
    assert_true(fits("[[\"hostname\",\"CLUSTER\",\"a\"]]", "a", NULL, NULL, NULL, 0));
    assert_false(fits("[[\"hostname\",\"CLUSTER\",\"a\"]]", "b", NULL, NULL, NULL, 0));

    /* No value: the first instance goes anywhere, the others follow it. */
    assert_true(fits("[[\"rack\",\"CLUSTER\"]]", "x", "rack", "r1", NULL, 0));
    racks(placed, v, 2);
    assert_true(fits("[[\"rack\",\"CLUSTER\"]]", "x", "rack", "r2", placed, 2));
    assert_false(fits("[[\"rack\",\"CLUSTER\"]]", "x", "rack", "r1", placed, 2));
    assert_false(fits("[[\"rack\",\"CLUSTER\",\"\"]]", "x", "rack", "r1", placed, 2));
    assert_false(fits("[[\"rack\",\"CLUSTER\"]]", "x", NULL, NULL, NULL, 0));
    /* The first one landed where there is no rack: nothing can follow. */
    racks(placed, none, 1);
    assert_false(fits("[[\"rack\",\"CLUSTER\"]]", "x", "rack", "r1", placed, 1));
}

static void test_group_by_three_racks(void **state)
{
    const char *c = "[[\"rack\",\"GROUP_BY\",\"3\"]]";
    const char *order[] = { "r1", "r2", "r3", "r1", "r2", "r3" };
    const char *placed_v[8];
    struct cons_host placed[8];
    size_t n = 0;

    (void)state;
    /* Place six instances, each time trying the racks in order r1, r2,
     * r3 and taking the first that fits: they spread 1-1-1 then 2-2-2. */
    for (int k = 0; k < 6; k++) {
        const char *pick = NULL;
        const char *tries[] = { "r1", "r2", "r3" };
        for (int t = 0; t < 3 && !pick; t++) {
            racks(placed, placed_v, n);
            if (fits(c, "h", "rack", tries[t], placed, n))
                pick = tries[t];
        }
        assert_non_null(pick);
        assert_string_equal(pick, order[k]);
        placed_v[n++] = pick;
    }

    /* Fewer than 3 groups seen: only a new rack is acceptable. */
    {
        const char *v[] = { "r1" };
        racks(placed, v, 1);
        assert_false(fits(c, "h", "rack", "r1", placed, 1));
        assert_true(fits(c, "h", "rack", "r2", placed, 1));
    }
    /* 2-1-1: only the smaller groups. */
    {
        const char *v[] = { "r1", "r1", "r2", "r3" };
        racks(placed, v, 4);
        assert_false(fits(c, "h", "rack", "r1", placed, 4));
        assert_true(fits(c, "h", "rack", "r2", placed, 4));
        assert_true(fits(c, "h", "rack", "r3", placed, 4));
        /* A fourth rack is new: acceptable (Marathon's rule b). */
        assert_true(fits(c, "h", "rack", "r4", placed, 4));
    }
    /* No value: the smallest group seen, or a new one. */
    {
        const char *v[] = { "r1", "r1", "r2" };
        racks(placed, v, 3);
        assert_false(fits("[[\"rack\",\"GROUP_BY\"]]", "h", "rack", "r1", placed, 3));
        assert_true(fits("[[\"rack\",\"GROUP_BY\"]]", "h", "rack", "r2", placed, 3));
        assert_false(fits("[[\"rack\",\"GROUP_BY\"]]", "h", NULL, NULL, placed, 3));
    }
    /* Instances without the attribute form a group of their own. */
    {
        const char *v[] = { "r1", NULL, NULL };
        racks(placed, v, 3);
        assert_true(fits("[[\"rack\",\"GROUP_BY\"]]", "h", "rack", "r1", placed, 3));
        const char *w[] = { "r1", "r1", NULL };
        racks(placed, w, 3);
        assert_false(fits("[[\"rack\",\"GROUP_BY\"]]", "h", "rack", "r1", placed, 3));
    }
}

static void test_max_per(void **state)
{
    struct cons_host placed[3];
    const char *v[] = { "r1", "r1", "r2" };

    (void)state;
    racks(placed, v, 3);
    assert_false(fits("[[\"rack\",\"MAX_PER\",\"2\"]]", "h", "rack", "r1", placed, 3));
    assert_true(fits("[[\"rack\",\"MAX_PER\",\"2\"]]", "h", "rack", "r2", placed, 3));
    assert_true(fits("[[\"rack\",\"MAX_PER\",\"2\"]]", "h", "rack", "r3", placed, 3));
    assert_true(fits("[[\"rack\",\"MAX_PER\",\"3\"]]", "h", "rack", "r1", placed, 3));
    assert_false(fits("[[\"rack\",\"MAX_PER\",\"2\"]]", "h", NULL, NULL, placed, 3));
    assert_false(fits("[[\"hostname\",\"MAX_PER\",\"1\"]]", "h", NULL, NULL, placed, 3));
    assert_true(fits("[[\"hostname\",\"MAX_PER\",\"4\"]]", "h", NULL, NULL, placed, 3));
}

static void test_like_unlike(void **state)
{
    (void)state;
    assert_true(fits("[[\"rack\",\"LIKE\",\"rack-[1-2]\"]]", "h", "rack", "rack-1", NULL, 0));
    assert_true(fits("[[\"rack\",\"LIKE\",\"rack-[1-2]\"]]", "h", "rack", "rack-2", NULL, 0));
    /* Anchored at both ends, as Java's String.matches. */
    assert_false(fits("[[\"rack\",\"LIKE\",\"rack-[1-2]\"]]", "h", "rack", "rack-10", NULL, 0));
    assert_false(fits("[[\"rack\",\"LIKE\",\"rack-[1-2]\"]]", "h", "rack", "xrack-1", NULL, 0));
    assert_false(fits("[[\"rack\",\"LIKE\",\"a|b\"]]", "h", "rack", "ab", NULL, 0));
    assert_true(fits("[[\"rack\",\"LIKE\",\"a|b\"]]", "h", "rack", "b", NULL, 0));
    /* Java's \d and (?:) work. */
    assert_true(fits("[[\"rack\",\"LIKE\",\"rack-\\\\d+\"]]", "h", "rack", "rack-42", NULL, 0));
    assert_false(fits("[[\"rack\",\"LIKE\",\"rack-\\\\d+\"]]", "h", "rack", "rack-dd", NULL, 0));
    assert_true(fits("[[\"rack\",\"LIKE\",\"(?:a|b)-1\"]]", "h", "rack", "b-1", NULL, 0));
    assert_true(fits("[[\"hostname\",\"LIKE\",\"web[0-9]\\\\.example\\\\.com\"]]",
                     "web1.example.com", NULL, NULL, NULL, 0));
    assert_false(fits("[[\"hostname\",\"LIKE\",\"web[0-9]\\\\.example\\\\.com\"]]",
                      "web1xexample.com", NULL, NULL, NULL, 0));
    /* An empty pattern is valid but never matches (Marathon's checkLike). */
    assert_false(fits("[[\"rack\",\"LIKE\",\"\"]]", "h", "rack", "", NULL, 0));

    assert_false(fits("[[\"rack\",\"UNLIKE\",\"rack-[1-2]\"]]", "h", "rack", "rack-1", NULL, 0));
    assert_true(fits("[[\"rack\",\"UNLIKE\",\"rack-[1-2]\"]]", "h", "rack", "rack-10", NULL, 0));

    /* Without the attribute: LIKE refuses, UNLIKE accepts. */
    assert_false(fits("[[\"rack\",\"LIKE\",\".*\"]]", "h", NULL, NULL, NULL, 0));
    assert_true(fits("[[\"rack\",\"UNLIKE\",\".*\"]]", "h", NULL, NULL, NULL, 0));
    assert_true(fits("[[\"rack\",\"UNLIKE\",\"rack-1\"]]", "h", "other", "rack-1", NULL, 0));
}

static void test_is(void **state)
{
    (void)state;
    assert_true(fits("[[\"rack\",\"IS\",\"rack-1\"]]", "h", "rack", "rack-1", NULL, 0));
    assert_false(fits("[[\"rack\",\"IS\",\"rack-1\"]]", "h", "rack", "rack-10", NULL, 0));
    assert_false(fits("[[\"rack\",\"IS\",\"rack-1\"]]", "h", NULL, NULL, NULL, 0));
    /* A scalar value compares formatted as Marathon's "0.###". */
    assert_true(fits("[[\"level\",\"IS\",\"0.80\"]]", "h", "level", "0.8", NULL, 0));
    assert_true(fits("[[\"level\",\"IS\",\"0.8001\"]]", "h", "level", "0.8", NULL, 0));
    assert_false(fits("[[\"level\",\"IS\",\"0.81\"]]", "h", "level", "0.8", NULL, 0));
    assert_true(fits("[[\"hostname\",\"IS\",\"a\"]]", "a", NULL, NULL, NULL, 0));
}

static void test_which(void **state)
{
    struct constraints *cs;
    struct cons_attr a[] = { { "rack", "r1" }, { "zone", "z9" } };
    struct cons_host h = { "a", a, 2 };
    size_t which = 99;

    (void)state;
    cs = compile("[[\"rack\",\"IS\",\"r1\"],[\"hostname\",\"LIKE\",\"a\"],"
                 "[\"zone\",\"IS\",\"z1\"],[\"rack\",\"IS\",\"r2\"]]");
    assert_false(constraints_check(cs, &h, NULL, 0, &which));
    assert_int_equal(which, 2);
    a[1].value = "z1";
    assert_false(constraints_check(cs, &h, NULL, 0, &which));
    assert_int_equal(which, 3);
    constraints_free(cs);
}

/* -------------------------------------------------------- placement */

static void test_offer_init(void **state)
{
    Mesos__V1__Offer *o;
    Mesos__V1__Attribute *a;
    Mesos__V1__Value__Range r1 = MESOS__V1__VALUE__RANGE__INIT, r2 = MESOS__V1__VALUE__RANGE__INIT;
    struct placement_offer po;
    char *err = NULL;

    (void)state;
    o = offer_new("h1", "web",
                  "cpus:2;cpus(web):0.5;cpus(other):8;mem:1024;disk:100;gpus:1;"
                  "ports:[31000-31002,31010-31010];ports(web):[31003-31005,40000-40001]");
    a = attr_add(o, "rack", MESOS__V1__VALUE__TYPE__TEXT);
    a->text = xcalloc(1, sizeof(*a->text));
    mesos__v1__value__text__init(a->text);
    a->text->value = xstrdup("rack-1");
    a = attr_add(o, "level", MESOS__V1__VALUE__TYPE__SCALAR);
    a->scalar = xcalloc(1, sizeof(*a->scalar));
    mesos__v1__value__scalar__init(a->scalar);
    a->scalar->value = 2.5;
    a = attr_add(o, "big", MESOS__V1__VALUE__TYPE__SCALAR);
    a->scalar = xcalloc(1, sizeof(*a->scalar));
    mesos__v1__value__scalar__init(a->scalar);
    a->scalar->value = 1234567;
    a = attr_add(o, "jdk", MESOS__V1__VALUE__TYPE__RANGES);
    a->ranges = xcalloc(1, sizeof(*a->ranges));
    mesos__v1__value__ranges__init(a->ranges);
    a->ranges->n_range = 2;
    a->ranges->range = xcalloc(2, sizeof(*a->ranges->range));
    a->ranges->range[0] = xmalloc(sizeof(r1));
    a->ranges->range[1] = xmalloc(sizeof(r2));
    r1.begin = 8;
    r1.end = 9;
    r2.begin = 6;
    r2.end = 7;
    *a->ranges->range[0] = r1;
    *a->ranges->range[1] = r2;
    a = attr_add(o, "gpu", MESOS__V1__VALUE__TYPE__SET);
    a->set = xcalloc(1, sizeof(*a->set));
    mesos__v1__value__set__init(a->set);
    a->set->n_item = 2;
    a->set->item = xcalloc(2, sizeof(char *));
    a->set->item[0] = xstrdup("b");
    a->set->item[1] = xstrdup("a");
    o->domain = xcalloc(1, sizeof(*o->domain));
    mesos__v1__domain_info__init(o->domain);
    o->domain->fault_domain = xcalloc(1, sizeof(*o->domain->fault_domain));
    mesos__v1__domain_info__fault_domain__init(o->domain->fault_domain);
    o->domain->fault_domain->region = xcalloc(1, sizeof(*o->domain->fault_domain->region));
    mesos__v1__domain_info__fault_domain__region_info__init(o->domain->fault_domain->region);
    o->domain->fault_domain->region->name = xstrdup("eu");
    o->domain->fault_domain->zone = xcalloc(1, sizeof(*o->domain->fault_domain->zone));
    mesos__v1__domain_info__fault_domain__zone_info__init(o->domain->fault_domain->zone);
    o->domain->fault_domain->zone->name = xstrdup("eu-1");

    assert_int_equal(placement_offer_init(&po, o, &err), 0);
    assert_null(err);
    assert_string_equal(po.role, "web");
    /* Reserved for another role: not this allocation's to spend. */
    assert_true(po.cpus == 2.5);
    assert_true(po.mem == 1024);
    assert_true(po.disk == 100);
    assert_true(po.gpus == 1);
    /* Ranges of both roles, coalesced where they touch. */
    assert_int_equal(po.nports, 3);
    assert_true(po.ports[0][0] == 31000 && po.ports[0][1] == 31005);
    assert_true(po.ports[1][0] == 31010 && po.ports[1][1] == 31010);
    assert_true(po.ports[2][0] == 40000 && po.ports[2][1] == 40001);

    assert_string_equal(po.host.hostname, "h1");
    assert_int_equal(po.host.nattrs, 7);
    assert_string_equal(po.host.attrs[0].name, "rack");
    assert_string_equal(po.host.attrs[0].value, "rack-1");
    assert_string_equal(po.host.attrs[1].value, "2.5");
    assert_string_equal(po.host.attrs[2].value, "1234567");
    assert_string_equal(po.host.attrs[3].value, "[6-7,8-9]");
    assert_string_equal(po.host.attrs[4].value, "{a,b}");
    assert_string_equal(po.host.attrs[5].name, "@region");
    assert_string_equal(po.host.attrs[5].value, "eu");
    assert_string_equal(po.host.attrs[6].name, "@zone");
    assert_string_equal(po.host.attrs[6].value, "eu-1");
    placement_offer_cleanup(&po);

    /* A negative scalar is malformed: the offer is refused with why. */
    for (size_t i = 0; i < o->n_resources; i++) {
        if (o->resources[i]->type == MESOS__V1__VALUE__TYPE__SCALAR) {
            o->resources[i]->scalar->value = -1;
            break;
        }
    }
    assert_int_equal(placement_offer_init(&po, o, &err), -1);
    assert_non_null(err);
    assert_non_null(strstr(err, "offer offer-1: resources["));
    assert_int_equal(po.host.nattrs, 0);
    assert_null(po.ports);
    free(err);
    placement_offer_cleanup(&po);
    offer_free(o);

    /* No allocation info: "*". */
    o = offer_new("h2", NULL, "cpus:1");
    assert_int_equal(placement_offer_init(&po, o, &err), 0);
    assert_string_equal(po.role, "*");
    assert_int_equal(po.nports, 0);
    assert_int_equal(po.host.nattrs, 0);
    placement_offer_cleanup(&po);
    offer_free(o);
}

static void test_pack_until_cpus_run_out(void **state)
{
    Mesos__V1__Offer *o = offer_new("h1", NULL, "cpus:3.5;mem:4096;disk:1000");
    struct placement_offer po;
    struct app_spec app;
    struct placement p;

    (void)state;
    app_init(&app);
    app.cpus = 1.1;
    app.disk = 10;
    assert_int_equal(placement_offer_init(&po, o, NULL), 0);
    for (int i = 0; i < 3; i++) {
        placement_try(&po, &app, NULL, NULL, 0, &p);
        assert_true(p.ok);
        assert_null(p.reason);
        assert_int_equal(p.nhost_ports, 0);
    }
    /* Fixed point: 3.5 - 3 * 1.1 is 0.2 exactly. */
    assert_true(po.cpus == 0.2);
    assert_true(po.mem == 4096 - 3 * 128);
    assert_true(po.disk == 970);
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_false(p.ok);
    assert_string_equal(p.reason, "InsufficientCpus");
    /* A refusal takes nothing. */
    assert_true(po.cpus == 0.2);
    assert_true(po.mem == 4096 - 3 * 128);

    /* Ten 0.02-cpu instances fit in the 0.2 left. */
    app.cpus = 0.02;
    app.mem = 1;
    app.disk = 0;
    for (int i = 0; i < 10; i++) {
        placement_try(&po, &app, NULL, NULL, 0, &p);
        assert_true(p.ok);
    }
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_string_equal(p.reason, "InsufficientCpus");
    placement_offer_cleanup(&po);
    offer_free(o);
}

static void test_reason_order(void **state)
{
    Mesos__V1__Offer *o = offer_new("h1", NULL, "cpus:1;mem:64;disk:5;ports:[31000-31000]");
    struct placement_offer po;
    struct app_spec app;
    struct placement p;
    struct constraints *cs = compile("[[\"hostname\",\"UNIQUE\"],[\"rack\",\"UNLIKE\",\"x\"],"
                                     "[\"hostname\",\"LIKE\",\"h[0-9]\"],[\"rack\",\"IS\",\"a\"]]");
    struct cons_host other = { "h2", NULL, 0 };
    char *star[] = { "*", NULL };
    char *web[] = { "web", NULL };
    struct app_port ports[2] = { { 0 } };

    (void)state;
    app_init(&app);
    app.cpus = 2;
    app.mem = 128;
    app.disk = 10;
    app.gpus = 1;
    app.ports = ports;
    app.nports = 2;
    app.accepted_roles = web;
    app.naccepted_roles = 1;
    assert_int_equal(placement_offer_init(&po, o, NULL), 0);

    placement_try(&po, &app, cs, &other, 1, &p);
    assert_false(p.ok);
    assert_string_equal(p.reason, "UnfulfilledRole");
    app.accepted_roles = star;
    placement_try(&po, &app, cs, &other, 1, &p);
    assert_string_equal(p.reason, "UnfulfilledConstraint");
    assert_int_equal(p.constraint, 3);
    constraints_free(cs);
    cs = compile("[[\"hostname\",\"UNIQUE\"]]");
    placement_try(&po, &app, cs, &other, 1, &p);
    assert_string_equal(p.reason, "InsufficientCpus");
    app.cpus = 1;
    placement_try(&po, &app, cs, &other, 1, &p);
    assert_string_equal(p.reason, "InsufficientMemory");
    app.mem = 64;
    placement_try(&po, &app, cs, &other, 1, &p);
    assert_string_equal(p.reason, "InsufficientDisk");
    app.disk = 5;
    placement_try(&po, &app, cs, &other, 1, &p);
    assert_string_equal(p.reason, "InsufficientGpus");
    app.gpus = 0;
    placement_try(&po, &app, cs, &other, 1, &p);
    assert_string_equal(p.reason, "InsufficientPorts");
    assert_int_equal(p.nhost_ports, 0);
    app.nports = 1;
    placement_try(&po, &app, cs, &other, 1, &p);
    assert_true(p.ok);
    assert_int_equal(p.nhost_ports, 1);
    assert_true(p.host_ports[0] == 31000);
    /* The caller then counts the new instance among the placed ones. */
    placement_try(&po, &app, cs, &po.host, 1, &p);
    assert_string_equal(p.reason, "UnfulfilledConstraint");
    assert_int_equal(p.constraint, 0);
    constraints_free(cs);
    placement_offer_cleanup(&po);
    offer_free(o);
}

static void test_ports_across_ranges(void **state)
{
    Mesos__V1__Offer *o =
        offer_new("h1", NULL, "cpus:10;mem:4096;ports:[31000-31001,31005-31005,31007-31009]");
    struct placement_offer po;
    struct app_spec app, one;
    struct placement p;
    struct app_port ports[3] = { { 0 } };

    (void)state;
    app_init(&app);
    app.ports = ports;
    app.nports = 3;
    app.cpus = 0.1;
    assert_int_equal(placement_offer_init(&po, o, NULL), 0);
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);
    assert_int_equal(p.nhost_ports, 3);
    assert_true(p.host_ports[0] == 31000);
    assert_true(p.host_ports[1] == 31001);
    assert_true(p.host_ports[2] == 31005);
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);
    assert_true(p.host_ports[0] == 31007);
    assert_true(p.host_ports[1] == 31008);
    assert_true(p.host_ports[2] == 31009);
    assert_int_equal(po.nports, 0);
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_string_equal(p.reason, "InsufficientPorts");
    /* An app without ports still fits. */
    one = app;
    one.nports = 0;
    placement_try(&po, &one, NULL, NULL, 0, &p);
    assert_true(p.ok);
    placement_offer_cleanup(&po);
    offer_free(o);
}

static void test_require_ports(void **state)
{
    Mesos__V1__Offer *o = offer_new("h1", NULL, "cpus:10;mem:4096;ports:[31000-31010]");
    struct placement_offer po;
    struct app_spec app;
    struct placement p;
    struct app_port ports[3] = { { 0 } };

    (void)state;
    app_init(&app);
    app.cpus = 0.1;
    app.ports = ports;
    app.nports = 3;
    app.require_ports = true;
    ports[0].service_port = 0;     /* any */
    ports[1].service_port = 31005; /* exact, split a range */
    ports[2].service_port = 31000; /* exact: the "any" port must not take it */
    assert_int_equal(placement_offer_init(&po, o, NULL), 0);
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);
    assert_int_equal(p.nhost_ports, 3);
    assert_true(p.host_ports[0] == 31001);
    assert_true(p.host_ports[1] == 31005);
    assert_true(p.host_ports[2] == 31000);
    assert_int_equal(po.nports, 2);
    assert_true(po.ports[0][0] == 31002 && po.ports[0][1] == 31004);
    assert_true(po.ports[1][0] == 31006 && po.ports[1][1] == 31010);
    /* The same exact ports again: gone. */
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_string_equal(p.reason, "InsufficientPorts");
    assert_int_equal(po.nports, 2);
    /* An exact port outside the offer. */
    ports[1].service_port = 10000;
    ports[2].service_port = 31010;
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_string_equal(p.reason, "InsufficientPorts");
    ports[1].service_port = 31006;
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);
    assert_true(p.host_ports[0] == 31002);
    assert_true(p.host_ports[1] == 31006);
    assert_true(p.host_ports[2] == 31010);
    /* Without requirePorts the declared port is only the service port. */
    app.require_ports = false;
    ports[0].service_port = 10000;
    ports[1].service_port = 10001;
    ports[2].service_port = 10002;
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);
    assert_true(p.host_ports[0] == 31003);
    assert_true(p.host_ports[1] == 31004);
    assert_true(p.host_ports[2] == 31007);
    placement_offer_cleanup(&po);
    offer_free(o);
}

static void test_bridge_host_ports(void **state)
{
    Mesos__V1__Offer *o = offer_new("h1", NULL, "cpus:10;mem:4096;ports:[31000-31003]");
    struct placement_offer po;
    struct app_spec app;
    struct placement p;
    struct app_port ports[4] = { { 0 } };

    (void)state;
    app_init(&app);
    app.cpus = 0.1;
    app.container = APP_CONTAINER_DOCKER;
    app.network = APP_NET_BRIDGE;
    app.port_mappings = true;
    app.require_ports = true; /* ignored with port mappings */
    app.ports = ports;
    app.nports = 4;
    ports[0].container_port = 80;
    ports[0].host_port = 0;
    ports[0].service_port = 10000;
    ports[1].container_port = 81;
    ports[1].host_port = -1; /* no host port */
    ports[2].container_port = 82;
    ports[2].host_port = 31000;
    ports[3].container_port = 83;
    ports[3].host_port = 0;
    assert_int_equal(placement_offer_init(&po, o, NULL), 0);
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);
    assert_int_equal(p.nhost_ports, 3);
    assert_true(p.host_ports[0] == 31001);
    assert_true(p.host_ports[1] == 31000);
    assert_true(p.host_ports[2] == 31002);
    /* 31000 is taken now. */
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_string_equal(p.reason, "InsufficientPorts");
    /* Only ports without a host port: nothing needed. */
    ports[0].host_port = -1;
    ports[2].host_port = -1;
    ports[3].host_port = -1;
    placement_try(&po, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);
    assert_int_equal(p.nhost_ports, 0);
    assert_int_equal(po.nports, 1);
    placement_offer_cleanup(&po);
    offer_free(o);
}

static void test_roles(void **state)
{
    Mesos__V1__Offer *unres = offer_new("h1", "web", "cpus:4;mem:4096");
    Mesos__V1__Offer *resv = offer_new("h2", "web", "cpus(web):4;mem(web):4096");
    Mesos__V1__Offer *mixed = offer_new("h3", "web", "cpus(web):1;cpus:1;mem:4096");
    struct placement_offer a, b, c;
    struct app_spec app;
    struct placement p;
    char *star[] = { "*", NULL };
    char *web[] = { "web", NULL };
    char *both[] = { "web", "*", NULL };

    (void)state;
    app_init(&app);
    assert_int_equal(placement_offer_init(&a, unres, NULL), 0);
    assert_int_equal(placement_offer_init(&b, resv, NULL), 0);
    assert_int_equal(placement_offer_init(&c, mixed, NULL), 0);
    assert_true(c.cpus == 2);

    /* No acceptedResourceRoles: any resources. */
    placement_try(&a, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);
    placement_try(&b, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);

    app.accepted_roles = star;
    app.naccepted_roles = 1;
    placement_try(&a, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);
    placement_try(&b, &app, NULL, NULL, 0, &p);
    assert_false(p.ok);
    assert_string_equal(p.reason, "UnfulfilledRole");
    placement_try(&c, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);

    app.accepted_roles = web;
    placement_try(&a, &app, NULL, NULL, 0, &p);
    assert_string_equal(p.reason, "UnfulfilledRole");
    placement_try(&b, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);

    /* Resources reserved for a role the offer is not allocated to are
     * neither counted nor a match for that role. */
    {
        Mesos__V1__Offer *o = offer_new("h4", "web", "cpus:1;cpus(other):8;mem:4096");
        struct placement_offer d;
        char *other[] = { "other", NULL };

        assert_int_equal(placement_offer_init(&d, o, NULL), 0);
        assert_true(d.cpus == 1);
        app.accepted_roles = other;
        placement_try(&d, &app, NULL, NULL, 0, &p);
        assert_string_equal(p.reason, "UnfulfilledRole");
        placement_offer_cleanup(&d);
        offer_free(o);
    }

    app.accepted_roles = both;
    app.naccepted_roles = 2;
    placement_try(&a, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);
    placement_try(&b, &app, NULL, NULL, 0, &p);
    assert_true(p.ok);

    placement_offer_cleanup(&a);
    placement_offer_cleanup(&b);
    placement_offer_cleanup(&c);
    offer_free(unres);
    offer_free(resv);
    offer_free(mixed);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_validate_messages),
        cmocka_unit_test(test_compile_describe),
        cmocka_unit_test(test_unique),
        cmocka_unit_test(test_cluster),
        cmocka_unit_test(test_group_by_three_racks),
        cmocka_unit_test(test_max_per),
        cmocka_unit_test(test_like_unlike),
        cmocka_unit_test(test_is),
        cmocka_unit_test(test_which),
        cmocka_unit_test(test_offer_init),
        cmocka_unit_test(test_pack_until_cpus_run_out),
        cmocka_unit_test(test_reason_order),
        cmocka_unit_test(test_ports_across_ranges),
        cmocka_unit_test(test_require_ports),
        cmocka_unit_test(test_bridge_host_ports),
        cmocka_unit_test(test_roles),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
