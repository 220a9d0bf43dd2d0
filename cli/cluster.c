/*
 * cluster: the commands that read the leading master's /master/state —
 * `cluster` (a summary), `slaves`, `frameworks` and `tasks`. With --json
 * they print the state's own objects (tasks filtered the same way), or
 * for `cluster` the summary as an object.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "master_follow.h"
#include "mem.h"
#include "task_state.h"
#include "timeutil.h"

static double res_get(const json_t *res, const char *name)
{
    const json_t *v = json_object_get(res, name);
    return json_is_number(v) ? json_number_value(v) : 0;
}

static const char *str(const json_t *o, const char *key)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : "";
}

/* --------------------------------------------------------------- cluster */

struct masters_listing {
    json_t *addrs; /* [{"host", "port"}] */
    bool done;
    int rc;
};

static void on_master(const char *name, const char *host, int port, int rc, void *arg)
{
    struct masters_listing *m = arg;
    if (name == NULL) {
        m->done = true;
        m->rc = rc;
    } else if (host) {
        json_array_append_new(m->addrs, json_pack("{s:s, s:i}", "host", host, "port", port));
    }
}

/* Every master known: the contenders in ZooKeeper, or the --master list;
 * each asked for its role. [{"address", "role": "leader" | "standby" |
 * "unreachable", "error"?}] */
static json_t *masters_json(struct cli *c)
{
    struct masters_listing m = { json_array(), false, 0 };
    json_t *out = json_array(), *a;
    size_t i;

    if (master_follow_zk(c->follow_master)) {
        double deadline = time_mono() + c->timeout;
        if (master_follow_list(c->follow_master, on_master, &m) == 0)
            while (!m.done && time_mono() < deadline)
                cli_pause(c, 0.05);
    } else {
        for (i = 0; i < master_follow_count(c->follow_master); i++) {
            const char *h;
            int port;
            master_follow_candidate(c->follow_master, i, &h, &port);
            json_array_append_new(m.addrs, json_pack("{s:s, s:i}", "host", h, "port", port));
        }
    }
    json_array_foreach(m.addrs, i, a)
    {
        const char *host = str(a, "host");
        int port = (int)json_integer_value(json_object_get(a, "port"));
        char *why = NULL;
        json_t *st = cli_master_state_at(c, host, port, &why);
        const json_t *elected = json_object_get(st, "elected");
        const char *role = st == NULL               ? "unreachable"
                           : json_is_false(elected) ? "standby"
                                                    : "leader";
        json_t *e =
            json_pack("{s:o, s:s}", "address", json_sprintf("%s:%d", host, port), "role", role);
        if (why)
            json_object_set_new(e, "error", json_string(why));
        json_array_append_new(out, e);
        free(why);
        json_decref(st);
    }
    json_decref(m.addrs);
    return out;
}

static json_t *summary_json(const struct cli *c, const json_t *st)
{
    static const char *const kinds[] = { "cpus", "mem", "disk" };
    json_t *res = json_object(), *tasks = json_object(), *f, *s, *t;
    long fw_active = 0, fw_inactive = 0, slaves_active = 0, slaves_inactive = 0;
    size_t i, k;

    for (k = 0; k < 3; k++)
        json_object_set_new(res, kinds[k], json_pack("{s:f, s:f}", "used", 0.0, "total", 0.0));
    json_array_foreach(json_object_get(st, "slaves"), i, s)
    {
        if (json_is_true(json_object_get(s, "active")))
            slaves_active++;
        else
            slaves_inactive++;
        for (k = 0; k < 3; k++) {
            json_t *r = json_object_get(res, kinds[k]);
            double used = json_real_value(json_object_get(r, "used")) +
                          res_get(json_object_get(s, "used_resources"), kinds[k]);
            double total = json_real_value(json_object_get(r, "total")) +
                           res_get(json_object_get(s, "resources"), kinds[k]);
            json_object_set_new(r, "used", json_real(used));
            json_object_set_new(r, "total", json_real(total));
        }
    }
    json_array_foreach(json_object_get(st, "frameworks"), i, f)
    {
        size_t j;
        if (json_is_true(json_object_get(f, "active")))
            fw_active++;
        else
            fw_inactive++;
        json_array_foreach(json_object_get(f, "tasks"), j, t)
        {
            const char *state = str(t, "state");
            json_int_t n = json_integer_value(json_object_get(tasks, state));
            json_object_set_new(tasks, state, json_integer(n + 1));
        }
    }
    return json_pack("{s:o, s:s?, s:s, s:b, s:{s:I, s:I, s:I}, s:{s:I, s:I}, s:o, s:o}", "master",
                     json_sprintf("%s:%d", c->master_host, c->master_port), "version",
                     json_string_value(json_object_get(st, "version")), "leader", str(st, "leader"),
                     "zk", c->master && strncmp(c->master, "zk://", 5) == 0, "slaves", "active",
                     (json_int_t)slaves_active, "inactive", (json_int_t)slaves_inactive,
                     "unreachable", json_integer_value(json_object_get(st, "unreachable_slaves")),
                     "frameworks", "active", (json_int_t)fw_active, "inactive",
                     (json_int_t)fw_inactive, "tasks", tasks, "resources", res);
}

int cmd_cluster(struct cli *c)
{
    json_t *st, *sum, *r;
    size_t i;
    const char *key;
    char used[64], pct[32];

    if (c->nargs > 0) {
        cli_error("cluster: takes no argument ('%s')", c->args[0]);
        return CLI_USAGE;
    }
    if ((st = cli_master_state(c)) == NULL)
        return CLI_FAIL;
    sum = summary_json(c, st);
    json_object_set_new(sum, "masters", masters_json(c));
    if (c->json) {
        cli_print_json(sum);
        goto out;
    }
    printf("leader      %s (version %s, asked %s:%d%s%s)\n", str(sum, "leader"),
           str(sum, "version"), c->master_host, c->master_port,
           json_is_true(json_object_get(sum, "zk")) ? " through " : "",
           json_is_true(json_object_get(sum, "zk")) ? c->master : "");
    printf("masters    ");
    json_array_foreach(json_object_get(sum, "masters"), i, r)
        printf("%s %s %s", i ? "," : "", str(r, "address"), str(r, "role"));
    printf("\n");
    r = json_object_get(sum, "slaves");
    printf("slaves      %lld active, %lld inactive, %lld unreachable\n",
           (long long)json_integer_value(json_object_get(r, "active")),
           (long long)json_integer_value(json_object_get(r, "inactive")),
           (long long)json_integer_value(json_object_get(r, "unreachable")));
    r = json_object_get(sum, "frameworks");
    printf("frameworks  %lld active, %lld inactive\n",
           (long long)json_integer_value(json_object_get(r, "active")),
           (long long)json_integer_value(json_object_get(r, "inactive")));
    printf("tasks      ");
    json_t *v;
    if (json_object_size(json_object_get(sum, "tasks")) == 0)
        printf(" none");
    json_object_foreach(json_object_get(sum, "tasks"), key, v)
    {
        /* TASK_RUNNING -> running */
        char low[64];
        size_t n = 0;
        for (const char *p = strncmp(key, "TASK_", 5) == 0 ? key + 5 : key; *p && n < 63; p++)
            low[n++] = (char)tolower((unsigned char)*p);
        low[n] = '\0';
        printf(" %lld %s", (long long)json_integer_value(v), low);
    }
    printf("\n");
    printf("resources   used/total\n");
    json_object_foreach(json_object_get(sum, "resources"), key, v)
    {
        double u = json_real_value(json_object_get(v, "used"));
        double t = json_real_value(json_object_get(v, "total"));
        fmt_used(used, sizeof(used), u, t, strcmp(key, "cpus") != 0);
        snprintf(pct, sizeof(pct), "%.0f%%", t > 0 ? 100 * u / t : 0);
        printf("  %-8s  %-20s %s\n", key, used, pct);
    }
out:
    json_decref(sum);
    json_decref(st);
    return CLI_OK;
}

/* ---------------------------------------------------------------- slaves */

/* The state for a listing command that takes no argument; NULL when the
 * command is over, *rc saying how: a usage error, no master, or --json
 * (the state's array `key` printed). */
static json_t *listing_state(struct cli *c, const char *cmd, const char *key, int *rc)
{
    json_t *st;
    *rc = CLI_USAGE;
    if (c->nargs > 0) {
        cli_error("%s: takes no argument ('%s')", cmd, c->args[0]);
        return NULL;
    }
    *rc = CLI_FAIL;
    if ((st = cli_master_state(c)) == NULL)
        return NULL;
    if (!c->json)
        return st;
    cli_print_json(json_object_get(st, key));
    json_decref(st);
    *rc = CLI_OK;
    return NULL;
}

/* "slave(1)@1.2.3.4:5051" -> "1.2.3.4:5051" */
static const char *pid_address(const char *pid)
{
    const char *at = strchr(pid, '@');
    return at ? at + 1 : pid;
}

static char *attributes_text(const json_t *attrs)
{
    const char *key;
    json_t *v;
    char *out = xstrdup("");
    json_object_foreach((json_t *)attrs, key, v)
    {
        char *val = json_is_string(v) ? xstrdup(json_string_value(v))
                                      : json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
        char *n = xasprintf("%s%s%s:%s", out, *out ? "," : "", key, val ? val : "");
        free(val);
        free(out);
        out = n;
    }
    return out;
}

int cmd_slaves(struct cli *c)
{
    static const char *const heads[] = { "ID",  "HOSTNAME", "ADDRESS", "STATE",     "CPUS",
                                         "MEM", "DISK",     "TASKS",   "ATTRIBUTES" };
    json_t *st, *s;
    size_t i;
    int rc;

    if ((st = listing_state(c, "slaves", "slaves", &rc)) == NULL)
        return rc;
    struct table *t = table_new(9, heads, TABLE_FLEX(0) | TABLE_FLEX(1) | TABLE_FLEX(8));
    json_array_foreach(json_object_get(st, "slaves"), i, s)
    {
        const json_t *tot = json_object_get(s, "resources"),
                     *used = json_object_get(s, "used_resources");
        char cpus[64], mem[64], disk[64], tasks[32];
        char *attrs = attributes_text(json_object_get(s, "attributes"));
        fmt_used(cpus, sizeof(cpus), res_get(used, "cpus"), res_get(tot, "cpus"), false);
        fmt_used(mem, sizeof(mem), res_get(used, "mem"), res_get(tot, "mem"), true);
        fmt_used(disk, sizeof(disk), res_get(used, "disk"), res_get(tot, "disk"), true);
        snprintf(tasks, sizeof(tasks), "%lld",
                 (long long)json_integer_value(json_object_get(s, "task_count")));
        const char *cells[] = { str(s, "id"),
                                str(s, "hostname"),
                                pid_address(str(s, "pid")),
                                str(s, "state"),
                                cpus,
                                mem,
                                disk,
                                tasks,
                                attrs };
        table_add(t, cells);
        free(attrs);
    }
    table_show(t, c);
    json_decref(st);
    return CLI_OK;
}

/* ------------------------------------------------------------ frameworks */

int cmd_frameworks(struct cli *c)
{
    static const char *const heads[] = { "ID",    "NAME", "ROLE", "STATE",
                                         "TASKS", "CPUS", "MEM",  "DISK" };
    json_t *st, *f;
    size_t i;
    int rc;

    if ((st = listing_state(c, "frameworks", "frameworks", &rc)) == NULL)
        return rc;
    struct table *t = table_new(8, heads, TABLE_FLEX(0) | TABLE_FLEX(1));
    json_array_foreach(json_object_get(st, "frameworks"), i, f)
    {
        const json_t *used = json_object_get(f, "used_resources");
        char cpus[32], mem[32], disk[32], tasks[32];
        fmt_num(cpus, sizeof(cpus), res_get(used, "cpus"));
        fmt_mb(mem, sizeof(mem), res_get(used, "mem"));
        fmt_mb(disk, sizeof(disk), res_get(used, "disk"));
        snprintf(tasks, sizeof(tasks), "%zu", json_array_size(json_object_get(f, "tasks")));
        const char *cells[] = {
            str(f, "id"), str(f, "name"), str(f, "role"), str(f, "state"), tasks, cpus, mem, disk
        };
        table_add(t, cells);
    }
    table_show(t, c);
    json_decref(st);
    return CLI_OK;
}

/* ----------------------------------------------------------------- tasks */

/* "running", "task_running", "TASK_RUNNING" -> "TASK_RUNNING"; NULL when
 * it names no state. Caller frees. */
static char *state_name(const char *s)
{
    char *up = xasprintf("%s%s", strncasecmp(s, "TASK_", 5) == 0 ? "" : "TASK_", s);
    for (char *p = up; *p; p++)
        *p = (char)toupper((unsigned char)*p);
    if (protobuf_c_enum_descriptor_get_value_by_name(&mesos__v1__task_state__descriptor, up) ==
        NULL) {
        free(up);
        return NULL;
    }
    return up;
}

static bool state_is_terminal(const char *name)
{
    const ProtobufCEnumValue *v =
        protobuf_c_enum_descriptor_get_value_by_name(&mesos__v1__task_state__descriptor, name);
    return v && task_state_terminal((Mesos__V1__TaskState)v->value);
}

static const char *slave_hostname(const json_t *st, const char *slave_id)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(st, "slaves"), i,
                       s) if (strcmp(str(s, "id"), slave_id) == 0) return str(s, "hostname");
    return slave_id;
}

int cmd_tasks(struct cli *c)
{
    static const char *const heads[] = { "ID",    "FRAMEWORK", "STATE", "HEALTH",
                                         "SLAVE", "CPUS",      "MEM",   "NAME" };
    static const char *const lists[] = { "tasks", "unreachable_tasks", "completed_tasks" };
    char *want = NULL;
    json_t *st, *f, *t, *out;
    size_t i, j;
    int rc = CLI_FAIL;

    if (c->nargs > 0) {
        cli_error("tasks: takes no argument ('%s'); filter with --framework= and --state=",
                  c->args[0]);
        return CLI_USAGE;
    }
    if (c->state && (want = state_name(c->state)) == NULL) {
        cli_error("--state=%s: not a task state (e.g. running, staging, finished, failed, "
                  "killed, lost)",
                  c->state);
        return CLI_USAGE;
    }
    if ((st = cli_master_state(c)) == NULL)
        goto out;
    /* Completed tasks are shown with --all, or when a terminal state is asked for. */
    bool completed = c->all || (want && state_is_terminal(want));
    out = json_array();
    bool fw_seen = c->framework == NULL;
    json_array_foreach(json_object_get(st, "frameworks"), i, f)
    {
        if (c->framework && strcmp(str(f, "id"), c->framework) != 0 &&
            strcmp(str(f, "name"), c->framework) != 0)
            continue;
        fw_seen = true;
        for (size_t l = 0; l < (completed ? 3u : 2u); l++) {
            json_array_foreach(json_object_get(f, lists[l]), j, t)
            {
                if (want && strcmp(str(t, "state"), want) != 0)
                    continue;
                json_t *copy = json_copy(t);
                json_object_set_new(copy, "framework_name", json_string(str(f, "name")));
                json_array_append_new(out, copy);
            }
        }
    }
    if (!fw_seen) {
        cli_error("--framework=%s: no such framework (agora frameworks lists them)", c->framework);
        json_decref(out);
        goto out;
    }
    rc = CLI_OK;
    if (c->json) {
        cli_print_json(out);
        json_decref(out);
        goto out;
    }
    struct table *tb = table_new(8, heads, TABLE_FLEX(0) | TABLE_FLEX(1) | TABLE_FLEX(7));
    json_array_foreach(out, i, t)
    {
        const json_t *res = json_object_get(t, "resources"), *h = json_object_get(t, "healthy");
        char cpus[32], mem[32];
        fmt_num(cpus, sizeof(cpus), res_get(res, "cpus"));
        fmt_mb(mem, sizeof(mem), res_get(res, "mem"));
        const char *cells[] = { str(t, "id"),
                                str(t, "framework_name"),
                                str(t, "state"),
                                json_is_true(h)    ? "healthy"
                                : json_is_false(h) ? "unhealthy"
                                                   : "-",
                                slave_hostname(st, str(t, "slave_id")),
                                cpus,
                                mem,
                                str(t, "name") };
        table_add(tb, cells);
    }
    table_show(tb, c);
    json_decref(out);
out:
    json_decref(st);
    free(want);
    return rc;
}
