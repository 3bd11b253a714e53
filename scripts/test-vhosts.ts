/**
 * The RabbitMQ test files' vhosts, made and deleted in batches: the global setup of vitest's
 * `integration` project (vitest.config.ts), where every RabbitMQ test file runs but the one of
 * the `chaos` project, which makes its own.
 *
 * A test file needs a vhost of its own, and every `rabbitmqctl` call starts an Erlang VM (about
 * a CPU-second, 2-4 s of wall time, on the 2-core test machine). Made by each file, the 18
 * RabbitMQ files cost 36 of them (one eval to add, one to delete). Here the vitest process
 * keeps a pool: the first file that asks makes {@link BATCH} vhosts in one
 * `rabbitmqctl eval`, the next files take one each until they run out. No vhost goes to two
 * files. At the end of the run one more eval deletes every vhost made (a file's vhost outlives
 * the file until then). Nothing runs rabbitmqctl in a run where no file asks.
 *
 * Quorum files (`claim quorum`) are the exception: their vhosts are reused. Each quorum app
 * declares kombu's delay ladder, 28 quorum queues; made and deleted with a vhost per file, that
 * churn wedged the shared RabbitMQ after hours of runs. So a quorum file gives its vhost back
 * (`release <vhost>`) when it is done; the pool resets it (test/support/quorum-reset.ts: every
 * queue and exchange but the ladder's deleted, the ladder purged) and hands it to the next
 * quorum file, never to two at once. A quorum claim takes a clean one, else waits for one being
 * reset, else takes a fresh vhost; so the run keeps about as many as quorum files run at once.
 *
 * The files reach the pool through a Unix socket whose path the setup provides (`inject`): a
 * connection sends `claim\n`, `claim quorum\n` or `release <vhost>\n`; the pool answers
 * `ok [<vhost>]\n` or `error <why>\n` and ends it. test/support/amqp-env.ts is the client.
 * A vhost that cannot be made in 30 s fails the claim with a message naming the wedged node.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestProject } from 'vitest/node';
import { resetQuorumVhost } from '../packages/celeriac/test/support/quorum-reset.ts';
import { addVhosts, deleteVhosts, newVhostName } from '../packages/celeriac/test/support/rabbitmqctl.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** Socket path of the vhost pool; absent in a project without this global setup. */
    celeriacVhostPool?: string;
  }
}

/** Vhosts made per `rabbitmqctl eval`: a full run's 18 RabbitMQ files take three. */
export const BATCH = 6;

/**
 * The pool: hands out fresh vhosts, made {@link BATCH} at a time, and quorum vhosts reset for
 * reuse; deletes them all at the end.
 */
export class VhostPool {
  private readonly ready: string[] = [];
  private readonly made: string[] = [];
  private filling: Promise<void> | undefined;
  /** Quorum vhosts claimed now. */
  private readonly quorumOut = new Set<string>();
  /** Quorum vhosts reset and free. */
  private readonly quorumFree: string[] = [];
  /** Resets under way, each settling when its vhost is free (or given up). */
  private readonly resetting = new Set<Promise<void>>();

  constructor(
    private readonly add: (names: readonly string[]) => Promise<void> = addVhosts,
    private readonly remove: (names: readonly string[]) => Promise<void> = deleteVhosts,
    /** Cleans a used quorum vhost for the next file: true when kept, false when not worth it; throws when it cannot. */
    private readonly reset: (vhost: string) => Promise<boolean> = resetQuorumVhost,
    /** Where a vhost given up after a failed reset is reported (the run's stderr). */
    private readonly warn: (line: string) => void = (line) => void process.stderr.write(`${line}\n`),
  ) {}

  /** A vhost for a quorum file: one another quorum file had and gave back, reset; else a fresh one. */
  async claimQuorum(): Promise<string> {
    for (;;) {
      const reused = this.quorumFree.shift();
      if (reused !== undefined) return this.lend(reused);
      if (this.resetting.size === 0) return this.lend(await this.claim());
      // A vhost comes free in a few seconds: cheaper for RabbitMQ than a fresh ladder.
      await Promise.race(this.resetting);
    }
  }

  private lend(vhost: string): string {
    this.quorumOut.add(vhost);
    return vhost;
  }

  /**
   * Takes back a quorum vhost: it is reset and then free for the next quorum claim; one that
   * cannot be reset is never handed out again (the end deletes it with the others).
   */
  release(vhost: string): void {
    if (!this.quorumOut.delete(vhost)) throw new Error(`${vhost} is not a quorum vhost lent by this pool`);
    const done: Promise<void> = this.reset(vhost)
      .then(
        (kept) => void (kept && this.quorumFree.push(vhost)),
        (error: unknown) => this.warn(`test vhost ${vhost} is not reused: ${String(error)}`),
      )
      .finally(() => this.resetting.delete(done));
    this.resetting.add(done);
  }

  /** A vhost no one else has had. */
  async claim(): Promise<string> {
    for (;;) {
      const vhost = this.ready.shift();
      if (vhost !== undefined) return vhost;
      this.filling ??= this.fill().finally(() => (this.filling = undefined));
      await this.filling;
    }
  }

  private async fill(): Promise<void> {
    const names = Array.from({ length: BATCH }, () => newVhostName('pool'));
    // Recorded first: a batch that failed halfway is deleted at the end all the same.
    this.made.push(...names);
    await this.add(names);
    this.ready.push(...names);
  }

  /** Deletes every vhost made, in one call. */
  async close(): Promise<void> {
    await this.filling?.catch(() => undefined);
    await Promise.all(this.resetting);
    this.quorumFree.length = 0;
    const names = this.made.splice(0);
    this.ready.length = 0;
    if (names.length > 0) await this.remove(names);
  }
}

/** Answers one request line. */
async function answer(pool: VhostPool, line: string): Promise<string> {
  try {
    if (line === 'claim') return `ok ${await pool.claim()}`;
    if (line === 'claim quorum') return `ok ${await pool.claimQuorum()}`;
    if (line.startsWith('release ')) {
      pool.release(line.slice('release '.length));
      return 'ok';
    }
    return `error unknown request ${JSON.stringify(line)}`;
  } catch (error) {
    return `error ${String(error instanceof Error ? error.message : error).replace(/\s+/g, ' ')}`;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-vhosts-'));
  const path = join(dir, 'pool.sock');
  const pool = new VhostPool();
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    let buffered = '';
    socket.setEncoding('utf8').on('data', (chunk: string) => {
      buffered += chunk;
      let end: number;
      while ((end = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, end);
        buffered = buffered.slice(end + 1);
        void answer(pool, line).then((reply) => socket.end(`${reply}\n`));
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, resolve);
  });
  project.provide('celeriacVhostPool', path);
  return async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    rmSync(dir, { recursive: true, force: true });
    // As a file's own deleteVhost did, a failed delete does not fail the run; it is said.
    await pool.close().catch((error: unknown) => process.stderr.write(`test vhosts were not deleted: ${String(error)}\n`));
  };
}
