/**
 * @module core/failure-state
 * The state a failure shows, as a short stable word: what outage logs compare to tell "still
 * the same outage" (log nothing new) from "something changed" (log one line). A server's
 * error code (Redis: the first word of an error reply, `OOM`, `LOADING`...), else a socket
 * error code (`ECONNREFUSED`, also when only written in the message), else the error's class
 * name. Messages are compared only as a last resort, digits blanked: they carry ports, ids and
 * counts that change from one attempt to the next.
 */

/** Redis (and RESP servers in general) start an error reply with an upper-case code word. */
const REPLY_CODE = /^([A-Z][A-Z0-9_]{2,})(?:\s|$)/;

/**
 * A socket error's code written into a message: node-redis's Sentinel client emits the
 * failures of its sentinel connection as strings (`obseve client error: Error: connect
 * ECONNREFUSED 10.0.0.5:26379`), so the same outage came as two states a second apart, that
 * string and the master connection's `ECONNREFUSED`, and logged a line each every second.
 */
const SOCKET_CODE_IN_TEXT = /\b(ECONNREFUSED|ECONNRESET|ECONNABORTED|ETIMEDOUT|EHOSTUNREACH|EHOSTDOWN|ENETUNREACH|ENETDOWN|EPIPE|EADDRNOTAVAIL|EAI_AGAIN|ENOTFOUND)\b/;

/** `<prefix>: Error: <message>`: an Error turned into text and written after a prefix. */
const WRAPPED_ERROR = /^[^:]*: Error: (.+)$/s;

/** The errors of `err`'s cause chain, innermost first (at most 8 deep: chains can loop). */
function causeChain(err: unknown): unknown[] {
  const chain: unknown[] = [];
  for (let e = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    chain.unshift(e);
    e = e instanceof Error ? e.cause : undefined;
  }
  return chain;
}

/**
 * The state of failure `err` (see the module header): `OOM`, `ECONNREFUSED`,
 * `SocketClosedUnexpectedlyError`... Never empty.
 */
export function failureState(err: unknown): string {
  for (const e of causeChain(err)) {
    if (!(e instanceof Error)) continue;
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z0-9_]+$/.test(code)) return code;
    const word = REPLY_CODE.exec(e.message)?.[1];
    if (word !== undefined) return word;
  }
  const innermost = causeChain(err)[0];
  if (innermost instanceof Error && innermost.name !== 'Error') return innermost.name;
  const written = innermost instanceof Error ? innermost.message : String(innermost);
  // An error written into a string after a prefix (node-redis's `obseve client error: Error:
  // Socket closed unexpectedly`) is the error's own state.
  const text = WRAPPED_ERROR.exec(written)?.[1] ?? written;
  return SOCKET_CODE_IN_TEXT.exec(text)?.[1] ?? (text.replace(/\d+/g, '#').slice(0, 80) || 'Error');
}
