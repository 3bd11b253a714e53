/**
 * Every public numeric option says its unit in its name (issue 47 point 3): an optional field
 * of the public declarations (api-report/, so settings, task, call, worker, beat and dashboard
 * options alike) whose type holds a number ends in a unit, unless it is a count or one of the
 * few names Celery, kombu or Flower give, listed below with the reason. Deprecated names are
 * skipped (they warn and go in 0.3). A new numeric option fails here until it says its unit or
 * joins the list with its reason.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const REPORTS = ['api-report/celeriac.api.md', 'api-report/dashboard.api.md'];

/** Endings that say a unit. */
const UNIT = /(Sec|Ms|Kib|Bytes|Percent)$/;

/** Numeric options without a unit in the name, each with why. Keep it short. */
const ALLOWED: Readonly<Record<string, string>> = {
  // Counts, sizes in items, positions: not durations, no unit to name.
  concurrency: 'count', prefetchMultiplier: 'count', workerConcurrency: 'count', workerPrefetchMultiplier: 'count',
  maxRetries: 'count', retries: 'count', maxTasksPerChild: 'count', workerMaxTasksPerChild: 'count',
  maxDeliveries: 'count', workerMaxDeliveries: 'count', brokerConnectionMaxRetries: 'count', deliveryCount: 'count',
  setAsideMaxCount: 'count', deadLetterMaxCount: 'count', maxTasks: 'count', maxWorkers: 'count', maxTasksInMemory: 'count',
  maxBuffered: 'count', batchSize: 'count', drainBatch: 'count', fetchBatchSize: 'count', backfill: 'count of results', waitReplicas: 'count of replicas',
  limit: 'count', truncated: 'count', loginFreeFailures: 'count', replacedTaskNesting: 'count', groupIndex: 'position',
  writes: 'counts', searchWindow: 'count of rows', countCostLimit: 'planner cost', payloadCap: 'characters',
  priority: '0-9', taskDefaultPriority: '0-9', port: 'TCP port', heartbeatExpireFactor: 'ratio',
  // Celery's, kombu's and Flower's own names, kept so their numbers mean what they meant there (docs/api.md, Units).
  countdown: 'apply_async(countdown=), seconds: the call Celery users write most',
  expires: 'apply_async(expires=), seconds or a time',
  retryBackoff: 'Celery\'s retry_backoff: true, or the backoff base in seconds',
  intervalStart: 'kombu\'s retry policy field (interval_start), seconds',
  intervalStep: 'kombu\'s retry policy field (interval_step), seconds',
  intervalMax: 'kombu\'s retry policy field (interval_max), seconds',
  hard: 'Celery\'s time_limit control command argument, seconds',
  soft: 'Celery\'s time_limit control command argument, seconds',
  utcoffset: 'a field of Celery\'s events, hours',
  runtimeBuckets: 'Prometheus histogram bounds of flower_task_runtime_seconds, seconds',
  // Not a quantity with a unit.
  signal: 'a signal name or number',
  deliverAt: 'broker SPI: a point in time, epoch milliseconds (Date.now() form), not a duration',
};

/** Optional, non-deprecated fields whose type holds a number (function types aside), by name. */
function numericOptions(text: string): Map<string, string> {
  const found = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^\s+(?:readonly )?([A-Za-z_]\w*)\?: (.+);( \/\* deprecated \*\/)?$/.exec(line);
    if (m === null || m[3] !== undefined) continue;
    const [, name, type] = m as unknown as [string, string, string];
    // Functions are not options; an object type's fields are inline, so its numbers are its fields'.
    if (type.includes('=>') || type.startsWith('{') || !/\bnumber\b/.test(type)) continue;
    found.set(name, line.trim());
  }
  return found;
}

describe('units in names', () => {
  const options = new Map<string, string>();
  for (const report of REPORTS) for (const [name, line] of numericOptions(readFileSync(join(ROOT, report), 'utf8'))) options.set(name, line);

  it('every public numeric option ends in its unit (Sec, Ms, Kib, Bytes, Percent) or is on the commented list', () => {
    const unnamed = [...options.keys()].filter((name) => !UNIT.test(name) && !Object.hasOwn(ALLOWED, name));
    expect(unnamed, `numeric options without a unit in the name: ${unnamed.map((n) => options.get(n)).join(' | ')}`).toEqual([]);
  });

  it('the list holds only names the API still has', () => {
    expect(Object.keys(ALLOWED).filter((name) => !options.has(name))).toEqual([]);
  });

  it('finds the options it should (the scan is not empty-handed)', () => {
    for (const name of ['taskTimeLimitSec', 'timeLimitSec', 'resultExpiresSec', 'timeoutMs', 'maxMemoryPerChildKib']) expect(options.has(name)).toBe(true);
  });
});
