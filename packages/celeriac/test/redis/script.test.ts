/**
 * runScript against a real Redis: a script the server does not know yet (as after a restart
 * or SCRIPT FLUSH) is answered with NOSCRIPT, sent once with EVAL, and then runs by its SHA1.
 * Each run writes a script no server has seen (its source carries a random id), so nothing
 * on the shared server is flushed.
 */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createClient } from 'redis';
import { afterAll, describe, expect, it } from 'vitest';
import { loadScript, runScript } from '../../src/redis/script.js';
import type { RedisClient } from '../../src/redis/client.js';
import { REDIS_URL, shouldRunRedisTests } from '../support/redis.js';

const ready = await shouldRunRedisTests('runScript');

describe.runIf(ready)('runScript', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-script-'));
  const client = createClient({ url: REDIS_URL });
  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    if (client.isOpen) await client.quit();
  });

  it('sends an unknown script once with EVAL, then runs it with EVALSHA; keys and arguments arrive in order', async () => {
    const file = join(dir, 'echo.lua');
    writeFileSync(file, `-- ${randomUUID()}\nreturn {#KEYS, KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3]}\n`);
    const script = loadScript(pathToFileURL(file));
    await client.connect();
    const known = async () => ((await client.sendCommand(['SCRIPT', 'EXISTS', script.sha1])) as number[])[0] === 1;
    expect(await known()).toBe(false);
    const c = client as unknown as RedisClient;
    expect(await runScript(c, script, ['k1', 'k2'], ['a', 'b', 'c'])).toEqual([2, 'k1', 'k2', 'a', 'b', 'c']);
    expect(await known()).toBe(true);
    expect(await runScript(c, script, ['x', 'y'], ['1', '2', '3'])).toEqual([2, 'x', 'y', '1', '2', '3']);
  });

  it('writes preludes (shared local helpers) before the script, and its SHA1 is of the whole', async () => {
    const helpers = join(dir, 'helpers.lua');
    const main = join(dir, 'main.lua');
    writeFileSync(helpers, `-- ${randomUUID()}\nlocal function twice(x) return x .. x end\n`);
    writeFileSync(main, 'return twice(ARGV[1])\n');
    const script = loadScript(pathToFileURL(main), pathToFileURL(helpers));
    expect(script.name).toBe('main.lua');
    if (!client.isOpen) await client.connect();
    expect(await runScript(client as unknown as RedisClient, script, [], ['ab'])).toBe('abab');
    expect(script.sha1).not.toBe(loadScript(pathToFileURL(main)).sha1);
  });

  it('passes on a script error as a rejection', async () => {
    const file = join(dir, 'fail.lua');
    writeFileSync(file, `-- ${randomUUID()}\nreturn redis.error_reply('boom')\n`);
    if (!client.isOpen) await client.connect();
    await expect(runScript(client as unknown as RedisClient, loadScript(pathToFileURL(file)), [], [])).rejects.toThrow('boom');
  });
});
