import { describe, expect, it } from 'vitest';
import { UsageError } from './args.js';
import { commandCalls, gcTotals, jitNote, jitTotals, parseProbeArgs, parseProcIo, processIo, threadCpuDelta, threadStat, topAllocations, type AllocationNode } from './probe-stats.js';

describe('parseProbeArgs', () => {
  it('has defaults and reads every flag', () => {
    expect(parseProbeArgs([])).toEqual({ help: false, base: undefined, n: 20_000, concurrency: 100, events: false, port: 6400, rounds: 1, cpuProf: undefined, allocProf: undefined, jit: false });
    expect(parseProbeArgs(['--base', 'da2463c', '--n', '500', '--concurrency', '1', '--events', '--port', '6401', '--rounds', '3', '--cpu-prof', '/tmp/p', '--alloc-prof', '/tmp/a', '--jit'])).toEqual({
      help: false, base: 'da2463c', n: 500, concurrency: 1, events: true, port: 6401, rounds: 3, cpuProf: '/tmp/p', allocProf: '/tmp/a', jit: true,
    });
  });

  it.each([
    [['--n', '0'], /--n must be a whole number from 1/],
    [['--port', '70000'], /--port must be a whole number from 1 to 65535/],
    [['--rounds', '0'], /--rounds must be a whole number from 1 to 100/],
    [['--concurrency', 'x'], /--concurrency must be/],
    [['--base', ' '], /--base must name a commit/],
    [['--cpu-prof', ''], /--cpu-prof must name a directory/],
    [['--alloc-prof', ' '], /--alloc-prof must name a directory/],
    [['--bogus'], /Unknown option '--bogus'/],
    [['extra'], /positional/],
  ])('refuses %j', (argv, message) => {
    expect(() => parseProbeArgs(argv)).toThrow(UsageError);
    expect(() => parseProbeArgs(argv)).toThrow(message);
  });
});

describe('jitTotals', () => {
  // Lines as Node 20's V8 prints them (a worker's --trace-opt --trace-deopt), with a GC line between.
  const text = [
    '[marking 0x1f4127d5ce19 <JSFunction run (sfi = 0xf4d27516cf9)> for optimization to TURBOFAN, ConcurrencyMode::kConcurrent, reason: hot and stable]',
    '[completed compiling 0x1f4127d5ce19 <JSFunction run (sfi = 0xf4d27516cf9)> (target TURBOFAN) - took 0.005, 19.232, 0.153 ms]',
    '[completed compiling 0x31b52dd4a789 <JSFunction (sfi = 0x3cf1edac51a1)> (target TURBOFAN) - took 0.006, 0.390, 0.047 ms]',
    '[7701:0x218abec0]      446 ms: pause=1.5 mutator=9.6 gc=s allocated=1000 promoted=0',
    '[marking dependent code 0x0453b2d6d2f1 <Code TURBOFAN> (0x1c42a81bc041 <SharedFunctionInfo run>) (opt id 24) for deoptimization, reason: code dependencies]',
    '[marking dependent code 0x3cf1edace361 <Code TURBOFAN> (0x0453b2d7b881 <SharedFunctionInfo>) (opt id 93) for deoptimization, reason: code dependencies]',
    '[bailout (kind: deopt-eager, reason: wrong map): begin. deoptimizing 0x1f4127d540c9 <JSFunction fetch (sfi = 0x7e55c8ce0a1)>, 0x078b1d0b2ba9 <Code TURBOFAN>, opt id 119, bytecode offset 366]',
    '[completed compiling 0x1f4127d5ce19 <JSFunction run (sfi = 0xf4d27516cf9)> (target TURBOFAN) - took 0.006, 19.840, 0.100 ms]',
    '[completed compiling 0x1f4127d5ce21 <JSFunction get hasHash (sfi = 0x16a0256234a9)> (target TURBOFAN) - took 0.002, 0.340, 0.007 ms]',
    '[completed compiling 0x31b52dd4a7f1 <JSFunction (sfi = 0x3cf1edac5999)> (target TURBOFAN) - took 0.006, 0.100, 0.047 ms]',
  ].join('\n');

  it('sums the background compile time by function and lists deopts and dropped code', () => {
    const t = jitTotals(text);
    expect(t.compiles).toBe(5);
    expect(t.backgroundMs).toBeCloseTo(39.902, 6);
    expect(t.byFunction.map(([name, ms, n]) => [name, Number(ms.toFixed(3)), n])).toEqual([
      ['run', 39.072, 2],
      ['(anonymous)', 0.39, 1],
      ['get hasHash', 0.34, 1],
      ['(anonymous)', 0.1, 1],
    ]);
    expect(t.deopts).toEqual([{ name: 'fetch', reason: 'wrong map' }]);
    expect(t.invalidated).toEqual(['run', '(anonymous)']);
    expect(jitNote('HEAD', t, 2)).toEqual([
      'HEAD: TurboFan compiled 5 functions, 40 ms on helper threads; most: run 39.1 (x2), (anonymous) 0.4',
      '  compiled more than once: run x2',
      '  deopts: fetch (wrong map)',
      '  code dropped for a changed assumption: run, (anonymous)',
    ]);
  });

  it('finds nothing in text without those lines', () => {
    expect(jitTotals('[1:0x1] 5 ms: pause=0.4 gc=s allocated=10\nready\n')).toEqual({ compiles: 0, backgroundMs: 0, byFunction: [], deopts: [], invalidated: [] });
    expect(jitNote('x', jitTotals(''))[1]).toBe('  compiled more than once: none');
  });
});

describe('commandCalls', () => {
  it('reads the calls of each command, subcommands included', () => {
    const info = '# Commandstats\r\ncmdstat_evalsha:calls=612,usec=9000,usec_per_call=14.7,rejected_calls=0,failed_calls=0\r\ncmdstat_config|resetstat:calls=1,usec=3,usec_per_call=3.00\r\ncmdstat_publish:calls=20000,usec=1,usec_per_call=0.1\r\n';
    expect([...commandCalls(info)]).toEqual([
      ['evalsha', 612],
      ['config|resetstat', 1],
      ['publish', 20_000],
    ]);
    expect(commandCalls('# Commandstats\r\n').size).toBe(0);
  });
});

describe('gcTotals', () => {
  it('sums the trace-gc-nvp lines and skips the rest', () => {
    const text = [
      'pause=1.5 mutator=10.2 gc=s reduce_memory=0 ... allocated=16777216 promoted=1024 semi_space_copied=2048',
      'a task printed allocated=nothing here',
      'pause=0.25 mutator=3 gc=s allocated=1000 promoted=0',
      'pause=12 mutator=40 gc=mc reduce_memory=0 allocated=5000 promoted=0',
      '',
    ].join('\n');
    expect(gcTotals(text)).toEqual({ collections: 3, allocatedBytes: 16_783_216, promotedBytes: 1024, pauseMs: 13.75, markCompacts: 1 });
  });
});

describe('thread CPU', () => {
  it('reads a stat line whose name holds spaces and parentheses', () => {
    const stat = '4242 (node (worker) 1) S 1 4242 4242 0 -1 4194304 1000 0 0 0 150 25 0 0 20 0 12 0 100 0 0';
    expect(threadStat(stat)).toEqual({ name: 'node (worker) 1', ticks: 175 });
  });

  it('keeps the threads that used CPU between two readings, new ones whole', () => {
    const before = new Map([['node (main)', 100], ['node', 40], ['libuv-worker', 5]]);
    const after = new Map([['node (main)', 160], ['node', 40], ['libuv-worker', 5], ['celeriac-lease-keeper', 3]]);
    expect([...threadCpuDelta(before, after)]).toEqual([
      ['node (main)', 60],
      ['celeriac-lease-keeper', 3],
    ]);
  });
});

describe('parseProcIo', () => {
  it('reads the system call counts of /proc/<pid>/io', () => {
    const text = 'rchar: 2012\nwchar: 15\nsyscr: 14\nsyscw: 3\nread_bytes: 0\nwrite_bytes: 0\ncancelled_write_bytes: 0\n';
    expect(parseProcIo(text)).toEqual({ syscr: 14, syscw: 3 });
  });

  it('refuses text without them', () => {
    expect(() => parseProcIo('rchar: 1\n')).toThrow(/no syscr/);
  });

  it('reads this process', () => {
    const io = processIo('self');
    expect(io.syscr).toBeGreaterThan(0);
    expect(Number.isInteger(io.syscw)).toBe(true);
  });
});

describe('topAllocations', () => {
  const frame = (functionName: string, url: string, lineNumber: number, selfSize: number, children: AllocationNode[] = []): AllocationNode => ({ callFrame: { functionName, url, lineNumber }, selfSize, children });

  it('sums each function over its call sites, per task, largest first', () => {
    const head = frame('(root)', '', -1, 0, [
      frame('run', 'file:///w/dist/worker/executor.js', 206, 3000, [frame('decode', 'file:///w/dist/protocol/envelope.js', 9, 1000)]),
      frame('', 'file:///w/dist/redis/client.js', 0, 500, [frame('decode', 'file:///w/dist/protocol/envelope.js', 9, 3000)]),
      frame('idle', '', 0, 0),
    ]);
    expect(topAllocations(head, 100, 2)).toEqual([
      { frame: 'decode protocol/envelope.js:10', bytesPerTask: 40 },
      { frame: 'run worker/executor.js:207', bytesPerTask: 30 },
    ]);
    expect(topAllocations(head, 100, 10).map((t) => t.frame)).toEqual(['decode protocol/envelope.js:10', 'run worker/executor.js:207', '(anonymous) redis/client.js:1']);
  });
});
