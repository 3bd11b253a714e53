/**
 * Redis Sentinel on TLS, end to end on private servers: a TLS-only master and a TLS-only
 * sentinel (no plain port on either, client certificates required), with a throwaway CA made
 * with openssl. The configuration is Celery's: the masters' TLS in the Sentinel URL's `ssl_*`
 * keys (as kombu 5.6 reads them), the sentinels' in `sentinel_kwargs` (`ssl: true` and the same
 * keys). A task runs through it, and Python Celery 5.6 sends one with the same broker URL. The
 * hostile cases: the sentinels or the masters asked in plain text fail the first connect within
 * `connectTimeoutMs`, with no hang.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, Worker, type App } from '../../src/index.js';
import { runPython } from '../interop/python.js';
import { CELERY_5_6, selectedOracles } from '../support/oracles.js';
import { shouldRunPythonTests } from '../support/python.js';
import { freePort, RedisServerProcess, SentinelProcess, shouldRunRedisTests } from '../support/redis.js';
import { makeCertificates } from '../support/tls.js';

const ready = await shouldRunRedisTests('Redis Sentinel on TLS');
const pythonReady = ready && shouldRunPythonTests('Redis Sentinel on TLS: the same broker URL in Python Celery 5.6');
const MASTER = 'celeriac-tls';

describe.runIf(ready)('Redis Sentinel on TLS: masters from the URL, sentinels from sentinel_kwargs', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-sentinel-tls-'));
  const file = (name: string) => join(dir, name);
  let master: RedisServerProcess;
  let sentinel: SentinelProcess;
  let app: App;
  let worker: Worker;
  /** The masters' TLS, as redis-py's URL keys. */
  let masterTls: string;
  /** The sentinels' TLS, as kombu's sentinel_kwargs. */
  let sentinelKwargs: Record<string, unknown>;
  const url = (db: number, query = masterTls) => `sentinel://127.0.0.1:${sentinel.port}/${db}?${query}`;

  beforeAll(async () => {
    makeCertificates(dir);
    const tls = ['--tls-cert-file', file('server.crt'), '--tls-key-file', file('server.key'), '--tls-ca-cert-file', file('ca.crt'), '--tls-auth-clients', 'yes'];
    const masterPort = await freePort();
    master = new RedisServerProcess(masterPort, ['--port', '0', '--tls-port', String(masterPort), ...tls]);
    await master.start();
    const sentinelPort = await freePort();
    sentinel = new SentinelProcess(sentinelPort, MASTER, masterPort, 1, 5000, undefined, [
      'port 0', `tls-port ${sentinelPort}`, `tls-cert-file ${file('server.crt')}`, `tls-key-file ${file('server.key')}`,
      `tls-ca-cert-file ${file('ca.crt')}`, 'tls-auth-clients yes', 'tls-replication yes',
    ]);
    await sentinel.start();
    masterTls = `ssl_cert_reqs=required&ssl_ca_certs=${encodeURIComponent(file('ca.crt'))}&ssl_certfile=${encodeURIComponent(file('client.crt'))}&ssl_keyfile=${encodeURIComponent(file('client.key'))}`;
    sentinelKwargs = { ssl: true, ssl_cert_reqs: 'required', ssl_ca_certs: file('ca.crt'), ssl_certfile: file('client.crt'), ssl_keyfile: file('client.key') };
    const options = { master_name: MASTER, sentinel_kwargs: sentinelKwargs };
    app = createApp({ broker: url(0), backend: url(1), brokerTransportOptions: options, resultBackendTransportOptions: options }, { env: {}, logger: pino({ level: 'silent' }) });
    app.task('tls.add', (x: number, y: number) => x + y);
    worker = new Worker(app, { queues: ['celery'], concurrency: 2, hostname: `sentinel-tls-${process.pid}@test` });
    await worker.start();
  }, 60_000);

  afterAll(async () => {
    await worker?.close({ deadlineMs: 1000 });
    await app?.close();
    await sentinel?.dispose();
    await master?.kill();
    rmSync(dir, { recursive: true, force: true });
  }, 30_000);

  it('runs a task and stores its result, every connection on TLS (neither server has a plain port)', async () => {
    const sent = await app.sendTask('tls.add', [2, 3]);
    expect(await sent.get({ timeoutMs: 10_000 })).toBe(5);
  }, 30_000);

  /** How a first connect with these settings ends: its error and how long it took. */
  async function firstConnect(broker: string, kwargs: Record<string, unknown>): Promise<{ error: unknown; ms: number }> {
    const bare = createApp({ broker, backend: 'memory://', brokerTransportOptions: { master_name: MASTER, sentinel_kwargs: kwargs, connectTimeoutMs: 1500 } }, { env: {}, logger: pino({ level: 'silent' }) });
    const t0 = performance.now();
    try {
      const error = await bare.broker.connect().then(() => undefined, (err: unknown) => err);
      return { error, ms: performance.now() - t0 };
    } finally {
      await bare.close();
    }
  }

  it('fails the first connect within connectTimeoutMs when the sentinels are asked in plain text', async () => {
    const { error, ms } = await firstConnect(url(0), {});
    expect(error).toMatchObject({ code: expect.stringMatching(/^CELERIAC_ERR_(TRANSPORT|CONFIG)$/), message: expect.stringContaining('the last failure:') });
    expect(ms).toBeLessThan(10_000);
  }, 30_000);

  it('fails the first connect within connectTimeoutMs when the masters are asked in plain text (no ssl_* keys in the URL)', async () => {
    const { error, ms } = await firstConnect(`sentinel://127.0.0.1:${sentinel.port}/0`, sentinelKwargs);
    expect(error).toMatchObject({ code: expect.stringMatching(/^CELERIAC_ERR_(TRANSPORT|CONFIG)$/), message: expect.stringContaining('the last failure:') });
    expect(ms).toBeLessThan(10_000);
  }, 30_000);

  it("names an unreadable file of sentinel_kwargs' TLS as a CONFIG error", async () => {
    const { error } = await firstConnect(url(0), { ...sentinelKwargs, ssl_ca_certs: file('missing-ca.crt') });
    expect(error).toMatchObject({ code: 'CELERIAC_ERR_CONFIG', message: expect.stringContaining(`cannot read the ssl_ca_certs file ${file('missing-ca.crt')}`) });
  }, 30_000);

  const python = pythonReady ? selectedOracles('Redis Sentinel on TLS').filter((o) => o.name === CELERY_5_6.name) : [];
  it.each(python.map((o) => [o.version, o] as const))('reads the same broker URL and sentinel_kwargs as Python Celery %s: its task runs on the Celeriac worker', async (_version, oracle) => {
    // Celery's Sentinel result backend takes the masters' TLS from redis_backend_use_ssl, not from its URL.
    const out = await runPython({ broker: url(0), backend: `sentinel://127.0.0.1:${sentinel.port}/1`, oracle }, `
import os, json, ssl
from celery import Celery
app = Celery(broker=os.environ['CELERY_BROKER'], backend=os.environ['CELERY_BACKEND'])
kwargs = ${JSON.stringify(sentinelKwargs).replace('true', 'True')}
opts = {'master_name': '${MASTER}', 'sentinel_kwargs': kwargs}
app.conf.broker_transport_options = opts
app.conf.result_backend_transport_options = opts
app.conf.redis_backend_use_ssl = {'ssl_cert_reqs': ssl.CERT_REQUIRED, 'ssl_ca_certs': kwargs['ssl_ca_certs'], 'ssl_certfile': kwargs['ssl_certfile'], 'ssl_keyfile': kwargs['ssl_keyfile']}
print(json.dumps(app.send_task('tls.add', args=[40, 2], queue='celery').get(timeout=20)))`);
    expect(out.trim()).toBe('42');
  }, 60_000);
});
