/*
 * http_api: the slave's HTTP endpoints.
 *
 *   GET /state          Mesos agent style JSON (frameworks, executors, tasks,
 *                       completed_frameworks)
 *   POST /api/v1        v1 agent API calls (JSON): GET_HEALTH, GET_STATE,
 *                       GET_CONTAINERS
 *   GET /health         200 while the process runs
 *   GET /metrics        Prometheus text
 *   GET /files/browse?path=DIR
 *   GET /files/read?path=FILE&offset=N&length=M   {"data": ..., "offset": N}
 *   GET /files/download?path=FILE                 the file's bytes
 *
 * /files is confined to task sandboxes: the target is realpath()ed (so
 * "..", symlinks and the like are resolved first) and must lie below
 * <work_dir>/slaves/; anything else is 403, a missing path 404. With
 * --acls, access_sandboxes decides on the sandbox's user (403), and
 * /state and GET_STATE list only what view_frameworks / view_tasks let
 * the caller see (http_authz.c). Which endpoints need credentials is in
 * routes.c.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "slave.h"
#include "attributes.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "metrics.h"
#include "pbjson.h"
#include "rest.h"

#define FILES_MAX_READ (4 * 1024 * 1024) /* like Mesos' default page cap */
#define HTTP_MAX_BODY (1024 * 1024)

/* The deprecated FrameworkInfo.role is what pre-MULTI_ROLE frameworks set. */
static const char *framework_role(const Mesos__V1__FrameworkInfo *info)
{
    if (info->n_roles > 0)
        return info->roles[0];
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    return info->role != NULL ? info->role : "*";
#pragma GCC diagnostic pop
}

json_t *slave_state_json(struct slave *s, const char *principal)
{
    json_t *root, *fws, *attrs, *fj, *execs, *completed, *done_fws;
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;
    char *pid;

    attrs = attributes_to_json(s->attributes, s->nattributes);
    fws = json_array();
    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        execs = json_array();
        completed = json_copy(fw->completed_tasks);
        HASH_ITER (hh, fw->tasks, t, ttmp) {
            json_t *e = slave_task_json(s, t);
            json_array_append_new(t->terminal ? completed : execs, e);
        }
        fj = json_pack("{s:s, s:s, s:s, s:s, s:b, s:o, s:o}", "id", fw->id, "name",
                       fw->info->name ? fw->info->name : "", "user",
                       fw->info->user ? fw->info->user : "", "role", framework_role(fw->info),
                       "checkpoint", fw->info->has_checkpoint && fw->info->checkpoint, "executors",
                       execs, "completed_executors", completed);
        json_array_append_new(fws, fj);
    }
    /* The filter below changes what it is given: a copy of what it filters. */
    done_fws =
        s->acls ? json_deep_copy(s->completed_frameworks) : json_incref(s->completed_frameworks);
    pid = xasprintf("slave(1)@%s:%d", s->flags->ip, s->http_port);
    root =
        json_pack("{s:s, s:s, s:s, s:s, s:i, s:o, s:o, s:o, s:o, s:f, s:s, s:s}", "id",
                  s->agent_id ? s->agent_id : "", "pid", pid, "hostname", s->hostname, "version",
                  SLAVE_VERSION, "port", s->http_port, "resources",
                  res_to_json_summary(&s->resources), "attributes", attrs, "frameworks", fws,
                  "completed_frameworks", done_fws, "start_time", s->start_time, "master_hostname",
                  s->master_hostname ? s->master_hostname
                  : s->master_host   ? s->master_host
                                     : "",
                  "registration_state", master_conn_state_name(s->state));
    slave_state_filter(s, principal, fws);
    slave_state_filter(s, principal, json_object_get(root, "completed_frameworks"));
    json_object_set_new(root, "flags",
                        json_pack("{s:s, s:s, s:s}", "work_dir", s->flags->work_dir, "master",
                                  s->flags->master, "isolation",
                                  s->flags->isolation ? s->flags->isolation : "auto"));
    free(pid);
    return root;
}

void slave_http_state(struct rest_req *rq)
{
    http_reply_json(rq->req, 200, slave_state_json(rq->arg, rq->principal));
}

/* ------------------------------------------------------- v1 agent API */

/* A task as mesos.v1.Task (the agent API's GetTasks). */
static json_t *v1_task_json(const struct slave *s, const struct task *t)
{
    json_t *res = json_array();
    for (size_t i = 0; i < t->info->n_resources; i++)
        json_array_append_new(res, pbjson_encode(&t->info->resources[i]->base));
    json_t *j = json_pack(
        "{s:s, s:{s:s}, s:{s:s}, s:{s:s}, s:s, s:o}", "name", t->info->name ? t->info->name : t->id,
        "task_id", "value", t->id, "framework_id", "value", t->fw->id, "agent_id", "value",
        s->agent_id ? s->agent_id : "", "state", task_state_name(t->state), "resources", res);
    json_object_set_new(j, "statuses", json_array());
    if (t->latest)
        json_array_append_new(json_object_get(j, "statuses"), pbjson_encode(&t->latest->base));
    return j;
}

/* GET_STATE: {get_tasks, get_executors, get_frameworks}. Tasks the
 * slave has forgotten (acknowledged terminal ones) are not listed. */
static json_t *v1_get_state(struct slave *s, const char *principal)
{
    json_t *launched = json_array(), *terminated = json_array(), *fws = json_array();
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;
    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        if (!slave_may_view_framework(s, principal, fw->info->user))
            continue;
        json_array_append_new(fws,
                              json_pack("{s:o}", "framework_info", pbjson_encode(&fw->info->base)));
        HASH_ITER (hh, fw->tasks, t, ttmp) {
            if (slave_may_view_task(s, principal, task_user_name(t)))
                json_array_append_new(t->terminal ? terminated : launched, v1_task_json(s, t));
        }
    }
    return json_pack("{s:{s:[], s:[], s:o, s:o, s:[]}, s:{s:[], s:[]}, s:{s:o, s:[]}}", "get_tasks",
                     "pending_tasks", "queued_tasks", "launched_tasks", launched,
                     "terminated_tasks", terminated, "completed_tasks", "get_executors",
                     "executors", "completed_executors", "get_frameworks", "frameworks", fws,
                     "completed_frameworks");
}

/* GET_CONTAINERS: one container per live task (its command executor),
 * those --acls view_containers lets the caller see (Mesos's action). */
static json_t *v1_get_containers(struct slave *s, const char *principal)
{
    json_t *cs = json_array();
    struct framework *fw, *ftmp;
    struct task *t, *ttmp;
    HASH_ITER (hh, s->frameworks, fw, ftmp) {
        HASH_ITER (hh, fw->tasks, t, ttmp) {
            if (t->terminal || !t->container_id ||
                !slave_may_view_container(s, principal, task_user_name(t)))
                continue;
            json_t *c = json_pack("{s:{s:s}, s:{s:s}, s:s, s:{s:s}}", "framework_id", "value",
                                  fw->id, "executor_id", "value", t->id, "executor_name",
                                  "Command Executor", "container_id", "value", t->container_id);
            if (t->latest && t->latest->container_status)
                json_object_set_new(c, "container_status",
                                    pbjson_encode(&t->latest->container_status->base));
            json_array_append_new(cs, c);
        }
    }
    return json_pack("{s:o}", "containers", cs);
}

void slave_http_api_v1(struct rest_req *rq)
{
    struct slave *s = rq->arg;
    const char *type = json_string_value(json_object_get(rq->json, "type"));
    if (!type) {
        rest_error(rq, 400, "Failed to validate agent::Call: Expecting 'type' to be present");
        return;
    }
    json_t *resp;
    if (strcmp(type, "GET_HEALTH") == 0)
        resp = json_pack("{s:s, s:{s:b}}", "type", type, "get_health", "healthy", 1);
    else if (strcmp(type, "GET_STATE") == 0)
        resp = json_pack("{s:s, s:o}", "type", type, "get_state", v1_get_state(s, rq->principal));
    else if (strcmp(type, "GET_CONTAINERS") == 0)
        resp = json_pack("{s:s, s:o}", "type", type, "get_containers",
                         v1_get_containers(s, rq->principal));
    else {
        rest_error(rq, 400, "Failed to validate agent::Call: unsupported 'type' '%s'", type);
        return;
    }
    http_reply_json(rq->req, 200, resp);
}

/* Resolve ?path= inside the sandboxes. Returns the realpath (caller frees)
 * or NULL after replying with the error. */
static char *sandbox_path(struct slave *s, struct rest_req *rq)
{
    char *path = http_req_query(rq->req, "path"), *real = NULL, *root = NULL, *slaves;
    size_t rl;

    if (path == NULL || path[0] == '\0') {
        rest_error(rq, 400, "path: missing");
        goto out;
    }
    slaves = xasprintf("%s/slaves", s->flags->work_dir);
    root = realpath(slaves, NULL);
    free(slaves);
    real = realpath(path, NULL);
    if (real == NULL && gc_collected(s->gc, path)) {
        rest_error(rq, 404,
                   "path: garbage-collected: %s (the sandbox of a finished task is removed "
                   "after --gc_delay)",
                   path);
        goto out;
    }
    if (real == NULL) {
        rest_error(rq, 404, "path: no such file: %s", path);
        goto out;
    }
    rl = root ? strlen(root) : 0;
    if (root == NULL || strncmp(real, root, rl) != 0 || real[rl] != '/') {
        log_warn("/files: refusing %s (outside the sandboxes)", path);
        rest_error(rq, 403, "path: outside of the task sandboxes: %s", path);
        free(real);
        real = NULL;
    } else if (!slave_may_access_sandbox(s, rq->principal, root, real)) {
        rest_error(rq, 403, "path: not authorized to access this sandbox (access_sandboxes): %s",
                   path);
        free(real);
        real = NULL;
    }
out:
    free(root);
    free(path);
    return real;
}

static json_t *file_entry(const char *path, const struct stat *st)
{
    char mode[11];
    const char *rwx = "rwxrwxrwx";
    int i;

    mode[0] = S_ISDIR(st->st_mode) ? 'd' : S_ISLNK(st->st_mode) ? 'l' : '-';
    for (i = 0; i < 9; i++)
        mode[i + 1] = (st->st_mode & (1 << (8 - i))) ? rwx[i] : '-';
    mode[10] = '\0';
    return json_pack("{s:s, s:I, s:I, s:f, s:s, s:i, s:i}", "path", path, "nlink",
                     (json_int_t)st->st_nlink, "size", (json_int_t)st->st_size, "mtime",
                     (double)st->st_mtime, "mode", mode, "uid", (int)st->st_uid, "gid",
                     (int)st->st_gid);
}

void slave_http_browse(struct rest_req *rq)
{
    struct evhttp_request *req = rq->req;
    char *real = sandbox_path(rq->arg, rq), *child;
    json_t *list;
    struct stat st;
    DIR *d;
    struct dirent *de;

    if (real == NULL)
        return;
    list = json_array();
    if (stat(real, &st) == 0 && !S_ISDIR(st.st_mode)) {
        json_array_append_new(list, file_entry(real, &st));
        http_reply_json(req, 200, list);
        free(real);
        return;
    }
    d = opendir(real);
    if (d == NULL) {
        json_decref(list);
        rest_error(rq, 404, "path: cannot open directory");
        free(real);
        return;
    }
    while ((de = readdir(d)) != NULL) {
        if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
            continue;
        child = xasprintf("%s/%s", real, de->d_name);
        if (lstat(child, &st) == 0)
            json_array_append_new(list, file_entry(child, &st));
        free(child);
    }
    closedir(d);
    http_reply_json(req, 200, list);
    free(real);
}

/* JSON strings must be UTF-8: replace what is not (binary logs). */
static json_t *data_string(char *buf, size_t len)
{
    json_t *j = json_stringn(buf, len);
    size_t i;

    if (j != NULL)
        return j;
    for (i = 0; i < len; i++)
        if ((unsigned char)buf[i] >= 0x80 || buf[i] == '\0')
            buf[i] = '?';
    return json_stringn(buf, len);
}

void slave_http_read(struct rest_req *rq)
{
    struct evhttp_request *req = rq->req;
    char *real = NULL, *buf = NULL, *err = NULL;
    long long offset = -1, length = -1;
    struct stat st;
    ssize_t n;
    int fd = -1;

    /* Absent length (or -1): up to FILES_MAX_READ. */
    if (rest_query_int(rest_req_query(rq), "offset", LLONG_MIN, LLONG_MAX, -1, &offset, &err) < 0 ||
        rest_query_int(rest_req_query(rq), "length", -1, LLONG_MAX, -1, &length, &err) < 0) {
        rest_error(rq, 400, "%s", err);
        goto out;
    }
    real = sandbox_path(rq->arg, rq);
    if (real == NULL)
        goto out;
    fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rest_error(rq, 404, "path: cannot open file");
        goto out;
    }
    if (S_ISDIR(st.st_mode)) {
        rest_error(rq, 400, "path: is a directory");
        goto out;
    }
    /* As Mesos: no offset (or -1) asks for the size only. */
    if (offset < 0) {
        http_reply_json(req, 200,
                        json_pack("{s:s, s:I}", "data", "", "offset", (json_int_t)st.st_size));
        goto out;
    }
    if (length < 0 || length > FILES_MAX_READ)
        length = FILES_MAX_READ;
    if (offset > st.st_size)
        offset = st.st_size;
    if (length > st.st_size - offset)
        length = st.st_size - offset;
    buf = xmalloc((size_t)length + 1);
    n = pread(fd, buf, (size_t)length, (off_t)offset);
    if (n < 0)
        n = 0;
    http_reply_json(
        req, 200,
        json_pack("{s:o, s:I}", "data", data_string(buf, (size_t)n), "offset", (json_int_t)offset));
out:
    if (fd >= 0)
        close(fd);
    free(buf);
    free(real);
    free(err);
}

/* Mesos's /files/download: the file itself, as an attachment. */
void slave_http_download(struct rest_req *rq)
{
    char *real = sandbox_path(rq->arg, rq), *disp = NULL;
    const char *name;
    struct stat st;
    int fd = -1;

    if (real == NULL)
        return;
    fd = open(real, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        rest_error(rq, 404, "path: cannot open file");
        goto out;
    }
    if (!S_ISREG(st.st_mode)) {
        rest_error(rq, 400, "path: not a regular file");
        goto out;
    }
    /* The name as a token: nothing that could end the header value. */
    name = strrchr(real, '/') + 1;
    disp = xasprintf("attachment; filename=\"%s\"", name);
    for (char *p = disp + 22; p[1] != '\0'; p++)
        if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 || (unsigned char)*p >= 0x7f)
            *p = '_';
    http_add_header(rq->req, "Content-Disposition", disp);
    http_reply_file(rq->req, 200, "application/octet-stream", fd, (size_t)st.st_size);
    fd = -1; /* http_reply_file closed it */
out:
    if (fd >= 0)
        close(fd);
    free(disp);
    free(real);
}

int http_api_start(struct slave *s, char **err)
{
    s->http = http_server_new(s->base, s->flags->ip, s->flags->port, HTTP_MAX_BODY, err);
    if (s->http == NULL)
        return -1;
    s->http_port = http_server_port(s->http);
    slave_routes_attach(s);
    return 0;
}
