import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { encodeEnvelope } from './envelope.js';
import { EnvelopeReader } from './envelope-reader.js';
import type { Json, Message } from './types.js';

const HEADERS: Record<string, Json> = {
  lang: 'py', task: 'proj.add', id: '', shadow: null, eta: null, expires: null, group: null, group_index: null, retries: 0,
  timelimit: [null, null], root_id: '', parent_id: null, argsrepr: '', kwargsrepr: '{}', origin: 'gen7@host', ignore_result: false,
};

/** The envelope text of task `n` of a run; `vary` changes any header, property or the body. */
function envelope(n: number, vary: { headers?: Record<string, Json>; properties?: Record<string, Json>; body?: string; tag?: string } = {}): string {
  const id = `5b1e${String(n).padStart(4, '0')}-0000-4000-8000-000000000000`;
  const message: Message = {
    headers: { ...HEADERS, id, root_id: id, argsrepr: `(${n}, 'x')`, ...vary.headers },
    properties: { correlation_id: id, reply_to: 'c1f0e8aa-1', delivery_mode: 2, priority: 0, ...vary.properties },
    contentType: 'application/json',
    contentEncoding: 'utf-8',
    body: vary.body ?? `[[${n}, "x"], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]`,
  };
  return encodeEnvelope(message, { exchange: '', routingKey: 'celery', deliveryTag: vary.tag ?? `tag-${n}` });
}

/** Reads every text with one reader, checking each value against JSON.parse's. */
function readAll(texts: readonly string[], reader = new EnvelopeReader()): EnvelopeReader {
  for (const text of texts) expect(reader.parse(text)).toStrictEqual(JSON.parse(text));
  return reader;
}

describe('EnvelopeReader', () => {
  it('reads a run of one task from the layout of its first envelope', () => {
    const reader = readAll(Array.from({ length: 40 }, (_, n) => envelope(n)));
    expect(reader.read).toBe(39);
  });

  it('gives a fresh value each time: changing one leaves the next ones alone', () => {
    const reader = new EnvelopeReader();
    const first = reader.parse(envelope(1)) as { headers: { timelimit: Json[]; id: string }; properties: { delivery_info: Record<string, string> } };
    first.headers.timelimit.push(99);
    first.headers.id = 'changed';
    first.properties.delivery_info['routing_key'] = 'changed';
    const second = reader.parse(envelope(2)) as typeof first;
    first.headers.timelimit.push(98);
    (second.headers as Record<string, Json>)['extra'] = true;
    expect(reader.parse(envelope(3))).toStrictEqual(JSON.parse(envelope(3)));
    expect(reader.read).toBe(2);
  });

  it('parses in full a value with an escape, a control character or text past ASCII, and goes on reading the run after it', () => {
    const odd = ['say "hi"', 'back\\slash', 'tab\there', 'é', '\u0000', '\ud83d\ude00', '\ud800', '\u2028'];
    const texts = [envelope(0), ...odd.map((s, n) => envelope(n + 1, { headers: { argsrepr: s, kwargsrepr: s }, properties: { correlation_id: s }, tag: s, body: `["${s}"]` })), envelope(99)];
    expect(readAll(texts).read).toBe(1);
  });

  it('parses in full, and learns the new layout, when any other member differs', () => {
    const texts = [
      envelope(0), envelope(1),
      envelope(2, { headers: { task: 'proj.mul' } }), envelope(3, { headers: { task: 'proj.mul' } }),
      envelope(4, { headers: { retries: 1 } }),
      envelope(5, { headers: { eta: '2026-12-03T10:00:00+00:00' } }),
      envelope(6, { properties: { priority: 3 } }),
      envelope(7, { headers: { timelimit: [10, null] } }),
      envelope(8),
    ];
    // 1 from 0's layout; 3 from 2's; 8 from 0's again (kept beside the others).
    expect(readAll(texts).read).toBe(3);
  });

  it('never takes a text that is not the layout with other values for one: garbage is parsed, and refused, as JSON.parse does', () => {
    const reader = new EnvelopeReader();
    reader.parse(envelope(0));
    const good = envelope(1);
    const bad = [good.slice(0, -1), `${good} `, `${good}x`, good.replace('"tag-1"', '"tag-1" '), good.replace(', "retries": 0', ', "retries": 0, "retries": 1'), good.replace('"argsrepr": "', '"argsrepr": "\\'), good.replace('"body": "', '"body": "\n')];
    for (const text of bad) {
      let expected: unknown;
      try {
        expected = JSON.parse(text);
      } catch (err) {
        expect(() => reader.parse(text)).toThrow((err as Error).constructor as new () => Error);
        continue;
      }
      expect(reader.parse(text)).toStrictEqual(expected);
    }
    expect(reader.read).toBe(0);
    expect(reader.parse(good)).toStrictEqual(JSON.parse(good));
    expect(reader.read).toBe(1);
  });

  it('learns no layout from an envelope with a __proto__ member or a value that looks like its markers', () => {
    const proto = envelope(0).replace('"lang": "py"', '"__proto__": {"polluted": true}, "lang": "py"');
    const marked = (n: number) => envelope(n, { headers: { origin: '\u0001celeriac-slot-1\u0001' } });
    for (const texts of [[proto, proto, proto], [marked(1), marked(2), marked(3)]]) {
      const reader = readAll(texts);
      expect(reader.read).toBe(0);
    }
    const parsed = new EnvelopeReader().parse(proto) as { headers: object };
    expect(Object.getPrototypeOf(parsed.headers)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('learns no layout from a text over 64 KiB; one learned from a smaller text reads big ones', () => {
    const big = 'A'.repeat(70 * 1024);
    expect(readAll([envelope(0, { body: big }), envelope(1, { body: big })]).read).toBe(0);
    const reader = readAll([envelope(0, { body: big.slice(0, 1000) }), envelope(1, { body: big })]);
    expect(reader.read).toBe(1);
  });

  it('parses an envelope nested too deep for a walk of its value, as JSON.parse does', () => {
    const deep = `${'['.repeat(30_000)}${']'.repeat(30_000)}`;
    const text = envelope(0).replace('"timelimit": [null, null]', `"timelimit": ${deep}`);
    const reader = new EnvelopeReader();
    const parsed = reader.parse(text) as { headers: Record<string, unknown> };
    expect(parsed.headers['id']).toBe(JSON.parse(text).headers.id);
    let depth = 0;
    for (let v = parsed.headers['timelimit']; Array.isArray(v); v = v[0]) depth++;
    expect(depth).toBe(30_000);
    expect(reader.tried).toBe(1);
    expect(reader.parse(envelope(1))).toStrictEqual(JSON.parse(envelope(1)));
  });

  it('gives values of their own: an id kept by the application keeps no envelope alive', () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const reader = new EnvelopeReader();
    reader.parse(envelope(0));
    const kept: string[] = [];
    gc();
    const before = process.memoryUsage().heapUsed;
    for (let n = 1; n <= 50; n++) {
      const value = reader.parse(envelope(n, { body: 'x'.repeat(1_000_000) })) as { headers: Record<string, string>; properties: Record<string, string> };
      kept.push(value.headers['id'] as string, value.headers['argsrepr'] as string, value.properties['delivery_tag'] as string);
    }
    gc();
    // Views of their texts, the 150 values would keep 50 MB.
    expect(process.memoryUsage().heapUsed - before).toBeLessThan(10_000_000);
    expect(reader.read).toBe(50);
    expect(kept[0]).toBe(JSON.parse(envelope(1)).headers.id);
  });

  it('learns no layout from text other than py-json writes (compact JSON), and parses all of it in full', () => {
    const compact = Array.from({ length: 5 }, (_, n) => JSON.stringify(JSON.parse(envelope(n))));
    expect(readAll(compact).read).toBe(0);
  });

  it('tries to learn at most once in 64 parses while no layout pays off', () => {
    // Every text of its own layout: without the bound, each would be parsed, then learned.
    const texts = Array.from({ length: 640 }, (_, n) => envelope(n, { headers: { retries: n } }));
    const reader = readAll(texts);
    expect(reader.read).toBe(0);
    expect(reader.tried).toBe(640 / 64);
    // A run that follows is learned from its first text and read from there.
    readAll(Array.from({ length: 10 }, (_, n) => envelope(n)), reader);
    expect(reader.read).toBeGreaterThanOrEqual(1);
  });

  it('gives what JSON.parse gives for any run of envelopes (property)', () => {
    const value = fc.oneof(fc.string(), fc.string({ unit: 'binary' }), fc.constantFrom('', '"', '\\', '\u0000'));
    const item = fc.record({ argsrepr: value, kwargsrepr: value, id: value, tag: value, body: value, retries: fc.constantFrom(0, 1), task: fc.constantFrom('a', 'b') });
    fc.assert(
      fc.property(fc.array(item, { maxLength: 30 }), (items) => {
        const reader = new EnvelopeReader();
        items.forEach((it, n) => {
          const text = envelope(n, { headers: { argsrepr: it.argsrepr, kwargsrepr: it.kwargsrepr, id: it.id, retries: it.retries, task: it.task }, tag: it.tag, body: it.body });
          expect(reader.parse(text)).toStrictEqual(JSON.parse(text));
        });
      }),
      { numRuns: 200 },
    );
  });
});
