/*
 * docker_spec: the pure translation of a Docker task's TaskInfo into the
 * Engine API's POST /containers/create body (docker.md, "Create"):
 * command, environment, labels, limits, network and port mappings,
 * volumes, and `docker run` parameters. No I/O: TaskInfo and context in,
 * JSON out, or an error naming the offending field.
 */
#define _GNU_SOURCE
#include "docker_spec.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "host_policy.h"
#include "mem.h"
#include "resources.h"

#define DK_MIN_MEM_MB 32.0 /* as Mesos */

static bool valid_image(const char *image)
{
    const char *p;

    if (image == NULL || image[0] == '\0' || strlen(image) > 512)
        return false;
    for (p = image; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              strchr("._-/:@", *p) != NULL))
            return false;
    return true;
}

void docker_spec_env_add(json_t *env, const char *name, const char *value)
{
    json_array_append_new(env, json_sprintf("%s=%s", name, value ? value : ""));
}

/* o[key], created with make() when absent. */
static json_t *child(json_t *o, const char *key, json_t *(*make)(void))
{
    json_t *c = json_object_get(o, key);

    if (c == NULL) {
        c = make();
        json_object_set_new(o, key, c);
    }
    return c;
}

static json_t *obj_child(json_t *o, const char *key)
{
    return child(o, key, json_object);
}

static json_t *arr_child(json_t *o, const char *key)
{
    return child(o, key, json_array);
}

/* "k=v" of parameter i (named key) as obj[k] = v. */
static int set_key_value(json_t *obj, const char *key, const char *value, size_t i, char **err)
{
    const char *eq = strchr(value, '=');
    char *k;

    if (eq == NULL) {
        *err =
            xasprintf("container.docker.parameters[%zu]: %s '%s' is not key=value", i, key, value);
        return -1;
    }
    k = xstrndup(value, (size_t)(eq - value));
    json_object_set_new(obj, k, json_string(eq + 1));
    free(k);
    return 0;
}

/* One `docker run --key=value` parameter into the create body. */
static int apply_parameter(json_t *body, json_t *hc, const char *key, const char *value, size_t i,
                           char **err)
{
    const char *eq;
    char *k;
    long long n;
    char *end;

    if (strcmp(key, "label") == 0 || strcmp(key, "l") == 0) {
        eq = strchr(value, '=');
        k = eq ? xstrndup(value, (size_t)(eq - value)) : xstrdup(value);
        if (strncmp(k, "agora.", 6) == 0) {
            *err = xasprintf("container.docker.parameters[%zu]: label '%s' is reserved", i, k);
            free(k);
            return -1;
        }
        json_object_set_new(obj_child(body, "Labels"), k, json_string(eq ? eq + 1 : ""));
        free(k);
    } else if (strcmp(key, "env") == 0 || strcmp(key, "e") == 0) {
        json_array_append_new(arr_child(body, "Env"), json_string(value));
    } else if (strcmp(key, "workdir") == 0 || strcmp(key, "w") == 0) {
        json_object_set_new(body, "WorkingDir", json_string(value));
    } else if (strcmp(key, "user") == 0 || strcmp(key, "u") == 0) {
        json_object_set_new(body, "User", json_string(value));
    } else if (strcmp(key, "hostname") == 0 || strcmp(key, "h") == 0) {
        json_object_set_new(body, "Hostname", json_string(value));
    } else if (strcmp(key, "entrypoint") == 0) {
        json_object_set_new(body, "Entrypoint", json_pack("[s]", value));
    } else if (strcmp(key, "stop-signal") == 0) {
        json_object_set_new(body, "StopSignal", json_string(value));
    } else if (strcmp(key, "cap-add") == 0) {
        json_array_append_new(arr_child(hc, "CapAdd"), json_string(value));
    } else if (strcmp(key, "cap-drop") == 0) {
        json_array_append_new(arr_child(hc, "CapDrop"), json_string(value));
    } else if (strcmp(key, "add-host") == 0) {
        json_array_append_new(arr_child(hc, "ExtraHosts"), json_string(value));
    } else if (strcmp(key, "dns") == 0) {
        json_array_append_new(arr_child(hc, "Dns"), json_string(value));
    } else if (strcmp(key, "security-opt") == 0) {
        json_array_append_new(arr_child(hc, "SecurityOpt"), json_string(value));
    } else if (strcmp(key, "volume") == 0 || strcmp(key, "v") == 0) {
        json_array_append_new(arr_child(hc, "Binds"), json_string(value));
    } else if (strcmp(key, "read-only") == 0) {
        json_object_set_new(hc, "ReadonlyRootfs", json_boolean(strcmp(value, "false") != 0));
    } else if (strcmp(key, "init") == 0) {
        json_object_set_new(hc, "Init", json_boolean(strcmp(value, "false") != 0));
    } else if (strcmp(key, "log-driver") == 0) {
        json_object_set_new(obj_child(hc, "LogConfig"), "Type", json_string(value));
    } else if (strcmp(key, "log-opt") == 0) {
        return set_key_value(obj_child(obj_child(hc, "LogConfig"), "Config"), key, value, i, err);
    } else if (strcmp(key, "tmpfs") == 0) {
        eq = strchr(value, ':');
        k = eq ? xstrndup(value, (size_t)(eq - value)) : xstrdup(value);
        json_object_set_new(obj_child(hc, "Tmpfs"), k, json_string(eq ? eq + 1 : ""));
        free(k);
    } else if (strcmp(key, "sysctl") == 0) {
        return set_key_value(obj_child(hc, "Sysctls"), key, value, i, err);
    } else if (strcmp(key, "pids-limit") == 0 || strcmp(key, "shm-size") == 0) {
        errno = 0;
        n = strtoll(value, &end, 10);
        if (errno != 0 || end == value || *end != '\0') {
            *err = xasprintf("container.docker.parameters[%zu]: %s '%s' is not a number", i, key,
                             value);
            return -1;
        }
        json_object_set_new(hc, strcmp(key, "pids-limit") == 0 ? "PidsLimit" : "ShmSize",
                            json_integer(n));
    } else {
        *err = xasprintf("container.docker.parameters[%zu]: '%s' is not supported", i, key);
        return -1;
    }
    return 0;
}

static bool in_ports(const uint64_t *ports, size_t n, uint32_t p)
{
    size_t i;

    for (i = 0; i < n; i++)
        if (ports[i] == p)
            return true;
    return false;
}

static int add_volumes(const Mesos__V1__TaskInfo *info, const char *sandbox, json_t *hc, char **err)
{
    Mesos__V1__ContainerInfo *ci = info->container;
    json_t *binds = arr_child(hc, "Binds");
    char *src;
    size_t i;

    json_array_append_new(binds, json_sprintf("%s:%s:rw", sandbox, DK_SANDBOX_MOUNT));
    for (i = 0; i < ci->n_volumes; i++) {
        Mesos__V1__Volume *v = ci->volumes[i];
        Mesos__V1__Volume__Source *so = v->source;
        const char *mode = v->mode == MESOS__V1__VOLUME__MODE__RO ? "ro" : "rw";
        char *cpath;

        if (v->container_path == NULL || v->container_path[0] == '\0') {
            *err = xasprintf("container.volumes[%zu].container_path: missing", i);
            return -1;
        }
        src = NULL;
        if (so != NULL && so->has_type &&
            so->type == MESOS__V1__VOLUME__SOURCE__TYPE__DOCKER_VOLUME &&
            so->docker_volume != NULL && so->docker_volume->name != NULL) {
            if (so->docker_volume->driver != NULL && so->docker_volume->driver[0] != '\0' &&
                strcmp(so->docker_volume->driver, "local") != 0) {
                *err = xasprintf("container.volumes[%zu].source.docker_volume.driver: '%s' is not "
                                 "supported (local only)",
                                 i, so->docker_volume->driver);
                return -1;
            }
            src = xstrdup(so->docker_volume->name);
        } else if (so != NULL && so->has_type &&
                   so->type == MESOS__V1__VOLUME__SOURCE__TYPE__HOST_PATH &&
                   so->host_path != NULL && so->host_path->path != NULL) {
            src = host_path_normalize(so->host_path->path);
            if (src == NULL)
                src = xstrdup(so->host_path->path);
        } else if (so != NULL && so->has_type &&
                   so->type == MESOS__V1__VOLUME__SOURCE__TYPE__SANDBOX_PATH &&
                   so->sandbox_path != NULL && so->sandbox_path->path != NULL) {
            if (so->sandbox_path->path[0] == '/' || strstr(so->sandbox_path->path, "..") != NULL) {
                *err = xasprintf("container.volumes[%zu].source.sandbox_path.path: '%s' must be "
                                 "relative to the sandbox",
                                 i, so->sandbox_path->path);
                return -1;
            }
            src = xasprintf("%s/%s", sandbox, so->sandbox_path->path);
        } else if (v->host_path != NULL && v->host_path[0] != '\0') {
            /* As Mesos: a relative host path lies in the sandbox. */
            src = v->host_path[0] == '/' ? host_path_normalize(v->host_path)
                                         : xasprintf("%s/%s", sandbox, v->host_path);
        } else {
            *err = xasprintf("container.volumes[%zu]: needs host_path or a supported source "
                             "(DOCKER_VOLUME, HOST_PATH, SANDBOX_PATH)",
                             i);
            return -1;
        }
        cpath = v->container_path[0] == '/'
                    ? xstrdup(v->container_path)
                    : xasprintf("%s/%s", DK_SANDBOX_MOUNT, v->container_path);
        json_array_append_new(binds, json_sprintf("%s:%s:%s", src, cpath, mode));
        free(cpath);
        free(src);
    }
    return 0;
}

int docker_spec_create(const Mesos__V1__TaskInfo *info, const struct docker_spec_ctx *ctx,
                       json_t **out, char **err)
{
    Mesos__V1__ContainerInfo *ci = info->container;
    Mesos__V1__ContainerInfo__DockerInfo *di = ci->docker;
    Mesos__V1__CommandInfo *cmd = info->command;
    json_t *body = json_object(), *hc = json_object(), *env = json_array(), *labels, *c;
    struct resources res;
    uint64_t ports[256];
    size_t nports = 0, i;
    double cpus, mem;
    char *rerr = NULL, buf[32], *list = NULL, *joined;
    int network, rc = -1;

    res_init(&res);
    json_object_set_new(body, "Image", json_string(di->image));
    json_object_set_new(body, "HostConfig", hc);
    json_object_set_new(body, "Env", env);
    if (res_from_pb(info->resources, info->n_resources, &res, &rerr) < 0) {
        *err = xasprintf("task.resources: %s", rerr);
        goto out;
    }
    nports = res_range_values(&res, "ports", ports, 256);

    /* Command: Mesos's Docker semantics. */
    if (cmd != NULL && (!cmd->has_shell || cmd->shell)) {
        if (cmd->value == NULL || cmd->value[0] == '\0') {
            *err = xstrdup("task.command.value: missing (shell is true)");
            goto out;
        }
        json_object_set_new(body, "Entrypoint", json_pack("[s,s]", "/bin/sh", "-c"));
        json_object_set_new(body, "Cmd", json_pack("[s]", cmd->value));
    } else if (cmd != NULL) {
        c = json_array();
        if (cmd->value != NULL && cmd->value[0] != '\0')
            json_array_append_new(c, json_string(cmd->value));
        for (i = 0; i < cmd->n_arguments; i++)
            json_array_append_new(c, json_string(cmd->arguments[i]));
        if (json_array_size(c) > 0)
            json_object_set_new(body, "Cmd", c);
        else
            json_decref(c);
    }

    /* Environment: what the process containerizer gives, seen from inside. */
    docker_spec_env_add(env, "MESOS_SANDBOX", DK_SANDBOX_MOUNT);
    docker_spec_env_add(env, "MESOS_TASK_ID", ctx->task_id);
    docker_spec_env_add(env, "MESOS_EXECUTOR_ID", ctx->task_id);
    docker_spec_env_add(env, "MESOS_FRAMEWORK_ID", ctx->framework_id);
    docker_spec_env_add(env, "MESOS_AGENT_ID", ctx->agent_id);
    docker_spec_env_add(env, "MESOS_SLAVE_ID", ctx->agent_id);
    docker_spec_env_add(env, "MESOS_CONTAINER_ID", ctx->container_id);
    docker_spec_env_add(env, "HOST", ctx->hostname);
    for (i = 0; i < nports; i++) {
        char name[32];
        snprintf(name, sizeof(name), "PORT%zu", i);
        snprintf(buf, sizeof(buf), "%llu", (unsigned long long)ports[i]);
        docker_spec_env_add(env, name, buf);
        if (i == 0)
            docker_spec_env_add(env, "PORT", buf);
        joined = list ? xasprintf("%s,%s", list, buf) : xstrdup(buf);
        free(list);
        list = joined;
    }
    if (list != NULL)
        docker_spec_env_add(env, "PORTS", list);
    if (cmd != NULL && cmd->environment != NULL) {
        for (i = 0; i < cmd->environment->n_variables; i++) {
            Mesos__V1__Environment__Variable *v = cmd->environment->variables[i];
            if (v->name == NULL || v->name[0] == '\0' || strchr(v->name, '=') != NULL) {
                *err = xasprintf("task.command.environment.variables[%zu].name: '%s' is not a "
                                 "variable name",
                                 i, v->name ? v->name : "");
                goto out;
            }
            docker_spec_env_add(env, v->name, v->value);
        }
    }

    labels = json_object();
    json_object_set_new(body, "Labels", labels);
    json_object_set_new(labels, "agora.framework_id", json_string(ctx->framework_id));
    json_object_set_new(labels, "agora.task_id", json_string(ctx->task_id));
    json_object_set_new(labels, "agora.slave_id", json_string(ctx->agent_id ? ctx->agent_id : ""));
    json_object_set_new(labels, "agora.container_id", json_string(ctx->container_id));

    /* Limits from the task's resources (cgroups through the engine). */
    cpus = res_scalar(&res, "cpus");
    mem = res_scalar(&res, "mem");
    if (cpus > 0) {
        json_int_t shares = (json_int_t)(cpus * 1024);
        json_object_set_new(hc, "CpuShares", json_integer(shares < 2 ? 2 : shares));
        json_object_set_new(hc, "NanoCpus", json_integer((json_int_t)(cpus * 1e9)));
    }
    if (mem > 0) {
        json_int_t bytes = (json_int_t)((mem < DK_MIN_MEM_MB ? DK_MIN_MEM_MB : mem) * 1048576.0);
        json_object_set_new(hc, "Memory", json_integer(bytes));
        json_object_set_new(hc, "MemorySwap", json_integer(bytes));
    }

    /* Network. */
    network =
        di->has_network ? (int)di->network : MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__HOST;
    switch (network) {
    case MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__HOST:
        json_object_set_new(hc, "NetworkMode", json_string("host"));
        break;
    case MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__BRIDGE:
        json_object_set_new(hc, "NetworkMode", json_string("bridge"));
        break;
    case MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__NONE:
        json_object_set_new(hc, "NetworkMode", json_string("none"));
        break;
    default:
        *err = xasprintf("container.docker.network: %d is not supported (HOST, BRIDGE, NONE)",
                         network);
        goto out;
    }
    if (di->n_port_mappings > 0 &&
        network != MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__BRIDGE) {
        *err = xstrdup("container.docker.port_mappings: only with BRIDGE networking");
        goto out;
    }
    for (i = 0; i < di->n_port_mappings; i++) {
        Mesos__V1__ContainerInfo__DockerInfo__PortMapping *pm = di->port_mappings[i];
        const char *proto = pm->protocol != NULL && pm->protocol[0] != '\0' ? pm->protocol : "tcp";
        char key[48], hp[16];

        if (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0) {
            *err = xasprintf("container.docker.port_mappings[%zu].protocol: '%s' is not tcp or udp",
                             i, proto);
            goto out;
        }
        if (!in_ports(ports, nports, pm->host_port)) {
            *err = xasprintf("container.docker.port_mappings[%zu].host_port: %u is not among the "
                             "task's ports resources",
                             i, pm->host_port);
            goto out;
        }
        if (pm->container_port == 0 || pm->container_port > 65535) {
            *err = xasprintf("container.docker.port_mappings[%zu].container_port: %u is not a port",
                             i, pm->container_port);
            goto out;
        }
        snprintf(key, sizeof(key), "%u/%s", pm->container_port, proto);
        snprintf(hp, sizeof(hp), "%u", pm->host_port);
        json_object_set_new(obj_child(body, "ExposedPorts"), key, json_object());
        json_array_append_new(arr_child(obj_child(hc, "PortBindings"), key),
                              json_pack("{s:s, s:s}", "HostIp", ctx->publish_ip, "HostPort", hp));
    }
    if (ci->hostname != NULL && ci->hostname[0] != '\0' &&
        network != MESOS__V1__CONTAINER_INFO__DOCKER_INFO__NETWORK__HOST)
        json_object_set_new(body, "Hostname", json_string(ci->hostname));
    if (di->has_privileged && di->privileged)
        json_object_set_new(hc, "Privileged", json_true());
    /* Before the parameters: a `user` parameter of the task still wins. */
    if (ctx->user != NULL) {
        json_object_set_new(body, "User", json_string(ctx->user));
        for (i = 0; i < ctx->ngroups; i++)
            json_array_append_new(arr_child(hc, "GroupAdd"), json_sprintf("%u", ctx->groups[i]));
    }
    if (add_volumes(info, ctx->sandbox, hc, err) < 0)
        goto out;
    for (i = 0; i < di->n_parameters; i++) {
        Mesos__V1__Parameter *p = di->parameters[i];
        if (p->key == NULL ||
            apply_parameter(body, hc, p->key, p->value ? p->value : "", i, err) < 0) {
            if (p->key == NULL)
                *err = xasprintf("container.docker.parameters[%zu].key: missing", i);
            goto out;
        }
    }
    *out = body;
    body = NULL;
    rc = 0;
out:
    json_decref(body);
    res_cleanup(&res);
    free(rerr);
    free(list);
    return rc;
}

int docker_spec_check(const Mesos__V1__TaskInfo *info, char **err)
{
    Mesos__V1__ContainerInfo *ci = info->container;

    if (ci == NULL || ci->docker == NULL) {
        *err = xstrdup("task.container.docker: missing (type is DOCKER)");
        return -1;
    }
    if (!valid_image(ci->docker->image)) {
        *err = xasprintf("task.container.docker.image: '%s' is not a valid image name",
                         ci->docker->image ? ci->docker->image : "");
        return -1;
    }
    return 0;
}
