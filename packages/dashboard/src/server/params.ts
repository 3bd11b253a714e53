/**
 * @module server/params
 * Request parameters as Flower reads them (Tornado's `get_argument`): the query string and a
 * form body are interchangeable, the last value wins. Typed readers answer a bad value with
 * Flower's 400 text (`Invalid argument 'x' of type 'bool'`), thrown as {@link HttpError}.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

/** An error with the HTTP status and body to answer. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    /** `text` (Flower's worker routes), `json` ({error}), or `empty` (Flower's task routes). */
    readonly body: 'text' | 'json' | 'empty' = 'text',
  ) {
    super(message);
  }
}

type Bag = Record<string, unknown>;

/** Text no database or broker accepts (NUL) is refused at the door. */
function checked(v: string): string {
  if (v.includes('\0')) throw new HttpError(400, 'Invalid argument: NUL character', 'json');
  return v;
}

function lastString(v: unknown): string | undefined {
  if (Array.isArray(v)) return lastString(v.at(-1));
  if (typeof v === 'string') return checked(v);
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Every value of a parameter (query and form body), in order. */
export function all(req: FastifyRequest, name: string): string[] {
  const out: string[] = [];
  for (const bag of [req.query as Bag | undefined, isForm(req) ? (req.body as Bag | undefined) : undefined]) {
    const v = bag?.[name];
    if (v === undefined) continue;
    for (const x of Array.isArray(v) ? v : [v]) if (typeof x === 'string' || typeof x === 'number') out.push(checked(String(x)));
  }
  return out;
}

function isForm(req: FastifyRequest): boolean {
  return typeof req.body === 'object' && req.body !== null && (req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
}

/** A parameter's last value, form body over query (as Tornado's `get_argument`). */
export function str(req: FastifyRequest, name: string): string | undefined {
  if (isForm(req)) {
    const v = lastString((req.body as Bag)[name]);
    if (v !== undefined) return v;
  }
  return lastString((req.query as Bag | undefined)?.[name]);
}

const TRUE = new Set(['y', 'yes', 't', 'true', 'on', '1']);
const FALSE = new Set(['n', 'no', 'f', 'false', 'off', '0']);

/** strtobool, with Flower's 400 on anything else. */
export function bool(req: FastifyRequest, name: string, fallback: boolean): boolean {
  const v = str(req, name);
  if (v === undefined) return fallback;
  const s = v.trim().toLowerCase();
  if (TRUE.has(s)) return true;
  if (FALSE.has(s)) return false;
  throw new HttpError(400, `Invalid argument '${name}' of type 'bool'`);
}

/**
 * An integer parameter; 400 when not an integer, or past 2**53 either way: `offset=1e20` went
 * to Postgres as a bigint out of range (a 500).
 */
export function int(req: FastifyRequest, name: string, fallback: number | undefined, { min = -Number.MAX_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = {}): number | undefined {
  const v = str(req, name);
  if (v === undefined || v === '') return fallback;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new HttpError(400, `Invalid argument '${name}' of type 'int'`);
  return n;
}

/** A float parameter; 400 when not a finite number. */
export function float(req: FastifyRequest, name: string): number | undefined {
  const v = str(req, name);
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!Number.isFinite(n)) throw new HttpError(400, `Invalid argument '${name}' of type 'float'`);
  return n;
}

/** Answers an {@link HttpError} in its body style. */
export function sendError(reply: FastifyReply, error: HttpError): FastifyReply {
  reply.code(error.status);
  if (error.body === 'empty') return reply.send();
  if (error.body === 'json') return reply.type('application/json').send({ error: error.message });
  return reply.type('text/plain; charset=utf-8').send(error.message);
}
