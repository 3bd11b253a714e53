/**
 * The only sentinel of a master stopped for a few seconds, the master up all along
 * (test/support/sentinel-cluster.ts, private servers). node-redis's Sentinel client holds every
 * command until a sentinel answers again (docs/production.md), and emits no 'ready' after; what
 * the connection log says (redis/client.ts `watchOutages`), for a command client and a
 * subscriber-only one: the loss once per state, not twice a second as before 20c9689, and a line
 * saying it is back, once, after the sentinel's return (for the command client, once a command
 * went through again). Meanwhile the subscriber's pub/sub, which runs on the master, goes on: a
 * publish sent in the outage arrives.
 */
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { closeRedisClient, createRedisClient } from '../../src/redis/client.js';
import { parseRedisUrl } from '../../src/redis/url.js';
import { shouldRunRedisTests } from '../support/redis.js';
import { SentinelCluster } from '../support/sentinel-cluster.js';

const MASTER = 'celeriac-outage';
// The shared Redis being up means redis-server is installed (sentinel mode is built in).
const ready = await shouldRunRedisTests('failure: a Sentinel outage');

/** A log that keeps its lines, each with when it came (ms since the epoch). */
function recordingLog() {
  const lines: { at: number; msg: string; fields: Record<string, unknown> }[] = [];
  return {
    lines,
    log: (_level: string, msg: string, fields?: Record<string, unknown>) => void lines.push({ at: Date.now(), msg, fields: fields ?? {} }),
    said: (text: string) => lines.filter((l) => l.msg.startsWith(text)),
  };
}

describe.runIf(ready)('a Sentinel outage, the master up', () => {
  let cluster: SentinelCluster;

  beforeAll(async () => {
    cluster = await SentinelCluster.start(MASTER, { replicas: 0, sentinels: 1, durable: false });
  }, 40_000);

  afterAll(async () => {
    await cluster?.dispose();
  }, 20_000);

  it('logs each connection lost once per state and back once after, the command client once a command went through; the subscriber keeps receiving', async () => {
    const target = parseRedisUrl(`redis+sentinel://127.0.0.1:${cluster.sentinel.port}/${MASTER}/0`);
    const commands = recordingLog();
    const subscriber = recordingLog();
    const client = createRedisClient(target, { name: 'outage-commands', log: commands.log });
    const sub = createRedisClient(target, { name: 'outage-sub', subscriberOnly: true, log: subscriber.log });
    const direct = createClient({ url: `redis://127.0.0.1:${cluster.master.port}` });
    const received: string[] = [];
    try {
      await client.connect();
      await sub.connect();
      await direct.connect();
      await sub.subscribe('outage-channel', (m) => void received.push(m));
      expect(await client.set('outage-key', 'before')).toBe('OK');

      // Every 'error' node-redis emits (several per round of asking the sentinels): what the log must not repeat.
      const emitted = { commands: 0, sub: 0 };
      client.on('error', () => void emitted.commands++);
      sub.on('error', () => void emitted.sub++);
      await cluster.sentinel.stop();
      // Sent once the client knows: a command sent before its sentinel connection's failure reached it goes through.
      await waitFor(() => commands.said('redis connection lost').length > 0, 'the command client to log the loss', 5000);
      // Held until a sentinel answers. Should node-redis reject it meanwhile (it does, with a
      // TypeError of its own, when the sentinel died in one of its rounds of asking: a race of
      // the kill with the rounds the cluster's start triggers), it is sent again after.
      let wentThrough = false;
      const held = client.set('outage-key', 'during').then((reply) => {
        wentThrough = true;
        return reply;
      }, (err: unknown) => err as Error);
      // Publishes and subscribes of the subscriber's pub/sub go on without a sentinel.
      await direct.publish('outage-channel', 'during');
      await waitFor(() => received.includes('during'), 'a publish sent in the outage to arrive', 5000);
      // Rounds of asking the sentinels (one a second), each failing: before 20c9689 each logged a line.
      await waitFor(() => emitted.commands >= 8 && emitted.sub >= 8, () => `eight errors from each client (${JSON.stringify(emitted)})`, 15_000);
      expect(wentThrough, 'the SET went through with no sentinel: node-redis no longer holds commands (docs/production.md says it does)').toBe(false);
      for (const { lines, said } of [commands, subscriber]) {
        // One line per way it failed, however many rounds: its sentinel socket closing, each
        // round's refused connect, and a reset when the kill caught a round under way. Before
        // 20c9689 a round logged a line; before the states of an outage were remembered, a
        // round in one state after another in the other did too.
        const lost = said('redis connection lost');
        expect(lost.length, JSON.stringify(lines, null, 1)).toBeGreaterThanOrEqual(1);
        expect(lost.length, JSON.stringify(lines, null, 1)).toBeLessThanOrEqual(3);
        expect(said('redis connection back'), JSON.stringify(lines, null, 1)).toHaveLength(0);
      }

      await cluster.sentinel.start();
      const restartedAt = Date.now();
      const first = await held;
      if (first instanceof Error) expect(first, 'the held SET failed otherwise than by node-redis\'s race').toBeInstanceOf(TypeError);
      expect(first instanceof Error ? await client.set('outage-key', 'during') : first).toBe('OK');
      for (const [name, { said }] of [['outage-commands', commands], ['outage-sub', subscriber]] as const) {
        await waitFor(() => said('redis connection back').length > 0, `${name} to say it is back`, 10_000);
        const back = said('redis connection back');
        expect(back).toHaveLength(1);
        expect(back[0]!.at).toBeGreaterThanOrEqual(restartedAt);
        expect(back[0]!.msg).toMatch(/^redis connection back after \d+ failed attempts? over \d+\.\d s$/);
        expect(back[0]!.fields).toMatchObject({ connection: name });
      }

      // Published until one arrives: when the sentinel answers again, node-redis takes the master
      // for a new one (a subscriber-only client keeps no master connection it could compare) and
      // makes the pub/sub connection again, and a publish in between reaches nobody.
      await waitFor(async () => (await direct.publish('outage-channel', 'after')) > 0 && received.includes('after'), 'a publish sent after the outage to arrive', 10_000);
      expect(await client.get('outage-key')).toBe('during');
    } finally {
      await closeRedisClient(client, 500);
      await closeRedisClient(sub, 0);
      direct.destroy();
    }
  }, 40_000);
});
