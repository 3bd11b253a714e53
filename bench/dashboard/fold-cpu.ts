/**
 * CPU time per event of the dashboard's in-process ingest steps, without a broker or a
 * database: ClusterState.apply (live state), EventFolder.add (rows and timeline entries for
 * the store) and the JSON parameters of the batch writes. CPU time (process.cpuUsage) rather
 * than wall time, so a loaded machine inflates it less; the first of four rounds warms up.
 *
 *   node --import tsx bench/dashboard/fold-cpu.ts [--root <checkout>] [--tasks 50000]
 *
 * `--root` measures another checkout's code (a before/after pair on one machine).
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { eventBatches } from './events.js';

const { values: flags } = parseArgs({
  options: {
    root: { type: 'string', default: fileURLToPath(new URL('../../', import.meta.url)) },
    tasks: { type: 'string', default: '50000' },
  },
});
const root = flags.root;
const { ClusterState } = await import(`${root}/packages/celeriac/src/monitor/cluster-state.ts`);
const { EventFolder } = await import(`${root}/packages/dashboard/src/store/fold-events.ts`);
const { toSqlJson } = await import(`${root}/packages/dashboard/src/store/sql-json.ts`);
const writeSql = await import(`${root}/packages/dashboard/src/store/write-sql.ts`);
// Events as the receiver hands them over: parsed from JSON text.
const events = JSON.parse(JSON.stringify([...eventBatches(0, Number(flags.tasks), 1000)].flat())) as Record<string, unknown>[];
const cpuUs = (fn: () => void) => {
  const c = process.cpuUsage();
  fn();
  const d = process.cpuUsage(c);
  return +((d.user + d.system) / events.length).toFixed(2);
};
for (let round = 0; round < 4; round++) {
  const state = new ClusterState();
  const cluster = cpuUs(() => {
    for (const e of events) state.apply(e, 1000);
  });
  const folder = new EventFolder({ payloadCap: 16_384, timelineCap: 1024 });
  const batches: { tasks: unknown[]; events: unknown[] }[] = [];
  const fold = cpuUs(() => {
    for (let i = 0; i < events.length; i++) {
      folder.add(events[i], 1000);
      if ((i + 1) % 2000 === 0) batches.push(folder.take());
    }
  });
  const json = cpuUs(() => {
    for (const b of batches) {
      toSqlJson(b.tasks);
      // Schema v3 sends a task's timeline entries as one row; before, one object per event.
      if (typeof writeSql.timelineParams === 'function') writeSql.timelineParams(b.events, 5000);
      else toSqlJson(b.events);
    }
  });
  if (round > 0) {
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ')[0];
    process.stdout.write(`${JSON.stringify({ root, events: events.length, clusterStateUs: cluster, foldUs: fold, batchJsonUs: json, load })}\n`);
  }
}
