/**
 * Fuzzing (fast-check) of what a worker reads from the outside world:
 * - the decoders (envelope, then task message) on arbitrary text and on envelope-shaped JSON
 *   with arbitrary fields: they return, or throw ProtocolError, and nothing else (no
 *   TypeError from a missing field, no RangeError from a deep value);
 * - a worker fed generated messages (hostile headers, bodies, content types and encodings):
 *   it stays alive, settles every delivery exactly once, never runs a message twice, and
 *   still runs a good task afterwards.
 * fast-check prints the seed and the shrunk counterexample of a failure.
 */
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import { decodeEnvelope } from '../../src/protocol/envelope.js';
import { ProtocolError } from '../../src/protocol/errors.js';
import { decodeTaskMessage } from '../../src/protocol/task-message.js';
import type { Json, Message } from '../../src/protocol/types.js';
import { closeEnvs, makeEnv, waitFor } from '../worker/helpers.js';

afterEach(closeEnvs);

/** Decodes like the worker does; true when it decoded, false on a ProtocolError; anything else is thrown. */
function decodes(raw: string): boolean {
  try {
    decodeTaskMessage(decodeEnvelope(raw).message);
    return true;
  } catch (err) {
    if (err instanceof ProtocolError) return false;
    throw err;
  }
}

// Deep values, up to where JSON.stringify (recursive, used by the test to build envelopes) still works.
const deep = fc.integer({ min: 1, max: 2_000 }).map((n) => {
  let v: Json = 1;
  for (let i = 0; i < n; i++) v = [v];
  return v;
});
const anyJson: fc.Arbitrary<Json> = fc.oneof(fc.jsonValue() as fc.Arbitrary<Json>, deep);
/** JSON text nested far deeper than any stack: written without recursion. */
const deepText = fc.integer({ min: 1, max: 200_000 }).map((n) => `${'['.repeat(n)}${']'.repeat(n)}`);

const HEADER_KEYS = ['lang', 'task', 'id', 'root_id', 'parent_id', 'group', 'group_index', 'eta', 'expires', 'retries', 'timelimit', 'argsrepr', 'kwargsrepr', 'origin', 'ignore_result', 'shadow', 'redelivered'];
const CONTENT_TYPES = ['application/json', 'APPLICATION/JSON', 'application/json; charset=utf-8', 'application/x-python-serialize', 'application/x-msgpack', 'application/x-yaml', 'text/plain', ''];

// Pure CPU (deep texts up to 200,000 levels): a few seconds idle, over 20 s at load 30.
describe('decoders', { timeout: 60_000 }, () => {
  it('arbitrary text: decoded or refused with a ProtocolError, never another error', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary' }), (raw) => void decodes(raw)), { numRuns: 1000 });
  });

  it('envelope-shaped JSON with arbitrary fields: decoded or refused with a ProtocolError', () => {
    const headers = fc.dictionary(fc.constantFrom(...HEADER_KEYS), anyJson, { maxKeys: 8 });
    const body = fc.oneof(
      fc.tuple(fc.array(anyJson, { maxLength: 3 }), fc.dictionary(fc.string(), anyJson, { maxKeys: 3 }), fc.dictionary(fc.constantFrom('callbacks', 'errbacks', 'chain', 'chord'), anyJson)).map((b) => JSON.stringify(b)),
      fc.string(),
      anyJson.map((v) => JSON.stringify(v)),
      deepText,
      deepText.map((d) => `[${d}, {}, {}]`),
    );
    const envelope = fc.record({
      body: fc.oneof(body.map((b) => Buffer.from(b).toString('base64')), body, anyJson),
      'content-encoding': fc.oneof(fc.constantFrom('utf-8', 'binary', 'utf8'), anyJson),
      'content-type': fc.oneof(fc.constantFrom(...CONTENT_TYPES), anyJson),
      headers: fc.oneof(headers, anyJson),
      properties: fc.oneof(
        fc.record({ body_encoding: fc.oneof(fc.constant('base64'), anyJson), delivery_tag: fc.oneof(fc.uuid(), anyJson), delivery_info: anyJson, priority: anyJson }, { requiredKeys: [] }),
        anyJson,
      ),
    }, { requiredKeys: [] });
    fc.assert(fc.property(envelope, (e) => void decodes(JSON.stringify(e))), { numRuns: 1000 });
  });
});

describe('a worker fed generated messages', () => {
  const message = fc.record({
    task: fc.constantFrom('t.fuzz', 't.fuzz', 't.unknown', ''),
    // Headers a producer can write (our publish refuses values nested past 1000 levels); deep bodies below.
    headers: fc.dictionary(fc.constantFrom(...HEADER_KEYS.filter((k) => k !== 'task' && k !== 'id')), fc.jsonValue({ maxDepth: 4 }) as fc.Arbitrary<Json>, { maxKeys: 4 }),
    contentType: fc.constantFrom(...CONTENT_TYPES),
    contentEncoding: fc.constantFrom('utf-8', 'binary'),
    body: fc.oneof(
      fc.constant('[[], {}, {"callbacks": null, "errbacks": null, "chain": null, "chord": null}]'),
      fc.tuple(fc.array(anyJson, { maxLength: 3 }), fc.dictionary(fc.string(), anyJson, { maxKeys: 2 })).map(([a, k]) => JSON.stringify([a, k, {}])),
      fc.string(),
      anyJson.map((v) => JSON.stringify(v)),
      deepText.map((d) => `[${d}, {}, {}]`),
    ),
  });

  it('stays alive, settles every delivery once, runs no message twice', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(message, { minLength: 1, maxLength: 15 }), async (generated) => {
        const env = makeEnv({ taskAcksLate: true });
        const runs = new Map<string, number>();
        env.app.task('t.fuzz', { bind: true }, (ctx) => {
          runs.set(ctx.request.id, (runs.get(ctx.request.id) ?? 0) + 1);
          return null;
        });
        const ok = env.app.task('t.ok', () => 'fine');
        const worker = await env.startWorker();
        let n = 0;
        for (const g of generated) {
          const id = `fuzz-${++n}`;
          const msg: Message = {
            headers: { ...g.headers, task: g.task, id },
            properties: { correlation_id: id, reply_to: '', delivery_mode: 2, priority: 0 },
            contentType: g.contentType,
            contentEncoding: g.contentEncoding,
            body: g.body,
          };
          await env.broker.publish(msg, { exchange: '', routingKey: 'celery' });
        }
        // Every delivery settled once (a deferred ETA comes back later: not waited for).
        await waitFor(() => {
          const delivered = env.broker.of('deliver').length;
          const settled = env.broker.events.filter((e) => e.kind !== 'deliver').length;
          return delivered >= generated.length && settled === delivered;
        }, 'every delivery settled', 10_000);
        expect(worker.state).toBe('running');
        for (const [id, count] of runs) expect(count, `runs of ${id}`).toBe(1);
        const tags = env.broker.events.filter((e) => e.kind !== 'deliver').map((e) => `${e.tag}:${env.broker.events.indexOf(e)}`);
        expect(new Set(tags).size).toBe(tags.length);
        expect(await (await ok.delay()).get({ timeoutMs: 5000 })).toBe('fine');
        await closeEnvs();
      }),
      { numRuns: 40 },
    );
  }, 120_000);
});
