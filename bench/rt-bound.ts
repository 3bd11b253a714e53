/**
 * What bounds the round trip, from the reports already written (lib/rt-bound.ts says what it
 * reads and why): run by run, Celeriac's round-trip p50 over Bee-Queue's beside its CPU per call
 * over Bee-Queue's, and the layout floor's CPU per call over Bee-Queue's. Runs nothing; reads
 * the given reports, or every bench/results/*.json, in name order (numbers as numbers).
 *
 *   node --import tsx bench/rt-bound.ts [<report> ...]
 *
 * A file that is not a report with those figures is left out (RabbitMQ, API and soak reports;
 * runs before the CPU per call was recorded); one that cannot be read or parsed is an error.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readRoundTrips, renderBound, type RunRoundTrips } from './lib/rt-bound.js';

const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));

const args = process.argv.slice(2);
if (args.includes('--help')) {
  process.stdout.write('usage: node --import tsx bench/rt-bound.ts [<report> ...]  (default: every bench/results/*.json)\n');
  process.exit(0);
}
const files = args.length > 0 ? args : readdirSync(RESULTS)
      .filter((f) => f.endsWith('.json'))
      // vm before vm-2, vm-2 before vm-10.
      .sort((a, b) => basename(a, '.json').localeCompare(basename(b, '.json'), 'en', { numeric: true }))
      .map((f) => join(RESULTS, f));

const runs: RunRoundTrips[] = [];
for (const file of files) {
  let report: unknown;
  try {
    report = JSON.parse(readFileSync(file, 'utf8'));
  } catch (err) {
    process.stderr.write(`rt-bound: ${file}: ${(err as Error).message}\n`);
    process.exit(1);
  }
  const run = readRoundTrips(basename(file, '.json'), report);
  if (run !== null) runs.push(run);
}
process.stdout.write(renderBound(runs));
