/**
 * The setup half of scripts/test-cpu.ts: vitest.config.ts loads it in every test file when
 * `CELERIAC_TEST_CPU_LOG` names a file, and it appends that file's CPU line there after the
 * file's last test.
 */
import { appendFileSync, readFileSync } from 'node:fs';
import { afterAll, expect } from 'vitest';
import { cpuLogLine, procStatCpu } from './test-cpu.ts';

const log = process.env['CELERIAC_TEST_CPU_LOG'];
const now = () => procStatCpu(readFileSync('/proc/self/stat', 'utf8'));
const before = now();
const started = performance.now();

afterAll(() => {
  if (log !== undefined && log !== '') appendFileSync(log, cpuLogLine(expect.getState().testPath ?? '?', before, now(), performance.now() - started));
});
