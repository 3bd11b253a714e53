/**
 * The dashboard's queue depths (`/api/queues/length`, `flower_queue_length`) through Redis
 * Sentinel, on private servers: kombu's `sentinel://` URL with the master name in the
 * `master_name` transport option, as the app's broker is configured; after the master is
 * killed -9 and a replica promoted, the same reader reads the new master.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp } from 'celeriac';
import { shouldRunRedisTests, type RedisServerProcess, type SentinelProcess } from '../../celeriac/test/support/redis.js';
import { SentinelCluster } from '../../celeriac/test/support/sentinel-cluster.js';
import { queueReaderFor, type QueueReader } from '../src/ingest/queues.js';

const MASTER = 'dash-sentinel';
const ready = await shouldRunRedisTests('dashboard: queue depths through Sentinel');

describe.runIf(ready)('dashboard queue depths through Sentinel', () => {
  let cluster: SentinelCluster | undefined;
  let master: RedisServerProcess;
  let replica: RedisServerProcess;
  let sentinel: SentinelProcess;
  let reader: QueueReader;

  const push = async (port: number, n: number) => {
    const c = createClient({ url: `redis://127.0.0.1:${port}/0` });
    await c.connect();
    await c.lPush('dq', Array.from({ length: n }, (_, i) => String(i)));
    c.destroy();
  };

  beforeAll(async () => {
    cluster = await SentinelCluster.start(MASTER, { replicas: 1, sentinels: 1, durable: false });
    ({ master, replica, sentinel } = cluster);
    const settings = { broker: `sentinel://127.0.0.1:${sentinel.port}/0`, brokerTransportOptions: { master_name: MASTER } };
    const app = createApp(settings, { env: {} });
    reader = queueReaderFor(settings.broker, app.broker, app.settings.brokerTransportOptions);
  }, 40_000);

  afterAll(async () => {
    await reader?.close();
    await cluster?.dispose();
  }, 20_000);

  it('reads the master the sentinel names, and the promoted replica after a kill -9', async () => {
    await push(master.port, 3);
    // Read as the dashboard polls: a first connect (the sentinel, then the master) past the
    // reader's 1 s on a loaded host fails that poll, and the next one connects afresh.
    let first: unknown;
    await waitFor(async () => {
      first = await reader.lengths(['dq']).then((d) => d[0]?.messages, (e: unknown) => String(e));
      return first === 3;
    }, () => `the first read; last: ${String(first)}`, 15_000);
    // Replication is asynchronous: kill only once the replica has the 3.
    const onReplica = createClient({ url: `redis://127.0.0.1:${replica.port}/0` });
    await onReplica.connect();
    await waitFor(async () => (await onReplica.lLen('dq')) === 3, 'the replica to have the queue', 10_000);
    onReplica.destroy();
    await master.kill();
    await waitFor(async () => (await sentinel.masterPortNow()) === replica.port, 'the replica promoted', 30_000);
    await push(replica.port, 2);
    let last: unknown;
    await waitFor(async () => {
      last = await reader.lengths(['dq']).then((d) => d[0]?.messages, (e: unknown) => String(e));
      return last === 5;
    }, 'the reader on the new master', 20_000).catch((e: unknown) => { throw new Error(`${String(e)}; last: ${String(last)}`); });
  }, 60_000);
});
