/**
 * Two deployments on two databases of one Redis must not see each other. Keys are per
 * database, but pub/sub channels are global to the server: Celeriac's own channels (the
 * wake-up of a queue, the revoke notices) were not scoped by db, so an app on db 11 took the
 * revokes of an app on db 10. Now they are (redis/keys.ts), as kombu scopes its fanout
 * channels with the db.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { RedisBackend } from '../../src/backends/redis/redis-backend.js';
import { RedisBroker } from '../../src/brokers/redis/redis-broker.js';
import { createApp, Worker, type App } from '../../src/index.js';
import { BackendKeys, BrokerKeys } from '../../src/redis/keys.js';
import { waitFor } from 'celeriac/testing';
import { deleteKeys, randomKeyPrefix, REDIS_URL, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('db isolation');
const prefix = randomKeyPrefix();
const urlOf = (db: number) => {
  const u = new URL(REDIS_URL);
  u.pathname = `/${db}`;
  return u.toString();
};

describe('channel names are scoped by db', () => {
  it('wake and revoke channels differ between databases; db 0 keeps its released names', () => {
    expect(new BrokerKeys('p.', 10).wakeChannel('q')).not.toBe(new BrokerKeys('p.', 11).wakeChannel('q'));
    expect(new BrokerKeys('p.', 0).wakeChannel('q')).toBe('p.celeriac.wake.q');
    expect(new BackendKeys('p.', 10).revokeChannel).not.toBe(new BackendKeys('p.', 11).revokeChannel);
    expect(new BackendKeys('', 0).revokeChannel).toBe('celeriac:revoke-notices');
  });
});

describe.runIf(ready)('two apps on two databases of one Redis', () => {
  const open: { app: App; worker: Worker }[] = [];

  afterAll(async () => {
    for (const { app, worker } of open) {
      await worker.close({ deadlineMs: 1000 });
      await app.close();
    }
    await deleteKeys(prefix, urlOf(10));
    await deleteKeys(prefix, urlOf(11));
  });

  async function start(db: number): Promise<{ app: App; worker: Worker }> {
    const brokerUrl = `${urlOf(db)}?global_keyprefix=${encodeURIComponent(prefix)}`;
    const app = createApp(
      { broker: brokerUrl, backend: urlOf(db) },
      { env: {}, logger: pino({ level: 'silent' }), broker: new RedisBroker(brokerUrl), backend: new RedisBackend({ url: urlOf(db), keyPrefix: prefix }) },
    );
    app.task('iso.echo', (x: string) => `${db}:${x}`);
    const worker = new Worker(app, { queues: ['iso'], concurrency: 1, hostname: `iso-${db}@test` });
    await worker.start();
    const pair = { app, worker };
    open.push(pair);
    return pair;
  }

  it('never revoke each other, and each runs only its own tasks', async () => {
    const a = await start(10);
    const b = await start(11);
    const onA = randomUUID();
    await a.app.asyncResult(onA).revoke();
    await waitFor(() => a.worker.revokedIds().includes(onA), 'A to hear its own revoke', { timeoutMs: 5000 });
    // A later revoke on B's side: once B heard it, A's earlier one would have arrived too.
    const onB = randomUUID();
    await b.app.asyncResult(onB).revoke();
    await waitFor(() => b.worker.revokedIds().includes(onB), 'B to hear its own revoke', { timeoutMs: 5000 });
    expect(b.worker.revokedIds()).not.toContain(onA);
    expect(a.worker.revokedIds()).not.toContain(onB);

    const ra = await a.app.sendTask('iso.echo', ['x'], {}, { queue: 'iso' });
    const rb = await b.app.sendTask('iso.echo', ['y'], {}, { queue: 'iso' });
    expect(await ra.get({ timeoutMs: 5000 })).toBe('10:x');
    expect(await rb.get({ timeoutMs: 5000 })).toBe('11:y');
  }, 20_000);
});
