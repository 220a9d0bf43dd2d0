/*
 * ids: random UUIDs (libuuid) and Agora's id strings.
 */
#ifndef AGORA_IDS_H
#define AGORA_IDS_H

#include <stdint.h>

#define ID_UUID_STRLEN 37 /* 36 chars + NUL */

void id_uuid_bytes(uint8_t out[16]);
void id_uuid_string(char out[ID_UUID_STRLEN]);
/* Format 16 uuid bytes as text; out holds ID_UUID_STRLEN. */
void id_uuid_format(const uint8_t in[16], char out[ID_UUID_STRLEN]);

#endif
