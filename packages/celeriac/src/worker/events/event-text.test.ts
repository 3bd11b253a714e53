import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../../errors.js';
import { buildEvent, decodeEventEnvelope, encodeEventEnvelope, type EventDict } from '../../protocol/events.js';
import { pyJsonStringify, pyNumberRepr } from '../../protocol/py-json.js';
import { safeRepr } from '../../protocol/repr.js';
import type { Json } from '../../protocol/types.js';
import { batchText, envelopeBytes, eventHead, eventText, numberText, resultRepr } from './event-text.js';

/** What the dispatcher wrote before event-text: buildEvent's dicts through the generic writer. */
function viaDicts(events: { type: string; clock: number; fields: Record<string, Json | undefined>; timestamp: number }[], common: { hostname: string; utcoffset: number; pid: number }, tag: string): string {
  const dicts = events.map((e) => buildEvent(e.type, { ...common, clock: e.clock, timestamp: e.timestamp }, e.fields));
  return encodeEventEnvelope(dicts, { hostname: common.hostname, routingKey: 'task.multi', deliveryTag: tag });
}

function viaText(events: { type: string; clock: number; fields: Record<string, Json | undefined>; timestamp: number }[], common: { hostname: string; utcoffset: number; pid: number }, tag: string): string {
  const head = eventHead(common.hostname, common.utcoffset, common.pid);
  const texts = events.map((e) => eventText(head, e.clock, e.type, e.fields, e.timestamp));
  return envelopeBytes(batchText(texts), common.hostname, 'task.multi', tag).toString('utf8');
}

const received = (id: string): Record<string, Json | undefined> => ({
  uuid: id, name: 'tasks.add', args: '(2, 3)', kwargs: "{'x': 'é\"\\n'}", root_id: id, parent_id: null, retries: 0, eta: null, expires: '2026-11-25T04:00:00.250000+00:00',
});

describe('event text', () => {
  it('is byte for byte the envelope of buildEvent dicts, for the events a worker sends', () => {
    const common = { hostname: 'w1@höst', utcoffset: -1, pid: 4242 };
    const events = [
      { type: 'task-received', clock: 7, fields: received('a'), timestamp: 1_795_269_934.123 },
      { type: 'task-started', clock: 8, fields: { uuid: 'a' }, timestamp: 1_795_269_934 },
      { type: 'task-succeeded', clock: 9, fields: { uuid: 'a', result: resultRepr({ n: [1, 2.5] }), runtime: 0.000_012_3 }, timestamp: 1_795_269_934.5 },
      { type: 'task-failed', clock: 10, fields: { uuid: 'b', exception: "ValueError('x')", traceback: 'Traceback:\n  ☃' }, timestamp: 1e-5 },
      { type: 'task-revoked', clock: 11, fields: { uuid: 'c', terminated: true, signum: null, expired: false, ignored: undefined, type: 'spoof', timestamp: 3 }, timestamp: 2 },
    ];
    const text = viaText(events, common, 'tag-1');
    expect(text).toBe(viaDicts(events, common, 'tag-1'));
    expect(decodeEventEnvelope(text).map((e: EventDict) => e.type)).toEqual(['task-received', 'task-started', 'task-succeeded', 'task-failed', 'task-revoked']);
  });

  it('matches the generic writer for any fields, clocks and timestamps', () => {
    const key = fc.string({ minLength: 1, maxLength: 8 }).filter((k) => !/^\d+$/.test(k) && k !== '__proto__');
    const field = fc.oneof(fc.constant(undefined), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, fc.double({ noNaN: true, noDefaultInfinity: true }));
    const event = fc.record({
      type: fc.string(),
      clock: fc.nat(),
      fields: fc.dictionary(key, field, { maxKeys: 6 }),
      timestamp: fc.oneof(fc.double({ min: 0, max: 4e9, noNaN: true }), fc.double({ noNaN: true, noDefaultInfinity: true })),
    });
    const common = fc.record({ hostname: fc.string(), utcoffset: fc.integer({ min: -14, max: 14 }), pid: fc.nat() });
    fc.assert(
      fc.property(fc.array(event, { minLength: 1, maxLength: 5 }), common, fc.uuid(), (events, c, tag) => {
        expect(viaText(events, c, tag)).toBe(viaDicts(events, c, tag));
      }),
      { numRuns: 500 },
    );
  });

  it('writes numbers as py-json does, the shortcut range and its edges included', () => {
    for (const n of [0, -0, 1, -1, 1e-4, 9.999e-5, 1e16 - 2, 1e16, 1.5e15 + 0.5, 1e21, 1e21 - 65536, 2 ** 53 + 2, 0.1 + 0.2, 1_795_269_934.123, -1e-7, 5e-324, Number.MAX_VALUE]) {
      expect(numberText(n)).toBe(pyNumberRepr(n));
    }
    fc.assert(fc.property(fc.double({ noNaN: true, noDefaultInfinity: true }), (n) => numberText(n) === pyNumberRepr(n)), { numRuns: 5000 });
  });

  it('refuses what the generic writer refuses (NaN, infinities, a Map), with the same error', () => {
    const head = eventHead('w@h', 0, 1);
    for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, new Map() as unknown as Json]) {
      expect(() => eventText(head, 1, 'task-x', { runtime: bad }, 1)).toThrow(expect.objectContaining({ code: ErrorCodes.INVALID_ARGUMENT }));
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
