/*
 * main: start-up of `agora`. Splits the command line into flags and
 * positional words (flags may stand anywhere, `-f` is --follow, `--` ends
 * the flags), parses the flags with common/flags (so every flag also
 * comes from AGORA_<NAME>, e.g. AGORA_MASTER, AGORA_PACER), checks that
 * the command takes them, and runs the command.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>

#include "cli.h"
#include "flags.h"
#include "log.h"
#include "master_follow.h"
#include "mem.h"

#define CLI_USAGE_TEXT                                                                   \
    "usage: agora [--master=HOST:PORT|zk://hosts/path] [--pacer=URL] [--json] COMMAND\n" \
    "\n"                                                                                 \
    "  cluster                     masters, slaves, frameworks, resources used/total\n"  \
    "  slaves                      the slaves and their resources\n"                     \
    "  frameworks                  the frameworks and what they use\n"                   \
    "  tasks [--framework=ID|NAME] [--state=STATE] [--all]\n"                            \
    "  logs TASK [--stderr] [-f]   a task's stdout (or stderr); -f follows it\n"         \
    "  app list                    Pacer's apps\n"                                       \
    "  app show ID                 one app: instances, deployments, queue\n"             \
    "  app deploy FILE [--wait]    create or update an app from a JSON file (- stdin)\n" \
    "  app scale ID N [--wait]\n"                                                        \
    "  app restart ID [--wait]\n"                                                        \
    "  app rollback ID [VERSION] [--wait]\n"                                             \
    "  app destroy ID [--wait]\n"                                                        \
    "\n"                                                                                 \
    "--wait follows the deployment with a progress line until it ends (exit 0) or\n"     \
    "fails or --timeout passes (exit 1, with the reason). Exit 2: bad usage.\n"          \
    "\n"                                                                                 \
    "flags:"

struct command {
    const char *name;
    int (*fn)(struct cli *c);
    const char *flags; /* the command's own flags, ","-separated */
};

static const struct command commands[] = {
    { "cluster", cmd_cluster, "" },        { "slaves", cmd_slaves, "" },
    { "frameworks", cmd_frameworks, "" },  { "tasks", cmd_tasks, "framework,state,all" },
    { "logs", cmd_logs, "stderr,follow" }, { "app", cmd_app, "wait,timeout,force" },
};

/* Flags every command takes. */
static const char *const global_flags =
    "master,pacer,json,request_timeout,principal,secret_file,ssl_ca,ssl";

static bool name_in(const char *list, const char *name, size_t len)
{
    for (const char *p = list; *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len) {
            size_t i;
            for (i = 0; i < len; i++) {
                char a = name[i] == '-' ? '_' : name[i];
                if (a != p[i])
                    break;
            }
            if (i == len)
                return true;
        }
        if (!end)
            break;
        p = end + 1;
    }
    return false;
}

/* Does cmd take --arg (arg: "--name[=value]", "--no-name")? */
static bool flag_allowed(const struct command *cmd, const char *arg)
{
    const char *name = arg + 2;
    size_t len = strcspn(name, "=");
    if (name_in(global_flags, name, len) || name_in(cmd->flags, name, len))
        return true;
    if (len > 3 && (strncmp(name, "no-", 3) == 0 || strncmp(name, "no_", 3) == 0))
        return name_in(global_flags, name + 3, len - 3) || name_in(cmd->flags, name + 3, len - 3);
    return false;
}

int main(int argc, char **argv)
{
    struct cli c = { 0 };
    const struct flag table[] = {
        { "master", FLAG_STRING, &c.master, "127.0.0.1:5050",
          "The master: HOST:PORT[,HOST:PORT...] (the leader is found) or zk://hosts/path" },
        { "pacer", FLAG_STRING, &c.pacer, "http://127.0.0.1:8080", "Pacer's URL (app commands)" },
        { "json", FLAG_BOOL, &c.json, "false", "Print the raw JSON (for scripts)" },
        { "request_timeout", FLAG_DURATION, &c.timeout, "10secs", "Deadline of one HTTP request" },
        { "principal", FLAG_STRING, &c.principal, NULL,
          "HTTP Basic credentials for the master, the slaves (logs) and Pacer: the principal" },
        { "secret_file", FLAG_STRING, &c.secret_file, NULL,
          "A file holding the principal's secret (first line), never a flag value" },
        { "ssl_ca", FLAG_STRING, &c.ssl_ca, NULL,
          "TLS: the CA bundle the servers' certificates are verified with" },
        { "ssl", FLAG_BOOL, &c.ssl, "false", "TLS with the system's CA bundle" },
        { "framework", FLAG_STRING, &c.framework, NULL, "tasks: only this framework (id or name)" },
        { "state", FLAG_STRING, &c.state, NULL,
          "tasks: only tasks in this state (TASK_RUNNING, running, finished, ...)" },
        { "all", FLAG_BOOL, &c.all, "false", "tasks: completed tasks too" },
        { "stderr", FLAG_BOOL, &c.use_stderr, "false", "logs: the task's stderr" },
        { "follow", FLAG_BOOL, &c.follow, "false", "logs: follow new lines until Ctrl-C (-f)" },
        { "wait", FLAG_BOOL, &c.wait, "false", "app changes: follow the deployment to its end" },
        { "timeout", FLAG_DURATION, &c.wait_timeout, "5mins",
          "app --wait: how long the deployment may take" },
        { "force", FLAG_BOOL, &c.force, "false", "app changes: override a running deployment" },
    };
    const size_t nflags = sizeof(table) / sizeof(table[0]);
    char **fargv = xcalloc((size_t)argc + 1, sizeof(char *));
    int fargc = 1, rc = CLI_USAGE;
    const struct command *cmd = NULL;
    char *err = NULL;
    bool help = false, flags_done = false;

    mem_init();
    log_set_level(LOG_LVL_ERROR);
    signal(SIGPIPE, SIG_IGN);
    c.args = xcalloc((size_t)argc + 1, sizeof(char *));
    fargv[0] = argv[0];
    for (int a = 1; a < argc; a++) {
        const char *arg = argv[a];
        if (!flags_done && strcmp(arg, "--") == 0)
            flags_done = true;
        else if (!flags_done && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0))
            help = true;
        else if (!flags_done && strcmp(arg, "-f") == 0)
            fargv[fargc++] = "--follow";
        else if (!flags_done && strncmp(arg, "--", 2) == 0)
            fargv[fargc++] = argv[a];
        else if (!flags_done && arg[0] == '-' && arg[1] != '\0') {
            cli_error("unknown option '%s' (flags are --name=value; -f is --follow)", arg);
            goto out;
        } else
            c.args[c.nargs++] = argv[a];
    }
    if (help || c.nargs == 0) {
        const char *hargv[] = { argv[0], "--help" };
        flags_parse(table, nflags, 2, (char **)hargv, CLI_USAGE_TEXT, NULL);
        rc = help ? CLI_OK : CLI_USAGE;
        goto out;
    }
    for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
        if (strcmp(commands[i].name, c.args[0]) == 0)
            cmd = &commands[i];
    if (cmd == NULL) {
        cli_error("unknown command '%s' (agora --help lists them)", c.args[0]);
        goto out;
    }
    for (int a = 1; a < fargc; a++) {
        if (!flag_allowed(cmd, fargv[a])) {
            cli_error("%s: does not take '%.*s'", cmd->name, (int)strcspn(fargv[a], "="), fargv[a]);
            goto out;
        }
    }
    if (flags_parse(table, nflags, fargc, fargv, CLI_USAGE_TEXT, &err) != 0) {
        cli_error("%s", err);
        goto out;
    }
    /* The command sees its own words only. */
    c.args++;
    c.nargs--;
    c.tty = isatty(STDOUT_FILENO);
    c.stderr_tty = isatty(STDERR_FILENO);
    c.width = table_term_width(STDOUT_FILENO, c.tty ? 80 : 120);
    if (cli_security_setup(&c) < 0)
        goto out;
    c.base = event_base_new();
    rc = cmd->fn(&c);
    c.args--;
    fflush(stdout);
    master_follow_free(c.follow_master);
    free(c.master_host);
    free(c.auth_header);
    event_base_free(c.base);
out:
    flags_cleanup(table, nflags);
    free(err);
    free(c.args);
    free(fargv);
    return rc;
}
