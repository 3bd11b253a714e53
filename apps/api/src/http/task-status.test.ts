import { describe, expect, it } from 'vitest';
import type { Json, ResultMeta } from 'celeriac';
import { statusFromMeta } from './task-status.js';

function meta(status: string, result: Json): ResultMeta {
  return { task_id: 't', status, result, traceback: null, children: [], date_done: null };
}

describe('statusFromMeta', () => {
  it('answers a stored value JSON cannot write (a Python int past 2**53, thousands of levels deep) as its repr, so the route does not answer 500', () => {
    let deep: Json = [];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    // A Python int past 2**53, as the engine reads it.
    const big = { n: 2n ** 64n } as unknown as Json;
    expect(statusFromMeta('t', meta('SUCCESS', big)).result).toBe("{'n': 18446744073709551616}");
    expect(statusFromMeta('t', meta('SUCCESS', deep)).result).toMatch(/^\[+\.\.\.\]+$/);
    expect(statusFromMeta('t', meta('PROGRESS', deep)).progress).toMatch(/^\[+\.\.\.\]+$/);
    expect(statusFromMeta('t', meta('SUCCESS', { a: [1] })).result).toEqual({ a: [1] });
    for (const status of [statusFromMeta('t', meta('SUCCESS', big)), statusFromMeta('t', meta('SUCCESS', deep))]) expect(() => JSON.stringify(status)).not.toThrow();
  });

  it("writes an exception's arguments as text: strings as they are, the rest as JSON or their repr", () => {
    let deep: Json = [];
    for (let i = 0; i < 20_000; i++) deep = [deep];
    const error = (exc_message: Json) => statusFromMeta('t', meta('FAILURE', { exc_type: 'ValueError', exc_message, exc_module: 'builtins' })).error;
    expect(error(['boom'])).toEqual({ type: 'ValueError', message: 'boom' });
    expect(error(['a', 5, { k: [1] }, null])).toEqual({ type: 'ValueError', message: 'a, 5, {"k":[1]}, null' });
    expect(error('alone')).toEqual({ type: 'ValueError', message: 'alone' });
    expect(error([deep, 'x'])?.message).toMatch(/^\[+\.\.\.\]+, x$/);
    expect(error([(2n ** 64n) as unknown as Json])?.message).toBe('18446744073709551616');
    expect(statusFromMeta('t', meta('FAILURE', null)).error).toEqual({ type: 'Exception', message: '' });
  });
});
