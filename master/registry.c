/*
 * registry.c: the master's only durable state — admitted, unreachable and
 * gone slaves, and framework records (FrameworkInfo with its
 * failover_timeout, which Mesos forgets on failover, and the time its
 * scheduler disconnected).
 *
 * It is one key of a durable store (common/store.h): standalone the file
 * store on --work_dir (key registry.pb, so <work_dir>/registry.pb as
 * before); in HA mode (--zk) the ZooKeeper store on the master's path (key
 * registry, the <zk path>/registry znode), read by the elected leader
 * (registry_store_load) and written compare-and-set with the version last
 * read or written. A version conflict means another master wrote it: the
 * store's deposed callback makes this one abdicate. This file only encodes
 * and decodes; the store does the bytes, the versions and one write in
 * flight. Changes are coalesced: they mark the registry dirty and one write
 * happens a little later (see REGISTRY_FLUSH_MIN_DELAY), so a burst of
 * 10,000 slave registrations costs a few writes, not 10,000.
 *
 * Format (proto/registry.proto): "AGR1", the length of the packed
 * agora.registry.Registry as 4 bytes big-endian, then that Registry
 * deflated by zlib (with its Adler-32 checksum). Ids share long prefixes,
 * so 50,000 slaves and 1,000 frameworks take some 340 KB, well within a
 * znode's 1 MB (ZooKeeper's default jute.maxbuffer). Reading checks the
 * magic, the lengths, the checksum and every record, and names the file
 * or znode and the field in its error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <zlib.h>

#include "master.h"
#include "atomic_file.h"
#include "log.h"
#include "mem.h"
#include "registry.pb-c.h"
#include "store.h"

#define REGISTRY_MAX_BYTES (512u * 1024u * 1024u)
#define REGISTRY_MAGIC "AGR1"
#define REGISTRY_HEADER_LEN 8 /* magic + packed length */
/* deflate's best ratio is about 1032:1; a header claiming more is corrupt. */
#define REGISTRY_MAX_RATIO 1100u
/* Changes within a window share one write: with 50,000 slaves the file is
 * megabytes and slaves (re)register in bursts. The window is at least
 * 100 ms and ten times the last write's duration, so writing (a blocking
 * fsync) never takes more than about a tenth of the loop. */
#define REGISTRY_FLUSH_MIN_DELAY 0.1
#define REGISTRY_FLUSH_MAX_DELAY 5.0

struct reg_slave {
    char *id;
    char *hostname;
    enum reg_slave_state st;
    double time;     /* when st was entered */
    uint64_t change; /* registry->changes when last set; 0: as read */
    UT_hash_handle hh;
};

struct reg_fw {
    char *id;
    Mesos__V1__FrameworkInfo *info; /* pb_dup'd, id set */
    double disconnected;            /* when its scheduler went away, 0: connected */
    UT_hash_handle hh;
};

struct registry {
    struct master *m;
    char *path; /* where it lives, for messages */
    struct reg_slave *slaves;
    struct reg_fw *fws;
    bool dirty;
    struct event *flush_ev;
    double last_write_secs; /* duration of the last write */
    struct store *store;    /* NULL until loaded (HA: until elected) */
    char *key;
    bool cas;        /* HA: write with the version; standalone: any */
    int version;     /* version last read or written */
    bool big_warned; /* logged that it outgrew the store's limit */
    double write_start;
    /* Changes counted, those in the write in flight, those written. */
    uint64_t changes, writing, durable;
    void (*ready_cb)(struct master *m, const char *err);
};

static const Agora__Registry__Slave__State reg_state_pb[] = {
    [REG_SLAVE_ADMITTED] = AGORA__REGISTRY__SLAVE__STATE__ADMITTED,
    [REG_SLAVE_UNREACHABLE] = AGORA__REGISTRY__SLAVE__STATE__UNREACHABLE,
    [REG_SLAVE_GONE] = AGORA__REGISTRY__SLAVE__STATE__GONE,
    [REG_SLAVE_NONE] = AGORA__REGISTRY__SLAVE__STATE__UNKNOWN,
};

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
    registry_flush(arg);
}

static void mark_dirty(struct registry *r)
{
    r->dirty = true;
    r->changes++;
    if (!evtimer_pending(r->flush_ev, NULL)) {
        double d = 10 * r->last_write_secs;
        if (d < REGISTRY_FLUSH_MIN_DELAY)
            d = REGISTRY_FLUSH_MIN_DELAY;
        if (d > REGISTRY_FLUSH_MAX_DELAY)
            d = REGISTRY_FLUSH_MAX_DELAY;
        struct timeval tv = { (time_t)d, (suseconds_t)((d - (double)(time_t)d) * 1e6) };
        evtimer_add(r->flush_ev, &tv);
    }
}

static void slave_free(struct reg_slave *s)
{
    free(s->id);
    free(s->hostname);
    free(s);
}

static void fw_free(struct reg_fw *f)
{
    pb_free(f->info);
    free(f->id);
    free(f);
}

static bool pb_equal(const ProtobufCMessage *a, const ProtobufCMessage *b)
{
    size_t la, lb;
    uint8_t *pa = pb_pack(a, &la), *pb = pb_pack(b, &lb);
    bool eq = la == lb && memcmp(pa, pb, la) == 0;

    free(pa);
    free(pb);
    return eq;
}

/* Serialize the registry (format above) into *out (caller frees).
 * 0, or -1 with *err. */
static int registry_encode(struct registry *r, uint8_t **out, size_t *out_len, char **err)
{
    unsigned ns = HASH_COUNT(r->slaves), nf = HASH_COUNT(r->fws);
    Agora__Registry__Slave *slaves = xcalloc(ns ? ns : 1, sizeof(*slaves));
    Agora__Registry__Slave **slavep = xcalloc(ns ? ns : 1, sizeof(*slavep));
    Agora__Registry__Framework *fws = xcalloc(nf ? nf : 1, sizeof(*fws));
    Agora__Registry__Framework **fwp = xcalloc(nf ? nf : 1, sizeof(*fwp));
    uint8_t *raw = NULL, *buf = NULL;
    int rc = -1;

    size_t i = 0;
    struct reg_slave *s, *stmp;
    HASH_ITER (hh, r->slaves, s, stmp) {
        Agora__Registry__Slave *ps = &slaves[i];
        agora__registry__slave__init(ps);
        ps->id = s->id;
        ps->hostname = s->hostname;
        ps->state = reg_state_pb[s->st];
        ps->has_time = s->time != 0;
        ps->time = s->time;
        slavep[i++] = ps;
    }
    i = 0;
    struct reg_fw *f, *ftmp;
    HASH_ITER (hh, r->fws, f, ftmp) {
        Agora__Registry__Framework *pf = &fws[i];
        agora__registry__framework__init(pf);
        pf->info = f->info;
        pf->has_disconnected_time = f->disconnected > 0;
        pf->disconnected_time = f->disconnected;
        fwp[i++] = pf;
    }
    Agora__Registry__Registry reg = AGORA__REGISTRY__REGISTRY__INIT;
    reg.n_slaves = ns;
    reg.slaves = slavep;
    reg.n_frameworks = nf;
    reg.frameworks = fwp;

    size_t raw_len = agora__registry__registry__get_packed_size(&reg);
    if (raw_len > REGISTRY_MAX_BYTES) {
        *err = xasprintf("registry too large: %zu bytes packed (at most %u)", raw_len,
                         REGISTRY_MAX_BYTES);
        goto out;
    }
    raw = xmalloc(raw_len ? raw_len : 1);
    agora__registry__registry__pack(&reg, raw);
    uLongf zlen = compressBound((uLong)raw_len);
    buf = xmalloc(REGISTRY_HEADER_LEN + zlen);
    int zrc =
        compress2(buf + REGISTRY_HEADER_LEN, &zlen, raw, (uLong)raw_len, Z_DEFAULT_COMPRESSION);
    if (zrc != Z_OK) {
        *err = xasprintf("cannot deflate the registry: %s", zError(zrc));
        goto out;
    }
    memcpy(buf, REGISTRY_MAGIC, 4);
    for (int k = 0; k < 4; k++)
        buf[4 + k] = (uint8_t)(raw_len >> (24 - 8 * k));
    *out = buf;
    *out_len = REGISTRY_HEADER_LEN + zlen;
    buf = NULL;
    rc = 0;
out:
    free(buf);
    free(raw);
    free(slaves);
    free(slavep);
    free(fws);
    free(fwp);
    return rc;
}

static void slave_put(struct registry *r, const char *id, const char *hostname,
                      enum reg_slave_state st, double t)
{
    struct reg_slave *s = NULL;
    HASH_FIND_STR(r->slaves, id, s);
    if (s) {
        HASH_DELETE(hh, r->slaves, s);
        slave_free(s);
    }
    s = xcalloc(1, sizeof(*s));
    s->id = xstrdup(id);
    s->hostname = xstrdup(hostname);
    s->st = st;
    s->time = t;
    HASH_ADD_KEYPTR(hh, r->slaves, s->id, strlen(s->id), s);
}

static void fw_put(struct registry *r, const Mesos__V1__FrameworkInfo *info, double disconnected)
{
    struct reg_fw *f = NULL;
    HASH_FIND_STR(r->fws, info->id->value, f);
    if (f) {
        HASH_DELETE(hh, r->fws, f);
        fw_free(f);
    }
    f = xcalloc(1, sizeof(*f));
    f->id = xstrdup(info->id->value);
    f->info = pb_dup(&info->base);
    f->disconnected = disconnected;
    HASH_ADD_KEYPTR(hh, r->fws, f->id, strlen(f->id), f);
}

/* Parse the stored registry (from the file or the znode named r->path) and
 * add its records. Nothing is added unless all of it is valid. */
static int registry_decode(struct registry *r, const uint8_t *data, size_t len, char **err)
{
    Agora__Registry__Registry *reg = NULL;
    uint8_t *raw = NULL;
    int rc = -1;

    if (len > 0 && data[0] == '{') {
        *err = xasprintf("Registry %s is JSON, the format of an older Agora, which is no longer "
                         "read",
                         r->path);
        goto out;
    }
    if (len < REGISTRY_HEADER_LEN || memcmp(data, REGISTRY_MAGIC, 4) != 0) {
        *err = xasprintf("Registry %s is not an Agora registry (%zu bytes, no \"%s\" header)",
                         r->path, len, REGISTRY_MAGIC);
        goto out;
    }
    size_t raw_len = 0, zlen = len - REGISTRY_HEADER_LEN;
    for (int k = 0; k < 4; k++)
        raw_len = raw_len << 8 | data[4 + k];
    if (raw_len > REGISTRY_MAX_BYTES || raw_len > (zlen + 64) * REGISTRY_MAX_RATIO) {
        *err = xasprintf("Registry %s is corrupt: header length %zu for %zu compressed bytes",
                         r->path, raw_len, zlen);
        goto out;
    }
    raw = xmalloc(raw_len ? raw_len : 1);
    uLongf got = (uLongf)raw_len;
    uLong used = (uLong)zlen;
    int zrc = uncompress2(raw, &got, data + REGISTRY_HEADER_LEN, &used);
    if (zrc != Z_OK) {
        *err = xasprintf("Registry %s is corrupt or truncated: cannot inflate: %s", r->path,
                         zError(zrc));
        goto out;
    }
    if (got != raw_len || used != zlen) {
        *err =
            xasprintf("Registry %s is corrupt: %lu bytes inflated from %lu of %zu, header says %zu",
                      r->path, (unsigned long)got, (unsigned long)used, zlen, raw_len);
        goto out;
    }
    reg = agora__registry__registry__unpack(NULL, raw_len, raw);
    if (!reg) {
        *err = xasprintf("Registry %s is corrupt: not an agora.registry.Registry message", r->path);
        goto out;
    }
    enum reg_slave_state *st = xcalloc(reg->n_slaves ? reg->n_slaves : 1, sizeof(*st));
    for (size_t i = 0; i < reg->n_slaves; i++) {
        const Agora__Registry__Slave *ps = reg->slaves[i];
        st[i] = REG_SLAVE_NONE;
        for (int k = 0; k < REG_SLAVE_NONE; k++)
            if (ps->state == reg_state_pb[k])
                st[i] = (enum reg_slave_state)k;
        if (!ps->id[0] || st[i] == REG_SLAVE_NONE) {
            *err = !ps->id[0] ? xasprintf("Registry %s: slaves[%zu].id: empty", r->path, i)
                              : xasprintf("Registry %s: slaves[%zu].state: unknown value %d",
                                          r->path, i, (int)ps->state);
            free(st);
            goto out;
        }
    }
    for (size_t i = 0; i < reg->n_frameworks; i++) {
        const Mesos__V1__FrameworkInfo *info = reg->frameworks[i]->info;
        if (!info->id || !info->id->value[0]) {
            *err = xasprintf("Registry %s: frameworks[%zu].info.id: missing", r->path, i);
            free(st);
            goto out;
        }
    }
    for (size_t i = 0; i < reg->n_slaves; i++) {
        const Agora__Registry__Slave *ps = reg->slaves[i];
        slave_put(r, ps->id, ps->hostname ? ps->hostname : "", st[i], ps->has_time ? ps->time : 0);
    }
    free(st);
    for (size_t i = 0; i < reg->n_frameworks; i++) {
        const Agora__Registry__Framework *pf = reg->frameworks[i];
        fw_put(r, pf->info, pf->has_disconnected_time ? pf->disconnected_time : 0);
    }
    r->dirty = false;
    log_info("registry %s: %u slave(s), %u framework(s), %zu bytes (%zu packed)", r->path,
             HASH_COUNT(r->slaves), HASH_COUNT(r->fws), len, raw_len);
    rc = 0;
out:
    if (reg)
        agora__registry__registry__free_unpacked(reg, NULL);
    free(raw);
    return rc;
}

struct registry *registry_new(struct master *m, const char *work_dir, char **err)
{
    struct registry *r = xcalloc(1, sizeof(*r));
    r->m = m;
    r->path = xasprintf("%s/registry.pb", work_dir);
    r->flush_ev = event_new(m->base, -1, 0, flush_cb, r);
    /* HA: nothing is read before the election (registry_store_load). */
    if (m->cfg.zk) {
        if (mkdir_p(work_dir) != 0) {
            *err = xasprintf("Failed to create --work_dir=%s: %s", work_dir, strerror(errno));
            registry_free(r);
            return NULL;
        }
        return r;
    }
    char *e = NULL;
    struct store *s = store_file_new(m->base, work_dir, &e);
    if (!s) {
        *err = xasprintf("Failed to create --work_dir=%s: %s", work_dir, e);
        free(e);
        registry_free(r);
        return NULL;
    }
    /* A file holds what ZooKeeper could not: standalone masters keep the
     * registry's own limit. */
    store_set_max_value(s, REGISTRY_HEADER_LEN + compressBound(REGISTRY_MAX_BYTES));
    r->store = s;
    r->key = xstrdup("registry.pb");
    char *old = xasprintf("%s/registry.json", work_dir);
    if (access(r->path, F_OK) != 0 && access(old, F_OK) == 0)
        log_warn("registry: %s is the JSON registry of an older Agora and is not read; "
                 "starting with an empty %s",
                 old, r->path);
    free(old);
    char *data = NULL;
    size_t len = 0;
    int rc = store_get_sync(s, r->key, &data, &len, &r->version, &e);
    if (rc == STORE_NOT_FOUND) {
        log_info("registry %s does not exist yet; starting empty", r->path);
    } else if (rc != STORE_OK) {
        *err = xasprintf("Failed to read registry %s: %s", r->path, e);
        free(e);
        registry_free(r);
        return NULL;
    } else if (registry_decode(r, (const uint8_t *)data, len, err) != 0) {
        free(data);
        registry_free(r);
        return NULL;
    }
    free(data);
    return r;
}

void registry_free(struct registry *r)
{
    if (!r)
        return;
    struct reg_slave *s, *stmp;
    HASH_ITER (hh, r->slaves, s, stmp) {
        HASH_DELETE(hh, r->slaves, s);
        slave_free(s);
    }
    struct reg_fw *f, *ftmp;
    HASH_ITER (hh, r->fws, f, ftmp) {
        HASH_DELETE(hh, r->fws, f);
        fw_free(f);
    }
    if (r->flush_ev)
        event_free(r->flush_ev);
    store_free(r->store);
    free(r->key);
    free(r->path);
    free(r);
}

enum reg_slave_state registry_slave_state(struct registry *r, const char *id)
{
    struct reg_slave *s = NULL;
    HASH_FIND_STR(r->slaves, id, s);
    return s ? s->st : REG_SLAVE_NONE;
}

void registry_slave_set(struct registry *r, const char *id, const char *hostname,
                        enum reg_slave_state st)
{
    struct reg_slave *s = NULL;
    HASH_FIND_STR(r->slaves, id, s);
    if (st == REG_SLAVE_NONE) {
        if (s) {
            HASH_DELETE(hh, r->slaves, s);
            slave_free(s);
            mark_dirty(r);
        }
        return;
    }
    if (s && s->st == st && strcmp(s->hostname, hostname) == 0)
        return;
    if (!s) {
        s = xcalloc(1, sizeof(*s));
        s->id = xstrdup(id);
        s->hostname = xstrdup(hostname);
        HASH_ADD_KEYPTR(hh, r->slaves, s->id, strlen(s->id), s);
    } else if (strcmp(s->hostname, hostname) != 0) {
        free(s->hostname);
        s->hostname = xstrdup(hostname);
    }
    if (s->st != st || !s->time)
        s->time = time_now();
    s->st = st;
    mark_dirty(r);
    s->change = r->changes;
}

bool registry_slave_durable(struct registry *r, const char *id)
{
    struct reg_slave *s = NULL;
    HASH_FIND_STR(r->slaves, id, s);
    return !r->store || (s && s->change <= r->durable);
}

void registry_framework_put(struct registry *r, const Mesos__V1__FrameworkInfo *info)
{
    struct reg_fw *f = NULL;
    HASH_FIND_STR(r->fws, info->id->value, f);
    if (f && pb_equal(&f->info->base, &info->base))
        return;
    fw_put(r, info, f ? f->disconnected : 0);
    mark_dirty(r);
}

void registry_framework_disconnected(struct registry *r, const char *id, double t)
{
    struct reg_fw *f = NULL;
    HASH_FIND_STR(r->fws, id, f);
    if (!f || f->disconnected == t)
        return;
    f->disconnected = t;
    mark_dirty(r);
}

size_t registry_mark_missing_unreachable(struct registry *r)
{
    size_t n = 0;
    struct reg_slave *s, *tmp;
    HASH_ITER (hh, r->slaves, s, tmp) {
        if (s->st != REG_SLAVE_ADMITTED || slave_find(r->m, s->id))
            continue;
        log_warn("registry: slave %s (%s) did not re-register in time; marked unreachable", s->id,
                 s->hostname);
        s->st = REG_SLAVE_UNREACHABLE;
        s->time = time_now();
        n++;
    }
    if (n)
        mark_dirty(r);
    return n;
}

void registry_framework_remove(struct registry *r, const char *id)
{
    struct reg_fw *f = NULL;
    HASH_FIND_STR(r->fws, id, f);
    if (!f)
        return;
    HASH_DELETE(hh, r->fws, f);
    fw_free(f);
    mark_dirty(r);
}

bool registry_framework_known(struct registry *r, const char *id)
{
    struct reg_fw *f = NULL;
    HASH_FIND_STR(r->fws, id, f);
    return f != NULL;
}

void registry_recover_frameworks(struct registry *r)
{
    struct reg_fw *f, *tmp;
    HASH_ITER (hh, r->fws, f, tmp) {
        if (fw_find(r->m, f->id))
            continue;
        struct framework *fw = fw_create(r->m, f->id, f->info, FW_STATE_RECOVERED);
        if (f->disconnected > 0)
            /* Gone before the failover: its failover_timeout keeps running
       * from then, not from now (Mesos forgets it; we do not). */
            fw_recover_timer_since(r->m, fw, f->disconnected);
        else
            fw_recover_timer(r->m, fw);
    }
}

static void written(int rc, int version, const char *err, void *arg)
{
    struct registry *r = arg;
    if (rc == STORE_OK) {
        r->version = version;
        r->durable = r->writing;
        r->last_write_secs = time_now() - r->write_start;
        log_debug("registry written to %s (version %d, %.1f ms)", r->path, version,
                  r->last_write_secs * 1e3);
        if (r->dirty)
            mark_dirty(r);
        slave_admissions_durable(r->m);
        return;
    }
    r->dirty = true;
    if (rc == STORE_CONFLICT)
        return; /* deposed() abdicated */
    if (rc == STORE_TOO_BIG) {
        /* Kept dirty; the cron retries, which only helps once it shrinks. */
        if (!r->big_warned)
            log_error("registry: cannot write %s: %s", r->path, err);
        r->big_warned = true;
        return;
    }
    /* I/O or connection trouble: the session may come back; write again later. */
    log_warn("registry: write to %s failed: %s; retrying", r->path, err);
    mark_dirty(r);
}

static void deposed(struct store *s, const char *key, const char *why, void *arg)
{
    struct registry *r = arg;
    char *msg = xasprintf("registry %s was changed by another master (%s)", r->path, why);
    master_abdicate(r->m, msg);
    free(msg);
}

void registry_flush(struct registry *r)
{
    if (!r->dirty || !r->store || (r->cas && !r->m->leading))
        return;
    if (store_writing(r->store, r->key))
        return; /* written() flushes again */
    uint8_t *buf = NULL;
    size_t len = 0;
    char *err = NULL;
    if (registry_encode(r, &buf, &len, &err) != 0) {
        /* Keep dirty: the next change or cron tick retries. */
        log_error("registry: cannot write %s: %s", r->path, err);
        free(err);
        return;
    }
    r->write_start = time_now();
    r->writing = r->changes;
    r->dirty = false;
    store_put(r->store, r->key, buf, len, r->cas ? r->version : STORE_ANY, written, r);
    free(buf);
}

bool registry_pending(struct registry *r)
{
    return r->dirty || (r->store && store_writing(r->store, r->key));
}

void registry_flush_final(struct registry *r)
{
    if (!r->dirty || !r->store || (r->cas && !r->m->leading))
        return;
    /* The loop has ended: a blocking write is fine now. A write still in
     * flight lands first; the store knows the version it will leave. */
    uint8_t *buf = NULL;
    size_t len = 0;
    char *err = NULL;
    if (registry_encode(r, &buf, &len, &err) != 0 ||
        store_put_sync(r->store, r->key, buf, len, r->cas ? r->version : STORE_ANY, &r->version,
                       &err) != STORE_OK) {
        log_warn("registry: final write to %s failed: %s", r->path, err);
        free(err);
    } else {
        r->dirty = false;
    }
    free(buf);
}

static void created(int rc, int version, const char *err, void *arg)
{
    struct registry *r = arg;
    if (rc == STORE_OK) {
        r->version = version;
        r->dirty = false;
        log_info("registry %s created (version %d)", r->path, version);
    }
    r->ready_cb(r->m, rc == STORE_OK ? NULL : err);
}

static void got(int rc, const char *data, size_t len, int version, const char *err, void *arg)
{
    struct registry *r = arg;
    char *e = NULL;
    if (rc == STORE_NOT_FOUND) {
        /* A rival creating it at the same time makes this a conflict. */
        uint8_t *buf = NULL;
        size_t blen = 0;
        if (registry_encode(r, &buf, &blen, &e) != 0) {
            r->ready_cb(r->m, e);
            free(e);
        } else {
            store_put(r->store, r->key, buf, blen, STORE_ABSENT, created, r);
        }
        free(buf);
        return;
    }
    if (rc != STORE_OK) {
        e = xasprintf("cannot read %s: %s", r->path, err);
    } else if (len > 0 && registry_decode(r, (const uint8_t *)data, len, &e) != 0) {
        /* e names the znode and the field */
    } else {
        r->version = version;
        r->dirty = false;
        log_info("registry %s (version %d): %u slave(s), %u framework(s)", r->path, version,
                 HASH_COUNT(r->slaves), HASH_COUNT(r->fws));
    }
    r->ready_cb(r->m, e);
    free(e);
}

void registry_store_load(struct registry *r, struct store *s, const char *key,
                         void (*ready)(struct master *m, const char *err))
{
    store_free(r->store);
    r->store = s;
    r->cas = true;
    free(r->key);
    r->key = xstrdup(key);
    free(r->path);
    r->path = xasprintf("%s/%s", store_name(s), key); /* named in registry_decode's messages */
    r->ready_cb = ready;
    store_set_deposed(s, deposed, r);
    store_get(s, key, got, r);
}
