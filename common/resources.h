/*
 * resources: Mesos resources — parsing, formatting, arithmetic, and
 * conversion to and from mesos.v1.Resource.
 *
 * A struct resources is a flat list of named entries, each a scalar
 * ("cpus:4"), ranges ("ports:[31000-32000]") or a set
 * ("disks:{a,b}"), optionally with a role ("cpus(web):2"; "*" when none).
 * Entries are kept merged: at most one entry per (name, role, type), ranges
 * sorted and coalesced, set items sorted and unique. Scalars are compared
 * and summed in fixed point with three decimals, as Mesos does, so that
 * 0.1 + 0.2 - 0.3 == 0 exactly.
 *
 * Text syntax (Mesos --resources): "cpus:4;mem:8192;ports:[31000-32000,33000-33010]"
 * and the JSON array form of Mesos (list of Resource objects) via res_from_json.
 */
#ifndef AGORA_RESOURCES_H
#define AGORA_RESOURCES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>
#include "mesos.pb-c.h"

enum res_type { RES_SCALAR, RES_RANGES, RES_SET };

struct res_range {
    uint64_t begin; /* inclusive */
    uint64_t end;   /* inclusive */
};

struct resource {
    char *name;
    char *role; /* "*" for unreserved */
    enum res_type type;
    int64_t milli;            /* RES_SCALAR: value * 1000, rounded */
    struct res_range *ranges; /* RES_RANGES */
    size_t nranges;
    char **items; /* RES_SET */
    size_t nitems;
};

struct resources {
    struct resource *v;
    size_t n;
};

void res_init(struct resources *r);
void res_cleanup(struct resources *r); /* frees contents, leaves empty */
void res_copy(struct resources *dst, const struct resources *src); /* dst must be clean */
bool res_empty(const struct resources *r); /* no entry with a positive amount */

/* Parse Mesos text syntax. default_role applies to entries without "(role)"
 * (NULL = "*"). 0 ok, -1 with *err naming the bad entry. r must be clean. */
int res_parse(const char *text, const char *default_role, struct resources *r, char **err);
/* "cpus:4;mem:8192;ports:[31000-32000]" (caller frees). Role is shown as
 * "name(role)" when it is not "*". */
char *res_format(const struct resources *r);
/* The JSON array form: a list of Mesos Resource objects (res_parse also
 * takes it as text starting with '['). 0 ok, -1 with *err naming the
 * element, e.g. "resources[1].scalar.value: expected a number, got string".
 * r must be clean. */
int res_from_json(const json_t *json, struct resources *r, char **err);

/* a += b. */
void res_add(struct resources *a, const struct resources *b);
/* a -= b; entries that reach zero are dropped. -1 (a unchanged) if b is
 * not contained in a. */
int res_subtract(struct resources *a, const struct resources *b);
/* true when every amount of b is available in a. */
bool res_contains(const struct resources *a, const struct resources *b);
bool res_equal(const struct resources *a, const struct resources *b);

/* Sum of scalar `name` over all roles, as a double (0 when absent). */
double res_scalar(const struct resources *r, const char *name);
/* Add a scalar amount (may be used to build resources in code). */
void res_add_scalar(struct resources *r, const char *name, const char *role, double value);
void res_add_range(struct resources *r, const char *name, const char *role, uint64_t begin,
                   uint64_t end);
/* All port numbers of ranges resource `name` ("ports"), ascending, up to max.
 * Returns how many were written. */
size_t res_range_values(const struct resources *r, const char *name, uint64_t *out, size_t max);

/* From protobuf. Accepts the pre-refinement form (role field, "*" default)
 * and `reservations` (last one's role). 0 ok, -1 with *err naming the
 * index and field, e.g. "resources[2].scalar: missing for SCALAR". */
int res_from_pb(Mesos__V1__Resource *const *pb, size_t n, struct resources *r, char **err);
/* To protobuf: a newly allocated array of n newly allocated Resource
 * messages (type, name, role, and value set). Free with res_pb_free. */
Mesos__V1__Resource **res_to_pb(const struct resources *r, size_t *n);
void res_pb_free(Mesos__V1__Resource **pb, size_t n);
/* JSON array of Mesos Resource objects (new reference). */
json_t *res_to_json_array(const struct resources *r);
/* Mesos /state style summary object {"cpus": 4.0, "mem": 8192.0,
 * "disk": 0.0, "ports": "[31000-32000]"} (new reference). */
json_t *res_to_json_summary(const struct resources *r);

#endif
