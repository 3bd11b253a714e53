/**
 * `celeriac inspect`, `control` and `status` in-process against fake nodes on the memory
 * broker: output shapes, -j, -d, -t, argument compilation, exit codes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { ControlRequest } from '../../src/protocol/pidbox.js';
import { fakeNode } from './fake-node.js';
import { type TestApp, makeApp, run, startWorker } from './helpers.js';

let t: TestApp | undefined;
afterEach(async () => {
  await t?.app.close();
  t = undefined;
});

async function cluster(answers: Record<string, (r: ControlRequest) => unknown>, seen: ControlRequest[] = []) {
  t = makeApp();
  for (const [node, answer] of Object.entries(answers)) await fakeNode(t.broker, node, answer as never, seen);
  return t;
}

const pong = () => ({ ok: 'pong' });

describe('celeriac inspect', () => {
  it('prints each reply and the node count, exit 0', async () => {
    const { app } = await cluster({ 'a@x': pong });
    const res = await run(['inspect', 'ping'], { app });
    expect(res).toEqual({ code: 0, stdout: '->  a@x: OK\n        pong\n\n1 node online.\n', stderr: '' });
  });

  it('-j prints the replies merged by node as Python JSON', async () => {
    const { app } = await cluster({ 'a@x': () => ['t.add', 't.mul'], 'b@x': () => [] });
    const res = await run(['inspect', 'registered', '-j', '-t', '0.3'], { app });
    expect(res.code).toBe(0);
    expect(JSON.parse(res.stdout)).toEqual({ 'a@x': ['t.add', 't.mul'], 'b@x': [] });
    expect(res.stdout).toMatch(/^\{"[ab]@x": \[/); // ", " and ": " separators, as kombu's dumps
  });

  it('-d addresses only the named nodes and stops once they all answered', async () => {
    const seen: ControlRequest[] = [];
    const { app } = await cluster({ 'a@x': pong, 'b@x': pong, 'c@x': pong }, seen);
    // A 60 s timeout: the command returns early only because both destinations answered.
    const res = await run(['inspect', 'ping', '-d', 'a@x,c@x', '-t', '60'], { app });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('\n2 nodes online.\n');
    expect(res.stdout).not.toContain('b@x');
    expect(seen.map((r) => r.destination)).toEqual([['a@x', 'c@x'], ['a@x', 'c@x']]);
  });

  it('sends compiled arguments (variadic ones as a list)', async () => {
    const seen: ControlRequest[] = [];
    const { app } = await cluster({ 'a@x': (r) => ({ [String((r.arguments['ids'] as string[])[0])]: ['active', {}] }) }, seen);
    const res = await run(['inspect', 'query_task', 'id-1', 'id-2', '-j'], { app });
    expect(res.stdout).toBe('{"a@x": {"id-1": ["active", {}]}}\n');
    expect(seen[0]?.arguments).toEqual({ ids: ['id-1', 'id-2'] });
  });

  it('exits 69 with Celery\'s message when no node replies', async () => {
    const { app } = await cluster({ 'a@x': () => undefined });
    const res = await run(['inspect', 'stats', '-t', '0.2'], { app });
    expect(res).toEqual({ code: 69, stdout: '', stderr: 'Error: No nodes replied within time constraint\n' });
  });

  it('usage errors exit 2: unknown command, extra arguments, bad types, bad timeout', async () => {
    const { app } = await cluster({});
    for (const args of [['inspect', 'nosuch'], ['inspect', 'ping', 'extra'], ['control', 'autoscale', 'x'], ['inspect', 'ping', '-t', 'soon']]) {
      const res = await run(args, { app });
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr).toMatch(/^error: /);
    }
    expect((await run(['inspect', 'nosuch'], { app })).stderr).toContain('one of: active, active_queues, clock');
  });

  it('--help lists the commands with their arguments', async () => {
    const res = await run(['control', '--help']);
    expect(res.code).toBe(0);
    expect(res.stdout).toMatch(/rate_limit <task_name> <rate_limit \(e\.g\., 5\/s \| 5\/m \| 5\/h\)>\s+Set the rate limit/);
    for (const flag of ['-t, --timeout <seconds>', '-d, --destination <nodes>', '-j, --json']) expect(res.stdout).toContain(flag);
  });
});

describe('celeriac control', () => {
  it('prints OK / ERROR per node and no node count', async () => {
    const { app } = await cluster({ 'a@x': () => ({ ok: 'new rate limit set successfully' }), 'b@x': () => ({ error: 'unknown task' }) });
    const res = await run(['control', 'rate_limit', 't.add', '10/m', '-t', '0.3'], { app });
    expect(res.code).toBe(0);
    expect(res.stdout).toContain('->  a@x: OK\n        new rate limit set successfully\n');
    expect(res.stdout).toContain('->  b@x: ERROR\n        unknown task\n');
    expect(res.stdout).not.toContain('online');
  });

  it('-j prints the list of replies, as celery control does', async () => {
    const seen: ControlRequest[] = [];
    const { app } = await cluster({ 'a@x': () => ({ ok: 'tasks a, b flagged as revoked' }) }, seen);
    const res = await run(['control', 'revoke', 'a', 'b', '-j', '-d', 'a@x'], { app });
    expect(res.stdout).toBe('[{"a@x": {"ok": "tasks a, b flagged as revoked"}}]\n');
    expect(seen[0]).toMatchObject({ method: 'revoke', arguments: { task_id: ['a', 'b'] } });
  });

  it('shutdown gets no reply: exit 69', async () => {
    const seen: ControlRequest[] = [];
    const { app } = await cluster({ 'a@x': () => undefined }, seen);
    const res = await run(['control', 'shutdown', '-t', '0.2'], { app });
    expect(res.code).toBe(69);
    expect(seen.map((r) => r.method)).toEqual(['shutdown']);
  });
});

describe('celeriac status', () => {
  it('lists the nodes that answered a ping, without bodies', async () => {
    const { app } = await cluster({ 'a@x': pong, 'b@x': pong });
    const res = await run(['status', '-t', '0.3'], { app });
    expect(res.code).toBe(0);
    expect(res.stdout.split('\n').filter((l) => l.startsWith('->')).sort()).toEqual(['->  a@x: OK', '->  b@x: OK']);
    expect(res.stdout).toMatch(/\n\n2 nodes online\.\n$/);
  });

  it('-j prints the merged replies and then the count, as celery status does', async () => {
    const { app } = await cluster({ 'a@x': pong });
    const res = await run(['status', '-j', '-d', 'a@x'], { app });
    expect(res.stdout).toBe('{"a@x": {"ok": "pong"}}\n\n1 node online.\n');
  });

  it('exits 69 when no worker is up', async () => {
    const { app } = await cluster({});
    expect((await run(['status', '-t', '0.1'], { app })).code).toBe(69);
  });
});

describe('against a Celeriac worker', () => {
  it('inspect ping, registered and control rate_limit reach a real in-process worker', async () => {
    t = makeApp();
    const worker = await startWorker(t.app);
    try {
      const ping = await run(['inspect', 'ping', '-d', 'test@local'], { app: t.app });
      expect(ping).toEqual({ code: 0, stdout: '->  test@local: OK\n        pong\n\n1 node online.\n', stderr: '' });
      const registered = await run(['inspect', 'registered', '-j', '-d', 'test@local'], { app: t.app });
      expect(JSON.parse(registered.stdout)).toEqual({ 'test@local': expect.arrayContaining(['cli.add', 'cli.fail']) });
      const limited = await run(['control', 'rate_limit', 'cli.add', '10/m', '-d', 'test@local'], { app: t.app });
      expect(limited.code).toBe(0);
      expect(limited.stdout).toMatch(/^-> {2}test@local: (OK|ERROR)\n/);
    } finally {
      await worker.close({ deadlineMs: 2000 });
    }
  });
});
