/**
 * @module bench/lib/command-table-cost
 * What Celeriac's stand-in for node-redis's command index (packages/celeriac/src/redis/
 * command-table.ts) costs a process that reads the whole table: node-redis's own
 * `createClient()` does, in a user's code beside Celeriac. Each side is a fresh process that
 * imports `redis` and makes one client, with the stand-in installed first or not; sides
 * alternate, and the median CPU of each is compared. The stand-in exists to load less, so a
 * full read through it should cost about what node-redis's own index does; it once cost
 * four to five times as much, and nothing noticed (the worker never reads the whole table).
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { median } from './stats.js';

const STAND_IN = pathToFileURL(fileURLToPath(new URL('../../packages/celeriac/dist/redis/command-table.js', import.meta.url))).href;
const BENCH_DIR = fileURLToPath(new URL('../', import.meta.url));

/** The child: CPU ms of `import('redis')` and one `createClient()`, after installing the stand-in when asked. */
const CHILD = `
const c0 = process.cpuUsage();
if (process.argv[1] === 'stand-in') {
  const { installLazyCommandTable } = await import(${JSON.stringify(STAND_IN)});
  if (!installLazyCommandTable()) throw new Error('the stand-in was not installed');
}
const { createClient } = await import('redis');
createClient({ url: 'redis://127.0.0.1:1' });
const c = process.cpuUsage(c0);
process.stdout.write(String((c.user + c.system) / 1000));
`;

function childCpuMs(side: 'real' | 'stand-in'): number {
  const out = execFileSync(process.execPath, ['--input-type=module', '-e', CHILD, side], { cwd: BENCH_DIR, encoding: 'utf8' });
  const ms = Number(out.trim());
  if (!(ms > 0)) throw new Error(`command-table-cost: the ${side} child printed ${JSON.stringify(out)}`);
  return ms;
}

/** Median CPU ms of each side over `rounds` alternating rounds. Needs the built package (npm run build). */
export function commandTableCost(rounds = 5): { real: number; standIn: number; ratio: number } {
  const real: number[] = [];
  const standIn: number[] = [];
  for (let i = 0; i < rounds; i++) {
    real.push(childCpuMs('real'));
    standIn.push(childCpuMs('stand-in'));
  }
  const r = median(real);
  const s = median(standIn);
  return { real: r, standIn: s, ratio: s / r };
}
