/**
 * @module http/errors
 * One place that turns every error into a JSON response. Bad input of any kind (schema,
 * JSON syntax, size, media type, unknown ids, names outside the allow-list) is a 4xx with a
 * stable `code`; a dependency that is down is a 503; only a bug is a 500.
 */
import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import { CeleriacError, ErrorCodes, ResultTimeoutError } from 'celeriac';
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { ConflictError, NotFoundError } from '../todos/service.js';
import { SECURITY_HEADERS } from './headers.js';
import type { ErrorBody } from './schemas.js';

/** An error with the HTTP answer it deserves. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 406: 'Not Acceptable', 408: 'Request Timeout', 409: 'Conflict',
  413: 'Payload Too Large', 414: 'URI Too Long', 415: 'Unsupported Media Type', 422: 'Unprocessable Entity', 429: 'Too Many Requests', 431: 'Request Header Fields Too Large',
  500: 'Internal Server Error', 501: 'Not Implemented', 503: 'Service Unavailable', 504: 'Gateway Timeout',
};

/** The JSON body of an error response. */
export function errorBody(statusCode: number, code: string, message: string, requestId: string): ErrorBody {
  return { statusCode, error: STATUS_TEXT[statusCode] ?? 'Error', code, message, requestId };
}

/** Maps an error to status, code and message. */
export function classify(err: unknown): { status: number; code: string; message: string } {
  if (err instanceof HttpError) return { status: err.statusCode, code: err.code, message: err.message };
  if (err instanceof NotFoundError) return { status: 404, code: 'NOT_FOUND', message: err.message };
  if (err instanceof ConflictError) return { status: 409, code: 'CONFLICT', message: err.message };
  if (err instanceof ResultTimeoutError) return { status: 504, code: 'TASK_TIMEOUT', message: 'the task did not finish in time; is a worker running?' };
  if (err instanceof CeleriacError) {
    if (err.code === ErrorCodes.INVALID_ARGUMENT) return { status: 400, code: 'INVALID_CALL', message: err.message };
    if (err.code === ErrorCodes.TRANSPORT) return { status: 503, code: 'BROKER_UNAVAILABLE', message: 'the broker or result backend is unavailable' };
    // A role the configured adapters do not play (saved groups on a backend that keeps none).
    if (err.code === ErrorCodes.CONFIG) return { status: 501, code: 'NOT_SUPPORTED', message: err.message };
  }
  const fe = err as Partial<FastifyError>;
  if (fe.validation !== undefined) return { status: 400, code: 'VALIDATION_FAILED', message: fe.message ?? 'invalid request' };
  // Fastify's own client errors (bad JSON, too large, wrong media type...) carry a 4xx status.
  if (typeof fe.statusCode === 'number' && fe.statusCode >= 400 && fe.statusCode < 500) {
    return { status: fe.statusCode, code: fe.code ?? 'BAD_REQUEST', message: fe.message ?? 'bad request' };
  }
  const code = (err as { code?: unknown }).code;
  // Connection failures of pg, redis and the broker: a dependency is down, not a bug.
  if (typeof code === 'string' && /^(ECONNREFUSED|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENOTFOUND|57P0[1-3]|08\d\d\d)$/.test(code)) {
    return { status: 503, code: 'DEPENDENCY_UNAVAILABLE', message: 'a service the API depends on is unavailable' };
  }
  return { status: 500, code: 'INTERNAL', message: 'internal error' };
}

/** Installs the error and not-found handlers. */
export function installErrorHandlers(app: FastifyInstance): void {
  app.setErrorHandler((err: unknown, request: FastifyRequest, reply: FastifyReply) => {
    const { status, code, message } = classify(err);
    if (status >= 500) request.log.error({ err }, 'request failed');
    else request.log.info({ code, reason: message }, 'request refused');
    void reply.status(status).send(errorBody(status, code, message, request.id));
  });
  app.setNotFoundHandler((request, reply) => {
    void reply.status(404).send(errorBody(404, 'ROUTE_NOT_FOUND', `no route ${request.method} ${request.url.split('?')[0]}`, request.id));
  });
}

/**
 * Fastify's `frameworkErrors`: what the router refuses before a route or hook runs (a URL with
 * a bad percent-escape, a path parameter past the router's length). Without it the answer
 * had another body, no request id and none of the security headers.
 */
export function frameworkErrors(err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  const { status, code, message } =
    err.code === 'FST_ERR_BAD_URL'
      ? { status: 400, code: 'BAD_URL', message: 'the URL holds an invalid percent-escape' }
      : err.code === 'FST_ERR_MAX_PARAM_LENGTH'
        ? { status: 414, code: 'URL_TOO_LONG', message: 'a part of the URL is longer than the server reads' }
        : classify(err);
  request.log.info({ code, reason: err.code }, 'request refused');
  void reply.status(status).header('x-request-id', request.id).headers(SECURITY_HEADERS).send(errorBody(status, code, message, request.id));
}

/**
 * Fastify's `clientErrorHandler`: what Node's HTTP parser refuses, before there is a request
 * (headers too large, bytes that are not HTTP, a request that did not arrive in time). The
 * same JSON error as every other answer, with the security headers and a fresh request id,
 * then the connection is closed, as Node does.
 */
export function clientErrorHandler(this: FastifyInstance, err: NodeJS.ErrnoException, socket: Socket): void {
  // A reset connection has nobody to answer.
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const [status, code, message] =
    err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
      ? [408, 'REQUEST_TIMEOUT', 'the request did not arrive in time']
      : err.code === 'HPE_HEADER_OVERFLOW'
        ? [431, 'HEADERS_TOO_LARGE', 'the request line and headers are larger than the server reads']
        : [400, 'MALFORMED_REQUEST', 'the request is not valid HTTP/1.1'];
  const requestId = randomUUID();
  this.log.info({ code, reason: err.code, requestId }, 'request refused');
  if (socket.writable) {
    const body = JSON.stringify(errorBody(status, code, message, requestId));
    const headers = { ...SECURITY_HEADERS, 'x-request-id': requestId, 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(body)), connection: 'close' };
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    socket.write(`HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n${lines.join('')}\r\n${body}`);
  }
  socket.destroy();
}
