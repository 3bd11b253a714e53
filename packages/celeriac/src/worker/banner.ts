/**
 * @module worker/banner
 * The start-up banner: who this worker is and what it will do, printed before the first log
 * line, so an operator sees the app, broker, backend, concurrency, queues and tasks at once.
 */
import { arch, platform, release } from 'node:os';
import type { Worker } from './worker.js';

import { CELERIAC_VERSION } from './version.js';

/** Version printed in the banner. */
export { CELERIAC_VERSION };

/** Renders the banner text for a worker (hidden built-in `celery.*` tasks excluded). */
export function renderBanner(worker: Worker, appLabel: string, now: Date = new Date()): string {
  const { app, options } = worker;
  const tasks = [...app.tasks.keys()].filter((n) => !n.startsWith('celery.')).sort();
  const rule = '-'.repeat(60);
  const row = (label: string, value: string) => `  ${label.padEnd(13)}${value}`;
  return [
    rule,
    `  celeriac ${CELERIAC_VERSION}  worker ${options.hostname}`,
    `  node ${process.version} on ${platform()}-${release()}-${arch()}  ${now.toISOString()}`,
    rule,
    row('app', appLabel),
    row('broker', app.brokerUrl),
    row('results', app.backendUrl),
    row('concurrency', `${options.autoscale === null ? options.concurrency : `{min=${options.autoscale.min}, max=${options.autoscale.max}}`} (${options.pool} pool)`),
    row('prefetch', worker.prefetchCount === 0 ? 'unlimited' : String(worker.prefetchCount)),
    row('acks', app.settings.taskAcksLate ? 'late' : 'early'),
    '',
    '  [queues]',
    ...options.queues.map((q) => `    .> ${q}`),
    '',
    '  [tasks]',
    ...(tasks.length === 0 ? ['    (none registered)'] : tasks.map((t) => `    . ${t}`)),
    rule,
    '',
  ].join('\n');
}
