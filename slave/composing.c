/*
 * composing: the slave's one containerizer, made of the enabled ones.
 *
 * Owns the process and Docker containerizers that --containerizers
 * enables and hands each task to one of them, as Mesos's composing
 * containerizer does: a task whose ContainerInfo is DOCKER goes to Docker,
 * every other task to the process containerizer. The choice depends only
 * on the TaskInfo, so it is the same at launch and after a restart, and
 * needs no state of its own per task.
 *
 * Default (no --containerizers): process, plus docker when something
 * answers on --docker_socket at start (a nonblocking connect to a unix
 * socket, which answers at once).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slave.h"
#include "containerizer.h"
#include "docker.h"
#include "log.h"
#include "mem.h"

struct composing {
    struct containerizer base;     /* first: a struct containerizer * is one of these */
    struct containerizer *process; /* NULL when not enabled */
    struct containerizer *docker;  /* NULL when not enabled */
};

static struct composing *comp(struct containerizer *c)
{
    return (struct composing *)c;
}

static bool task_is_docker(const struct task *t)
{
    return t->info != NULL && t->info->container != NULL &&
           t->info->container->type == MESOS__V1__CONTAINER_INFO__TYPE__DOCKER;
}

static struct containerizer *pick(struct containerizer *c, const struct task *t)
{
    return task_is_docker(t) ? comp(c)->docker : comp(c)->process;
}

static int co_launch(struct containerizer *c, struct task *t, char **err)
{
    struct containerizer *child = pick(c, t);

    if (child == NULL) {
        *err = xasprintf(
            "task.container.type: %s, but the %s containerizer is not enabled on "
            "this slave (--containerizers=%s)",
            task_is_docker(t) ? "DOCKER" : "MESOS", task_is_docker(t) ? "docker" : "process",
            c->slave->flags->containerizers ? c->slave->flags->containerizers
                                            : (comp(c)->docker ? "docker" : "process"));
        return -1;
    }
    return child->launch(child, t, err);
}

static int co_kill(struct containerizer *c, struct task *t, double grace)
{
    struct containerizer *child = pick(c, t);

    return child != NULL ? child->kill(child, t, grace) : 0;
}

static int co_recover(struct containerizer *c, struct task *t)
{
    struct containerizer *child = pick(c, t);

    if (child == NULL) {
        log_warn("task %s: its %s containerizer is not enabled; cannot recover it", t->id,
                 task_is_docker(t) ? "docker" : "process");
        return -1;
    }
    return child->recover(child, t);
}

static void co_destroy(struct containerizer *c, struct task *t)
{
    struct containerizer *child = pick(c, t);

    if (child != NULL)
        child->destroy(child, t);
}

static void co_recovered(struct containerizer *c)
{
    struct composing *co = comp(c);

    if (co->process != NULL && co->process->recovered != NULL)
        co->process->recovered(co->process);
    if (co->docker != NULL && co->docker->recovered != NULL)
        co->docker->recovered(co->docker);
}

static uint32_t co_health_port(struct containerizer *c, struct task *t, uint32_t port)
{
    struct containerizer *child = pick(c, t);

    if (child == NULL || child->health_port == NULL)
        return port;
    return child->health_port(child, t, port);
}

static int co_exec(struct containerizer *c, struct task *t, const char *cmd, cont_exec_fn done,
                   void *arg, void **handle, char **err)
{
    struct containerizer *child = pick(c, t);

    if (child == NULL || child->exec == NULL)
        return 1;
    return child->exec(child, t, cmd, done, arg, handle, err);
}

static void co_exec_cancel(struct containerizer *c, void *handle)
{
    /* Only the Docker containerizer runs checks itself. */
    if (comp(c)->docker != NULL && comp(c)->docker->exec_cancel != NULL)
        comp(c)->docker->exec_cancel(comp(c)->docker, handle);
}

static void co_free(struct containerizer *c)
{
    struct composing *co = comp(c);

    if (co->process != NULL)
        co->process->free(co->process);
    if (co->docker != NULL)
        co->docker->free(co->docker);
    free(co);
}

size_t composing_containerizer_names(struct containerizer *c, char **names, size_t max)
{
    size_t n = 0;

    if (comp(c)->docker != NULL && n < max)
        names[n++] = "docker";
    if (comp(c)->process != NULL && n < max)
        names[n++] = "process";
    return n;
}

/* Parse --containerizers into the two switches. 0 ok, -1 with *err. */
static int parse_list(const char *list, bool *process, bool *docker, char **err)
{
    char *copy = xstrdup(list), *save = NULL, *item, *end;
    int rc = 0;

    *process = *docker = false;
    for (item = strtok_r(copy, ",", &save); item != NULL; item = strtok_r(NULL, ",", &save)) {
        while (*item == ' ')
            item++;
        end = item + strlen(item);
        while (end > item && end[-1] == ' ')
            *--end = '\0';
        if (strcmp(item, "process") == 0 || strcmp(item, "mesos") == 0) {
            *process = true;
        } else if (strcmp(item, "docker") == 0) {
            *docker = true;
        } else {
            *err = xasprintf("--containerizers=%s: unknown containerizer '%s' (docker, process)",
                             list, item);
            rc = -1;
            goto out;
        }
    }
    if (!*process && !*docker) {
        *err = xasprintf("--containerizers=%s: names no containerizer (docker, process)", list);
        rc = -1;
    }
out:
    free(copy);
    return rc;
}

struct containerizer *composing_containerizer_new(struct slave *s, char **err)
{
    struct composing *co = xcalloc(1, sizeof(*co));
    const char *list = s->flags->containerizers;
    bool want_process = true, want_docker;

    if (list != NULL && list[0] != '\0') {
        if (parse_list(list, &want_process, &want_docker, err) < 0)
            goto fail;
    } else {
        want_docker = docker_socket_answers(s->flags->docker_socket);
        if (!want_docker)
            log_info("docker containerizer disabled: nothing answers on %s",
                     s->flags->docker_socket);
    }
    if (want_process) {
        co->process = process_containerizer_new(s, s->flags->isolation, err);
        if (co->process == NULL)
            goto fail;
    }
    if (want_docker) {
        co->docker = docker_containerizer_new(s, err);
        if (co->docker == NULL)
            goto fail;
    }
    co->base.name = "composing";
    co->base.launch = co_launch;
    co->base.kill = co_kill;
    co->base.recover = co_recover;
    co->base.destroy = co_destroy;
    co->base.free = co_free;
    co->base.recovered = co_recovered;
    co->base.health_port = co_health_port;
    co->base.exec = co_exec;
    co->base.exec_cancel = co_exec_cancel;
    co->base.slave = s;
    log_info("containerizers:%s%s", co->docker ? " docker" : "", co->process ? " process" : "");
    return &co->base;
fail:
    co_free(&co->base);
    return NULL;
}
