/** maintenance.heartbeat counts its runs and logs one line carrying its task id once (ctx.log already names the task). */
import { Writable } from 'node:stream';
import { createApp, Worker } from 'celeriac';
import { MemoryBackend, MemoryBroker } from 'celeriac/memory';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { MemoryCache } from '../cache/cache.js';
import { registerMaintenanceTasks } from './maintenance.js';

describe('maintenance.heartbeat', () => {
  it('counts in the cache and logs taskId once per line', async () => {
    const lines: string[] = [];
    const sink = new Writable({ write: (chunk: Buffer, _enc, done) => (lines.push(...chunk.toString().split('\n').filter(Boolean)), done()) });
    const app = createApp({ logFormat: 'json' }, { env: {}, broker: new MemoryBroker(), backend: new MemoryBackend(), logger: pino({ level: 'info' }, sink) });
    const { heartbeat } = registerMaintenanceTasks(app, { cache: new MemoryCache(app.clock) });
    const worker = new Worker(app, { concurrency: 1 });
    await worker.start();
    try {
      const ids = [(await heartbeat.delay()).id, (await heartbeat.delay()).id];
      const beats = () => lines.filter((l) => l.includes('"msg":"heartbeat"'));
      await waitFor(() => beats().length >= 2, 'two heartbeat lines');
      expect(beats().map((l) => (JSON.parse(l) as { heartbeat: number }).heartbeat)).toEqual([1, 2]);
      for (const [i, line] of beats().entries()) {
        expect(line.match(/"taskId"/g)).toHaveLength(1);
        expect((JSON.parse(line) as { taskId: string }).taskId).toBe(ids[i]);
      }
    } finally {
      await worker.close();
      await app.close();
    }
  });
});
