// Line charts drawn as inline SVG: no chart library, nothing fetched from a CDN.
import { h, s } from './dom.js';

const W = 640;
const H = 180;
const PAD = { l: 48, r: 12, t: 10, b: 22 };

/** A "nice" upper bound for an axis: 1, 2 or 5 times a power of ten. */
export function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/**
 * An SVG line chart. `series`: [{name, cls, points: [[epochSec, value|null], ...]}]; null
 * values break the line. The accessible name states each series' latest value.
 */
export function lineChart(title, series, { formatY = (v) => String(v), formatX = (t) => new Date(t * 1000).toLocaleTimeString() } = {}) {
  let tMin = Infinity;
  let tMax = -Infinity;
  let vMax = 0;
  for (const se of series) {
    for (const [t, v] of se.points) {
      tMin = Math.min(tMin, t);
      tMax = Math.max(tMax, t);
      if (v !== null && Number.isFinite(v)) vMax = Math.max(vMax, v);
    }
  }
  if (!Number.isFinite(tMin)) {
    tMin = 0;
    tMax = 1;
  }
  if (tMax === tMin) tMax = tMin + 1;
  const yMax = niceMax(vMax);
  const x = (t) => PAD.l + ((t - tMin) / (tMax - tMin)) * (W - PAD.l - PAD.r);
  const y = (v) => H - PAD.b - (v / yMax) * (H - PAD.t - PAD.b);
  const latest = series.map((se) => {
    const last = [...se.points].reverse().find(([, v]) => v !== null);
    return `${se.name} ${last ? formatY(last[1]) : 'no data'}`;
  });
  const grid = [0, 0.5, 1].map((f) => [
    s('line', { x1: PAD.l, x2: W - PAD.r, y1: y(yMax * f), y2: y(yMax * f), class: 'grid' }),
    s('text', { x: PAD.l - 4, y: y(yMax * f) + 4, 'text-anchor': 'end', class: 'axis' }, formatY(yMax * f)),
  ]);
  const lines = series.map((se) => {
    let d = '';
    let pen = false;
    for (const [t, v] of se.points) {
      if (v === null || !Number.isFinite(v)) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(t).toFixed(1)},${y(v).toFixed(1)}`;
      pen = true;
    }
    return s('path', { d: d || 'M0,0', class: `line ${se.cls ?? ''}`, fill: 'none' });
  });
  const svg = s(
    'svg',
    { viewBox: `0 0 ${W} ${H}`, role: 'img', 'aria-label': `${title}: ${latest.join(', ')}`, class: 'chart', preserveAspectRatio: 'none' },
    grid,
    s('text', { x: PAD.l, y: H - 4, class: 'axis' }, formatX(tMin)),
    s('text', { x: W - PAD.r, y: H - 4, 'text-anchor': 'end', class: 'axis' }, formatX(tMax)),
    lines,
  );
  return h(
    'figure',
    { class: 'chart-box' },
    h('figcaption', null, title, ' ', series.map((se) => h('span', { class: `legend ${se.cls ?? ''}` }, se.name))),
    svg,
  );
}
