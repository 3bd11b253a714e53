import { describe, expect, it } from 'vitest';
import { parseSetAsideText, resolveSetAsideLimits, setAsideRecordText, type SetAsideFields } from './set-aside.js';

const utf8 = (s: string) => Buffer.byteLength(s, 'utf8');
/** A Celery envelope whose body comes first (as Python writes it), `pad` characters of it. */
const envelope = (pad: string) => JSON.stringify({ body: pad, 'content-type': 'application/json', headers: { task: 'proj.resize', id: 'abc-123' }, properties: { delivery_tag: 't' } });
const fields = (raw: string): SetAsideFields => ({ raw, queue: 'images', reason: 'bad body', at: 1_700_000_000_000, category: 'dead-letter' });

describe('set-aside records', () => {
  it('keeps a record within the bound whole', () => {
    const text = setAsideRecordText(fields(envelope('x')), 4096);
    expect(parseSetAsideText(text)).toMatchObject({ raw: envelope('x'), queue: 'images', reason: 'bad body', category: 'dead-letter' });
    expect(parseSetAsideText(text)?.truncated).toBeUndefined();
  });

  it('cuts a record over the bound to the bound, keeping its metadata, size and the task named at the envelope\'s end', () => {
    for (const pad of ['a'.repeat(300_000), '"\\\n'.repeat(100_000), 'é€😀'.repeat(50_000)]) {
      const raw = envelope(pad);
      const text = setAsideRecordText(fields(raw), 4096);
      expect(utf8(text)).toBeLessThanOrEqual(4096);
      const r = parseSetAsideText(text);
      expect(r).toMatchObject({ queue: 'images', reason: 'bad body', at: 1_700_000_000_000, category: 'dead-letter', truncated: utf8(raw), task: 'proj.resize', taskId: 'abc-123' });
      expect(raw.startsWith(r?.raw ?? 'no')).toBe(true);
      expect(utf8(r?.raw ?? '')).toBeGreaterThan(1000);
    }
  });

  it('a truncated record of garbage has no task, and a huge reason is cut too', () => {
    const text = setAsideRecordText({ ...fields('\u0000'.repeat(50_000)), reason: 'r'.repeat(10_000) }, 2048);
    expect(utf8(text)).toBeLessThanOrEqual(2048);
    const r = parseSetAsideText(text);
    expect(r?.task).toBeUndefined();
    expect(r?.reason).toMatch(/^r{100,2000}$/);
  });

  it('reads records written before categories as malformed, and skips what is not ours', () => {
    expect(parseSetAsideText(JSON.stringify({ raw: 'x', queue: 'q', reason: 'r', at: 1 }))?.category).toBe('malformed');
    expect(parseSetAsideText('not json')).toBeNull();
    expect(parseSetAsideText('null')).toBeNull();
  });
});

describe('set-aside quotas', () => {
  it('gives each part its own bounds, and a record bound of a sixteenth of the part (1 KiB to 4 MiB)', () => {
    const q = resolveSetAsideLimits({ setAsideMaxCount: 5, deadLetterMaxBytes: 32_000 }, 'T');
    expect(q.malformed).toEqual({ maxCount: 5, maxBytes: 67_108_864, maxRecordBytes: 4_194_304 });
    expect(q['dead-letter']).toEqual({ maxCount: 10_000, maxBytes: 32_000, maxRecordBytes: 2000 });
    expect(resolveSetAsideLimits({ setAsideMaxBytes: 5000 }, 'T').malformed.maxRecordBytes).toBe(1024);
    expect(resolveSetAsideLimits({ setAsideMaxBytes: 5000, setAsideMaxRecordBytes: 9000 }, 'T').malformed.maxRecordBytes).toBe(5000);
  });

  it('refuses bounds that are not positive integers, and a record bound too small for the metadata', () => {
    expect(() => resolveSetAsideLimits({ deadLetterMaxCount: 0 }, 'T')).toThrow(/deadLetterMaxCount must be a positive integer/);
    expect(() => resolveSetAsideLimits({ setAsideMaxRecordBytes: 100 }, 'T')).toThrow(/at least 1024/);
  });
});
