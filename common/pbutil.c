/*
 * pbutil: pb_dup / pb_free / pb_pack (see pbutil.h).
 */
#include "pbutil.h"

#include <stdlib.h>

#include "log.h"
#include "mem.h"

uint8_t *pb_pack(const ProtobufCMessage *msg, size_t *len)
{
    size_t n = protobuf_c_message_get_packed_size(msg);
    uint8_t *buf = xmalloc(n); /* xmalloc(0) gives one byte, never NULL */

    protobuf_c_message_pack(msg, buf);
    *len = n;
    return buf;
}

void *pb_dup(const ProtobufCMessage *msg)
{
    size_t len;
    uint8_t *buf = pb_pack(msg, &len);
    ProtobufCMessage *copy =
        protobuf_c_message_unpack(msg->descriptor, &agora_pb_allocator, len, buf);

    free(buf);
    if (copy == NULL) {
        log_error("pb_dup: cannot copy a %s", msg->descriptor->name);
        abort();
    }
    return copy;
}

void pb_free(void *msg)
{
    if (msg != NULL)
        protobuf_c_message_free_unpacked(msg, &agora_pb_allocator);
}
