/**
 * Worker actions (pool grow/shrink, autoscale, limits, consumers) wait the ingest's reply
 * timeout (`--inspect-timeout`) for the worker's answer, as inspections do; they waited a fixed
 * 1 s, and a busy Python worker's late pool_shrink reply turned into a 403 "Unknown reason".
 */
import { describe, expect, it } from 'vitest';
import type { BroadcastOptions, NodeReply } from 'celeriac/monitor';
import type { ServerContext } from './context.js';
import { control } from './routes-workers.js';

function contextWaiting(replyTimeoutMs: number, replies: NodeReply[]) {
  const asked: { method: string; options: BroadcastOptions | undefined }[] = [];
  const ingest = {
    replyTimeoutMs,
    control: {
      broadcast: (method: string, options?: BroadcastOptions) => {
        asked.push({ method, options });
        return Promise.resolve(replies);
      },
    },
  };
  return { ctx: { ingest } as unknown as ServerContext, asked };
}

describe('dashboard worker actions', () => {
  it('wait the configured reply timeout, sent to the one worker', async () => {
    for (const timeout of [1000, 5000]) {
      const { ctx, asked } = contextWaiting(timeout, [{ 'w1@host': { ok: 'pool will grow' } }]);
      expect(await control(ctx, 'w1@host', 'pool_grow', { n: 1 })).toEqual({ ok: 'pool will grow' });
      expect(asked).toEqual([{ method: 'pool_grow', options: { arguments: { n: 1 }, destination: ['w1@host'], reply: true, timeoutMs: timeout } }]);
    }
  });

  it('no reply from that worker in time: undefined (the route says "Unknown reason")', async () => {
    const { ctx } = contextWaiting(1000, [{ 'other@host': { ok: 'not you' } }]);
    expect(await control(ctx, 'w1@host', 'pool_shrink', { n: 1 })).toBeUndefined();
  });
});
