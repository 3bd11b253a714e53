/**
 * @module store/pglite-template
 * A new PGlite data directory without initdb's cost. Creating a database runs initdb in
 * WebAssembly: most of the embedded store's first start (6-7 s of 8 s on an idle core, 25 s
 * on a busy one; opening an existing directory takes about 1 s). The first data directory a
 * machine creates is also kept, fresh, in a cache directory, keyed by the PGlite version and
 * the server settings; later new data directories are a file copy of it. A Postgres data
 * directory holds no absolute path, so a copy opens like the original.
 *
 * Best effort: when the cache cannot be written or read, the store creates its database
 * as before.
 */
import { createHash, randomUUID } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { PGlite, type PGliteOptions } from '@electric-sql/pglite';

const DONE = '.celeriac-template-complete';

/** The cache directory: `CELERIAC_PGLITE_TEMPLATE_DIR`, else `$XDG_CACHE_HOME/celeriac`, else `~/.cache/celeriac`. */
export function templateCacheRoot(env: NodeJS.ProcessEnv = process.env): string {
  return env['CELERIAC_PGLITE_TEMPLATE_DIR'] ?? join(env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'celeriac');
}

function pgliteVersion(): string {
  try {
    // The package's exports hide its package.json: find it beside the resolved entry point.
    let dir = dirname(createRequire(import.meta.url).resolve('@electric-sql/pglite'));
    for (let i = 0; i < 4; i++, dir = dirname(dir)) {
      const file = join(dir, 'package.json');
      if (existsSync(file)) {
        const pkg = JSON.parse(readFileSync(file, 'utf8')) as { name?: string; version?: string };
        if (pkg.name === '@electric-sql/pglite' && typeof pkg.version === 'string') return pkg.version;
      }
    }
  } catch {
    // unknown version: the key below still differs from any known one
  }
  return 'unknown';
}

/** True when `dir` is missing or empty (a database may be created there). */
function isEmptyDir(dir: string): boolean {
  return !existsSync(dir) || readdirSync(dir).length === 0;
}

/**
 * Fills the empty directory `dataDir` with a copy of a fresh database made with `options`
 * (making and caching that database first when the cache lacks it). Returns false, leaving
 * `dataDir` empty, when `dataDir` is not empty or the cache cannot be used.
 */
export async function seedDataDir(dataDir: string, options: Omit<PGliteOptions, 'dataDir'>, cacheRoot = templateCacheRoot()): Promise<boolean> {
  if (!isEmptyDir(dataDir)) return false;
  const key = createHash('sha256').update(JSON.stringify([pgliteVersion(), options.postgresqlconf ?? null])).digest('hex').slice(0, 16);
  const template = join(cacheRoot, `pglite-template-${key}`);
  try {
    if (!existsSync(join(template, DONE))) {
      mkdirSync(cacheRoot, { recursive: true });
      const building = `${template}.${randomUUID()}`;
      try {
        const db = await PGlite.create({ ...options, dataDir: building });
        await db.close();
        writeFileSync(join(building, DONE), '');
        try {
          renameSync(building, template);
        } catch {
          // Another process renamed its own first (the target is not empty): the two are equal.
        }
      } finally {
        rmSync(building, { recursive: true, force: true });
      }
    }
    cpSync(template, dataDir, { recursive: true, filter: (source) => !source.endsWith(DONE) });
    return true;
  } catch {
    // An unwritable cache or a template that vanished mid-copy: create the database as before.
    for (const entry of existsSync(dataDir) ? readdirSync(dataDir) : []) rmSync(join(dataDir, entry), { recursive: true, force: true });
    return false;
  }
}
