/**
 * Per-file CPU of the test suite: `CELERIAC_TEST_CPU_LOG=<file> CI=true npx vitest run` appends,
 * for each test file, a line of `path, own CPU ms, children's CPU ms, wall ms` (tab-separated) to
 * the file. Own CPU is the file's process (or, in a shared worker, what it spent between the file's
 * setup and its last hook); children's is that of the processes it started and reaped (workers,
 * CLIs, Python, Chromium), which a process's own usage leaves out. The suite is CPU-bound on a
 * 2-core machine, so this says which files cost CI its time (docs/testing.md, "What a file costs").
 * The setup half is test-cpu-setup.ts, loaded only when the variable is set.
 */

/** Clock ticks per second of /proc's times (USER_HZ: 100 on every Linux Node supports). */
const TICKS_PER_SECOND = 100;

/** CPU ms of a process and of its reaped children, from the text of its `/proc/<pid>/stat`. */
export function procStatCpu(stat: string): { ownMs: number; childrenMs: number } {
  // The command name (field 2) is in parentheses and may hold spaces or parentheses itself.
  const close = stat.lastIndexOf(')');
  const fields = close < 0 ? [] : stat.slice(close + 2).trim().split(' ');
  // Fields 14-17 (utime, stime, cutime, cstime) are at 11-14 after the name.
  const ticks = fields.slice(11, 15).map(Number);
  if (ticks.length !== 4 || ticks.some((t) => !Number.isInteger(t) || t < 0)) throw new Error(`not a /proc/<pid>/stat line: ${JSON.stringify(stat.slice(0, 80))}`);
  const ms = (t: number) => (t * 1000) / TICKS_PER_SECOND;
  const [utime, stime, cutime, cstime] = ticks as [number, number, number, number];
  return { ownMs: ms(utime + stime), childrenMs: ms(cutime + cstime) };
}

/** One log line: the file, then its own, its children's and its wall ms. */
export function cpuLogLine(path: string, before: { ownMs: number; childrenMs: number }, after: { ownMs: number; childrenMs: number }, wallMs: number): string {
  return `${path}\t${after.ownMs - before.ownMs}\t${after.childrenMs - before.childrenMs}\t${Math.round(wallMs)}\n`;
}
