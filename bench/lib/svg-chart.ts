/**
 * @module bench/lib/svg-chart
 * A small SVG line chart (no dependency): a few series over one numeric x axis, with axes,
 * round-number ticks, a legend and a title. Enough for a soak's memory over tasks done.
 */

/** One line of the chart. */
export interface Series {
  readonly name: string;
  /** [x, y] in data units, in x order. */
  readonly points: readonly (readonly [number, number])[];
  /** CSS colour; a default palette otherwise. */
  readonly color?: string;
}

export interface LineChart {
  readonly title: string;
  readonly xLabel: string;
  readonly yLabel: string;
  readonly series: readonly Series[];
  /** Pixels. @default 900 x 480 */
  readonly width?: number;
  readonly height?: number;
  /** Whether the y axis starts at 0 (else at the data's lowest tick). @default true */
  readonly yFromZero?: boolean;
}

const PALETTE = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd'];
const MARGIN = { left: 80, right: 20, top: 40, bottom: 70 };

/** Text safe inside SVG elements and attribute values. */
export function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/**
 * Round tick values covering [min, max]: steps of 1, 2 or 5 times a power of ten, about
 * `count` of them, the first at or below min and the last at or above max.
 */
export function niceTicks(min: number, max: number, count = 6): number[] {
  if (!Number.isFinite(min) || !Number.isFinite(max) || min > max) throw new RangeError(`niceTicks: bad range [${min}, ${max}]`);
  if (min === max) {
    // A flat line still gets an axis around its value.
    const pad = min === 0 ? 1 : Math.abs(min) * 0.1;
    return niceTicks(min - pad, max + pad, count);
  }
  const raw = (max - min) / Math.max(1, count - 1);
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = ([1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power);
  const first = Math.floor(min / step) * step;
  const ticks: number[] = [];
  // Counted, not accumulated: with a range tiny against its values, v += step would not move.
  for (let k = 0; k <= 4 * count; k++) {
    const v = first + k * step;
    // Rounded so that 0.1 + 0.2 style noise does not show in the labels.
    ticks.push(Number(v.toPrecision(12)));
    if (v >= max) break;
  }
  return ticks;
}

/** A tick label: 1,200,000 as 1.2M, 150,000 as 150k, small numbers as they are. */
export function tickLabel(v: number): string {
  const abs = Math.abs(v);
  const trim = (x: number) => String(Number(x.toPrecision(3)));
  if (abs >= 1e6) return `${trim(v / 1e6)}M`;
  if (abs >= 1e4) return `${trim(v / 1e3)}k`;
  return trim(v);
}

/** The chart as an SVG document. @throws RangeError for a non-finite point or no points at all. */
export function lineChartSvg(chart: LineChart): string {
  const width = chart.width ?? 900;
  const height = chart.height ?? 480;
  const all = chart.series.flatMap((s) => s.points);
  if (all.length === 0) throw new RangeError('lineChartSvg: no points');
  for (const [x, y] of all) if (!Number.isFinite(x) || !Number.isFinite(y)) throw new RangeError(`lineChartSvg: point (${x}, ${y}) is not finite`);
  const xs = all.map((p) => p[0]);
  const ys = all.map((p) => p[1]);
  const xTicks = niceTicks(Math.min(...xs), Math.max(...xs));
  const yTicks = niceTicks(chart.yFromZero === false ? Math.min(...ys) : Math.min(0, ...ys), Math.max(...ys));
  const [x0, x1] = [xTicks[0] as number, xTicks[xTicks.length - 1] as number];
  const [y0, y1] = [yTicks[0] as number, yTicks[yTicks.length - 1] as number];
  const plotW = width - MARGIN.left - MARGIN.right;
  const plotH = height - MARGIN.top - MARGIN.bottom;
  const px = (x: number) => (MARGIN.left + ((x - x0) / (x1 - x0)) * plotW).toFixed(1);
  const py = (y: number) => (MARGIN.top + plotH - ((y - y0) / (y1 - y0)) * plotH).toFixed(1);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="${width}" height="${height}" fill="white"/>`,
    `<text x="${width / 2}" y="22" text-anchor="middle" font-size="15">${escapeXml(chart.title)}</text>`,
  ];
  for (const t of yTicks) {
    out.push(`<line x1="${MARGIN.left}" x2="${width - MARGIN.right}" y1="${py(t)}" y2="${py(t)}" stroke="#ddd"/>`);
    out.push(`<text x="${MARGIN.left - 6}" y="${py(t)}" text-anchor="end" dominant-baseline="middle">${escapeXml(tickLabel(t))}</text>`);
  }
  for (const t of xTicks) {
    out.push(`<line x1="${px(t)}" x2="${px(t)}" y1="${MARGIN.top}" y2="${MARGIN.top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${px(t)}" y="${MARGIN.top + plotH + 18}" text-anchor="middle">${escapeXml(tickLabel(t))}</text>`);
  }
  out.push(`<rect x="${MARGIN.left}" y="${MARGIN.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#333"/>`);
  out.push(`<text x="${MARGIN.left + plotW / 2}" y="${height - 30}" text-anchor="middle">${escapeXml(chart.xLabel)}</text>`);
  out.push(`<text transform="translate(18 ${MARGIN.top + plotH / 2}) rotate(-90)" text-anchor="middle">${escapeXml(chart.yLabel)}</text>`);
  chart.series.forEach((s, i) => {
    const color = escapeXml(s.color ?? PALETTE[i % PALETTE.length] as string);
    const points = s.points.map(([x, y]) => `${px(x)},${py(y)}`).join(' ');
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points}"><title>${escapeXml(s.name)}</title></polyline>`);
    const lx = MARGIN.left + 10 + i * 220;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${height - 10}" y2="${height - 10}" stroke="${color}" stroke-width="3"/>`);
    out.push(`<text x="${lx + 30}" y="${height - 10}" dominant-baseline="middle">${escapeXml(s.name)}</text>`);
  });
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
