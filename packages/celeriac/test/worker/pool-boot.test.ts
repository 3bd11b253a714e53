/**
 * A pool child boots whatever flags its worker process was started with: a thread's eval code
 * inherits them, and a program run as `node --input-type=module -e '...'` made that code an ES
 * module, where the boot's `require` did not exist (the thread died before child-main ran). A
 * prefork child is started with the worker's flags, but not the worker's own `-e` code or
 * `--input-type` (worker/pools/spawn-child.ts).
 */
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { childExecArgv } from '../../src/worker/pools/spawn-child.js';
import { libraryLoaderArgs, libraryModuleUrl } from '../support/node-script.js';

describe('booting a pool child', () => {
  it('a thread of a worker run with --input-type=module reaches child-main (which reports the missing app module)', () => {
    const code = `
      const { spawnChild } = await import(${JSON.stringify(libraryModuleUrl('worker/pools/spawn-child.ts'))});
      const child = spawnChild('thread', { appModule: 'file:///nonexistent/celeriac-app.mjs', appAttr: null, settings: {} });
      const first = await new Promise((resolve) => {
        child.onMessage((m) => resolve({ message: m.type, text: JSON.stringify(m.error?.record?.exc_message ?? '') }));
        child.onError((e) => resolve({ error: e.message }));
      });
      await child.kill();
      console.log(JSON.stringify(first));`;
    const out = execFileSync(process.execPath, [...libraryLoaderArgs(), '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000, cwd: new URL('.', import.meta.url).pathname });
    const first = JSON.parse(out.trim().split('\n').at(-1) ?? '{}') as { message?: string; text?: string; error?: string };
    // Before: { error: 'require is not defined in ES module scope, ...' }
    expect(first.error).toBeUndefined();
    expect(first.message).toBe('fatal');
    expect(first.text).toContain('celeriac-app.mjs');
  }, 60_000);

  it('a prefork child keeps the worker\'s flags but its -e code, --input-type and debugger', () => {
    expect(childExecArgv(['--max-old-space-size=512', '--input-type=module', '-e', 'console.log(1)', '--import', './otel.mjs'])).toEqual(['--max-old-space-size=512', '--import', './otel.mjs']);
    expect(childExecArgv(['--inspect=9229', '--eval=1', '--print', 'x', '--input-type', 'commonjs', '--heap-growing-percent=30'])).toEqual(['--heap-growing-percent=30']);
    expect(childExecArgv([])).toEqual([]);
  });
});
