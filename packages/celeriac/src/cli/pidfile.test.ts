/** Pidfiles: created with our pid, a live holder refused, stale and garbage files replaced, released only while ours. */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { acquirePidfile, processAlive, readPidfile } from './pidfile.js';

const dir = mkdtempSync(join(tmpdir(), 'celeriac-pidfile-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  const pid = child.pid!;
  await new Promise((resolve) => child.once('close', resolve));
  return pid;
}

describe('acquirePidfile', () => {
  it('creates the file with our pid and removes it on release', () => {
    const path = join(dir, 'a.pid');
    const held = acquirePidfile(path);
    expect(readFileSync(path, 'utf8')).toBe(`${process.pid}\n`);
    held.release();
    held.release();
    expect(existsSync(path)).toBe(false);
  });

  it('refuses a file held by a live process, and leaves it alone', () => {
    const path = join(dir, 'live.pid');
    writeFileSync(path, `${process.ppid}\n`);
    expect(() => acquirePidfile(path)).toThrow(expect.objectContaining({ code: ErrorCodes.STATE, message: expect.stringContaining(`holds pid ${process.ppid}, which is running`) as unknown }));
    expect(readFileSync(path, 'utf8')).toBe(`${process.ppid}\n`);
  });

  it('replaces a stale file and one that holds no pid', async () => {
    for (const content of [`${await deadPid()}\n`, 'garbage', '']) {
      const path = join(dir, 'stale.pid');
      writeFileSync(path, content);
      const held = acquirePidfile(path, 4242);
      expect(readPidfile(path)).toBe(4242);
      held.release();
    }
  });

  it('release leaves a file that another process took over since', () => {
    const path = join(dir, 'taken.pid');
    const held = acquirePidfile(path);
    writeFileSync(path, `${process.ppid}\n`);
    held.release();
    expect(readPidfile(path)).toBe(process.ppid);
  });

  it('says why a file cannot be created (no such folder)', () => {
    expect(() => acquirePidfile(join(dir, 'missing', 'x.pid'))).toThrow(/cannot create pidfile .*ENOENT/);
  });

  it('processAlive: true for us, false for an exited process', async () => {
    expect(processAlive(process.pid)).toBe(true);
    expect(processAlive(await deadPid())).toBe(false);
  });
});
