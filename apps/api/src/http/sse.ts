/**
 * @module http/sse
 * Server-sent events over a Fastify reply: the response is taken over (`hijack`), events
 * are written as `event:` / `data:` lines, a comment every 15 s keeps proxies from closing
 * an idle stream, and `close` runs once when either side ends it.
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
  const keepalive = setInterval(() => res.write(': keepalive\n\n'), KEEPALIVE_MS);
  keepalive.unref();
  const close = () => {
    if (closed) return;
    closed = true;
    clearInterval(keepalive);
    for (const fn of closers) fn();
    res.end();
  };
  request.raw.on('close', close);
  res.on('close', close);
  return {
    send(event, data) {
      if (closed) return false;
      res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      return true;
    },
    close,
    onClose(fn) {
      if (closed) fn();
      else closers.push(fn);
    },
  };
}
