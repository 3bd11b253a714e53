/**
 * What writing task events costs the worker (`-E`, issue 42 item 4), base against the working
 * tree: an EventDispatcher of each side's build takes the three events of a succeeding task
 * (received, started, succeeded) for 2,000 messages at a time and writes them into its
 * `task.multi` batches, published to a broker that only keeps the first batch. A drain's -E
 * figures (bench/probe.ts --events) swing by a quarter from one run to the next on the shared
 * hosts; this times the writer alone. Each side runs in a fresh process that loads nothing but
 * its build's modules (two builds in one process, or a harness that loads node-redis or
 * ioredis beside them, changed what V8 inlined into the timed loop, and the same code timed
 * twice as slow), and the sides alternate round by round. Prints each side's median ns per
 * task and the median of the per-round ratios, and fails when the two sides' batches differ
 * (ids, clock values and pids aside): a faster writer must write the same bytes.
 *
 *   npm run build && node --import tsx bench/event-writer.ts --base <git rev> [--rounds 9] [--reps 40]
 *
 * The messages are decoded from the envelope of a no-op task as Celeriac's producer sends it
 * (the bench's task). Nothing here runs under `npm test`.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type * as DispatcherModule from '../packages/celeriac/dist/worker/events/event-dispatcher.js';
import type * as EnvelopeModule from '../packages/celeriac/dist/protocol/envelope.js';
import type * as TaskMessageModule from '../packages/celeriac/dist/protocol/task-message.js';
import type * as LamportModule from '../packages/celeriac/dist/protocol/lamport-clock.js';
import { strictFlags, wholeNumber } from './lib/args.js';
import { median } from './lib/stats.js';

const values = strictFlags(process.argv.slice(2), {
  base: { type: 'string' },
  rounds: { type: 'string', default: '9' },
  reps: { type: 'string', default: '40' },
  child: { type: 'string' },
});
const rounds = wholeNumber('--rounds', values.rounds, 1, 1000);
const reps = wholeNumber('--reps', values.reps, 2, 10_000);

/** Messages per repetition: as many tasks' events as a busy worker has in flight, and more. */
const MESSAGES = 2000;
const ID = '832e4507-7ce8-49c2-80f4-07c86481c8fd';
/** A no-op task's envelope as Celeriac's producer wrote it (2026-12-03), `bench.noop` with no arguments. */
const ENVELOPE =
  `{"body": "W1tdLCB7fSwgeyJjYWxsYmFja3MiOiBudWxsLCAiZXJyYmFja3MiOiBudWxsLCAiY2hhaW4iOiBudWxsLCAiY2hvcmQiOiBudWxsfV0=", "content-encoding": "utf-8", ` +
  `"content-type": "application/json", "headers": {"lang": "js", "task": "bench.noop", "id": "${ID}", "shadow": null, "eta": null, "expires": null, ` +
  `"group": null, "group_index": null, "retries": 0, "timelimit": [null, null], "root_id": "${ID}", "parent_id": null, "argsrepr": "()", ` +
  `"kwargsrepr": "{}", "origin": "gen11373@vm", "ignore_result": false}, "properties": {"correlation_id": "${ID}", ` +
  `"reply_to": "1c5223a5-bd97-484a-abcd-5ecfdce73364", "delivery_mode": 2, "delivery_info": {"exchange": "", "routing_key": "bench"}, ` +
  `"priority": 0, "body_encoding": "base64", "delivery_tag": "01a23bee-535c-73c0-af22-fc958e902a08"}}`;

/** What a child prints: ns per task over the second half of its repetitions, and its first batch. */
interface ChildResult {
  readonly ns: number;
  readonly first: string;
}

/** The child: times the writer of the build whose dist/ is `dist`. */
async function child(dist: string): Promise<void> {
  const load = async <T>(path: string): Promise<T> => (await import(pathToFileURL(join(dist, path)).href)) as T;
  const { EventDispatcher } = await load<typeof DispatcherModule>('worker/events/event-dispatcher.js');
  const { decodeEnvelope } = await load<typeof EnvelopeModule>('protocol/envelope.js');
  const { decodeTaskMessage } = await load<typeof TaskMessageModule>('protocol/task-message.js');
  const { LamportClock } = await load<typeof LamportModule>('protocol/lamport-clock.js');
  const messages = Array.from({ length: MESSAGES }, () => decodeTaskMessage(decodeEnvelope(ENVELOPE.replaceAll(ID, randomUUID())).message));
  let first: string | null = null;
  const broker = {
    publishFanout: (_exchange: string, _key: string, raw: string | Buffer) => {
      first ??= Buffer.from(raw).toString('latin1');
      return Promise.resolve(1);
    },
  };
  const log = { warn: () => undefined, isLevelEnabled: () => false };
  // A fixed wall clock: the same timestamps on both sides.
  const host = { broker, hostname: 'celery@bench', clock: { now: () => 1_796_301_740_760 }, lamport: new LamportClock(), log };
  const dispatcher = new EventDispatcher(host as unknown as ConstructorParameters<typeof EventDispatcher>[0], { taskEvents: true });
  let t0 = 0;
  for (let r = 0; r < reps; r++) {
    // The first half warms the code up; the second is timed.
    if (r === reps / 2) t0 = performance.now();
    for (const message of messages) {
      dispatcher.sendTaskEvent({ type: 'task-received', message });
      dispatcher.sendTaskEvent({ type: 'task-started', message });
      dispatcher.sendTaskEvent({ type: 'task-succeeded', message, result: null, runtime: 0.000123 });
    }
    // The publishes' promises settle, as between a worker's turns.
    await new Promise((resolve) => setImmediate(resolve));
  }
  const ns = ((performance.now() - t0) * 1e6) / ((reps - reps / 2) * MESSAGES);
  const result: ChildResult = { ns, first: first ?? '' };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

async function main(): Promise<void> {
  if (values.child !== undefined) return child(values.child);
  const here = fileURLToPath(import.meta.url);
  const sides: { name: string; dist: string; samples: number[]; first: string }[] = [];
  if (values.base !== undefined) {
    // Loaded here only: it brings in the bench's peers, which a child must not load.
    const { buildRevision } = await import('./lib/ab.js');
    sides.push({ name: `base ${values.base}`, dist: dirname(buildRevision(values.base)), samples: [], first: '' });
  }
  sides.push({ name: 'working tree', dist: join(dirname(here), '../packages/celeriac/dist'), samples: [], first: '' });
  for (let r = 0; r < rounds; r++) {
    for (const s of r % 2 === 0 ? sides : [...sides].reverse()) {
      const out = execFileSync(process.execPath, ['--import', 'tsx', here, '--child', s.dist, '--reps', String(reps)], { encoding: 'utf8' });
      const result = JSON.parse(out.trim().split('\n').pop() as string) as ChildResult;
      s.samples.push(result.ns);
      s.first = result.first;
    }
  }
  const text = (first: string) => first.replace(/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g, 'ID').replace(/"(clock|pid)\\": \d+/g, '$1');
  process.stdout.write(`\nns per task (its three events), ${rounds} rounds, a fresh process per side and round, the second half of ${reps} x ${MESSAGES} tasks timed\n\n`);
  process.stdout.write('| side | median | min | max |\n| --- | ---: | ---: | ---: |\n');
  for (const s of sides) process.stdout.write(`| ${s.name} | ${median(s.samples).toFixed(0)} | ${Math.min(...s.samples).toFixed(0)} | ${Math.max(...s.samples).toFixed(0)} |\n`);
  const [base, tree] = sides;
  if (base === undefined || tree === undefined) return;
  const ratio = median(base.samples.map((b, i) => (tree.samples[i] as number) / b));
  process.stdout.write(`\nworking tree / base, median of per-round ratios: ${ratio.toFixed(3)}\n`);
  if (text(base.first) !== text(tree.first)) {
    process.stderr.write('event-writer: the two sides wrote different batches\n');
    process.exitCode = 1;
  }
}

await main();
