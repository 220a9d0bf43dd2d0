/*
 * attributes: slave attributes as JSON, in the one format of Mesos's
 * /state endpoints (master and slave alike): {"name": value} where a
 * scalar is a number, a text a string, ranges "[31000-32000, 33000-34000]"
 * and a set "{a, b}" (Mesos's stringify of Value::Ranges and Value::Set).
 */
#ifndef AGORA_ATTRIBUTES_H
#define AGORA_ATTRIBUTES_H

#include <stddef.h>

#include <jansson.h>

#include "mesos.pb-c.h"

/* A new JSON object (caller owns) for n attributes; NULL attrs is empty. */
json_t *attributes_to_json(Mesos__V1__Attribute *const *attrs, size_t n);
/* One attribute's value as JSON (caller owns); null for unknown types. */
json_t *attribute_value_json(const Mesos__V1__Attribute *a);

#endif
