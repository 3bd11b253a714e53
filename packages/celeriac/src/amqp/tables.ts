/**
 * @module amqp/tables
 * AMQP field tables (message headers, queue arguments) typed the way py-amqp types them
 * (docs/protocol-amqp.md §2): strings `S`, integers `I` (signed 32-bit) or `l` beyond that
 * range, other numbers `d`, booleans `t`, null `V`, arrays `A`, objects `F`. amqplib would
 * otherwise pick the narrowest integer type (`b`, `s`), which py-amqp reads but which is not
 * what a Celery producer sends. Decoding turns amqplib's typed wrappers (timestamps,
 * decimals) back into plain JSON. Header names are AMQP short strings (limits.ts).
 */
import { shortString } from './limits.js';
import type { Json } from '../protocol/types.js';

/** amqplib's way to force a field type: `{ '!': type, value }`. */
export interface TypedField {
  readonly '!': string;
  readonly value: unknown;
}

/** A value amqplib encodes with the types py-amqp uses. */
export type TypedValue = string | boolean | null | TypedField | TypedValue[] | { [key: string]: TypedValue };

const INT32_MIN = -0x8000_0000;
const INT32_MAX = 0x7fff_ffff;

/** One JSON value typed as py-amqp types it; `undefined` becomes null (`V`). */
export function typeValue(value: Json | undefined): TypedValue {
  if (value === undefined || value === null) return null;
  if (typeof value === 'number') {
    if (Number.isInteger(value)) return { '!': value >= INT32_MIN && value <= INT32_MAX ? 'int' : 'long', value };
    return { '!': 'double', value };
  }
  if (typeof value === 'string' || typeof value === 'boolean') return value;
  if (Array.isArray(value)) return value.map(typeValue);
  return typeTable(value);
}

/** A table (headers, arguments) typed as py-amqp types it. */
export function typeTable(table: { readonly [key: string]: Json | undefined }): { [key: string]: TypedValue } {
  const out: { [key: string]: TypedValue } = {};
  for (const key of Object.keys(table)) out[shortString(key, 'header name')] = typeValue(table[key]);
  return out;
}

/** A decoded field value as plain JSON (timestamps as epoch seconds, buffers as text). */
export function plainValue(value: unknown): Json {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' || typeof value === 'string' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return Number(value);
  if (Buffer.isBuffer(value)) return value.toString('utf8');
  if (Array.isArray(value)) return value.map(plainValue);
  if (typeof value === 'object') {
    const o = value as Record<string, unknown>;
    if (typeof o['!'] === 'string' && 'value' in o) {
      const inner = o['value'];
      if (o['!'] === 'decimal' && inner !== null && typeof inner === 'object') {
        const d = inner as { places: number; digits: number };
        return d.digits / 10 ** d.places;
      }
      return plainValue(inner);
    }
    const out: { [key: string]: Json } = {};
    for (const key of Object.keys(o)) out[key] = plainValue(o[key]);
    return out;
  }
  return null;
}

/** A decoded table as a plain JSON object. */
export function plainTable(table: unknown): { [key: string]: Json } {
  if (table === null || typeof table !== 'object' || Array.isArray(table)) return {};
  return plainValue(table) as { [key: string]: Json };
}
