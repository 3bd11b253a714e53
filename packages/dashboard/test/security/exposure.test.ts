/**
 * Least exposure of what the dashboard keeps and answers: its data directory (the embedded
 * history holds task arguments and results, the audit log names users) is owner-only, made
 * so at start even when an older version left it readable; oversized and malformed bodies on
 * every action are 4xx, never a 500 or a crash, and never echoed back.
 */
import { chmodSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RunningDashboard } from '../../src/dashboard.js';
import { SecurityFixture, call, postgresReady, routesOf, type CallableRoute } from './support.js';

const ready = await postgresReady('dashboard security: exposure');
const fx = new SecurityFixture();

/** Every path under `dir` with its permission bits. */
function modes(dir: string): Map<string, number> {
  const out = new Map<string, number>([[dir, statSync(dir).mode & 0o777]]);
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isDirectory() || e.isFile()) out.set(p, statSync(p).mode & 0o777);
  }
  return out;
}

describe('dashboard security: the data directory', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-sec-data-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is 0700 with files 0600, though it was left 0755 with a 0644 file', async () => {
    const data = join(dir, 'flower');
    const own = new SecurityFixture();
    try {
      // What an older version left: a world-readable directory and secret file.
      const d0 = await own.dashboard({ dataDir: data, databaseUrl: undefined, storeOptions: {} });
      await d0.close();
      chmodSync(data, 0o755);
      writeFileSync(join(data, 'cookie-secret'), 'old\n', { mode: 0o644 });
      chmodSync(join(data, 'cookie-secret'), 0o644);
      const d = await own.dashboard({ dataDir: data, databaseUrl: undefined, storeOptions: {} });
      await call(d.url, 'GET', '/healthcheck');
      const seen = modes(data);
      expect(seen.size).toBeGreaterThan(10);
      for (const [path, mode] of seen) {
        const isDir = statSync(path).isDirectory();
        expect(mode.toString(8), path).toBe(isDir ? '700' : '600');
      }
    } finally {
      await own.close();
    }
  }, 60_000);
});

describe.runIf(ready)('dashboard security: hostile bodies', () => {
  let dash: RunningDashboard;
  let actions: CallableRoute[];
  const auth = { authorization: 'Bearer tok-bodies' };

  beforeAll(async () => {
    dash = await fx.dashboard({ apiTokens: ['tok-bodies'] });
    actions = routesOf(dash).filter((r) => r.action);
  }, 30_000);

  afterAll(() => fx.close(), 30_000);

  it('oversized bodies: 413 on every action, nothing echoed', async () => {
    const big = JSON.stringify({ args: ['x'.repeat(2 << 20)] });
    for (const r of actions) {
      const res = await call(dash.url, r.method, r.path, { ...auth, 'content-type': 'application/json' }, big);
      expect(res.status, `${r.method} ${r.path}`).toBe(413);
      expect(res.text.length).toBeLessThan(500);
    }
  });

  it('malformed, deep and wrongly typed bodies: a 4xx on every action, never a 500', async () => {
    const deep = `${'['.repeat(50_000)}${']'.repeat(50_000)}`;
    const bodies: [string, string][] = [
      ['application/json', '{"args": [1, 2'],
      ['application/json', deep],
      ['application/json', '"just a string"'],
      ['application/json', '{"args": "not a list", "kwargs": [1], "options": 7, "ids": {"a": 1}}'],
      ['application/json', '{"__proto__": {"admin": true}, "constructor": {"prototype": {"x": 1}}}'],
      ['application/x-www-form-urlencoded', 'args=%ZZ&kwargs=%7B&terminate=maybe&signal=SIGNOPE'],
      ['text/plain', '\u0000\u0001\u0002'],
    ];
    for (const r of actions) {
      for (const [type, body] of bodies) {
        const res = await call(dash.url, r.method, r.path, { ...auth, 'content-type': type }, body);
        expect(res.status, `${type} ${body.slice(0, 30)} -> ${r.method} ${r.path}: ${res.text.slice(0, 200)}`).toBeLessThan(500);
      }
    }
    // Still serving, and no prototype was polluted.
    expect((await call(dash.url, 'GET', '/healthcheck')).text).toBe('OK');
    expect(({} as Record<string, unknown>)['admin']).toBeUndefined();
  });
});
