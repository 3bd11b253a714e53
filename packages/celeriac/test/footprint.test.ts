/**
 * What a process loads that it never uses: an app on Redis or memory:// loads no AMQP client
 * (amqplib is imported on the first connect to RabbitMQ). A fresh process, since this one's
 * module cache holds whatever other tests loaded.
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { buildDistIfStale } from './support/node-script.js';

describe('the library\'s footprint', () => {
  it('an app on Redis or memory:// never loads amqplib; one on amqp:// loads it when it connects', () => {
    buildDistIfStale();
    const index = new URL('../dist/index.js', import.meta.url).href;
    const loaded = (broker: string, connect: boolean): number => {
      const code = `
        const { createRequire } = await import('node:module');
        const { createApp } = await import(${JSON.stringify(index)});
        const app = createApp({ broker: ${JSON.stringify(broker)}, backend: 'memory://' });
        const cache = createRequire(import.meta.url).cache;
        const count = () => Object.keys(cache).filter((k) => k.includes('/amqplib/')).length;
        // RabbitMQ's connect retries while nothing listens: look until the client is loaded, or 5 s.
        if (${connect}) {
          void app.broker.connect().catch(() => undefined);
          const deadline = Date.now() + 5000;
          while (count() === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        }
        console.log(count());
        process.exit(0);`;
      // The last line: the app may log (a refused connection) before it.
      return Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000 }).trim().split('\n').at(-1));
    };
    expect(loaded('memory://', true)).toBe(0);
    expect(loaded('redis://127.0.0.1:1/0', false)).toBe(0);
    // Port 1: nothing listens; the connect fails fast, but the client was loaded to try.
    expect(loaded('amqp://guest:guest@127.0.0.1:1//', true)).toBeGreaterThan(0);
  }, 60_000);
});
