/**
 * Helpers of the beat integration tests: beat processes started through the CLI
 * (`celeriac -A fixtures/beat-app.ts beat`, compiled against dist/ when it is current), and
 * reading what they sent from the queue list.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BEAT_HEADER } from '../../src/beat/beat.js';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import { compiledModule } from '../support/node-script.js';

const HERE = fileURLToPath(new URL('./', import.meta.url));
const children = new Set<ChildProcess>();

/** One beat process. */
export interface BeatProcess {
  readonly child: ChildProcess;
  output(): string;
  /** Sends a signal and, for KILL/TERM, waits for the exit. */
  signal(sig: NodeJS.Signals): Promise<void>;
  /** True once this process logged that it leads (since `from` characters of output). */
  leads(from?: number): boolean;
}

/** Starts `celeriac -A fixtures/beat-app.ts beat` on `broker`, sending to `queue` (results on `backend`, default the broker). */
export function spawnBeat(broker: string, queue: string, extra: readonly string[] = [], backend?: string): BeatProcess {
  const env: NodeJS.ProcessEnv = { ...process.env, BEAT_TEST_BROKER: broker, BEAT_TEST_QUEUE: queue };
  for (const key of Object.keys(env)) if (key.startsWith('CELERY_') || key.startsWith('CELERIAC_')) delete env[key];
  if (backend !== undefined) env['BEAT_TEST_BACKEND'] = backend;
  // Compiled against dist/ when it is current (test/support/node-script.ts), else from source with tsx.
  const cli = compiledModule(join(HERE, 'fixtures/cli.ts'));
  const command = cli === undefined
    ? ['--import', 'tsx', 'fixtures/cli.ts', '-A', 'fixtures/beat-app.ts']
    : [cli, '-A', compiledModule(join(HERE, 'fixtures/beat-app.ts'))!];
  const child = spawn(process.execPath, [...command, 'beat', '-l', 'info', ...extra], {
    cwd: HERE,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  let out = '';
  child.stdout?.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr?.setEncoding('utf8').on('data', (s: string) => (out += s));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    output: () => out,
    async signal(sig) {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill(sig);
      if (sig === 'SIGKILL' || sig === 'SIGTERM') await exited;
    },
    leads: (from = 0) => out.slice(from).includes('leads now'),
  };
}

/** SIGKILLs every beat process still running. */
export async function killBeats(): Promise<void> {
  await Promise.all(
    [...children].map(async (c) => {
      if (c.signalCode === 'SIGSTOP' as NodeJS.Signals) c.kill('SIGCONT');
      const done = new Promise<void>((resolve) => c.once('exit', () => resolve()));
      c.kill('SIGKILL');
      await done;
    }),
  );
}

/** A message beat sent: its entry, the slot (epoch ms) and the task id. */
export interface SentRun {
  entry: string;
  slot: number;
  taskId: string;
  task: string;
}

/** Decodes the raw envelopes of a queue list (LRANGE order is newest first). */
export function decodeRuns(raws: readonly string[]): SentRun[] {
  return raws
    .map((raw) => {
      const m = decodeEnvelope(raw).message;
      const beat = m.headers[BEAT_HEADER] as { entry: string; slot: string };
      return { entry: beat.entry, slot: Date.parse(beat.slot), taskId: String(m.headers['id']), task: String(m.headers['task']) };
    })
    .sort((a, b) => a.slot - b.slot);
}

/** Slots sent more than once. */
export function duplicates(runs: readonly SentRun[]): number[] {
  const seen = new Map<number, number>();
  for (const r of runs) seen.set(r.slot, (seen.get(r.slot) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([slot]) => slot);
}
