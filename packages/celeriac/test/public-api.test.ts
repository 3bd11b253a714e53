/**
 * The public surface: the root keeps the everyday API (the README), every other
 * area has its own subpath, each name has one home, and package.json, tsconfig.json and
 * vitest.config.ts agree on the subpaths. Changing an export list here is changing the API.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import * as root from 'celeriac';
import * as beat from 'celeriac/beat';
import * as memory from 'celeriac/memory';
import * as monitor from 'celeriac/monitor';
import * as redis from 'celeriac/redis';
import * as settings from 'celeriac/settings';
import * as spi from 'celeriac/spi';
import * as testing from 'celeriac/testing';
import * as worker from 'celeriac/worker';
import { chain, createApp, type AsyncResult } from 'celeriac';

const PKG = fileURLToPath(new URL('../', import.meta.url));

/** Runtime (value) exports of each entry point; types are checked by the compiler. */
const ENTRIES: Record<string, { module: object; values: string[] }> = {
  '.': {
    module: root,
    values: [
      'AsyncResult', 'CeleriacError', 'Chain', 'Chord', 'ChordError', 'EagerResult', 'ErrorCodes', 'Group', 'GroupResult', 'Ignore', 'ImproperlyConfigured',
      'InvalidArguments', 'MaxRetriesExceededError', 'NotRegistered', 'ProtocolError', 'PublishError', 'READY_STATES', 'Reject', 'ResultTimeoutError', 'Retry', 'Signature',
      'SoftTimeLimitExceeded', 'TaskError', 'TaskRevokedError', 'TimeLimitExceeded', 'Worker', 'WorkerLostError', 'chain', 'chord', 'chunks',
      'createApp', 'createLogger', 'fromCelery', 'group', 'isReady', 'map', 'signature', 'starmap',
    ],
  },
  './beat': { module: beat, values: ['BEAT_HEADER', 'Beat', 'BeatEntries', 'crontab', 'every', 'nextDue', 'slotAfter', 'solar'] },
  './memory': { module: memory, values: ['MemoryBackend', 'MemoryBroker'] },
  './monitor': { module: monitor, values: [
      'BrokerUnreachableError', 'CUSTOM_STATE_RANK', 'ClusterState', 'ControlClient', 'EventReceiver', 'FINAL_RANK_MAX', 'LOSABLE_RANKS', 'LOST_STATE',
      'STATE_RANKS', 'TASK_EVENT_STATES', 'activeMeter', 'applyFact', 'canBeLost', 'delayedTaskOf', 'foldTaskState', 'jsonSafe', 'jsonText', 'mergeState', 'parsePyJson', 'pyRepr', 'readDelayedTasks', 'stateOfEvent', 'statePrecedence', 'taskEventOrder',
    ] },
  './redis': { module: redis, values: ['BackendKeys', 'BrokerKeys', 'PRIORITY_STEPS', 'RedisBackend', 'RedisBroker', 'RedisConnections', 'SEP', 'TASK_META_PREFIX', 'closeRedisClient', 'createRedisClient', 'kombuUrlDefaults', 'parseRedisUrl', 'resultKeyPrefix', 'scanPattern', 'stepOf', 'waitingSince'] },
  './settings': { module: settings, values: ['SETTINGS', 'parseSettingText', 'resolveSettings', 'settingProblem'] },
  './spi': { module: spi, values: ['coerceError', 'defaultTransports', 'delayedListingOf', 'newRedisClient', 'purgeCounting', 'queueAgeReadingOf', 'setAsideListingOf', 'systemClock'] },
  './testing': { module: testing, values: ['FakeClock', 'createTestApp', 'flush', 'sleep', 'waitFor'] },
  './worker': { module: worker, values: ['expandNodeName', 'installShutdownSignals', 'installStatusSignal', 'isPoolChild', 'registerErrorCodec'] },
};

describe('public API', () => {
  it('each entry point exports exactly its curated values', () => {
    for (const [subpath, { module, values }] of Object.entries(ENTRIES)) {
      expect([subpath, Object.keys(module).sort()]).toEqual([subpath, [...values].sort()]);
    }
  });

  it('every value has one home', () => {
    const seen = new Map<string, string>();
    for (const [subpath, { values }] of Object.entries(ENTRIES)) {
      for (const name of values) {
        expect(seen.get(name), `${name} is exported by ${seen.get(name)} and ${subpath}`).toBeUndefined();
        seen.set(name, subpath);
      }
    }
  });

  it('package.json names the same entry points; each resolves here to its source (tsconfig paths are checked by tsc)', async () => {
    const pkg = JSON.parse(readFileSync(`${PKG}package.json`, 'utf8')) as { exports: Record<string, { types: string; default: string } | string> };
    const subpaths = Object.keys(pkg.exports).filter((s) => s !== './package.json');
    expect(subpaths.sort()).toEqual([...Object.keys(ENTRIES), './testing/conformance'].sort());
    for (const [subpath, entry] of Object.entries(ENTRIES)) {
      const target = pkg.exports[subpath] as { types: string; default: string };
      expect(target.types).toBe(target.default.replace(/\.js$/, '.d.ts'));
      const source = `${PKG}${target.default.replace(/^\.\/dist\//, 'src/').replace(/\.js$/, '.ts')}`;
      expect(existsSync(source), source).toBe(true);
      expect(await import(source)).toBe(entry.module);
    }
  });
});

/** The README's first example written against the root alone: compiled by `npm run typecheck`, never run. */
export async function designSection3(): Promise<void> {
  const app = createApp({ broker: process.env.CELERY_BROKER_URL, backend: process.env.CELERY_RESULT_BACKEND });
  const add = app.task('proj.add', (x: number, y: number) => x + y);
  const report = app.task('proj.report', (total: number) => total);
  const alarm = app.task('proj.alarm', (taskId: string) => taskId);
  const crawl = app.task('proj.crawl', { bind: true, autoretryFor: [TypeError], retryBackoff: true, maxRetries: 5, softTimeLimitSec: 30 }, async (ctx, url: string) => {
    await ctx.updateState('PROGRESS', { url });
    return (await fetch(url, { signal: ctx.signal })).status;
  });
  const r: AsyncResult<number> = await add.delay(2, 3);
  await r.get({ timeoutMs: 10_000 });
  // The first examples wrote the wait as `{ timeout: 10_000 }`: the deprecated name still compiles.
  const designWait = { timeout: 10_000 };
  await r.get(designWait);
  await add.applyAsync([2, 3], { countdown: 60, queue: 'priority', priority: 0, link: report.s(), linkError: alarm.s() });
  await app.sendTask('py.tasks.resize', [1], { width: 2 }, { queue: 'py' });
  await chain(add.s(2, 2), add.s(4)).applyAsync();
  void crawl;
}
