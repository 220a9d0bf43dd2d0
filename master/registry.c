/*
 * registry.c: the master's only durable state — admitted, unreachable and
 * gone slaves, and framework records (FrameworkInfo with its
 * failover_timeout, which Mesos forgets on failover).
 *
 * Standalone, it lives in <work_dir>/registry.json, rewritten with
 * atomic_write (temp + fsync + rename). Changes are coalesced: they mark
 * the registry dirty and one write happens a little later (see
 * REGISTRY_FLUSH_MIN_DELAY), so a burst of 10,000 slave registrations costs
 * a few writes, not 10,000.
 * In HA mode (later) the same content goes to the /agora/registry znode
 * with compare-and-set; registry_flush is the seam.
 *
 * File format (JSON, version 1):
 *   {"version": 1,
 *    "slaves": [{"id": ..., "hostname": ..., "state": "ADMITTED"|"UNREACHABLE"|"GONE",
 *                "time": <secs>}],
 *    "frameworks": [{"id": ..., "info": <FrameworkInfo JSON>}]}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>

#include "master.h"
#include "atomic_file.h"
#include "log.h"
#include "mem.h"
#include "pbjson.h"

#define REGISTRY_MAX_BYTES (512u * 1024u * 1024u)
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
  double time;                 /* when st was entered */
  UT_hash_handle hh;
};

struct reg_fw {
  char *id;
  json_t *info;                /* FrameworkInfo as JSON */
  UT_hash_handle hh;
};

struct registry {
  struct master *m;
  char *path;
  struct reg_slave *slaves;
  struct reg_fw *fws;
  bool dirty;
  struct event *flush_ev;
  double last_write_secs;      /* duration of the last write */
};

static const char *const reg_state_names[] = {
  [REG_SLAVE_ADMITTED] = "ADMITTED",
  [REG_SLAVE_UNREACHABLE] = "UNREACHABLE",
  [REG_SLAVE_GONE] = "GONE",
  [REG_SLAVE_NONE] = "NONE",
};

static void flush_cb(evutil_socket_t fd, short what, void *arg)
{
  registry_flush(arg);
}

static void mark_dirty(struct registry *r)
{
  r->dirty = true;
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

static int load(struct registry *r, char **err)
{
  char *data = NULL;
  size_t len = 0;
  json_error_t jerr;
  json_t *root = NULL;
  int rc = -1;

  if (file_read_all(r->path, REGISTRY_MAX_BYTES, &data, &len) != 0) {
    if (errno == ENOENT) {
      log_info("registry %s does not exist yet; starting empty", r->path);
      return 0;
    }
    *err = xasprintf("Failed to read registry %s: %s", r->path, strerror(errno));
    return -1;
  }
  root = json_loadb(data, len, 0, &jerr);
  if (!root || !json_is_object(root)) {
    *err = xasprintf("Failed to parse registry %s: line %d: %s", r->path, jerr.line,
                     root ? "not an object" : jerr.text);
    goto out;
  }
  size_t i;
  json_t *v;
  json_array_foreach(json_object_get(root, "slaves"), i, v) {
    const char *id = json_string_value(json_object_get(v, "id"));
    const char *st = json_string_value(json_object_get(v, "state"));
    if (!id || !st) {
      *err = xasprintf("Registry %s: slaves[%zu]: missing 'id' or 'state'", r->path, i);
      goto out;
    }
    enum reg_slave_state s = REG_SLAVE_NONE;
    for (int k = 0; k < REG_SLAVE_NONE; k++)
      if (strcmp(st, reg_state_names[k]) == 0)
        s = (enum reg_slave_state)k;
    if (s == REG_SLAVE_NONE) {
      *err = xasprintf("Registry %s: slaves[%zu].state: unknown value '%s'", r->path, i, st);
      goto out;
    }
    const char *hn = json_string_value(json_object_get(v, "hostname"));
    registry_slave_set(r, id, hn ? hn : "", s);
    struct reg_slave *rs = NULL;
    HASH_FIND_STR(r->slaves, id, rs);
    if (rs && json_is_number(json_object_get(v, "time")))
      rs->time = json_number_value(json_object_get(v, "time"));
  }
  json_array_foreach(json_object_get(root, "frameworks"), i, v) {
    const char *id = json_string_value(json_object_get(v, "id"));
    json_t *info = json_object_get(v, "info");
    if (!id || !json_is_object(info)) {
      *err = xasprintf("Registry %s: frameworks[%zu]: missing 'id' or 'info'", r->path, i);
      goto out;
    }
    struct reg_fw *f = xcalloc(1, sizeof(*f));
    f->id = xstrdup(id);
    f->info = json_incref(info);
    HASH_ADD_KEYPTR(hh, r->fws, f->id, strlen(f->id), f);
  }
  r->dirty = false;
  log_info("registry %s: %u slave(s), %u framework(s)", r->path, HASH_COUNT(r->slaves),
           HASH_COUNT(r->fws));
  rc = 0;
out:
  json_decref(root);
  free(data);
  return rc;
}

struct registry *registry_new(struct master *m, const char *work_dir, char **err)
{
  if (mkdir_p(work_dir) != 0) {
    *err = xasprintf("Failed to create --work_dir=%s: %s", work_dir, strerror(errno));
    return NULL;
  }
  struct registry *r = xcalloc(1, sizeof(*r));
  r->m = m;
  r->path = xasprintf("%s/registry.json", work_dir);
  r->flush_ev = event_new(m->base, -1, 0, flush_cb, r);
  if (load(r, err) != 0) {
    registry_free(r);
    return NULL;
  }
  return r;
}

void registry_free(struct registry *r)
{
  if (!r)
    return;
  struct reg_slave *s, *stmp;
  HASH_ITER(hh, r->slaves, s, stmp) {
    HASH_DELETE(hh, r->slaves, s);
    free(s->id);
    free(s->hostname);
    free(s);
  }
  struct reg_fw *f, *ftmp;
  HASH_ITER(hh, r->fws, f, ftmp) {
    HASH_DELETE(hh, r->fws, f);
    json_decref(f->info);
    free(f->id);
    free(f);
  }
  if (r->flush_ev)
    event_free(r->flush_ev);
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
      free(s->id);
      free(s->hostname);
      free(s);
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
    s->time = master_now();
  s->st = st;
  mark_dirty(r);
}

void registry_framework_put(struct registry *r, const Mesos__V1__FrameworkInfo *info)
{
  const char *id = info->id->value;
  json_t *j = pbjson_encode(&info->base);
  struct reg_fw *f = NULL;
  HASH_FIND_STR(r->fws, id, f);
  if (f && json_equal(f->info, j)) {
    json_decref(j);
    return;
  }
  if (!f) {
    f = xcalloc(1, sizeof(*f));
    f->id = xstrdup(id);
    HASH_ADD_KEYPTR(hh, r->fws, f->id, strlen(f->id), f);
  } else {
    json_decref(f->info);
  }
  f->info = j;
  mark_dirty(r);
}

void registry_framework_remove(struct registry *r, const char *id)
{
  struct reg_fw *f = NULL;
  HASH_FIND_STR(r->fws, id, f);
  if (!f)
    return;
  HASH_DELETE(hh, r->fws, f);
  json_decref(f->info);
  free(f->id);
  free(f);
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
  HASH_ITER(hh, r->fws, f, tmp) {
    char *err = NULL;
    Mesos__V1__FrameworkInfo *info = (Mesos__V1__FrameworkInfo *)pbjson_decode(
        &mesos__v1__framework_info__descriptor, f->info, &err);
    if (!info) {
      log_warn("registry: framework %s has an unreadable record (%s); dropped", f->id, err);
      free(err);
      registry_framework_remove(r, f->id);
      continue;
    }
    if (!fw_find(r->m, f->id)) {
      struct framework *fw = fw_create(r->m, f->id, info, FW_STATE_RECOVERED);
      fw_recover_timer(r->m, fw);
    }
    protobuf_c_message_free_unpacked(&info->base, NULL);
  }
}

void registry_flush(struct registry *r)
{
  if (!r->dirty)
    return;
  double start = master_now();
  json_t *root = json_object();
  json_t *slaves = json_array();
  json_t *fws = json_array();
  json_object_set_new(root, "version", json_integer(1));
  struct reg_slave *s, *stmp;
  HASH_ITER(hh, r->slaves, s, stmp) {
    json_array_append_new(slaves, json_pack("{s:s, s:s, s:s, s:f}", "id", s->id, "hostname",
                                            s->hostname, "state", reg_state_names[s->st],
                                            "time", s->time));
  }
  struct reg_fw *f, *ftmp;
  HASH_ITER(hh, r->fws, f, ftmp)
    json_array_append_new(fws, json_pack("{s:s, s:O}", "id", f->id, "info", f->info));
  json_object_set_new(root, "slaves", slaves);
  json_object_set_new(root, "frameworks", fws);
  char *text = json_dumps(root, JSON_COMPACT);
  json_decref(root);
  char *err = NULL;
  if (!text || atomic_write(r->path, text, strlen(text), &err) != 0) {
    /* Keep dirty: the next change or cron tick retries. */
    log_error("registry: cannot write %s: %s", r->path, err ? err : "encoding failed");
    free(err);
  } else {
    r->dirty = false;
    r->last_write_secs = master_now() - start;
    log_debug("registry written: %s (%zu bytes, %.1f ms)", r->path, strlen(text),
              r->last_write_secs * 1e3);
  }
  free(text);
}
