// Pacer's REST API as the page uses it: same-origin fetch() (so the
// browser's HTTP Basic credentials, when Pacer asks for them, go along)
// and the event bus /v2/events read with EventSource.

// The answer's JSON, or throws an ApiError carrying Pacer's error body
// ({"message", "details": [{"path", "errors"}]}).
export class ApiError extends Error {
  constructor(status, body) {
    super((body && body.message) || `HTTP ${status}`);
    this.status = status;
    this.body = body || {};
  }
}

export async function api(method, path, body) {
  const opts = { method, headers: { Accept: 'application/json' } };
  if (body !== undefined) {
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const resp = await fetch(path, opts);
  const text = await resp.text();
  let json = null;
  try { json = text ? JSON.parse(text) : null; } catch { json = { message: text.trim() }; }
  if (!resp.ok) throw new ApiError(resp.status, json);
  return json;
}

export const appPath = (id) => `/v2/apps${id.split('/').map(encodeURIComponent).join('/')}`;

// Everything the list and the app pages show, in three reads.
export async function loadAll() {
  const [apps, deps, queue] = await Promise.all([
    api('GET', '/v2/apps?embed=apps.tasks&embed=apps.deployments&embed=apps.lastTaskFailure'),
    api('GET', '/v2/deployments'),
    api('GET', '/v2/queue'),
  ]);
  return { apps: apps.apps || [], deployments: deps || [], queue: (queue && queue.queue) || [] };
}

// Follow /v2/events: onEvent(type, data) for every event, onStatus(state,
// detail) with 'connecting', 'live' or 'retrying'. EventSource reconnects
// by itself; the page re-reads the state on every (re)connection, as
// events missed in between are not replayed. Returns { close() }.
export function follow(types, { onEvent, onStatus, onOpen }) {
  const url = '/v2/events?plan-format=light';
  let es = null;
  let closed = false;
  const open = () => {
    onStatus('connecting');
    es = new EventSource(url);
    es.onopen = () => { onStatus('live'); onOpen(); };
    es.onerror = () => {
      if (closed) return;
      onStatus('retrying', es.readyState === EventSource.CLOSED ? 'stream closed' : 'reconnecting');
      if (es.readyState === EventSource.CLOSED) setTimeout(() => { if (!closed) open(); }, 3000);
    };
    for (const t of types) {
      es.addEventListener(t, (e) => {
        let data = null;
        try { data = JSON.parse(e.data); } catch { return; }
        onEvent(t, data);
      });
    }
  };
  open();
  return { close() { closed = true; if (es) es.close(); } };
}
