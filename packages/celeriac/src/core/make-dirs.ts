/**
 * @module core/make-dirs
 * `mkdir -p` that ends. Node's own `mkdirSync(dir, { recursive: true })` never returns for a
 * folder under `/proc` (the kernel answers ENOENT for the missing part, and Node's loop tries
 * the same parent again for ever, busy): `--logfile /proc/x/w.log` hung the worker.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

/** Makes `dir` and its missing parents; throws the first mkdir error (ENOENT, EACCES, ENOTDIR). */
export function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let at = resolve(dir); !existsSync(at); at = dirname(at)) {
    missing.push(at);
    if (dirname(at) === at) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      // Made meanwhile by another process (a second node of `multi start`): as good as made here.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
}
