/**
 * @module core/signature-options
 * Call options both ways between Celeriac's `ApplyOptions` (camelCase) and the snake_case
 * `options` dict a Celery signature carries (docs/protocol.md §1.6), so a signature frozen
 * by Python (`task_id`, `group_id`, `chord`, `link_error`...) is sent as Python would send it.
 */
import type { Json, JsonObject, SignatureDict } from '../protocol/types.js';
import { renameCallOptions, type ApplyOptions, type SignatureLike } from './call-options.js';

// One row per option: [camelCase name, snake_case wire name, accepted wire type].
const SCALARS = [
  ['taskId', 'task_id', 'string'],
  ['queue', 'queue', 'string'],
  ['priority', 'priority', 'number'],
  ['countdown', 'countdown', 'number'],
  ['timeLimitSec', 'time_limit', 'number'],
  ['softTimeLimitSec', 'soft_time_limit', 'number'],
  ['shadow', 'shadow', 'string'],
  ['routingKey', 'routing_key', 'string'],
  ['exchange', 'exchange', 'string'],
  ['ignoreResult', 'ignore_result', 'boolean'],
  ['rootId', 'root_id', 'string'],
  ['parentId', 'parent_id', 'string'],
  ['groupId', 'group_id', 'string'],
  ['groupIndex', 'group_index', 'number'],
  ['retries', 'retries', 'number'],
  ['replacedTaskNesting', 'replaced_task_nesting', 'number'],
  ['retry', 'retry', 'boolean'],
  ['addToParent', 'add_to_parent', 'boolean'],
  ['replyTo', 'reply_to', 'string'],
] as const;

/** `retryPolicy` fields on the wire, as Celery writes `retry_policy`. */
const POLICY_WIRE: Readonly<Record<string, string>> = {
  maxRetries: 'max_retries', intervalStart: 'interval_start', intervalStep: 'interval_step', intervalMax: 'interval_max',
};

type Scalar = (typeof SCALARS)[number][0];

function isDict(value: unknown): value is SignatureDict {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && typeof (value as { task?: unknown }).task === 'string';
}

function dictList(value: unknown): SignatureDict[] | undefined {
  if (isDict(value)) return [value];
  if (Array.isArray(value)) return value.filter(isDict);
  return undefined;
}

function timeToWire(value: Date | number | string): Json {
  return value instanceof Date ? value.toISOString() : value;
}

/** Normalises one or many signatures to wire dicts; undefined gives null. */
export function toSignatureDicts(value: SignatureLike | readonly SignatureLike[] | undefined): SignatureDict[] | null {
  if (value === undefined || value === null) return null;
  const list: readonly SignatureLike[] = Array.isArray(value) ? value : [value as SignatureLike];
  return list.map((s) => (typeof (s as { toDict?: unknown }).toDict === 'function' ? (s as { toDict(): SignatureDict }).toDict() : (s as SignatureDict)));
}

/** `ApplyOptions` as a signature's wire `options` (only the options that were given). */
export function toWireOptions(given: ApplyOptions): JsonObject {
  const options = renameCallOptions(given);
  const out: JsonObject = {};
  const source = options as Record<string, unknown>;
  for (const [camel, snake] of SCALARS) {
    const value = source[camel];
    if (value !== undefined) out[snake] = value as Json;
  }
  if (options.eta !== undefined) out['eta'] = timeToWire(options.eta);
  if (options.expires !== undefined) out['expires'] = timeToWire(options.expires);
  if (options.headers !== undefined) out['headers'] = { ...options.headers };
  const link = toSignatureDicts(options.link);
  if (link !== null) out['link'] = link as unknown as Json;
  const linkError = toSignatureDicts(options.linkError);
  if (linkError !== null) out['link_error'] = linkError as unknown as Json;
  if (options.chain !== undefined) out['chain'] = [...options.chain] as unknown as Json;
  if (options.chord !== undefined) out['chord'] = options.chord as unknown as Json;
  if (options.retryPolicy !== undefined) {
    const policy: JsonObject = {};
    for (const [key, value] of Object.entries(options.retryPolicy)) if (value !== undefined) policy[POLICY_WIRE[key] ?? key] = value;
    out['retry_policy'] = policy;
  }
  return out;
}

/** A signature's wire `options` as `ApplyOptions`; unknown or mistyped keys are ignored. */
export function fromWireOptions(wire: Readonly<JsonObject>): ApplyOptions {
  const out: Record<string, unknown> = {};
  for (const [camel, snake, type] of SCALARS) {
    const value = wire[snake];
    // Python writes `group_index: None` and `priority: None` freely: absent, not an error.
    if (typeof value === type) out[camel satisfies Scalar] = value;
  }
  const options = out as ApplyOptions;
  const eta = wire['eta'];
  if (typeof eta === 'string' || typeof eta === 'number') options.eta = eta;
  const expires = wire['expires'];
  if (typeof expires === 'string' || typeof expires === 'number') options.expires = expires;
  const headers = wire['headers'];
  if (typeof headers === 'object' && headers !== null && !Array.isArray(headers)) options.headers = { ...headers };
  const link = dictList(wire['link']);
  if (link !== undefined && link.length > 0) options.link = link;
  const linkError = dictList(wire['link_error']);
  if (linkError !== undefined && linkError.length > 0) options.linkError = linkError;
  const chain = dictList(wire['chain']);
  if (chain !== undefined && Array.isArray(wire['chain'])) options.chain = chain;
  if (isDict(wire['chord'])) options.chord = wire['chord'];
  const policy = wire['retry_policy'];
  if (typeof policy === 'object' && policy !== null && !Array.isArray(policy)) {
    const picked: Record<string, number | null> = {};
    for (const [camelName, snake] of Object.entries(POLICY_WIRE)) {
      const value = policy[snake];
      if ((typeof value === 'number' && Number.isFinite(value) && value >= 0) || (camelName === 'maxRetries' && value === null)) picked[camelName] = value;
    }
    options.retryPolicy = picked;
  }
  return options;
}
