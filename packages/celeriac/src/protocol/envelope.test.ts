import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeBase64Utf8, decodeEnvelope, encodeEnvelope, isRedelivered, markRedelivered } from './envelope.js';
import { ProtocolError, type ProtocolErrorReason } from './errors.js';
import { pyJsonStringify } from './py-json.js';
import { decodeTaskMessage } from './task-message.js';
import type { Json, Message, MessageProperties } from './types.js';

const golden = JSON.parse(
  readFileSync(new URL('./wire-golden.fixture.json', import.meta.url), 'utf8'),
) as { GOLDEN_ENVELOPE: string; GOLDEN_BODY: string };

function reasonOf(fn: () => unknown): ProtocolErrorReason | 'no-error' | 'other-error' {
  try {
    fn();
    return 'no-error';
  } catch (error) {
    return error instanceof ProtocolError ? error.reason : 'other-error';
  }
}

const minimal = (overrides: Record<string, unknown> = {}, props: Record<string, unknown> = {}): string =>
  JSON.stringify({
    body: '[[1, 2], {}, {}]',
    'content-encoding': 'utf-8',
    'content-type': 'application/json',
    headers: { task: 'tapp.add', id: 'x' },
    properties: { delivery_mode: 2, delivery_info: { exchange: '', routing_key: 'celery' }, priority: 0, delivery_tag: 't', ...props },
    ...overrides,
  });

describe('decodeEnvelope', () => {
  it('decodes the captured docs/protocol.md §1.1 envelope', () => {
    const decoded = decodeEnvelope(golden.GOLDEN_ENVELOPE);
    expect(decoded.deliveryTag).toBe('eed89619-2da4-4c1c-92dc-dd4553f5e6ba');
    expect(decoded.deliveryInfo).toEqual({ exchange: '', routing_key: 'celery' });
    expect(decoded.message.body).toBe(golden.GOLDEN_BODY);
    expect(decoded.message.contentType).toBe('application/json');
    expect(decoded.message.headers['task']).toBe('tapp.add');
    expect(decoded.message.properties).toEqual({
      correlation_id: '194f3aca-86a0-438d-a7a7-b9686dd3c5b6',
      reply_to: '6e8ab29b-2204-3121-ab02-8e0241d23d9e',
      delivery_mode: 2,
      priority: 0,
    });
  });

  it('re-encodes the §1.1 envelope byte for byte', () => {
    const { message, deliveryTag, deliveryInfo } = decodeEnvelope(golden.GOLDEN_ENVELOPE);
    const again = encodeEnvelope(message, {
      deliveryTag,
      exchange: deliveryInfo.exchange,
      routingKey: deliveryInfo.routing_key,
    });
    expect(again).toBe(golden.GOLDEN_ENVELOPE);
  });

  it('takes a body without body_encoding verbatim and fills kombu defaults', () => {
    const decoded = decodeEnvelope(minimal());
    expect(decoded.message.body).toBe('[[1, 2], {}, {}]');
    expect(decoded.message.properties.correlation_id).toBe('');
    expect(decoded.message.properties.reply_to).toBe('');
  });

  it('places extra properties after reply_to and expiration after delivery_mode', () => {
    const { message } = decodeEnvelope(minimal({}, { origin: 'gen1@h', replaced_task_nesting: 0, expiration: '60000', correlation_id: 'c', reply_to: 'r' }));
    const text = encodeEnvelope(message, { deliveryTag: 't', exchange: '', routingKey: 'celery' });
    const props = JSON.parse(text).properties as Record<string, unknown>;
    expect(Object.keys(props)).toEqual([
      'correlation_id', 'reply_to', 'origin', 'replaced_task_nesting', 'delivery_mode', 'expiration',
      'delivery_info', 'priority', 'body_encoding', 'delivery_tag',
    ]);
  });

  it.each([
    ['not JSON', '{"body": ', 'bad-json'],
    ['a JSON array', '[]', 'bad-envelope'],
    ['a JSON string', '"x"', 'bad-envelope'],
    ['no properties', minimal({ properties: undefined }), 'bad-envelope'],
    ['no delivery_tag', minimal({}, { delivery_tag: undefined }), 'bad-envelope'],
    ['delivery_tag not a string', minimal({}, { delivery_tag: 5 }), 'bad-envelope'],
    ['no delivery_info', minimal({}, { delivery_info: undefined }), 'bad-envelope'],
    ['headers not an object', minimal({ headers: [1] }), 'bad-envelope'],
    ['headers a string', minimal({ headers: 'x' }), 'bad-envelope'],
    ['body not a string', minimal({ body: [1, 2, 3] }), 'bad-envelope'],
    ['no content-type', minimal({ 'content-type': undefined }), 'bad-envelope'],
    ['bad delivery_mode', minimal({}, { delivery_mode: 'x' }), 'bad-envelope'],
    ['bad base64', minimal({ body: 'not base64!!' }, { body_encoding: 'base64' }), 'bad-encoding'],
    ['base64 without padding', minimal({ body: 'W1s' }, { body_encoding: 'base64' }), 'bad-encoding'],
    ['base64 of invalid UTF-8', minimal({ body: '//79' }, { body_encoding: 'base64' }), 'bad-encoding'],
    ['URL-safe base64', minimal({ body: 'W1-_' }, { body_encoding: 'base64' }), 'bad-encoding'],
    ['base64 with a line break', minimal({ body: 'W10=\nW10=' }, { body_encoding: 'base64' }), 'bad-encoding'],
    ['base64 with padding inside', minimal({ body: 'W1==W10=' }, { body_encoding: 'base64' }), 'bad-encoding'],
    ['unknown body_encoding', minimal({}, { body_encoding: 'rot13' }), 'bad-encoding'],
  ])('rejects %s', (_name, raw, reason) => {
    expect(reasonOf(() => decodeEnvelope(raw))).toBe(reason);
  });

  it('never throws anything but ProtocolError on arbitrary text', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.string().map((s) => minimal({ body: s }, { body_encoding: 'base64' }))), (raw) => {
        expect(reasonOf(() => decodeEnvelope(raw))).not.toBe('other-error');
      }),
      { numRuns: 1000 },
    );
  });

  it('survives hostile keys such as __proto__', () => {
    const raw = '{"body": "", "content-type": "application/json", "headers": {"__proto__": {"x": 1}}, "properties": {"__proto__": 5, "delivery_tag": "t", "delivery_info": {"exchange": "", "routing_key": "q"}}}';
    const decoded = decodeEnvelope(raw);
    expect(Object.getPrototypeOf(decoded.message.properties)).toBe(Object.prototype);
    expect(Object.keys(decoded.message.properties)).toContain('__proto__');
  });
});

// encodeEnvelope writes its text member by member; this is the plain statement of the
// layout it must produce (the envelope as one object, serialized in one go).
function envelopeAsObject(message: Message, opts: { deliveryTag: string; exchange: string; routingKey: string }): string {
  const placed = new Set(['correlation_id', 'reply_to', 'delivery_mode', 'expiration', 'delivery_info', 'priority', 'body_encoding', 'delivery_tag']);
  const props = message.properties;
  const properties: Record<string, unknown> = { correlation_id: props.correlation_id, reply_to: props.reply_to };
  for (const [key, value] of Object.entries(props)) {
    if (!placed.has(key) && value !== undefined) Object.defineProperty(properties, key, { value, enumerable: true, writable: true, configurable: true });
  }
  properties['delivery_mode'] = props.delivery_mode;
  if (props.expiration !== undefined) properties['expiration'] = props.expiration;
  properties['delivery_info'] = { exchange: opts.exchange, routing_key: opts.routingKey };
  properties['priority'] = props.priority;
  properties['body_encoding'] = 'base64';
  properties['delivery_tag'] = opts.deliveryTag;
  return pyJsonStringify({
    body: Buffer.from(message.body, 'utf8').toString('base64'),
    'content-encoding': message.contentEncoding,
    'content-type': message.contentType,
    headers: message.headers,
    properties,
  });
}

describe('encodeEnvelope', () => {
  const text = fc.string({ unit: 'binary', maxLength: 30 });
  const key = fc.oneof(text, fc.constantFrom('origin', 'replaced_task_nesting', '7', '0', '__proto__', 'priority', 'expiration'));
  const properties: fc.Arbitrary<MessageProperties> = fc
    .record({
      base: fc.record({
        correlation_id: fc.option(fc.uuid(), { nil: undefined }),
        reply_to: fc.option(fc.uuid(), { nil: undefined }),
        delivery_mode: fc.constantFrom(1, 2),
        expiration: fc.option(fc.constantFrom('0', '60000'), { nil: undefined }),
        priority: fc.integer({ min: 0, max: 9 }),
      }),
      extras: fc.array(fc.tuple(key, fc.option(fc.jsonValue({ maxDepth: 2 }), { nil: undefined })), { maxLength: 3 }),
    })
    .map(({ base, extras }) => {
      const props = { ...base } as Record<string, unknown>;
      for (const [k, v] of extras) Object.defineProperty(props, k, { value: v, enumerable: true, writable: true, configurable: true });
      return props as MessageProperties;
    });
  const message: fc.Arbitrary<Message> = fc.record({
    headers: fc.dictionary(key, fc.jsonValue({ maxDepth: 3 }) as fc.Arbitrary<Json>, { maxKeys: 20 }),
    properties,
    contentType: fc.constantFrom('application/json', 'application/x-msgpack'),
    contentEncoding: fc.constantFrom('utf-8', 'binary'),
    body: fc.string({ unit: 'binary', maxLength: 200 }),
  });

  it('writes the same text as the envelope serialized as one object', () => {
    fc.assert(
      fc.property(message, fc.uuid(), fc.constantFrom('', 'celery', 'x.y'), text, (msg, deliveryTag, exchange, routingKey) => {
        const opts = { deliveryTag, exchange, routingKey };
        expect(encodeEnvelope(msg, opts)).toBe(envelopeAsObject(msg, opts));
      }),
      { numRuns: 1000 },
    );
  });
});

describe('markRedelivered', () => {
  it('sets both flags and keeps everything else', () => {
    const marked = markRedelivered(golden.GOLDEN_ENVELOPE);
    const parsed = JSON.parse(marked);
    expect(parsed.headers.redelivered).toBe(true);
    expect(parsed.properties.delivery_info).toEqual({ exchange: '', routing_key: 'celery', redelivered: true });
    expect(marked).toBe(
      golden.GOLDEN_ENVELOPE.replace('"ignore_result": false}', '"ignore_result": false, "redelivered": true}').replace(
        '"routing_key": "celery"}',
        '"routing_key": "celery", "redelivered": true}',
      ),
    );
    expect(decodeEnvelope(marked).deliveryInfo.redelivered).toBe(true);
  });

  it('rejects non-JSON with ProtocolError', () => {
    expect(reasonOf(() => markRedelivered('nope'))).toBe('bad-json');
  });
});

describe('decodeBase64Utf8', () => {
  // The plain statement of the rule: standard alphabet, padded, valid UTF-8.
  const STRICT = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
  const oracle = (text: string): string | 'rejected' => {
    if (!STRICT.test(text)) return 'rejected';
    try {
      return new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(text, 'base64'));
    } catch {
      return 'rejected';
    }
  };
  const decoded = (text: string): string | 'rejected' => {
    try {
      return decodeBase64Utf8(text);
    } catch (err) {
      expect(err).toBeInstanceOf(ProtocolError);
      return 'rejected';
    }
  };

  it('accepts exactly what the strict rule accepts', () => {
    const alphabet = 'ABCXYZabcxyz0189+/=-_ !\n\u00e9';
    const chars = fc.constantFrom(...alphabet.split(''));
    const noisy = fc.array(chars, { maxLength: 24 }).map((cs) => cs.join(''));
    const valid = fc.oneof(fc.string(), fc.uint8Array({ maxLength: 40 }).map((b) => new TextDecoder().decode(b))).map((t) => Buffer.from(t).toString('base64'));
    const bytes = fc.uint8Array({ maxLength: 40 }).map((b) => Buffer.from(b).toString('base64'));
    fc.assert(fc.property(fc.oneof(noisy, valid, bytes), (text) => {
      expect(decoded(text)).toEqual(oracle(text));
    }), { numRuns: 3000 });
  });

  it('keeps a real U+FFFD in the text', () => {
    expect(decodeBase64Utf8(Buffer.from('a\uFFFDb').toString('base64'))).toBe('a\uFFFDb');
  });
});

describe('isRedelivered', () => {
  const plain = golden.GOLDEN_ENVELOPE;

  it('reads the marks kombu writes, in headers or in delivery_info', () => {
    expect(isRedelivered(plain)).toBe(false);
    expect(isRedelivered(markRedelivered(plain))).toBe(true);
    const parsed = JSON.parse(plain) as { headers: Record<string, Json>; properties: { delivery_info: Record<string, Json> } };
    parsed.properties.delivery_info['redelivered'] = true;
    expect(isRedelivered(JSON.stringify(parsed))).toBe(true);
    parsed.properties.delivery_info['redelivered'] = false;
    parsed.headers['redelivered'] = false;
    expect(isRedelivered(JSON.stringify(parsed))).toBe(false);
  });

  it('is not fooled by the word elsewhere, nor by text that is not JSON', () => {
    const parsed = JSON.parse(plain) as { headers: Record<string, Json> };
    parsed.headers['argsrepr'] = "('redelivered',)";
    parsed.headers['x'] = { redelivered: true };
    expect(isRedelivered(JSON.stringify(parsed))).toBe(false);
    expect(isRedelivered('{"headers": {"redelivered": true}')).toBe(false);
    expect(isRedelivered('redelivered')).toBe(false);
  });
});

describe('content types, as kombu compares them', () => {
  const envelopeOf = (contentType: string, bodyBytes: Buffer): string =>
    JSON.stringify({
      body: bodyBytes.toString('base64'),
      'content-encoding': 'binary',
      'content-type': contentType,
      headers: { task: 't', id: 'x' },
      properties: { body_encoding: 'base64', delivery_tag: 'tag', delivery_info: { exchange: '', routing_key: 'celery' }, priority: 0 },
    });
  const reasonOf = (f: () => unknown): string => {
    try {
      f();
    } catch (err) {
      if (err instanceof ProtocolError) return err.reason;
      throw err;
    }
    return 'decoded';
  };
  // A pickle protocol-4 frame and a msgpack array: neither is UTF-8.
  const pickle = Buffer.from([0x80, 0x04, 0x95, 0x0b, 0x00, 0xff, 0xfe, 0x8c, 0x08]);
  const msgpack = Buffer.from([0x93, 0x91, 0xcc, 0xff, 0x80, 0x83, 0xc0, 0xc0, 0xc0]);

  it('a binary pickle, YAML or msgpack body is refused for its content type, not as "not valid UTF-8"', () => {
    expect(reasonOf(() => decodeEnvelope(envelopeOf('application/x-python-serialize', pickle)))).toBe('unsafe-content-type');
    expect(reasonOf(() => decodeEnvelope(envelopeOf('application/x-yaml', pickle)))).toBe('unsafe-content-type');
    expect(reasonOf(() => decodeEnvelope(envelopeOf('application/x-msgpack', msgpack)))).toBe('unknown-content-type');
    expect(reasonOf(() => decodeEnvelope(envelopeOf('application/json', msgpack)))).toBe('bad-encoding');
  });

  it('compares the content type exactly: APPLICATION/JSON is refused, as kombu refuses it', () => {
    const body = Buffer.from('[[], {}, {}]');
    expect(reasonOf(() => decodeTaskMessage(decodeEnvelope(envelopeOf('application/json', body)).message))).toBe('decoded');
    expect(reasonOf(() => decodeTaskMessage(decodeEnvelope(envelopeOf('APPLICATION/JSON', body)).message))).toBe('unknown-content-type');
  });
});
