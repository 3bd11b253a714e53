import { describe, expect, it } from 'vitest';
import { QueueRotation } from './queue-rotation.js';

describe('QueueRotation', () => {
  it('starts after the queue of the last hit, and keeps its place as queues come and go', () => {
    const r = new QueueRotation(['a', 'b', 'c']);
    expect(r.order()).toEqual(['a', 'b', 'c']);
    r.advance(r.order(), 'a');
    expect(r.order()).toEqual(['b', 'c', 'a']);
    expect(r.add('b')).toBe(false);
    expect(r.add('d')).toBe(true);
    expect(r.order()).toEqual(['b', 'c', 'd', 'a']);
    expect(r.remove('a')).toBe(true); // before the place: the place moves with it
    expect(r.order()).toEqual(['b', 'c', 'd']);
    expect(r.remove('zz')).toBe(false);
    // A hit in a queue cancelled meanwhile moves the place by the queues tried.
    r.advance(['b', 'c'], 'gone');
    expect(r.order()).toEqual(['d', 'b', 'c']);
    expect(r.names).toEqual(['b', 'c', 'd']);
    expect(new QueueRotation([]).order()).toEqual([]);
  });
});
