/**
 * @module redis/error-kind
 * What a Redis failure means for a retry, decided by the reply's error code (its first word)
 * or the socket error's code, not by the wording of the message:
 * - `transient`: the server is there but cannot serve for now (loading its dataset, a busy
 *   script, a replica during a failover, out of memory, a failing save) or the connection
 *   failed: waiting helps;
 * - `refused`: credentials or configuration that no wait can fix (a wrong password, a user
 *   without the permission, a database index the server does not have, an untrusted
 *   certificate): report once and stop;
 * - `final`: a reply to this command that no wait changes (a key of the wrong type, a script
 *   error, an unknown command): the command failed, the server is fine;
 * - `other`: none of these (an error that is not Redis's): the caller decides.
 *
 * This is the one module that reads a reply's code; redis/client.ts turns the kind into the
 * CeleriacError code callers match on (TRANSPORT, COMMAND_REFUSED, CONFIG).
 */
import { failureState } from '../core/failure-state.js';

/** The meaning of a Redis failure for a retry (see the module header). */
export type RedisFailureKind = 'transient' | 'refused' | 'final' | 'other';

/** Error codes of replies that say "not now". */
const TRANSIENT_CODES = new Set(['LOADING', 'BUSY', 'MASTERDOWN', 'TRYAGAIN', 'READONLY', 'OOM', 'CLUSTERDOWN', 'MISCONF', 'NOREPLICAS', 'MASTER_NOT_READY']);

/** Error codes of replies that say "not this command, ever" (refusals aside: REFUSED_ERR). */
const FINAL_CODES = new Set(['WRONGTYPE', 'ERR', 'NOSCRIPT', 'EXECABORT']);

/** Error codes of replies that say "never, as configured". */
const REFUSED_CODES = new Set(['WRONGPASS', 'NOAUTH', 'NOPERM']);

/**
 * Replies that share the generic `ERR` code but are configuration mistakes: SELECT of a
 * database the server does not have (a wrong `/db` in the URL), a password sent to a server
 * that has none, a server before 6.0 asked for RESP3 (`HELLO`, redis/lazy-client.ts falls back
 * to RESP2). With TRANSIENT_ERR, the only free-text matches here; Redis gives them no code of their own.
 */
const REFUSED_ERR = /^ERR (?:DB index is out of range|invalid DB index|AUTH <password> called without any password configured|Client sent AUTH, but no password is set|unknown command .HELLO.)/;

/** The one `ERR` reply that says "not now": a server at its `maxclients`. */
const TRANSIENT_ERR = /^ERR max number of clients reached/;

/** Node socket codes of a connection that failed or broke (the server may come back). */
const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/**
 * node-redis's error classes for a connection that failed, broke or timed out. Matched by the
 * class's own name: node-redis does not set `name` on them, so their `.name` reads `Error`.
 */
const CONNECTION_ERRORS = new Set(['SocketClosedUnexpectedlyError', 'ConnectionTimeoutError', 'SocketTimeoutError', 'ClientClosedError', 'ClientOfflineError', 'ReconnectStrategyError']);

/** Whether `e` is one of {@link CONNECTION_ERRORS}, by its `name` or by its class. */
function isConnectionError(e: Error): boolean {
  return CONNECTION_ERRORS.has(e.name) || CONNECTION_ERRORS.has((e.constructor as { name?: unknown } | undefined)?.name as string);
}

/** Node's TLS verification failures: an untrusted or wrong certificate. */
const TLS_VERIFY_CODES = new Set([
  'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'CERT_HAS_EXPIRED', 'CERT_NOT_YET_VALID', 'ERR_TLS_CERT_ALTNAME_INVALID',
]);

/** The errors of the cause chain, outermost first (bounded: chains can loop). */
export function* chain(err: unknown): Generator<Error> {
  for (let e = err, depth = 0; e instanceof Error && depth < 8; depth++, e = e.cause) yield e;
}

/** What `err` (a node-redis error, or a CeleriacError wrapping one) means for a retry. */
export function classifyRedisFailure(err: unknown): RedisFailureKind {
  // A thrown string or object is nobody's reply.
  if (!(err instanceof Error)) return 'other';
  for (const e of chain(err)) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && TLS_VERIFY_CODES.has(code)) return 'refused';
    if (REFUSED_ERR.test(e.message)) return 'refused';
  }
  const state = failureState(err);
  if (REFUSED_CODES.has(state)) return 'refused';
  if (TRANSIENT_CODES.has(state) || CONNECTION_CODES.has(state)) return 'transient';
  for (const e of chain(err)) if (TRANSIENT_ERR.test(e.message)) return 'transient';
  for (const e of chain(err)) if (isConnectionError(e)) return 'transient';
  return FINAL_CODES.has(state) ? 'final' : 'other';
}

/**
 * The server's own "not now" reply (OOM, READONLY, LOADING...): the connection that carried it
 * works, unlike a connection that failed, the other kind of `transient`. Null when `err` is not
 * such a reply; else its code.
 */
export function transientReply(err: unknown): string | null {
  if (!(err instanceof Error)) return null;
  const state = failureState(err);
  return TRANSIENT_CODES.has(state) ? state : null;
}
