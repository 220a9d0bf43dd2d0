/*
 * ids: random UUIDs from libuuid, and their text form.
 *
 * Agora's ids (framework, slave, offer, stream, status update uuid) are
 * random (version 4) UUIDs, as in Mesos; libuuid reads /dev/urandom or
 * getrandom(), which never blocks the loop once the pool is initialised.
 */
#include "ids.h"

#include <string.h>
#include <uuid/uuid.h>

void id_uuid_bytes(uint8_t out[16])
{
    uuid_t u;

    uuid_generate_random(u);
    memcpy(out, u, 16);
}

void id_uuid_format(const uint8_t in[16], char out[ID_UUID_STRLEN])
{
    uuid_t u;

    memcpy(u, in, 16);
    uuid_unparse_lower(u, out);
}

void id_uuid_string(char out[ID_UUID_STRLEN])
{
    uint8_t b[16];

    id_uuid_bytes(b);
    id_uuid_format(b, out);
}
