/**
 * @module server/live
 * `GET /api/live`: server-sent events of cluster changes (Flower only polls). Event names: `task` (a Flower task dict), `worker` (a workers-table row),
 * `worker-gone`, `lost` (`{worker, tasks}`), `inspect` (`{worker}`: fresh inspect data),
 * `stats` (the last second's counts) and `queues` (queue depths). A `hello` opens the stream;
 * a comment line every 15 s keeps proxies from closing it.
 *
 * A client that cannot keep up (over 1 MiB unsent) misses messages and then gets a `resync`
 * event, telling it to refetch; the server never buffers without bound.
 */
import type { FastifyInstance } from 'fastify';
import type { ServerContext } from './context.js';

const MAX_PENDING = 1 << 20;

/** Registers the route. */
export function registerLive(server: FastifyInstance, ctx: ServerContext): void {
  server.get('/api/live', async (req, reply) => {
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    const write = (type: string, data: unknown) => res.write(`event: ${type}\ndata: ${JSON.stringify(data)}\n\n`);
    res.write('retry: 2000\n\n');
    write('hello', { now: Date.now() / 1000 });
    let missed = false;
    const unsubscribe = ctx.ingest.live.subscribe((m) => {
      if (res.writableLength > MAX_PENDING) {
        missed = true;
        return;
      }
      if (missed) {
        missed = false;
        write('resync', {});
      }
      write(m.type, m.data);
    });
    const ping = setInterval(() => res.write(': ping\n\n'), 15_000);
    ping.unref();
    const end = () => {
      unsubscribe();
      clearInterval(ping);
    };
    req.raw.on('close', end);
    res.on('error', end);
  });
}
