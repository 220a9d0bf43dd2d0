// The master's operator event stream (POST /api/v1 {"type": "SUBSCRIBE"}),
// read with fetch() and a ReadableStream reader: a RecordIO body
// ("<decimal length>\n<JSON record>", repeated; lengths count bytes, not
// characters). Reconnects with back-off; the first event of every
// connection is SUBSCRIBED with the full state, so nothing is lost.

export class RecordIODecoder {
  constructor() {
    this.buf = new Uint8Array(0);
    this.text = new TextDecoder('utf-8');
  }

  // Feed bytes; returns the complete records (strings) they end.
  push(chunk) {
    const merged = new Uint8Array(this.buf.length + chunk.length);
    merged.set(this.buf, 0);
    merged.set(chunk, this.buf.length);
    const out = [];
    let pos = 0;
    for (;;) {
      const nl = merged.indexOf(10, pos);
      if (nl < 0) break;
      const header = this.text.decode(merged.subarray(pos, nl)).trim();
      const len = Number(header);
      if (!/^\d+$/.test(header) || !Number.isSafeInteger(len)) {
        throw new Error(`bad RecordIO length '${header.slice(0, 20)}'`);
      }
      if (merged.length < nl + 1 + len) break;
      out.push(this.text.decode(merged.subarray(nl + 1, nl + 1 + len)));
      pos = nl + 1 + len;
    }
    this.buf = merged.slice(pos);
    return out;
  }
}

// Subscribe and call onEvent(event) for every event; onStatus(state,
// detail) reports 'connecting', 'live', 'retrying' (detail: why, and when).
// Returns { close() }.
export function subscribe({ onEvent, onStatus }) {
  let closed = false;
  let controller = null;
  let attempt = 0;
  let watchdog = null;
  let heartbeatSecs = 15;

  const arm = () => {
    clearTimeout(watchdog);
    // Three missed heartbeats: the connection is dead even if TCP is not.
    watchdog = setTimeout(() => controller && controller.abort(new Error('no heartbeat')),
      heartbeatSecs * 3000);
  };

  async function once() {
    controller = new AbortController();
    onStatus('connecting');
    const resp = await fetch('/api/v1', {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
      body: JSON.stringify({ type: 'SUBSCRIBE' }),
      signal: controller.signal,
      cache: 'no-store',
    });
    if (!resp.ok) {
      const text = (await resp.text()).trim();
      throw new Error(`${resp.status} ${text || resp.statusText}`);
    }
    const reader = resp.body.getReader();
    const dec = new RecordIODecoder();
    arm();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error('the master closed the stream');
      arm();
      for (const rec of dec.push(value)) {
        const ev = JSON.parse(rec);
        if (ev.type === 'SUBSCRIBED') {
          attempt = 0;
          heartbeatSecs = ev.subscribed.heartbeat_interval_seconds || heartbeatSecs;
          arm();
          onStatus('live');
        }
        onEvent(ev);
      }
    }
  }

  async function loop() {
    while (!closed) {
      try {
        await once();
      } catch (e) {
        if (closed) break;
        clearTimeout(watchdog);
        attempt++;
        const delay = Math.min(10000, 500 * 2 ** Math.min(attempt, 5));
        onStatus('retrying', { reason: e.message || String(e), at: Date.now() + delay });
        // A new leader: this master now redirects, so reload through it.
        if (attempt > 1 && (await leaderMoved())) {
          window.location.reload();
          return;
        }
        await new Promise((r) => setTimeout(r, delay));
      }
    }
  }

  loop();
  return {
    close() {
      closed = true;
      clearTimeout(watchdog);
      if (controller) controller.abort();
    },
  };
}

// Does this origin now send the page elsewhere (a standby's 307)?
async function leaderMoved() {
  try {
    const r = await fetch('/', { method: 'HEAD', redirect: 'manual', cache: 'no-store' });
    return r.type === 'opaqueredirect';
  } catch {
    return false;
  }
}

// One operator call (GET_AGENTS, ...): its JSON answer.
export async function operatorCall(type) {
  const r = await fetch('/api/v1', {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify({ type }),
    cache: 'no-store',
  });
  if (!r.ok) throw new Error(`${type}: ${r.status} ${(await r.text()).trim()}`);
  return r.json();
}
