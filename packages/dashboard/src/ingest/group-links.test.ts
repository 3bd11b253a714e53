import { describe, expect, it } from 'vitest';
import type { EventDict } from 'celeriac/monitor';
import type { ResultStore } from 'celeriac/spi';
import type { HistoryStore } from '../store/history-store.js';
import { GroupLinks } from './group-links.js';

const ev = (type: string, uuid: string, fields: Record<string, unknown> = {}) => ({ type, uuid, ...fields }) as EventDict;

/** A backend whose stored metas name `groups`, recording each getMany; a store recording linkGroups. */
function fixture(groups: Record<string, string>, kind = 'redis') {
  const reads: string[][] = [];
  const linked: { uuid: string; groupId: string }[][] = [];
  const backend = {
    kind,
    getMany: async (ids: readonly string[]) => {
      reads.push([...ids]);
      return ids.map((id) => (id in groups ? { status: 'SUCCESS', result: 1, task_id: id, group_id: groups[id] } : id === 'plain' ? { status: 'SUCCESS', result: 1, task_id: id } : null));
    },
  } as unknown as ResultStore;
  const store = { linkGroups: async (links: { uuid: string; groupId: string }[]) => (linked.push(links), links.length) } as unknown as HistoryStore;
  return { backend, store, reads, linked };
}

const noFlush = () => Promise.resolve();

describe('group ids read from results', () => {
  it('reads the results of tasks another worker finished without any event naming their group, after their rows are written', async () => {
    const f = fixture({ a: 'g', b: 'g' });
    const links = new GroupLinks(() => f.backend, f.store);
    links.observe('task-received', ev('task-received', 'a'), false);
    expect(links.pending).toBe(0);
    for (const id of ['a', 'b', 'plain', 'gone']) links.observe(id === 'b' ? 'task-failed' : 'task-succeeded', ev('task-succeeded', id), false);
    expect(links.pending).toBe(4);
    const order: string[] = [];
    await links.run(async () => {
      order.push('flushed');
    });
    expect(order).toEqual(['flushed']);
    expect(f.reads).toEqual([['a', 'b', 'plain', 'gone']]);
    expect(f.linked).toEqual([[{ uuid: 'a', groupId: 'g' }, { uuid: 'b', groupId: 'g' }]]);
    expect(links.linked).toBe(2);
    expect(links.pending).toBe(0);
    await links.run(noFlush);
    expect(f.reads).toHaveLength(1);
  });

  it('skips tasks whose events named a group, and tasks Celeriac workers ran (their task-received names it)', async () => {
    const f = fixture({ a: 'g' });
    const links = new GroupLinks(() => f.backend, f.store);
    links.observe('task-sent', ev('task-sent', 'a', { group: 'g' }), false);
    links.observe('task-succeeded', ev('task-succeeded', 'a'), false);
    links.observe('task-succeeded', ev('task-succeeded', 'c'), true);
    links.observe('task-started', ev('task-started', 'd'), false);
    expect(links.pending).toBe(0);
    // A group named after the task was queued takes it out again.
    links.observe('task-succeeded', ev('task-succeeded', 'e'), false);
    links.observe('task-received', ev('task-received', 'e', { group_id: 'g' }), false);
    expect(links.pending).toBe(0);
  });

  it('is bounded: past maxPending the oldest ids are dropped and counted; a round reads at most batch ids', async () => {
    const f = fixture({});
    const links = new GroupLinks(() => f.backend, f.store, { maxPending: 3, batch: 2 });
    for (const id of ['1', '2', '3', '4', '5']) links.observe('task-succeeded', ev('task-succeeded', id), false);
    expect(links.pending).toBe(3);
    expect(links.dropped).toBe(2);
    await links.run(noFlush);
    expect(f.reads).toEqual([['3', '4']]);
    expect(links.pending).toBe(1);
  });

  it('runs one round at a time', async () => {
    const f = fixture({});
    const links = new GroupLinks(() => f.backend, f.store);
    links.observe('task-succeeded', ev('task-succeeded', 'x'), false);
    let release: () => void = () => {};
    const first = links.run(() => new Promise<void>((r) => (release = r)));
    links.observe('task-succeeded', ev('task-succeeded', 'y'), false);
    await links.run(noFlush);
    expect(f.reads).toEqual([]);
    release();
    await first;
    expect(f.reads).toEqual([['x']]);
  });

  it('never asks a backend that keeps nothing readable here, or one that cannot be opened', async () => {
    for (const open of [() => fixture({}, 'memory').backend, () => fixture({}, 'rpc').backend, (): ResultStore => { throw new Error('no such backend'); }]) {
      const f = fixture({});
      const links = new GroupLinks(open, f.store);
      links.observe('task-succeeded', ev('task-succeeded', 'x'), false);
      expect(links.pending).toBe(0);
      await links.run(noFlush);
      expect(f.linked).toEqual([]);
    }
  });

  it('ignores hostile ids and groups', async () => {
    const f = fixture({ ok: 'x'.repeat(300) });
    const links = new GroupLinks(() => f.backend, f.store);
    for (const uuid of [null, 7, '', 'y'.repeat(300)]) links.observe('task-succeeded', { type: 'task-succeeded', uuid } as unknown as EventDict, false);
    expect(links.pending).toBe(0);
    links.observe('task-succeeded', ev('task-succeeded', 'ok'), false);
    await links.run(noFlush);
    // A group id too long to be one is not written.
    expect(f.linked).toEqual([]);
  });
});
