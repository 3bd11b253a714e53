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

function createAjv(options: Options, shared: readonly TSchema[]): Ajv {
  const ajv = new Ajv({ useDefaults: true, removeAdditional: false, allErrors: false, strict: false, ...options });
  addFormats(ajv);
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
