import { createServer, type AddressInfo, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { listenForEvents, PushCounter } from './event-listener.js';

const bulk = (s: string) => `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
const pmessage = (pattern: string, channel: string, payload: string) => `*4\r\n${bulk('pmessage')}${bulk(pattern)}${bulk(channel)}${bulk(payload)}`;
const confirm = (pattern: string) => `*3\r\n${bulk('psubscribe')}${bulk(pattern)}:1\r\n`;

// Payloads that look like frames, lines and CRLFs: only the lengths may be trusted.
const big = `[{"hostname": "celery@x"}]\r\n*4\r\n$8\r\npmessage\r\n${'x'.repeat(3000)}`;
const stream = Buffer.from(
  confirm('p/*') + pmessage('p/*', 'p/0.celeryev/task.multi', big) + pmessage('p/*', 'p/c', '') + `*3\r\n${bulk('message')}${bulk('c')}${bulk('pmessage')}` + pmessage('p/*', 'p/c', 'pmessage'),
);

describe('PushCounter', () => {
  it('counts pmessage frames and the confirmation, whatever the payloads hold, in one chunk', () => {
    const c = new PushCounter();
    c.feed(stream);
    expect([c.subscribed, c.messages, c.error]).toEqual([1, 3, undefined]);
  });

  it('counts the same however the stream is cut: at every byte, and byte by byte', () => {
    for (let cut = 1; cut < stream.length; cut++) {
      const c = new PushCounter();
      c.feed(stream.subarray(0, cut));
      c.feed(stream.subarray(cut));
      expect([cut, c.subscribed, c.messages]).toEqual([cut, 1, 3]);
    }
    const c = new PushCounter();
    for (let i = 0; i < stream.length; i++) c.feed(stream.subarray(i, i + 1));
    expect([c.subscribed, c.messages]).toEqual([1, 3]);
  });

  it('keeps an error reply', () => {
    const c = new PushCounter();
    c.feed(Buffer.from('-NOPERM this user has no permissions to access one of the channels\r\n'));
    expect(c.error).toMatch(/^NOPERM/);
  });
});

describe('listenForEvents', () => {
  let server: Server | undefined;
  afterEach(() => new Promise<void>((r) => (server === undefined ? r() : server.close(() => r()))));

  /** A fake Redis that answers the PSUBSCRIBE with `reply`, then pushes `after`. */
  async function fake(reply: string, after: string): Promise<{ port: number; got: Promise<string> }> {
    let got!: (s: string) => void;
    const received = new Promise<string>((r) => (got = r));
    server = createServer((socket) => {
      socket.once('data', (d) => {
        got(d.toString());
        socket.write(reply);
        socket.write(after);
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    return { port: (server.address() as AddressInfo).port, got: received };
  }

  it('sends PSUBSCRIBE, resolves on the confirmation, then counts what comes', async () => {
    const { port, got } = await fake(confirm('p/*'), pmessage('p/*', 'p/a', 'x').repeat(5));
    const listener = await listenForEvents('127.0.0.1', port, 'p/*');
    expect(await got).toBe('*2\r\n$10\r\nPSUBSCRIBE\r\n$3\r\np/*\r\n');
    await expect.poll(() => listener.counter.messages).toBe(5);
    listener.close();
  });

  it('rejects with what Redis said when the subscription is refused', async () => {
    const { port } = await fake('-NOPERM no\r\n', '');
    await expect(listenForEvents('127.0.0.1', port, 'p/*')).rejects.toThrow(/event listener: Redis said NOPERM no/);
  });

  it('rejects when nothing listens on the port', async () => {
    const { port } = await fake('', '');
    await new Promise<void>((r) => server!.close(() => r()));
    server = undefined;
    await expect(listenForEvents('127.0.0.1', port, 'p/*')).rejects.toThrow(/ECONNREFUSED/);
  });
});
