/**
 * The rpc:// result's way out, against a recording amqplib (issue 42 item 5: tasks were said
 * to wait 60-400 ms "for rpc:// results to be confirmed"). A late-ack worker acks a task once
 * its result's confirm is in, so nothing may sit between the two: store() must hand the
 * result's frames to the connection before it returns (no timer, no batch waiting for more
 * results), and resolve on the confirm callback alone. A confirm-batch timer, or a store that
 * queued its publish behind one, fails here.
 */
import amqp, { type ChannelModel } from 'amqplib';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ResultMeta } from '../../protocol/types.js';
import { RpcBackend } from './rpc-backend.js';

const wire = { writes: [] as Buffer[], confirms: [] as ((err: unknown) => void)[] };

/** A connection whose confirm channel records what is written and the confirm callbacks. */
function recordingModel(): ChannelModel {
  const on = () => undefined;
  // The amqplib internals publish-frames.ts writes through: the channel number, the frame
  // size, the channel's outgoing buffer, and the confirm callback list.
  const confirmChannel = {
    ch: 1,
    connection: { frameMax: 131_072, channels: [undefined, { buffer: { write: (b: Buffer) => wire.writes.push(b) } }] },
    pushConfirmCallback: (cb: (err: unknown) => void) => wire.confirms.push(cb),
    on,
    close: async () => undefined,
  };
  return { on, createConfirmChannel: async () => confirmChannel, close: async () => undefined } as unknown as ChannelModel;
}

// The session loads amqplib when it first connects, and calls its connect then: the same
// module object whether the library runs from src/ or from dist/ (scripts/test-dist.ts).
vi.spyOn(amqp, 'connect').mockImplementation(async () => recordingModel());

const meta = (id: string): ResultMeta => ({ task_id: id, status: 'SUCCESS', result: 42, traceback: null, children: [], date_done: null }) as ResultMeta;

afterEach(() => {
  vi.useRealTimers();
  wire.writes.length = 0;
  wire.confirms.length = 0;
});

describe('rpc:// store', () => {
  it('writes the result before it returns and resolves on its confirm, with no timer in between', async () => {
    const backend = new RpcBackend({ brokerUrl: 'amqp://guest:guest@127.0.0.1:5672/x', replyTo: 'me', resultExpiresSec: null });
    // The first store opens the publishing channel.
    const opening = backend.store(meta('first'), { replyTo: 'client-a', expiresSec: 60 });
    await vi.waitFor(() => expect(wire.confirms).toHaveLength(1));
    wire.confirms[0]?.(null);
    await opening;

    vi.useFakeTimers();
    const id = '3c88d716-6b56-4d3e-b459-9aa640df06c3';
    let settled = false;
    const stored = backend.store(meta(id), { replyTo: 'client-a', expiresSec: 60 }).then(() => (settled = true));
    // Handed to the connection within the call: one buffer with the publish, its header and body.
    expect(wire.writes).toHaveLength(2);
    const frames = wire.writes[1] as Buffer;
    expect(frames.includes(Buffer.from('client-a'))).toBe(true);
    expect(frames.includes(Buffer.from(`{"task_id": "${id}", "status": "SUCCESS"`))).toBe(true);
    // Nothing scheduled to send or settle it later.
    expect(vi.getTimerCount()).toBe(0);
    await Promise.resolve();
    expect(settled).toBe(false);
    // The confirm alone settles it: no timer is advanced.
    wire.confirms[1]?.(null);
    await stored;
    expect(settled).toBe(true);
    expect(vi.getTimerCount()).toBe(0);
    vi.useRealTimers();
    await backend.close();
  });

  it('fails the store on a nack, so a late-ack worker does not ack the task', async () => {
    const backend = new RpcBackend({ brokerUrl: 'amqp://guest:guest@127.0.0.1:5672/x', replyTo: 'me', resultExpiresSec: null });
    const stored = backend.store(meta('nacked'), { replyTo: 'client-b', expiresSec: 60 });
    await vi.waitFor(() => expect(wire.confirms).toHaveLength(1));
    wire.confirms[0]?.(new Error('message nacked'));
    await expect(stored).rejects.toThrow(/could not send the result of nacked: message nacked/);
    await backend.close();
  });
});
