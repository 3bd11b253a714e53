/**
 * @module core/set-aside
 * What every broker's set-aside store shares: how a record is named (its id), written and
 * bounded. The store keeps whole envelopes in two parts with quotas of their own, so that a
 * flood of one kind never evicts the other:
 * - `malformed`: messages that cannot be run (bad JSON, unsafe content type, bad envelope);
 * - `dead-letter`: valid tasks set aside after `workerMaxDeliveries` (often the only copy).
 * Each part is bounded by count and by bytes; past either bound its oldest records are dropped,
 * each drop logged by the broker. A record bigger than `maxRecordBytes` keeps its metadata
 * (queue, reason, time, task name and id when they can be read, its original size) and the
 * start of its envelope: it cannot be replayed, but it can no longer flush its whole part.
 */
import { createHash } from 'node:crypto';
import { CeleriacError, ErrorCodes } from '../errors.js';

/** The two parts of a set-aside store (see the module header). */
export type SetAsideCategory = 'malformed' | 'dead-letter';

/** Every category, in display order. */
export const SET_ASIDE_CATEGORIES: readonly SetAsideCategory[] = Object.freeze(['malformed', 'dead-letter']);

/** Most records kept per category by default. */
export const DEFAULT_SET_ASIDE_MAX_COUNT = 10_000;
/** Most bytes of records kept per category by default (64 MiB). */
export const DEFAULT_SET_ASIDE_MAX_BYTES = 64 * 1024 * 1024;
/**
 * Largest record kept whole by default: a sixteenth of its part's bytes, at most 4 MiB (at
 * least 1 KiB); a bigger one keeps the start of its envelope, so it never flushes its part.
 */
export const DEFAULT_SET_ASIDE_MAX_RECORD_BYTES = 4 * 1024 * 1024;

/** The bounds of one part of a set-aside store. */
export interface SetAsideLimits {
  /** Most records kept. @default 10000 */
  readonly maxCount: number;
  /** Most bytes of stored records (UTF-8 length of each record's text). @default 67108864 */
  readonly maxBytes: number;
  /** Largest record kept whole, at most `maxBytes`. @default maxBytes / 16, at most 4194304 */
  readonly maxRecordBytes: number;
}

/** The bounds of each part. */
export type SetAsideQuotas = Readonly<Record<SetAsideCategory, SetAsideLimits>>;

/** The options that set the quotas (broker options). */
export interface SetAsideQuotaOptions {
  /** Most malformed records. @default 10000 */
  setAsideMaxCount?: number;
  /** Most bytes of malformed records. @default 67108864 */
  setAsideMaxBytes?: number;
  /** Most dead-lettered tasks. @default 10000 */
  deadLetterMaxCount?: number;
  /** Most bytes of dead-lettered tasks. @default 67108864 */
  deadLetterMaxBytes?: number;
  /** Largest record of either part kept whole (then capped by the part's bytes). @default the part's bytes / 16, at most 4194304 */
  setAsideMaxRecordBytes?: number;
}

/** Checks and fills in the quotas. @throws CeleriacError CONFIG on a bad value. */
export function resolveSetAsideLimits(over: SetAsideQuotaOptions, who: string): SetAsideQuotas {
  const check = (name: string, v: number): number => {
    if (!Number.isSafeInteger(v) || v <= 0) throw new CeleriacError(ErrorCodes.CONFIG, `${who}: ${name} must be a positive integer, got ${String(v)}`);
    return v;
  };
  const given = over.setAsideMaxRecordBytes === undefined ? undefined : check('setAsideMaxRecordBytes', over.setAsideMaxRecordBytes);
  // Below this a record could not hold its own metadata.
  if (given !== undefined && given < 1024) throw new CeleriacError(ErrorCodes.CONFIG, `${who}: setAsideMaxRecordBytes must be at least 1024, got ${given}`);
  const recordBound = (bytes: number) => Math.min(bytes, given ?? Math.max(1024, Math.min(DEFAULT_SET_ASIDE_MAX_RECORD_BYTES, Math.floor(bytes / 16))));
  const part = (count: number, bytes: number): SetAsideLimits => Object.freeze({ maxCount: count, maxBytes: bytes, maxRecordBytes: recordBound(bytes) });
  return Object.freeze({
    malformed: part(check('setAsideMaxCount', over.setAsideMaxCount ?? DEFAULT_SET_ASIDE_MAX_COUNT), check('setAsideMaxBytes', over.setAsideMaxBytes ?? DEFAULT_SET_ASIDE_MAX_BYTES)),
    'dead-letter': part(check('deadLetterMaxCount', over.deadLetterMaxCount ?? DEFAULT_SET_ASIDE_MAX_COUNT), check('deadLetterMaxBytes', over.deadLetterMaxBytes ?? DEFAULT_SET_ASIDE_MAX_BYTES)),
  });
}

/**
 * The id of a stored record: the first 16 hex digits of the SHA-1 of its stored text (the
 * Redis scripts compute the same with `redis.sha1hex`).
 */
export function setAsideId(storedText: string): string {
  return createHash('sha1').update(storedText, 'utf8').digest('hex').slice(0, 16);
}

/** What a record stores besides its id. */
export interface SetAsideFields {
  readonly raw: string;
  readonly queue: string;
  readonly reason: string;
  /** Epoch ms. */
  readonly at: number;
  readonly category: SetAsideCategory;
}

/** The stored form of a record: its fields, and what a truncated one kept of the rest. */
export interface StoredSetAside extends SetAsideFields {
  /** Bytes of the whole envelope, when `raw` holds only its start. */
  readonly truncated?: number;
  readonly task?: string;
  readonly taskId?: string;
}

/** A string member of the envelope's headers (`"task": "..."`), searched near both ends: Celery writes the body first. */
function headerText(raw: string, name: string): string | undefined {
  const pattern = new RegExp(`"${name}"\\s*:\\s*"([^"\\\\]{1,255})"`);
  const ends = raw.length <= 131_072 ? [raw] : [raw.slice(-65_536), raw.slice(0, 65_536)];
  for (const part of ends) {
    const found = pattern.exec(part)?.[1];
    if (found !== undefined) return found;
  }
  return undefined;
}

const utf8Length = (text: string): number => Buffer.byteLength(text, 'utf8');

/**
 * The text to store for `fields`, at most `maxRecordBytes` long: the whole record, or its
 * metadata with the start of its envelope (see {@link StoredSetAside}).
 */
export function setAsideRecordText(fields: SetAsideFields, maxRecordBytes: number): string {
  const whole = JSON.stringify({ raw: fields.raw, queue: fields.queue, reason: fields.reason, at: fields.at, category: fields.category });
  if (utf8Length(whole) <= maxRecordBytes) return whole;
  const task = headerText(fields.raw, 'task');
  const taskId = headerText(fields.raw, 'id');
  const meta = { queue: fields.queue.slice(0, 255), reason: fields.reason.slice(0, 2000), at: fields.at, category: fields.category, truncated: utf8Length(fields.raw), ...(task === undefined ? {} : { task }), ...(taskId === undefined ? {} : { taskId }) };
  const text = (n: number) => JSON.stringify({ raw: fields.raw.slice(0, n), ...meta });
  // The metadata must fit first (a reason can be long, and its escapes longer).
  while (meta.reason.length > 0 && utf8Length(text(0)) > maxRecordBytes) meta.reason = meta.reason.slice(0, Math.floor(meta.reason.length / 2));
  // Shrink until it fits: escapes and multi-byte characters make bytes and characters differ.
  let n = Math.max(0, maxRecordBytes - utf8Length(text(0)));
  while (n > 0 && utf8Length(text(n)) > maxRecordBytes) n = Math.floor(n * 0.9);
  return text(n);
}

/** A stored record's text read back, or null when it is not one of ours. Records written before categories existed are `malformed`. */
export function parseSetAsideText(item: string): (StoredSetAside & { readonly id: string }) | null {
  try {
    const r = JSON.parse(item) as Partial<StoredSetAside> | null;
    if (r === null || typeof r !== 'object') return null;
    const category: SetAsideCategory = r.category === 'dead-letter' ? 'dead-letter' : 'malformed';
    return {
      id: setAsideId(item), raw: String(r.raw), queue: String(r.queue), reason: String(r.reason), at: Number(r.at), category,
      ...(typeof r.truncated === 'number' ? { truncated: r.truncated } : {}),
      ...(typeof r.task === 'string' ? { task: r.task } : {}),
      ...(typeof r.taskId === 'string' ? { taskId: r.taskId } : {}),
    };
  } catch {
    return null;
  }
}
