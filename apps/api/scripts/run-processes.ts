/**
 * Every role as its own process, against real Redis and Postgres: what docker-compose.yml
 * runs, without Docker. One API, `--workers` workers (named worker1@%h, worker2@%h, ...),
 * one beat and the dashboard (`flower`, on FLOWER_PORT), each `node --import tsx src/main.ts <role>`, their output prefixed with
 * their name. SIGTERM or SIGINT stops them all gracefully (the API first); the script exits
 * 0 when every one stopped cleanly.
 *
 *   CELERY_BROKER_URL=redis://:secret@localhost:6379/0 REDIS_URL=redis://:secret@localhost:6379/1 \
 *   DATABASE_URL=postgres://postgres@localhost:5432/todos \
 *   node --import tsx apps/api/scripts/run-processes.ts --workers 2
 *
 * Settings come from the environment and `.env`, as for `main.ts`.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Role } from '../src/settings.js';

const MAIN = fileURLToPath(new URL('../src/main.ts', import.meta.url));

/** One process to run. */
export interface ProcessSpec {
  readonly name: string;
  readonly role: Exclude<Role, 'all'>;
  /** Added to the shared environment. */
  readonly env: Readonly<Record<string, string>>;
}

/** The processes of a deployment: an API, `workers` workers, a beat and the dashboard. */
export function planProcesses(options: { workers: number }): ProcessSpec[] {
  const workers = Array.from({ length: options.workers }, (_, i) => ({ name: `worker${i + 1}`, role: 'worker' as const, env: { WORKER_NAME: `worker${i + 1}@%h` } }));
  // Consumers first: by the time the API accepts requests, someone runs the tasks.
  return [...workers, { name: 'beat', role: 'beat', env: {} }, { name: 'flower', role: 'flower', env: {} }, { name: 'api', role: 'api', env: {} }];
}

/** A running process of the group. */
export interface RunningProcess {
  readonly spec: ProcessSpec;
  readonly child: ChildProcess;
  /** Exit code (null after a signal), once it exited. */
  readonly exited: Promise<number | null>;
}

/** The started processes, and how to stop them. */
export class ProcessGroup {
  readonly processes = new Map<string, RunningProcess>();

  /**
   * Starts every spec with `env` plus its own variables; `onLine` gets each output line
   * (default: printed with the process name in front). `mainArgs` are the node arguments that
   * run the entry point, the role appended (default: src/main.ts through tsx; tests pass the
   * app compiled to JavaScript).
   */
  constructor(
    specs: readonly ProcessSpec[],
    env: NodeJS.ProcessEnv,
    onLine: (name: string, line: string) => void = printLine,
    mainArgs: readonly string[] = ['--import', 'tsx', MAIN],
  ) {
    for (const spec of specs) {
      const child = spawn(process.execPath, [...mainArgs, spec.role], { env: { ...env, ...spec.env }, stdio: ['ignore', 'pipe', 'pipe'] });
      for (const stream of [child.stdout, child.stderr]) {
        let rest = '';
        stream.on('data', (d: Buffer) => {
          const lines = (rest + d.toString()).split('\n');
          rest = lines.pop() ?? '';
          for (const line of lines) onLine(spec.name, line);
        });
      }
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
      this.processes.set(spec.name, { spec, child, exited });
    }
  }

  /** SIGTERMs every process still running, the API first, and waits for all; returns exit codes by name. */
  async stop(): Promise<Record<string, number | null>> {
    const order = [...this.processes.values()].reverse();
    for (const p of order) {
      if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill('SIGTERM');
      if (p.spec.role === 'api') await p.exited;
    }
    const codes: Record<string, number | null> = {};
    for (const p of order) codes[p.spec.name] = await p.exited;
    return codes;
  }
}

function printLine(name: string, line: string): void {
  process.stdout.write(`${`[${name}]`.padEnd(10)} ${line}\n`);
}

function parseWorkers(argv: readonly string[]): number {
  const i = argv.indexOf('--workers');
  if (i < 0) return 2;
  const n = Number(argv[i + 1]);
  if (!Number.isInteger(n) || n < 1 || n > 64) {
    process.stderr.write(`--workers takes a whole number from 1 to 64, got ${JSON.stringify(argv[i + 1])}\n`);
    process.exit(2);
  }
  return n;
}

async function main(): Promise<void> {
  const group = new ProcessGroup(planProcesses({ workers: parseWorkers(process.argv.slice(2)) }), process.env);
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    void group.stop().then((codes) => process.exit(Object.values(codes).every((c) => c === 0) ? 0 : 1));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  // A process that dies on its own is reported; the others keep running (as compose would, minus the restart).
  for (const p of group.processes.values()) {
    void p.exited.then((code) => {
      if (!stopping) process.stderr.write(`[${p.spec.name}] exited with ${code ?? p.child.signalCode}\n`);
    });
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) await main();
