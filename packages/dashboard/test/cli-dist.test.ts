/**
 * `celeriac flower` as a compiled user runs it: plain node, the dashboard loaded from its dist/.
 * A loader hook fails any import of tsx (the bin registers it only before a TypeScript module
 * loads, and flower without -A loads none) and any TypeScript module, so the dashboard running
 * at all shows that neither the bin, the engine nor the dashboard imports tsx or their sources.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { buildDistIfStale } from '../../celeriac/test/support/node-script.js';

const BIN = resolve(import.meta.dirname, '../../celeriac/bin/celeriac.js');
const dir = mkdtempSync(join(tmpdir(), 'celeriac-flower-dist-'));

const HOOKS = `
export async function resolve(specifier, context, next) {
  if (/^tsx(\\/|$)/.test(specifier)) throw new Error('tsx was imported by ' + context.parentURL);
  const resolved = await next(specifier, context);
  if (/\\.[mc]?tsx?$/.test(new URL(resolved.url).pathname)) throw new Error('a TypeScript module would load: ' + resolved.url);
  return resolved;
}
`;

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('celeriac flower from dist', () => {
  it('serves the API with plain node, without importing tsx or any .ts module', async () => {
    buildDistIfStale();
    writeFileSync(join(dir, 'no-tsx-hooks.mjs'), HOOKS);
    writeFileSync(join(dir, 'no-tsx.mjs'), `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'no-tsx-hooks.mjs')).href)});\n`);
    const env: NodeJS.ProcessEnv = { ...process.env, FLOWER_UNAUTHENTICATED_API: 'true' };
    delete env['NODE_OPTIONS']; // a runner's loader must not reach the child
    const child = spawn(process.execPath, ['--import', pathToFileURL(join(dir, 'no-tsx.mjs')).href, BIN, '-b', 'memory://', 'flower', '--port=0', '--address', '127.0.0.1', '--persistent=false', '--enable-events=false'], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    try {
      await waitFor(() => /celeriac flower http:\/\/127\.0\.0\.1:\d+/.test(out) || (child.exitCode !== null && Promise.reject(new Error(out))), 'the banner', { timeoutMs: 120_000, maxIntervalMs: 200 });
      const url = /celeriac flower (http:\/\/127\.0\.0\.1:\d+)/.exec(out)?.[1] as string;
      const res = await fetch(`${url}/api/workers`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({});
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).not.toContain('TypeScript module would load');
    expect(out).not.toContain('tsx was imported');
  }, 300_000);
});
