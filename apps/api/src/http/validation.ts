/**
 * @module http/validation
 * Request validation with two Ajv instances: request bodies are checked strictly (a string
 * where a number or an array belongs is a 400, never quietly converted), while path and
 * query parameters, which are always text on the wire, are converted to the types their
 * schemas declare.
 */
import type { TSchema } from '@sinclair/typebox';
import { Ajv, type Options } from 'ajv';
import addFormatsModule from 'ajv-formats';
import type { FastifyInstance } from 'fastify';

// ajv-formats is CommonJS: its default export arrives wrapped under ESM.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;

/** Seconds with at most nine decimals, and an offset of at most 14 hours (the world's widest), or Z. */
const DATE_TIME_END = /:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-](?:0\d|1[0-4]):[0-5]\d)$/;
/** 0001-01-01T00:00:00Z and the last millisecond of 9999 in UTC, epoch ms: what Postgres and a JS Date both hold and write back. */
const FIRST_MS = -62_135_596_800_000;
const LAST_MS = 253_402_300_799_999;

/**
 * ajv-formats' `date-time` (`rfc3339`), narrowed to what the app can store: its own check let
 * through year 0, offsets up to 23:59 and any number of second digits, which Postgres refused
 * (a 500), and instants past 9999 in UTC, which it stored and every later read then failed to
 * write back (a todo's deadline: the user's list answered 500 until the todo was deleted).
 */
function storableDateTime(rfc3339: (text: string) => boolean): (text: string) => boolean {
  return (text) => {
    if (!rfc3339(text) || !DATE_TIME_END.test(text)) return false;
    const ms = Date.parse(`${text.slice(0, 10)}T${text.slice(11)}`);
    return Number.isFinite(ms) && ms >= FIRST_MS && ms <= LAST_MS;
  };
}

function createAjv(options: Options, shared: readonly TSchema[]): Ajv {
  const ajv = new Ajv({ useDefaults: true, removeAdditional: false, allErrors: false, strict: false, ...options });
  addFormats(ajv);
  const rfc3339 = ajv.formats['date-time'] as { validate: (text: string) => boolean };
  ajv.addFormat('date-time', { type: 'string', validate: storableDateTime(rfc3339.validate) });
  for (const s of shared) ajv.addSchema(s);
  return ajv;
}

/** Installs the validators; `shared` are the schemas routes refer to by `$id`. */
export function installValidation(app: FastifyInstance, shared: readonly TSchema[]): void {
  const body = createAjv({ coerceTypes: false }, shared);
  const text = createAjv({ coerceTypes: 'array' }, shared);
  for (const s of shared) app.addSchema(s);
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema));
}
