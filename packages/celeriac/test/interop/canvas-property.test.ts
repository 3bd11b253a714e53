/**
 * Generated nestings of chain, group and chord (fast-check, seeded, bounded depth and width)
 * over two tasks, `ident.si(v)` and `pack.s(v)` (Python's `pack(*args) -> list(args)`, so
 * every parent result shows in the value): each workflow is built in Python and run by a
 * Python Celery 5.2.6 worker (the oracle), and built in TypeScript and run by a Celeriac
 * worker, on the same Redis; both must return the same value. One Python worker and one
 * long-lived Python client for the whole file.
 *
 * Left out, because Celery 5.2.6 is not self-consistent there (docs/canvas.md, "How
 * workflows travel"): a chain ending in a group (its result is a GroupResult, or in a chord
 * header it resets the chord's size), a chord whose body is a group, and a group directly in
 * a group or chord header (5.2.6 unrolls it into a chord header in reverse order).
 */
import { isDeepStrictEqual } from 'node:util';
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { chain, chord, group, signature, type App } from '../../src/index.js';
import type { Json } from '../../src/protocol/types.js';
import { settle } from '../canvas/hang.js';
import { PY_SHAPE_KIT, PY_SHAPE_TASKS } from '../canvas/shapes.js';
import { describeOracles } from '../support/oracles.js';
import { MixedFleet, mixedFleetReady } from './mixed-fleet.js';
import { envFor, PY_CLIENT, type PyEnv } from './python.js';

type Node = { t: 'leaf'; v: number; imm: boolean } | { t: 'chain'; items: Node[] } | { t: 'group'; items: Node[] } | { t: 'chord'; header: Node[]; body: Node };

const leaf: fc.Arbitrary<Node> = fc.record({ t: fc.constant('leaf' as const), v: fc.integer({ min: 1, max: 99 }), imm: fc.boolean() });
/** One value: a task, a chain ending in one value, a chord whose body gives one value. */
function single(depth: number): fc.Arbitrary<Node> {
  if (depth === 0) return leaf;
  const chainArb = fc.tuple(fc.array(member(depth - 1), { minLength: 1, maxLength: 2 }), single(depth - 1)).map(([items, last]): Node => ({ t: 'chain', items: [...items, last] }));
  const chordArb = fc.tuple(fc.array(single(depth - 1), { minLength: 1, maxLength: 3 }), single(depth - 1)).map(([header, body]): Node => ({ t: 'chord', header, body }));
  return fc.oneof({ arbitrary: leaf, weight: 2 }, { arbitrary: chainArb, weight: 2 }, { arbitrary: chordArb, weight: 2 });
}
function groupOf(depth: number): fc.Arbitrary<Node> {
  return fc.array(single(depth - 1), { minLength: 1, maxLength: 3 }).map((items): Node => ({ t: 'group', items }));
}
/** What may sit in a group, a chord header or the middle of a chain. */
function member(depth: number): fc.Arbitrary<Node> {
  return depth === 0 ? leaf : fc.oneof({ arbitrary: single(depth), weight: 3 }, { arbitrary: groupOf(depth), weight: 1 });
}
const workflow = fc.oneof({ arbitrary: single(3), weight: 3 }, { arbitrary: groupOf(2), weight: 1 });

function toPython(n: Node): string {
  switch (n.t) {
    case 'leaf':
      return n.imm ? `ident.si(${n.v})` : `pack.s(${n.v})`;
    case 'chain':
      return `chain(${n.items.map(toPython).join(', ')})`;
    case 'group':
      return `group(${n.items.map(toPython).join(', ')})`;
    case 'chord':
      return `chord([${n.header.map(toPython).join(', ')}], ${toPython(n.body)})`;
  }
}

const ready = await mixedFleetReady('canvas property test');

/** A Python process that builds and runs workflows on request: one JSON line in, one out. */
class PythonOracle {
  private readonly child: ChildProcessWithoutNullStreams;
  private readonly waiting: ((line: string) => void)[] = [];
  private stderr = '';

  constructor(py: PyEnv) {
    const script = `${PY_CLIENT}
Q = 'py'
${PY_SHAPE_KIT}
for line in sys.stdin:
    try:
        r = eval(json.loads(line)).apply_async()
        print(json.dumps({'value': r.get(timeout=30)}))
    except Exception as e:
        print(json.dumps({'error': '%s: %s' % (type(e).__name__, e)}))
    sys.stdout.flush()
`;
    this.child = spawn('/usr/bin/python3', ['-c', script], { env: envFor(py) });
    this.child.stderr.on('data', (d: Buffer) => (this.stderr += d.toString()));
    createInterface({ input: this.child.stdout }).on('line', (line) => this.waiting.shift()?.(line));
  }

  run(expr: string): Promise<{ value?: Json; error?: string }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`python oracle gave no answer for ${expr}\n${this.stderr}`)), 60_000);
      this.waiting.push((line) => {
        clearTimeout(timer);
        resolve(JSON.parse(line) as { value?: Json; error?: string });
      });
      this.child.stdin.write(`${JSON.stringify(expr)}\n`);
    });
  }

  close(): void {
    this.child.stdin.end();
    this.child.kill();
  }
}

describeOracles('generated canvas nestings: Celeriac returns what Python Celery returns', (oracle) => {
  const fleet = new MixedFleet('cprop', 9, oracle);
  let app: App;
  let python: PythonOracle;

  beforeAll(async () => {
    app = fleet.app({ taskDefaultQueue: 'ts' });
    app.task('t.ident', (x: Json) => x);
    app.task('t.pack', (...args: Json[]) => args);
    await fleet.worker(app, { queues: ['ts'], concurrency: 8 });
    await fleet.python({ queues: ['py'], concurrency: 4, extraTasks: PY_SHAPE_TASKS });
    python = new PythonOracle(fleet.py);
  }, 60_000);

  afterAll(async () => {
    python?.close();
    await fleet.close();
  }, 30_000);

  const ts = (n: Node): ReturnType<typeof signature> | ReturnType<typeof group> => {
    const sig = (name: string, args: Json[], immutable: boolean) => signature(name, args, {}, { queue: 'ts' }, app).clone({ immutable });
    switch (n.t) {
      case 'leaf':
        return n.imm ? sig('t.ident', [n.v], true) : sig('t.pack', [n.v], false);
      case 'chain':
        return chain(...(n.items.map(ts) as [ReturnType<typeof signature>]));
      case 'group':
        return group(n.items.map(ts) as ReturnType<typeof signature>[]);
      case 'chord':
        return chord(group(n.header.map(ts) as ReturnType<typeof signature>[]), ts(n.body) as ReturnType<typeof signature>);
    }
  };

  it('for 40 seeded workflows of depth <= 3 and width <= 3', async () => {
    await fc.assert(
      fc.asyncProperty(workflow, async (node) => {
        const expr = toPython(node);
        let expected = await python.run(expr);
        expect(expected.error, `Python failed on ${expr}`).toBeUndefined();
        const r = await ts(node).applyAsync();
        const value = await settle(r, { backend: app.backend }, 30_000).catch((e: unknown) => `ERROR ${(e as Error).message}`);
        // Celery 5.6.3 has twice answered a chord whose header holds chains with [] for that
        // header, in full CI runs on a loaded machine (its own race; the same workflow gave the
        // right value when run alone). A disagreement is asked of Python once more: a wrong
        // Celeriac value still differs from the second answer.
        if (!isDeepStrictEqual(value, expected.value)) expected = await python.run(expr);
        expect(value, expr).toEqual(expected.value);
      }),
      { seed: 20261122, numRuns: 40, endOnFailure: true },
    );
  }, 120_000);
}, ready);
