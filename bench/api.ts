/**
 * `npm run bench:api`: a task's whole HTTP path, `POST /tasks/demo.add` then its server-sent
 * events until the final state, through the reference app (apps/api, one process per role)
 * and through a minimal Fastify + BullMQ service, on the same Redis, in one run (issue 42,
 * item 7). Both services run at once; each concurrency level measures them one after the
 * other, the first alternating, after an unmeasured warm-up. Writes
 * bench/results/<date>-<host>-api.md and .json. Flags: `--help` (lib/api-args.ts); a bad one
 * exits with code 2; the whole run is bounded by --timeout (exit 1).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, hostname, loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseOrExit } from './lib/args.js';
import { API_USAGE, parseApiArgs, type ApiStack } from './lib/api-args.js';
import { closedLoop } from './lib/api-load.js';
import { apiErrors, renderApiTable, type ApiMeasurement } from './lib/api-report.js';
import { adminClient } from './lib/redis.js';
import { collectGarbage, nowMs } from './lib/stats.js';
import { startBullmqService, startReferenceApp, type Stack, type StackEnv } from './peers/api-stacks.js';

const args = parseOrExit('api', API_USAGE, () => parseApiArgs(process.argv.slice(2)));
const started = nowMs();
const deadline = started + args.timeoutSec * 1000;
const log = (line: string) => process.stderr.write(`[api ${((nowMs() - started) / 1000).toFixed(1).padStart(6)} s] ${line}\n`);
const runPrefix = `celeriac-bench:api-${randomBytes(4).toString('hex')}:`;
const redis = adminClient({ redisHost: args.redisHost, redisPort: args.redisPort, redisDb: args.db });
const stacks: Stack[] = [];

function stackEnv(name: ApiStack): StackEnv {
  return { redisHost: args.redisHost, redisPort: args.redisPort, db: args.db, prefix: `${runPrefix}${name}:`, workerConcurrency: args.workerConcurrency, postgresUrl: args.postgresUrl, log };
}

async function measure(stack: Stack, concurrency: number): Promise<ApiMeasurement> {
  if (args.warmup > 0) {
    const warm = await closedLoop(args.warmup, concurrency, (i) => stack.call(i), deadline);
    if (warm.errors > 0) throw new Error(`${stack.name}: ${warm.errors} of ${args.warmup} warm-up calls failed; first: ${warm.firstError}`);
  }
  collectGarbage();
  const cpu0 = stack.cpu();
  const load = await closedLoop(args.requests, concurrency, (i) => stack.call(i), deadline);
  const serverCpuSec = stack.cpu() - cpu0;
  log(`${stack.name} c=${concurrency}: ${Math.round(load.perSec)}/s, p50 ${load.p50Ms.toFixed(2)} ms, p99 ${load.p99Ms.toFixed(2)} ms, ${((serverCpuSec / Math.max(1, load.n)) * 1e6).toFixed(0)} us server CPU per call, ${load.errors} errors`);
  if (load.n < args.requests && load.errors === 0) throw new Error(`the run passed its ${args.timeoutSec} s limit during ${stack.name} c=${concurrency} (${load.n}/${args.requests} calls)`);
  return { stack: stack.name, load, serverCpuSec };
}

async function main(): Promise<number> {
  for (const name of args.stacks) {
    log(`starting ${name === 'celeriac' ? 'the reference app (api and worker processes)' : 'the Fastify + BullMQ service and its worker'}`);
    stacks.push(name === 'celeriac' ? await startReferenceApp(stackEnv(name), redis) : await startBullmqService(stackEnv(name), redis));
  }
  const load0 = loadavg()[0] ?? 0;
  const measurements: ApiMeasurement[] = [];
  for (const [level, c] of args.concurrencies.entries()) {
    const order = level % 2 === 0 ? stacks : [...stacks].reverse();
    for (const stack of order) measurements.push(await measure(stack, c));
  }
  const errors = apiErrors(measurements);
  const when = new Date().toISOString();
  const md = [
    `# API path bench: reference app vs Fastify + BullMQ — ${when}`,
    '',
    `Command: \`npm run bench:api${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(' ')}` : ''}\`. Machine: ${hostname()}, ${cpus().length} cores, load average ${load0.toFixed(1)} before and ${(loadavg()[0] ?? 0).toFixed(1)} after; Node ${process.version}; Redis ${args.redisHost}:${args.redisPort}/${args.db}.`,
    `Each call: \`POST /tasks/demo.add {"args": [i, 1]}\` (202 with the task id), then \`GET /tasks/<id>/events\` read until the \`task\` event with a final state, checked to be SUCCESS with i + 1. ${args.requests} measured calls per service and concurrency after ${args.warmup} unmeasured ones; a closed loop of c clients (Node's fetch). Workers at concurrency ${args.workerConcurrency}. Both services log at warn.`,
    '- Reference app: `apps/api/src/main.ts api` and `... worker` as two processes (tsx, as apps/api/README.md runs them), Redis broker + results + cache under the run\'s prefix, its own Postgres database; its defaults: late acks, prefetch 1, task events on (its event stream is fed by them), started state tracked, extended results.',
    '- Fastify + BullMQ: `bench/peers/api-bullmq-service.ts` (one `Queue`, one shared `QueueEvents`) and `bench/peers/api-bullmq-worker.ts` (BullMQ defaults: completed jobs kept with their return values).',
    '',
    renderApiTable(measurements),
    '',
    ...(errors.length > 0 ? ['## Errors', '', ...errors.map((e) => `- ${e}`), ''] : []),
  ].join('\n');
  process.stdout.write(`\n${md}`);
  const outDir = args.outDir ?? fileURLToPath(new URL('./results/', import.meta.url));
  const base = `${when.slice(0, 10)}-${hostname()}-api`;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(join(outDir, `${base}.md`), md);
  writeFileSync(join(outDir, `${base}.json`), `${JSON.stringify({ startedAt: when, args, measurements }, null, 2)}\n`);
  log(`wrote ${join(outDir, base)}.md and .json`);
  return errors.length > 0 ? 1 : 0;
}

async function stopAll(): Promise<void> {
  await Promise.allSettled(stacks.splice(0).map((s) => s.stop()));
}

process.once('SIGINT', () => {
  log('interrupted: stopping the services and deleting this run\'s keys and database');
  void stopAll().finally(() => process.exit(130));
});

let code = 1;
try {
  code = await main();
} catch (error) {
  process.stderr.write(`\napi bench FAILED: ${error instanceof Error ? error.message : String(error)}\n`);
} finally {
  await stopAll();
  redis.disconnect();
}
process.exit(code);
