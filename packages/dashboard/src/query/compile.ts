/**
 * @module query/compile
 * Turns a parsed search into a SQL condition on the store's `tasks` table. User text only
 * ever reaches SQL as a bound parameter (`$n`); field names are looked up in a fixed table,
 * never interpolated. Every condition is written so that it is true or false, never NULL,
 * so NOT behaves as users expect on tasks that lack a field.
 *
 * Text conditions go through `search_text` (a lower-cased copy of the searchable fields,
 * each cut to {@link SEARCH_FIELD_CHARS}); the word blocks narrow a rare term's candidates
 * to a few before `LIKE '%foo%'` checks them.
 */
import { QuerySyntaxError } from './errors.js';
import type { FieldOp } from './lexer.js';
import type { QueryNode } from './parser.js';

/** Characters of each field that text search sees (the schema's `search_text` uses the same). */
export const SEARCH_FIELD_CHARS = 1024;

/** Collects bound parameters; `add` returns the placeholder. */
export class SqlParams {
  readonly values: unknown[] = [];
  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}

/** What a search compiles against. */
export interface CompileContext {
  readonly params: SqlParams;
  /** Epoch ms that relative times (`received>-1h`) count back from. */
  readonly now: number;
  /** The store's index of free text, if it has one for a term (see {@link TextCandidates}). */
  readonly candidates?: TextCandidates;
}

/**
 * For a text term (lower-cased), SQL selecting the uuids of the tasks that may contain it: a
 * superset of its matches (store/word-blocks), so the condition stays exact, NOT included.
 * Undefined when the term is better matched by scanning.
 */
export type TextCandidates = (term: string, params: SqlParams) => string | undefined;

type Leaf = Extract<QueryNode, { kind: 'field' }>;

// Exact-match columns: `name:proj.add`, with `*` as a wildcard and `,` for alternatives.
const EXACT: Readonly<Record<string, string>> = {
  name: 'name', task: 'name', worker: 'worker', hostname: 'worker', queue: 'queue',
  uuid: 'uuid', id: 'uuid', root: 'root_id', root_id: 'root_id', parent: 'parent_id', parent_id: 'parent_id',
  group: 'group_id', group_id: 'group_id', routing_key: 'routing_key', exchange: 'exchange',
};
// Payload columns matched as case-insensitive substrings.
const TEXT: ReadonlySet<string> = new Set(['args', 'kwargs', 'result', 'exception', 'traceback']);
const NUMERIC: Readonly<Record<string, string>> = { runtime: 'runtime', retries: 'retries' };
// Time fields and their columns (`timestamp`, when the current state was set, is `state_ts`).
const TIMES: Readonly<Record<string, string>> = {
  timestamp: 'state_ts', sent: 'sent', received: 'received', started: 'started',
  succeeded: 'succeeded', failed: 'failed', retried: 'retried', revoked: 'revoked',
};

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Field names the language knows, for error messages and docs. */
export const SEARCH_FIELDS: readonly string[] = ['state', ...Object.keys(EXACT), ...TEXT, 'kwargs.<key>', ...Object.keys(NUMERIC), ...Object.keys(TIMES)];

const SQL_OPS: Readonly<Record<Exclude<FieldOp, ':'>, string>> = { '>': '>', '>=': '>=', '<': '<', '<=': '<=' };

/** `foo` as a LIKE pattern matching itself literally. */
export function likeLiteral(text: string): string {
  return text.replace(/[\\%_]/g, (c) => `\\${c}`);
}

/** A LIKE pattern matching any text that contains `value`, lower-cased. */
export function containsPattern(value: string): string {
  return `%${likeLiteral(value.toLowerCase())}%`;
}

const WORD = /[\p{L}\p{N}]+/gu;

/** The words of a lower-cased text (runs of letters and digits), in order, with repeats. */
export function textWords(lowered: string): string[] {
  return lowered.match(WORD) ?? [];
}

/**
 * The words of a text term long enough to have a trigram of their own (three characters or
 * more), without repeats: the ones the word blocks can look up (store/word-blocks).
 */
export function termWords(term: string): string[] {
  return [...new Set(textWords(term.toLowerCase()).filter((w) => w.length >= 3))];
}

/**
 * `search_text` contains `value`; with the store's candidates for the term, only among them.
 */
function textInSearch(value: string, ctx: CompileContext, pattern?: string): string {
  const like = `search_text LIKE ${pattern ?? ctx.params.add(containsPattern(value))}`;
  const candidates = ctx.candidates?.(value.toLowerCase(), ctx.params);
  return candidates === undefined ? like : `(${like} AND uuid IN (${candidates}))`;
}

/** The text terms of a search that go through `search_text` (free text and payload fields but the traceback). */
export function searchTextTerms(node: QueryNode): string[] {
  switch (node.kind) {
    case 'and':
    case 'or':
      return node.children.flatMap(searchTextTerms);
    case 'not':
      return searchTextTerms(node.child);
    case 'text':
      return [node.value];
    case 'field': {
      const field = node.field.toLowerCase();
      return TEXT.has(field) && field !== 'traceback' && node.op === ':' ? [node.value] : [];
    }
  }
}

function fail(leaf: Leaf, reason: string): never {
  throw new QuerySyntaxError(reason, leaf.pos);
}

function exact(leaf: Leaf, column: string, ctx: CompileContext, upper = false): string {
  if (leaf.op !== ':') fail(leaf, `${leaf.field} takes ':' (e.g. ${leaf.field}:value), not '${leaf.op}'`);
  const values = (leaf.quoted ? [leaf.value] : leaf.value.split(',')).filter((v) => v.length > 0);
  if (values.length === 0) fail(leaf, `${leaf.field}: needs a value`);
  const parts = values.map((raw) => {
    const v = upper ? raw.toUpperCase() : raw;
    if (!leaf.quoted && v.includes('*')) {
      const pattern = v.split('*').map(likeLiteral).join('%');
      return `${column} LIKE ${ctx.params.add(pattern)}`;
    }
    return `${column} = ${ctx.params.add(v)}`;
  });
  // IS NOT NULL keeps the condition two-valued under NOT.
  return `(${column} IS NOT NULL AND (${parts.join(' OR ')}))`;
}

function text(leaf: Leaf, column: string, ctx: CompileContext): string {
  if (leaf.op !== ':') fail(leaf, `${leaf.field} takes ':' (e.g. ${leaf.field}:"text"), not '${leaf.op}'`);
  const p = ctx.params.add(containsPattern(leaf.value));
  const own = `coalesce(lower(left(${column}, ${SEARCH_FIELD_CHARS})), '') LIKE ${p}`;
  // The traceback is not in search_text; the others get the indexed prefilter.
  return column === 'traceback' ? `(${own})` : `(${textInSearch(leaf.value, ctx, p)} AND ${own})`;
}

function numberValue(leaf: Leaf): number {
  const n = Number(leaf.value);
  if (leaf.value.trim() === '' || !Number.isFinite(n)) fail(leaf, `${leaf.field} needs a number, got "${leaf.value}"`);
  return n;
}

/**
 * `n` as the integer that `column <op> n` selects the same integers with (`retries>1.5` is
 * `retries>1`), held within 2**53 either way; null for an equality no integer meets. As a
 * parameter of an integer or bigint column, 1.5 or 1e20 was refused by Postgres: a 500.
 */
function integerBound(op: FieldOp, n: number): number | null {
  const whole = op === '>' || op === '<=' ? Math.floor(n) : op === '>=' || op === '<' ? Math.ceil(n) : n;
  if (!Number.isInteger(whole)) return null;
  return Math.min(Math.max(whole, -Number.MAX_SAFE_INTEGER), Number.MAX_SAFE_INTEGER);
}

/** `column <op> n` for a bigint column (an integer one with `cast` '::bigint'); two-valued. */
function integerCompare(column: string, op: FieldOp, n: number, ctx: CompileContext, guard: string, cast = ''): string {
  const bound = integerBound(op, n);
  if (bound === null) return 'FALSE';
  return `(${guard}${column} ${op === ':' ? '=' : SQL_OPS[op]} ${ctx.params.add(bound)}${cast})`;
}

function numeric(leaf: Leaf, column: string, ctx: CompileContext): string {
  if (column === 'retries') return integerCompare(column, leaf.op, numberValue(leaf), ctx, `${column} IS NOT NULL AND `, '::bigint');
  const op = leaf.op === ':' ? '=' : SQL_OPS[leaf.op];
  return `(${column} IS NOT NULL AND ${column} ${op} ${ctx.params.add(numberValue(leaf))})`;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 };

/** `-15m`, `-2h`, ISO dates and datetimes (UTC unless they carry an offset), epoch ms. */
function timeValue(leaf: Leaf, now: number): { at: number; day: boolean } {
  const v = leaf.value.trim();
  const rel = /^-(\d+(?:\.\d+)?)(ms|s|m|h|d|w)$/.exec(v);
  if (rel !== null) return { at: now - Number(rel[1]) * (UNIT_MS[rel[2] as string] as number), day: false };
  if (/^\d{10,}$/.test(v)) return { at: Number(v), day: false };
  if (/^\d{4}-\d{2}-\d{2}$/.test(v)) {
    const at = Date.parse(`${v}T00:00:00Z`);
    if (Number.isFinite(at)) return { at, day: true };
  }
  if (/^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/.test(v)) {
    const iso = v.replace(' ', 'T');
    const at = Date.parse(/(Z|[+-]\d{2}:?\d{2})$/.test(iso) ? iso : `${iso}Z`);
    if (Number.isFinite(at)) return { at, day: false };
  }
  return fail(leaf, `${leaf.field} needs a time: 2026-01-31, 2026-01-31T12:00, -15m, -2h, -7d; got "${leaf.value}"`);
}

/** Farthest from 1970 a JavaScript Date goes, in ms (the year 275760): no task has a time past it. */
const MAX_TIME_MS = 8.64e15;

function time(leaf: Leaf, column: string, ctx: CompileContext): string {
  const { at, day } = timeValue(leaf, ctx.now);
  // received>99999999999999999999 or received>-9999999999999d went to Postgres as a bigint out of range: a 500.
  if (!(Math.abs(at) <= MAX_TIME_MS)) fail(leaf, `${leaf.field} needs a time a date can hold (years -271821 to 275760); got "${leaf.value}"`);
  const guard = column === 'state_ts' ? '' : `${column} IS NOT NULL AND `;
  if (leaf.op === ':') {
    if (!day) fail(leaf, `${leaf.field}: takes a date (${leaf.field}:2026-01-31); use > or < with a time`);
    return `(${guard}${column} >= ${ctx.params.add(at)} AND ${column} < ${ctx.params.add(at + 86_400_000)})`;
  }
  // A relative time has fractions of a millisecond (received>-1.5ms), which a bigint refuses.
  return integerCompare(column, leaf.op, at, ctx, guard);
}

/** `42` may be the number 42 or the string "42"; a quoted value is a string only. */
function jsonCandidates(leaf: Leaf): unknown[] {
  if (leaf.quoted) return [leaf.value];
  const v = leaf.value;
  const out: unknown[] = [v];
  if (/^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(v) && Number.isFinite(Number(v))) out.push(Number(v));
  if (v === 'true' || v === 'True') out.push(true);
  if (v === 'false' || v === 'False') out.push(false);
  if (v === 'null' || v === 'None') out.push(null);
  return out;
}

function kwargsKey(leaf: Leaf, ctx: CompileContext): string {
  const path = leaf.field.split('.').slice(1);
  if (path.length === 0 || path.length > 8 || path.some((k) => k.length === 0)) fail(leaf, `kwargs.<key> needs a key, e.g. kwargs.user_id:42`);
  if (leaf.op === ':') {
    const parts = jsonCandidates(leaf).map((value) => {
      let doc: unknown = value;
      for (const key of [...path].reverse()) doc = { [key]: doc };
      // kwargs_json is never NULL ('{}' when unknown), so @> stays two-valued and indexed.
      return `kwargs_json @> ${ctx.params.add(JSON.stringify(doc))}::jsonb`;
    });
    return `(${parts.join(' OR ')})`;
  }
  const n = numberValue(leaf);
  const p = ctx.params.add(path);
  return `(jsonb_typeof(kwargs_json #> ${p}::text[]) = 'number' AND (kwargs_json #>> ${p}::text[])::numeric ${SQL_OPS[leaf.op]} ${ctx.params.add(n)})`;
}

/** `table[key]` when `table` has it as its own: `constructor` or `__proto__` typed as a field name read Object.prototype's members (a 500). */
function columnOf(table: Readonly<Record<string, string>>, key: string): string | undefined {
  return Object.hasOwn(table, key) ? table[key] : undefined;
}

function leafSql(leaf: Leaf, ctx: CompileContext): string {
  const field = leaf.field.toLowerCase();
  if (field === 'state' || field === 'status') return exact(leaf, 'state', ctx, true);
  const exactColumn = columnOf(EXACT, field);
  if (exactColumn !== undefined) return exact(leaf, exactColumn, ctx);
  if (TEXT.has(field)) return text(leaf, field, ctx);
  const numericColumn = columnOf(NUMERIC, field);
  if (numericColumn !== undefined) return numeric(leaf, numericColumn, ctx);
  const timeColumn = columnOf(TIMES, field);
  if (timeColumn !== undefined) return time(leaf, timeColumn, ctx);
  if (field.startsWith('kwargs.')) return kwargsKey(leaf, ctx);
  return fail(leaf, `unknown field "${leaf.field}"; fields: ${SEARCH_FIELDS.join(', ')}`);
}

/** The SQL condition for `node`; parameters are appended to `ctx.params`. */
export function compileQuery(node: QueryNode, ctx: CompileContext): string {
  switch (node.kind) {
    case 'and':
    case 'or':
      return `(${node.children.map((c) => compileQuery(c, ctx)).join(node.kind === 'and' ? ' AND ' : ' OR ')})`;
    case 'not':
      return `(NOT ${compileQuery(node.child, ctx)})`;
    case 'text': {
      // A pasted task id finds its task by key (search_text does not hold ids).
      if (UUID_RE.test(node.value)) return `(uuid = ${ctx.params.add(node.value.toLowerCase())} OR ${textInSearch(node.value, ctx)})`;
      const cond = textInSearch(node.value, ctx);
      return cond.startsWith('(') ? cond : `(${cond})`;
    }
    case 'field':
      return leafSql(node, ctx);
  }
}
