/**
 * A vhost of its own for a suite on RabbitMQ quorum queues: its URL, a plain amqplib
 * connection to look at queues with, and Celeriac apps on it whose queues default to quorum
 * with `rpc://` results. `close()` closes the apps and the connection and gives the vhost back
 * (close workers first): it comes from the pool's quorum vhosts, the delay ladder perhaps
 * already declared (amqp-env.ts `createVhost(label, { quorum: true })`).
 */
import amqp, { type ChannelModel } from 'amqplib';
import { pino } from 'pino';
import { createApp, type App, type Settings } from '../../src/index.js';
import { createVhost, deleteVhost, vhostUrl } from './amqp-env.js';

export interface QuorumVhost {
  readonly url: string;
  readonly conn: ChannelModel;
  /** Messages ready in `queue` now (0 when it does not exist). */
  count(queue: string): Promise<number>;
  /** An app on the vhost: quorum queues, `rpc://` results, `settings` on top; logs at `level`. */
  app(settings?: Settings, level?: string): App;
  close(): Promise<void>;
}

export async function quorumVhost(label: string): Promise<QuorumVhost> {
  const vhost = await createVhost(label, { quorum: true });
  const url = vhostUrl(vhost);
  const conn = await amqp.connect(url);
  const apps: App[] = [];
  return {
    url,
    conn,
    async count(queue) {
      const ch = await conn.createChannel();
      ch.on('error', () => undefined);
      try {
        return (await ch.checkQueue(queue)).messageCount;
      } catch {
        return 0;
      } finally {
        await ch.close().catch(() => undefined);
      }
    },
    app(settings = {}, level = 'silent') {
      const app = createApp({ broker: url, backend: 'rpc://', taskDefaultQueueType: 'quorum', ...settings }, { env: {}, logger: pino({ level }) });
      apps.push(app);
      return app;
    },
    async close() {
      for (const a of apps) await a.close();
      await conn.close().catch(() => undefined);
      await deleteVhost(vhost);
    },
  };
}
