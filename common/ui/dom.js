// Small DOM and formatting helpers shared by the web UIs (the master's,
// master/ui/, and Pacer's, frameworks/pacer/ui/, link this file). No
// framework: an element is built with h(tag, attributes, ...children);
// text is always set as text (never parsed as HTML), so names from the
// cluster cannot inject markup.

export function h(tag, attrs, ...children) {
  const el = tag.startsWith('svg:')
    ? document.createElementNS('http://www.w3.org/2000/svg', tag.slice(4))
    : document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children) {
    if (c === undefined || c === null || c === false) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// Replace the children of el.
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export function fmtNumber(v, digits = 1) {
  if (!Number.isFinite(v)) return '–';
  const r = Math.round(v * 10 ** digits) / 10 ** digits;
  return r.toLocaleString('en-US', { maximumFractionDigits: digits });
}

// Megabytes (Mesos's unit for mem and disk) as MB / GB / TB.
export function fmtMB(mb) {
  if (!Number.isFinite(mb)) return '–';
  if (Math.abs(mb) >= 1024 * 1024) return `${fmtNumber(mb / 1024 / 1024, 1)} TB`;
  if (Math.abs(mb) >= 1024) return `${fmtNumber(mb / 1024, 1)} GB`;
  return `${fmtNumber(mb, 0)} MB`;
}

export function fmtBytes(b) {
  if (!Number.isFinite(b)) return '–';
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (Math.abs(b) >= 1024 && i < units.length - 1) { b /= 1024; i++; }
  return `${fmtNumber(b, i ? 1 : 0)} ${units[i]}`;
}

// Seconds as "3d 4h", "5m 02s", "12s".
export function fmtDuration(secs) {
  if (!Number.isFinite(secs)) return '–';
  secs = Math.max(0, Math.round(secs));
  const d = Math.floor(secs / 86400), hh = Math.floor((secs % 86400) / 3600);
  const m = Math.floor((secs % 3600) / 60), s = secs % 60;
  if (d) return `${d}d ${hh}h`;
  if (hh) return `${hh}h ${String(m).padStart(2, '0')}m`;
  if (m) return `${m}m ${String(s).padStart(2, '0')}s`;
  return `${s}s`;
}

export function fmtAgo(epochSecs) {
  if (!epochSecs) return '–';
  return `${fmtDuration(Date.now() / 1000 - epochSecs)} ago`;
}

const pad = (n) => String(n).padStart(2, '0');

// Local time as "2026-12-03 09:30:27".
export function fmtTime(epochSecs) {
  if (!epochSecs) return '–';
  const d = new Date(epochSecs * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${fmtClock(epochSecs)}`;
}

export function fmtClock(epochSecs) {
  const d = new Date(epochSecs * 1000);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

// "TASK_RUNNING" -> "Running"
export function stateLabel(state) {
  if (!state) return 'Unknown';
  const s = state.replace(/^TASK_/, '').toLowerCase();
  return s.charAt(0).toUpperCase() + s.slice(1);
}

const STATE_TONES = {
  TASK_RUNNING: 'ok', TASK_STAGING: 'info', TASK_STARTING: 'info', TASK_KILLING: 'warn',
  TASK_FINISHED: 'muted', TASK_KILLED: 'warn', TASK_FAILED: 'bad', TASK_LOST: 'bad',
  TASK_ERROR: 'bad', TASK_DROPPED: 'bad', TASK_GONE: 'bad', TASK_UNREACHABLE: 'warn',
  TASK_GONE_BY_OPERATOR: 'bad', TASK_UNKNOWN: 'muted',
};

export function badge(text, tone, title) {
  return h('span', { class: `badge badge-${tone || 'muted'}`, title }, text);
}

export function stateBadge(state) {
  return badge(stateLabel(state), STATE_TONES[state] || 'muted');
}

// A table whose cells carry their column's name (data-label), which the
// narrow-screen layout shows in front of each value.
export function table(caption, columns, rows, empty) {
  const head = h('thead', {}, h('tr', {}, columns.map((c) => h('th', { scope: 'col', class: c.cls }, c.title))));
  const body = h('tbody', {});
  for (const r of rows) {
    body.append(h('tr', r.attrs || {}, columns.map((c, i) =>
      h('td', { class: c.cls, 'data-label': c.title }, r.cells[i]))));
  }
  const t = h('table', { class: 'data' }, h('caption', { class: 'visually-hidden' }, caption), head, body);
  const wrap = h('div', { class: 'table-wrap' }, t);
  if (!rows.length) wrap.append(h('p', { class: 'empty' }, empty || 'Nothing here yet.'));
  return wrap;
}
