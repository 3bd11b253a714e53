import { describe, expect, it } from 'vitest';
import { topicMatches } from './topic.js';

describe('topicMatches', () => {
  it.each([
    ['#', '', true],
    ['#', 'task.sent', true],
    ['task.sent', 'task.sent', true],
    ['task.sent', 'task.started', false],
    ['', '', true],
    ['', 'x', false],
    ['worker.*', 'worker.heartbeat', true],
    ['worker.*', 'worker', false],
    ['worker.*', 'worker.a.b', false],
    ['worker.#', 'worker.a.b', true],
    ['worker.#', 'worker', true],
    ['*.multi', 'task.multi', true],
    ['a.#.z', 'a.z', true],
    ['a.#.z', 'a.b.c.z', true],
    ['a.#.z', 'a.b.c', false],
  ])('%j matches %j: %s', (binding, key, expected) => {
    expect(topicMatches(binding, key)).toBe(expected);
  });
});
