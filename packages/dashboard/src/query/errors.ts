/**
 * @module query/errors
 * The one error a bad search raises, with the character position it points at, so the UI
 * can underline it and the API can answer 400 with the same text.
 */

/** A search that cannot be parsed or is too large. `position` is a 0-based character offset. */
export class QuerySyntaxError extends Error {
  /** Stable code for API error bodies. */
  readonly code = 'QUERY_SYNTAX';
  override readonly name = 'QuerySyntaxError';

  constructor(
    /** What is wrong, without the position (see `message`). */
    readonly reason: string,
    readonly position: number,
  ) {
    super(`${reason} (at character ${position + 1})`);
  }
}
