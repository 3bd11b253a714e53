/**
 * The embedded store's first start: each run is a new node process opening a history store in
 * a new, empty data directory (what `celeriac flower` does the first time), timed from before
 * the store module is imported until openHistoryStore resolves.
 *
 *   node --import tsx bench/dashboard/pglite-start.ts [--runs 3]
 *
 * Three ways: without the template cache (initdb every time, as before), with an empty cache
 * (the machine's first start: makes the template, then copies it), and with the cache filled.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { percentile } from '../lib/stats.js';

const { values: flags } = parseArgs({ options: { runs: { type: 'string', default: '3' }, child: { type: 'string' }, templates: { type: 'string' } } });

if (flags.child !== undefined) {
  const t0 = performance.now();
  const { openPgliteDriver } = await import('../../packages/dashboard/src/store/sql-driver.js');
  const { migrate } = await import('../../packages/dashboard/src/store/schema.js');
  const imported = performance.now();
  const db = await openPgliteDriver(flags.child, 'celeriac_dashboard', undefined, flags.templates !== 'off');
  const opened = performance.now();
  await migrate(db);
  const migrated = performance.now();
  await db.close();
  process.stdout.write(JSON.stringify({ imported: imported - t0, opened: opened - imported, migrated: migrated - opened, total: migrated - t0 }));
  process.exit(0);
}

interface Run { imported: number; opened: number; migrated: number; total: number }

function start(dataDir: string, templates: 'on' | 'off', cache: string): Run {
  const r = spawnSync(process.execPath, ['--import', 'tsx', new URL(import.meta.url).pathname, '--child', dataDir, '--templates', templates], {
    env: { ...process.env, CELERIAC_PGLITE_TEMPLATE_DIR: cache }, encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Run;
}

const runs = Number(flags.runs);
const work = mkdtempSync(join(tmpdir(), 'celeriac-pglite-start-'));
const line = (label: string, xs: Run[]) => {
  const med = (k: keyof Run) => (percentile(xs.map((x) => x[k]), 50) / 1000).toFixed(2);
  process.stdout.write(`| ${label} | ${xs.length} | ${med('imported')} | ${med('opened')} | ${med('migrated')} | ${med('total')} | ${(Math.max(...xs.map((x) => x.total)) / 1000).toFixed(2)} |\n`);
};
try {
  process.stdout.write(`load average before: ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n\n`);
  process.stdout.write('| first start | runs | import (s) | open PGlite (s) | migrate (s) | total, median (s) | total, max (s) |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: |\n');
  let n = 0;
  const fresh = () => join(work, `data-${n++}`);
  const without: Run[] = [];
  const emptyCache: Run[] = [];
  const filled: Run[] = [];
  for (let i = 0; i < runs; i++) {
    without.push(start(fresh(), 'off', join(work, 'unused-cache')));
    const cache = join(work, `cache-${i}`);
    emptyCache.push(start(fresh(), 'on', cache));
    filled.push(start(fresh(), 'on', cache));
  }
  line('no template (initdb, as before)', without);
  line('template, empty cache (machine\'s first)', emptyCache);
  line('template cached', filled);
  process.stdout.write(`\nload average after: ${loadavg().map((x) => x.toFixed(1)).join(' ')}\n`);
} finally {
  rmSync(work, { recursive: true, force: true });
}
