/**
 * A RabbitMQ cluster on this machine for the tests (issue 48 §3): `rabbitmq-server` processes
 * with node names, ports and data directories of their own (by default three nodes,
 * `celeriac-q1..3@localhost`, AMQP 5680-5682, distribution 25680-25682; a test that runs beside
 * another cluster test picks its own name and port base), everything under one temporary
 * folder, never touching the shared node on 5672. Node 1 starts first; the others join it by
 * classic-config peer discovery. Nodes are stopped with kill -9 (as a crash) and started again
 * on their data.
 * Where `rabbitmq-server` is not installed the cluster tests are skipped with the reason, and
 * fail under CI.
 */
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync, chmodSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { waitFor } from 'celeriac/testing';

const BIN = '/usr/lib/rabbitmq/bin';

/**
 * Longest pause between two {@link RabbitCluster.seesRunning} checks. Each check boots an Erlang
 * VM (about a CPU-second): polled back to back, the wait for a cluster kept a core of the
 * 2-core test machine busy while the rest of the suite ran.
 */
export const CHECK_PAUSE_MS = 2000;

/** Options of a {@link RabbitCluster}. */
export interface RabbitClusterOptions {
  /** How many nodes. @default 3 */
  nodes?: number;
  /** AMQP port of node 1 (node i: base + i - 1); distribution ports are 20000 above. @default 5680 */
  portBase?: number;
  /** Erlang node names: `<name><i>@localhost`. @default 'celeriac-q' */
  name?: string;
  /** More lines of every node's rabbitmq.conf (a TLS listener, auth mechanisms...). */
  extraConfig?: readonly string[];
  /** Plugins to enable (`rabbitmq_auth_mechanism_ssl`...). @default none */
  plugins?: readonly string[];
}

/** True when rabbitmq-server can be run here; throws under CI when it cannot. */
export function clusterAvailable(): boolean {
  if (existsSync(join(BIN, 'rabbitmq-server')) && existsSync(join(BIN, 'rabbitmqctl'))) return true;
  const why = `RabbitMQ cluster tests: ${BIN}/rabbitmq-server is not installed (apt-get install rabbitmq-server)`;
  if (process.env['CI'] === 'true') throw new Error(`${why}; required under CI`);
  console.warn(`[skip] ${why}`);
  return false;
}

function portOpen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port }, () => {
      s.end();
      resolve(true);
    });
    s.on('error', () => resolve(false));
    s.setTimeout(500, () => {
      s.destroy();
      resolve(false);
    });
  });
}

/** A running cluster (three nodes unless told). */
export class RabbitCluster {
  readonly #dir = mkdtempSync(join(tmpdir(), 'celeriac-rabbit-cluster-'));
  readonly #procs = new Map<number, ChildProcess>();
  #logs = new Map<number, string>();
  readonly #nodes: number;
  readonly #portBase: number;
  readonly #name: string;
  /** What the last {@link seesRunning} call saw, or why rabbitmqctl failed. */
  #lastCheck = 'none yet';

  /** Node `i` (1-n): its Erlang name. */
  nodeName(i: number): string {
    return `${this.#name}${i}@localhost`;
  }

  /** AMQP port of node `i`. */
  port(i: number): number {
    return this.#portBase + i - 1;
  }

  /** kombu's failover list over the nodes, in the order given. */
  url(order: readonly number[]): string {
    return order.map((i) => `amqp://guest:guest@127.0.0.1:${this.port(i)}//`).join(';');
  }

  constructor(options: RabbitClusterOptions = {}) {
    this.#nodes = options.nodes ?? 3;
    this.#portBase = options.portBase ?? 5680;
    this.#name = options.name ?? 'celeriac-q';
    const home = join(this.#dir, 'home');
    mkdirSync(home);
    writeFileSync(join(home, '.erlang.cookie'), `CELERIACQUORUMTEST${process.pid}`);
    chmodSync(join(home, '.erlang.cookie'), 0o400);
    writeFileSync(join(this.#dir, 'enabled_plugins'), `[${(options.plugins ?? []).join(',')}].\n`);
    writeFileSync(join(this.#dir, 'env.conf'), '');
    for (let i = 1; i <= this.#nodes; i++) {
      const peers = Array.from({ length: this.#nodes }, (_, k) => `cluster_formation.classic_config.nodes.${k + 1} = ${this.nodeName(k + 1)}`);
      writeFileSync(
        join(this.#dir, `n${i}.conf`),
        [`listeners.tcp.default = 127.0.0.1:${this.port(i)}`, 'loopback_users = none', 'cluster_formation.peer_discovery_backend = classic_config', ...peers, ...(options.extraConfig ?? []), ''].join('\n'),
      );
    }
  }

  #env(i: number): NodeJS.ProcessEnv {
    return {
      PATH: process.env['PATH'] ?? '/usr/bin:/bin',
      HOME: join(this.#dir, 'home'),
      RABBITMQ_CONF_ENV_FILE: join(this.#dir, 'env.conf'),
      RABBITMQ_NODENAME: this.nodeName(i),
      RABBITMQ_NODE_IP_ADDRESS: '127.0.0.1',
      RABBITMQ_NODE_PORT: String(this.port(i)),
      RABBITMQ_DIST_PORT: String(this.port(i) + 20_000),
      RABBITMQ_CONFIG_FILE: join(this.#dir, `n${i}.conf`),
      RABBITMQ_ENABLED_PLUGINS_FILE: join(this.#dir, 'enabled_plugins'),
      RABBITMQ_MNESIA_BASE: join(this.#dir, `mnesia${i}`),
      RABBITMQ_LOG_BASE: join(this.#dir, `log${i}`),
      RABBITMQ_PID_FILE: join(this.#dir, `n${i}.pid`),
      ERL_EPMD_ADDRESS: '127.0.0.1',
    };
  }

  /** Starts node `i` (on its data, if it ran before) and waits for its AMQP port. */
  async start(i: number): Promise<void> {
    if (await portOpen(this.port(i))) throw new Error(`port ${this.port(i)} is taken: another cluster test, or a node left running`);
    const child = spawn(join(BIN, 'rabbitmq-server'), [], { env: this.#env(i), detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    this.#logs.set(i, '');
    const log = (d: Buffer) => this.#logs.set(i, (this.#logs.get(i) ?? '') + d.toString());
    child.stdout?.on('data', log);
    child.stderr?.on('data', log);
    this.#procs.set(i, child);
    await waitFor(() => portOpen(this.port(i)), `rabbit cluster: node ${i} listening`, { timeoutMs: 90_000, maxIntervalMs: 250 }).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\n${this.#logs.get(i) ?? ''}`);
    });
  }

  /** Starts the nodes (1 first, then the others join it) and waits until all run in one cluster. */
  async startAll(): Promise<void> {
    await this.start(1);
    await Promise.all(Array.from({ length: this.#nodes - 1 }, (_, k) => this.start(k + 2)));
    await waitFor(() => this.seesRunning(1, this.#nodes), `rabbit cluster: ${this.#nodes} running nodes`, { timeoutMs: 90_000, maxIntervalMs: CHECK_PAUSE_MS }).catch((err: unknown) => {
      const logs = [...this.#logs].map(([i, text]) => `node ${i} output (last 2,000 characters):\n${text.slice(-2000)}`).join('\n');
      throw new Error(`${(err as Error).message}; the last rabbitmqctl check: ${this.#lastCheck}\n${logs}`);
    });
  }

  /**
   * Whether node `i` sees `n` nodes running (rabbitmqctl: an Erlang VM, a few seconds). Told by
   * the exit code, not by what the eval prints: in full test runs on 2026-11-26 the eval exited 0
   * with nothing on stdout for 90 s on end (never alone, together or under load).
   */
  async seesRunning(i: number, n: number): Promise<boolean> {
    const run = promisify(execFile);
    const expr = `N = length(rabbit_mnesia:cluster_nodes(running)), N =:= ${n} orelse erlang:error({running_nodes, N}).`;
    try {
      const { stdout } = await run(join(BIN, 'rabbitmqctl'), ['-q', '-n', this.nodeName(i), 'eval', expr], { env: this.#env(i), timeout: 30_000 });
      this.#lastCheck = `node ${i} sees ${n} running (stdout ${JSON.stringify(stdout.trim())})`;
      return true;
    } catch (err) {
      const e = err as Error & { stderr?: string; killed?: boolean };
      this.#lastCheck = `node ${i}: ${e.killed === true ? 'rabbitmqctl timed out (30 s)' : e.message}${e.stderr ? `; stderr: ${e.stderr.trim().slice(-500)}` : ''}`;
      return false;
    }
  }

  /** kill -9 of node `i` (its whole process group: the script and the Erlang VM). */
  async kill(i: number): Promise<void> {
    const child = this.#procs.get(i);
    if (child?.pid === undefined) return;
    this.#procs.delete(i);
    const exited = new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
    await waitFor(async () => !(await portOpen(this.port(i))), `rabbit cluster: node ${i} gone`, { timeoutMs: 10_000, maxIntervalMs: 250 });
  }

  /** Kills every node and removes the data. */
  async destroy(): Promise<void> {
    for (const i of [...this.#procs.keys()]) await this.kill(i);
    rmSync(this.#dir, { recursive: true, force: true });
  }
}
