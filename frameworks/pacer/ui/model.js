// Pure functions of Pacer's API answers (no DOM, no network), so node's
// test runner checks them (tests/ui/pacer_ui.test.mjs): an app's status,
// an instance's health, a deployment's progress step by step, the queue's
// "why not placed" reasons, the app form <-> app JSON, and where the
// errors of a 422 belong on the form.

// Fields Pacer computes; never sent back on PUT.
const READ_ONLY = ['version', 'versionInfo', 'tasksStaged', 'tasksRunning', 'tasksHealthy',
  'tasksUnhealthy', 'deployments', 'tasks', 'lastTaskFailure', 'taskStats', 'readinessCheckResults',
  'counts'];

export function editable(app) {
  const out = structuredClone(app);
  for (const k of READ_ONLY) delete out[k];
  return out;
}

// The deployments (of deps) that affect appId.
export function deploymentsOf(deps, appId) {
  return (deps || []).filter((d) => (d.affectedApps || []).includes(appId));
}

export function queueEntry(queue, appId) {
  return (queue || []).find((q) => q.app && q.app.id === appId) || null;
}

// An instance (a task of /v2/apps?embed=apps.tasks) : 'healthy',
// 'unhealthy', 'pending' (checks defined, no result yet) or 'none'.
export function taskHealth(task, app) {
  const checks = (app && app.healthChecks) || [];
  const results = task.healthCheckResults || [];
  if (!checks.length) return 'none';
  if (results.some((r) => r.alive === false)) return 'unhealthy';
  if (results.length >= checks.length && results.every((r) => r.alive === true)) return 'healthy';
  return 'pending';
}

// { key, label, tone } of an app, as Marathon's UI shows it: a
// deployment wins, then waiting in the queue (delayed after failures, or
// no offer fits), then suspended, then the health of what runs.
export function appStatus(app, deps, queue) {
  const q = queueEntry(queue, app.id);
  if (deploymentsOf(deps, app.id).length) {
    if (q && q.delay && !q.delay.overdue && q.delay.timeLeftSeconds > 0) return { key: 'delayed', label: 'Delayed', tone: 'warn' };
    if (q && q.count > 0 && placementBlocked(q)) return { key: 'waiting', label: 'Waiting', tone: 'warn' };
    return { key: 'deploying', label: 'Deploying', tone: 'info' };
  }
  if (app.instances === 0 && (app.tasksRunning || 0) === 0) return { key: 'suspended', label: 'Suspended', tone: 'muted' };
  if ((app.tasksUnhealthy || 0) > 0) return { key: 'unhealthy', label: 'Unhealthy', tone: 'bad' };
  if ((app.tasksRunning || 0) < app.instances) return { key: 'waiting', label: 'Waiting', tone: 'warn' };
  return { key: 'running', label: 'Running', tone: 'ok' };
}

// Did the offers seen decline this entry for some reason?
function placementBlocked(q) {
  return placementReasons(q).length > 0;
}

const REASONS = {
  UnfulfilledRole: 'the role of the offers does not match',
  UnfulfilledConstraint: 'the constraints do not match',
  InsufficientCpus: 'not enough CPUs',
  InsufficientMemory: 'not enough memory',
  InsufficientDisk: 'not enough disk',
  InsufficientGpus: 'not enough GPUs',
  InsufficientPorts: 'the ports are not available',
  DeclinedScarceResources: 'would use scarce resources (GPUs)',
};

// The reasons offers were declined for a queue entry, most frequent first:
// [{ reason, text, declined, processed }].
export function placementReasons(q) {
  const s = q && q.processedOffersSummary;
  if (!s) return [];
  const rows = (s.rejectSummaryLastOffers || []).filter((r) => r.declined > 0);
  return rows.map((r) => ({ reason: r.reason, text: REASONS[r.reason] || r.reason, declined: r.declined, processed: r.processed }))
    .sort((a, b) => b.declined - a.declined);
}

// Counts of an app's instances: { target, running, healthy, staged, unhealthy }.
export function counts(app) {
  return {
    target: app.instances || 0,
    running: app.tasksRunning || 0,
    healthy: app.tasksHealthy || 0,
    staged: app.tasksStaged || 0,
    unhealthy: app.tasksUnhealthy || 0,
  };
}

// The progress of one deployment: for every step { n, actions, state
// ('done'|'active'|'pending'), done, total, pct }. An active step's
// progress is, for each of its apps, the instances running its target
// version (and healthy, when it has health checks) of the instances
// wanted: apps maps id -> app with its tasks.
export function deploymentProgress(dep, apps) {
  const cur = dep.currentStep || 0;
  return (dep.steps || []).map((step, i) => {
    const n = i + 1;
    const actions = step.actions || [];
    let state = 'pending';
    if (n < cur) state = 'done';
    else if (n === cur) state = 'active';
    let done = 0, total = 0;
    for (const a of actions) {
      const app = apps.get(a.app);
      const want = app ? app.instances || 0 : 0;
      if (a.action === 'StopApplication') {
        total += 1;
        done += state === 'done' || !app ? 1 : 0;
        continue;
      }
      total += want;
      if (state === 'done') done += want;
      else if (state === 'active' && app) done += Math.min(want, readyAt(app, app.version));
    }
    const pct = total > 0 ? Math.round((100 * done) / total) : (state === 'done' ? 100 : 0);
    return { n, actions, state, done, total, pct };
  });
}

// Instances of app running version (healthy, when it has checks).
function readyAt(app, version) {
  return (app.tasks || []).filter((t) => t.state === 'TASK_RUNNING' && t.version === version
    && ['healthy', 'none'].includes(taskHealth(t, app))).length;
}

// "StartApplication" -> "Start"
export function actionLabel(action) {
  return String(action || '').replace(/Application$/, '').replace(/Pod$/, ' pod') || '?';
}

// ------------------------------------------------------------ the form

// The form's fields, named as the inputs (name=...) of the app form.
export function appToForm(app) {
  const pd = app.portDefinitions || [];
  const hc = (app.healthChecks || [])[0] || {};
  const docker = app.container && app.container.docker;
  return {
    id: app.id || '',
    cmd: app.cmd || '',
    instances: app.instances ?? 1,
    cpus: app.cpus ?? 0.1,
    mem: app.mem ?? 128,
    disk: app.disk ?? 0,
    ports: pd.map((p) => p.port).join(', '),
    image: docker ? docker.image || '' : '',
    labels: kvText(app.labels),
    env: kvText(app.env),
    health: hc.protocol || '',
    healthPath: hc.path || '/',
    healthInterval: hc.intervalSeconds ?? 5,
  };
}

function kvText(o) {
  return Object.entries(o || {}).map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`).join('\n');
}

// "a=1\nb=2" -> {a: "1", b: "2"}; errors name the line.
function parseKv(text, field, errors) {
  const out = {};
  String(text || '').split('\n').forEach((line, i) => {
    const l = line.trim();
    if (!l) return;
    const eq = l.indexOf('=');
    if (eq <= 0) {
      errors[field] = [`line ${i + 1}: expected name=value`];
      return;
    }
    out[l.slice(0, eq).trim()] = l.slice(eq + 1).trim();
  });
  return out;
}

// Numbers as typed: a field left empty is left out (Pacer's default
// applies); anything else goes as the number it reads, so that Pacer
// itself judges it (a negative count is Pacer's 422, shown on the field).
function num(v) {
  const s = String(v ?? '').trim();
  if (s === '') return undefined;
  const n = Number(s);
  return Number.isFinite(n) ? n : s;
}

// The app JSON for the form's values, merged over base (the app being
// edited, or {} for a new one): fields the form has no input for are
// kept. Returns { app, errors } where errors (field -> [messages]) are
// the ones the page finds before sending (lines it cannot read).
export function formToApp(f, base = {}) {
  const errors = {};
  const app = editable(base);
  const set = (k, v) => { if (v === undefined || v === '') delete app[k]; else app[k] = v; };
  set('id', String(f.id || '').trim());
  set('cmd', String(f.cmd || '').trim() || undefined);
  for (const k of ['instances', 'cpus', 'mem', 'disk']) set(k, num(f[k]));
  const ports = String(f.ports || '').split(',').map((s) => s.trim()).filter(Boolean);
  if (ports.some((p) => !/^\d+$/.test(p))) errors.ports = ['ports: numbers separated by commas (0 picks one)'];
  const old = base.portDefinitions || [];
  app.portDefinitions = ports.map((p, i) => ({ ...(old[i] || {}), port: Number(p) }));
  const image = String(f.image || '').trim();
  if (image) {
    app.container = app.container || { type: 'DOCKER' };
    app.container.type = app.container.type || 'DOCKER';
    app.container.docker = { ...(app.container.docker || {}), image };
  } else if (app.container && app.container.docker) {
    delete app.container;
  }
  app.labels = parseKv(f.labels, 'labels', errors);
  app.env = parseKv(f.env, 'env', errors);
  const oldHc = (base.healthChecks || [])[0] || {};
  if (f.health) {
    // A new check starts at once (delaySeconds 0) and forgives a minute
    // of start-up; the JSON mode sets anything else.
    const hc = { gracePeriodSeconds: 60, timeoutSeconds: 5, maxConsecutiveFailures: 3, delaySeconds: 0, ...oldHc, protocol: f.health };
    const every = num(f.healthInterval);
    if (every !== undefined) hc.intervalSeconds = every;
    if (f.health === 'HTTP' || f.health === 'MESOS_HTTP') hc.path = String(f.healthPath || '/');
    else delete hc.path;
    if (hc.portIndex === undefined && f.health !== 'COMMAND') hc.portIndex = 0;
    app.healthChecks = [hc, ...(base.healthChecks || []).slice(1)];
  } else {
    app.healthChecks = [];
  }
  return { app, errors };
}

// The form field an API error path belongs to ("/instances",
// "/portDefinitions(0)/port", "/healthChecks/0/path"), or null (shown
// above the form).
const PATH_FIELDS = {
  id: 'id', cmd: 'cmd', args: 'cmd', instances: 'instances', cpus: 'cpus', mem: 'mem', disk: 'disk',
  portDefinitions: 'ports', ports: 'ports', container: 'image', labels: 'labels', env: 'env',
  healthChecks: 'health',
};

export function fieldOfPath(path) {
  const m = /^\/?([A-Za-z]+)/.exec(String(path || ''));
  return m ? PATH_FIELDS[m[1]] || null : null;
}

// Marathon's 422 body -> { fields: {field: [messages]}, general: [messages] }.
export function errorsByField(body) {
  const fields = {};
  const general = [];
  for (const d of (body && body.details) || []) {
    const errs = (d.errors || []).map(humanError);
    const f = fieldOfPath(d.path);
    if (f) (fields[f] = fields[f] || []).push(...errs);
    else general.push(...errs.map((e) => (d.path && d.path !== '/' ? `${d.path}: ${e}` : e)));
  }
  if (!general.length && !Object.keys(fields).length && body && body.message) general.push(body.message);
  return { fields, general };
}

// Marathon's message keys in words.
export function humanError(e) {
  const known = {
    'error.min': 'is below the minimum',
    'error.max': 'is above the maximum',
    'error.path.missing': 'is required',
    'error.expected.jsnumber': 'must be a number',
    'error.expected.jsstring': 'must be a string',
  };
  if (known[e]) return known[e];
  if (/^must fully match regular expression/.test(e)) {
    return 'must be lower-case letters, digits, "-" and "." in path segments separated by "/"';
  }
  return e;
}
