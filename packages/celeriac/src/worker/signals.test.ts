import { describe, expect, it, vi } from 'vitest';
import { installStatusSignal } from './signals.js';
import type { HeldTask, Worker } from './worker.js';

/** A worker that holds `held`, its log a spy. */
function fakeWorker(held: HeldTask[]) {
  const warn = vi.fn();
  const worker = { held: () => held, state: 'running', log: { warn } } as unknown as Worker;
  return { worker, warn };
}

const id = (i: number) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;

describe('installStatusSignal (SIGUSR1)', () => {
  it('logs each task held, running ones with their run time, and counts those past the fiftieth', () => {
    const held: HeldTask[] = [
      { id: id(1), name: 'proj.crawl', state: 'active', startedAt: 10_000 },
      ...Array.from({ length: 55 }, (_, i): HeldTask => ({ id: id(i + 2), name: 'proj.add', state: 'reserved', startedAt: null })),
    ];
    const { worker, warn } = fakeWorker(held);
    const remove = installStatusSignal(worker, () => 22_345);
    try {
      process.emit('SIGUSR1', 'SIGUSR1');
    } finally {
      remove();
    }
    expect(warn).toHaveBeenCalledTimes(1);
    const [fields, msg] = warn.mock.calls[0] as [{ running: number; reserved: number; tasks: unknown[] }, string];
    expect(fields).toMatchObject({ signal: 'SIGUSR1', state: 'running', running: 1, reserved: 55 });
    expect(fields.tasks).toHaveLength(50);
    expect(fields.tasks[0]).toEqual({ id: id(1), name: 'proj.crawl', state: 'active', startedAt: 10_000, runtimeSec: 12.345 });
    expect(msg).toMatch(new RegExp(`^SIGUSR1: 1 running, 55 reserved: proj\\.crawl\\[${id(1)}\\] running 12\\.3 s, proj\\.add\\[${id(2)}\\] reserved, `));
    expect(msg).toMatch(/, and 6 more$/);
  });

  it('says so when the worker holds nothing, and stops listening once removed', () => {
    const { worker, warn } = fakeWorker([]);
    const before = process.listenerCount('SIGUSR1');
    const remove = installStatusSignal(worker);
    expect(process.listenerCount('SIGUSR1')).toBe(before + 1);
    process.emit('SIGUSR1', 'SIGUSR1');
    remove();
    expect(process.listenerCount('SIGUSR1')).toBe(before);
    expect(warn.mock.calls.map((c) => c[1])).toEqual(['SIGUSR1: no tasks held']);
  });
});
