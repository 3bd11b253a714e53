/**
 * Beat on a RabbitMQ-only deployment (issue 27 §7): two beat processes started through the CLI
 * on an `amqp://` broker with `rpc://` results, no Redis anywhere. Their store is the broker's
 * (one document in a queue, brokers/amqp/beat-store.ts). One entry every second, a 2 s lease.
 * The leader is paused (SIGSTOP) past its lease and resumed, then the new leader is SIGKILLed:
 * the other takes over each time, and no slot is ever sent twice (read back from the queue,
 * each message naming its entry and slot). Heartbeat 3 s, so a leader stopped while it holds
 * the store document loses its connection (and gives the document back) within seconds.
 * Its own vhost, deleted afterwards.
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { amqpAvailable, createVhost, deleteVhost, vhostUrl } from '../support/amqp-env.js';
import { envelopeOf } from '../../src/amqp/wire.js';
import { AmqpBroker } from '../../src/brokers/amqp/amqp-broker.js';
import { waitFor } from 'celeriac/testing';
import { decodeRuns, duplicates, killBeats, spawnBeat, type BeatProcess } from './support.js';

const available = await amqpAvailable();
const QUEUE = 'beat-test';

describe.runIf(available)('beat failover on RabbitMQ (spawned beat processes, no Redis)', () => {
  let vhost = '';
  let url = '';
  let control: AmqpBroker;

  beforeAll(async () => {
    vhost = await createVhost('beatfo');
    url = vhostUrl(vhost, '?heartbeat=3');
    control = new AmqpBroker(vhostUrl(vhost), { log: () => undefined });
  }, 60_000);
  afterEach(async () => {
    await killBeats();
  }, 20_000);
  afterAll(async () => {
    await killBeats();
    await control?.close();
    if (vhost !== '') await deleteVhost(vhost);
  }, 60_000);

  const sent = () => control.queueLength(QUEUE);
  const moreRuns = async (n: number) => {
    const goal = (await sent()) + n;
    await waitFor(async () => (await sent()) >= goal, `${n} more runs`, 30_000);
  };

  /** Every message in the queue, taken off it. */
  async function drain(): Promise<string[]> {
    const model = await control.session.connection();
    const ch = await model.createChannel();
    const raws: string[] = [];
    for (;;) {
      const msg = await ch.get(QUEUE, { noAck: true });
      if (msg === false) break;
      raws.push(envelopeOf(msg, String(raws.length), false));
    }
    await ch.close();
    return raws;
  }

  it('two beats: a paused leader and a killed leader are taken over, and no slot is sent twice', async () => {
    const a = spawnBeat(url, QUEUE, [], 'rpc://');
    const b = spawnBeat(url, QUEUE, [], 'rpc://');
    await waitFor(() => a.leads() || b.leads(), 'a leader', 40_000);
    let leader: BeatProcess = a.leads() ? a : b;
    let other: BeatProcess = leader === a ? b : a;
    await moreRuns(3);

    let mark = other.output().length;
    await leader.signal('SIGSTOP');
    await waitFor(() => other.leads(mark), 'takeover after a pause', 40_000);
    await moreRuns(3);
    // The old leader wakes up: it must find it lost the lease and send nothing.
    await leader.signal('SIGCONT');
    await moreRuns(2);

    [leader, other] = [other, leader];
    mark = other.output().length;
    await leader.signal('SIGKILL');
    await waitFor(() => other.leads(mark), 'takeover after kill -9', 40_000);
    await moreRuns(3);
    await other.signal('SIGTERM');

    const runs = decodeRuns(await drain());
    expect(duplicates(runs)).toEqual([]);
    expect(runs.length).toBeGreaterThanOrEqual(11);
    expect(runs.every((r) => r.entry === 'tick' && r.task === 'beat.tick')).toBe(true);
    // The store's run count is what was sent.
    const state = (await control.beatStore().states()).get('tick');
    expect(state?.totalRunCount).toBe(runs.length);
    expect(state?.lastRunAt).toBe(runs.at(-1)?.slot);
  }, 180_000);
});
