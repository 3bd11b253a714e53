import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { UsageError } from './args.js';
import { parseSoakArgs } from './soak-args.js';
import { growthVerdict, soakMarkdown, soakSvg, thin, type MemorySample } from './soak-report.js';
import { escapeXml, lineChartSvg, niceTicks, tickLabel } from './svg-chart.js';

const sample = (done: number, rssMb: number, heapUsedMb = 30): MemorySample => ({ seconds: done / 1000, done, rssMb, heapUsedMb, heapTotalMb: 50, externalMb: 2 });

describe('parseSoakArgs', () => {
  it('gives the issue defaults and reads every flag', () => {
    expect(parseSoakArgs([])).toEqual({
      help: false, n: 1_000_000, baselineAt: 100_000, maxGrowth: 0.1, concurrency: 100, batch: 1000, maxQueued: 20_000,
      sampleEverySec: 2, timeoutSec: 1800, redisHost: '127.0.0.1', redisPort: 6379, db: 0,
    });
    expect(parseSoakArgs(['--n', '5000', '--baseline-at', '1000', '--max-growth', '12.5', '--concurrency', '10', '--batch', '500', '--max-queued', '2000', '--sample-every', '0.5', '--timeout', '60', '--redis', 'r:6390', '--db', '3', '--out', '/tmp/x']))
      .toEqual({ help: false, n: 5000, baselineAt: 1000, maxGrowth: 0.125, concurrency: 10, batch: 500, maxQueued: 2000, sampleEverySec: 0.5, timeoutSec: 60, redisHost: 'r', redisPort: 6390, db: 3, outDir: '/tmp/x' });
    // --help answers even when the other defaults would not fit a small --n.
    expect(parseSoakArgs(['--help', '--n', '10']).help).toBe(true);
  });

  it.each([
    [['--bogus'], /Unknown option '--bogus'/],
    [['extra'], /Unexpected argument 'extra'/],
    [['--n', '0'], /--n must be a whole number from 1/],
    [['--n', '1e6'], /--n must be a whole number/],
    [['--n', '5000'], /--baseline-at \(100000\) must be below --n \(5000\)/],
    [['--max-growth=-1'], /--max-growth must be a number of percent from 0 to 1000, got "-1"/],
    [['--max-growth', 'ten'], /--max-growth must be a number of percent/],
    [['--sample-every', '0.01'], /--sample-every must be a number of seconds from 0.1 to 3600/],
    [['--batch', '50000'], /--max-queued \(20000\) must be at least --batch \(50000\)/],
    [['--concurrency', '0'], /--concurrency must be a whole number from 1 to 10000/],
    [['--redis', 'nohost'], /--redis must be host:port/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseSoakArgs(argv)).toThrow(UsageError);
    expect(() => parseSoakArgs(argv)).toThrow(message);
  });
});

describe('growthVerdict', () => {
  it('compares the last sample with the first one past the baseline', () => {
    const samples = [sample(0, 80), sample(50_000, 120), sample(100_500, 150), sample(500_000, 160), sample(1_000_000, 164)];
    const v = growthVerdict(samples, 100_000, 0.1);
    expect(v.baseline.done).toBe(100_500);
    expect(v.end.done).toBe(1_000_000);
    expect(v.growth).toBeCloseTo(164 / 150 - 1, 10);
    expect(v.ok).toBe(true);
  });

  it('fails growth above the limit, and passes exactly at it', () => {
    expect(growthVerdict([sample(100, 100), sample(200, 111)], 100, 0.1).ok).toBe(false);
    expect(growthVerdict([sample(100, 100), sample(200, 110)], 100, 0.1).ok).toBe(true);
    // Shrinking is fine.
    expect(growthVerdict([sample(100, 100), sample(200, 90)], 100, 0).ok).toBe(true);
  });

  it('refuses to judge without a baseline sample, with one sample only, or with no RSS', () => {
    expect(() => growthVerdict([], 100, 0.1)).toThrow(/no memory sample after 100 tasks/);
    expect(() => growthVerdict([sample(50, 100), sample(99, 300)], 100, 0.1)).toThrow(/no memory sample after 100 tasks/);
    expect(() => growthVerdict([sample(50, 100), sample(100, 300)], 100, 0.1)).toThrow(/only one memory sample/);
    expect(() => growthVerdict([sample(100, 0), sample(200, 300)], 100, 0.1)).toThrow(/no RSS/);
  });

  it('thins a long table evenly, keeping the first and the last', () => {
    const xs = Array.from({ length: 1000 }, (_, i) => i);
    const t = thin(xs, 40);
    expect(t).toHaveLength(40);
    expect(t[0]).toBe(0);
    expect(t[39]).toBe(999);
    expect(thin([1, 2], 40)).toEqual([1, 2]);
  });

  it('writes the verdict, the plot link and the samples in the report', () => {
    const samples = [sample(0, 80), sample(100_000, 150), sample(200_000, 170)];
    const verdict = growthVerdict(samples, 100_000, 0.1);
    const md = soakMarkdown({ title: 'T', setup: ['setup line'], verdict, maxGrowth: 0.1, baselineAt: 100_000, svgFile: 'x-soak.svg', seconds: 20, n: 200_000 }, samples);
    expect(md).toContain('**FAILED**: RSS 170.0 MiB at the end (200,000 tasks) against 150.0 MiB after 100,000 tasks');
    expect(md).toContain('+13.3%, limit +10.0%');
    expect(md).toContain('![RSS and heap over tasks done](x-soak.svg)');
    expect(md).toContain('| 200 | 200,000 | 170.0 | 30.0 | 50.0 | 2.0 |');
    expect(soakSvg(samples, 'T').match(/<polyline/g)).toHaveLength(3);
  });
});

describe('lineChartSvg', () => {
  it('draws one polyline per series with every point inside the plot, and a legend', () => {
    const svg = lineChartSvg({ title: 'a < b & "c"', xLabel: 'x', yLabel: 'y', series: [{ name: 'one', points: [[0, 1], [10, 5], [20, 3]] }, { name: 'two', points: [[0, 2], [20, 4]] }] });
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toContain('a &lt; b &amp; &quot;c&quot;');
    const lines = [...svg.matchAll(/<polyline[^>]*points="([^"]+)"/g)].map((m) => (m[1] as string).split(' ').map((p) => p.split(',').map(Number)));
    expect(lines.map((l) => l.length)).toEqual([3, 2]);
    for (const [x, y] of lines.flat()) {
      expect(x).toBeGreaterThanOrEqual(80);
      expect(x).toBeLessThanOrEqual(880);
      expect(y).toBeGreaterThanOrEqual(40);
      expect(y).toBeLessThanOrEqual(410);
    }
    // The highest point is drawn higher (smaller y) than the lowest.
    const one = lines[0] as number[][];
    expect((one[1] as number[])[1]).toBeLessThan((one[0] as number[])[1] as number);
    expect(svg).toContain('>one</text>');
  });

  it('refuses no points and non-finite points', () => {
    expect(() => lineChartSvg({ title: '', xLabel: '', yLabel: '', series: [] })).toThrow(/no points/);
    expect(() => lineChartSvg({ title: '', xLabel: '', yLabel: '', series: [{ name: 's', points: [[0, Number.NaN]] }] })).toThrow(/not finite/);
  });

  it('picks round ticks that cover the range, also for a flat line', () => {
    expect(niceTicks(0, 1_000_000)).toEqual([0, 200_000, 400_000, 600_000, 800_000, 1_000_000]);
    expect(niceTicks(0.1, 0.7)).toEqual([0, 0.2, 0.4, 0.6, 0.8]);
    const flat = niceTicks(150, 150);
    expect(flat[0]).toBeLessThan(150);
    expect(flat[flat.length - 1]).toBeGreaterThan(150);
    const tiny = niceTicks(1e15, 1e15 + 1);
    expect(tiny.length).toBeLessThan(30);
    expect(() => niceTicks(2, 1)).toThrow(RangeError);
    expect(tickLabel(1_200_000)).toBe('1.2M');
    expect(tickLabel(150_000)).toBe('150k');
    expect(tickLabel(0.5)).toBe('0.5');
    expect(escapeXml(`<'&">`)).toBe('&lt;&apos;&amp;&quot;&gt;');
  });
});

describe('npm run bench:soak', () => {
  const run = (...argv: string[]) => promisify(execFile)(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('../soak.ts', import.meta.url)), ...argv]);

  it('prints its usage for --help', async () => {
    const { stdout } = await run('--help');
    expect(stdout).toMatch(/^Usage: npm run bench:soak -- \[flags\]/);
  });

  it('refuses a bad flag with exit code 2 before touching Redis', async () => {
    const failed = await run('--n', 'lots').then(() => null, (err: unknown) => err as { code: number; stderr: string });
    expect(failed?.code).toBe(2);
    expect(failed?.stderr).toMatch(/^soak: --n must be a whole number from 1 to \d+, got "lots"\n\nUsage:/);
  });
});
