/*
 * pbjson: protobuf <-> JSON with the Mesos v1 conventions (see pbjson.h).
 *
 * Both directions are driven only by protobuf-c descriptors, so every
 * message of proto/ (and any future one) works without per-type code.
 *
 * Decoding builds the message exactly as protobuf_c_message_unpack would:
 * sizeof_message bytes from xmalloc, message_init for the defaults, every
 * string, bytes buffer, array and sub-message a separate heap block. So the
 * result - and any partial result on an error path - is released by
 * protobuf_c_message_free_unpacked(msg, NULL) and nothing else. Invariant
 * kept while filling: a repeated field's count only ever covers elements
 * that are fully built, so freeing midway never touches garbage.
 *
 * Fields are visited in descriptor order (field number), which makes the
 * reported error deterministic and the encoded key order the same as
 * Mesos's (reflection lists fields by number).
 */
#include "pbjson.h"

#include <errno.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "mem.h"

/* Schema nesting is finite (no recursive messages in proto/), but a
 * descriptor may be recursive one day (ContainerID.parent is): bound it so
 * hostile input cannot blow the stack. */
#define PBJSON_MAX_DEPTH 64
/* Values quoted in error messages are cut to this many bytes. */
#define PBJSON_ERR_QUOTE 64

/* ------------------------------------------------------------------ */
/* base64                                                              */
/* ------------------------------------------------------------------ */

/* EVP_EncodeBlock/DecodeBlock take an int length: work in chunks that are
 * whole base64 quanta (3 bytes in, 4 chars out). */
#define B64_CHUNK_IN (3u * 256u * 1024u * 1024u)
#define B64_CHUNK_OUT (4u * 256u * 1024u * 1024u)

char *pbjson_base64_encode(const void *data, size_t len)
{
    const unsigned char *in = data;
    size_t outlen = (len / 3 + (len % 3 != 0)) * 4;
    char *out = xmalloc(outlen + 1);
    size_t o = 0;

    while (len > 0) {
        size_t n = len < B64_CHUNK_IN ? len : B64_CHUNK_IN;
        int w = EVP_EncodeBlock((unsigned char *)out + o, in, (int)n);
        o += (size_t)w;
        in += n;
        len -= n;
    }
    out[o] = '\0';
    return out;
}

static int b64_is_alpha(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
           c == '/';
}

/* EVP_DecodeBlock alone is too lenient ("Q===", "QQ=A", surrounding
 * whitespace all pass) and counts padding as output bytes, so the text is
 * checked here first: standard alphabet, length a multiple of 4, and at
 * most two '=' only at the very end. */
void *pbjson_base64_decode(const char *text, size_t *out_len)
{
    size_t len = strlen(text);
    size_t pad = 0;
    unsigned char *out;
    size_t o = 0;

    if (len % 4 != 0)
        return NULL;
    if (len > 0 && text[len - 1] == '=')
        pad++;
    if (len > 1 && text[len - 2] == '=')
        pad++;
    for (size_t i = 0; i < len - pad; i++) {
        if (!b64_is_alpha((unsigned char)text[i]))
            return NULL;
    }
    out = xmalloc(len / 4 * 3 + 1);
    for (size_t i = 0; i < len;) {
        size_t n = len - i < B64_CHUNK_OUT ? len - i : B64_CHUNK_OUT;
        int w = EVP_DecodeBlock(out + o, (const unsigned char *)text + i, (int)n);
        if (w < 0) {
            free(out);
            return NULL;
        }
        o += (size_t)w;
        i += n;
    }
    o -= pad; /* DecodeBlock emits zero bytes for the padding */
    if (out_len)
        *out_len = o;
    return out;
}

/* ------------------------------------------------------------------ */
/* field access helpers                                                */
/* ------------------------------------------------------------------ */

#define FIELD_PTR(msg, off) ((void *)((char *)(msg) + (off)))
#define FIELD_CPTR(msg, off) ((const void *)((const char *)(msg) + (off)))

static size_t pb_type_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return 8;
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_STRING:
        return sizeof(char *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(ProtobufCMessage *);
    }
    return 0;
}

static int field_is_oneof(const ProtobufCFieldDescriptor *f)
{
    return (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) != 0;
}

/* ------------------------------------------------------------------ */
/* encoding                                                            */
/* ------------------------------------------------------------------ */

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs,
 * no surrogates, nothing above U+10FFFF), or 0. s is NUL-terminated and
 * NUL is no continuation byte, so reading ahead stops in time. */
static size_t utf8_seq_len(const unsigned char *s)
{
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF;
    size_t n;

    if (c < 0x80)
        return 1;
    if (c >= 0xC2 && c <= 0xDF)
        n = 2;
    else if (c >= 0xE0 && c <= 0xEF)
        n = 3;
    else if (c >= 0xF0 && c <= 0xF4)
        n = 4;
    else
        return 0;
    if (c == 0xE0)
        lo = 0xA0;
    else if (c == 0xED)
        hi = 0x9F;
    else if (c == 0xF0)
        lo = 0x90;
    else if (c == 0xF4)
        hi = 0x8F;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t k = 2; k < n; k++) {
        if ((s[k] & 0xC0) != 0x80)
            return 0;
    }
    return n;
}

/* Error texts become JSON error bodies, which must be UTF-8: replace each
 * byte that is not part of a well-formed sequence with '?', in place.
 * (jansson's syntax errors quote the raw input "near '...'".) */
static void utf8_scrub(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (*p) {
        size_t n = utf8_seq_len(p);
        if (n == 0) {
            *p = '?';
            n = 1;
        }
        p += n;
    }
}

/* jansson refuses invalid UTF-8; a message built in code (or a bytes field
 * someone declared as string) may hold any bytes. Never fail the encode for
 * that: replace each byte of an invalid sequence with U+FFFD. */
static json_t *enc_string(const char *s)
{
    json_t *j = json_string(s);
    size_t len, o = 0;
    char *buf;

    if (j != NULL)
        return j;
    len = strlen(s);
    buf = xmalloc(len * 3 + 1);
    for (size_t i = 0; i < len;) {
        size_t n = utf8_seq_len((const unsigned char *)s + i);
        if (n > 0) {
            memcpy(buf + o, s + i, n);
            o += n;
            i += n;
        } else {
            memcpy(buf + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    j = json_stringn(buf, o);
    free(buf);
    return j ? j : json_string("");
}

/* NaN and infinities are not JSON numbers: use the proto3 JSON spelling. */
static json_t *enc_double(double d)
{
    if (isnan(d))
        return json_string("NaN");
    if (isinf(d))
        return json_string(d > 0 ? "Infinity" : "-Infinity");
    return json_real(d);
}

/* A float widened to double prints as 0.10000000149011612; store instead
 * the double of the float's shortest decimal form, which converts back to
 * the very same float. */
static json_t *enc_float(float f)
{
    char buf[32];

    if (!isfinite(f))
        return enc_double((double)f);
    for (int p = 1; p <= 9; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, (double)f);
        /* Both checks: decimal -> double -> float may round twice. */
        if (strtof(buf, NULL) == f && (float)strtod(buf, NULL) == f)
            return json_real(strtod(buf, NULL));
    }
    return json_real((double)f);
}

static json_t *enc_message(const ProtobufCMessage *msg);

static json_t *enc_value(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64: {
        uint64_t v = *(const uint64_t *)p;
        char buf[24];
        if (v <= (uint64_t)INT64_MAX)
            return json_integer((json_int_t)v);
        /* jansson integers are signed 64-bit; the decoder takes strings. */
        snprintf(buf, sizeof(buf), "%" PRIu64, v);
        return json_string(buf);
    }
    case PROTOBUF_C_TYPE_FLOAT:
        return enc_float(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return enc_double(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM: {
        int32_t v = *(const int32_t *)p;
        const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value(f->descriptor, v);
        /* A number this build does not know (newer peer): keep it. */
        return ev ? json_string(ev->name) : json_integer(v);
    }
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return enc_string(s ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES: {
        const ProtobufCBinaryData *b = p;
        char *t = pbjson_base64_encode(b->data ? b->data : (const uint8_t *)"", b->len);
        json_t *j = json_string(t);
        free(t);
        return j;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        const ProtobufCMessage *m = *(ProtobufCMessage *const *)p;
        /* A NULL required sub-message packs as an empty one; mirror that. */
        return m ? enc_message(m) : json_object();
    }
    }
    return json_null();
}

/* Mirrors protobuf-c's rule for proto3 fields without presence. */
static int enc_is_zeroish(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return s == NULL || *s == '\0';
    }
    case PROTOBUF_C_TYPE_BYTES:
        return ((const ProtobufCBinaryData *)p)->len == 0;
    case PROTOBUF_C_TYPE_MESSAGE:
        return *(ProtobufCMessage *const *)p == NULL;
    case PROTOBUF_C_TYPE_FLOAT:
        return *(const float *)p == 0;
    case PROTOBUF_C_TYPE_DOUBLE:
        return *(const double *)p == 0;
    default: {
        size_t sz = pb_type_size(f->type);
        static const char zero[8];
        return memcmp(p, zero, sz) == 0;
    }
    }
}

/* Does the message carry a value for f (singular fields only)? */
static int enc_is_present(const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f)
{
    const void *p = FIELD_CPTR(msg, f->offset);

    if (field_is_oneof(f))
        return *(const uint32_t *)FIELD_CPTR(msg, f->quantifier_offset) == f->id;
    switch (f->label) {
    case PROTOBUF_C_LABEL_REQUIRED:
        return 1;
    case PROTOBUF_C_LABEL_OPTIONAL:
        if (f->type == PROTOBUF_C_TYPE_STRING || f->type == PROTOBUF_C_TYPE_MESSAGE) {
            /* As protobuf-c's packer: the shared default pointer means
             * "never set". */
            const void *ptr = *(const void *const *)p;
            return ptr != NULL && ptr != f->default_value;
        }
        return *(const protobuf_c_boolean *)FIELD_CPTR(msg, f->quantifier_offset) != 0;
    case PROTOBUF_C_LABEL_NONE:
        return !enc_is_zeroish(f, p);
    default:
        return 0;
    }
}

static json_t *enc_message(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d = msg->descriptor;
    json_t *obj = json_object();

    for (unsigned i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        json_t *v;

        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            size_t n = *(const size_t *)FIELD_CPTR(msg, f->quantifier_offset);
            const char *arr = *(char *const *)FIELD_CPTR(msg, f->offset);
            size_t sz = pb_type_size(f->type);
            if (n == 0 || arr == NULL)
                continue;
            v = json_array();
            for (size_t k = 0; k < n; k++)
                json_array_append_new(v, enc_value(f, arr + k * sz));
        } else {
            if (!enc_is_present(msg, f))
                continue;
            v = enc_value(f, FIELD_CPTR(msg, f->offset));
        }
        json_object_set_new(obj, f->name, v);
    }
    return obj;
}

json_t *pbjson_encode(const ProtobufCMessage *msg)
{
    return enc_message(msg);
}

/* Smallest %.Ng precision that reads back as exactly d and, for numbers
 * from 1 to 1e17, shows all integer digits (604800.0, not 6.048e5). */
static int real_min_precision(double d)
{
    char buf[40];
    int whole = fabs(d) >= 1 && fabs(d) < 1e17;

    for (int p = 1; p < 17; p++) {
        snprintf(buf, sizeof(buf), "%.*g", p, d);
        if (strtod(buf, NULL) == d && !(whole && strchr(buf, 'e')))
            return p;
    }
    return 17;
}

static void real_scan(const json_t *j, int *prec)
{
    size_t i;
    const char *k;
    json_t *v;

    switch (json_typeof(j)) {
    case JSON_REAL: {
        int p = real_min_precision(json_real_value(j));
        if (p > *prec)
            *prec = p;
        break;
    }
    case JSON_ARRAY:
        json_array_foreach(j, i, v) real_scan(v, prec);
        break;
    case JSON_OBJECT:
        json_object_foreach((json_t *)j, k, v) real_scan(v, prec);
        break;
    default:
        break;
    }
}

static int real_check(const json_t *j, int prec)
{
    size_t i;
    const char *k;
    json_t *v;
    char buf[40];

    switch (json_typeof(j)) {
    case JSON_REAL:
        snprintf(buf, sizeof(buf), "%.*g", prec, json_real_value(j));
        return strtod(buf, NULL) == json_real_value(j);
    case JSON_ARRAY:
        json_array_foreach(j, i, v) if (!real_check(v, prec)) return 0;
        return 1;
    case JSON_OBJECT:
        json_object_foreach((json_t *)j, k, v) if (!real_check(v, prec)) return 0;
        return 1;
    default:
        return 1;
    }
}

char *pbjson_encode_string(const ProtobufCMessage *msg, size_t *len)
{
    json_t *j = pbjson_encode(msg);
    int prec = 1;
    char *s;

    /* jansson prints every real with one precision (17 by default, which
     * turns 0.1 into 0.10000000000000001). Use the smallest precision that
     * still reads back every real of this document exactly, as Mesos prints
     * "cpus":0.1. */
    real_scan(j, &prec);
    if (prec < 17 && !real_check(j, prec))
        prec = 17;
    s = json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(prec));
    json_decref(j);
    if (s == NULL)
        abort(); /* only on out-of-memory: encode never yields bad JSON */
    if (len)
        *len = strlen(s);
    return s;
}

/* ------------------------------------------------------------------ */
/* decoding                                                            */
/* ------------------------------------------------------------------ */

struct dec {
    char *path; /* "subscribe.framework_info.name", "a[3].b" */
    size_t len; /* used bytes of path (without NUL) */
    size_t cap;
    const char *top; /* top-level message name, used when path is empty */
    char **err;
    int failed;
};

static void path_append(struct dec *d, const char *s, size_t n)
{
    if (d->len + n + 1 > d->cap) {
        d->cap = (d->len + n + 1) * 2;
        d->path = xrealloc(d->path, d->cap);
    }
    memcpy(d->path + d->len, s, n);
    d->len += n;
    d->path[d->len] = '\0';
}

static size_t path_push_field(struct dec *d, const char *name)
{
    size_t old = d->len;
    if (d->len > 0)
        path_append(d, ".", 1);
    path_append(d, name, strlen(name));
    return old;
}

static size_t path_push_index(struct dec *d, size_t i)
{
    size_t old = d->len;
    char buf[32];
    int n = snprintf(buf, sizeof(buf), "[%zu]", i);
    path_append(d, buf, (size_t)n);
    return old;
}

static void path_pop(struct dec *d, size_t old)
{
    d->len = old;
    if (d->path)
        d->path[old] = '\0';
}

__attribute__((format(printf, 2, 3))) static void dec_fail(struct dec *d, const char *fmt, ...)
{
    va_list ap;
    int n;
    char *msg;

    if (d->failed)
        return; /* keep the first, innermost problem */
    d->failed = 1;
    if (d->err == NULL)
        return;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    msg = xmalloc((size_t)n + 1);
    va_start(ap, fmt);
    vsnprintf(msg, (size_t)n + 1, fmt, ap);
    va_end(ap);
    *d->err = xasprintf("%s: %s", d->len > 0 ? d->path : d->top, msg);
    free(msg);
}

static const char *json_type_name(const json_t *j)
{
    if (j == NULL)
        return "nothing";
    switch (json_typeof(j)) {
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_STRING:
        return "string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "boolean";
    case JSON_NULL:
        return "null";
    }
    return "?";
}

/* A user value for an error message: cut (on a UTF-8 character boundary,
 * since the message may become a JSON error body) and with control bytes
 * replaced, so the message stays one readable line. */
static void quote_value(char *out, size_t outsz, const char *s, size_t len)
{
    size_t max = outsz - 4;
    size_t n = len;
    size_t o = 0;

    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c < 0x20 || c == 0x7f) ? '?' : (char)c;
    }
    if (n < len) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

static void fail_type(struct dec *d, const char *expected, const json_t *j)
{
    dec_fail(d, "expected %s, got %s", expected, json_type_name(j));
}

static const char *pb_type_name(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32:
        return "int32";
    case PROTOBUF_C_TYPE_SINT32:
        return "sint32";
    case PROTOBUF_C_TYPE_SFIXED32:
        return "sfixed32";
    case PROTOBUF_C_TYPE_UINT32:
        return "uint32";
    case PROTOBUF_C_TYPE_FIXED32:
        return "fixed32";
    case PROTOBUF_C_TYPE_INT64:
        return "int64";
    case PROTOBUF_C_TYPE_SINT64:
        return "sint64";
    case PROTOBUF_C_TYPE_SFIXED64:
        return "sfixed64";
    case PROTOBUF_C_TYPE_UINT64:
        return "uint64";
    case PROTOBUF_C_TYPE_FIXED64:
        return "fixed64";
    default:
        return "integer";
    }
}

static int pb_type_signed(ProtobufCType t)
{
    return t == PROTOBUF_C_TYPE_INT32 || t == PROTOBUF_C_TYPE_SINT32 ||
           t == PROTOBUF_C_TYPE_SFIXED32 || t == PROTOBUF_C_TYPE_INT64 ||
           t == PROTOBUF_C_TYPE_SINT64 || t == PROTOBUF_C_TYPE_SFIXED64;
}

/* Read any JSON integer form into either a signed or unsigned 64-bit
 * value: integers, reals with no fraction (1.0, 1e3), and strings of
 * digits (how int64 travels when a client fears double rounding). */
static int dec_int64(struct dec *d, const ProtobufCFieldDescriptor *f, const json_t *j, int64_t *sv,
                     uint64_t *uv, int *neg)
{
    int sgn = pb_type_signed(f->type);
    char q[PBJSON_ERR_QUOTE + 4];

    *neg = 0;
    if (json_is_integer(j)) {
        json_int_t v = json_integer_value(j);
        *neg = v < 0;
        *sv = (int64_t)v;
        *uv = (uint64_t)v;
        return 0;
    }
    if (json_is_real(j)) {
        double v = json_real_value(j);
        if (!isfinite(v) || v != floor(v)) {
            dec_fail(d, "expected an integer, got %.17g", v);
            return -1;
        }
        /* Exact bounds: 2^63 and 2^64 are representable doubles. */
        if (v < -9223372036854775808.0 || v >= 18446744073709551616.0 ||
            (sgn && v >= 9223372036854775808.0)) {
            dec_fail(d, "value %.17g out of range for %s", v, pb_type_name(f->type));
            return -1;
        }
        *neg = v < 0;
        if (*neg || v < 9223372036854775808.0) {
            *sv = (int64_t)v;
            *uv = (uint64_t)*sv;
        } else {
            *uv = (uint64_t)v;
            *sv = INT64_MAX; /* unused: only unsigned types get here */
        }
        return 0;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        size_t len = json_string_length(j);
        size_t i = 0;
        int overflow = 0;
        uint64_t mag = 0;

        if (len > 0 && s[0] == '-') {
            *neg = 1;
            i = 1;
        }
        if (i == len)
            goto bad;
        for (; i < len; i++) {
            unsigned dgt;
            if (s[i] < '0' || s[i] > '9')
                goto bad;
            dgt = (unsigned)(s[i] - '0');
            if (mag > (UINT64_MAX - dgt) / 10)
                overflow = 1;
            else
                mag = mag * 10 + dgt;
        }
        if (overflow || (*neg && mag > (uint64_t)INT64_MAX + 1)) {
            quote_value(q, sizeof(q), s, len);
            dec_fail(d, "value '%s' out of range for %s", q, pb_type_name(f->type));
            return -1;
        }
        *uv = *neg ? (uint64_t)0 - mag : mag;
        *sv = (int64_t)*uv;
        return 0;
    bad:
        quote_value(q, sizeof(q), s, len);
        dec_fail(d, "expected an integer, got '%s'", q);
        return -1;
    }
    fail_type(d, "an integer", j);
    return -1;
}

static int dec_integer(struct dec *d, const ProtobufCFieldDescriptor *f, const json_t *j, void *out)
{
    int64_t sv;
    uint64_t uv;
    int neg;
    int64_t lo;
    uint64_t hi;

    if (dec_int64(d, f, j, &sv, &uv, &neg) < 0)
        return -1;
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        lo = INT32_MIN;
        hi = INT32_MAX;
        break;
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        lo = 0;
        hi = UINT32_MAX;
        break;
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        lo = 0;
        hi = UINT64_MAX;
        break;
    default:
        lo = INT64_MIN;
        hi = INT64_MAX;
        break;
    }
    if ((neg && sv < lo) || (!neg && uv > hi)) {
        if (neg)
            dec_fail(d, "value %" PRId64 " out of range for %s", sv, pb_type_name(f->type));
        else
            dec_fail(d, "value %" PRIu64 " out of range for %s", uv, pb_type_name(f->type));
        return -1;
    }
    switch (pb_type_size(f->type)) {
    case 4:
        if (pb_type_signed(f->type))
            *(int32_t *)out = (int32_t)sv;
        else
            *(uint32_t *)out = (uint32_t)uv;
        break;
    default:
        if (pb_type_signed(f->type))
            *(int64_t *)out = sv;
        else
            *(uint64_t *)out = uv;
        break;
    }
    return 0;
}

static int dec_double(struct dec *d, const json_t *j, double *out)
{
    if (json_is_number(j)) {
        *out = json_number_value(j);
        return 0;
    }
    if (json_is_string(j)) {
        const char *s = json_string_value(j);
        if (strcmp(s, "NaN") == 0) {
            *out = NAN;
            return 0;
        }
        if (strcmp(s, "Infinity") == 0) {
            *out = INFINITY;
            return 0;
        }
        if (strcmp(s, "-Infinity") == 0) {
            *out = -INFINITY;
            return 0;
        }
    }
    fail_type(d, "a number", j);
    return -1;
}

static ProtobufCMessage *dec_message(struct dec *d, const ProtobufCMessageDescriptor *desc,
                                     const json_t *j, int depth);

/* Decode one value of field f into *out (element storage of f's type).
 * On success out owns what it points to; on failure nothing was stored. */
static int dec_value(struct dec *d, const ProtobufCFieldDescriptor *f, const json_t *j, void *out,
                     int depth)
{
    char q[PBJSON_ERR_QUOTE + 4];

    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return dec_integer(d, f, j, out);
    case PROTOBUF_C_TYPE_DOUBLE:
        return dec_double(d, j, out);
    case PROTOBUF_C_TYPE_FLOAT: {
        double v;
        if (dec_double(d, j, &v) < 0)
            return -1;
        if (isfinite(v) && !isfinite((float)v)) {
            dec_fail(d, "value %.17g out of range for float", v);
            return -1;
        }
        *(float *)out = (float)v;
        return 0;
    }
    case PROTOBUF_C_TYPE_BOOL:
        if (!json_is_boolean(j)) {
            fail_type(d, "a boolean", j);
            return -1;
        }
        *(protobuf_c_boolean *)out = json_is_true(j);
        return 0;
    case PROTOBUF_C_TYPE_ENUM: {
        const ProtobufCEnumDescriptor *ed = f->descriptor;
        const ProtobufCEnumValue *ev;
        if (json_is_string(j)) {
            ev = protobuf_c_enum_descriptor_get_value_by_name(ed, json_string_value(j));
            if (ev == NULL) {
                quote_value(q, sizeof(q), json_string_value(j), json_string_length(j));
                dec_fail(d, "unknown enum value '%s' for %s", q, ed->name);
                return -1;
            }
        } else if (json_is_integer(j)) {
            json_int_t v = json_integer_value(j);
            ev = (v >= INT32_MIN && v <= INT32_MAX)
                     ? protobuf_c_enum_descriptor_get_value(ed, (int)v)
                     : NULL;
            if (ev == NULL) {
                dec_fail(d, "unknown enum value %" JSON_INTEGER_FORMAT " for %s", v, ed->name);
                return -1;
            }
        } else {
            fail_type(d, "an enum name", j);
            return -1;
        }
        *(int32_t *)out = ev->value;
        return 0;
    }
    case PROTOBUF_C_TYPE_STRING:
        if (!json_is_string(j)) {
            fail_type(d, "a string", j);
            return -1;
        }
        /* C strings end at NUL; silently cutting would change the value. */
        if (strlen(json_string_value(j)) != json_string_length(j)) {
            dec_fail(d, "string contains a NUL character");
            return -1;
        }
        *(char **)out = xstrdup(json_string_value(j));
        return 0;
    case PROTOBUF_C_TYPE_BYTES: {
        ProtobufCBinaryData *b = out;
        size_t n = 0;
        void *data;
        if (!json_is_string(j)) {
            fail_type(d, "a base64 string", j);
            return -1;
        }
        data = strlen(json_string_value(j)) == json_string_length(j)
                   ? pbjson_base64_decode(json_string_value(j), &n)
                   : NULL;
        if (data == NULL) {
            quote_value(q, sizeof(q), json_string_value(j), json_string_length(j));
            dec_fail(d, "bad base64 '%s'", q);
            return -1;
        }
        if (n == 0) {
            free(data);
            data = NULL;
        }
        b->data = data;
        b->len = n;
        return 0;
    }
    case PROTOBUF_C_TYPE_MESSAGE: {
        ProtobufCMessage *m = dec_message(d, f->descriptor, j, depth + 1);
        if (m == NULL)
            return -1;
        *(ProtobufCMessage **)out = m;
        return 0;
    }
    }
    dec_fail(d, "unsupported field type %d", (int)f->type);
    return -1;
}

static int dec_repeated(struct dec *d, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                        const json_t *j, int depth)
{
    size_t *count = FIELD_PTR(msg, f->quantifier_offset);
    void **arr = FIELD_PTR(msg, f->offset);
    size_t sz = pb_type_size(f->type);
    size_t n;

    if (json_is_null(j))
        return 0; /* Mesos clients send null for "no elements" */
    if (!json_is_array(j)) {
        fail_type(d, "an array", j);
        return -1;
    }
    n = json_array_size(j);
    if (n == 0)
        return 0;
    *arr = xcalloc(n, sz);
    *count = 0;
    for (size_t i = 0; i < n; i++) {
        size_t old = path_push_index(d, i);
        int rc = dec_value(d, f, json_array_get(j, i), (char *)*arr + i * sz, depth);
        path_pop(d, old);
        if (rc < 0)
            return -1;
        *count = i + 1; /* only built elements are visible to free */
    }
    return 0;
}

static int dec_field(struct dec *d, ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f,
                     const json_t *j, int depth)
{
    void *p = FIELD_PTR(msg, f->offset);

    if (f->label == PROTOBUF_C_LABEL_REPEATED)
        return dec_repeated(d, msg, f, j, depth);

    if (field_is_oneof(f)) {
        uint32_t *cas = FIELD_PTR(msg, f->quantifier_offset);
        if (*cas != 0) {
            const ProtobufCFieldDescriptor *other =
                protobuf_c_message_descriptor_get_field(msg->descriptor, *cas);
            dec_fail(d, "conflicts with '%s' (only one field of a oneof may be set)",
                     other ? other->name : "?");
            return -1;
        }
        if (dec_value(d, f, j, p, depth) < 0)
            return -1;
        *cas = f->id;
        return 0;
    }

    if (dec_value(d, f, j, p, depth) < 0)
        return -1;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->type != PROTOBUF_C_TYPE_STRING &&
        f->type != PROTOBUF_C_TYPE_MESSAGE)
        *(protobuf_c_boolean *)FIELD_PTR(msg, f->quantifier_offset) = 1;
    return 0;
}

static ProtobufCMessage *dec_message(struct dec *d, const ProtobufCMessageDescriptor *desc,
                                     const json_t *j, int depth)
{
    ProtobufCMessage *msg;

    if (!json_is_object(j)) {
        fail_type(d, "an object", j);
        return NULL;
    }
    if (depth > PBJSON_MAX_DEPTH) {
        dec_fail(d, "nested deeper than %d messages", PBJSON_MAX_DEPTH);
        return NULL;
    }
    msg = xmalloc(desc->sizeof_message);
    desc->message_init(msg);

    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields[i];
        json_t *v = json_object_get(j, f->name);
        size_t old;
        int rc;

        if (v == NULL || json_is_null(v)) {
            if (f->label == PROTOBUF_C_LABEL_REQUIRED) {
                dec_fail(d, "missing required field '%s'", f->name);
                goto fail;
            }
            continue;
        }
        old = path_push_field(d, f->name);
        rc = dec_field(d, msg, f, v, depth);
        path_pop(d, old);
        if (rc < 0)
            goto fail;
    }
    return msg;

fail:
    protobuf_c_message_free_unpacked(msg, NULL);
    return NULL;
}

ProtobufCMessage *pbjson_decode(const ProtobufCMessageDescriptor *desc, const json_t *json,
                                char **err)
{
    struct dec d = { .top = desc->name, .err = err };
    ProtobufCMessage *msg;

    if (err)
        *err = NULL;
    msg = dec_message(&d, desc, json, 0);
    free(d.path);
    return msg;
}

ProtobufCMessage *pbjson_decode_string(const ProtobufCMessageDescriptor *desc, const char *text,
                                       size_t len, char **err)
{
    json_error_t jerr;
    json_t *j;
    ProtobufCMessage *msg;

    if (err)
        *err = NULL;
    /* DECODE_ANY so that "3" or "\"x\"" get the same "expected an object"
     * message as from pbjson_decode, not a parser complaint. */
    j = json_loadb(text, len, JSON_DECODE_ANY, &jerr);
    if (j == NULL) {
        if (err) {
            *err = xasprintf("invalid JSON at line %d, column %d: %s", jerr.line, jerr.column,
                             jerr.text);
            utf8_scrub(*err);
        }
        return NULL;
    }
    msg = pbjson_decode(desc, j, err);
    json_decref(j);
    return msg;
}
