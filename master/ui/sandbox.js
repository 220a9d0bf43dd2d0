// A task's sandbox: browse its folder and follow a file (stdout, stderr,
// or any other) live. Read through the master's read-only relay to the
// task's slave (GET /agents/{id}/state, /agents/{id}/files/browse and
// /agents/{id}/files/read; see master/ui.c), so the page stays
// same-origin and the slave need not be reachable from the browser.

import { h, fill, fmtBytes, fmtTime } from './dom.js';

const TAIL_BYTES = 64 * 1024;      // shown when a file is opened
const MAX_SHOWN = 512 * 1024;      // older text is dropped from the view
const FOLLOW_MS = 1000;

async function getJSON(url, signal) {
  const r = await fetch(url, { signal, cache: 'no-store' });
  const text = await r.text();
  if (!r.ok) {
    let msg = text.trim();
    try { msg = JSON.parse(text).message || msg; } catch { /* plain text */ }
    throw new Error(`${r.status}: ${msg || r.statusText}`);
  }
  return JSON.parse(text);
}

// The sandbox folder of task taskId of framework fwId, from the slave's
// /state (its command executor has the task's id).
export async function findSandbox(agentId, fwId, taskId, signal) {
  const st = await getJSON(`/agents/${encodeURIComponent(agentId)}/state`, signal);
  for (const f of [...(st.frameworks || []), ...(st.completed_frameworks || [])]) {
    if (f.id !== fwId) continue;
    for (const e of [...(f.executors || []), ...(f.completed_executors || [])]) {
      if (e.id === taskId && e.directory) return e.directory;
    }
  }
  return null;
}

export class SandboxView {
  constructor(task) {
    this.task = task;
    this.abort = new AbortController();
    this.root = null;      // the sandbox folder
    this.dir = null;       // the folder listed
    this.file = null;      // the file followed
    this.offset = 0;
    this.timer = null;
    this.shown = 0;
    this.el = h('section', { class: 'panel sandbox', 'aria-labelledby': 'sandbox-title' });
    this.status = h('p', { class: 'muted small', role: 'status', 'aria-live': 'polite' }, 'Locating the sandbox…');
    this.crumbs = h('nav', { class: 'crumbs', 'aria-label': 'Sandbox path' });
    this.list = h('div', { class: 'files' });
    this.tabs = h('div', { class: 'seg', role: 'group', 'aria-label': 'File to follow' });
    this.follow = h('input', { type: 'checkbox', id: 'follow', checked: true, onchange: () => this.schedule(0) });
    this.out = h('pre', { class: 'log', id: 'log', tabindex: '0', 'aria-label': 'File contents', 'aria-live': 'off' });
    this.fileInfo = h('span', { class: 'muted small', id: 'log-info' });
    fill(this.el,
      h('div', { class: 'panel-head' },
        h('h2', { id: 'sandbox-title' }, 'Sandbox'),
        this.crumbs),
      this.status,
      h('div', { class: 'sandbox-grid' },
        h('div', { class: 'sandbox-files' }, this.list),
        h('div', { class: 'sandbox-log' },
          h('div', { class: 'log-bar' }, this.tabs,
            h('label', { class: 'check', for: 'follow' }, this.follow, 'Follow'),
            this.fileInfo),
          this.out)));
  }

  async start() {
    const t = this.task;
    try {
      this.root = await findSandbox(t.agent, t.fw, t.id, this.abort.signal);
      if (!this.root) {
        this.setStatus('The slave no longer knows this task’s sandbox (it was garbage collected, or the task never started).', true);
        return;
      }
      this.setStatus('');
      await this.browse(this.root);
      await this.open(`${this.root}/stdout`);
    } catch (e) {
      if (e.name !== 'AbortError') this.setStatus(`Cannot read the sandbox: ${e.message}`, true);
    }
  }

  stop() {
    this.abort.abort();
    clearTimeout(this.timer);
  }

  setStatus(text, error) {
    this.status.textContent = text;
    this.status.classList.toggle('error', !!error);
    this.status.hidden = !text;
  }

  filesURL(op, params) {
    const q = new URLSearchParams(params).toString();
    return `/agents/${encodeURIComponent(this.task.agent)}/files/${op}?${q}`;
  }

  async browse(dir) {
    this.dir = dir;
    const entries = await getJSON(this.filesURL('browse', { path: dir }), this.abort.signal);
    entries.sort((a, b) => (b.mode[0] === 'd') - (a.mode[0] === 'd') || a.path.localeCompare(b.path));
    const rel = dir.slice(this.root.length).split('/').filter(Boolean);
    const crumbs = [h('button', { type: 'button', class: 'link', onclick: () => this.browse(this.root) }, 'sandbox')];
    rel.forEach((seg, i) => {
      const to = `${this.root}/${rel.slice(0, i + 1).join('/')}`;
      crumbs.push(h('span', { class: 'sep', 'aria-hidden': 'true' }, '/'),
        h('button', { type: 'button', class: 'link', onclick: () => this.browse(to) }, seg));
    });
    fill(this.crumbs, rel.length ? crumbs : null);
    const rows = entries.map((e) => {
      const name = e.path.slice(e.path.lastIndexOf('/') + 1);
      const isDir = e.mode[0] === 'd';
      return h('li', { class: this.file === e.path ? 'current' : '', dataset: { path: e.path } },
        h('button', {
          type: 'button', class: `file ${isDir ? 'dir' : ''}`,
          'aria-label': `${isDir ? 'Open folder' : 'Show file'} ${name}`,
          onclick: () => (isDir ? this.browse(e.path) : this.open(e.path)),
        }, h('span', { class: 'file-name' }, name + (isDir ? '/' : '')),
        h('span', { class: 'file-meta' }, isDir ? '' : fmtBytes(e.size)),
        h('span', { class: 'file-meta wide' }, fmtTime(e.mtime))));
    });
    fill(this.list, rows.length ? h('ul', { class: 'file-list', 'aria-label': 'Files' }, rows)
      : h('p', { class: 'empty' }, 'This folder is empty.'));
  }

  renderTabs() {
    const names = ['stdout', 'stderr'];
    const cur = this.file && this.file.slice(this.file.lastIndexOf('/') + 1);
    const buttons = names.map((n) => h('button', {
      type: 'button', 'aria-pressed': String(this.file === `${this.root}/${n}`),
      onclick: () => this.open(`${this.root}/${n}`),
    }, n));
    if (cur && !(this.file === `${this.root}/${cur}` && names.includes(cur))) {
      buttons.push(h('button', { type: 'button', 'aria-pressed': 'true' }, cur));
    }
    fill(this.tabs, buttons);
  }

  // Show the end of file and follow it.
  async open(file) {
    clearTimeout(this.timer);
    this.file = file;
    this.renderTabs();
    for (const li of this.list.querySelectorAll('li')) li.classList.toggle('current', li.dataset.path === file);
    this.out.textContent = '';
    this.shown = 0;
    this.out.dataset.file = file.slice(this.root.length + 1);
    try {
      const size = (await getJSON(this.filesURL('read', { path: file, offset: -1 }), this.abort.signal)).offset;
      this.offset = Math.max(0, size - TAIL_BYTES);
      if (this.offset > 0) this.out.append(h('span', { class: 'muted' }, `… ${fmtBytes(this.offset)} earlier not shown\n`));
      await this.poll(file);
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.fileInfo.textContent = '';
      this.out.append(h('span', { class: 'error' }, `Cannot read ${file.slice(this.root.length + 1)}: ${e.message}\n`));
      // A task that is only starting may not have written it yet.
      if (this.follow.checked) this.timer = setTimeout(() => this.file === file && this.open(file), 3000);
    }
  }

  schedule(ms) {
    clearTimeout(this.timer);
    if (this.follow.checked && this.file) this.timer = setTimeout(() => this.poll(this.file).catch(() => {}), ms);
  }

  async poll(file) {
    if (file !== this.file) return;
    let got;
    try {
      got = await getJSON(this.filesURL('read', { path: file, offset: this.offset, length: 256 * 1024 }), this.abort.signal);
    } catch (e) {
      if (e.name === 'AbortError') return;
      this.fileInfo.textContent = `retrying: ${e.message}`;
      this.schedule(FOLLOW_MS * 3);
      return;
    }
    if (file !== this.file) return;
    const data = got.data || '';
    if (data.length) {
      const atEnd = this.out.scrollHeight - this.out.scrollTop - this.out.clientHeight < 24;
      this.out.append(data);
      this.shown += data.length;
      this.offset = got.offset + new TextEncoder().encode(data).length;
      while (this.shown > MAX_SHOWN && this.out.firstChild) {
        this.shown -= this.out.firstChild.textContent.length;
        this.out.firstChild.remove();
      }
      if (atEnd) this.out.scrollTop = this.out.scrollHeight;
    }
    this.out.dataset.size = String(this.offset);
    this.fileInfo.textContent = `${fmtBytes(this.offset)}${this.follow.checked ? ' · following' : ''}`;
    // A full page: read the next one at once.
    this.schedule(data.length >= 256 * 1024 ? 0 : FOLLOW_MS);
  }
}
