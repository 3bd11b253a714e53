/**
 * @module store/pglite-template
 * A new PGlite data directory without initdb's cost. Creating a database runs initdb in
 * WebAssembly: most of the embedded store's first start (6-7 s of 8 s on an idle core, 25 s
 * on a busy one; opening an existing directory takes about 1 s). The first data directory a
 * machine creates is also kept, fresh, in a cache directory, keyed by the PGlite version and
 * the server settings; later new data directories are a file copy of it. A Postgres data
 * directory holds no absolute path, so a copy opens like the original.
 *
 * An in-memory database ({@link createInMemory}) starts the same way, from a dump of a fresh
 * one kept beside the templates (a tar of about 40 MB): loading it takes under a CPU-second
 * where initdb takes six.
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

/** The cache key of a fresh database made with `options`: the PGlite version and the server settings. */
function templateKey(options: Omit<PGliteOptions, 'dataDir'>): string {
  return createHash('sha256').update(JSON.stringify([pgliteVersion(), options.postgresqlconf ?? null])).digest('hex').slice(0, 16);
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
  const template = join(cacheRoot, `pglite-template-${templateKey(options)}`);
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

/**
 * A fresh in-memory database made with `options`: loaded from the cached dump of a fresh one
 * when there is one, else made by initdb and then dumped into the cache for the next. A dump
 * that cannot be read or loaded, or a cache that cannot be written, only costs the initdb.
 */
/** Where {@link createInMemory} keeps the dump of a fresh database made with `options`. */
export function inMemoryDumpPath(options: Omit<PGliteOptions, 'dataDir' | 'loadDataDir'>, cacheRoot = templateCacheRoot()): string {
  return join(cacheRoot, `pglite-template-${templateKey(options)}.tar`);
}

export async function createInMemory(options: Omit<PGliteOptions, 'dataDir' | 'loadDataDir'>, cacheRoot = templateCacheRoot()): Promise<PGlite> {
  const dump = inMemoryDumpPath(options, cacheRoot);
  if (existsSync(dump)) {
    try {
      return await PGlite.create({ ...options, loadDataDir: new Blob([readFileSync(dump)]) });
    } catch {
      // A dump cut short or from another build: made afresh below, and written again.
    }
  }
  const db = await PGlite.create(options);
  try {
    const tar = await db.dumpDataDir('none');
    mkdirSync(cacheRoot, { recursive: true });
    const partial = `${dump}.${randomUUID()}`;
    writeFileSync(partial, Buffer.from(await tar.arrayBuffer()));
    renameSync(partial, dump);
  } catch {
    // No cache this time: the database itself is fine.
  }
  return db;
}
