import { readFileSync } from 'node:fs';
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { decodeEnvelope, encodeEnvelope } from './envelope.js';
import { ProtocolError, type ProtocolErrorReason } from './errors.js';
import { TASK_HEADER_ORDER, decodeTaskMessage, encodeTaskMessage } from './task-message.js';
import { isoformatUtc } from './time.js';
import type { Json, JsonObject, Message, SignatureDict, TaskMessage } from './types.js';

const golden = JSON.parse(
  readFileSync(new URL('./wire-golden.fixture.json', import.meta.url), 'utf8'),
) as Record<'GOLDEN_ENVELOPE' | 'GOLDEN_BODY' | 'CALLBACK_BODY' | 'CHAIN_BODY' | 'CHORD_BODY' | 'V1_BODY', string>;

function reasonOf(fn: () => unknown): ProtocolErrorReason | 'no-error' | 'other-error' {
  try {
    fn();
    return 'no-error';
  } catch (error) {
    return error instanceof ProtocolError ? error.reason : 'other-error';
  }
}

function message(body: string, headers: Record<string, Json | undefined> = { task: 'tapp.add', id: 'id-1' }, contentType = 'application/json'): Message {
  return {
    headers,
    properties: { correlation_id: '', reply_to: '', delivery_mode: 2, priority: 0 },
    contentType,
    contentEncoding: 'utf-8',
    body,
  };
}

describe('decodeTaskMessage: captured messages', () => {
  it('decodes docs/protocol.md §1.1 and re-encodes the whole envelope byte for byte', () => {
    const { message: msg, deliveryTag, deliveryInfo } = decodeEnvelope(golden.GOLDEN_ENVELOPE);
    const task = decodeTaskMessage(msg);
    expect(task.protocol).toBe(2);
    expect(task.headers.task).toBe('tapp.add');
    expect(task.headers.timelimit).toEqual([null, null]);
    expect(task.args).toEqual([2, 3]);
    expect(task.kwargs).toEqual({});
    expect(task.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
    expect(task.extraHeaders).toEqual({});
    const again = encodeEnvelope(encodeTaskMessage(task), {
      deliveryTag,
      exchange: deliveryInfo.exchange,
      routingKey: deliveryInfo.routing_key,
    });
    expect(again).toBe(golden.GOLDEN_ENVELOPE);
  });

  it.each([
    ['§1.6 callbacks', 'CALLBACK_BODY'],
    ['§1.7 chain', 'CHAIN_BODY'],
    ['§1.7 chord', 'CHORD_BODY'],
  ] as const)('%s body decodes and re-encodes byte for byte', (_name, key) => {
    const task = decodeTaskMessage(message(golden[key]));
    expect(encodeTaskMessage(task).body).toBe(golden[key]);
  });

  it('reads the §1.6 signatures', () => {
    const { embed } = decodeTaskMessage(message(golden.CALLBACK_BODY));
    expect(embed.callbacks?.[0]).toEqual({ task: 'tapp.tsum', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false });
    expect(embed.errbacks?.[0]?.immutable).toBe(true);
    const chain = decodeTaskMessage(message(golden.CHAIN_BODY)).embed.chain;
    expect(chain?.map((sig) => sig.args)).toEqual([[100, 200], [10]]);
    const chord = decodeTaskMessage(message(golden.CHORD_BODY)).embed.chord;
    expect(chord?.options['task_id']).toBe('2b6c47e0-7cfc-48f0-a1e8-d83a5b0e70d9');
  });

  it('normalises the §1.8 v1 body', () => {
    const task = decodeTaskMessage(message(golden.V1_BODY, {}));
    expect(task.protocol).toBe(1);
    expect(task.headers).toMatchObject({
      task: 'tapp.add',
      id: '22426228-9ff8-427f-af07-47941375c369',
      root_id: '22426228-9ff8-427f-af07-47941375c369',
      parent_id: null,
      retries: 0,
      timelimit: [null, null],
      group: null,
      eta: null,
    });
    expect(task.args).toEqual([7, 8]);
    expect(task.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
    expect(task.properties.correlation_id).toBe('22426228-9ff8-427f-af07-47941375c369');
  });

  it('reads a v1 group under its old name taskset, and lang and redelivered from the headers', () => {
    const body = '{"task": "t", "id": "i", "args": [], "kwargs": {}, "taskset": "g1", "retries": 2, "lang": "body", "redelivered": false}';
    const task = decodeTaskMessage(message(body, { lang: 'py', redelivered: true, retries: 9, custom: 1 }));
    expect(task.headers).toMatchObject({ task: 't', id: 'i', group: 'g1', retries: 2, lang: 'py', redelivered: true });
    expect(task.extraHeaders).toEqual({ custom: 1 });
    const both = decodeTaskMessage(message('{"task": "t", "id": "i", "group": "g2", "taskset": "g1"}', {}));
    expect(both.headers.group).toBe('g2');
  });

  it('never reads a header through a __proto__ key of the JSON (the fields are read directly)', () => {
    // JSON.parse makes "__proto__" an own key, so nothing under it may stand in for a header.
    const hostile = JSON.parse('{"__proto__": {"task": "evil", "id": "x"}}') as JsonObject;
    expect(reasonOf(() => decodeTaskMessage(message('[[], {}, null]', hostile)))).toBe('bad-headers');
    const own = JSON.parse('{"task": "t", "id": "i", "__proto__": {"eta": "not a time", "retries": "x", "lang": 5}}') as JsonObject;
    const task = decodeTaskMessage(message('[[], {}, null]', own));
    expect(task.headers).toMatchObject({ task: 't', id: 'i', eta: null, retries: 0, lang: 'py' });
    expect(Object.keys(task.extraHeaders)).toEqual(['__proto__']);
  });

  it('decodes the §1.4 minimal message with Celery defaults', () => {
    const task = decodeTaskMessage(message('[[1, 2], {}, {}]', { task: 'tapp.add', id: 'abc' }));
    expect(task.headers).toEqual({
      lang: 'py', task: 'tapp.add', id: 'abc', shadow: null, eta: null, expires: null, group: null,
      group_index: null, retries: 0, timelimit: [null, null], root_id: 'abc', parent_id: null,
      argsrepr: '', kwargsrepr: '', origin: '', ignore_result: false,
    });
    expect(task.embed).toEqual({ callbacks: null, errbacks: null, chain: null, chord: null });
    expect(decodeTaskMessage(message('[[1, 2], {}, null]')).embed.chord).toBeNull();
  });

  it('keeps custom headers in extraHeaders and writes them after the v2 headers', () => {
    const task = decodeTaskMessage(message('[[], {}, {}]', { task: 't', id: 'i', 'x-custom': 'hdr', redelivered: true }));
    expect(task.extraHeaders).toEqual({ 'x-custom': 'hdr' });
    expect(task.headers.redelivered).toBe(true);
    expect(Object.keys(encodeTaskMessage(task).headers)).toEqual([...TASK_HEADER_ORDER, 'x-custom', 'redelivered']);
  });
});

describe('decodeTaskMessage: malformed input', () => {
  const v2 = { task: 't', id: 'i' };
  it.each<[string, Message, ProtocolErrorReason]>([
    ['bad JSON', message('[[1, 2], {}, {'), 'bad-json'],
    ['a 2-element body', message('[[5, 6], {}]'), 'bad-body'],
    ['a 4-element body', message('[[], {}, {}, {}]'), 'bad-body'],
    ['a body that is not an array', message('"x"'), 'bad-body'],
    ['args not a list', message('[{"a": 1}, {}, {}]'), 'bad-body'],
    ['kwargs a list', message('[[], [], {}]'), 'bad-body'],
    ['embed a list', message('[[], {}, []]'), 'bad-body'],
    ['a callback that is not a signature', message('[[], {}, {"callbacks": [1]}]'), 'bad-body'],
    ['a chord without task', message('[[], {}, {"chord": {"args": []}}]'), 'bad-body'],
    ['pickle', message('x', v2, 'application/x-python-serialize'), 'unsafe-content-type'],
    ['yaml', message('x', v2, 'application/x-yaml'), 'unsafe-content-type'],
    ['msgpack', message('x', v2, 'application/x-msgpack'), 'unknown-content-type'],
    ['an unknown content type', message('x', v2, 'text/plain'), 'unknown-content-type'],
    ['headers not an object', { ...message('[[], {}, {}]'), headers: [] as unknown as JsonObject }, 'bad-headers'],
    ['a v2 body without a task header', message('[[], {}, {}]', { id: 'i' }), 'bad-headers'],
    ['a missing id', message('[[], {}, {}]', { task: 't' }), 'bad-headers'],
    ['a non-string task', message('[[], {}, {}]', { task: 5, id: 'i' }), 'bad-headers'],
    ['an id past 1,024 characters', message('[[], {}, {}]', { task: 't', id: 'i'.repeat(1025) }), 'bad-headers'],
    ['a v1 body with a 10 MB id', message(`{"task": "t", "id": "${'i'.repeat(10_000_000)}"}`, {}), 'bad-headers'],
    ['a garbage eta', message('[[], {}, {}]', { ...v2, eta: 'soon' }), 'bad-headers'],
    ['retries not an integer', message('[[], {}, {}]', { ...v2, retries: 'x' }), 'bad-headers'],
    ['a bad timelimit', message('[[], {}, {}]', { ...v2, timelimit: [1] }), 'bad-headers'],
    ['a compressed body', message('eJw=', { ...v2, compression: 'application/x-gzip' }), 'bad-encoding'],
    ['a v1 body with args not a list', message('{"task": "t", "id": "i", "args": 5}', {}), 'bad-body'],
    ['a v1 body without id', message('{"task": "t"}', {}), 'bad-headers'],
  ])('rejects %s', (_name, msg, reason) => {
    expect(reasonOf(() => decodeTaskMessage(msg))).toBe(reason);
  });

  it('never throws anything but ProtocolError on arbitrary messages', () => {
    const anyMessage = fc.record({
      headers: fc.oneof(fc.dictionary(fc.constantFrom('task', 'id', 'eta', 'retries', 'timelimit', 'group_index', 'x'), fc.jsonValue()), fc.jsonValue()),
      properties: fc.jsonValue(),
      contentType: fc.oneof(fc.constant('application/json'), fc.string()),
      contentEncoding: fc.string(),
      body: fc.oneof(fc.string(), fc.json(), fc.jsonValue().map((v) => JSON.stringify([[], {}, v]))),
    });
    fc.assert(
      fc.property(anyMessage, (msg) => {
        expect(reasonOf(() => decodeTaskMessage(msg as unknown as Message))).not.toBe('other-error');
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws anything but ProtocolError from envelope text to task', () => {
    fc.assert(
      fc.property(fc.string(), (raw) => {
        expect(reasonOf(() => decodeTaskMessage(decodeEnvelope(raw).message))).not.toBe('other-error');
      }),
      { numRuns: 1000 },
    );
  });
});

// JSON values as they survive a trip through JSON text (no -0).
const json = fc.jsonValue().map((v) => JSON.parse(JSON.stringify(v)) as Json);
const jsonObject = fc.dictionary(fc.string(), json, { maxKeys: 4 });
const str = fc.string({ unit: 'binary', maxLength: 12 });
const id = fc.string({ unit: 'binary', minLength: 1, maxLength: 12 });
const time = fc.integer({ min: 0, max: 4_102_444_800_000_000 }).map((us) => isoformatUtc(us / 1000));
const limit = fc.option(fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }).map((d) => (Object.is(d, -0) ? 0 : d)));
const RESERVED_HEADERS = new Set<string>([...TASK_HEADER_ORDER, 'redelivered', 'compression']);
const RESERVED_PROPS = new Set(['correlation_id', 'reply_to', 'delivery_mode', 'expiration', 'priority', 'delivery_info', 'body_encoding', 'delivery_tag']);
const SIG_KEYS = new Set(['task', 'args', 'kwargs', 'options', 'subtask_type', 'immutable']);

const signature: fc.Arbitrary<SignatureDict> = fc
  .record({
    task: str,
    args: fc.array(json, { maxLength: 3 }),
    kwargs: jsonObject,
    options: jsonObject,
    subtask_type: fc.constantFrom(null, 'group', 'chord', 'chain'),
    immutable: fc.boolean(),
    extra: fc.dictionary(fc.string().filter((k) => !SIG_KEYS.has(k)), json, { maxKeys: 2 }),
  })
  .map(({ extra, ...sig }) => ({ ...sig, ...extra }));
const sigList = fc.option(fc.array(signature, { maxLength: 3 }));

const taskMessage: fc.Arbitrary<TaskMessage> = fc.record({
  protocol: fc.constant(2 as const),
  headers: fc.record(
    {
      lang: str,
      task: id,
      id,
      shadow: fc.option(str),
      eta: fc.option(time),
      expires: fc.option(time),
      group: fc.option(str),
      group_index: fc.option(fc.nat()),
      retries: fc.nat(),
      timelimit: fc.tuple(limit, limit),
      root_id: str,
      parent_id: fc.option(str),
      argsrepr: str,
      kwargsrepr: str,
      origin: str,
      ignore_result: fc.boolean(),
      redelivered: fc.boolean(),
    },
    { requiredKeys: ['lang', 'task', 'id', 'shadow', 'eta', 'expires', 'group', 'group_index', 'retries', 'timelimit', 'root_id', 'parent_id', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result'] },
  ),
  extraHeaders: fc.dictionary(fc.string().filter((k) => !RESERVED_HEADERS.has(k)), json, { maxKeys: 3 }),
  properties: fc
    .record({
      correlation_id: id,
      reply_to: str,
      delivery_mode: fc.constantFrom(1 as const, 2 as const),
      priority: fc.integer({ min: 0, max: 9 }),
      expiration: fc.option(fc.nat().map(String), { nil: undefined }),
      extra: fc.dictionary(fc.string().filter((k) => !RESERVED_PROPS.has(k)), json, { maxKeys: 2 }),
    })
    .map(({ extra, expiration, ...props }) => ({ ...props, ...extra, ...(expiration === undefined ? {} : { expiration }) })),
  args: fc.array(json, { maxLength: 4 }),
  kwargs: jsonObject,
  embed: fc.record({ callbacks: sigList, errbacks: sigList, chain: sigList, chord: fc.option(signature) }),
});

describe('round trips', () => {
  it('TaskMessage -> message -> envelope -> message -> TaskMessage is the identity', () => {
    fc.assert(
      fc.property(taskMessage, str, str, str, (task, tag, exchange, routingKey) => {
        const raw = encodeEnvelope(encodeTaskMessage(task), { deliveryTag: tag, exchange, routingKey });
        const decoded = decodeEnvelope(raw);
        expect(decoded.deliveryTag).toBe(tag);
        expect(decoded.deliveryInfo).toEqual({ exchange, routing_key: routingKey });
        expect(decodeTaskMessage(decoded.message)).toEqual(task);
      }),
      { numRuns: 500 },
    );
  });

  it('re-encoding a decoded envelope reproduces it byte for byte', () => {
    fc.assert(
      fc.property(taskMessage, str, (task, tag) => {
        const raw = encodeEnvelope(encodeTaskMessage(task), { deliveryTag: tag, exchange: '', routingKey: 'celery' });
        const again = encodeEnvelope(encodeTaskMessage(decodeTaskMessage(decodeEnvelope(raw).message)), {
          deliveryTag: tag,
          exchange: '',
          routingKey: 'celery',
        });
        expect(again).toBe(raw);
      }),
      { numRuns: 300 },
    );
  });
});
