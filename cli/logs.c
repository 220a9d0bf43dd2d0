/*
 * logs: `agora logs TASK [--stderr] [-f]` prints a task's stdout (or
 * stderr) from its sandbox, read through the slave's /files/read.
 *
 * The master's state says on which slave the task is (live or completed;
 * TASK may be a unique prefix of the id); that slave's /state says where
 * its sandbox is (the command executor's "directory"). The file is read
 * page by page from offset 0; with -f the offset is then polled every
 * 0.25 s for new bytes, with no deadline, until Ctrl-C. A slave that
 * stops answering for FOLLOW_MAX_FAILURES polls in a row ends it.
 * The --principal credentials go to the slave too, for slaves with
 * --authenticate_http_readonly (and --acls access_sandboxes).
 */
#include <stdlib.h>
#include <string.h>

#include <event2/http.h>

#include "cli.h"
#include "http.h"
#include "mem.h"

#define LOGS_PAGE (1024 * 1024)
#define FOLLOW_POLL_SECS 0.25
#define FOLLOW_MAX_FAILURES 20

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* The task whose id is (or uniquely starts with) want, from every list
 * of every framework of the state. NULL after printing why. */
static const json_t *find_task(const json_t *st, const char *want)
{
    static const char *const lists[] = { "tasks", "unreachable_tasks", "completed_tasks" };
    const json_t *found = NULL, *f, *t;
    size_t i, j, prefixed = 0, wlen = strlen(want);
    json_array_foreach(json_object_get(st, "frameworks"), i, f)
    {
        for (size_t l = 0; l < 3; l++) {
            json_array_foreach(json_object_get(f, lists[l]), j, t)
            {
                const char *id = str(t, "id");
                if (strcmp(id, want) == 0)
                    return t;
                if (strncmp(id, want, wlen) == 0 &&
                    (found == NULL || strcmp(str(found, "id"), id) != 0)) {
                    found = t;
                    prefixed++;
                }
            }
        }
    }
    if (prefixed == 1)
        return found;
    if (prefixed > 1)
        cli_error("task '%s': %zu tasks start with it; give more of the id", want, prefixed);
    else
        cli_error("task '%s': no such task on the master (agora tasks --all lists them)", want);
    return NULL;
}

/* The sandbox of task_id in a slave's /state (executor id = task id for
 * the command executor), or NULL. Borrowed. */
static const char *find_sandbox(const json_t *slave_state, const char *task_id)
{
    static const char *const fwlists[] = { "frameworks", "completed_frameworks" };
    static const char *const exlists[] = { "executors", "completed_executors" };
    const json_t *f, *e;
    size_t i, j;
    for (size_t a = 0; a < 2; a++)
        json_array_foreach(json_object_get(slave_state, fwlists[a]), i, f)
        {
            for (size_t b = 0; b < 2; b++)
                json_array_foreach(json_object_get(f, exlists[b]), j, e)
                {
                    if (strcmp(str(e, "id"), task_id) == 0 && *str(e, "directory"))
                        return str(e, "directory");
                }
        }
    return NULL;
}

/* GET url-ish path on the slave; the decoded JSON on 200, else NULL with
 * *why (caller frees). */
static json_t *slave_get(struct cli *c, const char *host, int port, const char *path, int *status,
                         char **why)
{
    struct cli_resp r;
    json_t *j = NULL;
    *status = 0;
    if (cli_http(c, host, port, "GET", path, NULL, 0, &r) < 0) {
        *why = xasprintf("cannot reach the slave at %s:%d: %s", host, port, r.error);
    } else if ((*status = r.status) != 200) {
        char *m = cli_api_error(r.status, r.body, r.len);
        *why = xasprintf("the slave at %s:%d answered %s%s", host, port, m,
                         r.status == 401 && c->auth_header == NULL
                             ? " (it wants credentials: --principal and --secret_file)"
                             : "");
        free(m);
    } else if ((j = json_loadb(r.body, r.len, 0, NULL)) == NULL) {
        *why = xasprintf("the slave at %s:%d sent no JSON", host, port);
    }
    cli_resp_cleanup(&r);
    return j;
}

int cmd_logs(struct cli *c)
{
    json_t *st = NULL, *sst = NULL;
    char *host = NULL, *why = NULL, *task_id = NULL, *file = NULL, *enc = NULL;
    int port = 0, status, rc = CLI_FAIL, failures = 0;
    long long offset = 0;
    const json_t *task, *s;
    size_t i;

    if (c->nargs != 1) {
        cli_error("logs: usage: agora logs TASK [--stderr] [-f]");
        return CLI_USAGE;
    }
    if ((st = cli_master_state(c)) == NULL)
        goto out;
    if ((task = find_task(st, c->args[0])) == NULL)
        goto out;
    task_id = xstrdup(str(task, "id"));
    const char *slave_id = str(task, "slave_id");
    json_array_foreach(json_object_get(st, "slaves"), i, s)
    {
        if (strcmp(str(s, "id"), slave_id) == 0) {
            const char *pid = str(s, "pid"), *at = strchr(pid, '@');
            if (at == NULL || http_parse_hostport(at + 1, 5051, &host, &port) < 0) {
                free(host);
                host = xstrdup(str(s, "hostname"));
                port = (int)json_integer_value(json_object_get(s, "port"));
            }
        }
    }
    if (host == NULL) {
        cli_error("task %s: its slave %s is not connected to the master", task_id, slave_id);
        goto out;
    }
    if ((sst = slave_get(c, host, port, "/state", &status, &why)) == NULL) {
        cli_error("task %s: %s", task_id, why);
        goto out;
    }
    const char *dir = find_sandbox(sst, task_id);
    if (dir == NULL) {
        cli_error("task %s: the slave at %s:%d no longer knows its sandbox", task_id, host, port);
        goto out;
    }
    file = xasprintf("%s/%s", dir, c->use_stderr ? "stderr" : "stdout");
    enc = evhttp_encode_uri(file);
    for (;;) {
        char *path = xasprintf("/files/read?path=%s&offset=%lld&length=%d", enc, offset, LOGS_PAGE);
        json_t *page = slave_get(c, host, port, path, &status, &why);
        free(path);
        if (page == NULL) {
            /* A slave can be briefly away (restarting); a missing file is final. */
            if (!c->follow || status != 0 || ++failures >= FOLLOW_MAX_FAILURES) {
                cli_error("%s of task %s: %s", file, task_id, why);
                goto out;
            }
            free(why);
            why = NULL;
            cli_pause(c, FOLLOW_POLL_SECS);
            continue;
        }
        failures = 0;
        const json_t *data = json_object_get(page, "data");
        size_t n = json_string_length(data);
        if (n > 0) {
            fwrite(json_string_value(data), 1, n, stdout);
            fflush(stdout);
            offset += (long long)n;
        }
        json_decref(page);
        if (n == LOGS_PAGE)
            continue; /* more is there already */
        if (!c->follow)
            break;
        cli_pause(c, FOLLOW_POLL_SECS);
    }
    rc = CLI_OK;
out:
    free(enc);
    free(file);
    free(why);
    free(task_id);
    free(host);
    json_decref(sst);
    json_decref(st);
    return rc;
}
