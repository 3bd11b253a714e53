import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PublishTemplate, publishFrames } from './publish-frames.js';

const require = createRequire(import.meta.url);
// amqplib's encoder, the reference (its package exports do not list lib/).
const lib = (file: string): unknown => require(join(dirname(require.resolve('amqplib')), 'lib', file));

interface AmqplibDefs {
  BasicPublish: number;
  BasicProperties: number;
  encodeMethod(id: number, channel: number, fields: object): Buffer;
  encodeProperties(id: number, channel: number, size: number, fields: object): Buffer;
}
const defs = lib('defs.js') as AmqplibDefs;
const args = lib('api_args.js') as { publish(exchange: string, routingKey: string, options: object): object };
const { makeBodyFrame } = lib('frame.js') as { makeBodyFrame(channel: number, payload: Buffer): Buffer };

/** What amqplib's connection writes for `channel.publish(...)`, frames concatenated. */
function amqplibBytes(channel: number, exchange: string, routingKey: string, body: Buffer, options: object, frameMax: number): Buffer {
  const fields = args.publish(exchange, routingKey, options);
  const parts = [defs.encodeMethod(defs.BasicPublish, channel, fields), defs.encodeProperties(defs.BasicProperties, channel, body.length, fields)];
  for (let start = 0; start < body.length; start += frameMax - 8) parts.push(makeBodyFrame(channel, body.subarray(start, start + frameMax - 8)));
  return Buffer.concat(parts);
}

describe('PublishTemplate', () => {
  const result = new PublishTemplate({ contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 1, priority: 0 });
  const id = '3c88d716-6b56-4d3e-b459-9aa640df06c3';

  it('writes the bytes amqplib writes for an rpc:// result', () => {
    const body = Buffer.from(`{"task_id": "${id}", "status": "SUCCESS", "result": 42, "traceback": null, "children": []}`);
    for (const [exchange, key] of [
      ['', '939ea268-4b38-3402-b6ee-789de1e26728'],
      ['celery', 'c\u00e9leri'],
    ] as const) {
      const mine = result.encode(3, exchange, key, id, body, 131072);
      expect(mine).toEqual(amqplibBytes(3, exchange, key, body, result.options(id), 131072));
      // The cached method frame gives the same bytes the second time.
      expect(result.encode(3, exchange, key, id, body, 131072)).toEqual(mine);
    }
  });

  it('splits a body longer than a frame as amqplib does, and sends no body frame for an empty one', () => {
    const persistent = new PublishTemplate({ contentType: 'text/plain', contentEncoding: 'binary', deliveryMode: 2, priority: 9 });
    const long = Buffer.from('x'.repeat(10_000));
    expect(persistent.encode(1, 'ex', 'rk', 'id-\u00e9', long, 4096)).toEqual(amqplibBytes(1, 'ex', 'rk', long, persistent.options('id-\u00e9'), 4096));
    expect(persistent.encode(65535, '', 'q', '', Buffer.alloc(0), 4096)).toEqual(amqplibBytes(65535, '', 'q', Buffer.alloc(0), persistent.options(''), 4096));
  });

  it('refuses what AMQP cannot carry', () => {
    expect(() => new PublishTemplate({ contentType: 'a', contentEncoding: 'b', deliveryMode: 1, priority: 256 })).toThrow(RangeError);
    expect(() => result.encode(1, '', 'q'.repeat(256), id, Buffer.alloc(1), 4096)).toThrow(/^routing key "q{40}\.\.\." is 256 bytes; RabbitMQ takes at most 255/);
    expect(() => result.encode(1, '', 'q', 'i'.repeat(256), Buffer.alloc(1), 4096)).toThrow(/^correlation id \(the task id\) "i{40}\.\.\." is 256 bytes/);
  });
});

describe('publishFrames', () => {
  const template = new PublishTemplate({ contentType: 'application/json', contentEncoding: 'utf-8', deliveryMode: 1, priority: 0 });

  it('writes to the channel buffer and registers the confirm callback', () => {
    const written: Buffer[] = [];
    const confirms: unknown[] = [];
    const conn = { frameMax: 4096, sentSinceLastCheck: false, channels: [undefined, undefined, { buffer: { write: (b: Buffer) => written.push(b) } }] };
    const channel = { ch: 2, connection: conn, pushConfirmCallback: (cb: unknown) => confirms.push(cb), publish: () => expect.unreachable() };
    const cb = () => undefined;
    publishFrames(channel as never, template, '', 'reply', 'id-1', Buffer.from('{}'), cb);
    expect(written).toEqual([template.encode(2, '', 'reply', 'id-1', Buffer.from('{}'), 4096)]);
    expect(confirms).toEqual([cb]);
    expect(conn.sentSinceLastCheck).toBe(true);
  });

  it("goes through amqplib's publish when the channel is closed or amqplib looks different", () => {
    const published: unknown[][] = [];
    const publish = (...a: unknown[]) => published.push(a);
    const cb = () => undefined;
    const closed = { ch: 2, connection: { frameMax: 4096, channels: [] }, pushConfirmCallback: () => undefined, publish, sendMessage: () => undefined };
    publishFrames(closed as never, template, '', 'reply', 'id-1', Buffer.from('{}'), cb);
    publishFrames({ publish } as never, template, '', 'reply', 'id-2', Buffer.from('{}'), cb);
    expect(published).toEqual([
      ['', 'reply', Buffer.from('{}'), template.options('id-1'), cb],
      ['', 'reply', Buffer.from('{}'), template.options('id-2'), cb],
    ]);
  });
});
