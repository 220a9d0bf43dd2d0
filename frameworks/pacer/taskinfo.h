/*
 * taskinfo: the Mesos TaskInfo of one instance of an app — command or
 * args, resources (cpus, mem, disk, gpus, ports, in the offer's role),
 * the environment Marathon gives its tasks (PORT0..N, PORT_<NAME>, PORTS,
 * HOST, MARATHON_APP_ID, MARATHON_APP_VERSION, MARATHON_APP_RESOURCE_*,
 * MESOS_TASK_ID, MARATHON_APP_LABELS and MARATHON_APP_LABEL_<NAME>), the
 * Docker container (image, force pull, parameters, BRIDGE/HOST network,
 * port mappings with the host ports chosen, volumes), the first health
 * check as a slave-side HealthCheck, the kill grace period, fetch URIs and
 * user. A pure function: data in, protobuf out.
 */
#ifndef PACER_TASKINFO_H
#define PACER_TASKINFO_H

#include <stddef.h>
#include <stdint.h>

#include "mesos.pb-c.h"
#include "app.h"

struct taskinfo_args {
    const struct app_spec *app;
    const char *task_id;
    const char *agent_id;
    const char *hostname;       /* the offer's, for HOST */
    const char *role;           /* the offer's allocation role, "*" when unreserved */
    const uint64_t *host_ports; /* from placement_try, in app port order */
    size_t nhost_ports;
    const int *service_ports; /* the app's assigned service ports, one per app port */
    size_t nservice_ports;
};

/* A new TaskInfo (free with agora_task_free from scheduler.h). */
Mesos__V1__TaskInfo *taskinfo_build(const struct taskinfo_args *a);

#endif
