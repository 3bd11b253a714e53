/**
 * @module redis/command-table
 * node-redis's table of commands with each command's module loaded on first use, not all of
 * them when the client is.
 *
 * node-redis's client requires `lib/commands/index.js`, which requires the module of every
 * command Redis has (about 380 files: ACLs, clusters, streams, vector sets...) so that its
 * table can name them all. A Celeriac process uses a dozen. Loading the rest cost every
 * process that opens a Redis connection several MB of resident memory for its whole life
 * (compiled wrappers, module records, their source text), the larger part of what a worker on
 * Redis holds beyond a bare Node.js.
 *
 * {@link installLazyCommandTable} puts a stand-in for the index in Node's module cache before
 * node-redis first requires it: the same table (every name, mapped to the same command object
 * once read), whose entries load their command's file when first read, and the index's other
 * exports, which load the real index when first read. The names and files come from the
 * index's own text, which the package lock pins; when the text is not as expected, nothing is
 * installed and node-redis loads its index as it always has. command-table.test.ts checks
 * the stand-in against the real index, name by name.
 */
import { readFileSync } from 'node:fs';
import { createRequire, Module } from 'node:module';
import { dirname, join } from 'node:path';

const require = createRequire(import.meta.url);

/** The index node-redis's client requires (`require("../commands")` from lib/client). */
const INDEX = '@redis/client/dist/lib/commands/index.js';

/** Fewer commands than this read from the index means its text is not what this module reads. */
const MIN_COMMANDS = 300;

/** What the index's text says: the file (without `.js`) of each table name, and its other exports' names. */
export interface CommandIndex {
  readonly files: ReadonlyMap<string, string>;
  readonly otherExports: readonly string[];
}

/**
 * Reads node-redis's command index from its compiled text: each `const X_1 =
 * __importDefault(require("./FILE"));` (or `__importStar`), each `NAME: X_1.default,` of `exports.default = {...}`,
 * and the names of `exports.A = exports.B = ... = void 0;`. Null when any line of the table is
 * not of that form, a name's binding has no file, or the table is implausibly small.
 */
export function readCommandIndex(source: string): CommandIndex | null {
  const bindings = new Map<string, string>();
  for (const m of source.matchAll(/^const (\w+) = __import(?:Default|Star)\(require\("\.\/([\w-]+)"\)\);$/gm)) bindings.set(m[1] as string, m[2] as string);
  const table = /^exports\.default = \{\n([\s\S]*?)\n\};$/m.exec(source)?.[1];
  if (table === undefined) return null;
  const files = new Map<string, string>();
  for (const line of table.split('\n')) {
    const text = line.trim();
    if (text === '' || text.startsWith('/**') || text.startsWith('*')) continue;
    const m = /^(?:([A-Za-z_]\w*)|'([\w-]+)'): (\w+)\.default,?$/.exec(text);
    const file = m === null ? undefined : bindings.get(m[3] as string);
    if (m === null || file === undefined) return null;
    files.set((m[1] ?? m[2]) as string, file);
  }
  if (files.size < MIN_COMMANDS) return null;
  const declared = /^((?:exports\.\w+ = )+)void 0;$/m.exec(source)?.[1] ?? '';
  const otherExports = [...declared.matchAll(/exports\.(\w+) = /g)].map((m) => m[1] as string);
  return { files, otherExports };
}

/** A CommonJS module's default export as TypeScript's `__importDefault` reads it. */
function defaultOf(exports: { __esModule?: boolean; default?: unknown }): unknown {
  return exports.__esModule === true ? exports.default : exports;
}

/**
 * Puts the stand-in for node-redis's command index in the module cache, unless the index is
 * loaded already (or its text cannot be read): then node-redis uses its own, as before.
 * Returns whether the stand-in was installed. Idempotent.
 */
export function installLazyCommandTable(): boolean {
  let path: string;
  let index: CommandIndex | null;
  try {
    path = require.resolve(INDEX);
    if (require.cache[path] !== undefined) return false;
    index = readCommandIndex(readFileSync(path, 'utf8'));
  } catch {
    // Not where this module looks (a bundle, another layout): node-redis loads its own.
    return false;
  }
  if (index === null) return false;
  const dir = dirname(path);
  const table: Record<string, unknown> = {};
  // Commands read so far (or set). Each entry stays an accessor: redefining an accessor of a
  // table this size as a data property, as each was first read, took V8's slow path every time,
  // and a full read of the table (node-redis's own createClient() in the same process) then
  // cost several times what the real index does (bench/lib/command-table-cost.ts; the guard).
  const loaded = new Map<string, unknown>();
  for (const [name, file] of index.files) {
    Object.defineProperty(table, name, {
      enumerable: true,
      configurable: true,
      get() {
        if (loaded.has(name)) return loaded.get(name);
        const command = defaultOf(require(join(dir, `${file}.js`)) as object);
        loaded.set(name, command);
        return command;
      },
      set(value: unknown) {
        loaded.set(name, value);
      },
    });
  }
  let real: Record<string, unknown> | undefined;
  // The real index, once one of its other exports is read: loaded past the stand-in, and left
  // in the cache for whoever requires the index next. Its own `require("./index")` of itself
  // meets the real module being loaded, as it always did.
  const loadReal = (): Record<string, unknown> => {
    if (real !== undefined) return real;
    const standIn = require.cache[path];
    delete require.cache[path];
    try {
      real = require(path) as Record<string, unknown>;
    } catch (err) {
      if (standIn !== undefined) require.cache[path] = standIn;
      throw err;
    }
    return real;
  };
  const exports: Record<string, unknown> = {};
  Object.defineProperty(exports, '__esModule', { value: true });
  Object.defineProperty(exports, 'default', { value: table, enumerable: true });
  for (const name of index.otherExports) Object.defineProperty(exports, name, { enumerable: true, get: () => loadReal()[name] });
  const module = new Module(path);
  module.filename = path;
  module.loaded = true;
  module.exports = exports;
  require.cache[path] = module;
  return true;
}
