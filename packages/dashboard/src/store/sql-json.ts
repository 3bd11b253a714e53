/**
 * @module store/sql-json
 * JSON text for a batch parameter that Postgres accepts whatever the events contained:
 * Postgres text cannot hold NUL and its JSON parser rejects lone surrogates, which
 * `JSON.stringify` writes as `\u0000` / `\udxxx` escapes. Both become U+FFFD, so one
 * hostile event cannot fail the batch it arrived in.
 */

// An escape preceded by an even number of backslashes is a real escape, not literal text.
const BAD_ESCAPE = /(?<!\\)((?:\\\\)*)\\u(?:0000|d[89a-f][0-9a-f]{2})/gi;

/** `JSON.stringify(value)` with NUL and lone surrogates replaced by U+FFFD. */
export function toSqlJson(value: unknown): string {
  return sanitizeSqlJson(JSON.stringify(value));
}

/** JSON text with its NUL and lone-surrogate escapes replaced by U+FFFD. */
export function sanitizeSqlJson(text: string): string {
  return text.includes('\\u') ? text.replace(BAD_ESCAPE, '$1\\ufffd') : text;
}
