// Types of chart.js for the unit tests (the browser loads the .js as it is).
export function niceMax(v: number): number;
export function lineChart(title: string, series: { name: string; cls?: string; points: [number, number | null][] }[], options?: { formatY?: (v: number) => string; formatX?: (t: number) => string }): unknown;
