import { describe, expect, it } from 'vitest';
import { toSqlJson } from './sql-json.js';

describe('toSqlJson', () => {
  it('replaces NUL and lone surrogates, keeps pairs and literal backslash text', () => {
    const text = toSqlJson({ a: 'x\u0000y', b: '\ud800', c: '😀', d: '\\u0000 stays text', e: '\\\u0000' });
    expect(JSON.parse(text)).toEqual({ a: 'x\ufffdy', b: '\ufffd', c: '😀', d: '\\u0000 stays text', e: '\\\ufffd' });
  });
});
