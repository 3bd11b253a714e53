/**
 * Every time the engine decides with is read through the injected clock (core/clock.ts), so a
 * fake clock drives schedules, ETAs, backoffs and timeouts in tests. `Date.now()` is left only
 * where the time is not the app's to give, each listed here with why; a new one fails this test.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SRC = fileURLToPath(new URL('..', import.meta.url));

/** Modules that read the wall clock themselves, and why. */
const ALLOWED: Record<string, string> = {
  'core/clock.ts': 'the system clock itself',
  'core/log.ts': "a log line's time is the wall clock's",
  'redis/client.ts': "reconnect and outage timing, on node-redis's real timers",
  'redis/sentinel-console.ts': "spaces the log lines of node-redis's Sentinel prints, which come on node-redis's real timers",
  'brokers/redis/lease-keeper-thread.ts': 'runs in a thread of its own, where no injected clock reaches, while the event loop is blocked',
  'brokers/amqp/beat-store.ts': 'waits with real sleeps for another process to hand back the store document',
  'worker/startup-connect.ts': 'startup connection retries, on real timers before the app runs',
  'testing/wait-for.ts': "the test helper's own real-time deadline",
  'testing/broker-conformance.ts': 'the conformance suites run real adapters in real time',
  'testing/broker-harness.ts': 'as above',
  'testing/broker-listing-conformance.ts': 'as above',
};

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name);
    if (e.isDirectory()) return sources(path);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [path] : [];
  });
}

/** Lines that call Date.now() outside comments. */
function wallClockReads(text: string): number[] {
  const lines: number[] = [];
  text.split('\n').forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '').replace(/^\s*\*.*$/, '');
    if (/\bDate\.now\(\)/.test(code)) lines.push(i + 1);
  });
  return lines;
}

describe('clock reads', () => {
  it('no module of src reads Date.now() but the listed ones', () => {
    const found = sources(SRC).flatMap((file) => {
      const rel = relative(SRC, file).split('\\').join('/');
      return ALLOWED[rel] === undefined ? wallClockReads(readFileSync(file, 'utf8')).map((line) => `${rel}:${line}`) : [];
    });
    expect(found).toEqual([]);
  });

  it('every listed module still reads it (a stale entry goes)', () => {
    for (const rel of Object.keys(ALLOWED)) expect(wallClockReads(readFileSync(join(SRC, rel), 'utf8')).length, rel).toBeGreaterThan(0);
  });

  it('finds a read in code, not in a comment', () => {
    expect(wallClockReads('// Date.now() here\n * Date.now() there\nconst t = Date.now();')).toEqual([3]);
  });
});
