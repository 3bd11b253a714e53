/**
 * The hard canvas shapes of issue 26 as data: a builder over untyped signatures and the
 * result a Python Celery 5.2.6 worker returns for it (JSON). Shared by the Celeriac-only test
 * (shapes.test.ts) and the interop test, which builds the same shape in Python (`py`).
 */
import type { Chain, Chord, Group } from '../../src/canvas/primitives.js';
import type { Signature } from '../../src/core/signature.js';
import type { Json } from '../../src/protocol/types.js';
import type { chain as chainFn, chord as chordFn, group as groupFn } from '../../src/index.js';

/** What a shape is built from. */
export interface ShapeKit {
  t(name: string, ...args: Json[]): Signature;
  ti(name: string, ...args: Json[]): Signature;
  chain: typeof chainFn;
  group: typeof groupFn;
  chord: typeof chordFn;
}

export interface Shape {
  name: string;
  build(k: ShapeKit): Chain | Group | Chord | Signature;
  /** The same workflow in Python (names: ident, add, tsum, pack; chain, group, chord). */
  py: string;
  /** Python Celery 5.2.6's result, as JSON. */
  expected: string;
}

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

export const SHAPES: Shape[] = [
  {
    name: 'a chain of a task, a group and a chord',
    build: ({ ti, t, chain, group, chord }) => chain(ti('t.ident', 1), group(ti('t.ident', 2), ti('t.ident', 3)), chord(group(t('t.ident'), t('t.ident')), t('t.ident'))),
    py: 'chain(ident.si(1), group(ident.si(2), ident.si(3)), chord(group(ident.s(), ident.s()), ident.s()))',
    expected: '[[2,3],[2,3]]',
  },
  {
    name: 'a group in the middle of a chain, more steps after',
    build: ({ ti, t, chain, group }) => chain(ti('t.add', 1, 1), group(t('t.add', 1), t('t.add', 2)), t('t.tsum'), t('t.add', 10)),
    py: 'chain(add.si(1, 1), group(add.s(1), add.s(2)), tsum.s(), add.s(10))',
    expected: '17',
  },
  {
    name: 'a chain whose middle group members are chains',
    build: ({ ti, t, chain, group }) => chain(ti('t.add', 1, 1), group(chain(t('t.add', 1), t('t.add', 1)), chain(t('t.add', 2), t('t.add', 2))), t('t.tsum'), t('t.add', 1)),
    py: 'chain(add.si(1, 1), group(chain(add.s(1), add.s(1)), chain(add.s(2), add.s(2))), tsum.s(), add.s(1))',
    expected: '11',
  },
  {
    name: 'a chain of chords',
    build: ({ ti, t, chain, chord }) => chain(chord([ti('t.add', 1, 1), ti('t.add', 2, 2)], t('t.tsum')), chord([t('t.add', 1), t('t.add', 2)], t('t.tsum'))),
    py: 'chain(chord([add.si(1, 1), add.si(2, 2)], tsum.s()), chord([add.s(1), add.s(2)], tsum.s()))',
    expected: '15',
  },
  {
    name: 'groups chained to a task, twice (chords of two tasks)',
    build: ({ ti, t, chain, group }) => chain(ti('t.add', 1, 0), group(t('t.add', 1), t('t.add', 1)), t('t.tsum'), t('t.add', 1), group(t('t.add', 1), t('t.add', 1)), t('t.tsum')),
    py: 'add.si(1, 0) | group(add.s(1), add.s(1)) | tsum.s() | add.s(1) | group(add.s(1), add.s(1)) | tsum.s()',
    expected: '12',
  },
  {
    name: 'chain(chord, chain, chord)',
    build: ({ ti, t, chain, chord }) => chain(chord([ti('t.ident', 1), ti('t.ident', 2)], t('t.tsum')), chain(t('t.add', 1), t('t.add', 1)), chord([t('t.add', 1), t('t.add', 2)], t('t.tsum'))),
    py: 'chain(chord([ident.si(1), ident.si(2)], tsum.s()), chain(add.s(1), add.s(1)), chord([add.s(1), add.s(2)], tsum.s()))',
    expected: '13',
  },
  {
    name: 'a chord in a chain in a chord header, in a chain',
    build: ({ ti, chain, chord }) => chain(ti('t.ident', 1), chord([ti('t.ident', 2), chain(ti('t.ident', 3), chord([ti('t.ident', 4), ti('t.ident', 5)], ti('t.ident', 6)))], ti('t.ident', 7))),
    py: 'chain(ident.si(1), chord([ident.si(2), chain(ident.si(3), chord([ident.si(4), ident.si(5)], ident.si(6)))], ident.si(7)))',
    expected: '7',
  },
  {
    name: 'a chain ending in a chord with a 300-part header',
    build: ({ ti, t, chain, chord }) => chain(ti('t.add', 1, 1), chord(range(300).map((i) => t('t.add', i)), t('t.tsum'))),
    py: 'chain(add.si(1, 1), chord([add.s(i) for i in range(300)], tsum.s()))',
    expected: '45450',
  },
  {
    name: 'a chord whose header is a chain ending in a group: nested result',
    build: ({ ti, t, chain, group, chord }) => chord(group(chain(ti('t.ident', 42), group(t('t.ident'), t('t.ident')))), t('t.ident')),
    py: 'chord(group(chain(ident.si(42), group(ident.s(), ident.s()))), ident.s())',
    expected: '[[42,42]]',
  },
  {
    name: 'a chord whose header is a group of chains followed by a group',
    build: ({ ti, t, chain, group, chord }) => chord([chord(group(chain(ti('t.ident', 1), t('t.ident')), chain(ti('t.ident', 2), t('t.ident'))), group(t('t.ident'), t('t.ident')))], t('t.ident')),
    py: 'chord(group(chain(ident.si(1), ident.s()), chain(ident.si(2), ident.s())) | group(ident.s(), ident.s()), ident.s())',
    expected: '[[[1,2],[1,2]]]',
  },
  {
    name: 'a chord in a chord header',
    build: ({ ti, t, chord }) => chord([chord([ti('t.add', 1, 1), ti('t.add', 2, 2)], t('t.tsum')), ti('t.add', 3, 3)], t('t.pack')),
    py: 'chord([chord([add.si(1, 1), add.si(2, 2)], tsum.s()), add.si(3, 3)], pack.s())',
    expected: '[[6,6]]',
  },
  {
    name: 'a chord whose last header part is a chain',
    build: ({ ti, t, chain, chord }) => chord([ti('t.add', 1, 1), chain(ti('t.add', 1, 1), t('t.add', 1))], t('t.tsum')),
    py: 'chord([add.si(1, 1), chain(add.si(1, 1), add.s(1))], tsum.s())',
    expected: '5',
  },
];

/** The canvas-shape tasks (test/canvas/shapes.ts) in Python, under the names Celeriac uses. */
export const PY_SHAPE_TASKS = `
@app.task(name='t.ident')
def t_ident(x):
    return x

@app.task(name='t.add')
def t_add(x, y):
    return x + y

@app.task(name='t.tsum')
def t_tsum(values):
    return sum(values)

@app.task(name='t.pack')
def t_pack(*args):
    return list(args)
`;

/** Python names for building shapes: \`ident.s()\`, \`add.si(1, 1)\`... routed to queue \`Q\`. */
export const PY_SHAPE_KIT = `
from celery import chain, group, chord
class _T:
    def __init__(self, name): self.name = name
    def s(self, *a): return app.signature(self.name, args=a, queue=Q)
    def si(self, *a): return app.signature(self.name, args=a, queue=Q, immutable=True)
ident, add, tsum, pack = _T('t.ident'), _T('t.add'), _T('t.tsum'), _T('t.pack')
`;
