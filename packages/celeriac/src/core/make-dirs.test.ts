import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeDirs } from './make-dirs.js';

describe('makeDirs', () => {
  const made: string[] = [];
  afterEach(() => {
    for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  const scratch = () => {
    const dir = mkdtempSync(join(tmpdir(), 'celeriac-make-dirs-'));
    made.push(dir);
    return dir;
  };

  it('makes a folder and its missing parents, and leaves one that exists alone', () => {
    const root = scratch();
    makeDirs(join(root, 'a', 'b', 'c'));
    expect(statSync(join(root, 'a', 'b', 'c')).isDirectory()).toBe(true);
    makeDirs(join(root, 'a', 'b'));
    makeDirs(root);
  });

  it('throws the error of the part it cannot make: under /proc (Node\'s own recursive mkdir never returns there), under a file', () => {
    expect(() => makeDirs('/proc/celeriac-no-such-folder/logs')).toThrow(/ENOENT: no such file or directory, mkdir '\/proc\/celeriac-no-such-folder'/);
    const root = scratch();
    writeFileSync(join(root, 'file'), '');
    expect(() => makeDirs(join(root, 'file', 'logs'))).toThrow(/ENOTDIR/);
  });
});
