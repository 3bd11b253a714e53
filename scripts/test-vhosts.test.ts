import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { rabbitmqctlWithin } from '../packages/celeriac/test/support/rabbitmqctl.ts';
import { BATCH, VhostPool } from './test-vhosts.ts';

/**
 * A pool whose rabbitmqctl calls are recorded; `failAdds` makes the next adds reject. Resets
 * wait for `finishReset(vhost, outcome)`: true keeps the vhost, false does not, an Error fails.
 */
function recorded(failAdds = 0) {
  const adds: string[][] = [];
  const removes: string[][] = [];
  const resets = new Map<string, (outcome: boolean | Error) => void>();
  const warnings: string[] = [];
  let failures = failAdds;
  const pool = new VhostPool(
    (names) => {
      adds.push([...names]);
      return failures-- > 0 ? Promise.reject(new Error('rabbitmqctl: nodedown')) : Promise.resolve();
    },
    (names) => {
      removes.push([...names]);
      return Promise.resolve();
    },
    (vhost) => new Promise<boolean>((resolve, reject) => resets.set(vhost, (o) => (o instanceof Error ? reject(o) : resolve(o)))),
    (line) => warnings.push(line),
  );
  const finishReset = async (vhost: string, outcome: boolean | Error) => {
    resets.get(vhost)?.(outcome);
    resets.delete(vhost);
    // The pool's bookkeeping runs in the reset's callbacks.
    await new Promise((r) => setImmediate(r));
  };
  return { pool, adds, removes, resets, finishReset, warnings };
}

describe('VhostPool', () => {
  it('makes vhosts a batch per call, never hands one out twice, and deletes every one made in one call', async () => {
    const { pool, adds, removes } = recorded();
    // Claims at once share the batch being made.
    const claimed = await Promise.all(Array.from({ length: BATCH + 1 }, () => pool.claim()));
    expect(new Set(claimed).size).toBe(BATCH + 1);
    expect(adds.map((a) => a.length)).toEqual([BATCH, BATCH]);
    for (const v of claimed) expect(v).toMatch(/^celeriac-pool-[0-9a-f]{8}$/);
    await pool.close();
    expect(removes).toEqual([adds.flat()]);
  });

  it('makes nothing and deletes nothing when no file asks', async () => {
    const { pool, adds, removes } = recorded();
    await pool.close();
    expect(adds).toEqual([]);
    expect(removes).toEqual([]);
  });

  it('a failed batch fails the claims waiting on it; the next claim tries again, and the end deletes both batches', async () => {
    const { pool, adds, removes } = recorded(1);
    await expect(Promise.all([pool.claim(), pool.claim()])).rejects.toThrow('nodedown');
    const vhost = await pool.claim();
    expect(adds).toHaveLength(2);
    expect(adds[1]).toContain(vhost);
    await pool.close();
    expect(removes).toEqual([adds.flat()]);
  });

  it('lends a quorum vhost to one file at a time, and the next quorum file gets it back reset instead of a fresh one', async () => {
    const { pool, adds, removes, resets, finishReset } = recorded();
    const first = await pool.claimQuorum();
    const second = await pool.claimQuorum();
    expect(second).not.toBe(first);
    pool.release(first);
    expect([...resets.keys()]).toEqual([first]);
    // While the reset runs the vhost is no one's; a claim waits for it rather than take a fresh one.
    let third: string | undefined;
    const claiming = pool.claimQuorum().then((v) => (third = v));
    await new Promise((r) => setImmediate(r));
    expect(third).toBeUndefined();
    await finishReset(first, true);
    await claiming;
    expect(third).toBe(first);
    expect(() => pool.release(first.replace(/.$/, 'x'))).toThrow(/not a quorum vhost lent by this pool/);
    // Plain claims never get a quorum vhost.
    expect([first, second]).not.toContain(await pool.claim());
    pool.release(first);
    pool.release(second);
    const closing = pool.close();
    await finishReset(first, true);
    await finishReset(second, true);
    await closing;
    expect(adds).toHaveLength(1);
    expect(removes).toEqual([adds.flat()]);
  });

  it('a quorum vhost whose reset fails or that holds no ladder is not lent again', async () => {
    const { pool, finishReset, warnings } = recorded();
    const [a, b] = [await pool.claimQuorum(), await pool.claimQuorum()];
    pool.release(a);
    pool.release(b);
    await finishReset(a, new Error('the delay ladder still held messages'));
    await finishReset(b, false);
    const next = await pool.claimQuorum();
    expect([a, b]).not.toContain(next);
    // The failed reset is said once, naming the vhost; one with no ladder is dropped quietly.
    expect(warnings).toEqual([`test vhost ${a} is not reused: Error: the delay ladder still held messages`]);
    await pool.close();
  });
});

describe('rabbitmqctlWithin', () => {
  it('a call that does not answer in time names the wedged node and how to look at it, and leaves no process behind', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-ctl-'));
    try {
      // As the real wrapper does through su: the Erlang VM in a session of its own.
      const hung = join(dir, 'rabbitmqctl');
      writeFileSync(hung, `#!/bin/sh\nsetsid sleep 30 &\necho $! > ${dir}/vm.pid\nwait\n`);
      chmodSync(hung, 0o755);
      await expect(rabbitmqctlWithin({ timeoutMs: 500, what: 'add_vhost', command: hung }, 'eval', 'ok.')).rejects.toThrow(
        /^rabbitmqctl add_vhost did not answer in 0\.5 s: the RabbitMQ node may be wedged .*rabbit_vhost_sup_sup:check\(\)/,
      );
      const vm = Number(readFileSync(join(dir, 'vm.pid'), 'utf8'));
      await waitFor(() => !existsSync(`/proc/${vm}`) || readFileSync(`/proc/${vm}/stat`, 'utf8').includes(') Z '), 'the VM killed', 5000);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
