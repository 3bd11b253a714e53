/**
 * @module http/json-depth
 * Request bodies nested deeper than any route needs are refused before they are parsed:
 * a few kilobytes of `[[[[...` would otherwise reach code that recurses over the value
 * (validation, serialization) and exhaust the stack.
 */
import { parsePyJson } from 'celeriac/monitor';
import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.js';

/** Deepest nesting of arrays and objects a body may have. */
export const MAX_JSON_DEPTH = 32;

/** The deepest nesting of `text`, counting brackets outside strings. */
export function jsonDepth(text: string): number {
  let depth = 0;
  let max = 0;
  let inString = false;
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 92 /* \ */) i += 1;
      else if (c === 34 /* " */) inString = false;
    } else if (c === 34) inString = true;
    else if (c === 91 /* [ */ || c === 123 /* { */) max = Math.max(max, ++depth);
    else if (c === 93 /* ] */ || c === 125 /* } */) depth -= 1;
  }
  return max;
}

/** A run of digits as long as the shortest integer a double cannot hold (2**53 has 16). */
const LONG_DIGITS = /\d{16}/;

/**
 * Replaces the JSON parser with one that checks depth first, then parses as Fastify does (no
 * `__proto__` keys). A body with an integer a double cannot hold (a Snowflake id in a task's
 * args) is then read again with the engine's reader, which keeps it exact as a bigint:
 * JSON.parse rounded it, and the task got another number.
 */
export function installJsonParser(app: FastifyInstance): void {
  const parse = app.getDefaultJsonParser('error', 'error');
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, body, done) => {
    const text = body as string;
    if (jsonDepth(text) > MAX_JSON_DEPTH) {
      done(new HttpError(400, 'BODY_TOO_DEEP', `request bodies may nest arrays and objects at most ${MAX_JSON_DEPTH} deep`), undefined);
      return;
    }
    parse(request, text, (error, value) => {
      if (error !== null || !LONG_DIGITS.test(text)) done(error, value);
      else done(null, parsePyJson(text));
    });
  });
}
