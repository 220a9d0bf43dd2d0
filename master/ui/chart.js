// History of the cluster totals since the page opened, and the small
// hand-written SVG chart of it on each resource card.

import { h } from './dom.js';
import { KINDS } from './model.js';

const MAX_POINTS = 600;

export class History {
  constructor() {
    this.samples = []; // {t (ms), cpus: {total, used, offered}, ...}
    this.step = 1;     // keep every step-th sample once the buffer halved
    this.seen = 0;
  }

  // Record the totals now; the whole history is kept at a resolution
  // that halves each time it would exceed MAX_POINTS.
  add(totals, t = Date.now()) {
    this.seen++;
    if (this.seen % this.step !== 0 && this.samples.length) {
      this.samples[this.samples.length - 1] = snapshot(totals, t);
      return;
    }
    this.samples.push(snapshot(totals, t));
    if (this.samples.length > MAX_POINTS) {
      this.samples = this.samples.filter((_, i) => i % 2 === 0 || i === this.samples.length - 1);
      this.step *= 2;
    }
  }
}

function snapshot(totals, t) {
  const s = { t };
  for (const k of KINDS) s[k] = { total: totals[k].total, used: totals[k].used, offered: totals[k].offered };
  return s;
}

const W = 240, H = 56;

function path(points, close) {
  if (!points.length) return '';
  let d = `M${points[0][0].toFixed(1)},${points[0][1].toFixed(1)}`;
  for (let i = 1; i < points.length; i++) d += `L${points[i][0].toFixed(1)},${points[i][1].toFixed(1)}`;
  if (close) d += `L${points[points.length - 1][0].toFixed(1)},${H}L${points[0][0].toFixed(1)},${H}Z`;
  return d;
}

// The chart of one kind: used (solid area) and used + offered (light
// area) against the total (dashed), over the time since the page opened.
export function sparkline(history, kind, label) {
  const s = history.samples;
  const svg = h('svg:svg', {
    viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none', class: 'spark', role: 'img',
    'aria-label': label,
  });
  if (s.length < 2) {
    svg.append(h('svg:line', { x1: 0, y1: H - 1, x2: W, y2: H - 1, class: 'spark-total' }));
    return svg;
  }
  const t0 = s[0].t, t1 = s[s.length - 1].t || t0 + 1;
  const max = Math.max(1e-9, ...s.map((x) => x[kind].total));
  const x = (t) => ((t - t0) / Math.max(1, t1 - t0)) * W;
  const y = (v) => H - 1 - (v / max) * (H - 4);
  const used = s.map((p) => [x(p.t), y(p[kind].used)]);
  const alloc = s.map((p) => [x(p.t), y(p[kind].used + p[kind].offered)]);
  const total = s.map((p) => [x(p.t), y(p[kind].total)]);
  svg.append(
    h('svg:path', { d: path(alloc, true), class: 'spark-offered' }),
    h('svg:path', { d: path(used, true), class: 'spark-used' }),
    h('svg:path', { d: path(used, false), class: 'spark-used-line', 'vector-effect': 'non-scaling-stroke' }),
    h('svg:path', { d: path(total, false), class: 'spark-total', 'vector-effect': 'non-scaling-stroke' }),
  );
  return svg;
}
