/**
 * RabbitMQ over TLS with `brokerUseSsl` (Celery's `broker_use_ssl`, py-amqp's keys), through a
 * TLS front of the test's own (Node's `tls` server, a throwaway CA, client certificates
 * required) that relays to the shared RabbitMQ, which stays as it is. A task and its rpc://
 * result go through it both with `amqps://` and with `amqp://` plus the setting, as in Celery;
 * Python Celery sends one through the same front with the same `broker_use_ssl`. The hostile
 * cases: no CA (the front's certificate cannot be checked), and no client certificate, each
 * fail with a TRANSPORT error within `connectWaitMs`.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server, type TLSSocket } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, ErrorCodes, Worker, type App } from '../../src/index.js';
import { amqpAvailable, createVhost, deleteVhost, TEST_AMQP_HOST } from '../support/amqp-env.js';
import { describeOracles } from '../support/oracles.js';
import { shouldRunPythonTests } from '../support/python.js';
import { makeCertificates } from '../support/tls.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = await amqpAvailable();
const pythonReady = ready && shouldRunPythonTests('RabbitMQ over TLS: Python Celery with broker_use_ssl');

/** A TLS front on a free port relaying to RabbitMQ; counts the connections whose client certificate it checked. */
async function tlsFront(dir: string): Promise<{ port: number; authorized: () => number; close: () => Promise<void> }> {
  const [host = '127.0.0.1', port = '5672'] = TEST_AMQP_HOST.split(':');
  let authorized = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer(
    { key: readFileSync(join(dir, 'server.key')), cert: readFileSync(join(dir, 'server.crt')), ca: readFileSync(join(dir, 'ca.crt')), requestCert: true, rejectUnauthorized: true },
    (client: TLSSocket) => {
      if (client.authorized) authorized++;
      const upstream = connect(Number(port), host);
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on('error', () => undefined);
        s.on('close', () => sockets.delete(s));
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    },
  );
  server.on('tlsClientError', () => undefined);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('no port');
  return {
    port: address.port,
    authorized: () => authorized,
    close: () => {
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe.runIf(ready)('RabbitMQ over TLS: brokerUseSsl with a private CA and client certificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-amqp-tls-'));
  const file = (name: string) => join(dir, name);
  let vhost = '';
  let front: Awaited<ReturnType<typeof tlsFront>>;
  const apps: App[] = [];
  const workers: Worker[] = [];
  /** py-amqp's keys, as Celery's broker_use_ssl takes them. */
  const useSsl = () => ({ ca_certs: file('ca.crt'), certfile: file('client.crt'), keyfile: file('client.key'), cert_reqs: 'CERT_REQUIRED' });
  const url = (scheme: 'amqp' | 'amqps') => `${scheme}://guest:guest@127.0.0.1:${front.port}/${encodeURIComponent(vhost)}`;

  beforeAll(async () => {
    makeCertificates(dir);
    front = await tlsFront(dir);
    vhost = await createVhost('tls');
  }, 60_000);

  afterAll(async () => {
    for (const w of workers) await w.close({ deadlineMs: 2000 });
    for (const a of apps) await a.close();
    await front?.close();
    if (vhost !== '') await deleteVhost(vhost);
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  function appOn(broker: string, brokerUseSsl: unknown, queue: string): App {
    const app = createApp({ broker, backend: 'rpc://', brokerUseSsl: brokerUseSsl as Record<string, unknown>, brokerTransportOptions: { connectWaitMs: 3000 }, taskPublishRetry: false }, { env: {}, logger: pino({ level: 'silent' }) });
    apps.push(app);
    app.task('tls.add', { queue }, (x: number, y: number) => x + y);
    return app;
  }

  async function workerOn(broker: string, brokerUseSsl: unknown, queue: string): Promise<App> {
    const app = appOn(broker, brokerUseSsl, queue);
    const worker = new Worker(app, { queues: [queue], concurrency: 2, hostname: `amqp-tls-${queue}-${process.pid}@test` });
    workers.push(worker);
    await worker.start();
    return app;
  }

  it('runs a task and returns its rpc:// result over amqps:// with the CA, client certificate and key', async () => {
    const app = await workerOn(url('amqps'), useSsl(), 'tls-a');
    const before = front.authorized();
    expect(await (await app.sendTask('tls.add', [2, 3], {}, { queue: 'tls-a' })).get({ timeoutMs: 10_000 })).toBe(5);
    // Every connection went through the front with a client certificate it checked.
    expect(front.authorized()).toBeGreaterThanOrEqual(before);
    expect(front.authorized()).toBeGreaterThan(0);
  }, 30_000);

  it('takes amqp:// over TLS too when brokerUseSsl is set, as Celery does', async () => {
    const app = await workerOn(url('amqp'), useSsl(), 'tls-b');
    expect(await (await app.sendTask('tls.add', [20, 22], {}, { queue: 'tls-b' })).get({ timeoutMs: 10_000 })).toBe(42);
  }, 30_000);

  it('fails a send with a TRANSPORT error naming the certificate when the CA is not given', async () => {
    const app = appOn(url('amqps'), { certfile: file('client.crt'), keyfile: file('client.key') }, 'tls-c');
    const err = await app.sendTask('tls.add', [1, 1], {}, { queue: 'tls-c' }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.TRANSPORT, message: expect.stringMatching(/certificate/i) });
  }, 30_000);

  it('fails a send with a TRANSPORT error when the client certificate the front requires is not given', async () => {
    const app = appOn(url('amqps'), { ca_certs: file('ca.crt') }, 'tls-d');
    const err = await app.sendTask('tls.add', [1, 1], {}, { queue: 'tls-d' }).then(() => undefined, (e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.TRANSPORT, message: expect.stringMatching(/unreachable for 3000 ms: .*certificate required/) });
  }, 30_000);

  it('names an unreadable certificate file as a CONFIG error', async () => {
    const app = appOn(url('amqps'), { ...useSsl(), certfile: file('missing.crt') }, 'tls-e');
    const err = await app.sendTask('tls.add', [1, 1], {}, { queue: 'tls-e' }).then(() => undefined, (e: unknown) => e);
    expect(JSON.stringify({ code: (err as { code?: string }).code, message: (err as Error).message })).toMatch(/cannot read the certfile file .*missing\.crt/);
  }, 30_000);

  describeOracles('Python Celery with the same broker_use_ssl', (oracle) => {
    it('sends a task through the front that the Celeriac worker runs, and reads its rpc:// result', async () => {
      await workerOn(url('amqps'), useSsl(), 'tls-py');
      const ssl = useSsl();
      const out = await runPython({ broker: url('amqps'), backend: 'rpc://', oracle }, `${PY_CLIENT}
import ssl
app.conf.broker_use_ssl = {'ca_certs': ${JSON.stringify(ssl.ca_certs)}, 'certfile': ${JSON.stringify(ssl.certfile)}, 'keyfile': ${JSON.stringify(ssl.keyfile)}, 'cert_reqs': ssl.CERT_REQUIRED}
print(json.dumps(app.send_task('tls.add', args=[40, 2], queue='tls-py').get(timeout=20)))`);
      expect(out.trim()).toBe('42');
    }, 60_000);
  }, pythonReady);
});
