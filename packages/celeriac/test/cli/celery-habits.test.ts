/**
 * The command line takes what Celery deployments pass it (issue 47): the worker flags every
 * copied unit file carries (`--without-gossip --without-mingle --without-heartbeat -O fair`,
 * `--statedb`, `--heartbeat-interval`, `-B`'s `-s` and `--scheduler`, each stated in a notice;
 * `--disable-prefetch` as `--prefetch-multiplier 1`; `-I` refused), `--purge` and `-X` done, Celery's worker lines (`Task x[id]
 * received`, `raised unexpected: TypeError('...')`), `beat -S/-s` accepted, level lists with
 * Celery's names, no EPIPE stack when a pipe closes (`inspect stats | head -1`), `shell` running
 * piped async code, and no memory:// warning from `call` once `-b` names a broker. On the shared
 * Redis under a key prefix of this file's own.
 */
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { createClient } from '@redis/client';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { createApp } from '../../src/index.js';
import { REDIS_URL, deleteKeys, deleteResults, shouldRunRedisTests } from '../support/redis.js';
import { BIN, CLI_DIR, fixtureApp, killAll, runCli, spawnCli } from './spawn.js';

const ready = await shouldRunRedisTests('cli: Celery habits');
const prefix = `celeriac-test-habits-${randomUUID()}:`;
const broker = `${REDIS_URL}?global_keyprefix=${encodeURIComponent(prefix)}`;
const urls = ['-b', broker, '--result-backend', REDIS_URL];
const ids: string[] = [];

afterEach(() => killAll());
afterAll(async () => {
  if (!ready) return;
  await deleteKeys(prefix);
  await deleteResults(ids);
});

async function queueLength(queue: string): Promise<number> {
  const client = createClient({ url: REDIS_URL });
  await client.connect();
  try {
    return await client.lLen(`${prefix}${queue}`);
  } finally {
    client.destroy();
  }
}

describe.runIf(ready)('celeriac worker with the flags of a Celery unit file', () => {
  it('--purge empties the consumed queues, -X keeps one out, the no-op flags say what they mean, and task lines are Celery\'s', async () => {
    const producer = createApp({ broker, backend: REDIS_URL }, { env: {} });
    for (let i = 0; i < 3; i++) ids.push((await producer.sendTask('fixture.add', [i, i])).id);
    ids.push((await producer.sendTask('fixture.extra', [], {}, { queue: 'extra' })).id);
    const worker = spawnCli(['-A', fixtureApp('app'), ...urls, 'worker', '-Q', 'celery,extra', '-X', 'extra', '--purge',
      '--without-gossip', '--without-mingle', '--without-heartbeat', '-O', 'fair', '-n', `habits-${process.pid}@%h`, '--log-format', 'human',
      '-S', '/var/run/celery/%n.state', '--heartbeat-interval', '5', '--disable-prefetch', '-c', '3', '-s', 'celerybeat-schedule', '--scheduler', 'celery.beat:PersistentScheduler']);
    await worker.waitFor(/ready\./);
    const out = worker.stdout();
    expect(out).toMatch(/prefetch {5}3\n/);
    expect(out).toContain('--disable-prefetch: the worker takes a message only when a pool slot is free');
    expect(out).toContain('--statedb /var/run/celery/%n.state: no state file is kept; revoked ids persist in the result backend');
    expect(out).toContain('--heartbeat-interval 5: heartbeats are sent every 2 s');
    expect(out).toContain('-s celerybeat-schedule: no schedule file is kept');
    expect(out).toContain("--scheduler celery.beat:PersistentScheduler: Celeriac's beat has one scheduler");
    expect(out).toMatch(/WARNING\/MainProcess\] Purged 3 messages from 1 known task queue\./);
    expect(out).toContain('--without-gossip: nothing to turn off');
    expect(out).toContain('--without-mingle: nothing to turn off');
    expect(out).toContain('--without-heartbeat: heartbeats are kept');
    expect(out).toContain('-O fair: already how Celeriac hands out tasks');
    expect(out).toMatch(/\.> celery\n/);
    expect(out).not.toMatch(/\.> extra/);
    expect(await queueLength('extra')).toBe(1);

    const ok = await producer.sendTask('fixture.add', [2, 3]);
    const bad = await producer.sendTask('fixture.fail', ['cannot add']);
    ids.push(ok.id, bad.id);
    await worker.waitFor(new RegExp(`Task fixture\\.fail\\[${bad.id}\\] raised unexpected: TypeError\\('cannot add'\\)\\nTypeError: cannot add\\n`));
    await worker.waitFor(new RegExp(`INFO/MainProcess\\] Task fixture\\.add\\[${ok.id}\\] succeeded in \\d+\\.\\d{3}s: 5`));
    expect(worker.stdout()).toMatch(new RegExp(`INFO/MainProcess\\] Task fixture\\.add\\[${ok.id}\\] received\\n`));
    expect(worker.stdout()).toMatch(new RegExp(`INFO/MainProcess\\] Task fixture\\.fail\\[${bad.id}\\] received\\n`));
    // Before the purge none of the purged tasks ran.
    for (const id of ids.slice(0, 3)) expect(worker.stdout()).not.toContain(id);
    worker.child.kill('SIGTERM');
    expect((await worker.exited).code).toBe(0);
    await producer.close();
  }, 60_000);

  it('refuses an unknown -O, an -X that leaves nothing to consume, -I, and --disable-prefetch beside another multiplier', async () => {
    const o = await runCli(['-A', fixtureApp('app'), ...urls, 'worker', '-O', 'fastest']);
    expect([o.code, o.stderr]).toEqual([2, expect.stringContaining('-O must be one of default, fair, got "fastest"')]);
    const x = await runCli(['-A', fixtureApp('app'), ...urls, 'worker', '-X', 'celery']);
    expect([x.code, x.stderr]).toEqual([2, expect.stringContaining('-X/--exclude-queues "celery" leaves no queue to consume')]);
    const include = await runCli(['-A', fixtureApp('app'), ...urls, 'worker', '-I', 'proj.tasks']);
    expect([include.code, include.stderr]).toEqual([2, expect.stringContaining('-I/--include "proj.tasks": Celeriac imports no task modules by name; import them from the module -A loads')]);
    const prefetch = await runCli(['-A', fixtureApp('app'), ...urls, 'worker', '--disable-prefetch', '--prefetch-multiplier', '4']);
    expect([prefetch.code, prefetch.stderr]).toEqual([2, expect.stringContaining('--disable-prefetch means --prefetch-multiplier 1, not 4: give one of them')]);
  });

  it('`inspect stats | head -1` ends quietly when head has read its line', async () => {
    const worker = spawnCli(['-A', fixtureApp('app'), ...urls, 'worker', '-n', `pipe-${process.pid}@%h`, '-l', 'warning']);
    await worker.waitFor(/\.> celery/);
    const command = `${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} -b '${broker}' inspect stats 2>stderr.txt | head -1; echo "status $\{PIPESTATUS[0]}"; cat stderr.txt; rm -f stderr.txt`;
    // Remote control answers a moment after the banner: ask until the worker does.
    const out = await waitFor(() => {
      const o = execFileSync('bash', ['-c', command], { cwd: CLI_DIR, encoding: 'utf8', timeout: 30_000 });
      return /: OK\n/.test(o) ? o : undefined;
    }, 'the worker to answer inspect stats', 15_000);
    expect(out).toMatch(/^-> {2}pipe-\d+@\S+: OK\nstatus 141\n$/);
  });

  it('`shell` runs piped async code to its end before closing the app', async () => {
    const worker = spawnCli(['-A', fixtureApp('app'), ...urls, 'worker', '-n', `shell-${process.pid}@%h`, '-l', 'warning']);
    await worker.waitFor(/\.> celery/);
    const source = 'const r = await add.delay(6, 7)\nconsole.log("got", await r.get({ timeoutMs: 10000 }))\n';
    const out = execFileSync(process.execPath, [BIN, '-A', fixtureApp('app'), ...urls, 'shell'], { cwd: CLI_DIR, input: source, encoding: 'utf8', timeout: 30_000 });
    expect(out).toBe('got 13\n');
  });

  it('`call` with -b says nothing about memory://; `result` warns only when the backend is memory://', async () => {
    const call = await runCli(['-b', broker, 'call', 'fixture.add', '-a', '[1, 1]']);
    expect([call.code, call.stderr]).toEqual([0, '']);
    ids.push(call.stdout.trim());
    const result = await runCli(['-b', broker, 'result', call.stdout.trim(), '--timeout', '0.1']);
    expect(result.stderr).toContain('the result backend is memory://');
  });
});

describe('level names and beat flags', () => {
  it("-l lists Celery's level names; warning and critical are taken", async () => {
    const bad = await runCli(['-A', fixtureApp('app'), 'worker', '-l', 'bogus']);
    expect([bad.code, bad.stderr]).toEqual([2, expect.stringContaining('must be one of trace, debug, info, warning, error, critical, silent')]);
  });

  it('beat takes -S and -s, saying there is no scheduler class or schedule file to choose', async () => {
    const beat = spawnCli(['-A', fixtureApp('app'), 'beat', '-S', 'celery.beat:PersistentScheduler', '-s', '/var/run/celerybeat-schedule', '-l', 'info', '--log-format', 'json']);
    await beat.waitFor(/-s \/var\/run\/celerybeat-schedule: no schedule file is kept/);
    expect(beat.stdout()).toContain('-S celery.beat:PersistentScheduler: Celeriac\'s beat has one scheduler');
    beat.child.kill('SIGTERM');
    expect((await beat.exited).code).toBe(0);
  });
});
