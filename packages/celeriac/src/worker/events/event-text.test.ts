import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../errors.js';
import { buildEvent, decodeEventEnvelope, encodeEventEnvelope, type EventDict } from '../../protocol/events.js';
import { pyJsonStringify, pyNumberRepr } from '../../protocol/py-json.js';
import { safeRepr } from '../../protocol/repr.js';
import type { Json } from '../../protocol/types.js';
import { AsciiJsonWriter, asciiBytes, KEEP_BYTES, numberText, quoteInside } from './ascii-json.js';
import { eventKey, resultRepr, TaskEventBatch } from './event-text.js';

interface Sent {
  type: string;
  clock: number;
  fields: Record<string, Json | undefined>;
  /** The clock's epoch milliseconds. */
  nowMs: number;
}

/** What the dispatcher wrote before event-text: buildEvent's dicts through the generic writer. */
function viaDicts(events: Sent[], common: { hostname: string; utcoffset: number; pid: number }, tag: string): string {
  const dicts = events.map((e) => buildEvent(e.type, { ...common, clock: e.clock, timestamp: e.nowMs / 1000 }, e.fields));
  return encodeEventEnvelope(dicts, { hostname: common.hostname, routingKey: 'task.multi', deliveryTag: tag });
}

function viaText(events: Sent[], common: { hostname: string; utcoffset: number; pid: number }, tag: string, batch = new TaskEventBatch()): string {
  batch.begin(common.hostname, common.utcoffset, common.pid);
  for (const e of events) {
    batch.open(e.clock);
    batch.fields(e.fields);
    batch.close(e.type, e.nowMs);
  }
  return batch.envelope(common.hostname, 'task.multi', tag).toString('latin1');
}

const received = (id: string): Record<string, Json | undefined> => ({
  uuid: id, name: 'tasks.add', args: '(2, 3)', kwargs: "{'x': 'é\"\\n'}", root_id: id, parent_id: null, retries: 0, eta: null, expires: '2026-11-25T04:00:00.250000+00:00',
});

describe('event text', () => {
  it('is byte for byte the envelope of buildEvent dicts, for the events a worker sends', () => {
    const common = { hostname: 'w1@höst', utcoffset: -1, pid: 4242 };
    const events = [
      { type: 'task-received', clock: 7, fields: received('a'), nowMs: 1_795_269_934_123 },
      { type: 'task-started', clock: 8, fields: { uuid: 'a' }, nowMs: 1_795_269_934_000 },
      { type: 'task-succeeded', clock: 9, fields: { uuid: 'a', result: resultRepr({ n: [1, 2.5] }), runtime: 0.000_012_3 }, nowMs: 1_795_269_934_500 },
      { type: 'task-failed', clock: 10, fields: { uuid: 'b', exception: "ValueError('x')", traceback: 'Traceback:\n  ☃' }, nowMs: 1e-2 },
      { type: 'task-revoked', clock: 11, fields: { uuid: 'c', terminated: true, signum: null, expired: false, ignored: undefined, type: 'spoof', timestamp: 3 }, nowMs: 2000 },
      { type: 'task-rejected', clock: 12, fields: { uuid: 'd', requeue: false, big: 'x'.repeat(5000), n: -12, f: 2 ** 53 + 2 }, nowMs: 1_795_269_934_070 },
    ];
    const text = viaText(events, common, 'tag-1');
    expect(text).toBe(viaDicts(events, common, 'tag-1'));
    expect(decodeEventEnvelope(text).map((e: EventDict) => e.type)).toEqual(['task-received', 'task-started', 'task-succeeded', 'task-failed', 'task-revoked', 'task-rejected']);
  });

  it('leaves out a field named as a member the sender sets, as buildEvent does', () => {
    // fast-check found it (seed -1261743693): a field `pid` was written a second time.
    const common = { hostname: 'w1@h', utcoffset: 0, pid: 4242 };
    const events = [{ type: 'task-started', clock: 3, fields: { uuid: 'a', pid: 1, hostname: 'spoof', utcoffset: 9, clock: 99, n: 1 }, nowMs: 1000 }];
    const text = viaText(events, common, 'tag-1');
    expect(text).toBe(viaDicts(events, common, 'tag-1'));
    expect(decodeEventEnvelope(text)).toEqual([{ hostname: 'w1@h', utcoffset: 0, pid: 4242, clock: 3, uuid: 'a', n: 1, timestamp: 1, type: 'task-started' }]);
  });

  it('matches the generic writer for any fields, clocks and timestamps', () => {
    const key = fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !/^\d+$/.test(k) && k !== '__proto__');
    const field = fc.oneof(
      fc.constant(undefined),
      fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>,
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      fc.integer(),
      fc.string({ unit: 'binary', maxLength: 100 }),
    );
    const event = fc.record({
      type: fc.string(),
      clock: fc.nat(),
      fields: fc.dictionary(key, field, { maxKeys: 6 }),
      nowMs: fc.oneof(fc.integer({ min: 0, max: 4e12 }), fc.maxSafeInteger(), fc.double({ min: 0, max: 4e12, noNaN: true }), fc.double({ noNaN: true, noDefaultInfinity: true })),
    });
    const common = fc.record({ hostname: fc.string({ unit: 'binary' }), utcoffset: fc.integer({ min: -14, max: 14 }), pid: fc.nat() });
    // One batch for every run, as the dispatcher keeps one: what a batch leaves behind must not show in the next.
    const batch = new TaskEventBatch();
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 5 }), common, fc.uuid(), (events, c, tag) => {
        expect(viaText(events, c, tag, batch)).toBe(viaDicts(events, c, tag));
      }),
      { numRuns: 500 },
    );
  });

  it('grows past its buffer for a huge batch, and takes back an event that could not be written', () => {
    const common = { hostname: 'w@h', utcoffset: 0, pid: 1 };
    const batch = new TaskEventBatch();
    const events: Sent[] = Array.from({ length: 300 }, (_, i) => ({ type: 'task-failed', clock: i, fields: { uuid: `id-${i}`, traceback: `Traceback ${'y'.repeat(i * 7)}` }, nowMs: 1_795_269_934_000 + i }));
    expect(viaText(events, common, 't', batch)).toBe(viaDicts(events, common, 't'));
    batch.begin('w@h', 0, 1);
    batch.open(1);
    batch.field(eventKey('x'), 'half written');
    expect(() => batch.fields({ runtime: Number.NaN })).toThrow();
    batch.abandon();
    expect([batch.count, batch.length]).toEqual([0, 0]);
    expect(viaText(events.slice(0, 2), common, 't', batch)).toBe(viaDicts(events.slice(0, 2), common, 't'));
  });

  it('hands out envelopes no later batch writes over, and writes later batches in the buffers given back', () => {
    const common = { hostname: 'w@h', utcoffset: 0, pid: 1 };
    const batch = new TaskEventBatch();
    const events = (n: number): Sent[] => [{ type: 'task-started', clock: n, fields: { uuid: `id-${n}` }, nowMs: 1_795_269_934_000 + n }];
    const write = (n: number): Buffer => {
      batch.begin(common.hostname, common.utcoffset, common.pid);
      for (const e of events(n)) {
        batch.open(e.clock);
        batch.fields(e.fields);
        batch.close(e.type, e.nowMs);
      }
      return batch.envelope(common.hostname, 'task.multi', `tag-${n}`);
    };
    const expected = (n: number): string => viaDicts(events(n), common, `tag-${n}`);
    const a = write(1);
    const b = write(2);
    expect(a.buffer).not.toBe(b.buffer);
    batch.recycle(a);
    // Given back twice, or something never handed out: ignored, else two batches would share a buffer.
    batch.recycle(a);
    batch.recycle(Buffer.from('not an envelope'));
    // The batch after the one being written when it came back.
    const c = write(3);
    const d = write(4);
    expect(d.buffer).toBe(a.buffer);
    const e = write(5);
    expect([b.buffer, c.buffer, e.buffer]).not.toContain(a.buffer);
    expect([b, c, d, e].map((x) => x.toString('latin1'))).toEqual([expected(2), expected(3), expected(4), expected(5)]);
    // A buffer a huge event grew past KEEP_BYTES is let go, not kept for every batch after.
    batch.begin(common.hostname, common.utcoffset, common.pid);
    batch.open(9);
    batch.fields({ uuid: 'big', traceback: 'x'.repeat(KEEP_BYTES) });
    batch.close('task-failed', 1_795_269_934_000);
    const big = batch.envelope(common.hostname, 'task.multi', 'tag-big');
    expect(big.buffer.byteLength).toBeGreaterThan(KEEP_BYTES);
    batch.recycle(big);
    expect([write(10), write(11), write(12)].map((x) => x.buffer.byteLength)).toEqual(expect.not.arrayContaining([big.buffer.byteLength]));
  });

  it('writes strings as py-json does on both sides of the loop-or-native length, escapes at every place', () => {
    const w = new AsciiJsonWriter(16);
    for (const length of [0, 1, 7, 8, 9, 36, 63, 64, 65, 300]) {
      for (const odd of ['', '"', '\\', '\n', '\x7f', 'é', '\u2028', '\ud83d\ude00', '\ud800']) {
        for (const at of ['start', 'end']) {
          const plain = 'a'.repeat(Math.max(0, length - odd.length));
          const text = at === 'start' ? odd + plain : plain + odd;
          w.length = 0;
          w.string(text);
          expect(w.bytes.toString('latin1')).toBe(pyJsonStringify(text));
        }
      }
    }
  });

  it('writes a string member as its key then the string, plain and quoted, the escape path keeping the key', () => {
    const key = ', "k": ';
    for (const quoted of [false, true]) {
      const w = new AsciiJsonWriter(8, { quoted });
      for (const length of [0, 1, 36, 63, 64, 65, 300]) {
        for (const odd of ['', '"', '\\', '\n', 'é', '\ud83d\ude00']) {
          const text = 'a'.repeat(Math.max(0, length - odd.length)) + odd;
          w.length = 0;
          // Constant bytes are the caller's to escape, as event-text does.
          w.ascii(quoted ? quoteInside('{"a": 1') : '{"a": 1');
          w.member(asciiBytes(quoted ? quoteInside(key) : key), text);
          const plain = `{"a": 1${key}${pyJsonStringify(text)}`;
          expect(w.bytes.toString('latin1')).toBe(quoted ? quoteInside(plain) : plain);
        }
      }
    }
  });

  it('writes, quoted, the inside of a JSON string that holds what the plain writer writes', () => {
    const plain = new AsciiJsonWriter(16);
    const quoted = new AsciiJsonWriter(16, { quoted: true });
    const values: Json[] = [null, true, 12, -3, 0.5, 'a', 'id-with-no-escapes-longer-than-tiny', 'q"uote', 'back\\slash\n', 'é☃', { a: ['"', '\\'] }, ['x"y', 1]];
    for (const value of values) {
      plain.length = 0;
      quoted.length = 0;
      plain.value(value);
      quoted.value(value);
      const inside = quoted.bytes.toString('latin1');
      expect(inside).toBe(quoteInside(plain.bytes.toString('latin1')));
      // As a kombu reader sees it: the envelope's string, then the JSON it holds.
      expect(JSON.parse(JSON.parse(`"${inside}"`) as string)).toEqual(JSON.parse(pyJsonStringify(value)));
    }
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 80 }), (text) => {
        quoted.length = 0;
        quoted.string(text);
        return JSON.parse(`"${quoted.bytes.toString('latin1')}"`) === pyJsonStringify(text);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes numbers as py-json does, the shortcut range and its edges included', () => {
    for (const n of [0, -0, 1, -1, 1e-4, 9.999e-5, 1e16 - 2, 1e16, 1.5e15 + 0.5, 1e21, 1e21 - 65536, 2 ** 53 + 2, 0.1 + 0.2, 1_795_269_934.123, -1e-7, 5e-324, Number.MAX_VALUE]) {
      expect(numberText(n)).toBe(pyNumberRepr(n));
    }
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => numberText(n) === pyNumberRepr(n)), { numRuns: 5000 });
  });

  it("writes a clock's milliseconds as the seconds py-json writes for ms / 1000, at the edges of the digit-by-digit range too", () => {
    const seconds = (ms: number): string => {
      const out = new AsciiJsonWriter(4);
      out.seconds(ms);
      return out.bytes.toString('latin1');
    };
    for (const ms of [0, 1, 10, 100, 999, 1000, 1001, 1010, 1100, 1_795_269_934_070, 1e15 - 1, 1e15, 1e15 + 1, 2 ** 53 + 2, 0.5, 1e-2, 1_795_269_934_000.25]) {
      expect(seconds(ms), String(ms)).toBe(pyNumberRepr(ms / 1000));
    }
    fc.assert(fc.property(fc.oneof(fc.integer({ min: 0, max: 1e15 + 1000 }), fc.integer({ min: 1.7e12, max: 1.9e12 })), (ms) => seconds(ms) === pyNumberRepr(ms / 1000)), { numRuns: 5000 });
  });

  it('refuses what the generic writer refuses (NaN, infinities, a Map), with the same error', () => {
    const batch = new TaskEventBatch();
    batch.begin('w@h', 0, 1);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, new Map() as unknown as Json]) {
      batch.open(1);
      expect(() => batch.fields({ runtime: bad })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
      batch.abandon();
      expect(() => pyJsonStringify({ runtime: bad })).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
    }
  });

  it('writes a result as saferepr does, long, quoted and nested values included', () => {
    const cases: Json[] = [null, true, false, 0, -2.5, 1e300, '', "it's", 'x'.repeat(1023), 'x'.repeat(1024), `${'ab '.repeat(400)}`, '☃'.repeat(1100), [1, 'a'], { a: { b: { c: { d: 1 } } } }];
    for (const value of cases) expect(resultRepr(value)).toBe(safeRepr(value));
    fc.assert(fc.property(fc.jsonValue() as fc.Arbitrary<Json>, (value) => resultRepr(value) === safeRepr(value)), { numRuns: 300 });
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 1200 }), (value) => resultRepr(value) === safeRepr(value)), { numRuns: 300 });
  });
});
