/*
 * test_recordio: common/recordio.c — encoding, and the incremental
 * decoder's promise that any split of the input yields the same records
 * (checked by feeding byte by byte and at every two-way split), plus its
 * rejection of malformed prefixes and oversized records.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>

#include "mem.h"
#include "recordio.h"

struct collected {
    char *data; /* records joined with '|' */
    size_t len;
    int count;
    int stop_after; /* return -1 from this record on (0: never) */
};

static int collect(const char *data, size_t len, void *arg)
{
    struct collected *c = arg;

    c->data = xrealloc(c->data, c->len + len + 2);
    memcpy(c->data + c->len, data, len);
    c->len += len;
    c->data[c->len++] = '|';
    c->data[c->len] = '\0';
    c->count++;
    if (c->stop_after && c->count >= c->stop_after)
        return -1;
    return 0;
}

static void collected_free(struct collected *c)
{
    free(c->data);
    memset(c, 0, sizeof(*c));
}

static void test_encode(void **state)
{
    struct evbuffer *b = evbuffer_new();
    size_t len;
    char *s;

    (void)state;
    rio_encode(b, "hello", 5);
    rio_encode(b, "", 0);
    rio_encode(b, "{\"a\":1}", 7);
    len = evbuffer_get_length(b);
    assert_int_equal(len, 7 + 2 + 9);
    assert_memory_equal(evbuffer_pullup(b, -1), "5\nhello0\n7\n{\"a\":1}", len);
    evbuffer_free(b);

    s = rio_encode_alloc("abc", 3, &len);
    assert_int_equal(len, 5);
    assert_memory_equal(s, "3\nabc", 5);
    free(s);
}

static const char stream[] = "5\nhello0\n3\nabc11\nhello world1\n\n";

static void test_any_split(void **state)
{
    size_t n = sizeof(stream) - 1, i, split;
    struct collected whole = { 0 }, c = { 0 };
    struct rio_decoder *d;

    (void)state;
    d = rio_decoder_new(1024);
    assert_int_equal(rio_decoder_feed(d, stream, n, collect, &whole, NULL), 0);
    rio_decoder_free(d);
    assert_int_equal(whole.count, 5);
    assert_string_equal(whole.data, "hello||abc|hello world|\n|");

    /* Byte by byte. */
    d = rio_decoder_new(1024);
    for (i = 0; i < n; i++)
        assert_int_equal(rio_decoder_feed(d, stream + i, 1, collect, &c, NULL), 0);
    rio_decoder_free(d);
    assert_int_equal(c.count, whole.count);
    assert_string_equal(c.data, whole.data);
    collected_free(&c);

    /* Every split in two, with an empty feed in between. */
    for (split = 0; split <= n; split++) {
        d = rio_decoder_new(1024);
        assert_int_equal(rio_decoder_feed(d, stream, split, collect, &c, NULL), 0);
        assert_int_equal(rio_decoder_feed(d, NULL, 0, collect, &c, NULL), 0);
        assert_int_equal(rio_decoder_feed(d, stream + split, n - split, collect, &c, NULL), 0);
        rio_decoder_free(d);
        assert_string_equal(c.data, whole.data);
        collected_free(&c);
    }
    collected_free(&whole);
}

/* Records built by the encoder round-trip through the decoder. */
static void test_roundtrip_large(void **state)
{
    struct evbuffer *b = evbuffer_new();
    struct rio_decoder *d = rio_decoder_new(100000);
    struct collected c = { 0 };
    char *rec = xmalloc(70000);
    size_t len, off;
    const char *p;

    (void)state;
    memset(rec, 'r', 70000);
    rio_encode(b, rec, 70000);
    rio_encode(b, "tail", 4);
    len = evbuffer_get_length(b);
    p = (const char *)evbuffer_pullup(b, -1);
    /* Uneven slices. */
    for (off = 0; off < len;) {
        size_t take = len - off < 997 ? len - off : 997;
        assert_int_equal(rio_decoder_feed(d, p + off, take, collect, &c, NULL), 0);
        off += take;
    }
    assert_int_equal(c.count, 2);
    assert_int_equal(c.len, 70000 + 1 + 4 + 1);
    assert_memory_equal(c.data + 70001, "tail|", 5);
    collected_free(&c);
    rio_decoder_free(d);
    evbuffer_free(b);
    free(rec);
}

static void expect_error(const char *input, size_t max)
{
    struct rio_decoder *d = rio_decoder_new(max);
    struct collected c = { 0 };
    char *err = NULL;

    assert_int_equal(rio_decoder_feed(d, input, strlen(input), collect, &c, &err), -1);
    assert_non_null(err);
    free(err);
    /* After an error every further feed fails too. */
    assert_int_equal(rio_decoder_feed(d, "1\nx", 3, collect, &c, &err), -1);
    free(err);
    assert_int_equal(rio_decoder_feed(d, "1\nx", 3, collect, &c, NULL), -1);
    rio_decoder_free(d);
    collected_free(&c);
}

static void test_malformed(void **state)
{
    (void)state;
    expect_error("\nabc", 100); /* empty prefix */
    expect_error("a\n", 100);   /* non-digit */
    expect_error("1a\nx", 100);
    expect_error("-1\n", 100);
    expect_error(" 1\nx", 100);
    expect_error("1\r\nx", 100);
    expect_error("101\n", 100);                            /* over max_record */
    expect_error("123456789012345678901\n", SIZE_MAX);     /* 21 digits */
    expect_error("99999999999999999999\n", SIZE_MAX);      /* 20 digits, overflows */
    expect_error("00000000000000000000000000001\nx", 100); /* overlong */
}

static void test_oversize_fails_early(void **state)
{
    struct rio_decoder *d = rio_decoder_new(10);
    struct collected c = { 0 };
    char *err = NULL;

    (void)state;
    /* Rejected as soon as the prefix exceeds the limit, before any '\n'. */
    assert_int_equal(rio_decoder_feed(d, "1", 1, collect, &c, &err), 0);
    assert_int_equal(rio_decoder_feed(d, "0", 1, collect, &c, &err), 0);
    assert_int_equal(rio_decoder_feed(d, "0", 1, collect, &c, &err), -1);
    assert_non_null(strstr(err, "10"));
    free(err);
    rio_decoder_free(d);
}

static void test_callback_stops(void **state)
{
    struct rio_decoder *d = rio_decoder_new(100);
    struct collected c = { 0 };
    char *err = NULL;

    (void)state;
    c.stop_after = 2;
    assert_int_equal(rio_decoder_feed(d, "1\na1\nb1\nc", 9, collect, &c, &err), -1);
    assert_int_equal(c.count, 2);
    free(err);
    assert_int_equal(rio_decoder_feed(d, "1\nd", 3, collect, &c, NULL), -1);
    assert_int_equal(c.count, 2);
    rio_decoder_free(d);
    collected_free(&c);
}

/* A partial record at the end is kept, not delivered, and freed cleanly. */
static void test_partial_then_free(void **state)
{
    struct rio_decoder *d = rio_decoder_new(100);
    struct collected c = { 0 };

    (void)state;
    assert_int_equal(rio_decoder_feed(d, "10\nabc", 6, collect, &c, NULL), 0);
    assert_int_equal(c.count, 0);
    rio_decoder_free(d);
    rio_decoder_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_encode),
        cmocka_unit_test(test_any_split),
        cmocka_unit_test(test_roundtrip_large),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_oversize_fails_early),
        cmocka_unit_test(test_callback_stops),
        cmocka_unit_test(test_partial_then_free),
    };

    mem_init();
    return cmocka_run_group_tests(tests, NULL, NULL);
}
