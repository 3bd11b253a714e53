/**
 * `rediss://` and ACL users end to end, on private redis-servers:
 * - a TLS-only server (a throwaway CA and server + client certificates made with openssl in a
 *   temp dir, client certificates required): tasks run with the CA and client pair passed as
 *   redis-py's URL keys; a URL without the CA fails with a clear TRANSPORT error;
 * - a plain server whose default user is off: tasks run as an ACL user allowed only the
 *   `global_keyprefix` keys and the result keys; a wrong password is a clear error.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { createClient } from 'redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CeleriacError, createApp, ErrorCodes, Worker, type App } from '../../src/index.js';
import { PY_CLIENT, runPython } from '../interop/python.js';
import { itOracles } from '../support/oracles.js';
import { shouldRunPythonTests } from '../support/python.js';
import { freePort, RedisServerProcess, shouldRunRedisTests } from '../support/redis.js';
import { makeCertificates } from '../support/tls.js';

const ready = await shouldRunRedisTests('Redis TLS and ACL');
const pythonReady = ready && shouldRunPythonTests('Redis TLS: the same URL in Python Celery');

/** Makes an app with one task and a worker on it; returns both and a closer. */
async function runApp(broker: string, backend: string): Promise<{ app: App; add: (x: number, y: number) => Promise<number>; close(): Promise<void> }> {
  const app = createApp({ broker, backend }, { env: {}, logger: pino({ level: 'silent' }) });
  const task = app.task('conn.add', (x: number, y: number) => x + y);
  const worker = new Worker(app, { queues: ['celery'], concurrency: 1, hostname: `conn-${process.pid}@test` });
  await worker.start();
  return {
    app,
    add: async (x, y) => (await task.delay(x, y)).get({ timeoutMs: 10_000 }),
    close: async () => {
      await worker.close({ deadlineMs: 1000 });
      await app.close();
    },
  };
}

describe.runIf(ready)('rediss:// with a private CA and client certificates', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-tls-'));
  let server: RedisServerProcess;
  let base: string;
  const f = (name: string) => encodeURIComponent(join(dir, name));

  beforeAll(async () => {
    makeCertificates(dir);
    const port = await freePort();
    server = new RedisServerProcess(port, [
      '--port', '0', '--tls-port', String(port),
      '--tls-cert-file', join(dir, 'server.crt'), '--tls-key-file', join(dir, 'server.key'),
      '--tls-ca-cert-file', join(dir, 'ca.crt'), '--tls-auth-clients', 'yes',
    ]);
    await server.start();
    base = `rediss://127.0.0.1:${port}`;
  }, 30_000);

  afterAll(async () => {
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs a task with the CA, client certificate and key given as ssl_* URL keys', async () => {
    const query = `ssl_cert_reqs=required&ssl_ca_certs=${f('ca.crt')}&ssl_certfile=${f('client.crt')}&ssl_keyfile=${f('client.key')}`;
    const run = await runApp(`${base}/0?${query}`, `${base}/1?${query}`);
    try {
      expect(await run.add(2, 3)).toBe(5);
    } finally {
      await run.close();
    }
  }, 30_000);

  it("runs a task on redis:// URLs with the TLS settings in brokerUseSsl and redisBackendUseSsl (Celery's broker_use_ssl, redis_backend_use_ssl)", async () => {
    const ssl = { ssl_cert_reqs: 'required', ssl_ca_certs: join(dir, 'ca.crt'), ssl_certfile: join(dir, 'client.crt'), ssl_keyfile: join(dir, 'client.key') };
    const plain = base.replace('rediss://', 'redis://');
    const app = createApp({ broker: `${plain}/0`, backend: `${plain}/1`, brokerUseSsl: ssl, redisBackendUseSsl: ssl }, { env: {}, logger: pino({ level: 'silent' }) });
    const task = app.task('conn.add', (x: number, y: number) => x + y);
    const worker = new Worker(app, { queues: ['celery'], concurrency: 1, hostname: `conn-usessl-${process.pid}@test` });
    await worker.start();
    try {
      expect(await (await task.delay(20, 22)).get({ timeoutMs: 10_000 })).toBe(42);
    } finally {
      await worker.close({ deadlineMs: 1000 });
      await app.close();
    }
  }, 30_000);

  itOracles('the same rediss:// URLs work in Python Celery: Python sends, Celeriac runs, Python gets the result', async (oracle) => {
    const query = `ssl_cert_reqs=required&ssl_ca_certs=${f('ca.crt')}&ssl_certfile=${f('client.crt')}&ssl_keyfile=${f('client.key')}`;
    const run = await runApp(`${base}/0?${query}`, `${base}/1?${query}`);
    try {
      const out = await runPython({ broker: `${base}/0?${query}`, backend: `${base}/1?${query}`, oracle }, `${PY_CLIENT}
r = app.send_task('conn.add', args=[40, 2], queue='celery')
print(json.dumps(r.get(timeout=20)))`);
      expect(out.trim()).toBe('42');
    } finally {
      await run.close();
    }
  }, 60_000, pythonReady);

  it('fails with a clear TRANSPORT error when the server certificate cannot be verified', async () => {
    const app = createApp({ broker: `${base}/0?ssl_certfile=${f('client.crt')}&ssl_keyfile=${f('client.key')}` }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('conn.add', (x: number, y: number) => x + y);
    try {
      const err = await app.sendTask('conn.add', [1, 1]).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(CeleriacError);
      expect(err).toMatchObject({ code: ErrorCodes.TRANSPORT });
      expect((err as Error).message).toMatch(/certificate/i);
    } finally {
      await app.close();
    }
  }, 30_000);

  it('names an unreadable CA file as a CONFIG error', async () => {
    const app = createApp({ broker: `${base}/0?ssl_ca_certs=${f('missing.crt')}` }, { env: {}, logger: pino({ level: 'silent' }) });
    try {
      const err = await app.sendTask('conn.add', [1, 1]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCodes.CONFIG });
      expect((err as Error).message).toContain('missing.crt');
    } finally {
      await app.close();
    }
  });
});

describe.runIf(ready)('ACL users', () => {
  let server: RedisServerProcess;
  const prefix = 'tenant1:';

  beforeAll(async () => {
    server = new RedisServerProcess(await freePort());
    await server.start();
    const admin = createClient({ url: server.url });
    await admin.connect();
    try {
      // Only its own broker keys (under the prefix), the result keys and the revoked set.
      await admin.sendCommand(['ACL', 'SETUSER', 'worker', 'on', '>w0rker pass', 'resetkeys', `~${prefix}*`, '~celery-task-meta-*', '~celeriac:*', 'resetchannels', '&*', '+@all']);
      await admin.sendCommand(['ACL', 'SETUSER', 'default', 'off']);
    } finally {
      admin.destroy();
    }
  });

  afterAll(async () => {
    await server?.kill();
  });

  it('runs a task as a user restricted to the global_keyprefix and result keys', async () => {
    const auth = `redis://worker:${encodeURIComponent('w0rker pass')}@127.0.0.1:${server.port}`;
    const run = await runApp(`${auth}/0?global_keyprefix=${prefix}`, `${auth}/0`);
    try {
      expect(await run.add(20, 22)).toBe(42);
    } finally {
      await run.close();
    }
  }, 30_000);

  it('a wrong password is a clear CONFIG error (no retry fixes it), without the password in it', async () => {
    const app = createApp({ broker: `redis://worker:nope-secret@127.0.0.1:${server.port}/0` }, { env: {}, logger: pino({ level: 'silent' }) });
    try {
      const err = await app.sendTask('conn.add', [1, 1]).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: ErrorCodes.CONFIG });
      expect((err as Error).message).toMatch(/WRONGPASS|invalid username-password/i);
      expect((err as Error).message).not.toContain('nope-secret');
    } finally {
      await app.close();
    }
  }, 30_000);
});
