// The cluster as the operator stream describes it: agents (slaves),
// frameworks and tasks, built from SUBSCRIBED's get_state and kept up to
// date by TASK_ADDED, TASK_UPDATED, AGENT_ADDED, AGENT_REMOVED,
// FRAMEWORK_ADDED, FRAMEWORK_UPDATED and FRAMEWORK_REMOVED (Mesos v1
// operator API field names, see docs/operator-api.md).

export const TERMINAL = new Set(['TASK_FINISHED', 'TASK_FAILED', 'TASK_KILLED', 'TASK_LOST',
  'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE', 'TASK_GONE_BY_OPERATOR']);
// Tasks holding their resources (what the master counts as used).
export const ACTIVE = new Set(['TASK_STAGING', 'TASK_STARTING', 'TASK_RUNNING', 'TASK_KILLING']);

export const KINDS = ['cpus', 'mem', 'disk', 'ports'];

const idOf = (x) => (x && typeof x === 'object' ? x.value : x) || '';
const secsOf = (t) => (t && t.nanoseconds ? Number(t.nanoseconds) / 1e9 : 0);

// A v1 Resource list as {cpus, mem, disk, gpus, ports (how many), ranges}.
export function summarize(resources) {
  const out = { cpus: 0, mem: 0, disk: 0, gpus: 0, ports: 0, ranges: [] };
  for (const r of resources || []) {
    if (r.type === 'SCALAR' || r.scalar) {
      if (r.name in out && r.name !== 'ports') out[r.name] += Number(r.scalar && r.scalar.value) || 0;
    } else if (r.ranges && r.name === 'ports') {
      for (const g of r.ranges.range || []) {
        out.ports += Number(g.end) - Number(g.begin) + 1;
        out.ranges.push([Number(g.begin), Number(g.end)]);
      }
    }
  }
  return out;
}

export function addInto(acc, s) {
  for (const k of ['cpus', 'mem', 'disk', 'gpus', 'ports']) acc[k] += s[k] || 0;
  return acc;
}

export function rangesText(ranges) {
  return ranges.map(([b, e]) => (b === e ? `${b}` : `${b}-${e}`)).join(', ');
}

// "rack:a; zone:1" from v1 Attributes.
export function attributesList(attrs) {
  return (attrs || []).map((a) => {
    let v = '';
    if (a.text) v = a.text.value;
    else if (a.scalar) v = String(a.scalar.value);
    else if (a.ranges) v = rangesText((a.ranges.range || []).map((g) => [g.begin, g.end]));
    else if (a.set) v = (a.set.item || []).join(',');
    return [a.name, v];
  });
}

export function frameworkRoles(info) {
  if (info.roles && info.roles.length) return info.roles;
  return [info.role || '*'];
}

export class ClusterModel {
  constructor() {
    this.reset();
  }

  reset() {
    this.agents = new Map();     // id -> agent
    this.frameworks = new Map(); // id -> framework
    this.tasks = new Map();      // "fw/task" -> task
    this.subscribedAt = 0;
    this.lastEventAt = 0;
    this.events = 0;
  }

  // Apply one event; returns true when what the page shows may change.
  apply(ev) {
    this.lastEventAt = Date.now() / 1000;
    this.events++;
    switch (ev.type) {
      case 'SUBSCRIBED': this.load(ev.subscribed.get_state || {}); return true;
      case 'TASK_ADDED': this.putTask(ev.task_added.task); return true;
      case 'TASK_UPDATED': this.updateTask(ev.task_updated); return true;
      case 'AGENT_ADDED': this.putAgent(ev.agent_added.agent); return true;
      case 'AGENT_REMOVED': {
        const a = this.agents.get(idOf(ev.agent_removed.agent_id));
        if (a) { a.active = false; a.removed = true; a.removedAt = this.lastEventAt; }
        return true;
      }
      case 'FRAMEWORK_ADDED': this.putFramework(ev.framework_added.framework); return true;
      case 'FRAMEWORK_UPDATED': this.putFramework(ev.framework_updated.framework); return true;
      case 'FRAMEWORK_REMOVED': {
        const f = this.frameworks.get(idOf(ev.framework_removed.framework_info.id));
        if (f) { f.active = false; f.connected = false; f.removed = true; }
        return true;
      }
      default: return false; // HEARTBEAT
    }
  }

  load(st) {
    this.reset();
    this.subscribedAt = Date.now() / 1000;
    const ag = st.get_agents || {};
    for (const a of ag.agents || []) this.putAgent(a);
    for (const info of ag.unreachable_agents || []) {
      this.putAgent({ agent_info: info, active: false });
      this.agents.get(idOf(info.id)).removed = true;
    }
    const fw = st.get_frameworks || {};
    for (const f of fw.frameworks || []) this.putFramework(f);
    for (const f of fw.recovered_frameworks || []) this.putFramework(f);
    for (const f of fw.completed_frameworks || []) {
      this.putFramework(f);
      this.frameworks.get(idOf(f.framework_info.id)).removed = true;
    }
    const t = st.get_tasks || {};
    for (const list of [t.tasks, t.unreachable_tasks, t.completed_tasks]) {
      for (const task of list || []) this.putTask(task);
    }
  }

  putAgent(a) {
    const info = a.agent_info || {};
    const id = idOf(info.id);
    const old = this.agents.get(id);
    const total = summarize(a.total_resources || info.resources);
    this.agents.set(id, {
      id,
      hostname: info.hostname || '',
      port: info.port,
      pid: a.pid || '',
      version: a.version || '',
      active: a.active !== false,
      removed: false,
      registered: secsOf(a.registered_time),
      reregistered: secsOf(a.reregistered_time),
      attributes: attributesList(info.attributes),
      total,
      // Offers are not events: refreshed by GET_AGENTS (app.js).
      offered: old ? old.offered : summarize(a.offered_resources),
    });
  }

  putFramework(f) {
    const info = f.framework_info || {};
    const id = idOf(info.id);
    this.frameworks.set(id, {
      id,
      name: info.name || '',
      user: info.user || '',
      roles: frameworkRoles(info),
      hostname: info.hostname || '',
      webui: info.webui_url || '',
      principal: info.principal || '',
      failoverTimeout: Number(info.failover_timeout) || 0,
      capabilities: (info.capabilities || []).map((c) => c.type),
      active: !!f.active,
      connected: !!f.connected,
      recovered: !!f.recovered,
      removed: false,
      registered: secsOf(f.registered_time),
      unregistered: secsOf(f.unregistered_time),
      offered: summarize(f.offered_resources),
    });
  }

  putTask(t) {
    const fw = idOf(t.framework_id);
    const id = idOf(t.task_id);
    const latest = (t.statuses || [])[t.statuses ? t.statuses.length - 1 : 0] || {};
    const key = `${fw}/${id}`;
    const old = this.tasks.get(key);
    this.tasks.set(key, {
      key,
      id,
      name: t.name || id,
      fw,
      agent: idOf(t.agent_id),
      state: t.state || latest.state || 'TASK_STAGING',
      resources: summarize(t.resources),
      hasHealthCheck: !!t.health_check,
      healthy: latest.healthy,
      message: latest.message || '',
      updated: latest.timestamp || this.lastEventAt,
      history: old ? old.history : [[t.state || latest.state, latest.timestamp || this.lastEventAt]],
      container: t.container ? t.container.type : 'MESOS',
    });
  }

  updateTask(u) {
    const st = u.status || {};
    const key = `${idOf(u.framework_id)}/${idOf(st.task_id)}`;
    const t = this.tasks.get(key);
    if (!t) return;
    const state = u.state || st.state;
    if (state !== t.state) t.history.push([state, st.timestamp || this.lastEventAt]);
    t.state = state;
    if (st.healthy !== undefined) t.healthy = st.healthy;
    if (st.message) t.message = st.message;
    if (st.agent_id) t.agent = idOf(st.agent_id);
    t.updated = st.timestamp || this.lastEventAt;
  }

  // Forget the oldest terminal tasks beyond keep (a page left open on a
  // busy cluster would otherwise grow without bound; the master keeps a
  // bounded number of completed tasks too).
  prune(keep = 5000) {
    const done = [...this.tasks.values()].filter((t) => TERMINAL.has(t.state));
    if (done.length <= keep) return;
    done.sort((a, b) => a.updated - b.updated);
    for (const t of done.slice(0, done.length - keep)) this.tasks.delete(t.key);
  }

  // Resources of each active task, summed per agent and per framework.
  usage() {
    const byAgent = new Map(), byFw = new Map();
    const zero = () => ({ cpus: 0, mem: 0, disk: 0, gpus: 0, ports: 0 });
    const tasksByAgent = new Map(), tasksByFw = new Map();
    for (const t of this.tasks.values()) {
      if (!ACTIVE.has(t.state)) continue;
      if (!byAgent.has(t.agent)) byAgent.set(t.agent, zero());
      if (!byFw.has(t.fw)) byFw.set(t.fw, zero());
      addInto(byAgent.get(t.agent), t.resources);
      addInto(byFw.get(t.fw), t.resources);
      tasksByAgent.set(t.agent, (tasksByAgent.get(t.agent) || 0) + 1);
      tasksByFw.set(t.fw, (tasksByFw.get(t.fw) || 0) + 1);
    }
    return { byAgent, byFw, tasksByAgent, tasksByFw };
  }

  // Cluster totals per kind: {total, used, offered, free}, over the
  // agents that are connected.
  totals(usage = this.usage()) {
    const out = {};
    for (const k of KINDS) out[k] = { total: 0, used: 0, offered: 0, free: 0 };
    for (const a of this.agents.values()) {
      if (a.removed) continue;
      const used = usage.byAgent.get(a.id);
      for (const k of KINDS) {
        out[k].total += a.total[k] || 0;
        out[k].used += (used && used[k]) || 0;
        out[k].offered += (a.offered && a.offered[k]) || 0;
      }
    }
    for (const k of KINDS) {
      const o = out[k];
      o.offered = Math.min(o.offered, Math.max(0, o.total - o.used));
      o.free = Math.max(0, o.total - o.used - o.offered);
    }
    return out;
  }

  taskCounts() {
    const c = { active: 0, running: 0, staging: 0, finished: 0, failed: 0, killed: 0, lost: 0 };
    for (const t of this.tasks.values()) {
      if (ACTIVE.has(t.state)) c.active++;
      if (t.state === 'TASK_RUNNING') c.running++;
      else if (t.state === 'TASK_STAGING' || t.state === 'TASK_STARTING') c.staging++;
      else if (t.state === 'TASK_FINISHED') c.finished++;
      else if (t.state === 'TASK_KILLED') c.killed++;
      else if (t.state === 'TASK_LOST' || t.state === 'TASK_UNREACHABLE' || t.state === 'TASK_GONE') c.lost++;
      else if (TERMINAL.has(t.state)) c.failed++;
    }
    return c;
  }
}
