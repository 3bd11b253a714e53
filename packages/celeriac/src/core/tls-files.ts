/**
 * @module core/tls-files
 * The PEM files a TLS connection is given (a CA to trust, a client certificate and its key),
 * read when the connection is made: by Redis clients (redis/client.ts) and RabbitMQ sessions
 * (amqp/session.ts) alike.
 */
import { readFileSync } from 'node:fs';
import { CeleriacError, ErrorCodes, coerceError } from '../errors.js';

/** What a TLS connection checks and presents, as file paths. */
export interface TlsFiles {
  /** PEM file of the CA(s) to trust instead of Node's default store. */
  caFile?: string;
  /** PEM client certificate, for servers that require one. */
  certFile?: string;
  /** PEM private key of the client certificate. */
  keyFile?: string;
  /** Verify the server certificate and host name; false only when told not to. */
  verify: boolean;
}

/** The names the user gave the three files, for error messages (redis-py's, py-amqp's). */
export interface TlsFileNames {
  readonly ca: string;
  readonly cert: string;
  readonly key: string;
}

/**
 * Node TLS socket options for `files`: the PEM texts and `rejectUnauthorized`.
 * @throws CeleriacError CONFIG naming a file that cannot be read, prefixed with `owner`.
 */
export function tlsFileOptions(files: TlsFiles | undefined, names: TlsFileNames, owner: string): Record<string, unknown> {
  if (files === undefined) return {};
  const read = (file: string | undefined, what: string): string | undefined => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (error) {
      throw new CeleriacError(ErrorCodes.CONFIG, `${owner}: cannot read the ${what} file ${file}: ${coerceError(error).message}`, { cause: error });
    }
  };
  return {
    ...(files.caFile === undefined ? {} : { ca: read(files.caFile, names.ca) }),
    ...(files.certFile === undefined ? {} : { cert: read(files.certFile, names.cert) }),
    ...(files.keyFile === undefined ? {} : { key: read(files.keyFile, names.key) }),
    rejectUnauthorized: files.verify,
  };
}
