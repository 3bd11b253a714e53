/**
 * The RabbitMQ tests' evaluations on the broker's node (rabbit-eval.ts, through rabbitmqctl.ts):
 * the Erlang node a process keeps answers as `rabbitmqctl` does, a raise and a hang fail as a
 * rabbitmqctl call failed, and a process that cannot have the node (an unreadable or wrong
 * cookie) runs `rabbitmqctl` with the same results.
 */
import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import amqp, { type ChannelModel } from 'amqplib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from 'celeriac/testing';
import { amqpAvailable, createVhost, deleteVhost, rabbitmqctl, vhostUrl } from './amqp-env.js';
import { lastRabbitEvalPath } from './rabbit-eval.js';
import { closeConnections, deleteQueue, evalOnBroker, listQueues } from './rabbitmqctl.js';
import { nodeScriptArgs } from './node-script.js';

const run = promisify(execFile);
const available = await amqpAvailable();

/** `rabbitmqctl list_queues`'s lines as a sorted list of whitespace-split rows. */
const rows = (text: string) =>
  text
    .split('\n')
    .map((l) => l.trim().split(/\s+/).join(' '))
    .filter((l) => l !== '')
    .sort();

describe.runIf(available)('evaluations on the RabbitMQ node', () => {
  let vhost: string;
  let conn: ChannelModel;

  beforeAll(async () => {
    vhost = await createVhost('reval');
    conn = await amqp.connect(vhostUrl(vhost));
    conn.on('error', () => {});
    const ch = await conn.createChannel();
    await ch.assertQueue('held');
    await ch.assertQueue('idle');
    ch.sendToQueue('held', Buffer.from('one'));
    ch.sendToQueue('held', Buffer.from('two'));
    await ch.consume('idle', () => {});
  }, 60_000);

  afterAll(async () => {
    await conn?.close().catch(() => {});
    if (vhost) await deleteVhost(vhost);
  }, 60_000);

  it('lists the queues as rabbitmqctl list_queues does, through the node the process keeps', async () => {
    await waitFor(async () => (await listQueues(vhost, ['messages'])).includes('held\t2'), 'both messages counted', 20_000);
    expect(lastRabbitEvalPath()).toBe('node');
    const mine = await listQueues(vhost, ['messages', 'consumers']);
    const theirs = await rabbitmqctl('list_queues', '-p', vhost, 'name', 'messages', 'consumers', '--no-table-headers', '--quiet');
    expect(rows(mine)).toEqual(rows(theirs));
    expect(rows(mine)).toEqual(['held 2 0', 'idle 0 1']);
    expect(rows(await listQueues(vhost, []))).toEqual(['held', 'idle']);
  }, 60_000);

  it('prints what the expression printed; a raise rejects with the reason; the node goes on answering', async () => {
    expect(await evalOnBroker('io:format("~s~n", [<<"printed">>]), ok.', { timeoutMs: 20_000, what: 'print' })).toBe('printed\n');
    await expect(evalOnBroker('ok = nomatch.', { timeoutMs: 20_000, what: 'badmatch' })).rejects.toThrow(/badmatch,nomatch/);
    await expect(deleteQueue(vhost, 'no-such-queue')).rejects.toThrow(/not_found/);
    await expect(deleteQueue(vhost, 'with "quotes"')).rejects.toThrow(/not a plain RabbitMQ name/);
    expect(await evalOnBroker('io:format("~p~n", [1 + 1]), ok.', { timeoutMs: 20_000, what: 'add' })).toBe('2\n');
    expect(lastRabbitEvalPath()).toBe('node');
  }, 60_000);

  it('a call that hangs fails as a wedged rabbitmqctl does; the next call gets a node of its own', async () => {
    await expect(evalOnBroker('receive after infinity -> ok end.', { timeoutMs: 300, what: 'receive' })).rejects.toThrow(/rabbitmqctl receive did not answer in 0.3 s/);
    expect(await evalOnBroker('io:format("back~n"), ok.', { timeoutMs: 20_000, what: 'after' })).toBe('back\n');
    expect(lastRabbitEvalPath()).toBe('node');
  }, 60_000);

  it('closes the connections of the vhost and deletes a queue', async () => {
    const closed = new Promise<void>((resolve) => conn.once('close', () => resolve()));
    await closeConnections(vhost, 'rabbit-eval test');
    await closed;
    await deleteQueue(vhost, 'held');
    await waitFor(async () => rows(await listQueues(vhost, ['messages'])).join() === 'idle 0', 'only idle left', 20_000);
  }, 60_000);

  it('a process whose cookie is wrong runs rabbitmqctl eval instead, with the same answers', async () => {
    const cookie = join(tmpdir(), `celeriac-wrong-cookie-${process.pid}`);
    writeFileSync(cookie, 'NOT-THE-COOKIE', { mode: 0o600 });
    const script = join(import.meta.dirname, 'fixtures', 'rabbit-eval-child.ts');
    const { stdout } = await run(process.execPath, nodeScriptArgs(script).concat(vhost), { env: { ...process.env, CELERIAC_TEST_ERLANG_COOKIE_FILE: cookie }, timeout: 60_000 });
    expect(JSON.parse(stdout)).toEqual({ path: 'rabbitmqctl', printed: '3\n', queues: ['idle 0'] });
  }, 90_000);
});
