/**
 * `celeriac graph`: a workflow as DOT, from a JSON signature dict (as Python's
 * `sig.dumps()`/`dict(sig)` gives it), from a file, or from a module export.
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { main } from '../../src/cli/main.js';

const FIXTURES = fileURLToPath(new URL('./fixtures/', import.meta.url));

async function run(...args: string[]) {
  let stdout = '';
  let stderr = '';
  const code = await main(['node', 'celeriac', ...args], { io: { out: (t) => (stdout += t), err: (t) => (stderr += t), cwd: FIXTURES } });
  return { code, stdout, stderr };
}

const task = (name: string, args: unknown[] = [], options: Record<string, unknown> = {}) => ({ task: name, args, kwargs: {}, options, subtask_type: null, immutable: false });

describe('celeriac graph', () => {
  it('draws a chain from a JSON signature dict: one box per step, arrows in order', async () => {
    const dict = { task: 'celery.chain', args: [], kwargs: { tasks: [task('a', [1]), task('b'), task('c')] }, options: {}, subtask_type: 'chain', immutable: false };
    const { code, stdout } = await run('graph', JSON.stringify(dict));
    expect(code).toBe(0);
    expect(stdout).toMatch(/^digraph "workflow" \{/);
    expect(stdout).toContain('n1 [label="a(1)"];');
    expect(stdout).toContain('n1 -> n2;');
    expect(stdout).toContain('n2 -> n3;');
    expect(stdout).not.toContain('n1 -> n3');
  });

  it('draws a module export: group in a cluster, chord fan-in, errback in red', async () => {
    const nightly = await run('graph', 'workflows.ts#nightly', '--name', 'nightly');
    expect(nightly.code).toBe(0);
    expect(nightly.stdout).toContain('digraph "nightly"');
    expect(nightly.stdout).toContain('label="group"');
    expect(nightly.stdout).toContain('n4 [label="flow.tsum()"];');
    const nightlyArrows = nightly.stdout.split('\n').filter((l) => l.includes('->')).map((l) => l.trim());
    expect(nightlyArrows).toEqual(['n4 -> n5 [style=dashed, color=red];', 'n1 -> n2;', 'n1 -> n3;', 'n2 -> n4;', 'n3 -> n4;']);
    const fanIn = await run('graph', 'workflows.ts#fanIn');
    expect(fanIn.stdout).toContain('label="chord header"');
    const arrows = fanIn.stdout.split('\n').filter((l) => l.includes('->'));
    expect(arrows).toEqual(['  n1 -> n3;', '  n2 -> n3;']);
  });

  it('reads @file, and explains bad input with exit code 2', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-graph-'));
    writeFileSync(join(dir, 'flow.json'), JSON.stringify(task('only', ['x'])));
    const fromFile = await run('graph', `@${join(dir, 'flow.json')}`);
    expect(fromFile.stdout).toContain(`n1 [label="only('x')"];`);
    expect((await run('graph', '{"nope": 1}')).code).toBe(2);
    const bad = await run('graph', 'workflows.ts#notAWorkflow');
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('is not a signature');
    expect((await run('graph', 'plain-word')).code).toBe(2);
  });

  it('a workflow nested past what the stack holds is a usage error (exit 2), not a RangeError stack', async () => {
    const depth = 5000;
    const open = '{"task":"celery.chain","args":[],"kwargs":{"tasks":[';
    const close = ',{"task":"t.step","args":[],"kwargs":{},"options":{}}]},"options":{},"subtask_type":"chain"}';
    const deep = await run('graph', `${open.repeat(depth)}{"task":"t.leaf","args":[],"kwargs":{},"options":{}}${close.repeat(depth)}`);
    expect(deep.stderr).toMatch(/^error: the workflow is nested too deep to draw \(Maximum call stack size exceeded\)/);
    expect(deep.code).toBe(2);
    expect(deep.stdout).toBe('');
  });
});
