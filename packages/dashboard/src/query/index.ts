/**
 * @module query
 * The dashboard's search language, shared by the tasks page and `/api/tasks?search=`:
 * `state:FAILURE name:proj.* kwargs.user_id:42 (timeout OR "connection reset") -worker:old@*`.
 * {@link searchToSql} parses and compiles in one step.
 */
import { compileQuery } from './compile.js';
import type { CompileContext } from './compile.js';
import { parseQuery } from './parser.js';

export { QuerySyntaxError } from './errors.js';
export { parseQuery, QUERY_LIMITS } from './parser.js';
export type { QueryNode } from './parser.js';
export type { TextCandidates } from './compile.js';
export { compileQuery, containsPattern, likeLiteral, SEARCH_FIELD_CHARS, SEARCH_FIELDS, searchTextTerms, SqlParams, termWords, textWords } from './compile.js';
export type { CompileContext } from './compile.js';

/** The SQL condition for a search, or null when it is empty. Throws `QuerySyntaxError`. */
export function searchToSql(search: string, ctx: CompileContext): string | null {
  const node = parseQuery(search);
  return node === null ? null : compileQuery(node, ctx);
}
