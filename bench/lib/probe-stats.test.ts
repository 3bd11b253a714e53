import { describe, expect, it } from 'vitest';
import { UsageError } from './args.js';
import { commandCalls, gcTotals, parseProbeArgs, parseProcIo, processIo, threadCpuDelta, threadStat, topAllocations, type AllocationNode } from './probe-stats.js';

describe('parseProbeArgs', () => {
  it('has defaults and reads every flag', () => {
    expect(parseProbeArgs([])).toEqual({ help: false, base: undefined, n: 20_000, concurrency: 100, events: false, port: 6400, rounds: 1, cpuProf: undefined, allocProf: undefined });
    expect(parseProbeArgs(['--base', 'da2463c', '--n', '500', '--concurrency', '1', '--events', '--port', '6401', '--rounds', '3', '--cpu-prof', '/tmp/p', '--alloc-prof', '/tmp/a'])).toEqual({
      help: false, base: 'da2463c', n: 500, concurrency: 1, events: true, port: 6401, rounds: 3, cpuProf: '/tmp/p', allocProf: '/tmp/a',
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
