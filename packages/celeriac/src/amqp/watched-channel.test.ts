import { describe, expect, it } from 'vitest';
import { watchReplies } from './watched-channel.js';

/** A stand-in for an amqplib channel: an operation that waits for a reply, one that answers at once, a field. */
class Target {
  readonly name = 'ch';
  readonly calls: string[] = [];
  checkQueue(queue: string): Promise<{ queue: string; owner: string }> {
    this.calls.push(`checkQueue ${queue}`);
    return Promise.resolve({ queue, owner: this.name });
  }
  ack(tag: number): boolean {
    this.calls.push(`ack ${tag}`);
    return true;
  }
}

describe('watchReplies', () => {
  it('passes the promise of every method through the watch, naming the operation; the rest is the channel', async () => {
    const target = new Target();
    const watched: string[] = [];
    const channel = watchReplies(target, (reply, what) => {
      watched.push(what);
      return reply;
    });
    expect(await channel.checkQueue('q')).toEqual({ queue: 'q', owner: 'ch' });
    expect(channel.ack(7)).toBe(true);
    expect(channel.name).toBe('ch');
    expect(watched).toEqual(['a checkQueue']);
    // Called on the channel itself (amqplib's methods use their own fields).
    expect(target.calls).toEqual(['checkQueue q', 'ack 7']);
  });

  it('gives the caller what the watch gives: a reply given up fails the operation', async () => {
    const channel = watchReplies(new Target(), () => Promise.reject(new Error('no reply to a checkQueue: a dead link')));
    await expect(channel.checkQueue('q')).rejects.toThrow('a dead link');
  });
});
