import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeResultMeta, encodeGroupMeta, encodeResultMeta, groupMeta, isExceptionRecord } from './result.js';
import { ProtocolError } from './errors.js';

const golden = JSON.parse(
  readFileSync(new URL('./wire-golden.fixture.json', import.meta.url), 'utf8'),
) as { RESULT_METAS: string[] };

describe('result metas', () => {
  it.each(golden.RESULT_METAS.map((line, i) => [i, line] as const))(
    'docs/protocol.md §3.1 line %i decodes and re-encodes byte for byte',
    (_i, line) => {
      const meta = decodeResultMeta(line);
      expect(encodeResultMeta(meta)).toBe(line);
    },
  );

  it('recognises exception records', () => {
    const failure = decodeResultMeta(golden.RESULT_METAS[2] as string);
    expect(isExceptionRecord(failure.result)).toBe(true);
    expect(isExceptionRecord(decodeResultMeta(golden.RESULT_METAS[0] as string).result)).toBe(false);
    expect(isExceptionRecord({ exc_type: 'MyErr', exc_message: [], exc_module: null })).toBe(true);
    expect(isExceptionRecord({ exc_type: 1, exc_message: [] })).toBe(false);
  });

  it('drops null extended fields (the type has no null for them)', () => {
    const meta = decodeResultMeta('{"status": "SUCCESS", "result": 1, "traceback": null, "children": [], "date_done": null, "name": "t", "queue": null, "task_id": "x"}');
    expect(meta.name).toBe('t');
    expect('queue' in meta).toBe(false);
  });

  it.each([
    ['not JSON', '{', 'bad-json'],
    ['an array', '[]', 'bad-body'],
    ['no status', '{"result": 1, "task_id": "x"}', 'bad-body'],
    ['no task_id', '{"status": "SUCCESS", "result": 1}', 'bad-body'],
    ['children not tuples', '{"status": "SUCCESS", "children": [1], "task_id": "x"}', 'bad-body'],
    ['date_done a number', '{"status": "SUCCESS", "date_done": 5, "task_id": "x"}', 'bad-body'],
  ])('rejects %s', (_name, text, reason) => {
    expect(() => decodeResultMeta(text)).toThrow(ProtocolError);
    try {
      decodeResultMeta(text);
    } catch (error) {
      expect((error as ProtocolError).reason).toBe(reason);
    }
  });

  it('never throws anything but ProtocolError', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json()), (text) => {
        try {
          decodeResultMeta(text);
        } catch (error) {
          expect(error).toBeInstanceOf(ProtocolError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('groupMeta', () => {
  it('builds the §3.6 record', () => {
    expect(encodeGroupMeta(groupMeta('g', ['a', 'b']))).toBe(
      '{"result": [["g", null], [[["a", null], null], [["b", null], null]]]}',
    );
  });
});
