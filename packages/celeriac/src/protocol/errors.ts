/**
 * @module protocol/errors
 * The single error type raised by the protocol layer. Decoders see bytes written by other
 * processes (Python Celery, other Celeriac versions, hand-made messages), so every failure
 * they can hit is reported as a {@link ProtocolError} with a machine-readable `reason`,
 * never as a raw `TypeError` or `SyntaxError`.
 */

import { CeleriacError, ErrorCodes, brandClass } from '../errors.js';

/**
 * Why a message could not be decoded.
 *
 * - `bad-json`: the text is not valid JSON.
 * - `bad-envelope`: the transport envelope lacks a field or has one of the wrong type.
 * - `bad-body`: the task body or result record has the wrong shape.
 * - `unsafe-content-type`: pickle or YAML, which we refuse to decode on purpose.
 * - `unknown-content-type`: a serializer we do not implement (msgpack, anything else).
 * - `bad-headers`: task headers missing or of the wrong type (incl. unparsable times).
 * - `bad-encoding`: an unknown body encoding, bad base64, invalid UTF-8, or compression.
 */
export type ProtocolErrorReason =
  | 'bad-json'
  | 'bad-envelope'
  | 'bad-body'
  | 'unsafe-content-type'
  | 'unknown-content-type'
  | 'bad-headers'
  | 'bad-encoding';

/** A message or record that cannot be decoded. `code` is always `ErrorCodes.PROTOCOL`. */
export class ProtocolError extends CeleriacError {
  /** The category of failure; stable, safe to branch on. */
  readonly reason: ProtocolErrorReason;

  constructor(reason: ProtocolErrorReason, message: string, options: { cause?: unknown } = {}) {
    super(ErrorCodes.PROTOCOL, message, options);
    this.reason = reason;
  }
}

// instanceof across copies of the package (errors.ts).
brandClass(ProtocolError, 'ProtocolError');
