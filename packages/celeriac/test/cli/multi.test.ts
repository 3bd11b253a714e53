/**
 * `celeriac multi` of the real bin: starting, restarting and stopping detached workers found
 * by their pidfiles, and its usage errors. (Split from deploy-flags.test.ts so the two files
 * run side by side.)
 */
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../src/testing/wait-for.js';
import { buildDistIfStale } from '../support/node-script.js';
import { alive, detached, fixtureApp, killAll, runCli } from './spawn.js';

let dir = '';

beforeAll(() => {
  buildDistIfStale();
  dir = mkdtempSync(join(tmpdir(), 'celeriac-multi-'));
}, 120_000);

afterEach(killAll);

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('celeriac multi', () => {
  it('start, start again, restart and stop detached workers found by their pidfiles', async () => {
    // The pidfiles' folder does not exist: multi makes it, as Celery's does (it did not, and every node FAILED).
    const opts = ['--pidfile', join(dir, 'multi/run/%n.pid'), `--logfile=${join(dir, 'multi/%n%I.log')}`];
    const node = (n: string) => `${n}@${hostname()}`;
    const pidOf = (n: string) => Number(readFileSync(join(dir, 'multi', 'run', `${n}.pid`), 'utf8').trim());
    const started = await runCli(['multi', 'start', 'm1', 'm2', '-A', fixtureApp('app'), '-l', 'info', ...opts], { timeoutMs: 60_000 });
    expect(started.code).toBe(0);
    const first = [pidOf('m1'), pidOf('m2')];
    detached.push(...first);
    expect(started.stdout).toContain(`> ${node('m1')}: OK (pid ${first[0]})`);
    expect(started.stdout).toContain(`> ${node('m2')}: OK (pid ${first[1]})`);
    for (const n of ['m1', 'm2']) {
      await waitFor(() => existsSync(join(dir, 'multi', `${n}.log`)) && /ready\./.test(readFileSync(join(dir, 'multi', `${n}.log`), 'utf8')), `${n} to be ready`, { timeoutMs: 20_000 });
    }
    const again = await runCli(['multi', 'start', 'm1', 'm2', '-A', fixtureApp('app'), ...opts], { timeoutMs: 60_000 });
    expect(again.stdout).toContain(`> ${node('m1')}: already running (pid ${first[0]})`);
    const restarted = await runCli(['-A', fixtureApp('app'), 'multi', 'restart', 'm1', 'm2', ...opts], { timeoutMs: 90_000 });
    expect(restarted.code).toBe(0);
    expect(restarted.stdout).toContain(`> ${node('m1')}: DOWN`);
    const second = [pidOf('m1'), pidOf('m2')];
    detached.push(...second);
    for (const pid of first) expect(alive(pid)).toBe(false);
    for (const pid of second) expect(first).not.toContain(pid);
    const stopped = await runCli(['multi', 'stop', 'm1', 'm2', ...opts], { timeoutMs: 90_000 });
    expect(stopped.code).toBe(0);
    expect(stopped.stdout).toContain(`> ${node('m2')}: DOWN`);
    for (const pid of second) expect(alive(pid)).toBe(false);
    expect(existsSync(join(dir, 'multi', 'run', 'm1.pid'))).toBe(false);
    const idle = await runCli(['multi', 'stop', 'm1', ...opts]);
    expect(idle.stdout).toContain(`> ${node('m1')}: DOWN (not running)`);
  }, 240_000);

  it('refuses an unknown action and flags multi sets itself', async () => {
    const bad = await runCli(['multi', 'launch', 'w1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('multi: unknown action "launch"');
    const named = await runCli(['multi', 'start', 'w1', '-n', 'x@y']);
    expect(named.code).toBe(2);
    expect(named.stderr).toContain('multi: -n is set by multi for each node');
  });
});
