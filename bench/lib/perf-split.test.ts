/** What bench/perf-split.ts reads of `perf script` output, and how it splits a worker's samples. */
import { describe, expect, it } from 'vitest';
import { kindOf, movedLeaves, parsePerfScript, shortName, splitTable, splitWorkers } from './perf-split.js';

const MAIN = 'file:///work/main/packages/celeriac/dist';
const BASE = 'file:///tmp/celeriac-ab/36cc468/packages/celeriac/dist';

/** A sample as `perf script -F pid,tid,time,ip,sym` prints it; frames leaf first. */
const sample = (pid: number, tid: number, time: string, ...frames: string[]): string =>
  [`${String(pid).padStart(6)}/${tid}  ${time}: `, ...frames.map((f) => `\t${f}`), ''].join('\n');

// Two workers (one of each build, the base's writing events) and the bench process.
const TEXT = [
  sample(100, 100, '10.000100', `     ab12 JS:*main ${MAIN}/../../../bench/ab.js:1:1`),
  // Worker 200 starts: loading before its first task is outside its window.
  sample(200, 200, '11.000000', '     5a10 v8::internal::compiler::PipelineImpl::Run', '     5a00 node::Start'),
  sample(200, 200, '11.100000', `     7f00 JS:*run ${MAIN}/worker/executor.js:205:14`),
  sample(200, 201, '11.150000', '     5b10 v8::internal::compiler::GraphReducer::ReduceTop', '     5b00 v8::platform::DefaultWorkerThreadsTaskRunner::WorkerThread::Run'),
  sample(200, 200, '11.200000', 'ffffffff82240c89 pvm_irq_enable', 'ffffffff81000c82 entry_SYSCALL_64', '     9a00 __GI___writev', `     7f10 JS:*store ${MAIN}/worker/executor.js:335:10`),
  sample(200, 200, '11.300000', '     6c00 Builtins_LoadIC', `     7f20 JS:*parse ${MAIN}/protocol/envelope-reader.js:222:10`, `     7f30 JS:*admit ${MAIN}/worker/executor.js:133:10`),
  sample(200, 201, '11.350000', '     6d00 v8::internal::Scavenger::ScavengeObject', '     5b00 v8::platform::DefaultWorkerThreadsTaskRunner::WorkerThread::Run'),
  sample(200, 200, '11.400000', '     6c00 Builtins_LoadIC', `     7f40 JS:*handle ${MAIN}/worker/executor.js:88:11`),
  // Closing, after its last task: outside.
  sample(200, 200, '11.900000', '     6e00 v8::internal::Heap::CollectGarbage', '     6e10 Builtins_CEntry'),
  sample(300, 300, '12.000000', `     8f00 JS:*field ${BASE}/worker/events/event-text.js:100:10`, `     8f10 JS:*run ${BASE}/worker/executor.js:205:14`),
  sample(300, 300, '12.500000', '     8e00 RegExp:[\\x00-\\x1f\\\\]', `     8f10 JS:*run ${BASE}/worker/executor.js:205:14`),
].join('\n');

describe('parsePerfScript', () => {
  it('reads each sample: process, thread, time and frames from the leaf out', () => {
    const samples = parsePerfScript(TEXT);
    expect(samples).toHaveLength(11);
    expect(samples[4]).toEqual({
      pid: 200,
      tid: 200,
      time: 11.2,
      frames: [
        ['ffffffff82240c89', 'pvm_irq_enable'],
        ['ffffffff81000c82', 'entry_SYSCALL_64'],
        ['9a00', '__GI___writev'],
        ['7f10', `JS:*store ${MAIN}/worker/executor.js:335:10`],
      ],
    });
  });

  it('fails, saying which output it wants, on other text', () => {
    expect(() => parsePerfScript('perf: no samples\n')).toThrow(/perf script -F pid,tid,time,ip,sym[\s\S]*no samples/);
  });
});

describe('kindOf', () => {
  it('puts the compiler and the collector before the leaf, then the kernel, then the leaf by name', () => {
    expect(kindOf([['6c00', 'Builtins_LoadIC'], ['5b10', 'v8::internal::compiler::Pipeline']])).toBe('compiler');
    expect(kindOf([['6c00', 'Builtins_Allocate'], ['6e00', 'v8::internal::Heap::CollectGarbage']])).toBe('gc');
    expect(kindOf([['ffffffff82240c89', 'pvm_irq_enable'], ['7f10', 'JS:*store x.js']])).toBe('kernel');
    expect(kindOf([['7f10', 'JS:*store x.js']])).toBe('js');
    expect(kindOf([['8e00', 'RegExp:^a$']])).toBe('js');
    expect(kindOf([['6c00', 'Builtins_LoadIC']])).toBe('builtins');
    expect(kindOf([['9a00', '__GI___writev']])).toBe('native');
    expect(kindOf([])).toBe('native');
  });
});

describe('splitWorkers', () => {
  const [mine, base] = splitWorkers(parsePerfScript(TEXT));

  it('finds each process whose main thread ran the executor, in pid order, named by its build', () => {
    expect(splitWorkers(parsePerfScript(TEXT)).map((w) => [w.pid, w.build, w.events])).toEqual([
      [200, '/work/main', false],
      [300, '/tmp/celeriac-ab/36cc468', true],
    ]);
  });

  it("counts only the samples of its window, its first to its last in the executor, by thread and kind", () => {
    expect(mine?.seconds).toBeCloseTo(0.3, 9);
    expect(mine?.main).toEqual({ compiler: 0, gc: 0, kernel: 1, js: 1, builtins: 2, native: 0 });
    expect(mine?.helpers).toEqual({ compiler: 1, gc: 1, kernel: 0, js: 0, builtins: 0, native: 0 });
    expect(base?.main).toEqual({ compiler: 0, gc: 0, kernel: 0, js: 2, builtins: 0, native: 0 });
  });

  it("lists the main thread's leaves, most first, without the machine's paths", () => {
    expect(mine?.leaves).toEqual([
      ['Builtins_LoadIC', 2],
      ['JS:*run packages/celeriac/dist/worker/executor.js', 1],
      ['pvm_irq_enable', 1],
    ]);
    expect(shortName(`JS:*x ${BASE}/core/app.js:1:2`)).toBe('JS:*x packages/celeriac/dist/core/app.js');
    expect(shortName('JS:*get node:internal/bootstrap/node:423:8')).toBe('JS:*get node:internal/bootstrap/node:423:8');
  });

  it('finds no worker where no executor ran', () => {
    expect(splitWorkers(parsePerfScript(sample(100, 100, '1.0', '     ab12 JS:*main bench/ab.js:1:1')))).toEqual([]);
  });
});

describe('splitTable', () => {
  it('gives samples, and µs per task when the tasks are known', () => {
    const [w] = splitWorkers(parsePerfScript(TEXT));
    const table = splitTable(w!, 1000, 2);
    expect(table[0]).toBe('| pid 200: /work/main, events off, 0.300 s | main thread | helper threads |');
    expect(table).toContain('| builtins | 2 (1000.0 µs/task) | 0 (0.0 µs/task) |');
    expect(table.at(-1)).toBe('| all | 4 (2000.0 µs/task) | 2 (1000.0 µs/task) |');
    expect(splitTable(w!, 1000, undefined)).toContain('| builtins | 2 | 0 |');
  });
});

describe('movedLeaves', () => {
  it("lists the main thread's leaves that moved most between two workers, in either direction", () => {
    const [mine, base] = splitWorkers(parsePerfScript(TEXT));
    expect(movedLeaves(base!, mine!, 3)).toEqual([
      ['Builtins_LoadIC', 0, 2],
      ['JS:*field packages/celeriac/dist/worker/events/event-text.js', 1, 0],
      ['JS:*run packages/celeriac/dist/worker/executor.js', 0, 1],
    ]);
    expect(movedLeaves(base!, mine!, 0)).toEqual([]);
  });
});
