// The app form: create (POST /v2/apps) or edit (PUT /v2/apps/{id}) an
// app, as a form of the common fields or as the whole JSON. Both edit the
// same app: switching carries the values over, and fields the form has no
// input for are kept. Pacer's 422 ({"details": [{"path", "errors"}]}) is
// shown on the field each path names, the rest above the form.

import { h } from './dom.js';
import { api, appPath, ApiError } from './api.js';
import { appToForm, formToApp, editable, errorsByField, humanError } from './model.js';

const NEW_APP = {
  id: '', cmd: '', instances: 1, cpus: 0.1, mem: 128, disk: 0,
  portDefinitions: [{ port: 0 }], labels: {}, env: {}, healthChecks: [],
};

const FIELDS = [
  // name, label, input attributes, hint
  ['id', 'App ID', { type: 'text', required: true, placeholder: '/group/app', autocomplete: 'off', spellcheck: 'false' }, 'Lower-case path, e.g. /shop/web'],
  ['cmd', 'Command', { rows: 2, spellcheck: 'false', placeholder: 'exec ./server --port $PORT0' }, 'Run by /bin/sh; $PORT0… are the assigned ports'],
  ['instances', 'Instances', { type: 'number', step: 1 }, null],
  ['cpus', 'CPUs', { type: 'number', step: 'any' }, null],
  ['mem', 'Memory (MB)', { type: 'number', step: 'any' }, null],
  ['disk', 'Disk (MB)', { type: 'number', step: 'any' }, null],
  ['ports', 'Service ports', { type: 'text', placeholder: '0, 0', autocomplete: 'off' }, 'Comma-separated; 0 lets Pacer pick one'],
  ['image', 'Docker image', { type: 'text', placeholder: 'optional, e.g. busybox', autocomplete: 'off' }, 'Empty: a plain process'],
  ['health', 'Health check', { select: [['', 'None'], ['HTTP', 'HTTP'], ['TCP', 'TCP'], ['MESOS_HTTP', 'Mesos HTTP']] }, 'On the first port'],
  ['healthInterval', 'Check every (s)', { type: 'number', step: 1 }, null],
  ['healthPath', 'Health check path', { type: 'text', placeholder: '/' }, 'For HTTP checks'],
  ['labels', 'Labels', { rows: 3, spellcheck: 'false', placeholder: 'team=web' }, 'One name=value a line'],
  ['env', 'Environment', { rows: 3, spellcheck: 'false', placeholder: 'LOG_LEVEL=info' }, 'One NAME=value a line'],
];

const WIDE = new Set(['id', 'cmd', 'ports', 'image', 'healthPath', 'labels', 'env']);

export class AppForm {
  constructor({ key, app, onSaved, onCancel }) {
    this.key = key;
    this.editing = app ? app.id : null;
    this.base = app ? editable(app) : structuredClone(NEW_APP);
    this.onSaved = onSaved;
    this.onCancel = onCancel;
    this.mode = 'form';
    this.force = false; // after a 409: the next save overrides the deployment
    this.inputs = {};
    this.build();
    this.setValues(appToForm(this.base));
  }

  build() {
    const title = this.editing ? `Edit ${this.editing}` : 'Create an app';
    this.general = h('div', { class: 'form-errors', id: 'form-errors', role: 'alert', hidden: true });
    this.formPane = h('div', { class: 'form-grid', id: 'form-pane' }, FIELDS.map((f) => this.field(...f)));
    this.json = h('textarea', { id: 'app-json', class: 'json', rows: 22, spellcheck: 'false', 'aria-label': 'App definition as JSON' });
    this.jsonErrors = h('ul', { class: 'json-errors', id: 'json-errors' });
    this.jsonPane = h('div', { id: 'json-pane', hidden: true }, this.json, this.jsonErrors);
    this.modeBtns = ['form', 'json'].map((m) => h('button', { type: 'button', id: `mode-${m}`, 'aria-pressed': String(m === this.mode),
      onclick: () => this.setMode(m) }, m === 'form' ? 'Form' : 'JSON'));
    this.submitBtn = h('button', { class: 'btn btn-primary', type: 'submit', id: 'save-app' }, this.editing ? 'Deploy changes' : 'Create app');
    this.el = h('form', { class: 'panel app-form', id: 'app-form', novalidate: true, 'aria-labelledby': 'form-title',
      onsubmit: (e) => { e.preventDefault(); this.save(); } },
    h('div', { class: 'panel-head' }, h('h1', { id: 'form-title' }, title),
      h('div', { class: 'seg', role: 'group', 'aria-label': 'Edit as' }, this.modeBtns)),
    this.general, this.formPane, this.jsonPane,
    h('div', { class: 'actions' },
      h('button', { class: 'btn', type: 'button', id: 'cancel-app', onclick: () => this.onCancel() }, 'Cancel'),
      this.submitBtn));
  }

  field(name, label, attrs, hint) {
    const id = `f-${name}`;
    let input;
    const common = { id, name, 'aria-describedby': `${id}-err${hint ? ` ${id}-hint` : ''}` };
    if (attrs.select) input = h('select', common, attrs.select.map(([v, t]) => h('option', { value: v }, t)));
    else if (attrs.rows) input = h('textarea', { ...common, ...attrs });
    else input = h('input', { ...common, ...attrs });
    if (this.editing && name === 'id') input.readOnly = true;
    this.inputs[name] = input;
    return h('div', { class: `field${WIDE.has(name) ? ' wide' : ''}`, dataset: { field: name } },
      h('label', { for: id }, label), input,
      hint ? h('span', { class: 'hint', id: `${id}-hint` }, hint) : null,
      h('span', { class: 'field-error', id: `${id}-err`, 'aria-live': 'polite' }));
  }

  setValues(v) {
    for (const [k, input] of Object.entries(this.inputs)) input.value = v[k] ?? '';
  }

  values() {
    return Object.fromEntries(Object.entries(this.inputs).map(([k, i]) => [k, i.value]));
  }

  // The app as it stands in the current mode; null (errors shown) when it
  // cannot be read.
  current() {
    if (this.mode === 'json') {
      try {
        const app = JSON.parse(this.json.value);
        if (!app || typeof app !== 'object' || Array.isArray(app)) throw new Error('the definition must be a JSON object');
        return app;
      } catch (e) {
        this.showErrors({ fields: {}, general: [`JSON: ${e.message}`] });
        return null;
      }
    }
    const { app, errors } = formToApp(this.values(), this.base);
    if (Object.keys(errors).length) {
      this.showErrors({ fields: errors, general: [] });
      return null;
    }
    return app;
  }

  setMode(m) {
    if (m === this.mode) return;
    const app = this.current();
    if (!app) return;
    this.clearErrors();
    this.base = app;
    this.mode = m;
    if (m === 'json') this.json.value = JSON.stringify(app, null, 2);
    else this.setValues(appToForm(app));
    this.formPane.hidden = m !== 'form';
    this.jsonPane.hidden = m !== 'json';
    for (const b of this.modeBtns) b.setAttribute('aria-pressed', String(b.id === `mode-${m}`));
  }

  clearErrors() {
    this.general.hidden = true;
    this.general.replaceChildren();
    this.jsonErrors.replaceChildren();
    for (const [name, input] of Object.entries(this.inputs)) {
      input.removeAttribute('aria-invalid');
      this.el.querySelector(`#f-${name}-err`).textContent = '';
      input.closest('.field').classList.remove('invalid');
    }
  }

  showErrors({ fields, general }, details) {
    this.clearErrors();
    let first = null;
    for (const [name, msgs] of Object.entries(fields)) {
      const input = this.inputs[name];
      if (!input) { general.push(...msgs); continue; }
      input.setAttribute('aria-invalid', 'true');
      input.closest('.field').classList.add('invalid');
      this.el.querySelector(`#f-${name}-err`).textContent = msgs.join('; ');
      first = first || input;
    }
    if (this.mode === 'json') {
      for (const d of details || []) {
        this.jsonErrors.append(h('li', {}, h('code', {}, d.path || '/'), ` ${(d.errors || []).map(humanError).join('; ')}`));
      }
    }
    if (general.length) {
      this.general.hidden = false;
      this.general.append(h('strong', {}, 'Pacer refused the app'), h('ul', {}, general.map((g) => h('li', {}, g))));
    }
    if (this.mode === 'form' && first) first.focus();
    else this.general.scrollIntoView({ block: 'nearest' });
  }

  async save() {
    const app = this.current();
    if (!app) return;
    this.clearErrors();
    this.submitBtn.disabled = true;
    try {
      if (this.editing) {
        const body = editable(app);
        await api('PUT', `${appPath(this.editing)}${this.force ? '?force=true' : ''}`, body);
        this.onSaved(this.editing);
      } else {
        const r = await api('POST', '/v2/apps', app);
        this.onSaved(r.id);
      }
    } catch (e) {
      if (e instanceof ApiError) {
        const where = errorsByField(e.body);
        if (e.status !== 422 && !where.general.length) where.general.push(e.message);
        if (e.status === 409 && this.editing) {
          // Saving again overrides the deployment in progress (?force=true).
          where.general.push('A deployment of this app is in progress: wait for it, roll it back, or save again to override it.');
          this.force = true;
          this.submitBtn.textContent = 'Deploy anyway (force)';
        }
        this.showErrors(where, e.body.details);
      } else {
        this.showErrors({ fields: {}, general: [e.message] });
      }
    } finally {
      this.submitBtn.disabled = false;
    }
  }
}
