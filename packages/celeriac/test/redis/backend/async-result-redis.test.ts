/**
 * AsyncResult against the real Redis backend (shared server, fresh task ids, only its own keys
 * deleted): a huge result (8 MB) read by get(), result() and collect(); forget() deletes the
 * stored record so the task reads PENDING again and get() waits; forget() of an unknown id is
 * no error.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp, ResultTimeoutError } from '../../../src/index.js';
import { deleteResults, REDIS_URL, shouldRunRedisTests } from '../../support/redis.js';

const ready = await shouldRunRedisTests('AsyncResult on the Redis backend');

describe.runIf(ready)('AsyncResult on the Redis backend', () => {
  const app = createApp({ backend: REDIS_URL }, { env: {}, logger: pino({ level: 'silent' }) });
  const ids: string[] = [];
  const newId = () => {
    const id = `async-result-redis-${randomUUID()}`;
    ids.push(id);
    return id;
  };
  afterAll(async () => {
    await deleteResults(ids);
    await app.close();
  });

  it('reads a huge result whole, and forget() deletes it', async () => {
    const id = newId();
    const huge = { text: 'x'.repeat(8 * 1024 * 1024), rows: Array.from({ length: 10_000 }, (_, i) => [i, `row ${i}`]) };
    await app.storeState(id, 'SUCCESS', huge);
    const r = app.asyncResult<typeof huge>(id);
    const got = await r.wait({ timeoutMs: 20_000 });
    expect(got.text.length).toBe(huge.text.length);
    expect(got).toEqual(huge);
    expect(await r.status()).toBe('SUCCESS');
    const walked: unknown[] = [];
    for await (const [, value] of r.collect({ timeoutMs: 20_000 })) walked.push(value);
    expect(walked).toHaveLength(1);
    await r.forget();
    expect(await app.backend.get(id)).toBeNull();
    expect(await r.status()).toBe('PENDING');
    await expect(r.get({ timeoutMs: 100 })).rejects.toBeInstanceOf(ResultTimeoutError);
  }, 60_000);

  it('forget() of an id never stored is no error', async () => {
    await expect(app.asyncResult(newId()).forget()).resolves.toBeUndefined();
  });
});
