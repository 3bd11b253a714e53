/**
 * The container health check of each role, for the Dockerfile and docker-compose.yml:
 *
 *   node --import tsx src/healthcheck.ts api|worker|beat|flower
 *
 * - api: `GET /health` answers 200 (database, cache, broker and results up);
 * - worker: this container's worker answers a remote-control ping through the broker;
 * - beat: the broker answers;
 * - flower: the dashboard's `GET /healthcheck` answers 200 (it needs no credentials).
 *
 * Exit code 0 when healthy, 1 otherwise (with the reason on stderr), within a few seconds.
 */
import { createApp } from 'celeriac';
import { ControlClient } from 'celeriac/monitor';
import { expandNodeName } from 'celeriac/worker';
import { appEnvironment, loadSettings, type Role } from './settings.js';

const TIMEOUT_MS = 3000;

async function check(role: Exclude<Role, 'all'>): Promise<string | null> {
  const settings = loadSettings(appEnvironment(), role);
  if (role === 'api') {
    const res = await fetch(`http://127.0.0.1:${settings.apiPort}/health`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    return res.status === 200 ? null : `GET /health answered ${res.status}: ${await res.text()}`;
  }
  if (role === 'flower') {
    const res = await fetch(`http://127.0.0.1:${settings.flowerPort}/healthcheck`, { signal: AbortSignal.timeout(TIMEOUT_MS) });
    return res.status === 200 ? null : `GET /healthcheck answered ${res.status}`;
  }
  const app = createApp({ broker: settings.brokerUrl, backend: settings.resultBackend, logLevel: 'silent' }, { env: {} });
  try {
    if (role === 'beat') {
      await app.broker.queueLength('celery');
      return null;
    }
    const me = expandNodeName(settings.workerName);
    const control = new ControlClient(app.broker);
    try {
      const replies = await control.ping({ destination: [me], timeoutMs: TIMEOUT_MS });
      return me in replies ? null : `worker ${me} did not answer a ping`;
    } finally {
      await control.close();
    }
  } finally {
    await app.close();
  }
}

const role = process.argv[2];
if (role !== 'api' && role !== 'worker' && role !== 'beat' && role !== 'flower') {
  process.stderr.write('usage: healthcheck.ts api|worker|beat|flower\n');
  process.exit(2);
}
const problem = await Promise.race([
  check(role).catch((err: unknown) => (err instanceof Error ? err.message : String(err))),
  new Promise<string>((resolve) => setTimeout(() => resolve(`no answer within ${TIMEOUT_MS * 2} ms`), TIMEOUT_MS * 2).unref()),
]);
if (problem !== null) process.stderr.write(`unhealthy: ${problem}\n`);
process.exit(problem === null ? 0 : 1);
