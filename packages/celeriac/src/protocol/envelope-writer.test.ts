import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeEnvelope, type EnvelopeOptions } from './envelope.js';
import { EnvelopeWriter } from './envelope-writer.js';
import type { Json, Message } from './types.js';

/** A task message as the producer lays it out (Celery's header order). */
function taskMessage(n: number, over: { headers?: Record<string, Json | undefined>; properties?: Record<string, Json | undefined>; body?: string } = {}): Message {
  const id = `00000000-0000-4000-8000-${String(n).padStart(12, '0')}`;
  return {
    headers: {
      lang: 'js',
      task: 'tasks.add',
      id,
      shadow: null,
      eta: null,
      expires: null,
      group: null,
      group_index: null,
      retries: 0,
      timelimit: [null, null],
      root_id: id,
      parent_id: null,
      argsrepr: `(${n}, 2)`,
      kwargsrepr: '{}',
      origin: 'gen1@host',
      ignore_result: false,
      ...over.headers,
    },
    properties: { correlation_id: id, reply_to: 'r-1', delivery_mode: 2, priority: 0, ...over.properties },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: over.body ?? `[[${n}, 2], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`,
  };
}

const opts = (n: number, over: Partial<EnvelopeOptions> = {}): EnvelopeOptions => ({ deliveryTag: `tag-${n}`, exchange: '', routingKey: 'celery', ...over });

/** Writes each message with one writer and checks every text against encodeEnvelope. */
function writeAll(items: readonly (readonly [Message, EnvelopeOptions])[]): EnvelopeWriter {
  const writer = new EnvelopeWriter();
  for (const [message, o] of items) expect(writer.write(message, o)).toBe(encodeEnvelope(message, o));
  return writer;
}

describe('EnvelopeWriter', () => {
  it('writes a bulk send of one task from a single layout', () => {
    const items = Array.from({ length: 50 }, (_, n) => [taskMessage(n), opts(n)] as const);
    expect(writeAll(items).filled).toBe(49);
  });

  it('fills ids, reprs, body and tag with any text, escaped as encodeEnvelope escapes it', () => {
    const odd = ['é', '\u0000', '"\\', '\ud83d\ude00', '\ud800', '\x7f\n'];
    const items = odd.map((s, n) => [taskMessage(n, { headers: { argsrepr: `(${s})`, kwargsrepr: s, root_id: s }, properties: { correlation_id: s }, body: `[["${s}"], {}, {}]` }), opts(n, { deliveryTag: s })] as const);
    expect(writeAll(items).filled).toBe(odd.length - 1);
  });

  it('encodes in full, and starts a new layout, when any other field differs', () => {
    const items = [
      [taskMessage(1), opts(1)],
      [taskMessage(2, { headers: { task: 'tasks.mul' } }), opts(2)],
      [taskMessage(3, { headers: { task: 'tasks.mul' } }), opts(3)],
      [taskMessage(4, { headers: { timelimit: [10, null] } }), opts(4)],
      [taskMessage(5, { headers: { 'x-extra': 1 } }), opts(5)],
      [taskMessage(6, { properties: { priority: 5 } }), opts(6)],
      [taskMessage(7), opts(7, { routingKey: 'other' })],
      [taskMessage(8), opts(8, { routingKey: 'other' })],
      [taskMessage(9, { headers: { root_id: null } }), opts(9, { routingKey: 'other' })],
    ] as const;
    // Only 3 (after 2) and 8 (after 7) share everything but their slots with the one before.
    expect(writeAll(items).filled).toBe(2);
  });

  it('needs the same header order, not only the same headers', () => {
    const a = taskMessage(1);
    const { lang, ...rest } = taskMessage(2).headers;
    const b: Message = { ...taskMessage(2), headers: { ...rest, lang } };
    expect(writeAll([[a, opts(1)], [b, opts(2)]]).filled).toBe(0);
  });

  it('lays out no reference whose slot holds something other than text', () => {
    const items = [taskMessage(1, { headers: { root_id: null } }), taskMessage(2), taskMessage(3)].map((m, n) => [m, opts(n)] as const);
    expect(writeAll(items).filled).toBe(0);
  });

  it('refuses a layout when a field holds its marker text, and still writes every envelope right', () => {
    const sneaky = { headers: { 'x-note': '\u0000celeriac-slot-0' } };
    const items = [0, 1, 2].map((n) => [taskMessage(n, sneaky), opts(n)] as const);
    expect(writeAll(items).filled).toBe(0);
  });

  it('writes what encodeEnvelope writes on random runs of mostly alike messages', () => {
    const text = fc.string({ unit: 'binary', maxLength: 12 });
    type Change = { headers?: Record<string, Json>; properties?: Record<string, Json> };
    const change: fc.Arbitrary<Change> = fc.oneof(
      { weight: 6, arbitrary: fc.constant<Change>({}) },
      { weight: 1, arbitrary: fc.record<Change>({ headers: fc.dictionary(fc.constantFrom('task', 'retries', 'timelimit', 'root_id', 'x-a', 'id', '__proto__'), fc.jsonValue({ maxDepth: 2 }) as fc.Arbitrary<Json>, { maxKeys: 2 }) }) },
      { weight: 1, arbitrary: fc.record<Change>({ properties: fc.dictionary(fc.constantFrom('priority', 'origin', 'correlation_id', '7'), fc.jsonValue({ maxDepth: 1 }) as fc.Arbitrary<Json>, { maxKeys: 2 }) }) },
    );
    const step = fc.record({ slots: fc.tuple(text, text, text, text), body: fc.string({ unit: 'binary', maxLength: 40 }), routingKey: fc.constantFrom('celery', 'celery', 'other'), change });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 25 }), (steps) => {
        const items = steps.map(({ slots: [id, argsrepr, kwargsrepr, tag], body, routingKey, change: c }, n) => {
          const message = taskMessage(n, { headers: { id, argsrepr, kwargsrepr, ...c.headers }, properties: { correlation_id: id, ...c.properties }, body });
          return [message, opts(n, { deliveryTag: tag, routingKey })] as const;
        });
        writeAll(items);
      }),
      { numRuns: 300 },
    );
  });
  it('is not fooled by a message changed in place after it was sent (a writer lives as long as its broker)', () => {
    const writer = new EnvelopeWriter();
    const first = taskMessage(1);
    writer.write(first, opts(1));
    writer.write(taskMessage(2), opts(2));
    // The caller reuses the first message: new ids, and a field outside the slots changed too.
    Object.assign(first.headers, { id: 'id-3', root_id: 'id-3', retries: 4, timelimit: [null, null] });
    (first.headers['timelimit'] as Json[])[0] = 30;
    first.properties.correlation_id = 'id-3';
    expect(writer.write(first, opts(3))).toBe(encodeEnvelope(first, opts(3)));
  });

  it('never lays out over an object-valued field, which a caller may change in place', () => {
    const shared: Record<string, Json> = { region: 'eu' };
    const items = [0, 1].map((n) => [taskMessage(n, { headers: { 'x-route': shared } }), opts(n)] as const);
    const writer = writeAll(items);
    shared['region'] = 'us';
    const later = taskMessage(2, { headers: { 'x-route': shared } });
    expect(writer.write(later, opts(2))).toBe(encodeEnvelope(later, opts(2)));
    expect(writer.filled).toBe(0);
  });
});
