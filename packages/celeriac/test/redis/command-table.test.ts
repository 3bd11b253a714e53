/**
 * src/redis/command-table.ts against node-redis's own command index: the same names mapped to
 * the same command objects, its other exports still there, and, in a fresh process, a client
 * that loads only the command modules it uses.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';
import { readCommandIndex } from '../../src/redis/command-table.js';
import { libraryLoaderArgs, libraryModuleUrl } from '../support/node-script.js';
import { REDIS_URL, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('redis: the lazy command table');
const require = createRequire(import.meta.url);
const INDEX = require.resolve('@redis/client/dist/lib/commands/index.js');
const MODULE = JSON.stringify(libraryModuleUrl('redis/command-table.ts'));
const CLIENT_MODULE = JSON.stringify(libraryModuleUrl('redis/client-class.ts'));

/** Runs `body` (an async function's body; its value is printed as JSON) in a fresh process that imports the library as tests do (dist/ when current). */
function fresh(body: string): unknown {
  const code = `
    const { createRequire } = await import('node:module');
    const require = createRequire(${JSON.stringify(INDEX)});
    const INDEX = ${JSON.stringify(INDEX)};
    const commandModules = () => Object.keys(require.cache).filter((k) => k.startsWith(INDEX.slice(0, -'index.js'.length))).length;
    const out = await (async () => { ${body} })();
    console.log(JSON.stringify(out));
    process.exit(0);`;
  const text = execFileSync(process.execPath, [...libraryLoaderArgs(), '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 30_000, cwd: new URL('.', import.meta.url).pathname });
  return JSON.parse(text.trim().split('\n').at(-1) as string);
}

describe('readCommandIndex', () => {
  it('reads every name of node-redis\'s table, each to the file whose default export the table holds', () => {
    const index = readCommandIndex(readFileSync(INDEX, 'utf8'));
    expect(index).not.toBeNull();
    // In a fresh process: this one's cache may hold the stand-in.
    const check = fresh(`
      const real = require(INDEX);
      const files = new Map(${JSON.stringify([...(index?.files ?? [])])});
      const wrong = Object.keys(real.default).filter((name) => !files.has(name) || require('./' + files.get(name) + '.js').default !== real.default[name]);
      return { names: Object.keys(real.default).length, wrong, others: Object.keys(real).filter((k) => k !== 'default').sort() };`) as { names: number; wrong: string[]; others: string[] };
    expect(check.wrong).toEqual([]);
    expect(index?.files.size).toBe(check.names);
    expect([...(index?.otherExports ?? [])].sort()).toEqual(check.others);
  }, 60_000);

  it('gives null for a text it does not understand, so node-redis loads its own index', () => {
    const source = readFileSync(INDEX, 'utf8');
    expect(readCommandIndex('')).toBeNull();
    // A table entry of another form (a spread, a computed value).
    expect(readCommandIndex(source.replace(/^ {4}GET: GET_1\.default,$/m, '    ...GET_1.default,'))).toBeNull();
    // A name bound to no required file.
    expect(readCommandIndex(source.replace(/^const GET_1 = .*$/m, 'const GET_1 = somethingElse;'))).toBeNull();
    // A table too small to be node-redis's.
    const head = source.slice(0, source.indexOf('exports.default = {'));
    expect(readCommandIndex(`${head}exports.default = {\n    GET: GET_1.default,\n};\n`)).toBeNull();
  });
});

describe('installLazyCommandTable', () => {
  it('stands in for the index: every name reads as node-redis\'s command, and the other exports load the real index', () => {
    const out = fresh(`
      const { installLazyCommandTable } = await import(${MODULE});
      const installed = installLazyCommandTable();
      const again = installLazyCommandTable();
      const standIn = require(INDEX);
      const before = commandModules();
      const get = standIn.default.GET;
      const afterGet = commandModules();
      // An other export loads the real index, in the cache from then on.
      const nonSticky = Object.keys(standIn.NON_STICKY_COMMANDS).length;
      const real = require(INDEX);
      const differ = Object.keys(real.default).filter((name) => standIn.default[name] !== real.default[name]);
      return { installed, again, before, afterGet, getIsReal: get === real.default.GET, nonSticky, realNames: Object.keys(real.default).length, standInNames: Object.keys(standIn.default).length, differ, replaced: real !== standIn };`) as Record<string, unknown>;
    expect(out).toMatchObject({ installed: true, again: false, getIsReal: true, differ: [], replaced: true });
    expect(out['afterGet']).toBe((out['before'] as number) + 1);
    expect(out['standInNames']).toBe(out['realNames']);
    expect(out['nonSticky']).toBeGreaterThan(700);
  }, 60_000);

  it('serves a full read of the table (node-redis\'s own createClient) with one object per command, and takes assignments as the real table does', () => {
    const out = fresh(`
      const { installLazyCommandTable } = await import(${MODULE});
      installLazyCommandTable();
      const table = require(INDEX).default;
      const first = table.GET;
      const { createClient } = await import('redis');
      const client = createClient({ url: 'redis://127.0.0.1:1' });
      const mine = { parseCommand() {}, transformReply: undefined };
      table.PING = mine;
      return { same: first === table.GET, loaded: commandModules(), hGetAll: typeof client.hGetAll, assigned: table.PING === mine, names: Object.keys(table).length };`) as Record<string, unknown>;
    expect(out).toMatchObject({ same: true, hGetAll: 'function', assigned: true });
    // Every command's module, read once each: the table's names are ~380 files.
    expect(out['loaded']).toBeGreaterThan(300);
    expect(out['names']).toBeGreaterThan(700);
  }, 60_000);

  it('installs nothing once node-redis has loaded its own index', () => {
    expect(fresh(`
      require(INDEX);
      const { installLazyCommandTable } = await import(${MODULE});
      return installLazyCommandTable();`)).toBe(false);
  }, 60_000);

  it.runIf(ready)('lets a client run commands on a real Redis having loaded only their modules', () => {
    const out = fresh(`
      const { newRedisClient } = await import(${CLIENT_MODULE});
      const client = newRedisClient({ url: ${JSON.stringify(REDIS_URL)} });
      await client.connect();
      const key = 'celeriac-test:command-table:' + process.pid;
      const replies = [await client.set(key, '1', { EX: 60 }), await client.get(key), await client.multi().incr(key).get(key).exec(), await client.del(key)];
      const loaded = commandModules();
      client.destroy();
      return { replies, loaded };`) as { replies: unknown[]; loaded: number };
    expect(out.replies).toEqual(['OK', '1', [2, '2'], 1]);
    // The index, SET, GET, INCR, DEL and what node-redis's connect uses; all of them are ~380.
    expect(out.loaded).toBeLessThan(30);
  }, 60_000);
});
