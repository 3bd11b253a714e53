/**
 * @module http/sse
 * Server-sent events over a Fastify reply: the response is taken over (`hijack`), events
 * are written as `event:` / `data:` lines, a comment every 15 s keeps proxies from closing
 * an idle stream, and `close` runs once when either side ends it.
 *
 * A client that does not read is disconnected once {@link MAX_UNSENT} bytes wait for it, so the
 * server never holds more than that per stream (before, a stream of the live page that was
 * never read kept every change in memory). Its `EventSource` reconnects after the `retry` and
 * starts again from a fresh snapshot, as after any dropped connection.
 *
 * All the streams of the process share a budget too: at most {@link SseLimits.maxStreams} are
 * open at once (the next is refused with a 503), and each may leave unsent its share of
 * {@link SseLimits.unsentBudget}, within {@link MIN_UNSENT} and {@link MAX_UNSENT}. Per stream
 * alone, 3,000 clients that never read held 3 GB between them, and the process died out of memory.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';

/** An open event stream. */
export interface SseStream {
  /** Sends one event with a JSON payload; false once the stream is closed. */
  send(event: string, data: unknown): boolean;
  /** Ends the stream (idempotent). */
  close(): void;
  /** Runs `fn` when the stream ends, from either side. */
  onClose(fn: () => void): void;
}

const KEEPALIVE_MS = 15_000;

/** Bytes written and not yet taken by the client past which the stream is closed, at most. */
export const MAX_UNSENT = 1 << 20;
/** ... and at least, whatever the number of streams. */
export const MIN_UNSENT = 64 << 10;

/** How many streams the process holds, and how much they may leave unsent together. */
export interface SseLimits {
  /** @default 1000 */
  readonly maxStreams: number;
  /** Bytes, shared out between the open streams. @default 64 MiB */
  readonly unsentBudget: number;
}

const DEFAULT_LIMITS: SseLimits = { maxStreams: 1000, unsentBudget: 64 << 20 };

/** The process's open streams. */
let openStreams = 0;

/**
 * Opens an event stream on `reply`.
 * @throws HttpError 503 TOO_MANY_STREAMS when `limits.maxStreams` are open already.
 */
export function openSse(request: FastifyRequest, reply: FastifyReply, limits: SseLimits = DEFAULT_LIMITS): SseStream {
  if (openStreams >= limits.maxStreams) {
    throw new HttpError(503, 'TOO_MANY_STREAMS', `this server holds ${limits.maxStreams} event streams already; try again later`);
  }
  openStreams += 1;
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-request-id': request.id,
    // nginx and similar proxies buffer responses unless told not to.
    'x-accel-buffering': 'no',
  });
  res.write('retry: 2000\n\n');
  let closed = false;
  const closers: (() => void)[] = [];
  const keepalive = setInterval(() => write(': keepalive\n\n'), KEEPALIVE_MS);
  keepalive.unref();
  /** Ends the stream once; `drop`: at once, with what is unsent (the client does not read). */
  const finish = (drop: boolean) => {
    if (closed) return;
    closed = true;
    openStreams -= 1;
    clearInterval(keepalive);
    for (const fn of closers) fn();
    if (drop) res.destroy();
    else res.end();
  };
  const close = () => finish(false);
  /** Writes `text`, or drops the stream when the client left too much unread; false once closed. */
  const write = (text: string): boolean => {
    if (closed) return false;
    if (res.writableLength > Math.min(MAX_UNSENT, Math.max(MIN_UNSENT, limits.unsentBudget / openStreams))) {
      finish(true);
      return false;
    }
    res.write(text);
    return true;
  };
  request.raw.on('close', close);
  res.on('close', close);
  return {
    send: (event, data) => write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`),
    close,
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
  };
}
