import fc from 'fast-check';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { LinkedSet, type Link } from './linked-set.js';

describe('LinkedSet', () => {
  it('keeps members in insertion order and removes them by link', () => {
    const set = new LinkedSet<string>();
    const a = set.add('a');
    const b = set.add('b');
    const c = set.add('c');
    expect(set.size).toBe(3);
    expect(set.values()).toEqual(['a', 'b', 'c']);
    expect(set.delete(b)).toBe(true);
    expect(set.values()).toEqual(['a', 'c']);
    expect(set.delete(a)).toBe(true);
    expect(set.delete(c)).toBe(true);
    expect(set.size).toBe(0);
    expect(set.values()).toEqual([]);
    // The set is usable again after being emptied.
    set.add('d');
    expect([...set]).toEqual(['d']);
  });

  it('deletes a link once: again, after clear, or in another set, it is false and changes nothing', () => {
    const set = new LinkedSet<number>();
    const other = new LinkedSet<number>();
    const one = set.add(1);
    set.add(2);
    const foreign = other.add(3);
    expect(set.delete(one)).toBe(true);
    expect(set.delete(one)).toBe(false);
    expect(set.delete(foreign)).toBe(false);
    expect(set.values()).toEqual([2]);
    expect(other.values()).toEqual([3]);
    const two = set.add(4);
    set.clear();
    expect(set.size).toBe(0);
    expect(set.delete(two)).toBe(false);
    expect(set.size).toBe(0);
  });

  it('counts a value added twice as two members', () => {
    const set = new LinkedSet<string>();
    const first = set.add('x');
    set.add('x');
    expect(set.size).toBe(2);
    set.delete(first);
    expect(set.values()).toEqual(['x']);
  });

  it('lets callers change the set while they go through its members', () => {
    const set = new LinkedSet<number>();
    const links = [1, 2, 3, 4].map((n) => set.add(n));
    const seen: number[] = [];
    for (const n of set) {
      seen.push(n);
      // Removing the next member and adding a new one do not disturb this pass.
      if (n === 2) {
        set.delete(links[2] as Link<number>);
        set.add(5);
      }
    }
    expect(seen).toEqual([1, 2, 3, 4]);
    expect(set.values()).toEqual([1, 2, 4, 5]);
  });

  it('leaves nothing reachable through a removed link: a link held after its removal keeps no other member alive', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    let set: LinkedSet<object> | undefined = new LinkedSet<object>();
    let before: object | undefined = { name: 'before' };
    let after: object | undefined = { name: 'after' };
    set.add(before);
    // Held by its owner after it left the set, as a finished delivery keeps its link.
    const removed = set.add({ name: 'removed' });
    set.add(after);
    const gone = [new WeakRef(before), new WeakRef(after)];
    set.delete(removed);
    set = before = after = undefined;
    // WeakRef targets are kept until the current job ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(gone.map((ref) => ref.deref())).toEqual([undefined, undefined]);
    expect(removed.value).toEqual({ name: 'removed' });
  });

  it('behaves as an array of members under any sequence of adds and deletes', () => {
    type Op = { add: number } | { del: number };
    const op = fc.oneof(fc.record({ add: fc.integer() }), fc.record({ del: fc.nat(50) }));
    fc.assert(
      fc.property(fc.array(op, { maxLength: 200 }), (ops: Op[]) => {
        const set = new LinkedSet<number>();
        const model: { value: number; link: Link<number> }[] = [];
        const removed: Link<number>[] = [];
        for (const o of ops) {
          if ('add' in o) {
            model.push({ value: o.add, link: set.add(o.add) });
          } else if (model.length > 0) {
            const [gone] = model.splice(o.del % model.length, 1);
            expect(set.delete(gone!.link)).toBe(true);
            removed.push(gone!.link);
          }
          expect(set.size).toBe(model.length);
        }
        expect(set.values()).toEqual(model.map((m) => m.value));
        for (const link of removed) expect(set.delete(link)).toBe(false);
      }),
    );
  });
});
