// Unit tests of the master UI's pure modules (master/ui/*.js), with node's
// own test runner: the RecordIO decoder, the cluster model built from
// operator events, and the chart history. Run: node --test tests/ui/
// (tests/system/test_ui_master.py runs it too).

import { test } from 'node:test';
import assert from 'node:assert/strict';

import { RecordIODecoder } from '../../master/ui/stream.js';
import { ClusterModel, summarize } from '../../master/ui/model.js';
import { History } from '../../master/ui/chart.js';

const enc = new TextEncoder();
const record = (obj) => {
  const body = enc.encode(JSON.stringify(obj));
  return new Uint8Array([...enc.encode(`${body.length}\n`), ...body]);
};

test('RecordIO: lengths are bytes, records split anywhere', () => {
  const a = record({ type: 'HEARTBEAT' });
  const b = record({ type: 'TASK_ADDED', name: 'tâche ✓ 日本' }); // multi-byte UTF-8
  const all = new Uint8Array([...a, ...b]);
  for (let cut = 0; cut <= all.length; cut++) {
    const d = new RecordIODecoder();
    const got = [...d.push(all.subarray(0, cut)), ...d.push(all.subarray(cut))];
    assert.deepEqual(got.map((r) => JSON.parse(r)),
      [{ type: 'HEARTBEAT' }, { type: 'TASK_ADDED', name: 'tâche ✓ 日本' }], `cut at ${cut}`);
  }
  // Byte by byte.
  const d = new RecordIODecoder();
  const got = [];
  for (const byte of all) got.push(...d.push(new Uint8Array([byte])));
  assert.equal(got.length, 2);
});

test('RecordIO: a bad length is an error, not a hang', () => {
  assert.throws(() => new RecordIODecoder().push(enc.encode('12x\n{}')), /bad RecordIO length/);
});

const res = (cpus, mem, ports) => {
  const r = [
    { name: 'cpus', type: 'SCALAR', scalar: { value: cpus } },
    { name: 'mem', type: 'SCALAR', scalar: { value: mem } },
  ];
  if (ports) r.push({ name: 'ports', type: 'RANGES', ranges: { range: ports.map(([b, e]) => ({ begin: b, end: e })) } });
  return r;
};

const agent = (id, host, cpus, mem) => ({
  agent_info: { id: { value: id }, hostname: host, attributes: [{ name: 'rack', type: 'TEXT', text: { value: 'r1' } }] },
  active: true,
  pid: `slave(1)@127.0.0.1:5051`,
  registered_time: { nanoseconds: 1.7e18 },
  total_resources: res(cpus, mem, [[31000, 31009]]),
  offered_resources: [],
});

const task = (fw, id, ag, state, cpus) => ({
  task_id: { value: id }, framework_id: { value: fw }, agent_id: { value: ag }, name: id, state,
  resources: res(cpus, 64, [[31000, 31000]]), statuses: [{ state, timestamp: 100 }],
});

function subscribed() {
  const m = new ClusterModel();
  m.apply({
    type: 'SUBSCRIBED',
    subscribed: {
      heartbeat_interval_seconds: 15,
      get_state: {
        get_agents: { agents: [agent('S0', 'slave0', 4, 4096), agent('S1', 'slave1', 2, 2048)] },
        get_frameworks: { frameworks: [{ framework_info: { id: { value: 'F' }, name: 'batch', roles: ['web'], failover_timeout: 60 }, active: true, connected: true }] },
        get_tasks: { tasks: [task('F', 't1', 'S0', 'TASK_RUNNING', 1)], completed_tasks: [task('F', 't0', 'S1', 'TASK_FINISHED', 1)] },
      },
    },
  });
  return m;
}

test('model: SUBSCRIBED snapshot, totals used/offered/free', () => {
  const m = subscribed();
  assert.equal(m.agents.size, 2);
  assert.deepEqual(m.agents.get('S0').attributes, [['rack', 'r1']]);
  assert.deepEqual(m.frameworks.get('F').roles, ['web']);
  assert.equal(m.tasks.size, 2);
  m.agents.get('S1').offered = summarize(res(1, 1024));
  const t = m.totals();
  assert.deepEqual(t.cpus, { total: 6, used: 1, offered: 1, free: 4 });
  assert.deepEqual(t.mem, { total: 6144, used: 64, offered: 1024, free: 5056 });
  assert.deepEqual(t.ports, { total: 20, used: 1, offered: 0, free: 19 });
});

test('model: task events, health, agent and framework removal', () => {
  const m = subscribed();
  m.apply({ type: 'TASK_ADDED', task_added: { task: task('F', 't2', 'S1', 'TASK_STAGING', 0.5) } });
  assert.equal(m.totals().cpus.used, 1.5);
  m.apply({ type: 'TASK_UPDATED', task_updated: { framework_id: { value: 'F' }, state: 'TASK_RUNNING', status: { task_id: { value: 't2' }, state: 'TASK_RUNNING', timestamp: 101 } } });
  m.apply({ type: 'TASK_UPDATED', task_updated: { framework_id: { value: 'F' }, state: 'TASK_RUNNING', status: { task_id: { value: 't2' }, state: 'TASK_RUNNING', healthy: true, timestamp: 102 } } });
  const t2 = m.tasks.get('F/t2');
  assert.equal(t2.healthy, true);
  assert.deepEqual(t2.history.map(([s]) => s), ['TASK_STAGING', 'TASK_RUNNING']);
  m.apply({ type: 'TASK_UPDATED', task_updated: { framework_id: { value: 'F' }, state: 'TASK_FINISHED', status: { task_id: { value: 't2' }, state: 'TASK_FINISHED', timestamp: 103 } } });
  assert.equal(m.totals().cpus.used, 1);
  assert.equal(m.taskCounts().finished, 2);
  m.apply({ type: 'AGENT_REMOVED', agent_removed: { agent_id: { value: 'S1' } } });
  assert.equal(m.agents.get('S1').removed, true);
  assert.equal(m.totals().cpus.total, 4);
  m.apply({ type: 'FRAMEWORK_UPDATED', framework_updated: { framework: { framework_info: { id: { value: 'F' }, name: 'batch' }, active: false, unregistered_time: { nanoseconds: 5e9 } } } });
  assert.equal(m.frameworks.get('F').active, false);
  assert.equal(m.frameworks.get('F').unregistered, 5);
  m.apply({ type: 'FRAMEWORK_REMOVED', framework_removed: { framework_info: { id: { value: 'F' } } } });
  assert.equal(m.frameworks.get('F').removed, true);
  assert.equal(m.apply({ type: 'HEARTBEAT' }), false);
});

test('model: prune keeps the newest terminal tasks only', () => {
  const m = subscribed();
  for (let i = 0; i < 30; i++) {
    const t = task('F', `d${i}`, 'S0', 'TASK_FINISHED', 0.1);
    t.statuses[0].timestamp = 1000 + i;
    m.apply({ type: 'TASK_ADDED', task_added: { task: t } });
  }
  m.prune(10);
  const done = [...m.tasks.values()].filter((t) => t.state === 'TASK_FINISHED').map((t) => t.id);
  assert.equal(done.length, 10);
  assert.ok(done.includes('d29') && !done.includes('d0'));
  assert.ok(m.tasks.has('F/t1'), 'active tasks are kept');
});

test('history: keeps the whole time span at a bounded size', () => {
  const h = new History();
  const totals = (v) => ({ cpus: { total: 4, used: v, offered: 0 }, mem: { total: 1, used: 0, offered: 0 }, disk: { total: 1, used: 0, offered: 0 }, ports: { total: 1, used: 0, offered: 0 } });
  for (let i = 0; i < 5000; i++) h.add(totals(i % 4), i * 1000);
  assert.ok(h.samples.length <= 600, `${h.samples.length} samples`);
  assert.equal(h.samples[0].t, 0);
  assert.ok(h.samples[h.samples.length - 1].t >= 4990 * 1000);
});
