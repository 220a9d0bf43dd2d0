// The master's web UI: one page, four views (overview, slaves,
// frameworks, tasks) and a task's page with its sandbox, all drawn from
// the operator event stream. Offers are not events of that stream (as in
// Mesos), so the offered amounts are refreshed by a GET_AGENTS call every
// few seconds while the page is visible; everything else is live.

import { h, fill, fmtNumber, fmtMB, fmtDuration, fmtAgo, fmtTime, fmtClock, badge, stateBadge, stateLabel, table } from './dom.js';
import { ClusterModel, ACTIVE, TERMINAL, KINDS, rangesText, summarize } from './model.js';
import { History, sparkline } from './chart.js';
import { SandboxView } from './sandbox.js';
import { subscribe, operatorCall } from './stream.js';

const OFFERS_EVERY_MS = 5000;
const SAMPLE_EVERY_MS = 2000;
const MAX_TASK_ROWS = 500;
const REDRAW_MS = 200;

const model = new ClusterModel();
const history = new History();
const main = document.getElementById('main');
const ui = {
  view: null,        // the view drawn in main
  sandbox: null,     // the SandboxView of the task page
  filters: { text: '', state: 'all', framework: '', agent: '' },
  dirty: false,
  live: false,
  master: null,      // GET_MASTER's answer
};

// ------------------------------------------------------------ formatting

const KIND_TITLES = { cpus: 'CPUs', mem: 'Memory', disk: 'Disk', ports: 'Ports' };

function amount(kind, v) {
  if (kind === 'mem' || kind === 'disk') return fmtMB(v);
  if (kind === 'ports') return fmtNumber(v, 0);
  return fmtNumber(v, 2);
}

function usedOf(kind, used, total) {
  return `${amount(kind, used)} / ${amount(kind, total)}`;
}

function short(id) {
  return id.length > 14 ? `${id.slice(0, 8)}…${id.slice(-4)}` : id;
}

function agentName(id) {
  const a = model.agents.get(id);
  return a ? a.hostname : short(id);
}

function frameworkName(id) {
  const f = model.frameworks.get(id);
  return f ? f.name || short(id) : short(id);
}

function taskHref(t) {
  return `#/task/${encodeURIComponent(t.fw)}/${encodeURIComponent(t.id)}`;
}

function health(t, quiet) {
  if (t.healthy === true) return badge('Healthy', 'ok');
  if (t.healthy === false) return badge('Unhealthy', 'bad');
  if (t.hasHealthCheck && ACTIVE.has(t.state)) return badge('Pending', 'info', 'No health check result yet');
  return quiet ? null : h('span', { class: 'muted', 'aria-label': 'No health check' }, '—');
}

function frameworkState(f) {
  if (f.removed) return badge('Removed', 'muted');
  if (f.active) return badge('Active', 'ok');
  if (f.recovered) return badge('Recovered', 'info', 'Known from the registry; not re-subscribed yet');
  const left = f.unregistered && f.failoverTimeout
    ? f.failoverTimeout - (Date.now() / 1000 - f.unregistered) : NaN;
  return h('span', { class: 'stack' }, badge('Inactive', 'warn'),
    Number.isFinite(left) ? h('span', { class: 'muted small' }, `failover in ${fmtDuration(left)}`) : null);
}

// ------------------------------------------------------------ views

function resourceCard(kind, tot) {
  const pct = (v) => (tot.total > 0 ? (100 * v) / tot.total : 0);
  const bar = h('div', { class: 'bar', role: 'img', 'aria-label': `${KIND_TITLES[kind]}: ${amount(kind, tot.used)} used, ${amount(kind, tot.offered)} offered, ${amount(kind, tot.free)} free of ${amount(kind, tot.total)}` },
    h('span', { class: 'bar-used' }), h('span', { class: 'bar-offered' }));
  bar.children[0].style.width = `${pct(tot.used)}%`;
  bar.children[1].style.width = `${pct(tot.offered)}%`;
  return h('article', { class: 'card resource', dataset: { kind } },
    h('header', { class: 'card-head' },
      h('h3', {}, KIND_TITLES[kind]),
      h('span', { class: 'pct' }, `${fmtNumber(pct(tot.used), 0)}% used`)),
    h('p', { class: 'big' }, h('span', { class: 'used-value' }, amount(kind, tot.used)),
      h('span', { class: 'of' }, ` of ${amount(kind, tot.total)}`)),
    bar,
    h('dl', { class: 'legend' },
      h('div', {}, h('dt', {}, h('i', { class: 'sw sw-used', 'aria-hidden': 'true' }), 'Used'), h('dd', {}, amount(kind, tot.used))),
      h('div', {}, h('dt', {}, h('i', { class: 'sw sw-offered', 'aria-hidden': 'true' }), 'Offered'), h('dd', {}, amount(kind, tot.offered))),
      h('div', {}, h('dt', {}, h('i', { class: 'sw sw-free', 'aria-hidden': 'true' }), 'Free'), h('dd', {}, amount(kind, tot.free)))),
    sparkline(history, kind, `${KIND_TITLES[kind]} used and offered since this page opened`),
    h('p', { class: 'spark-caption' },
      history.samples.length > 1 ? `since ${fmtClock(history.samples[0].t / 1000)}` : 'collecting history…',
      history.samples.length > 1
        ? h('span', {}, `peak ${amount(kind, Math.max(0, ...history.samples.map((x) => x[kind].used)))} used`) : null));
}

function stat(label, value, detail, href) {
  const body = [h('span', { class: 'stat-value' }, value), h('span', { class: 'stat-label' }, label),
    detail ? h('span', { class: 'stat-detail' }, detail) : null];
  return href ? h('a', { class: 'card stat', href }, body) : h('div', { class: 'card stat' }, body);
}

function viewOverview() {
  const usage = model.usage();
  const tot = model.totals(usage);
  const agents = [...model.agents.values()];
  const fws = [...model.frameworks.values()].filter((f) => !f.removed);
  const c = model.taskCounts();
  const recent = [...model.tasks.values()].sort((a, b) => b.updated - a.updated).slice(0, 8);
  return [
    h('div', { class: 'page-head' }, h('h1', {}, 'Cluster'),
      h('p', { class: 'muted' }, 'Resources of the connected slaves; the charts show their history since this page was opened.')),
    h('section', { class: 'grid cards-4', 'aria-label': 'Cluster resources' }, KINDS.map((k) => resourceCard(k, tot[k]))),
    h('section', { class: 'grid cards-3', 'aria-label': 'Counts' },
      stat('Slaves', `${agents.filter((a) => a.active).length}`,
        `${agents.filter((a) => a.removed).length} removed · ${agents.filter((a) => !a.active && !a.removed).length} disconnected`, '#/slaves'),
      stat('Frameworks', `${fws.filter((f) => f.active).length}`, `${fws.filter((f) => !f.active).length} inactive`, '#/frameworks'),
      stat('Tasks running', `${c.running}`,
        `${c.staging} starting · ${c.finished} finished · ${c.failed} failed · ${c.killed} killed · ${c.lost} lost`, '#/tasks')),
    h('section', { class: 'panel', 'aria-labelledby': 'recent-title' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'recent-title' }, 'Recent task activity'),
        h('a', { href: '#/tasks', class: 'more' }, 'All tasks →')),
      tasksTable(recent, 'Recently updated tasks')),
  ];
}

function viewSlaves() {
  const usage = model.usage();
  const agents = [...model.agents.values()].sort((a, b) => (a.removed - b.removed) || a.hostname.localeCompare(b.hostname));
  const cols = [
    { title: 'Slave' }, { title: 'State' }, { title: 'CPUs', cls: 'num' }, { title: 'Memory', cls: 'num' },
    { title: 'Disk', cls: 'num' }, { title: 'Ports', cls: 'num' }, { title: 'Tasks', cls: 'num' },
    { title: 'Attributes' }, { title: 'Registered' },
  ];
  const rows = agents.map((a) => {
    const u = usage.byAgent.get(a.id) || summarize([]);
    const n = usage.tasksByAgent.get(a.id) || 0;
    return {
      attrs: { dataset: { agent: a.id }, class: a.removed ? 'dim' : '' },
      cells: [
        h('div', { class: 'stack' }, h('strong', { class: 'agent-host' }, a.hostname), h('code', { class: 'muted small', title: a.id }, a.id), h('span', { class: 'muted small' }, a.pid.replace(/^slave\(1\)@/, ''))),
        a.removed ? badge('Removed', 'bad', 'Unreachable or gone') : a.active ? badge('Active', 'ok') : badge('Disconnected', 'warn'),
        meter('cpus', u.cpus, a.total.cpus), meter('mem', u.mem, a.total.mem), meter('disk', u.disk, a.total.disk),
        h('div', { class: 'stack' }, meter('ports', u.ports, a.total.ports), h('span', { class: 'muted small' }, rangesText(a.total.ranges))),
        n ? h('a', { href: `#/tasks?agent=${encodeURIComponent(a.id)}`, 'aria-label': `${n} active tasks on ${a.hostname}` }, String(n)) : '0',
        a.attributes.length ? h('div', { class: 'chips' }, a.attributes.map(([k, v]) => h('span', { class: 'chip' }, `${k}: ${v}`))) : h('span', { class: 'muted' }, '—'),
        h('span', { title: fmtTime(a.reregistered || a.registered) }, fmtAgo(a.reregistered || a.registered)),
      ],
    };
  });
  return [
    h('div', { class: 'page-head' }, h('h1', {}, 'Slaves'),
      h('p', { class: 'muted' }, `${agents.filter((a) => a.active).length} active of ${agents.length} known.`)),
    h('section', { class: 'panel flush', 'aria-label': 'Slaves' }, table('Slaves', cols, rows, 'No slave has registered yet.')),
  ];
}

function meter(kind, used, total) {
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  const m = h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', {}));
  m.firstChild.style.width = `${pct}%`;
  return h('div', { class: 'meter-cell', title: `${fmtNumber(pct, 0)}% used` },
    h('span', {}, usedOf(kind, used, total)), m);
}

function viewFrameworks() {
  const usage = model.usage();
  const fws = [...model.frameworks.values()].sort((a, b) => (a.removed - b.removed) || (b.active - a.active) || a.name.localeCompare(b.name));
  const cols = [
    { title: 'Framework' }, { title: 'Roles' }, { title: 'User' }, { title: 'State' }, { title: 'Tasks', cls: 'num' },
    { title: 'CPUs', cls: 'num' }, { title: 'Memory', cls: 'num' }, { title: 'Disk', cls: 'num' }, { title: 'Registered' },
  ];
  const rows = fws.map((f) => {
    const u = usage.byFw.get(f.id) || summarize([]);
    const n = usage.tasksByFw.get(f.id) || 0;
    return {
      attrs: { dataset: { framework: f.id }, class: f.removed ? 'dim' : '' },
      cells: [
        h('div', { class: 'stack' }, h('strong', {}, f.webui ? h('a', { href: f.webui, rel: 'noopener' }, f.name) : f.name),
          h('code', { class: 'muted small', title: f.id }, f.id)),
        h('div', { class: 'chips' }, f.roles.map((r) => h('span', { class: 'chip' }, r))),
        f.user || '—',
        frameworkState(f),
        n ? h('a', { href: `#/tasks?framework=${encodeURIComponent(f.id)}`, 'aria-label': `${n} active tasks of ${f.name}` }, String(n)) : '0',
        amount('cpus', u.cpus), amount('mem', u.mem), amount('disk', u.disk),
        h('span', { title: fmtTime(f.registered) }, fmtAgo(f.registered)),
      ],
    };
  });
  return [
    h('div', { class: 'page-head' }, h('h1', {}, 'Frameworks'),
      h('p', { class: 'muted' }, `${fws.filter((f) => f.active).length} active, ${fws.filter((f) => !f.active && !f.removed).length} inactive.`)),
    h('section', { class: 'panel flush', 'aria-label': 'Frameworks' }, table('Frameworks', cols, rows, 'No framework has subscribed yet.')),
  ];
}

function tasksTable(tasks, caption) {
  const cols = [
    { title: 'Task' }, { title: 'State' }, { title: 'Health' }, { title: 'Framework' }, { title: 'Slave' },
    { title: 'CPUs', cls: 'num' }, { title: 'Memory', cls: 'num' }, { title: 'Updated' },
  ];
  const rows = tasks.map((t) => ({
    attrs: { dataset: { task: t.id, state: t.state } },
    cells: [
      h('div', { class: 'stack' }, h('a', { href: taskHref(t), class: 'task-link' }, t.name),
        t.name !== t.id ? h('code', { class: 'muted small' }, t.id) : null),
      stateBadge(t.state), health(t), frameworkName(t.fw), agentName(t.agent),
      amount('cpus', t.resources.cpus), amount('mem', t.resources.mem),
      h('span', { title: fmtTime(t.updated) }, fmtAgo(t.updated)),
    ],
  }));
  return table(caption, cols, rows, 'No tasks.');
}

const STATE_FILTERS = [
  ['all', 'All states'], ['active', 'Active'], ['TASK_RUNNING', 'Running'], ['TASK_STAGING', 'Staging'],
  ['TASK_STARTING', 'Starting'], ['terminal', 'Terminal'], ['TASK_FINISHED', 'Finished'], ['TASK_FAILED', 'Failed'],
  ['TASK_KILLED', 'Killed'], ['TASK_LOST', 'Lost'], ['TASK_ERROR', 'Error'], ['TASK_UNREACHABLE', 'Unreachable'],
];

function filteredTasks() {
  const f = ui.filters;
  const text = f.text.trim().toLowerCase();
  return [...model.tasks.values()].filter((t) => {
    if (f.state === 'active' && !ACTIVE.has(t.state)) return false;
    if (f.state === 'terminal' && !TERMINAL.has(t.state)) return false;
    if (f.state.startsWith('TASK_') && t.state !== f.state) return false;
    if (f.framework && t.fw !== f.framework) return false;
    if (f.agent && t.agent !== f.agent) return false;
    if (text) {
      const hay = `${t.id} ${t.name} ${agentName(t.agent)} ${frameworkName(t.fw)} ${stateLabel(t.state)}`.toLowerCase();
      if (!hay.includes(text)) return false;
    }
    return true;
  }).sort((a, b) => (ACTIVE.has(b.state) - ACTIVE.has(a.state)) || b.updated - a.updated);
}

// The tasks view keeps its controls (and their focus) across updates;
// only the results are redrawn.
function viewTasks(results) {
  const f = ui.filters;
  const opt = (v, label, cur) => h('option', { value: v, selected: v === cur }, label);
  const search = h('input', {
    type: 'search', id: 'task-filter', placeholder: 'Name, id, slave, framework…', value: f.text,
    autocomplete: 'off', oninput: (e) => { f.text = e.target.value; drawTaskResults(); },
  });
  const state = h('select', { id: 'state-filter', onchange: (e) => { f.state = e.target.value; drawTaskResults(); } },
    STATE_FILTERS.map(([v, l]) => opt(v, l, f.state)));
  const fws = h('select', { id: 'framework-filter', onchange: (e) => { f.framework = e.target.value; drawTaskResults(); } },
    opt('', 'All frameworks', f.framework),
    [...model.frameworks.values()].map((x) => opt(x.id, x.name || x.id, f.framework)));
  const agents = h('select', { id: 'agent-filter', onchange: (e) => { f.agent = e.target.value; drawTaskResults(); } },
    opt('', 'All slaves', f.agent),
    [...model.agents.values()].map((x) => opt(x.id, x.hostname, f.agent)));
  return [
    h('div', { class: 'page-head' }, h('h1', {}, 'Tasks')),
    h('form', { class: 'filters', role: 'search', 'aria-label': 'Filter tasks', onsubmit: (e) => e.preventDefault() },
      h('div', { class: 'field grow' }, h('label', { for: 'task-filter' }, 'Search'), search),
      h('div', { class: 'field' }, h('label', { for: 'state-filter' }, 'State'), state),
      h('div', { class: 'field' }, h('label', { for: 'framework-filter' }, 'Framework'), fws),
      h('div', { class: 'field' }, h('label', { for: 'agent-filter' }, 'Slave'), agents)),
    results,
  ];
}

function drawTaskResults() {
  const box = document.getElementById('task-results');
  if (!box) return;
  const all = filteredTasks();
  const shown = all.slice(0, MAX_TASK_ROWS);
  fill(box,
    h('p', { class: 'muted small', role: 'status', id: 'task-count' },
      all.length > shown.length ? `Showing ${shown.length} of ${all.length} tasks; narrow the filter to see the rest.`
        : `${all.length} task${all.length === 1 ? '' : 's'}`),
    h('div', { class: 'panel flush' }, tasksTable(shown, 'Tasks')));
}

function viewTask(fw, id) {
  const t = model.tasks.get(`${fw}/${id}`);
  if (!t) {
    return [h('div', { class: 'page-head' }, h('h1', {}, 'Task not found'),
      h('p', { class: 'muted' }, model.subscribedAt ? `The master does not know task ${id} (any more).` : 'Loading…'))];
  }
  const a = model.agents.get(t.agent);
  const f = model.frameworks.get(t.fw);
  const r = t.resources;
  const res = [`${amount('cpus', r.cpus)} CPUs`, `${fmtMB(r.mem)} memory`];
  if (r.disk) res.push(`${fmtMB(r.disk)} disk`);
  if (r.ranges.length) res.push(`ports ${rangesText(r.ranges)}`);
  const dl = (pairs) => h('dl', { class: 'props' }, pairs.map(([k, v]) => h('div', {}, h('dt', {}, k), h('dd', {}, v))));
  return [
    h('nav', { class: 'crumbs page-crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/tasks' }, 'Tasks'),
      h('span', { class: 'sep', 'aria-hidden': 'true' }, '/'), h('span', { 'aria-current': 'page' }, t.name)),
    h('div', { class: 'page-head row' }, h('h1', { id: 'task-title' }, t.name), h('span', { id: 'task-state' }, stateBadge(t.state)), health(t, true)),
    h('div', { class: 'grid cols-2' },
      h('section', { class: 'panel', 'aria-label': 'Task' }, dl([
        ['Task id', h('code', {}, t.id)],
        ['Framework', f ? h('a', { href: `#/tasks?framework=${encodeURIComponent(f.id)}` }, f.name) : short(t.fw)],
        ['Slave', a ? h('a', { href: `#/tasks?agent=${encodeURIComponent(a.id)}` }, a.hostname) : short(t.agent)],
        ['Resources', res.join(' · ')],
        ['Container', t.container],
        ['Last message', t.message || '—'],
        ['Updated', `${fmtTime(t.updated)} (${fmtAgo(t.updated)})`],
      ])),
      h('section', { class: 'panel', 'aria-labelledby': 'history-title' }, h('h2', { id: 'history-title' }, 'State history'),
        h('ol', { class: 'timeline' }, t.history.map(([s, ts]) => h('li', {}, stateBadge(s), h('span', { class: 'muted small' }, fmtTime(ts))))))),
  ];
}

// ------------------------------------------------------------ routing

function parseHash() {
  const raw = window.location.hash.replace(/^#\/?/, '');
  const [path, query] = raw.split('?');
  const parts = path.split('/').map(decodeURIComponent);
  return { name: parts[0] || 'overview', parts, query: new URLSearchParams(query || '') };
}

function route() {
  const r = parseHash();
  if (ui.sandbox) { ui.sandbox.stop(); ui.sandbox = null; }
  ui.view = r;
  if (r.name === 'tasks') {
    if (r.query.has('framework')) { ui.filters.framework = r.query.get('framework'); ui.filters.agent = ''; }
    if (r.query.has('agent')) { ui.filters.agent = r.query.get('agent'); ui.filters.framework = ''; }
  }
  for (const a of document.querySelectorAll('.tabs a')) {
    const cur = a.dataset.view === r.name || (r.name === 'task' && a.dataset.view === 'tasks');
    if (cur) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  }
  draw(true);
  main.focus({ preventScroll: true });
}

// Redraw the current view. full: also what keeps state (the tasks view's
// controls, the task page's sandbox).
function draw(full) {
  const v = ui.view || parseHash();
  const counts = model.taskCounts();
  drawMaster();
  document.getElementById('n-slaves').textContent = [...model.agents.values()].filter((a) => a.active).length;
  document.getElementById('n-frameworks').textContent = [...model.frameworks.values()].filter((f) => f.active).length;
  document.getElementById('n-tasks').textContent = counts.active;
  if (v.name === 'tasks') {
    if (full || !document.getElementById('task-results')) fill(main, viewTasks(h('div', { id: 'task-results' })));
    drawTaskResults();
    return;
  }
  if (v.name === 'task') {
    const [fw, id] = [v.parts[1] || '', v.parts.slice(2).join('/')];
    let top = document.getElementById('task-top');
    if (full || !top) {
      top = h('div', { id: 'task-top' });
      fill(main, top);
    }
    fill(top, viewTask(fw, id));
    const t = model.tasks.get(`${fw}/${id}`);
    if (t && !ui.sandbox) {
      ui.sandbox = new SandboxView(t);
      main.append(ui.sandbox.el);
      ui.sandbox.start();
    }
    return;
  }
  const views = { overview: viewOverview, slaves: viewSlaves, frameworks: viewFrameworks };
  fill(main, (views[v.name] || viewOverview)());
}

// Coalesce the events of a burst into one redraw (at most five a second:
// a busy cluster sends hundreds of events a second).
function changed() {
  if (ui.dirty) return;
  ui.dirty = true;
  setTimeout(() => requestAnimationFrame(() => { ui.dirty = false; draw(false); }), REDRAW_MS);
}

// ------------------------------------------------------------ live data

function setConn(state, detail) {
  const el = document.getElementById('conn');
  const text = document.getElementById('conn-text');
  el.dataset.state = state;
  ui.live = state === 'live';
  if (state === 'live') text.textContent = 'Live';
  else if (state === 'connecting') text.textContent = 'Connecting…';
  else {
    const secs = Math.max(0, Math.round((detail.at - Date.now()) / 1000));
    text.textContent = `Reconnecting${secs ? ` in ${secs}s` : '…'}`;
    el.title = detail.reason;
  }
  if (state === 'live') el.removeAttribute('title');
}

async function loadMaster() {
  try {
    ui.master = (await operatorCall('GET_MASTER')).get_master;
    drawMaster();
  } catch (e) {
    fill(document.getElementById('master-info'), h('span', { class: 'error' }, e.message));
  }
}

function drawMaster() {
  const m = ui.master;
  if (!m) return;
  const info = m.master_info || {};
  const addr = `${info.hostname || (info.address && info.address.hostname) || ''}:${info.port || (info.address && info.address.port) || ''}`;
  fill(document.getElementById('master-info'),
    h('span', {}, 'Leading master ', h('strong', {}, addr)),
    info.version ? h('span', {}, `version ${info.version}`) : null,
    m.elected_time ? h('span', {}, `elected ${fmtAgo(m.elected_time)}`) : null);
}

async function refreshOffers() {
  if (document.visibilityState !== 'visible' || !ui.live) return;
  try {
    const agents = (await operatorCall('GET_AGENTS')).get_agents.agents || [];
    for (const a of agents) {
      const cur = model.agents.get(a.agent_info.id.value);
      if (cur) cur.offered = summarize(a.offered_resources);
    }
    changed();
  } catch { /* the stream's status says what is wrong */ }
}

function sample() {
  if (model.subscribedAt) history.add(model.totals());
  model.prune();
  // The overview's charts and every "… ago" move with time.
  if (!ui.view || ['overview', 'slaves', 'frameworks'].includes(ui.view.name)) changed();
}

window.addEventListener('hashchange', route);
route();
loadMaster();
subscribe({
  onEvent(ev) {
    if (model.apply(ev)) {
      // The first point of the charts waits for the offers.
      if (ev.type === 'SUBSCRIBED') refreshOffers().then(() => history.add(model.totals()));
      changed();
    }
  },
  onStatus: setConn,
});
setInterval(sample, SAMPLE_EVERY_MS);
setInterval(refreshOffers, OFFERS_EVERY_MS);
