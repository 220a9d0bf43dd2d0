/*
 * pbutil: protobuf-c helpers shared by every component — deep copy, free
 * and packing, all through agora_pb_allocator (mem.h).
 */
#ifndef AGORA_PBUTIL_H
#define AGORA_PBUTIL_H

#include <stddef.h>
#include <stdint.h>

#include <protobuf-c/protobuf-c.h>

/* Deep copy of msg (through its wire form); free with pb_free. Aborts if
 * msg cannot be copied (a required field missing: a bug in the caller). */
void *pb_dup(const ProtobufCMessage *msg);

/* Free a message that pb_dup or an unpack with agora_pb_allocator made.
 * NULL is fine. */
void pb_free(void *msg);

/* msg packed into a new buffer (never NULL, even for an empty message);
 * *len gets its length. The caller frees it. */
uint8_t *pb_pack(const ProtobufCMessage *msg, size_t *len);

#endif
