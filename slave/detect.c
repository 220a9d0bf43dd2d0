/*
 * detect.c: agora-slave's resources and attributes — what the host has
 * (CPUs, memory, disk of --work_dir, the default port range) merged with
 * --resources, and --attributes parsed into Mesos attributes.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>

#include "slave.h"
#include "containerizer.h"
#include "atomic_file.h"
#include "http.h"
#include "ids.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "recordio.h"
#include "master_follow.h"

/* ------------------------------------------------- resources, attributes */

static void detect_resources(struct slave *s, struct resources *r)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), psize = sysconf(_SC_PAGESIZE);
    double mem_mb = (double)pages * (double)psize / (1024.0 * 1024.0);
    double disk_mb = 0;
    struct statvfs vfs;

    if (ncpu < 1)
        ncpu = 1;
    mem_mb -= 1024;
    if (mem_mb < 256)
        mem_mb = 256;
    if (statvfs(s->flags->work_dir, &vfs) == 0) {
        disk_mb = (double)vfs.f_blocks * (double)vfs.f_frsize / (1024.0 * 1024.0);
        /* As Mesos: leave 5GB for the system, or half of a small disk. */
        disk_mb = disk_mb >= 10240 ? disk_mb - 5120 : disk_mb / 2;
    }
    res_add_scalar(r, "cpus", "*", (double)ncpu);
    res_add_scalar(r, "mem", "*", (double)(long long)mem_mb);
    res_add_scalar(r, "disk", "*", (double)(long long)disk_mb);
    res_add_range(r, "ports", "*", 31000, 32000);
}

static bool res_has(const struct resources *r, const char *name)
{
    size_t i;

    for (i = 0; i < r->n; i++)
        if (strcmp(r->v[i].name, name) == 0)
            return true;
    return false;
}

int slave_setup_resources(struct slave *s, char **err)
{
    struct resources detected, *r = &s->resources;
    static const char *names[] = { "cpus", "mem", "disk", "ports" };
    size_t i, j;
    char *text;

    res_init(r);
    if (s->flags->resources != NULL && s->flags->resources[0] != '\0') {
        char *perr = NULL;
        if (res_parse(s->flags->resources, NULL, r, &perr) < 0) {
            *err = xasprintf("--resources: %s", perr);
            free(perr);
            return -1;
        }
    }
    /* Detected amounts fill in what --resources leaves out (as Mesos). */
    res_init(&detected);
    detect_resources(s, &detected);
    for (i = 0; i < 4; i++) {
        if (res_has(r, names[i]))
            continue;
        for (j = 0; j < detected.n; j++) {
            if (strcmp(detected.v[j].name, names[i]) != 0)
                continue;
            if (detected.v[j].type == RES_SCALAR)
                res_add_scalar(r, names[i], "*", (double)detected.v[j].milli / 1000.0);
            else if (detected.v[j].type == RES_RANGES && detected.v[j].nranges > 0)
                res_add_range(r, names[i], "*", detected.v[j].ranges[0].begin,
                              detected.v[j].ranges[0].end);
        }
    }
    res_cleanup(&detected);
    text = res_format(r);
    log_info("resources: %s", text);
    free(text);
    return 0;
}

static Mesos__V1__Value__Scalar *new_scalar(double v)
{
    Mesos__V1__Value__Scalar *sc = xcalloc(1, sizeof(*sc));

    mesos__v1__value__scalar__init(sc);
    sc->value = v;
    return sc;
}

/* "rack:a;zone:b;weight:2;slots:[1-4];disks:{a,b}" as Mesos parses it. */
int slave_setup_attributes(struct slave *s, char **err)
{
    char *text, *save = NULL, *item, *colon, *end;
    Mesos__V1__Attribute *a;
    double d;

    if (s->flags->attributes == NULL || s->flags->attributes[0] == '\0')
        return 0;
    text = xstrdup(s->flags->attributes);
    for (item = strtok_r(text, ";", &save); item != NULL; item = strtok_r(NULL, ";", &save)) {
        colon = strchr(item, ':');
        if (colon == NULL || colon == item || colon[1] == '\0') {
            *err = xasprintf("--attributes: '%s' is not name:value", item);
            free(text);
            return -1;
        }
        *colon = '\0';
        a = xcalloc(1, sizeof(*a));
        mesos__v1__attribute__init(a);
        a->name = xstrdup(item);
        errno = 0;
        d = strtod(colon + 1, &end);
        if (errno == 0 && *end == '\0') {
            a->type = MESOS__V1__VALUE__TYPE__SCALAR;
            a->scalar = new_scalar(d);
        } else if (colon[1] == '[' || colon[1] == '{') {
            struct resources r;
            char *spec = xasprintf("x:%s", colon + 1), *perr = NULL;
            size_t i;
            res_init(&r);
            if (res_parse(spec, NULL, &r, &perr) < 0 || r.n != 1) {
                *err = xasprintf("--attributes: '%s': %s", colon + 1, perr ? perr : "bad value");
                free(perr);
                free(spec);
                res_cleanup(&r);
                pb_free(a);
                free(text);
                return -1;
            }
            if (r.v[0].type == RES_RANGES) {
                a->type = MESOS__V1__VALUE__TYPE__RANGES;
                a->ranges = xcalloc(1, sizeof(*a->ranges));
                mesos__v1__value__ranges__init(a->ranges);
                a->ranges->n_range = r.v[0].nranges;
                a->ranges->range = xcalloc(r.v[0].nranges + 1, sizeof(*a->ranges->range));
                for (i = 0; i < r.v[0].nranges; i++) {
                    a->ranges->range[i] = xcalloc(1, sizeof(Mesos__V1__Value__Range));
                    mesos__v1__value__range__init(a->ranges->range[i]);
                    a->ranges->range[i]->begin = r.v[0].ranges[i].begin;
                    a->ranges->range[i]->end = r.v[0].ranges[i].end;
                }
            } else {
                a->type = MESOS__V1__VALUE__TYPE__SET;
                a->set = xcalloc(1, sizeof(*a->set));
                mesos__v1__value__set__init(a->set);
                a->set->n_item = r.v[0].nitems;
                a->set->item = xcalloc(r.v[0].nitems + 1, sizeof(char *));
                for (i = 0; i < r.v[0].nitems; i++)
                    a->set->item[i] = xstrdup(r.v[0].items[i]);
            }
            res_cleanup(&r);
            free(spec);
        } else {
            a->type = MESOS__V1__VALUE__TYPE__TEXT;
            a->text = xcalloc(1, sizeof(*a->text));
            mesos__v1__value__text__init(a->text);
            a->text->value = xstrdup(colon + 1);
        }
        s->attributes = xrealloc(s->attributes, (s->nattributes + 1) * sizeof(*s->attributes));
        s->attributes[s->nattributes++] = a;
    }
    free(text);
    return 0;
}
