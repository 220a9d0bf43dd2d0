/*
 * placement: does one instance of an app fit in what is left of an offer,
 * and with which host ports? A pure decision over the typed app
 * (app.h), the offer's remaining resources and where the app's other
 * instances run; offers.c drives it for every offer and instance waiting.
 *
 * Reasons are Marathon's NoOfferMatchReason names, so /v2/queue's
 * processedOffersSummary reads as Marathon's: "UnfulfilledRole",
 * "UnfulfilledConstraint", "InsufficientCpus", "InsufficientMemory",
 * "InsufficientDisk", "InsufficientGpus", "InsufficientPorts".
 */
#ifndef PACER_PLACEMENT_H
#define PACER_PLACEMENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "mesos.pb-c.h"
#include "app.h"
#include "constraints.h"

#define PLACEMENT_MAX_PORTS 64

/* What is left of one offer while instances are packed into it. */
struct placement_offer {
    const Mesos__V1__Offer *offer;
    struct cons_host host; /* hostname and attributes of the offer */
    /* unreserved ("*") and role-reserved scalars left */
    double cpus, mem, disk, gpus;
    /* port ranges left: [begin, end] pairs, ascending, disjoint */
    uint64_t (*ports)[2];
    size_t nports;
    char *role; /* the role the offer's resources are allocated to ("*" when unreserved) */
    struct cons_attr *attr_store; /* owns host.attrs */
};

/* Build from an offer (its resources summed by name; ranges of "ports").
 * 0, or -1 with *err for malformed resources. */
int placement_offer_init(struct placement_offer *po, const Mesos__V1__Offer *offer, char **err);
void placement_offer_cleanup(struct placement_offer *po);

/* The outcome for one instance. */
struct placement {
    bool ok;
    const char *reason;                       /* static, when !ok */
    size_t constraint;                        /* UnfulfilledConstraint: index in cs */
    uint64_t host_ports[PLACEMENT_MAX_PORTS]; /* one per app port that needs a
                                                 host port, in app order */
    size_t nhost_ports;
};

/* Check one instance of app against po (cs: app's compiled constraints,
 * placed: hosts of its live instances). On success po's resources are
 * reduced by the instance's (so the next call packs the next instance)
 * and out->host_ports holds its ports: requirePorts or a fixed hostPort
 * take that exact port, 0 takes the lowest free port of the offer. */
void placement_try(struct placement_offer *po, const struct app_spec *app,
                   const struct constraints *cs, const struct cons_host *placed, size_t nplaced,
                   struct placement *out);

#endif
