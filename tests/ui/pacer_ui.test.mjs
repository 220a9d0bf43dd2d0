// Unit tests of the Pacer UI's pure module (frameworks/pacer/ui/model.js)
// with node's own test runner: app status, health, deployment progress,
// queue reasons, the form <-> JSON and where a 422's errors go. Run:
// node --test tests/ui/ (tests/system/test_ui_pacer.py runs it too).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  appStatus, taskHealth, deploymentProgress, placementReasons, appToForm, formToApp, errorsByField,
  fieldOfPath, editable,
} from '../../frameworks/pacer/ui/model.js';

const hc = [{ protocol: 'HTTP', path: '/', portIndex: 0, intervalSeconds: 1 }];
const task = (version, alive) => ({ state: 'TASK_RUNNING', version,
  healthCheckResults: alive === undefined ? [] : [{ alive }] });

test('status: deploying, waiting, suspended, unhealthy, running', () => {
  const app = { id: '/a', instances: 2, tasksRunning: 2, tasksHealthy: 2, tasksUnhealthy: 0 };
  const dep = [{ id: 'd', affectedApps: ['/a'] }];
  assert.equal(appStatus(app, [], []).key, 'running');
  assert.equal(appStatus(app, dep, []).key, 'deploying');
  const q = [{ app: { id: '/a' }, count: 1, delay: { overdue: true, timeLeftSeconds: 0 },
    processedOffersSummary: { rejectSummaryLastOffers: [{ reason: 'InsufficientCpus', declined: 3, processed: 3 }] } }];
  assert.equal(appStatus(app, dep, q).key, 'waiting');
  q[0].delay = { overdue: false, timeLeftSeconds: 4 };
  assert.equal(appStatus(app, dep, q).key, 'delayed');
  assert.equal(appStatus({ ...app, instances: 0, tasksRunning: 0 }, [], []).key, 'suspended');
  assert.equal(appStatus({ ...app, tasksUnhealthy: 1 }, [], []).key, 'unhealthy');
  assert.equal(appStatus({ ...app, tasksRunning: 1 }, [], []).key, 'waiting');
});

test('health of an instance', () => {
  assert.equal(taskHealth(task('v', true), { healthChecks: hc }), 'healthy');
  assert.equal(taskHealth(task('v', false), { healthChecks: hc }), 'unhealthy');
  assert.equal(taskHealth(task('v'), { healthChecks: hc }), 'pending');
  assert.equal(taskHealth(task('v'), { healthChecks: [] }), 'none');
});

test('deployment progress: done, active (new version healthy of wanted), pending', () => {
  const apps = new Map([['/a', { id: '/a', instances: 4, version: 'v2', healthChecks: hc,
    tasks: [task('v2', true), task('v2', false), task('v1', true), task('v2')] }]]);
  const dep = { currentStep: 2, steps: [{ actions: [{ action: 'StartApplication', app: '/a' }] },
    { actions: [{ action: 'RestartApplication', app: '/a' }] }, { actions: [{ action: 'ScaleApplication', app: '/a' }] }] };
  const p = deploymentProgress(dep, apps);
  assert.deepEqual(p.map((s) => [s.state, s.done, s.total, s.pct]),
    [['done', 4, 4, 100], ['active', 1, 4, 25], ['pending', 0, 4, 0]]);
});

test('queue reasons: declined ones, most first, in words', () => {
  const r = placementReasons({ processedOffersSummary: { rejectSummaryLastOffers: [
    { reason: 'InsufficientCpus', declined: 2, processed: 5 }, { reason: 'InsufficientMemory', declined: 5, processed: 5 },
    { reason: 'UnfulfilledRole', declined: 0, processed: 5 }] } });
  assert.deepEqual(r.map((x) => x.reason), ['InsufficientMemory', 'InsufficientCpus']);
  assert.equal(r[1].text, 'not enough CPUs');
  assert.deepEqual(placementReasons(null), []);
});

test('form <-> app keeps what the form does not show', () => {
  const app = { id: '/a', cmd: 'x', instances: 2, cpus: 0.5, mem: 64, disk: 0, version: 'v', tasksRunning: 2,
    portDefinitions: [{ port: 10001, name: 'http' }], labels: { a: '1' }, env: {}, healthChecks: hc,
    constraints: [['hostname', 'UNIQUE']] };
  const f = appToForm(app);
  assert.equal(f.ports, '10001');
  assert.equal(f.labels, 'a=1');
  const { app: back, errors } = formToApp({ ...f, instances: '3', labels: 'a=1\nb = two' }, app);
  assert.deepEqual(errors, {});
  assert.equal(back.instances, 3);
  assert.deepEqual(back.labels, { a: '1', b: 'two' });
  assert.deepEqual(back.constraints, [['hostname', 'UNIQUE']]);
  assert.deepEqual(back.portDefinitions, [{ port: 10001, name: 'http' }]);
  assert.equal(back.version, undefined);
  assert.equal(back.tasksRunning, undefined);
  assert.equal(back.healthChecks[0].path, '/');
  // What the form cannot read is its own error; a negative count goes to Pacer.
  const bad = formToApp({ ...f, ports: '80, x', labels: 'oops', instances: '-1' }, app);
  assert.ok(bad.errors.ports && bad.errors.labels);
  assert.equal(bad.app.instances, -1);
  assert.deepEqual(editable({ id: '/a', tasks: [], deployments: [] }), { id: '/a' });
});

test('422 details land on the fields their paths name', () => {
  assert.equal(fieldOfPath('/instances'), 'instances');
  assert.equal(fieldOfPath('/portDefinitions(0)/port'), 'ports');
  assert.equal(fieldOfPath('/healthChecks/0/path'), 'health');
  assert.equal(fieldOfPath('/'), null);
  const e = errorsByField({ message: 'Object is not valid', details: [
    { path: '/instances', errors: ['error.min'] }, { path: '/id', errors: ["must fully match regular expression '^x$'"] },
    { path: '/', errors: ['AppDefinition must either contain one of cmd or args'] }, { path: '/fetch', errors: ['nope'] }] });
  assert.deepEqual(e.fields.instances, ['is below the minimum']);
  assert.match(e.fields.id[0], /lower-case/);
  assert.deepEqual(e.general, ['AppDefinition must either contain one of cmd or args', '/fetch: nope']);
  assert.deepEqual(errorsByField({ message: 'App is locked' }).general, ['App is locked']);
});
