// Pacer's web UI: the apps, an app's page (instances, deployments with
// their progress, the queue's reasons, versions), the app form, the
// deployments, the queue and the event feed. It follows /v2/events: an
// event that changes apps, instances or deployments makes the page re-read
// them (at most one read in flight, the next one after it), so what it
// shows changes as Pacer does, with no timer polling.

import { h, fill, fmtNumber, fmtMB, fmtAgo, fmtClock, badge, table } from './dom.js';
import { api, appPath, loadAll, follow, ApiError } from './api.js';
import {
  appStatus, counts, deploymentsOf, deploymentProgress, actionLabel, queueEntry, placementReasons,
  taskHealth, editable,
} from './model.js';
import { AppForm } from './form.js';

const MAX_EVENTS = 300;
// Events that change what /v2/apps, /v2/deployments or /v2/queue say.
const CHANGES = ['status_update_event', 'instance_changed_event', 'health_status_changed_event',
  'instance_health_changed_event', 'failed_health_check_event', 'unhealthy_instance_kill_event',
  'deployment_info', 'deployment_success', 'deployment_failed', 'deployment_step_success',
  'deployment_step_failure', 'api_post_event', 'app_terminated_event', 'group_change_success',
  'group_change_failed', 'add_health_check_event', 'remove_health_check_event',
  'unknown_instance_terminated_event', 'instance_terminated_event'];
const OTHER = ['event_stream_attached', 'event_stream_detached', 'framework_message_event',
  'scheduler_registered_event', 'scheduler_reregistered_event', 'scheduler_disconnected_event'];

const main = document.getElementById('main');
const state = {
  apps: new Map(),      // id -> app with tasks, deployments, lastTaskFailure
  deployments: [],
  queue: [],
  events: [],           // newest first: { type, data, at }
  loaded: false,
  versions: new Map(),  // app id -> its version list
  form: null,           // the AppForm on screen
  view: null,
  eventFilter: '',
  appFilter: '',
};

// ------------------------------------------------------------ helpers

function toast(text, tone = 'ok') {
  const t = h('div', { class: `toast toast-${tone}` }, text);
  document.getElementById('toasts').append(t);
  setTimeout(() => t.remove(), tone === 'bad' ? 8000 : 4000);
}

function confirmDialog(title, text, okLabel) {
  const d = document.getElementById('confirm');
  document.getElementById('confirm-title').textContent = title;
  document.getElementById('confirm-text').textContent = text;
  document.getElementById('confirm-ok').textContent = okLabel;
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => d.addEventListener('close', () => resolve(d.returnValue === 'ok'), { once: true }));
}

const appHref = (id) => `#/app/${encodeURIComponent(id)}`;
const time = (iso) => (iso ? Date.parse(iso) / 1000 : 0);

function statusBadge(app) {
  const s = appStatus(app, state.deployments, state.queue);
  return h('span', { class: 'app-status', dataset: { status: s.key } }, badge(s.label, s.tone));
}

function healthBadge(kind) {
  switch (kind) {
    case 'healthy': return badge('Healthy', 'ok');
    case 'unhealthy': return badge('Unhealthy', 'bad');
    case 'pending': return badge('Pending', 'info', 'No health check result yet');
    default: return h('span', { class: 'muted', 'aria-label': 'No health check' }, '—');
  }
}

function taskStateBadge(s) {
  const label = String(s || '').replace(/^TASK_/, '').toLowerCase();
  const tone = { TASK_RUNNING: 'ok', TASK_STAGING: 'info', TASK_STARTING: 'info', TASK_KILLING: 'warn' }[s] || 'muted';
  return badge(label.charAt(0).toUpperCase() + label.slice(1), tone);
}

// running / healthy / target, with a meter of healthy (or running) of target.
function instancesCell(app) {
  const c = counts(app);
  const hasChecks = (app.healthChecks || []).length > 0;
  const good = hasChecks ? c.healthy : c.running;
  const m = h('span', { class: 'meter', 'aria-hidden': 'true' }, h('span', {}));
  m.firstChild.style.width = `${c.target ? Math.min(100, (100 * good) / c.target) : 0}%`;
  return h('span', { class: 'inst', 'aria-label': `${c.running} running, ${c.healthy} healthy, ${c.target} wanted` },
    h('span', { class: 'inst-nums' },
      h('b', { class: 'inst-running' }, c.running), h('span', { class: 'muted' }, ' / '),
      h('span', { class: 'inst-healthy' }, hasChecks ? c.healthy : '–'), h('span', { class: 'muted' }, ' / '),
      h('span', { class: 'inst-target' }, c.target)),
    m);
}

function chips(labels) {
  const e = Object.entries(labels || {});
  if (!e.length) return h('span', { class: 'muted' }, '—');
  return h('span', { class: 'chips' }, e.map(([k, v]) => h('span', { class: 'chip' }, `${k}: ${v}`)));
}

function shortVersion(v) {
  return v ? v.replace('T', ' ').replace(/\.\d+Z$/, 'Z') : '–';
}

// ------------------------------------------------------------ actions

// Run a change; fn(force) makes the call. A 409 (a deployment holds the
// app) asks whether to override it, as Marathon's ?force=true does.
async function act(what, fn) {
  try {
    let r;
    try {
      r = await fn(false);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 409 || !e.body.deployments) throw e;
      if (!(await confirmDialog('A deployment is in progress', `${e.message} Override it and go on?`, 'Force'))) return null;
      r = await fn(true);
    }
    toast(what);
    refresh();
    return r || true;
  } catch (e) {
    const details = (e.body && e.body.details) || [];
    toast(`${what} failed: ${e.message}${details.length ? ` (${details.map((d) => `${d.path}: ${(d.errors || []).join(', ')}`).join('; ')})` : ''}`, 'bad');
    return null;
  }
}

const forced = (path, force) => (force ? `${path}?force=true` : path);
const scale = (id, n) => act(`Scaling ${id} to ${n}`, (f) => api('PUT', forced(appPath(id), f), { instances: n }));
const restart = (id) => act(`Restarting ${id}`, (f) => api('POST', forced(`${appPath(id)}/restart`, f)));
async function suspend(id) {
  if (await confirmDialog(`Suspend ${id}?`, 'Scales the app to 0 instances; its configuration is kept.', 'Suspend')) {
    await scale(id, 0);
  }
}
async function destroy(id) {
  if (!(await confirmDialog(`Destroy ${id}?`, 'Kills every instance and deletes the app and its versions.', 'Destroy'))) return;
  if (await act(`Destroying ${id}`, (f) => api('DELETE', forced(appPath(id), f)))) location.hash = '#/apps';
}
async function rollback(dep) {
  const apps = (dep.affectedApps || []).join(', ');
  if (await confirmDialog('Roll back this deployment?', `Stops deployment ${dep.id} and deploys the previous configuration of ${apps}.`, 'Roll back')) {
    await act('Rolling back', () => api('DELETE', `/v2/deployments/${encodeURIComponent(dep.id)}`));
  }
}

// ------------------------------------------------------------ views

// Does app match the list's filter (its id, status or a label)?
function appMatches(app, f) {
  if (!f) return true;
  const s = appStatus(app, state.deployments, state.queue);
  return [app.id, s.label, ...Object.entries(app.labels || {}).map(([k, v]) => `${k}:${v}`)]
    .some((x) => x.toLowerCase().includes(f));
}

function viewApps() {
  const f = state.appFilter.trim().toLowerCase();
  const all = [...state.apps.values()].sort((a, b) => a.id.localeCompare(b.id));
  const apps = all.filter((a) => appMatches(a, f));
  const cols = [
    { title: 'App' }, { title: 'Status' }, { title: 'Instances', cls: 'num' }, { title: 'CPUs', cls: 'num' },
    { title: 'Memory', cls: 'num' }, { title: 'Version' }, { title: 'Labels' },
  ];
  const rows = apps.map((a) => ({
    attrs: { dataset: { app: a.id } },
    cells: [
      h('a', { class: 'app-link', href: appHref(a.id) }, a.id),
      statusBadge(a),
      instancesCell(a),
      fmtNumber(a.cpus, 2),
      fmtMB(a.mem),
      h('span', { class: 'mono small', title: a.version }, shortVersion(a.version)),
      chips(a.labels),
    ],
  }));
  return [
    h('div', { class: 'page-head row' },
      h('div', { class: 'stack grow' }, h('h1', {}, 'Apps'),
        h('p', { class: 'muted' }, 'Instances: running / healthy / wanted.')),
      h('a', { class: 'btn btn-primary', href: '#/new', id: 'create-app' }, '+ Create app')),
    all.length > 1 || f ? h('div', { class: 'filters' }, h('div', { class: 'field grow' },
      h('label', { for: 'app-filter' }, 'Filter'),
      h('input', { type: 'search', id: 'app-filter', value: state.appFilter, placeholder: 'id, status or label (team:web)',
        oninput: (e) => { state.appFilter = e.target.value; draw(); refocus('app-filter'); } }))) : null,
    h('section', { class: 'panel flush', 'aria-label': 'Apps' },
      table('Apps', cols, rows, !state.loaded ? 'Loading…' : all.length ? 'No app matches the filter.' : 'No apps yet: create one.')),
  ];
}

function stepBars(dep, compact) {
  const steps = deploymentProgress(dep, state.apps);
  return h('ol', { class: `steps${compact ? ' compact' : ''}`, 'aria-label': `Steps of deployment ${dep.id}` }, steps.map((s) => {
    const bar = h('div', { class: 'progress', role: 'progressbar', 'aria-valuemin': 0, 'aria-valuemax': 100, 'aria-valuenow': s.pct,
      'aria-label': `Step ${s.n}: ${s.pct}%` }, h('span', {}));
    bar.firstChild.style.width = `${s.pct}%`;
    return h('li', { class: `step step-${s.state}`, dataset: { step: s.n, state: s.state } },
      h('div', { class: 'step-head' },
        h('span', { class: 'step-n' }, `Step ${s.n}`),
        h('span', { class: 'step-actions' }, s.actions.map((a) => `${actionLabel(a.action)} ${a.app || ''}`).join(', ')),
        h('span', { class: 'step-pct' }, s.state === 'pending' ? 'pending' : `${s.done} / ${s.total}`)),
      bar);
  }));
}

function deploymentCard(dep, showApps) {
  return h('article', { class: 'deployment', dataset: { deployment: dep.id } },
    h('header', { class: 'dep-head' },
      h('div', { class: 'stack' },
        h('strong', {}, showApps ? (dep.affectedApps || []).map((id) => h('a', { href: appHref(id), class: 'dep-app' }, id)) : 'Deployment'),
        h('span', { class: 'muted small mono' }, `${dep.id} · step ${dep.currentStep || 0} of ${dep.totalSteps || (dep.steps || []).length} · ${fmtAgo(time(dep.version))}`)),
      h('button', { class: 'btn btn-sm', type: 'button', 'aria-label': `Roll back deployment ${dep.id}`, onclick: () => rollback(dep) }, 'Roll back')),
    stepBars(dep));
}

function queuePanel(q) {
  const reasons = placementReasons(q);
  const s = q.processedOffersSummary || {};
  return h('section', { class: 'panel queue', 'aria-labelledby': 'queue-title', dataset: { queue: q.app.id } },
    h('div', { class: 'panel-head' }, h('h2', { id: 'queue-title' }, `Waiting to be placed: ${q.count} instance${q.count === 1 ? '' : 's'}`),
      q.delay && !q.delay.overdue && q.delay.timeLeftSeconds > 0
        ? badge(`Delayed ${fmtNumber(q.delay.timeLeftSeconds, 0)} s (back-off after failures)`, 'warn') : null),
    reasons.length
      ? [h('p', { class: 'muted' }, `Of the last ${s.processedOffersCount ?? '?'} offers, ${s.unusedOffersCount ?? '?'} could not be used:`),
        h('ul', { class: 'reasons' }, reasons.map((r) => h('li', { class: 'reason', dataset: { reason: r.reason } },
          h('span', { class: 'reason-count' }, `${r.declined} of ${r.processed}`), h('span', {}, r.text), h('code', { class: 'muted' }, r.reason))))]
      : h('p', { class: 'muted' }, 'No offer has been declined for it yet.'),
    s.lastUnusedOfferAt ? h('p', { class: 'muted small' }, `Last unused offer ${fmtAgo(time(s.lastUnusedOfferAt))}.`) : null);
}

function instancesTable(app) {
  const tasks = [...(app.tasks || [])].sort((a, b) => (a.host || '').localeCompare(b.host || '') || (a.startedAt || '').localeCompare(b.startedAt || ''));
  const cols = [{ title: 'Instance' }, { title: 'State' }, { title: 'Health' }, { title: 'Host' }, { title: 'Ports' },
    { title: 'Started' }, { title: 'Version' }];
  const rows = tasks.map((t) => {
    const hk = taskHealth(t, app);
    const res = (t.healthCheckResults || [])[0];
    return {
      attrs: { dataset: { task: t.id, state: t.state, health: hk } },
      cells: [
        h('code', { class: 'task-id', title: t.id }, t.id.replace(/^.*\.instance-/, '').slice(0, 8)),
        taskStateBadge(t.state),
        h('span', { class: 'stack' }, healthBadge(hk),
          res && res.lastFailureCause ? h('span', { class: 'small error' }, res.lastFailureCause) : null),
        t.host || '–',
        h('span', { class: 'mono' }, (t.ports || []).join(', ') || '–'),
        t.startedAt ? h('span', { title: t.startedAt }, fmtClock(time(t.startedAt)), h('span', { class: 'muted small' }, ` · ${fmtAgo(time(t.startedAt))}`)) : h('span', { class: 'muted' }, 'not yet'),
        h('span', { class: `mono small${t.version === app.version ? '' : ' old-version'}`, title: t.version }, shortVersion(t.version)),
      ],
    };
  });
  return table('Instances', cols, rows, app.instances ? 'No instance is running yet.' : 'Suspended: no instances wanted.');
}

function versionsPanel(app) {
  const versions = state.versions.get(app.id) || [app.version];
  return h('section', { class: 'panel', 'aria-labelledby': 'versions-title' },
    h('div', { class: 'panel-head' }, h('h2', { id: 'versions-title' }, 'Versions')),
    h('ul', { class: 'versions' }, versions.slice(0, 12).map((v) => h('li', {},
      h('span', { class: 'mono small' }, shortVersion(v)),
      v === app.version ? badge('current', 'ok') : null,
      v === app.version ? null : h('button', { class: 'btn btn-sm', type: 'button', 'aria-label': `Deploy version ${v} again`,
        onclick: () => act(`Deploying version ${v}`, async (f) => {
          const old = await api('GET', `${appPath(app.id)}/versions/${encodeURIComponent(v)}`);
          return api('PUT', forced(appPath(app.id), f), editable(old));
        }) }, 'Deploy')))));
}

function viewApp(id) {
  const app = state.apps.get(id);
  if (!app) {
    return h('div', { class: 'panel' }, h('h1', {}, id), h('p', { class: 'muted', id: 'app-missing' },
      state.loaded ? 'No such app (destroyed?).' : 'Loading…'), h('a', { href: '#/apps' }, '← All apps'));
  }
  // A new version (scaled, restarted, edited): the list is read again.
  const known = state.versions.get(id);
  if (!state.versions.has(id) || (known && !known.includes(app.version))) loadVersions(id);
  const c = counts(app);
  const deps = deploymentsOf(state.deployments, id);
  const q = queueEntry(state.queue, id);
  // What the user typed survives a redraw (the click on Scale moves the
  // focus first, and the redraw that was held back runs before the click).
  const typed = scaleDraft && scaleDraft.id === id ? scaleDraft.value : null;
  const scaleInput = h('input', { type: 'number', min: 0, step: 1, id: 'scale-n', value: typed ?? app.instances, 'aria-label': 'Instances wanted',
    oninput: (e) => { scaleDraft = { id, value: e.target.value }; } });
  const failure = app.lastTaskFailure;
  return [
    h('nav', { class: 'crumbs page-crumbs', 'aria-label': 'Breadcrumb' }, h('a', { href: '#/apps' }, 'Apps'), h('span', { class: 'sep' }, '/'), h('span', {}, id)),
    h('div', { class: 'page-head row' },
      h('h1', { id: 'app-title' }, id), statusBadge(app),
      h('span', { class: 'muted', id: 'app-counts' }, (app.healthChecks || []).length
        ? `${c.running} running · ${c.healthy} healthy · ${c.target} wanted` : `${c.running} running · ${c.target} wanted`)),
    h('section', { class: 'toolbar', 'aria-label': 'Actions' },
      h('form', { class: 'scale', onsubmit: (e) => { e.preventDefault(); scaleDraft = null; scale(id, Number(scaleInput.value)); } },
        h('label', { for: 'scale-n' }, 'Instances'), scaleInput,
        h('button', { class: 'btn btn-primary', type: 'submit', id: 'scale-btn' }, 'Scale')),
      h('div', { class: 'btn-row' },
        h('button', { class: 'btn', type: 'button', id: 'restart-btn', onclick: () => restart(id) }, 'Restart'),
        h('button', { class: 'btn', type: 'button', id: 'suspend-btn', onclick: () => suspend(id), disabled: app.instances === 0 }, 'Suspend'),
        h('a', { class: 'btn', href: `#/edit/${encodeURIComponent(id)}`, id: 'edit-btn' }, 'Edit'),
        h('button', { class: 'btn btn-danger', type: 'button', id: 'destroy-btn', onclick: () => destroy(id) }, 'Destroy'))),
    deps.length ? h('section', { class: 'panel', 'aria-labelledby': 'deps-title', id: 'app-deployments' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'deps-title' }, 'Deployment in progress')),
      deps.map((d) => deploymentCard(d, false))) : null,
    q ? queuePanel(q) : null,
    h('section', { class: 'panel', 'aria-labelledby': 'inst-title' },
      h('div', { class: 'panel-head' }, h('h2', { id: 'inst-title' }, 'Instances'),
        h('span', { class: 'muted small' }, `${fmtNumber(app.cpus, 2)} CPUs · ${fmtMB(app.mem)} each`)),
      instancesTable(app)),
    h('div', { class: 'grid cols-2' },
      h('section', { class: 'panel', 'aria-labelledby': 'conf-title' },
        h('div', { class: 'panel-head' }, h('h2', { id: 'conf-title' }, 'Configuration')),
        h('dl', { class: 'props' },
          prop('Command', app.cmd ? h('code', {}, app.cmd) : (app.container ? 'container default' : '–')),
          app.container && app.container.docker ? prop('Image', h('code', {}, app.container.docker.image)) : null,
          prop('Resources', `${fmtNumber(app.cpus, 2)} CPUs · ${fmtMB(app.mem)} memory · ${fmtMB(app.disk || 0)} disk`),
          prop('Service ports', (app.portDefinitions || []).map((p) => p.port).join(', ') || '–'),
          prop('Health checks', (app.healthChecks || []).map((hc) => `${hc.protocol}${hc.path ? ` ${hc.path}` : ''} every ${hc.intervalSeconds}s`).join('; ') || 'none'),
          prop('Labels', chips(app.labels)),
          prop('Version', h('span', { class: 'mono small' }, app.version)),
          failure ? prop('Last failure', h('span', { class: 'stack' }, h('span', { class: 'error' }, `${failure.state}: ${failure.message || ''}`),
            h('span', { class: 'muted small' }, `${failure.host || ''} · ${fmtAgo(time(failure.timestamp))}`))) : null)),
      versionsPanel(app)),
  ];
}

function prop(k, v) {
  return h('div', {}, h('dt', {}, k), h('dd', {}, v));
}

async function loadVersions(id) {
  state.versions.set(id, null);
  try {
    const v = await api('GET', `${appPath(id)}/versions`);
    state.versions.set(id, (v.versions || []).slice().sort().reverse());
  } catch {
    state.versions.delete(id);
    return;
  }
  if (state.view === `app:${id}`) draw();
}

function viewDeployments() {
  return [
    h('div', { class: 'page-head' }, h('h1', {}, 'Deployments'),
      h('p', { class: 'muted' }, 'Each step\'s bar: the instances of its apps running their new version (and healthy), of those wanted.')),
    state.deployments.length
      ? h('section', { class: 'panel' }, state.deployments.map((d) => deploymentCard(d, true)))
      : h('section', { class: 'panel' }, h('p', { class: 'empty' }, 'No deployment in progress.')),
  ];
}

function viewQueue() {
  return [
    h('div', { class: 'page-head' }, h('h1', {}, 'Launch queue'),
      h('p', { class: 'muted' }, 'Instances waiting for an offer, and why the offers seen did not fit.')),
    state.queue.length
      ? state.queue.map((q) => h('div', {}, h('h2', { class: 'queue-app' }, h('a', { href: appHref(q.app.id) }, q.app.id)), queuePanel(q)))
      : h('section', { class: 'panel' }, h('p', { class: 'empty' }, 'Nothing is waiting.')),
  ];
}

// A line of the event feed.
function eventSummary(type, d) {
  switch (type) {
    case 'status_update_event': return `${d.appId} ${d.taskStatus} on ${d.host}${d.message ? `: ${d.message}` : ''}`;
    case 'instance_changed_event': return `${d.runSpecId} instance ${d.condition} on ${d.host}`;
    case 'instance_health_changed_event': return `${d.runSpecId} instance ${d.healthy ? 'healthy' : 'unhealthy'}`;
    case 'health_status_changed_event': return `${d.appId} ${d.alive ? 'alive' : 'not alive'}`;
    case 'failed_health_check_event': return `${d.appId} failed a health check`;
    case 'unhealthy_instance_kill_event': return `${d.appId} unhealthy instance killed: ${d.reason || ''}`;
    case 'api_post_event': return `${d.uri} ${d.appDefinition ? d.appDefinition.id : ''}`;
    case 'app_terminated_event': return `${d.appId} terminated`;
    case 'deployment_info': case 'deployment_success': case 'deployment_failed':
    case 'deployment_step_success': case 'deployment_step_failure': {
      const plan = d.plan || {};
      const apps = new Set((plan.steps || []).flatMap((s) => (s.actions || []).map((a) => a.app)));
      return `${[...apps].join(', ')} · ${plan.id || ''}`;
    }
    default: return '';
  }
}

const EVENT_TONES = { deployment_success: 'ok', deployment_failed: 'bad', deployment_step_failure: 'bad',
  failed_health_check_event: 'bad', unhealthy_instance_kill_event: 'bad', app_terminated_event: 'warn',
  deployment_info: 'info', deployment_step_success: 'info' };

function eventTone(e) {
  if (e.type === 'status_update_event') {
    const s = e.data.taskStatus;
    if (s === 'TASK_RUNNING') return 'ok';
    if (['TASK_FAILED', 'TASK_LOST', 'TASK_ERROR', 'TASK_DROPPED', 'TASK_GONE'].includes(s)) return 'bad';
    if (['TASK_KILLED', 'TASK_KILLING', 'TASK_UNREACHABLE'].includes(s)) return 'warn';
  }
  if (e.type === 'instance_health_changed_event') return e.data.healthy ? 'ok' : 'bad';
  return EVENT_TONES[e.type] || 'muted';
}

function viewEvents() {
  const f = state.eventFilter.toLowerCase();
  const shown = state.events.filter((e) => !f || e.type.includes(f) || e.summary.toLowerCase().includes(f));
  const input = h('input', { type: 'search', id: 'event-filter', value: state.eventFilter, placeholder: 'type or app', 'aria-label': 'Filter events',
    oninput: (e) => { state.eventFilter = e.target.value; draw(); refocus('event-filter'); } });
  return [
    h('div', { class: 'page-head' }, h('h1', {}, 'Events'),
      h('p', { class: 'muted' }, `The last ${MAX_EVENTS} events of /v2/events since this page was opened, newest first.`)),
    h('div', { class: 'filters' }, h('div', { class: 'field grow' }, h('label', { for: 'event-filter' }, 'Filter'), input)),
    h('section', { class: 'panel flush', 'aria-label': 'Events' },
      shown.length ? h('ol', { class: 'feed' }, shown.map((e) => h('li', { dataset: { type: e.type } },
        h('span', { class: 'feed-time mono small' }, fmtClock(e.at)),
        badge(e.type.replace(/_event$/, '').replace(/_/g, ' '), eventTone(e)),
        h('span', { class: 'feed-text' }, e.summary))))
        : h('p', { class: 'empty' }, 'No events yet.')),
  ];
}

function viewForm(id) {
  if (id !== null && !state.apps.has(id)) {
    return h('div', { class: 'panel' }, h('p', { class: 'muted' }, state.loaded ? `No such app: ${id}` : 'Loading…'));
  }
  // Keep the form (and what was typed) across redraws of live data.
  const key = id === null ? 'new' : `edit:${id}`;
  if (!state.form || state.form.key !== key) {
    state.form = new AppForm({
      key,
      app: id === null ? null : state.apps.get(id),
      onSaved: (savedId) => { state.form = null; toast(id === null ? `Created ${savedId}` : `Deploying ${savedId}`); location.hash = appHref(savedId); refresh(); },
      onCancel: () => { state.form = null; location.hash = id === null ? '#/apps' : appHref(id); },
    });
  }
  return state.form.el;
}

// ------------------------------------------------------------ routing

function parseRoute() {
  const raw = window.location.hash.replace(/^#\/?/, '');
  const [view, ...rest] = raw.split('/');
  const arg = rest.length ? decodeURIComponent(rest.join('/')) : null;
  return { view: view || 'apps', arg };
}

function draw() {
  const { view, arg } = parseRoute();
  const key = arg === null ? view : `${view}:${arg}`;
  if (state.view !== key && !['new', 'edit'].includes(view)) state.form = null;
  const changed = state.view !== key;
  state.view = key;
  const nav = { app: 'apps', new: 'apps', edit: 'apps' }[view] || view;
  for (const a of document.querySelectorAll('.tabs a')) {
    if (a.dataset.view === nav) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  let body;
  let title = 'Apps';
  switch (view) {
    case 'app': body = viewApp(arg); title = arg; break;
    case 'new': body = viewForm(null); title = 'New app'; break;
    case 'edit': body = viewForm(arg); title = `Edit ${arg}`; break;
    case 'deployments': body = viewDeployments(); title = 'Deployments'; break;
    case 'queue': body = viewQueue(); title = 'Queue'; break;
    case 'events': body = viewEvents(); title = 'Events'; break;
    default: body = viewApps();
  }
  document.title = `Pacer · ${title}`;
  // A form on screen is not rebuilt, nor taken out and put back: a node
  // taken out of the page loses the focus, and what the user (or a test's
  // keyboard) types next would go nowhere.
  const scrollY = window.scrollY;
  if (main.childNodes.length !== 1 || main.firstChild !== body) fill(main, body);
  if (!changed) window.scrollTo(0, scrollY);
  document.getElementById('n-apps').textContent = state.loaded ? state.apps.size : '';
  document.getElementById('n-deployments').textContent = state.deployments.length || '';
  document.getElementById('n-queue').textContent = state.queue.length || '';
}

// Redraw. Not while the scale box has the focus (its value would be
// lost); a filter box keeps its focus and caret across the redraw.
function redraw() {
  const a = document.activeElement;
  if (a && a.id === 'scale-n') { pendingDraw = true; return; }
  const filter = a && (a.id === 'app-filter' || a.id === 'event-filter') ? a : null;
  const caret = filter ? filter.selectionStart : 0;
  draw();
  if (filter) refocus(filter.id, caret);
}

function refocus(id, caret) {
  const i = document.getElementById(id);
  if (!i) return;
  i.focus();
  const at = caret ?? i.value.length;
  i.setSelectionRange(at, at);
}
let pendingDraw = false;
let scaleDraft = null; // {id, value}: the scale box's value the user typed, not yet sent
document.addEventListener('focusout', () => { if (pendingDraw) { pendingDraw = false; setTimeout(draw, 0); } });

// ------------------------------------------------------------ data

let loading = null;
let again = false;

// Re-read apps, deployments and queue; one read at a time, and one more
// after it when something changed meanwhile.
async function refresh() {
  if (loading) { again = true; return loading; }
  loading = (async () => {
    do {
      again = false;
      try {
        const s = await loadAll();
        state.apps = new Map(s.apps.map((a) => [a.id, a]));
        state.deployments = s.deployments;
        state.queue = s.queue;
        state.loaded = true;
      } catch (e) {
        if (e instanceof ApiError && e.status === 401) setConn('retrying', 'not authorised');
        else toast(`Reading Pacer failed: ${e.message}`, 'bad');
      }
      redraw();
    } while (again);
    loading = null;
    watchQueue();
  })();
  return loading;
}

// The queue's offer statistics (why an instance is not placed) change
// with every offer, and offers are not events of /v2/events: while the
// page shows an app waiting in the queue, the state is read again every
// few seconds. Nothing else is re-read without an event.
const QUEUE_EVERY_MS = 3000;
let queueTimer = null;
function watchQueue() {
  const { view, arg } = parseRoute();
  const waiting = (view === 'app' && queueEntry(state.queue, arg)) || (view === 'queue' && state.queue.length);
  if (!waiting || queueTimer || document.hidden) return;
  queueTimer = setTimeout(() => { queueTimer = null; refresh(); }, QUEUE_EVERY_MS);
}

let refreshTimer = null;
function soon() {
  // Events come in bursts (a deployment is dozens): one read per burst.
  if (refreshTimer) return;
  refreshTimer = setTimeout(() => { refreshTimer = null; refresh(); }, 150);
}

function setConn(s, detail) {
  const c = document.getElementById('conn');
  c.dataset.state = s;
  document.getElementById('conn-text').textContent = s === 'live' ? 'Live' : s === 'connecting' ? 'Connecting…' : `Reconnecting${detail ? ` (${detail})` : ''}`;
}

function onEvent(type, data) {
  const at = data.timestamp ? Date.parse(data.timestamp) / 1000 : Date.now() / 1000;
  state.events.unshift({ type, data, at, summary: eventSummary(type, data) });
  if (state.events.length > MAX_EVENTS) state.events.length = MAX_EVENTS;
  if (type === 'deployment_success' || type === 'api_post_event' || type === 'app_terminated_event') {
    // New versions: the app's list is read again when its page shows.
    const ids = type === 'api_post_event' ? [data.appDefinition && data.appDefinition.id] : [data.appId,
      ...((data.plan && data.plan.steps) || []).flatMap((s) => (s.actions || []).map((a) => a.app))];
    for (const id of ids) if (id) state.versions.delete(id);
  }
  if (CHANGES.includes(type)) soon();
  if (state.view === 'events') redraw();
}

async function showInfo() {
  try {
    const i = await api('GET', '/v2/info');
    fill(document.getElementById('pacer-info'),
      h('span', {}, h('strong', {}, 'Leader '), i.leader || '–'),
      h('span', {}, h('strong', {}, 'Version '), i.version),
      h('span', {}, h('strong', {}, 'Master '), (i.marathon_config && i.marathon_config.master) || '–'),
      h('span', {}, h('strong', {}, 'Framework '), h('code', {}, i.frameworkId || 'not registered')));
  } catch { /* the header stays empty */ }
}

window.addEventListener('hashchange', () => { draw(); watchQueue(); window.scrollTo(0, 0); main.focus({ preventScroll: true }); });
draw();
showInfo();
follow([...CHANGES, ...OTHER], { onEvent, onStatus: setConn, onOpen: refresh });
