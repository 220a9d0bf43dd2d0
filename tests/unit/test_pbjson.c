/*
 * test_pbjson: protobuf <-> JSON (common/pbjson.c): Mesos JSON shape,
 * round trips of realistic Calls and Events, base64, and the error
 * messages of bad input. Run under valgrind to check the error paths free
 * their partial messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "mem.h"
#include "pbjson.h"
#include "mesos.pb-c.h"
#include "scheduler.pb-c.h"

/* The tests exercise Mesos's deprecated Resource.role / FrameworkInfo.role
 * on purpose (pre-refinement clients still send them). */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

#define CALL_DESC (&mesos__v1__scheduler__call__descriptor)

/* Packed bytes of two messages must be identical. */
static void assert_same_pack(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t na = protobuf_c_message_get_packed_size(a);
    size_t nb = protobuf_c_message_get_packed_size(b);
    uint8_t *pa = xmalloc(na), *pb = xmalloc(nb);

    protobuf_c_message_pack(a, pa);
    protobuf_c_message_pack(b, pb);
    assert_int_equal(na, nb);
    assert_memory_equal(pa, pb, na);
    free(pa);
    free(pb);
}

static ProtobufCMessage *decode_ok(const ProtobufCMessageDescriptor *d, const char *text)
{
    char *err = NULL;
    ProtobufCMessage *m = pbjson_decode_string(d, text, strlen(text), &err);
    if (m == NULL)
        fail_msg("decode failed: %s", err);
    assert_null(err);
    return m;
}

/* Decode must fail with exactly this message. */
static void expect_err(const ProtobufCMessageDescriptor *d, const char *text, const char *want)
{
    char *err = NULL;
    ProtobufCMessage *m = pbjson_decode_string(d, text, strlen(text), &err);
    assert_null(m);
    assert_non_null(err);
    if (strcmp(err, want) != 0)
        fail_msg("input %s\n  got  '%s'\n  want '%s'", text, err, want);
    free(err);
}

/* Decode must fail with a message starting with prefix. */
static void expect_err_prefix(const ProtobufCMessageDescriptor *d, const char *text,
                              const char *prefix)
{
    char *err = NULL;
    ProtobufCMessage *m = pbjson_decode_string(d, text, strlen(text), &err);
    assert_null(m);
    assert_non_null(err);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("input %s\n  got  '%s'\n  want prefix '%s'", text, err, prefix);
    free(err);
}

/* text -> msg -> JSON must equal the parsed text (canonical input), and
 * msg -> JSON -> msg must give the same packed bytes. Returns msg. */
static ProtobufCMessage *round_trip(const ProtobufCMessageDescriptor *d, const char *text)
{
    ProtobufCMessage *m = decode_ok(d, text);
    json_t *want = json_loads(text, 0, NULL);
    json_t *got = pbjson_encode(m);
    char *s = pbjson_encode_string(m, NULL);
    ProtobufCMessage *m2 = decode_ok(d, s);

    assert_non_null(want);
    if (!json_equal(want, got)) {
        char *g = json_dumps(got, JSON_COMPACT);
        fail_msg("round trip differs\n  in:  %s\n  out: %s", text, g);
    }
    assert_same_pack(m, m2);
    protobuf_c_message_free_unpacked(m2, NULL);
    json_decref(want);
    json_decref(got);
    free(s);
    return m;
}

static void test_subscribe_shape(void **state)
{
    Mesos__V1__Scheduler__Call call = MESOS__V1__SCHEDULER__CALL__INIT;
    Mesos__V1__Scheduler__Call__Subscribe sub = MESOS__V1__SCHEDULER__CALL__SUBSCRIBE__INIT;
    Mesos__V1__FrameworkInfo fi = MESOS__V1__FRAMEWORK_INFO__INIT;
    char *s;

    fi.user = "u";
    fi.name = "n";
    sub.framework_info = &fi;
    call.has_type = 1;
    call.type = MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE;
    call.subscribe = &sub;
    /* role keeps its default pointer and failover_timeout/checkpoint have
     * no has_: none of them may appear. */
    s = pbjson_encode_string(&call.base, NULL);
    assert_string_equal(s, "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":"
                           "\"u\",\"name\":\"n\"}}}");
    free(s);

    /* An explicitly set role "*" (not the default pointer) is emitted. */
    fi.role = "*";
    fi.has_failover_timeout = 1;
    fi.failover_timeout = 604800;
    s = pbjson_encode_string(&call.base, NULL);
    assert_string_equal(
        s,
        "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":\"n\","
        "\"failover_timeout\":604800.0,\"role\":\"*\"}}}");
    free(s);
}

static void test_subscribe_round_trip(void **state)
{
    const char *text =
        "{\"framework_id\":{\"value\":\"fw-1\"},\"type\":\"SUBSCRIBE\","
        "\"subscribe\":{\"framework_info\":{\"user\":\"root\",\"name\":\"pacer\","
        "\"id\":{\"value\":\"fw-1\"},\"failover_timeout\":604800.5,\"checkpoint\":true,"
        "\"hostname\":\"h1\",\"principal\":\"p\",\"webui_url\":\"http://h1:8080\","
        "\"capabilities\":[{\"type\":\"MULTI_ROLE\"},{\"type\":\"PARTITION_AWARE\"}],"
        "\"labels\":{\"labels\":[{\"key\":\"k\",\"value\":\"v\"},{\"key\":\"only\"}]},"
        "\"roles\":[\"web\",\"batch\"]},"
        "\"suppressed_roles\":[\"batch\"]}}";
    Mesos__V1__Scheduler__Call *c = (Mesos__V1__Scheduler__Call *)round_trip(CALL_DESC, text);
    Mesos__V1__FrameworkInfo *fi = c->subscribe->framework_info;

    assert_int_equal(c->type, MESOS__V1__SCHEDULER__CALL__TYPE__SUBSCRIBE);
    assert_string_equal(fi->user, "root");
    assert_true(fi->has_failover_timeout);
    assert_true(fi->failover_timeout == 604800.5);
    assert_true(fi->has_checkpoint && fi->checkpoint);
    assert_int_equal(fi->n_roles, 2);
    assert_string_equal(fi->roles[1], "batch");
    assert_int_equal(fi->n_capabilities, 2);
    assert_int_equal(fi->capabilities[1]->type,
                     MESOS__V1__FRAMEWORK_INFO__CAPABILITY__TYPE__PARTITION_AWARE);
    assert_null(fi->labels->labels[1]->value);
    protobuf_c_message_free_unpacked(&c->base, NULL);
}

static const char *accept_text =
    "{\"framework_id\":{\"value\":\"fw-1\"},\"type\":\"ACCEPT\",\"accept\":{"
    "\"offer_ids\":[{\"value\":\"o-1\"},{\"value\":\"o-2\"}],"
    "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{"
    "\"name\":\"web\",\"task_id\":{\"value\":\"web.1\"},\"agent_id\":{\"value\":\"a-1\"},"
    "\"resources\":["
    "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":0.1},\"role\":\"*\"},"
    "{\"name\":\"mem\",\"type\":\"SCALAR\",\"scalar\":{\"value\":128.0}},"
    "{\"name\":\"ports\",\"type\":\"RANGES\",\"ranges\":{\"range\":[{\"begin\":31000,\"end\":31001}"
    "]}}],"
    "\"command\":{\"uris\":[{\"value\":\"http://x/app.tgz\",\"extract\":false}],"
    "\"environment\":{\"variables\":[{\"name\":\"PORT\",\"type\":\"VALUE\",\"value\":\"31000\"}]},"
    "\"value\":\"python3 -m http.server $PORT\",\"shell\":true},"
    "\"health_check\":{\"http\":{\"port\":31000,\"path\":\"/health\",\"statuses\":[200,204]},"
    "\"delay_seconds\":0.0,\"interval_seconds\":1.5,\"timeout_seconds\":2.0,"
    "\"consecutive_failures\":3,\"grace_period_seconds\":30.0,\"type\":\"HTTP\"},"
    "\"labels\":{\"labels\":[{\"key\":\"app\",\"value\":\"web\"}]}"
    "}]}}],"
    "\"filters\":{\"refuse_seconds\":5.0}}}";

static void test_accept_launch_round_trip(void **state)
{
    Mesos__V1__Scheduler__Call *c =
        (Mesos__V1__Scheduler__Call *)round_trip(CALL_DESC, accept_text);
    Mesos__V1__TaskInfo *t;
    char *s;

    assert_int_equal(c->accept->n_offer_ids, 2);
    assert_int_equal(c->accept->n_operations, 1);
    t = c->accept->operations[0]->launch->task_infos[0];
    assert_string_equal(t->name, "web");
    assert_int_equal(t->n_resources, 3);
    assert_true(t->resources[0]->scalar->value == 0.1);
    assert_int_equal(t->resources[2]->ranges->range[0]->end, 31001);
    assert_int_equal(t->health_check->http->n_statuses, 2);
    assert_int_equal(t->health_check->http->statuses[1], 204);
    assert_true(t->command->has_shell && t->command->shell);
    /* Unset: the "shell" default is there but not marked present. */
    assert_false(t->command->uris[0]->has_executable);
    /* 0.1 must print as 0.1, not 0.10000000000000001. */
    s = pbjson_encode_string(&c->base, NULL);
    assert_non_null(strstr(s, "\"scalar\":{\"value\":0.1}"));
    free(s);
    protobuf_c_message_free_unpacked(&c->base, NULL);
}

static void test_event_bytes(void **state)
{
    static const uint8_t uuid[16] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01, 0x02, 0x03,
                                      0xfb, 0xff, 0xfe, 0x7f, 0x80, 0x10, 0x20, 0x30 };
    Mesos__V1__Scheduler__Event ev = MESOS__V1__SCHEDULER__EVENT__INIT;
    Mesos__V1__Scheduler__Event__Update up = MESOS__V1__SCHEDULER__EVENT__UPDATE__INIT;
    Mesos__V1__TaskStatus st = MESOS__V1__TASK_STATUS__INIT;
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    Mesos__V1__Scheduler__Event *back;
    char *s, *err = NULL;

    tid.value = "web.1";
    st.task_id = &tid;
    st.state = MESOS__V1__TASK_STATE__TASK_RUNNING;
    st.has_uuid = 1;
    st.uuid.data = (uint8_t *)uuid;
    st.uuid.len = sizeof(uuid);
    st.has_data = 1; /* one byte: two '=' of padding */
    st.data.data = (uint8_t *)"A";
    st.data.len = 1;
    st.has_timestamp = 1;
    st.timestamp = 1795000000.25;
    up.status = &st;
    ev.has_type = 1;
    ev.type = MESOS__V1__SCHEDULER__EVENT__TYPE__UPDATE;
    ev.update = &up;

    s = pbjson_encode_string(&ev.base, NULL);
    assert_string_equal(
        s, "{\"type\":\"UPDATE\",\"update\":{\"status\":{\"task_id\":{\"value\":\"web.1\"},"
           "\"state\":\"TASK_RUNNING\",\"data\":\"QQ==\",\"timestamp\":1795000000.25,"
           "\"uuid\":\"3q2+7wABAgP7//5/gBAgMA==\"}}}");
    back = (Mesos__V1__Scheduler__Event *)pbjson_decode_string(
        &mesos__v1__scheduler__event__descriptor, s, strlen(s), &err);
    assert_non_null(back);
    assert_int_equal(back->update->status->uuid.len, 16);
    assert_memory_equal(back->update->status->uuid.data, uuid, 16);
    assert_int_equal(back->update->status->data.len, 1);
    assert_same_pack(&ev.base, &back->base);
    protobuf_c_message_free_unpacked(&back->base, NULL);
    free(s);
}

static void test_task_status_enum(void **state)
{
    const ProtobufCMessageDescriptor *d = &mesos__v1__task_status__descriptor;
    Mesos__V1__TaskStatus *st;
    char *s;

    st = (Mesos__V1__TaskStatus *)round_trip(
        d, "{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_FAILED\",\"message\":\"exit 1\","
           "\"source\":\"SOURCE_EXECUTOR\",\"reason\":\"REASON_COMMAND_EXECUTOR_FAILED\","
           "\"healthy\":false}");
    assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_FAILED);
    assert_true(st->has_reason);
    assert_int_equal(st->reason, 0);
    assert_true(st->has_healthy && !st->healthy);
    protobuf_c_message_free_unpacked(&st->base, NULL);

    /* Numbers are accepted for enums and come back as names. */
    st = (Mesos__V1__TaskStatus *)decode_ok(d, "{\"task_id\":{\"value\":\"t\"},\"state\":6}");
    assert_int_equal(st->state, MESOS__V1__TASK_STATE__TASK_STAGING);
    s = pbjson_encode_string(&st->base, NULL);
    assert_string_equal(s, "{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_STAGING\"}");
    free(s);
    protobuf_c_message_free_unpacked(&st->base, NULL);

    expect_err(d, "{\"task_id\":{\"value\":\"t\"},\"state\":99}",
               "state: unknown enum value 99 for mesos.v1.TaskState");
    expect_err(d, "{\"task_id\":{\"value\":\"t\"},\"state\":true}",
               "state: expected an enum name, got boolean");
}

static void test_lenient_inputs(void **state)
{
    Mesos__V1__Scheduler__Call *c;
    Mesos__V1__Resource *r;
    Mesos__V1__TimeInfo *ti;
    char *s;

    /* null for repeated fields and optional messages; unknown keys. */
    c = (Mesos__V1__Scheduler__Call *)decode_ok(
        CALL_DESC, "{\"type\":\"DECLINE\",\"future_field\":[1,{\"x\":null}],"
                   "\"decline\":{\"offer_ids\":null,\"filters\":null}}");
    assert_int_equal(c->decline->n_offer_ids, 0);
    assert_null(c->decline->filters);
    protobuf_c_message_free_unpacked(&c->base, NULL);

    /* Pre-refinement resource: role field; integer for a double. */
    r = (Mesos__V1__Resource *)decode_ok(
        &mesos__v1__resource__descriptor,
        "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1},\"role\":\"*\"}");
    assert_true(r->scalar->value == 1.0);
    assert_string_equal(r->role, "*");
    assert_ptr_not_equal(r->role, mesos__v1__resource__role__default_value);
    s = pbjson_encode_string(&r->base, NULL);
    assert_string_equal(
        s, "{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":1.0},\"role\":\"*\"}");
    free(s);
    protobuf_c_message_free_unpacked(&r->base, NULL);

    /* int64 as a string, and as an integral real. */
    ti = (Mesos__V1__TimeInfo *)decode_ok(&mesos__v1__time_info__descriptor,
                                          "{\"nanoseconds\":\"-9223372036854775808\"}");
    assert_true(ti->nanoseconds == INT64_MIN);
    protobuf_c_message_free_unpacked(&ti->base, NULL);
    ti = (Mesos__V1__TimeInfo *)decode_ok(&mesos__v1__time_info__descriptor,
                                          "{\"nanoseconds\":1e9}");
    assert_true(ti->nanoseconds == 1000000000);
    protobuf_c_message_free_unpacked(&ti->base, NULL);
}

static void test_uint64_extremes(void **state)
{
    Mesos__V1__Value__Range rg = MESOS__V1__VALUE__RANGE__INIT;
    Mesos__V1__Value__Range *back;
    char *s;

    rg.begin = 0;
    rg.end = UINT64_MAX;
    /* Above INT64_MAX jansson has no integer: it travels as a string. */
    s = pbjson_encode_string(&rg.base, NULL);
    assert_string_equal(s, "{\"begin\":0,\"end\":\"18446744073709551615\"}");
    back = (Mesos__V1__Value__Range *)decode_ok(&mesos__v1__value__range__descriptor, s);
    assert_true(back->end == UINT64_MAX);
    protobuf_c_message_free_unpacked(&back->base, NULL);
    free(s);

    expect_err(&mesos__v1__value__range__descriptor, "{\"begin\":-1,\"end\":1}",
               "begin: value -1 out of range for uint64");
    expect_err(&mesos__v1__value__range__descriptor,
               "{\"begin\":0,\"end\":\"18446744073709551616\"}",
               "end: value '18446744073709551616' out of range for uint64");
}

static void test_errors(void **state)
{
    expect_err_prefix(CALL_DESC, "{\"type\": ", "invalid JSON at line 1, column");
    expect_err(CALL_DESC, "[1,2]", "mesos.v1.scheduler.Call: expected an object, got array");
    expect_err(CALL_DESC, "\"SUBSCRIBE\"",
               "mesos.v1.scheduler.Call: expected an object, got string");
    expect_err(CALL_DESC, "{\"type\":\"FOO\"}",
               "type: unknown enum value 'FOO' for mesos.v1.scheduler.Call.Type");
    expect_err(
        CALL_DESC,
        "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":5}}}",
        "subscribe.framework_info.name: expected a string, got number");
    expect_err(CALL_DESC,
               "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"name\":\"n\"}}}",
               "subscribe.framework_info: missing required field 'user'");
    expect_err(CALL_DESC, "{\"subscribe\":{}}",
               "subscribe: missing required field 'framework_info'");
    expect_err(&mesos__v1__framework_id__descriptor, "{}",
               "mesos.v1.FrameworkID: missing required field 'value'");
    expect_err(
        CALL_DESC,
        "{\"type\":\"SUBSCRIBE\",\"subscribe\":{\"framework_info\":{\"user\":\"u\",\"name\":\"n\","
        "\"checkpoint\":\"yes\"}}}",
        "subscribe.framework_info.checkpoint: expected a boolean, got string");
    expect_err(CALL_DESC, "{\"subscribe\":[]}", "subscribe: expected an object, got array");
    expect_err(CALL_DESC, "{\"accept\":{\"offer_ids\":{\"value\":\"o\"}}}",
               "accept.offer_ids: expected an array, got object");
    expect_err(CALL_DESC, "{\"accept\":{\"offer_ids\":[{\"value\":\"o\"},{}]}}",
               "accept.offer_ids[1]: missing required field 'value'");
    expect_err(
        CALL_DESC,
        "{\"accept\":{\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":["
        "{\"name\":\"a\",\"task_id\":{\"value\":\"a\"},\"agent_id\":{\"value\":\"s\"}},"
        "{\"name\":\"b\",\"task_id\":{\"value\":\"b\"},\"agent_id\":{\"value\":\"s\"},"
        "\"resources\":[{\"name\":\"cpus\",\"type\":\"SCALAR\",\"scalar\":{\"value\":\"1\"}}]}"
        "]}}]}}",
        "accept.operations[0].launch.task_infos[1].resources[0].scalar.value: "
        "expected a number, got string");
    /* integers */
    expect_err(&mesos__v1__health_check__descriptor, "{\"consecutive_failures\":1.5}",
               "consecutive_failures: expected an integer, got 1.5");
    expect_err(&mesos__v1__health_check__descriptor, "{\"consecutive_failures\":4294967296}",
               "consecutive_failures: value 4294967296 out of range for uint32");
    expect_err(&mesos__v1__health_check__descriptor, "{\"consecutive_failures\":\"12a\"}",
               "consecutive_failures: expected an integer, got '12a'");
    expect_err(&mesos__v1__address__descriptor, "{\"port\":-2147483649}",
               "port: value -2147483649 out of range for int32");
    expect_err(&mesos__v1__time_info__descriptor, "{\"nanoseconds\":1e19}",
               "nanoseconds: value 1e+19 out of range for int64");
    expect_err(&mesos__v1__time_info__descriptor, "{\"nanoseconds\":\"\"}",
               "nanoseconds: expected an integer, got ''");
    /* bytes */
    expect_err(&mesos__v1__task_status__descriptor,
               "{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\",\"uuid\":\"QQ=A\"}",
               "uuid: bad base64 'QQ=A'");
    expect_err(&mesos__v1__task_status__descriptor,
               "{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\",\"uuid\":\"QQ\"}",
               "uuid: bad base64 'QQ'");
    expect_err(&mesos__v1__task_status__descriptor,
               "{\"task_id\":{\"value\":\"t\"},\"state\":\"TASK_RUNNING\",\"uuid\":7}",
               "uuid: expected a base64 string, got number");
    /* NUL inside a string cannot become a C string. */
    {
        json_t *j = json_pack("{s:s%}", "value", "a\0b", (size_t)3);
        char *err = NULL;
        assert_null(pbjson_decode(&mesos__v1__task_id__descriptor, j, &err));
        assert_string_equal(err, "value: string contains a NUL character");
        free(err);
        json_decref(j);
    }
    /* Long garbage values are cut in messages. */
    {
        char text[400];
        char *err = NULL;
        snprintf(text, sizeof(text), "{\"type\":\"%0300d\"}", 0);
        assert_null(pbjson_decode_string(CALL_DESC, text, strlen(text), &err));
        assert_true(strlen(err) < 200);
        assert_non_null(strstr(err, "...' for mesos.v1.scheduler.Call.Type"));
        free(err);
    }
    /* jansson quotes the raw input near a syntax error; the message must
     * still be UTF-8 (found by fuzz_pbjson). */
    {
        const char *text = "{\"a\":{},\"\\\xd5\x8e\x00\"}";
        char *err = NULL;
        json_t *j;
        assert_null(pbjson_decode_string(CALL_DESC, text, 12, &err));
        assert_non_null(strstr(err, "invalid JSON at line 1"));
        j = json_string(err);
        assert_non_null(j);
        json_decref(j);
        free(err);
    }
    /* err may be NULL. */
    assert_null(pbjson_decode_string(CALL_DESC, "{\"type\":1.5}", 12, NULL));
}

/* Garbage nested deep under known and unknown keys: errors, no crash, no
 * leak (valgrind), and the partially built message is freed. */
static void test_deep_garbage(void **state)
{
    size_t depth = 5000;
    char *text = xmalloc(depth * 16 + 64);
    size_t o = 0;
    char *err = NULL;

    o += (size_t)sprintf(text + o, "{\"junk\":");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(text + o, "{\"a\":[");
    for (size_t i = 0; i < depth; i++)
        o += (size_t)sprintf(text + o, "]}");
    o += (size_t)sprintf(text + o, "}");
    assert_null(pbjson_decode_string(CALL_DESC, text, o, &err));
    assert_non_null(strstr(err, "invalid JSON"));
    free(err);

    /* ContainerID.parent is recursive: depth is capped. */
    o = 0;
    for (int i = 0; i < 100; i++)
        o += (size_t)sprintf(text + o, "{\"value\":\"c\",\"parent\":");
    o += (size_t)sprintf(text + o, "{\"value\":\"root\"}");
    for (int i = 0; i < 100; i++)
        o += (size_t)sprintf(text + o, "}");
    assert_null(pbjson_decode_string(&mesos__v1__container_id__descriptor, text, o, &err));
    assert_non_null(strstr(err, ": nested deeper than 64 messages"));
    assert_non_null(strstr(err, "parent.parent.parent"));
    free(err);

    /* Deep but parseable: partial Accept built, then a bad leaf. */
    expect_err(
        CALL_DESC,
        "{\"type\":\"ACCEPT\",\"accept\":{\"offer_ids\":[{\"value\":\"a\"},{\"value\":\"b\"}],"
        "\"operations\":[{\"type\":\"LAUNCH\",\"launch\":{\"task_infos\":[{\"name\":\"t\","
        "\"task_id\":{\"value\":\"t\"},\"agent_id\":{\"value\":\"s\"},\"labels\":{\"labels\":"
        "[{\"key\":\"k\",\"value\":[[[[{}]]]]}]}}]}}]}}",
        "accept.operations[0].launch.task_infos[0].labels.labels[0].value: "
        "expected a string, got array");
    free(text);
}

static void test_base64(void **state)
{
    static const struct {
        const char *raw;
        const char *b64;
    } v[] = {
        { "", "" },
        { "f", "Zg==" },
        { "fo", "Zm8=" },
        { "foo", "Zm9v" },
        { "foob", "Zm9vYg==" },
        { "fooba", "Zm9vYmE=" },
        { "foobar", "Zm9vYmFy" },
    };
    static const char *bad[] = { "Z",     "Zg=",    "Zg",       "Z===", "Zg=A", "=Zg=",
                                 " Zg==", "Zg==\n", "Zm9v!mFy", "Zm9-", "Zm9_" };
    uint8_t all[256];
    char *t;
    uint8_t *back;
    size_t n;

    for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
        t = pbjson_base64_encode(v[i].raw, strlen(v[i].raw));
        assert_string_equal(t, v[i].b64);
        free(t);
        back = pbjson_base64_decode(v[i].b64, &n);
        assert_non_null(back);
        assert_int_equal(n, strlen(v[i].raw));
        assert_memory_equal(back, v[i].raw, n);
        free(back);
    }
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        back = pbjson_base64_decode(bad[i], &n);
        if (back != NULL)
            fail_msg("'%s' accepted", bad[i]);
    }
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    t = pbjson_base64_encode(all, sizeof(all));
    back = pbjson_base64_decode(t, &n);
    assert_int_equal(n, 256);
    assert_memory_equal(back, all, 256);
    free(back);
    free(t);
}

static void test_invalid_utf8_encode(void **state)
{
    Mesos__V1__TaskID tid = MESOS__V1__TASK_ID__INIT;
    char *s;

    /* Built in code with bad bytes: encode must still give valid JSON. */
    tid.value = "a\xff"
                "b\xc3";
    s = pbjson_encode_string(&tid.base, NULL);
    assert_string_equal(s, "{\"value\":\"a\xef\xbf\xbd"
                           "b\xef\xbf\xbd\"}");
    free(s);
    tid.value = "caf\xc3\xa9";
    s = pbjson_encode_string(&tid.base, NULL);
    assert_string_equal(s, "{\"value\":\"caf\xc3\xa9\"}");
    free(s);
}

static void test_special_doubles(void **state)
{
    Mesos__V1__Value__Scalar sc = MESOS__V1__VALUE__SCALAR__INIT;
    Mesos__V1__Value__Scalar *back;
    char *s;
    size_t len;

    sc.value = INFINITY;
    s = pbjson_encode_string(&sc.base, &len);
    assert_string_equal(s, "{\"value\":\"Infinity\"}");
    assert_int_equal(len, strlen(s));
    back = (Mesos__V1__Value__Scalar *)decode_ok(&mesos__v1__value__scalar__descriptor, s);
    assert_true(back->value == sc.value);
    protobuf_c_message_free_unpacked(&back->base, NULL);
    free(s);

    /* A double that needs all 17 digits survives exactly. */
    sc.value = 0.1 + 0.2;
    s = pbjson_encode_string(&sc.base, NULL);
    back = (Mesos__V1__Value__Scalar *)decode_ok(&mesos__v1__value__scalar__descriptor, s);
    assert_true(back->value == sc.value);
    protobuf_c_message_free_unpacked(&back->base, NULL);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscribe_shape),
        cmocka_unit_test(test_subscribe_round_trip),
        cmocka_unit_test(test_accept_launch_round_trip),
        cmocka_unit_test(test_event_bytes),
        cmocka_unit_test(test_task_status_enum),
        cmocka_unit_test(test_lenient_inputs),
        cmocka_unit_test(test_uint64_extremes),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_deep_garbage),
        cmocka_unit_test(test_base64),
        cmocka_unit_test(test_invalid_utf8_encode),
        cmocka_unit_test(test_special_doubles),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
