import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import type { ServerResponse } from 'node:http';
import Fastify, { type FastifyInstance } from 'fastify';
import { afterEach, describe, expect, it } from 'vitest';
import { MAX_UNSENT, MIN_UNSENT, openSse, type SseLimits, type SseStream } from './sse.js';

/** A server whose one route opens a stream (under `limits`) and hands it to the test. */
async function serve(limits?: SseLimits): Promise<{ app: FastifyInstance; port: number; streams: { stream: SseStream; res: ServerResponse }[] }> {
  const streams: { stream: SseStream; res: ServerResponse }[] = [];
  const app = Fastify();
  app.get('/s', async (request, reply) => {
    streams.push({ stream: openSse(request, reply, limits), res: reply.raw });
  });
  await app.listen({ host: '127.0.0.1', port: 0 });
  const address = app.server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return { app, port: address.port, streams };
}

/** A raw client of `/s`; `reading` false: it never reads what the server sends. */
async function client(port: number, reading: boolean): Promise<{ socket: Socket; received: () => number; tail: () => string; ended: Promise<unknown> }> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let received = 0;
  let tail = '';
  const ended = once(socket, 'close');
  if (reading) {
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      tail = (tail + chunk.toString('latin1')).slice(-16);
    });
  } else socket.pause();
  socket.write('GET /s HTTP/1.1\r\nHost: x\r\nAccept: text/event-stream\r\n\r\n');
  return { socket, received: () => received, tail: () => tail, ended };
}

const EVENT = { text: 'x'.repeat(1000) };

describe('openSse', () => {
  const apps: FastifyInstance[] = [];
  afterEach(async () => {
    for (const app of apps.splice(0)) await app.close();
  });

  /** A server, a client of its stream (`reading` or not), and the stream as the server holds it. */
  async function opened(reading: boolean, limits?: SseLimits) {
    const { app, port, streams } = await serve(limits);
    apps.push(app);
    const c = await client(port, reading);
    while (streams.length === 0) await new Promise((resolve) => setImmediate(resolve));
    return { c, ...streams[0]! };
  }

  it('drops a client that does not read once MAX_UNSENT bytes wait for it, instead of holding every event', async () => {
    const { c, stream, res } = await opened(false);
    let closedBy = 0;
    stream.onClose(() => closedBy++);
    // 64 MB of events: far past what the kernel's socket buffers take in.
    let sent = 0;
    while (sent < 64_000 && stream.send('task', EVENT)) {
      sent++;
      if (sent % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(sent).toBeLessThan(64_000);
    expect(closedBy).toBe(1);
    expect(stream.send('task', EVENT)).toBe(false);
    // The connection is dropped at once, with what was unsent, not held until the client reads it.
    expect(res.destroyed).toBe(true);
    c.socket.resume();
    await c.ended;
  });

  it('holds at most maxStreams streams: the next is refused with a 503 until one ends', async () => {
    const { app, port, streams } = await serve({ maxStreams: 2, unsentBudget: 64 << 20 });
    apps.push(app);
    const a = await client(port, true);
    await client(port, true);
    while (streams.length < 2) await new Promise((resolve) => setImmediate(resolve));
    const refused = await fetch(`http://127.0.0.1:${port}/s`);
    expect(refused.status).toBe(503);
    expect(await refused.json()).toMatchObject({ code: 'TOO_MANY_STREAMS' });
    a.socket.destroy();
    await a.ended;
    while (!streams[0]!.res.closed) await new Promise((resolve) => setImmediate(resolve));
    await client(port, true);
    while (streams.length < 3) await new Promise((resolve) => setImmediate(resolve));
    for (const { stream } of streams) stream.close();
  });

  it("drops a client that does not read once its share of the process's unsent budget waits, not MAX_UNSENT", async () => {
    const { c, stream, res } = await opened(false, { maxStreams: 1000, unsentBudget: MIN_UNSENT });
    let most = 0;
    while (stream.send('task', EVENT)) {
      most = Math.max(most, res.writableLength);
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(res.destroyed).toBe(true);
    expect(most).toBeGreaterThan(MIN_UNSENT);
    expect(most).toBeLessThan(MIN_UNSENT + 2048);
    c.socket.resume();
    await c.ended;
  });

  it('keeps a client that reads, however much is sent to it', async () => {
    const { c, stream, res } = await opened(true);
    const bytes = Buffer.byteLength(`event: task\ndata: ${JSON.stringify(EVENT)}\n\n`);
    // 8 MB, well past MAX_UNSENT, in bursts of 64 KB as a busy feed sends them.
    for (let i = 0; i < (8 * MAX_UNSENT) / bytes; i++) {
      expect(stream.send('task', EVENT)).toBe(true);
      if (i % 64 === 63) while (c.received() < i * bytes - MAX_UNSENT / 2) await new Promise((resolve) => setImmediate(resolve));
    }
    expect(res.destroyed).toBe(false);
    stream.close();
    // The response's last chunk (the connection itself is kept alive for the next request).
    while (!c.tail().endsWith('0\r\n\r\n')) await new Promise((resolve) => setImmediate(resolve));
    expect(c.received()).toBeGreaterThan(8 * MAX_UNSENT);
    c.socket.destroy();
  });
});
