/*
 * master_follow.c: following the leading master (master_follow.h has the
 * contract): the --master parser, and for zk:// the session, the detector
 * and the MasterInfo JSON -> address step, written once for the slave and
 * the scheduler library.
 */
#define _GNU_SOURCE
#include "master_follow.h"

#include <stdlib.h>
#include <string.h>

#include "detector.h"
#include "http.h"
#include "log.h"
#include "mem.h"
#include "zk.h"

struct candidate {
    char *host;
    int port;
};

struct master_follow {
    char *zk_hosts, *zk_path; /* zk:// */
    struct zk *zk;
    struct detector *detector;
    char *leader_host; /* NULL while none known */
    int leader_port;
    master_follow_fn fn;
    void *arg;
    struct candidate *cands; /* HOST:PORT list */
    size_t ncands;
    struct listing *listings; /* master_follow_list calls in flight */
};

struct master_follow *master_follow_new(const char *master, char **err)
{
    struct master_follow *f = xcalloc(1, sizeof(*f));
    char *copy = NULL, *save = NULL, *e = NULL;
    if (!master || !*master) {
        *err = xstrdup("missing (expected HOST:PORT or zk://hosts/path)");
        goto fail;
    }
    if (strncmp(master, "zk://", 5) == 0) {
        if (zk_parse_url(master, &f->zk_hosts, &f->zk_path, &e) < 0) {
            *err = e;
            goto fail;
        }
        return f;
    }
    copy = xstrdup(master);
    for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
        char *host = NULL;
        int port = 0;
        if (http_parse_hostport(tok, 5050, &host, &port) < 0 || port <= 0 || port > 65535) {
            free(host);
            *err = xasprintf("'%s' is not HOST:PORT", tok);
            goto fail;
        }
        f->cands = xrealloc(f->cands, (f->ncands + 1) * sizeof(*f->cands));
        f->cands[f->ncands].host = host;
        f->cands[f->ncands].port = port;
        f->ncands++;
    }
    if (f->ncands == 0) {
        *err = xasprintf("'%s' names no master", master);
        goto fail;
    }
    free(copy);
    return f;
fail:
    free(copy);
    master_follow_free(f);
    return NULL;
}

static void on_leader(struct detector *d, const char *name, const char *data, size_t len, void *arg)
{
    struct master_follow *f = arg;
    char *host = NULL, *err = NULL;
    int port = 0;
    if (name && zk_master_address(data, len, &host, &port, &err) < 0) {
        log_warn("leading master %s: %s", name, err);
        free(err);
    }
    free(f->leader_host);
    f->leader_host = host;
    f->leader_port = host ? port : 0;
    if (f->fn)
        f->fn(f, host, f->leader_port, name, f->arg);
}

int master_follow_start(struct master_follow *f, struct event_base *base, double session_timeout,
                        master_follow_fn on_leader_fn, void *arg, char **err)
{
    f->fn = on_leader_fn;
    f->arg = arg;
    if (!f->zk_hosts || f->zk)
        return 0;
    char *e = NULL;
    f->zk = zk_new(base, f->zk_hosts, session_timeout, NULL, NULL, &e);
    if (!f->zk) {
        *err = e;
        return -1;
    }
    f->detector = detector_new(f->zk, f->zk_path, ZK_LEADER_PREFIX, on_leader, f);
    return 0;
}

static void listing_finish(struct listing *l, int rc, bool quiet);

void master_follow_free(struct master_follow *f)
{
    if (!f)
        return;
    detector_free(f->detector);
    zk_free(f->zk); /* no completion runs after it */
    while (f->listings)
        listing_finish(f->listings, -1, true);
    for (size_t i = 0; i < f->ncands; i++)
        free(f->cands[i].host);
    free(f->cands);
    free(f->zk_hosts);
    free(f->zk_path);
    free(f->leader_host);
    free(f);
}

/* One master_follow_list: the contenders' names, then their data, read
 * one znode after the other; reported in sequence order once all are in. */
struct listing {
    struct master_follow *f;
    master_follow_list_fn cb;
    void *arg;
    char **names; /* sorted by sequence */
    char **hosts; /* NULL: unreadable or gone */
    int *ports;
    size_t n, next;       /* how many, the one being read */
    struct listing *link; /* next of the master_follow's */
};

/* Unlink and free l; report to its owner first unless quiet. */
static void listing_finish(struct listing *l, int rc, bool quiet)
{
    for (struct listing **pp = &l->f->listings; *pp; pp = &(*pp)->link) {
        if (*pp == l) {
            *pp = l->link;
            break;
        }
    }
    for (size_t i = 0; i < l->n; i++) {
        if (rc == 0 && !quiet)
            l->cb(l->names[i], l->hosts[i], l->ports[i], 0, l->arg);
        free(l->names[i]);
        free(l->hosts[i]);
    }
    if (!quiet)
        l->cb(NULL, NULL, 0, rc, l->arg);
    free(l->names);
    free(l->hosts);
    free(l->ports);
    free(l);
}

static void listing_read_next(struct listing *l);

static void on_listing_data(int rc, const char *data, size_t len, int version, void *arg)
{
    struct listing *l = arg;
    char *err = NULL;
    if (rc == ZOK && zk_master_address(data, len, &l->hosts[l->next], &l->ports[l->next], &err) < 0)
        free(err);
    l->next++;
    listing_read_next(l);
}

static void listing_read_next(struct listing *l)
{
    while (l->next < l->n) {
        char *path = xasprintf("%s/%s", l->f->zk_path, l->names[l->next]);
        int rc = zk_get(l->f->zk, path, NULL, on_listing_data, l);
        free(path);
        if (rc == 0)
            return;
        l->next++;
    }
    listing_finish(l, 0, false);
}

static int by_sequence(const void *a, const void *b)
{
    long long x = detector_sequence(ZK_LEADER_PREFIX, *(char *const *)a);
    long long y = detector_sequence(ZK_LEADER_PREFIX, *(char *const *)b);
    return x < y ? -1 : x > y;
}

static void on_listing_children(int rc, char **children, size_t n, void *arg)
{
    struct listing *l = arg;
    if (rc != ZOK) {
        listing_finish(l, -1, false);
        return;
    }
    l->names = xcalloc(n + 1, sizeof(char *));
    for (size_t i = 0; i < n; i++)
        if (detector_sequence(ZK_LEADER_PREFIX, children[i]) >= 0)
            l->names[l->n++] = xstrdup(children[i]);
    qsort(l->names, l->n, sizeof(char *), by_sequence);
    l->hosts = xcalloc(l->n + 1, sizeof(char *));
    l->ports = xcalloc(l->n + 1, sizeof(int));
    listing_read_next(l);
}

int master_follow_list(struct master_follow *f, master_follow_list_fn cb, void *arg)
{
    if (f->zk == NULL)
        return -1;
    struct listing *l = xcalloc(1, sizeof(*l));
    l->f = f;
    l->cb = cb;
    l->arg = arg;
    if (zk_children(f->zk, f->zk_path, NULL, on_listing_children, l) < 0) {
        free(l);
        return -1;
    }
    l->link = f->listings;
    f->listings = l;
    return 0;
}

bool master_follow_zk(const struct master_follow *f)
{
    return f->zk_hosts != NULL;
}

bool master_follow_leader(const struct master_follow *f, const char **host, int *port)
{
    if (!f->leader_host)
        return false;
    *host = f->leader_host;
    *port = f->leader_port;
    return true;
}

size_t master_follow_count(const struct master_follow *f)
{
    return f->ncands;
}

void master_follow_candidate(const struct master_follow *f, size_t i, const char **host, int *port)
{
    *host = f->cands[i].host;
    *port = f->cands[i].port;
}
