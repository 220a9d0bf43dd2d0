/*
 * testkit: libagora-testkit (include/agora/testkit.h) — a standalone
 * agora-master and N agora-slaves as child processes of a framework's
 * test, and the failures a test inflicts on them.
 *
 * Each daemon has a directory under the kit's work directory (its
 * --work_dir, its port file and its log). It starts with --port=0 the
 * first time and with the port it bound ever after, so that a restarted
 * master is found where the slaves and the framework look for it. A start
 * is complete when the daemon wrote its --port_file (daemons write it
 * once they serve); a daemon that exits first is an error quoting the end
 * of its log.
 *
 * Blocking by design: this is test code on the test's thread, not a
 * daemon loop (docs/internals/testkit.md).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "agora/testkit.h"
#include "mem.h"

#define TK_MAX_ARGS 64
#define TK_POLL_MS 10

struct tk_daemon {
    const char *binary; /* "agora-master" or "agora-slave" */
    char *dir;          /* work dir, port file and log */
    pid_t pid;          /* 0: not running */
    int port;           /* bound by the first start, reused later */
    bool stopped;       /* SIGSTOPped by partition_slave */
    int index;          /* slave number (-1: the master) */
};

struct agora_testkit {
    char *bin_dir;
    char *work_dir;
    bool own_work_dir; /* made by the kit: removed by free */
    char *slave_resources;
    double ping_timeout;
    int max_ping_timeouts;
    char **master_args, **slave_args; /* NULL-terminated copies */
    double start_timeout;
    struct tk_daemon master;
    struct tk_daemon slaves[AGORA_TESTKIT_MAX_SLAVES];
    int nslaves;
    char master_addr[32];
    char error[1024];
};

static int tk_fail(struct agora_testkit *k, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static int tk_fail(struct agora_testkit *k, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(k->error, sizeof(k->error), fmt, ap);
    va_end(ap);
    return -1;
}

static double tk_now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void tk_sleep_ms(unsigned ms)
{
    struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
        ;
}

static char **tk_copy_args(const char *const *args)
{
    size_t n = 0;
    char **out;

    while (args && args[n])
        n++;
    out = xcalloc(n + 1, sizeof(*out));
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(args[i]);
    return out;
}

static void tk_free_args(char **args)
{
    for (size_t i = 0; args && args[i]; i++)
        free(args[i]);
    free(args);
}

/* ------------------------------------------------------------ processes */

/* The last bytes of a daemon's log, for an error message. */
static void tk_log_tail(const struct tk_daemon *d, char *out, size_t len)
{
    char path[PATH_MAX];
    FILE *f;
    long size;
    size_t n;

    out[0] = '\0';
    snprintf(path, sizeof(path), "%s/log", d->dir);
    f = fopen(path, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, size > (long)len - 1 ? size - (long)len + 1 : 0, SEEK_SET);
    n = fread(out, 1, len - 1, f);
    out[n] = '\0';
    fclose(f);
}

static int tk_read_port(const struct tk_daemon *d)
{
    char path[PATH_MAX];
    FILE *f;
    int port = 0;

    snprintf(path, sizeof(path), "%s/port", d->dir);
    f = fopen(path, "r");
    if (!f)
        return 0;
    if (fscanf(f, "%d", &port) != 1)
        port = 0;
    fclose(f);
    return port;
}

/* The daemon's argv: its binary, the flags every start gets, then the
 * caller's. Strings are the caller's to free (tk_free_args). */
static char **tk_argv(struct agora_testkit *k, const struct tk_daemon *d)
{
    const char *argv[TK_MAX_ARGS];
    char **extra = d->index < 0 ? k->master_args : k->slave_args;
    char buf[6][512];
    size_t n = 0;

    argv[n++] = d->binary;
    snprintf(buf[0], sizeof(buf[0]), "--port=%d", d->port);
    snprintf(buf[1], sizeof(buf[1]), "--port_file=%s/port", d->dir);
    snprintf(buf[2], sizeof(buf[2]), "--work_dir=%s", d->dir);
    argv[n++] = buf[0];
    argv[n++] = buf[1];
    argv[n++] = buf[2];
    if (d->index < 0) {
        snprintf(buf[3], sizeof(buf[3]), "--slave_ping_timeout=%dms",
                 (int)(k->ping_timeout * 1000 + 0.5));
        snprintf(buf[4], sizeof(buf[4]), "--max_slave_ping_timeouts=%d", k->max_ping_timeouts);
        argv[n++] = buf[3];
        argv[n++] = buf[4];
    } else {
        snprintf(buf[3], sizeof(buf[3]), "--master=%s", k->master_addr);
        snprintf(buf[4], sizeof(buf[4]), "--hostname=slave%d", d->index);
        if (k->slave_resources)
            snprintf(buf[5], sizeof(buf[5]), "--resources=%s", k->slave_resources);
        else
            snprintf(buf[5], sizeof(buf[5]), "--resources=cpus:2;mem:1024;disk:1000;ports:[%d-%d]",
                     31000 + 100 * d->index, 31099 + 100 * d->index);
        argv[n++] = buf[3];
        argv[n++] = buf[4];
        argv[n++] = buf[5];
        argv[n++] = "--isolation=none";
    }
    for (size_t i = 0; extra && extra[i] && n < TK_MAX_ARGS - 1; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    return tk_copy_args(argv);
}

static int tk_start(struct agora_testkit *k, struct tk_daemon *d)
{
    char path[PATH_MAX], log[PATH_MAX], exe[PATH_MAX];
    char **argv;
    pid_t pid;
    double deadline;

    if (d->pid)
        return tk_fail(k, "%s is running already", d->binary);
    snprintf(path, sizeof(path), "%s/port", d->dir);
    unlink(path);
    snprintf(log, sizeof(log), "%s/log", d->dir);
    if (k->bin_dir)
        snprintf(exe, sizeof(exe), "%s/%s", k->bin_dir, d->binary);
    else
        snprintf(exe, sizeof(exe), "%s", d->binary);
    argv = tk_argv(k, d);
    pid = fork();
    if (pid < 0) {
        tk_free_args(argv);
        return tk_fail(k, "fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* The child: dies with the test, writes to its log, reads nothing. */
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
        }
        if (null >= 0)
            dup2(null, STDIN_FILENO);
        if (k->bin_dir)
            execv(exe, argv);
        else
            execvp(exe, argv);
        fprintf(stderr, "testkit: cannot run %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    tk_free_args(argv);
    d->pid = pid;
    d->stopped = false;
    deadline = tk_now() + k->start_timeout;
    for (;;) {
        int status, port = tk_read_port(d);
        if (port > 0) {
            d->port = port;
            return 0;
        }
        if (waitpid(pid, &status, WNOHANG) == pid) {
            char tail[600];
            d->pid = 0;
            tk_log_tail(d, tail, sizeof(tail));
            return tk_fail(k, "%s exited (status %d) before serving: %s", d->binary, status, tail);
        }
        if (tk_now() > deadline) {
            char tail[600];
            tk_log_tail(d, tail, sizeof(tail));
            kill(pid, SIGKILL);
            waitpid(pid, NULL, 0);
            d->pid = 0;
            return tk_fail(k, "%s did not serve within %.0f s: %s", d->binary, k->start_timeout,
                           tail);
        }
        tk_sleep_ms(TK_POLL_MS);
    }
}

static int tk_kill(struct agora_testkit *k, struct tk_daemon *d)
{
    if (!d->pid)
        return tk_fail(k, "%s is not running", d->binary);
    kill(d->pid, SIGKILL); /* a stopped process dies of SIGKILL as well */
    while (waitpid(d->pid, NULL, 0) < 0 && errno == EINTR)
        ;
    d->pid = 0;
    d->stopped = false;
    return 0;
}

static int tk_signal(struct agora_testkit *k, struct tk_daemon *d, int sig, bool stopped)
{
    if (!d->pid)
        return tk_fail(k, "%s is not running", d->binary);
    if (kill(d->pid, sig) < 0)
        return tk_fail(k, "kill %d: %s", (int)d->pid, strerror(errno));
    d->stopped = stopped;
    return 0;
}

/* What a kit leaves behind must go: the tasks of its slaves (which, with
 * isolation=none, outlive a killed slave) and their helpers. */
#define TK_MAX_PIDS 4096

struct tk_pids {
    pid_t v[TK_MAX_PIDS];
    size_t n;
};

static bool tk_pids_has(const struct tk_pids *p, pid_t pid)
{
    for (size_t i = 0; i < p->n; i++)
        if (p->v[i] == pid)
            return true;
    return false;
}

static void tk_pids_add(struct tk_pids *p, pid_t pid)
{
    if (p->n < TK_MAX_PIDS && !tk_pids_has(p, pid))
        p->v[p->n++] = pid;
}

/* The parent of pid, or 0. */
static pid_t tk_ppid(pid_t pid, char *state)
{
    char path[64], buf[512];
    FILE *f;
    int ppid = 0;
    char st = '?';

    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* "pid (comm) S ppid ...": comm may hold spaces and parentheses. */
    char *rp = strrchr(buf, ')');
    if (!rp || sscanf(rp + 1, " %c %d", &st, &ppid) != 2)
        return 0;
    if (state)
        *state = st;
    return (pid_t)ppid;
}

/* Add to p every process whose cwd is under the kit's work directory (a
 * task in its sandbox) and every descendant of a process in p. */
static void tk_collect(const struct agora_testkit *k, struct tk_pids *p)
{
    size_t wl = strlen(k->work_dir), before;

    do {
        DIR *proc = opendir("/proc");
        struct dirent *e;
        before = p->n;
        if (!proc)
            return;
        while ((e = readdir(proc)) != NULL) {
            char link[64], cwd[PATH_MAX];
            char *end;
            long pid = strtol(e->d_name, &end, 10);
            if (*end || pid <= 1 || pid == getpid() || tk_pids_has(p, (pid_t)pid))
                continue;
            if (tk_pids_has(p, tk_ppid((pid_t)pid, NULL))) {
                tk_pids_add(p, (pid_t)pid);
                continue;
            }
            snprintf(link, sizeof(link), "/proc/%ld/cwd", pid);
            ssize_t n = readlink(link, cwd, sizeof(cwd) - 1);
            if (n <= 0)
                continue;
            cwd[n] = '\0';
            if (strncmp(cwd, k->work_dir, wl) == 0 && (cwd[wl] == '/' || cwd[wl] == '\0'))
                tk_pids_add(p, (pid_t)pid);
        }
        closedir(proc);
    } while (p->n != before); /* new members may have children */
}

/* SIGKILL every process of p and wait (at most 2 s) until each is gone or
 * a zombie, so that nothing writes into the work directory afterwards. */
static void tk_kill_all(struct tk_pids *p)
{
    double deadline = tk_now() + 2;

    for (size_t i = 0; i < p->n; i++)
        kill(p->v[i], SIGKILL);
    for (size_t i = 0; i < p->n; i++) {
        char st = '?';
        while (tk_ppid(p->v[i], &st) && st != 'Z' && tk_now() < deadline)
            tk_sleep_ms(TK_POLL_MS);
    }
}

static int tk_rm(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    remove(path);
    return 0;
}

/* ----------------------------------------------------------------- HTTP */

struct tk_buf {
    char *data;
    size_t len;
};

static size_t tk_write(char *ptr, size_t size, size_t n, void *arg)
{
    struct tk_buf *b = arg;
    size_t add = size * n;

    b->data = xrealloc(b->data, b->len + add + 1);
    memcpy(b->data + b->len, ptr, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

char *agora_testkit_master_state(struct agora_testkit *k)
{
    char url[128];
    struct tk_buf b = { 0 };
    long code = 0;
    CURL *c;

    if (!k->master.pid) {
        tk_fail(k, "the master is not running");
        return NULL;
    }
    c = curl_easy_init();
    if (!c) {
        tk_fail(k, "curl_easy_init failed");
        return NULL;
    }
    snprintf(url, sizeof(url), "http://%s/master/state", k->master_addr);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, tk_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    if (rc != CURLE_OK || code != 200) {
        tk_fail(k, "GET %s: %s (HTTP %ld)", url, curl_easy_strerror(rc), code);
        free(b.data);
        return NULL;
    }
    return b.data;
}

static int tk_active_slaves(struct agora_testkit *k)
{
    char *body = agora_testkit_master_state(k);
    json_t *j;
    int n = -1;

    if (!body)
        return -1;
    j = json_loads(body, 0, NULL);
    free(body);
    if (j && json_is_integer(json_object_get(j, "activated_slaves")))
        n = (int)json_integer_value(json_object_get(j, "activated_slaves"));
    json_decref(j);
    return n;
}

/* ---------------------------------------------------------------- API */

int agora_testkit_wait(struct agora_testkit *k, bool (*cond)(void *ctx), void *ctx,
                       unsigned timeout_ms)
{
    double deadline = tk_now() + timeout_ms / 1000.0;

    for (;;) {
        if (cond(ctx))
            return 0;
        if (tk_now() > deadline)
            return tk_fail(k, "condition not met within %u ms", timeout_ms);
        tk_sleep_ms(TK_POLL_MS);
    }
}

int agora_testkit_wait_slaves(struct agora_testkit *k, int n, unsigned timeout_ms)
{
    double deadline = tk_now() + timeout_ms / 1000.0;
    int have = -1;

    for (;;) {
        have = tk_active_slaves(k);
        if (have == n)
            return 0;
        if (tk_now() > deadline)
            return tk_fail(k, "%d active slaves, not %d, after %u ms", have, n, timeout_ms);
        tk_sleep_ms(50);
    }
}

static void tk_daemon_init(struct agora_testkit *k, struct tk_daemon *d, const char *binary,
                           int index)
{
    d->binary = binary;
    d->index = index;
    if (index < 0)
        d->dir = xasprintf("%s/master", k->work_dir);
    else
        d->dir = xasprintf("%s/slave%d", k->work_dir, index);
    mkdir(d->dir, 0755);
}

struct agora_testkit *agora_testkit_start(const struct agora_testkit_config *cfg, char **err)
{
    struct agora_testkit *k;
    const char *bin;

    if (!cfg || cfg->nslaves < 0 || cfg->nslaves > AGORA_TESTKIT_MAX_SLAVES) {
        if (err)
            *err = xasprintf("nslaves: must be 0..%d", AGORA_TESTKIT_MAX_SLAVES);
        return NULL;
    }
    if (cfg->ping_timeout < 0 || cfg->max_ping_timeouts < 0 || cfg->start_timeout < 0) {
        if (err)
            *err = xstrdup("ping_timeout, max_ping_timeouts, start_timeout: must not be negative");
        return NULL;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    k = xcalloc(1, sizeof(*k));
    bin = cfg->bin_dir ? cfg->bin_dir : getenv("AGORA_BIN_DIR");
    k->bin_dir = bin && *bin ? xstrdup(bin) : NULL;
    if (cfg->work_dir) {
        k->work_dir = xstrdup(cfg->work_dir);
        mkdir(k->work_dir, 0755);
    } else {
        const char *tmp = getenv("TMPDIR");
        char *tmpl = xasprintf("%s/agora-testkit-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(tmpl)) {
            if (err)
                *err = xasprintf("work_dir: mkdtemp %s: %s", tmpl, strerror(errno));
            free(tmpl);
            free(k->bin_dir);
            free(k);
            return NULL;
        }
        k->work_dir = tmpl;
        k->own_work_dir = true;
    }
    k->slave_resources = cfg->slave_resources ? xstrdup(cfg->slave_resources) : NULL;
    k->ping_timeout = cfg->ping_timeout > 0 ? cfg->ping_timeout : 0.5;
    k->max_ping_timeouts = cfg->max_ping_timeouts > 0 ? cfg->max_ping_timeouts : 2;
    k->start_timeout = cfg->start_timeout > 0 ? cfg->start_timeout : 15;
    k->master_args = tk_copy_args(cfg->master_args);
    k->slave_args = tk_copy_args(cfg->slave_args);
    k->nslaves = cfg->nslaves;

    tk_daemon_init(k, &k->master, "agora-master", -1);
    for (int i = 0; i < k->nslaves; i++)
        tk_daemon_init(k, &k->slaves[i], "agora-slave", i);
    if (tk_start(k, &k->master) < 0)
        goto fail;
    snprintf(k->master_addr, sizeof(k->master_addr), "127.0.0.1:%d", k->master.port);
    for (int i = 0; i < k->nslaves; i++)
        if (tk_start(k, &k->slaves[i]) < 0)
            goto fail;
    if (agora_testkit_wait_slaves(k, k->nslaves, (unsigned)(k->start_timeout * 1000)) < 0)
        goto fail;
    return k;

fail:
    if (err)
        *err = xstrdup(k->error);
    agora_testkit_free(k);
    return NULL;
}

void agora_testkit_free(struct agora_testkit *k)
{
    struct tk_pids *left;

    if (!k)
        return;
    /* The slaves' descendants first, while they are still theirs. */
    left = xcalloc(1, sizeof(*left));
    pid_t roots[AGORA_TESTKIT_MAX_SLAVES] = { 0 };
    for (int i = 0; i < k->nslaves; i++) {
        roots[i] = k->slaves[i].pid;
        if (roots[i])
            tk_pids_add(left, roots[i]);
    }
    tk_collect(k, left);
    for (int i = 0; i < k->nslaves; i++) {
        if (k->slaves[i].pid)
            tk_kill(k, &k->slaves[i]);
        free(k->slaves[i].dir);
    }
    if (k->master.pid)
        tk_kill(k, &k->master);
    free(k->master.dir);
    tk_collect(k, left);
    /* The slaves themselves are reaped already: their pids are no longer
     * ours to signal. */
    for (size_t i = 0; i < left->n;) {
        bool slave = false;
        for (int j = 0; j < k->nslaves; j++)
            slave |= left->v[i] == roots[j];
        if (slave)
            left->v[i] = left->v[--left->n];
        else
            i++;
    }
    tk_kill_all(left);
    free(left);
    /* AGORA_TESTKIT_KEEP=1 keeps the logs of a failed run to read. */
    const char *keep = getenv("AGORA_TESTKIT_KEEP");
    if (k->own_work_dir && !(keep && strcmp(keep, "1") == 0))
        nftw(k->work_dir, tk_rm, 16, FTW_DEPTH | FTW_PHYS);
    tk_free_args(k->master_args);
    tk_free_args(k->slave_args);
    free(k->slave_resources);
    free(k->work_dir);
    free(k->bin_dir);
    free(k);
}

const char *agora_testkit_master(const struct agora_testkit *k)
{
    return k->master_addr;
}

const char *agora_testkit_work_dir(const struct agora_testkit *k)
{
    return k->work_dir;
}

const char *agora_testkit_error(const struct agora_testkit *k)
{
    return k->error;
}

int agora_testkit_kill_master(struct agora_testkit *k)
{
    return tk_kill(k, &k->master);
}

int agora_testkit_start_master(struct agora_testkit *k)
{
    return tk_start(k, &k->master);
}

int agora_testkit_restart_master(struct agora_testkit *k)
{
    if (k->master.pid && tk_kill(k, &k->master) < 0)
        return -1;
    return tk_start(k, &k->master);
}

static struct tk_daemon *tk_slave(struct agora_testkit *k, int i)
{
    if (i < 0 || i >= k->nslaves) {
        tk_fail(k, "slave %d: the kit has %d slaves", i, k->nslaves);
        return NULL;
    }
    return &k->slaves[i];
}

int agora_testkit_kill_slave(struct agora_testkit *k, int i)
{
    struct tk_daemon *d = tk_slave(k, i);
    return d ? tk_kill(k, d) : -1;
}

int agora_testkit_start_slave(struct agora_testkit *k, int i)
{
    struct tk_daemon *d = tk_slave(k, i);
    return d ? tk_start(k, d) : -1;
}

int agora_testkit_partition_slave(struct agora_testkit *k, int i)
{
    struct tk_daemon *d = tk_slave(k, i);
    return d ? tk_signal(k, d, SIGSTOP, true) : -1;
}

int agora_testkit_heal_slave(struct agora_testkit *k, int i)
{
    struct tk_daemon *d = tk_slave(k, i);
    return d ? tk_signal(k, d, SIGCONT, false) : -1;
}

int agora_testkit_slave_pid(const struct agora_testkit *k, int i)
{
    return i >= 0 && i < k->nslaves ? (int)k->slaves[i].pid : 0;
}
