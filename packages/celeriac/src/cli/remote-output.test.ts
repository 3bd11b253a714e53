import { describe, expect, it } from 'vitest';
import { formatNodeCount, formatReply, prettyValue } from './remote-output.js';

// Expected texts are what `celery inspect` / `celery control` 5.2.6 printed against a
// Python worker (colours off), see docs/monitoring.md.
describe('formatReply', () => {
  it('ok replies: status OK and the value indented twice', () => {
    expect(formatReply({ 'py@vm': { ok: 'pong' } }, true)).toBe('->  py@vm: OK\n        pong\n');
    expect(formatReply({ 'py@vm': { ok: 'tasks 1234, 5678 flagged as revoked' } }, true)).toBe('->  py@vm: OK\n        tasks 1234, 5678 flagged as revoked\n');
  });

  it('error replies: status ERROR', () => {
    expect(formatReply({ 'py@vm': { error: 'unknown task' } }, true)).toBe('->  py@vm: ERROR\n        unknown task\n');
  });

  it('lists: one starred item per element, Python repr for non-strings, "- empty -" when empty', () => {
    expect(formatReply({ n: ['py.add [rate_limit=10/m]', 'py.sleep'] }, true)).toBe('->  n: OK\n    * py.add [rate_limit=10/m]\n    * py.sleep\n');
    expect(formatReply({ n: [] }, true)).toBe('->  n: OK\n    - empty -\n');
    expect(formatReply({ n: [{ name: 'celery', durable: true, max: null }] }, true)).toBe("->  n: OK\n    * {'name': 'celery', 'durable': True, 'max': None}\n");
  });

  it('other objects: sorted-key JSON with 4-space indents', () => {
    expect(formatReply({ n: { clock: 27 } }, true)).toBe('->  n: OK\n    {\n        "clock": 27\n    }\n');
    expect(formatReply({ n: { b: { d: 1, c: [1] }, a: 2 } }, true)).toBe('->  n: OK\n    {\n        "a": 2,\n        "b": {\n            "c": [\n                1\n            ],\n            "d": 1\n        }\n    }\n');
  });

  it('null and numbers print in Python repr; without body only the status line', () => {
    expect(formatReply({ n: null }, true)).toBe('->  n: OK\n    None\n');
    expect(formatReply({ n: true }, true)).toBe('->  n: OK\n    True\n');
    expect(formatReply({ n: { ok: 'pong' } }, false)).toBe('->  n: OK\n');
    expect(formatReply({}, true)).toBe('');
  });

  it('ok wrapping any value', () => {
    expect(prettyValue({ ok: ['a'] })).toEqual({ status: 'OK', text: '    * a' });
  });
});

describe('formatNodeCount', () => {
  it('pluralizes as Celery does', () => {
    expect(formatNodeCount(1)).toBe('\n1 node online.\n');
    expect(formatNodeCount(0)).toBe('\n0 nodes online.\n');
    expect(formatNodeCount(2)).toBe('\n2 nodes online.\n');
  });
});
