/**
 * @module private-dir
 * The data directory holds task arguments and results (the embedded history) and the audit
 * log: only its owner may read it. It is made 0700, and everything already under it is
 * tightened to 0700 (directories) and 0600 (files), including what older versions left
 * readable; files written later sit under a directory no one else can enter.
 */
import { chmod, mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';

/** Makes `dir` (and missing parents) owner-only, and tightens everything under it. */
export async function makePrivateDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await tighten(dir);
}

/** Sets 0700 on `dir` and its subdirectories, 0600 on its files (symbolic links are left alone). */
export async function tighten(dir: string): Promise<void> {
  await chmod(dir, 0o700);
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) await tighten(path);
    else if (entry.isFile()) await chmod(path, 0o600);
  }
}
