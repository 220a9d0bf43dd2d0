/*
 * pbjson: protobuf <-> JSON, driven by protobuf-c descriptors, following
 * the mapping Mesos uses for its v1 HTTP APIs:
 *   - keys are the proto field names ("framework_id", not camelCase);
 *   - enums are their value names ("TASK_RUNNING"); decoding also accepts
 *     the number;
 *   - bytes are base64 (standard alphabet, padded);
 *   - 64-bit integers are JSON numbers (decoding also accepts strings of
 *     digits); doubles/floats are numbers;
 *   - repeated fields are arrays; a JSON null stands for an absent field or
 *     an empty array; unknown keys are ignored (forward compatibility).
 * Decoding checks types and required fields and reports the first problem
 * with the field path, e.g. "subscribe.framework_info.user: expected a
 * string, got number".
 */
#ifndef AGORA_PBJSON_H
#define AGORA_PBJSON_H

#include <stddef.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* New reference; never NULL. Unset optional fields are omitted; fields
 * with a proto2 default that were never set are omitted too. */
json_t *pbjson_encode(const ProtobufCMessage *msg);
/* Compact JSON text (caller frees); *len (if non-NULL) gets its length. */
char *pbjson_encode_string(const ProtobufCMessage *msg, size_t *len);

/* Build a message of type desc from JSON. Free the result with
 * protobuf_c_message_free_unpacked(msg, NULL). NULL with *err on bad
 * input (caller frees *err). */
ProtobufCMessage *pbjson_decode(const ProtobufCMessageDescriptor *desc, const json_t *json,
                                char **err);
/* Same from text; JSON syntax errors are reported with line and column. */
ProtobufCMessage *pbjson_decode_string(const ProtobufCMessageDescriptor *desc, const char *text,
                                       size_t len, char **err);

/* Standard base64 helpers (OpenSSL), caller frees. decode: NULL on bad input. */
char *pbjson_base64_encode(const void *data, size_t len);
void *pbjson_base64_decode(const char *text, size_t *out_len);

#endif
