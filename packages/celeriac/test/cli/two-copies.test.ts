/**
 * One library copy, or no harm from two (issue 43 point 6). An app whose tsconfig `paths`
 * points `celeriac` at another copy of the package (this repo's own examples did, at the
 * sources) runs under the `celeriac` command of this copy: the worker must know the app's
 * Reject, Ignore and encoding errors although they are other classes (errors.ts brands).
 * The second copy is this package's dist/ copied into a temp directory, marked so the test
 * can tell the alias took effect. And a project with its own `node_modules/celeriac` gets
 * that copy's command (bin/celeriac.js hands over), so app and worker share one copy.
 * On the shared Redis under a key prefix of this file's own.
 */
import { appendFileSync, cpSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createApp } from '../../src/index.js';
import { REDIS_URL, deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { ROOT, killAll, runCli, spawnCli } from './spawn.js';

const PKG = fileURLToPath(new URL('../../', import.meta.url));
const ready = await shouldRunRedisTests('cli: two copies of the library');
const prefix = `celeriac-test-copies-${randomUUID()}:`;
const broker = `${REDIS_URL}?global_keyprefix=${encodeURIComponent(prefix)}`;
const ids: string[] = [];
const dirs: string[] = [];

afterEach(() => killAll());
afterAll(async () => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  if (!ready) return;
  await deleteKeys(prefix);
  await deleteResults(ids);
});

/** This package's dist/, bin/ and package.json copied to `dir` with `version`, its dist marked `VENDORED`. */
function copyPackage(dir: string, version: string): void {
  mkdirSync(dir, { recursive: true });
  cpSync(join(PKG, 'dist'), join(dir, 'dist'), { recursive: true });
  cpSync(join(PKG, 'bin'), join(dir, 'bin'), { recursive: true });
  const pkg = JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')) as Record<string, unknown>;
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ ...pkg, version }));
  appendFileSync(join(dir, 'dist', 'index.js'), '\nexport const VENDORED = true;\n');
}

const APP = `
import { createApp, Ignore, Reject } from 'celeriac';
import * as celeriac from 'celeriac';

export const app = createApp({ logFormat: 'human' });
app.task('two.vendored', () => (celeriac as Record<string, unknown>)['VENDORED'] === true);
app.task('two.reject', () => {
  throw new Reject({ reason: 'not for us' });
});
app.task('two.ignore', () => {
  throw new Ignore('nothing to store');
});
app.task('two.deep', () => {
  let value: unknown[] = [];
  for (let i = 0; i < 20_000; i++) value = [value];
  return value;
});
app.task('two.ok', () => 'ok');
`;

describe.runIf(ready)('a .ts app whose tsconfig paths alias celeriac to a second copy', () => {
  it('stores Reject and Ignore as Celery does (nothing), and a 20,000-deep result as one EncodeError, not retries and a dead letter', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-two-copies-'));
    dirs.push(dir);
    copyPackage(join(dir, 'vendor', 'celeriac'), '0.0.0-vendored');
    // The copy's own imports (commander, redis...) resolve through the repository's node_modules.
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'));
    writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({ compilerOptions: { module: 'nodenext', strict: true, paths: { celeriac: ['./vendor/celeriac/dist/index.js'] } } }));
    writeFileSync(join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    writeFileSync(join(dir, 'app.ts'), APP);

    const worker = spawnCli(['-A', 'app.ts', '-b', broker, '--result-backend', REDIS_URL, 'worker', '-c', '1', '-n', `copies-${process.pid}@%h`], { cwd: dir });
    await worker.waitFor(/ready\./);
    const producer = createApp({ broker, backend: REDIS_URL }, { env: {} });
    try {
      const sent: Record<string, string> = {};
      for (const name of ['two.vendored', 'two.reject', 'two.ignore', 'two.deep', 'two.ok']) sent[name] = (await producer.sendTask(name, [])).id;
      ids.push(...Object.values(sent));
      // One slot: when the last task's result is there, the others have ended.
      expect(await producer.asyncResult(sent['two.ok'] as string).get({ timeoutMs: 30_000 })).toBe('ok');
      expect(await producer.asyncResult(sent['two.vendored'] as string).get({ timeoutMs: 1000 })).toBe(true);
      expect(await producer.backend.get(sent['two.reject'] as string)).toBeNull();
      expect(await producer.backend.get(sent['two.ignore'] as string)).toBeNull();
      expect(await producer.backend.get(sent['two.deep'] as string)).toMatchObject({ status: 'FAILURE', result: { exc_type: 'EncodeError', exc_module: 'kombu.exceptions' } });
      const out = worker.stdout();
      expect(out).toContain(`Task two.reject[${sent['two.reject']}] rejected (requeue: false): not for us`);
      expect(out).toContain(`Task two.ignore[${sent['two.ignore']}] ignored: nothing to store`);
      expect(out.split(`Task two.deep[${sent['two.deep']}] received`)).toHaveLength(2);
      expect(out).not.toMatch(/raised unexpected: (Reject|Ignore)/);
    } finally {
      await producer.close();
    }
    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
  }, 90_000);
});

describe('a project with its own node_modules/celeriac', () => {
  it("runs that copy's command, found from -A's directory or the working directory", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-project-copy-'));
    dirs.push(dir);
    const modules = join(dir, 'node_modules');
    mkdirSync(modules);
    // Every dependency as the repository has it, celeriac as a copy of the project's own.
    for (const name of readdirSync(join(ROOT, 'node_modules'))) if (name !== 'celeriac' && name !== '.bin') symlinkSync(join(ROOT, 'node_modules', name), join(modules, name));
    copyPackage(join(modules, 'celeriac'), '0.0.0-project');
    writeFileSync(join(dir, 'app.mjs'), "export { createApp } from 'celeriac';\n");

    expect((await runCli(['--version'], { cwd: dir })).stdout.trim()).toBe('0.0.0-project');
    expect((await runCli(['-A', join(dir, 'app.mjs'), '--version'])).stdout.trim()).toBe('0.0.0-project');
    expect((await runCli([`--app=${join(dir, 'app.mjs')}`, '--version'])).stdout.trim()).toBe('0.0.0-project');
    // Elsewhere (this repository, whose celeriac is this one) the command is this copy's.
    expect((await runCli(['--version'])).stdout.trim()).toBe(JSON.parse(readFileSync(join(PKG, 'package.json'), 'utf8')).version);
  }, 60_000);
});
