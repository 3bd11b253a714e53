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
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

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

/** Bytes written and not yet taken by the client past which the stream is closed. */
export const MAX_UNSENT = 1 << 20;

/** Opens an event stream on `reply`. */
export function openSse(request: FastifyRequest, reply: FastifyReply): SseStream {
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
    clearInterval(keepalive);
    for (const fn of closers) fn();
    if (drop) res.destroy();
    else res.end();
  };
  const close = () => finish(false);
  /** Writes `text`, or drops the stream when the client left too much unread; false once closed. */
  const write = (text: string): boolean => {
    if (closed) return false;
    if (res.writableLength > MAX_UNSENT) {
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
