/**
 * `global_keyprefix` in `resultBackendTransportOptions`, as Celery 5.3+ reads it from
 * `result_backend_transport_options`: every result key (and the task's channel) starts with it,
 * `_` added unless it ends in one of `:_-.`. Checked against the 5.6 oracle both ways on real
 * Redis: a result Celeriac stores is what Celery 5.6 reads under the same option, and the
 * other way round. Celery 5.2.6 has no such option (it reads unprefixed keys). A prefix of its own.
 */
import { randomUUID } from 'node:crypto';
import { pino } from 'pino';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { createApp } from '../../../src/index.js';
import { deleteKeys, REDIS_URL, shouldRunRedisTests } from '../../support/redis.js';
import { CELERY_5_6, selectedOracles } from '../../support/oracles.js';
import { runPython } from '../../interop/python.js';
import { shouldRunPythonTests } from '../../support/python.js';

const ready = await shouldRunRedisTests('result keys under global_keyprefix');
const oracle56 = ready && shouldRunPythonTests('result keys under global_keyprefix: Celery 5.6') && selectedOracles('result keys under global_keyprefix').includes(CELERY_5_6);

describe.runIf(ready)('result keys under resultBackendTransportOptions.global_keyprefix', () => {
  const tenant = `rkp${randomUUID().slice(0, 8)}`;
  const app = createApp({ backend: REDIS_URL, resultBackendTransportOptions: { global_keyprefix: tenant } }, { env: {}, logger: pino({ level: 'silent' }) });
  afterAll(async () => {
    await app.close();
    await deleteKeys(`${tenant}_`, REDIS_URL);
  });

  it('stores under <prefix>_celery-task-meta-<id>, as Celery names it', async () => {
    const id = randomUUID();
    await app.storeState(id, 'SUCCESS', 42);
    const client = createClient({ url: REDIS_URL });
    await client.connect();
    try {
      expect(await client.exists(`${tenant}_celery-task-meta-${id}`)).toBe(1);
      expect(await client.exists(`celery-task-meta-${id}`)).toBe(0);
    } finally {
      await client.quit();
    }
    expect(await app.asyncResult<number>(id).wait({ timeoutMs: 5000 })).toBe(42);
  });

  it.runIf(oracle56)('Celery 5.6 with the same option reads what Celeriac stored, and Celeriac what it stored', async () => {
    const ours = randomUUID();
    const theirs = randomUUID();
    await app.storeState(ours, 'SUCCESS', { n: 1 });
    const out = await runPython({ broker: 'memory://', backend: REDIS_URL, oracle: CELERY_5_6 }, `
import os, sys, json
from celery import Celery
app = Celery(broker='memory://', backend=os.environ['CELERY_BACKEND'])
app.conf.result_backend_transport_options = {'global_keyprefix': sys.argv[1]}
print(json.dumps(app.AsyncResult(sys.argv[2]).get(timeout=10)))
app.backend.store_result(sys.argv[3], [7, 8], 'SUCCESS')
`, [tenant, ours, theirs]);
    expect(JSON.parse(out.trim())).toEqual({ n: 1 });
    expect(await app.asyncResult<number[]>(theirs).wait({ timeoutMs: 5000 })).toEqual([7, 8]);
  }, 60_000);
});
