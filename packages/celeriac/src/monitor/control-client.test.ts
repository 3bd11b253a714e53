import { afterEach, describe, expect, it } from 'vitest';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { buildControlReply, CONTROL_EXCHANGE, decodeControlRequest, isAddressedTo, REPLY_EXCHANGE, type ControlRequest } from '../protocol/pidbox.js';
import type { Json } from '../protocol/types.js';
import { FakeClock } from '../testing/fake-clock.js';
import { flush } from '../testing/wait-for.js';
import { ErrorCodes } from '../errors.js';
import { BrokerUnreachableError, ControlClient } from './control-client.js';

/** A stand-in worker mailbox: answers addressed requests with `answer(request)`. */
async function fakeNode(broker: MemoryBroker, nodename: string, answer: (r: ControlRequest) => Json | undefined, seen: ControlRequest[] = []) {
  return broker.subscribeFanout(CONTROL_EXCHANGE, '#', (raw) => {
    const { request } = decodeControlRequest(raw);
    seen.push(request);
    if (!isAddressedTo(request, nodename) || request.reply_to === undefined || request.ticket === undefined) return;
    const value = answer(request);
    if (value === undefined) return;
    const message = buildControlReply(nodename, value, { ticket: request.ticket, clock: 7 });
    void broker.publish(message, { exchange: request.reply_to.exchange, routingKey: request.reply_to.routing_key, dropUnrouted: true });
  });
}

const brokers: MemoryBroker[] = [];
function newBroker(): MemoryBroker {
  const b = new MemoryBroker();
  brokers.push(b);
  return b;
}
afterEach(async () => {
  await Promise.all(brokers.splice(0).map((b) => b.close()));
});

describe('ControlClient', () => {
  it('collects every reply until the limit given by the destination, then releases the reply queue', async () => {
    const broker = newBroker();
    await fakeNode(broker, 'a@x', () => ({ ok: 'pong' }));
    await fakeNode(broker, 'b@x', () => ({ ok: 'pong' }));
    await fakeNode(broker, 'c@x', () => ({ ok: 'pong' }));
    const client = new ControlClient(broker);
    // A 60 s timeout: this only returns early because the limit (2 destinations) is reached.
    const replies = await client.broadcast('ping', { reply: true, destination: ['a@x', 'c@x'], timeoutMs: 60_000 });
    expect(replies.map((r) => Object.keys(r)[0]).sort()).toEqual(['a@x', 'c@x']);
    // Unbound: a reply published now is dropped, not queued for nobody.
    const late = buildControlReply('a@x', 1, { ticket: 'x', clock: 1 });
    await broker.publish(late, { exchange: REPLY_EXCHANGE, routingKey: client.oid, dropUnrouted: true });
    expect(await broker.queueLength(client.replyQueue)).toBe(0);
  });

  it('sends method, arguments, destination and a ticket; inspect merges the replies by node', async () => {
    const broker = newBroker();
    const seen: ControlRequest[] = [];
    await fakeNode(broker, 'a@x', (r) => ({ ok: `${r.method} ${JSON.stringify(r.arguments)}` }), seen);
    const client = new ControlClient(broker, { oid: 'oid-1' });
    const merged = await client.inspect('rate_limit', { arguments: { task_name: 't', rate_limit: '1/s' }, destination: ['a@x'], timeoutMs: 60_000 });
    expect(merged).toEqual({ 'a@x': { ok: 'rate_limit {"task_name":"t","rate_limit":"1/s"}' } });
    expect(seen[0]).toMatchObject({ method: 'rate_limit', destination: ['a@x'], pattern: null, matcher: null, reply_to: { exchange: 'reply.celery.pidbox', routing_key: 'oid-1' } });
    expect(typeof seen[0]?.ticket).toBe('string');
  });

  it('ends collection when the timeout passes with no new reply (each reply restarts the wait)', async () => {
    const broker = newBroker();
    const clock = new FakeClock();
    let answered = 0;
    await fakeNode(broker, 'a@x', () => {
      answered++;
      return { ok: 'pong' };
    });
    const client = new ControlClient(broker, { clock });
    let settled = false;
    let replied: () => void = () => {};
    const gotReply = new Promise<void>((resolve) => (replied = resolve));
    const result = client.broadcast('ping', { reply: true, timeoutMs: 1000, onReply: () => replied() }).then((r) => {
      settled = true;
      return r;
    });
    await gotReply; // the wait restarts here: 1000 ms from now
    clock.advance(999);
    await flush();
    expect(settled).toBe(false);
    clock.advance(1);
    expect(await result).toEqual([{ 'a@x': { ok: 'pong' } }]);
    expect(answered).toBe(1);
  });

  it('returns nothing when nobody answers, and fire-and-forget commands carry no ticket', async () => {
    const broker = newBroker();
    const seen: ControlRequest[] = [];
    await fakeNode(broker, 'a@x', () => undefined, seen);
    const client = new ControlClient(broker);
    expect(await client.broadcast('ping', { reply: true, timeoutMs: 50 })).toEqual([]);
    expect(await client.broadcast('heartbeat')).toEqual([]);
    await flush(); // fanout delivery is asynchronous
    expect(seen.map((r) => [r.method, r.ticket])).toEqual([['ping', expect.any(String)], ['heartbeat', undefined]]);
  });

  it('keeps concurrent broadcasts apart by ticket and calls onReply as replies arrive', async () => {
    const broker = newBroker();
    await fakeNode(broker, 'a@x', (r) => r.method);
    const client = new ControlClient(broker);
    const calls: unknown[] = [];
    const [stats, clock] = await Promise.all([
      client.broadcast('stats', { reply: true, limit: 1, timeoutMs: 60_000, onReply: (r) => calls.push(r) }),
      client.broadcast('clock', { reply: true, limit: 1, timeoutMs: 60_000 }),
    ]);
    expect(stats).toEqual([{ 'a@x': 'stats' }]);
    expect(clock).toEqual([{ 'a@x': 'clock' }]);
    expect(calls).toEqual([{ 'a@x': 'stats' }]);
  });

  it('close() ends a pending broadcast with what it has', async () => {
    const broker = newBroker();
    const client = new ControlClient(broker);
    const pending = client.ping({ timeoutMs: 60_000 });
    await flush(); // the request is out and the client collecting
    await client.close();
    expect(await pending).toEqual({});
  });

  it('rejects a negative timeout', async () => {
    await expect(new ControlClient(newBroker()).ping({ timeoutMs: -1 })).rejects.toThrow(RangeError);
  });

  it('refuses a destination that is not a list of node names (a string was spread into one name per character)', async () => {
    const broker = newBroker();
    const published: string[] = [];
    const publish = broker.publishFanout.bind(broker);
    broker.publishFanout = (exchange, key, raw) => {
      published.push(String(raw));
      return publish(exchange, key, raw);
    };
    const client = new ControlClient(broker);
    await expect(client.ping({ destination: 'celery@host' as never })).rejects.toThrow('ping: destination must be a list of node names (["celery@host"]), got "celery@host"');
    await expect(client.broadcast('shutdown', { destination: [5] as never })).rejects.toThrow('shutdown: destination must be a list of node names (["celery@host"]), got a list with a value that is not a name');
    expect(published).toEqual([]);
    await client.close();
  });
});

/** A broker that lost its server: bind and publish wait until `recover()`, as an offline queue does. */
class StalledBroker extends MemoryBroker {
  readonly #waiting: Array<() => void> = [];
  recover(): void {
    for (const go of this.#waiting.splice(0)) go();
  }
  #stall<T>(op: () => Promise<T>): Promise<T> {
    return new Promise<void>((resolve) => this.#waiting.push(resolve)).then(op);
  }
  override bindQueue(queue: string, exchange: string, routingKey: string): Promise<void> {
    return this.#stall(() => super.bindQueue(queue, exchange, routingKey));
  }
  override publishFanout(exchange: string, routingKey: string, raw: string): Promise<number> {
    return this.#stall(() => super.publishFanout(exchange, routingKey, raw));
  }
}

describe('ControlClient with an unreachable broker', () => {
  it('fails each call after brokerTimeoutMs with BrokerUnreachableError, and close() does not stall', async () => {
    const broker = new StalledBroker();
    brokers.push(broker);
    const clock = new FakeClock();
    const client = new ControlClient(broker, { clock, brokerTimeoutMs: 2000 });
    const ping = client.ping({ timeoutMs: 60_000 });
    const fire = client.broadcast('shutdown');
    const outcomes = Promise.allSettled([ping, fire]);
    await flush();
    clock.advance(1999);
    await flush();
    expect(clock.pendingTimers).toBeGreaterThan(0);
    clock.advance(1);
    const [p, f] = await outcomes;
    for (const r of [p, f]) {
      expect(r.status).toBe('rejected');
      const reason = (r as PromiseRejectedResult).reason as BrokerUnreachableError;
      expect(reason).toBeInstanceOf(BrokerUnreachableError);
      expect(reason.code).toBe(ErrorCodes.TRANSPORT);
      expect(reason.message).toMatch(/did not answer within 2000 ms/);
    }
    // The broker just failed to answer: close() does not wait for it once more (it did, the
    // whole brokerTimeoutMs, so `celeriac inspect` against a broker that is down took twice that).
    let closed = false;
    void client.close().then(() => (closed = true));
    await flush();
    expect(closed).toBe(true);
  });

  it('releases a reply queue whose bind finished after its broadcast gave up', async () => {
    const broker = new StalledBroker();
    brokers.push(broker);
    const clock = new FakeClock();
    const client = new ControlClient(broker, { clock, brokerTimeoutMs: 500 });
    const ping = client.ping({ timeoutMs: 60_000 }).catch((e: unknown) => e);
    await flush();
    clock.advance(500);
    expect(await ping).toBeInstanceOf(BrokerUnreachableError);
    broker.recover(); // the server is back: the queued bind goes through late
    await flush();
    const late = buildControlReply('a@x', 1, { ticket: 'x', clock: 1 });
    await broker.publish(late, { exchange: REPLY_EXCHANGE, routingKey: client.oid, dropUnrouted: true });
    expect(await broker.queueLength(client.replyQueue)).toBe(0);
  });

  it('rejects a brokerTimeoutMs that is not a positive number', () => {
    expect(() => new ControlClient(newBroker(), { brokerTimeoutMs: 0 })).toThrow(RangeError);
  });
});
