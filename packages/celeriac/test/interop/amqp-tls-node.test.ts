/**
 * RabbitMQ's own TLS listener, on a private node (test/support/rabbit-cluster.ts: its own name,
 * ports and data, never the shared node): client certificates required (`fail_if_no_peer_cert`),
 * a throwaway CA, and the rabbitmq_auth_mechanism_ssl plugin, so a client may log in with its
 * certificate (EXTERNAL, the user named by the certificate's CN). With `brokerUseSsl` and
 * `brokerLoginMethod` (Celery's `broker_use_ssl`, `broker_login_method`), a task and its rpc://
 * result go through it by certificate alone, and with AMQPLAIN and a password; Python Celery logs
 * in by certificate with the same settings. The hostile case: a wrong password fails within
 * `connectWaitMs` with RabbitMQ's refusal named.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp, ErrorCodes, Worker, type App } from '../../src/index.js';
import { describeOracles } from '../support/oracles.js';
import { shouldRunPythonTests } from '../support/python.js';
import { clusterAvailable, RabbitCluster } from '../support/rabbit-cluster.js';
import { makeCertificates } from '../support/tls.js';
import { PY_CLIENT, runPython } from './python.js';

const ready = clusterAvailable();
const pythonReady = ready && shouldRunPythonTests('RabbitMQ TLS node: Python Celery logging in by certificate');
/** The user the client certificate names (its CN, support/tls.ts), made at the node's first start. */
const USER = 'celeriac-test-client';
const PASSWORD = 'tls-secret';
const TLS_PORT = 5794;

describe.runIf(ready)("RabbitMQ's TLS listener: logging in by client certificate (EXTERNAL) or password", () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-rabbit-tls-'));
  const file = (name: string) => join(dir, name);
  let node: RabbitCluster;
  const apps: App[] = [];
  const workers: Worker[] = [];
  const useSsl = () => ({ ca_certs: file('ca.crt'), certfile: file('client.crt'), keyfile: file('client.key'), cert_reqs: 'CERT_REQUIRED' });

  beforeAll(async () => {
    makeCertificates(dir);
    node = new RabbitCluster({
      nodes: 1, portBase: 5694, name: 'celeriac-tls',
      plugins: ['rabbitmq_auth_mechanism_ssl'],
      extraConfig: [
        `listeners.ssl.default = 127.0.0.1:${TLS_PORT}`,
        `ssl_options.cacertfile = ${file('ca.crt')}`, `ssl_options.certfile = ${file('server.crt')}`, `ssl_options.keyfile = ${file('server.key')}`,
        'ssl_options.verify = verify_peer', 'ssl_options.fail_if_no_peer_cert = true',
        'auth_mechanisms.1 = PLAIN', 'auth_mechanisms.2 = AMQPLAIN', 'auth_mechanisms.3 = EXTERNAL',
        'ssl_cert_login_from = common_name', `default_user = ${USER}`, `default_pass = ${PASSWORD}`,
      ],
    });
    await node.start(1);
  }, 120_000);

  afterAll(async () => {
    for (const w of workers) await w.close({ deadlineMs: 2000 });
    for (const a of apps) await a.close();
    await node?.destroy();
    rmSync(dir, { recursive: true, force: true });
  }, 60_000);

  function appOn(broker: string, brokerLoginMethod: string, queue: string): App {
    const app = createApp({ broker, backend: 'rpc://', brokerUseSsl: useSsl(), brokerLoginMethod, brokerTransportOptions: { connectWaitMs: 3000 }, taskPublishRetry: false }, { env: {}, logger: pino({ level: 'silent' }) });
    apps.push(app);
    app.task('tlsnode.add', { queue }, (x: number, y: number) => x + y);
    return app;
  }

  async function workerOn(broker: string, brokerLoginMethod: string, queue: string): Promise<App> {
    const app = appOn(broker, brokerLoginMethod, queue);
    const worker = new Worker(app, { queues: [queue], concurrency: 2, hostname: `amqp-tls-node-${queue}-${process.pid}@test` });
    workers.push(worker);
    await worker.start();
    return app;
  }

  it('runs a task and returns its rpc:// result logged in by the client certificate alone (no user or password in the URL)', async () => {
    const app = await workerOn(`amqps://127.0.0.1:${TLS_PORT}//`, 'EXTERNAL', 'ext');
    expect(await (await app.sendTask('tlsnode.add', [2, 3], {}, { queue: 'ext' })).get({ timeoutMs: 10_000 })).toBe(5);
  }, 30_000);

  it('runs one logged in with AMQPLAIN and the password, over the same TLS', async () => {
    const app = await workerOn(`amqps://${USER}:${PASSWORD}@127.0.0.1:${TLS_PORT}//`, 'amqplain', 'plain');
    expect(await (await app.sendTask('tlsnode.add', [20, 22], {}, { queue: 'plain' })).get({ timeoutMs: 10_000 })).toBe(42);
  }, 30_000);

  it('fails a send at once, as a configuration error naming the refusal, when the password is wrong', async () => {
    const app = appOn(`amqps://${USER}:wrong@127.0.0.1:${TLS_PORT}//`, 'PLAIN', 'wrong');
    const err = await app.sendTask('tlsnode.add', [1, 1], {}, { queue: 'wrong' }).then(() => undefined, (e: unknown) => e);
    // No retry mends a refused login: CONFIG (exit 78 in the CLI), not a transport error retried for connectWaitMs.
    expect(err).toMatchObject({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/ACCESS.REFUSED/i) });
  }, 30_000);

  describeOracles('Python Celery with broker_login_method EXTERNAL', (oracle) => {
    it('logs in by certificate and sends a task the Celeriac worker runs, reading its rpc:// result', async () => {
      await workerOn(`amqps://127.0.0.1:${TLS_PORT}//`, 'EXTERNAL', 'py');
      const ssl = useSsl();
      const out = await runPython({ broker: `amqps://127.0.0.1:${TLS_PORT}//`, backend: 'rpc://', oracle }, `${PY_CLIENT}
import ssl
app.conf.broker_login_method = 'EXTERNAL'
app.conf.broker_use_ssl = {'ca_certs': ${JSON.stringify(ssl.ca_certs)}, 'certfile': ${JSON.stringify(ssl.certfile)}, 'keyfile': ${JSON.stringify(ssl.keyfile)}, 'cert_reqs': ssl.CERT_REQUIRED}
print(json.dumps(app.send_task('tlsnode.add', args=[40, 2], queue='py').get(timeout=20)))`);
      expect(out.trim()).toBe('42');
    }, 60_000);
  }, pythonReady);
});
