/**
 * The value reader of the task page: Python reprs and JSON from task events become trees;
 * anything else stays text (never an exception, whatever the input).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Json } from 'celeriac';
import { pyRepr } from 'celeriac/monitor';
import { parseValue, preview, pyNum, pyStr } from '../../ui/js/pyrepr.js';

describe('parseValue', () => {
  it('reads Python reprs of Celery args, kwargs and results', () => {
    expect(parseValue("{'user_id': 42, 'tags': ['a', \"b's\"], 'ok': True, 'none': None}")).toEqual({
      kind: 'python',
      node: {
        t: 'dict',
        entries: [
          [{ t: 'str', v: 'user_id' }, { t: 'num', v: '42' }],
          [{ t: 'str', v: 'tags' }, { t: 'list', items: [{ t: 'str', v: 'a' }, { t: 'str', v: "b's" }] }],
          [{ t: 'str', v: 'ok' }, { t: 'bool', v: true }],
          [{ t: 'str', v: 'none' }, { t: 'none' }],
        ],
      },
    });
    expect(parseValue('(1,)').node).toEqual({ t: 'tuple', items: [{ t: 'num', v: '1' }] });
    expect(parseValue('(1)').node).toEqual({ t: 'num', v: '1' });
    expect(parseValue('()').node).toEqual({ t: 'tuple', items: [] });
    expect(parseValue('{1, 2}').node).toEqual({ t: 'set', items: [{ t: 'num', v: '1' }, { t: 'num', v: '2' }] });
    expect(parseValue('set()').node).toEqual({ t: 'set', items: [] });
    expect(parseValue("b'\\x00ab'").node).toEqual({ t: 'bytes', v: '\x00ab' });
    expect(parseValue("'line\\nnext \\u00e9'").node).toEqual({ t: 'str', v: 'line\nnext é' });
    expect(parseValue('[-1.5e3, inf, nan]').node).toEqual({ t: 'list', items: [{ t: 'num', v: '-1.5e3' }, { t: 'num', v: 'inf' }, { t: 'num', v: 'nan' }] });
  });

  it('keeps calls and object reprs readable', () => {
    const { kind, node } = parseValue("{'at': datetime.datetime(2024, 1, 2, tzinfo=<UTC>), 'obj': <Foo object at 0x7f>}");
    expect(kind).toBe('python');
    expect(preview(node)).toBe("{'at': datetime.datetime(2024, 1, 2, tzinfo=<UTC>), 'obj': <Foo object at 0x7f>}");
  });

  it('prefers JSON when the text is JSON', () => {
    expect(parseValue('{"a": [1, null]}')).toEqual({ kind: 'json', node: { t: 'dict', entries: [[{ t: 'str', v: 'a' }, { t: 'list', items: [{ t: 'num', v: '1' }, { t: 'none' }] }]] } });
  });

  it('falls back to text for truncated reprs, markup and garbage', () => {
    expect(parseValue("[1, 2, 3, 'abc...")).toEqual({ kind: 'text', node: { t: 'str', v: "[1, 2, 3, 'abc..." } });
    const html = '<script>alert(1)</script> {';
    expect(parseValue(html).kind).toBe('text');
    expect(parseValue('').kind).toBe('text');
  });

  it('gives up on absurd nesting instead of overflowing the stack', () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    expect(parseValue(deep).kind).toBe('text');
    const deepJson = JSON.stringify(JSON.parse('['.repeat(300) + ']'.repeat(300)));
    expect(parseValue(deepJson).kind).toBe('text');
  });

  it('never throws, whatever the input', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), (s) => {
      const { kind } = parseValue(s);
      return kind === 'json' || kind === 'python' || kind === 'text';
    }));
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const { kind } = parseValue(JSON.stringify(v));
      return kind === 'json';
    }));
  });

  it('previews long values within the limit', () => {
    const { node } = parseValue(JSON.stringify({ big: 'x'.repeat(10_000) }));
    expect(preview(node, 50)).toHaveLength(50);
  });

  it('previews a repr as the same repr: strings quoted as Python quotes them, never as JSON beside True', () => {
    // todos.bulk_report's args (a chord body gets its header's results): the tasks list showed
    // ([{"id": 1, "updated": True}, ...],) once they passed its 80-character cut.
    const bulk = "([{'id': 1, 'updated': True}, {'id': 2, 'updated': True}, {'id': 99, 'updated': False, 'reason': 'not found'}],)";
    expect(preview(parseValue(bulk).node, 1000)).toBe(bulk);
    expect(preview(parseValue("[b'\\x00a\\x7f', \"it's\"]").node)).toBe("[b'\\x00a\\x7f', \"it's\"]");
    // A float in exponent form reads as JSON too: it keeps Python's layout (1e-09, not 1e-9).
    expect(preview(parseValue('[1e-09, 1e+16, 0.0001]').node)).toBe('[1e-09, 1e+16, 0.0001]');
    fc.assert(fc.property(fc.jsonValue(), (v) => {
      const repr = pyRepr(v as Json);
      return preview(parseValue(repr).node, Infinity) === repr;
    }), { numRuns: 500 });
  });
});

describe('pyNum', () => {
  it("writes Python's repr of the number a JSON number reads as, as the engine's pyRepr does", () => {
    fc.assert(fc.property(fc.oneof(fc.double(), fc.integer(), fc.constantFrom(1e-9, 1e16, 2 ** 53, -0, 1e21, 5e-324)), (n) => pyNum(n) === pyRepr(n)), { numRuns: 2000 });
  });
});

describe('pyStr', () => {
  it("writes Python's repr of a str, as the engine's pyRepr does", () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 40 }), (s) => pyStr(s) === pyRepr(s)));
    expect(pyStr('a\'b')).toBe('"a\'b"');
    expect(pyStr('\u00e9\n\u200b')).toBe("'\u00e9\\n\\u200b'");
  });
});
