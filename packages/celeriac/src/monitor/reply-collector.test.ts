import { describe, expect, it } from 'vitest';
import { ReplyCollector, flattenReplies } from './reply-collector.js';

const reply = (ticket: string | null, node: string, value: unknown = { ok: 'pong' }) => ({ ticket, clock: 1, body: { [node]: value as never } });

describe('ReplyCollector', () => {
  it('keeps replies with its ticket, or with none, in arrival order', () => {
    const c = new ReplyCollector({ ticket: 't1' });
    expect(c.offer(reply('t1', 'a'))).toEqual({ a: { ok: 'pong' } });
    expect(c.offer(reply('other', 'b'))).toBeUndefined();
    expect(c.offer(reply(null, 'c'))).toEqual({ c: { ok: 'pong' } });
    expect(c.replies).toEqual([{ a: { ok: 'pong' } }, { c: { ok: 'pong' } }]);
    expect(c.limit).toBeNull();
    expect(c.complete).toBe(false);
  });

  it('is complete at the limit and takes nothing more', () => {
    const c = new ReplyCollector({ ticket: 't', limit: 2 });
    c.offer(reply('t', 'a'));
    expect(c.complete).toBe(false);
    c.offer(reply('t', 'b'));
    expect(c.complete).toBe(true);
    expect(c.offer(reply('t', 'c'))).toBeUndefined();
    expect(c.replies).toHaveLength(2);
  });

  it('limits to the number of destination nodes unless told otherwise', () => {
    expect(new ReplyCollector({ ticket: 't', destination: ['a', 'b'] }).limit).toBe(2);
    expect(new ReplyCollector({ ticket: 't', destination: [] }).limit).toBeNull();
    expect(new ReplyCollector({ ticket: 't', destination: ['a', 'b'], limit: 5 }).limit).toBe(5);
    expect(() => new ReplyCollector({ ticket: 't', limit: 0 })).toThrow(RangeError);
  });
});

describe('flattenReplies', () => {
  it('merges node replies; a node answering twice keeps its last answer', () => {
    expect(flattenReplies([{ a: 1 }, { b: 2 }, { a: 3 }])).toEqual({ a: 3, b: 2 });
    expect(flattenReplies([])).toEqual({});
  });
});
