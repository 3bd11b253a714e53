import { describe, expect, it, vi } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { commandConnectionKey, ownCommandConnection, RedisConnections } from './shared-commands.js';
import { parseRedisUrl } from './url.js';

// GuardedRedisClient connects lazily: nothing here opens a socket.
const OPTIONS = { name: 'test', commandTimeoutMs: 30_000, connectTimeoutMs: 10_000, offlineQueueTimeoutMs: 10_000, pingIntervalMs: 10_000, idleTimeoutMs: 30_000 };
const target = (url: string) => parseRedisUrl(url);

describe('RedisConnections', () => {
  it('gives holders of the same server, database, login and timeouts one connection', () => {
    const pool = new RedisConnections();
    const broker = pool.acquire(target('redis://h:6379/0?global_keyprefix=app:'), { ...OPTIONS, name: 'celeriac-broker' });
    const backend = pool.acquire(target('redis://h:6379/0'), { ...OPTIONS, name: 'celeriac-backend' });
    expect(backend.client).toBe(broker.client);
    expect(pool.size).toBe(1);
  });

  it('gives the holders of one connection one turn, and says it is shared while another holder uses it', async () => {
    const pool = new RedisConnections();
    const broker = pool.acquire(target('redis://h:6379/0'), OPTIONS);
    expect(broker.shared).toBe(false);
    const backend = pool.acquire(target('redis://h:6379/0'), OPTIONS);
    const elsewhere = pool.acquire(target('redis://h:6379/1'), OPTIONS);
    expect(backend.turn).toBe(broker.turn);
    expect(elsewhere.turn).not.toBe(broker.turn);
    expect([broker.shared, backend.shared, elsewhere.shared]).toEqual([true, true, false]);
    await backend.release();
    expect([broker.shared, backend.shared]).toEqual([false, false]);
    await Promise.all([broker.release(), elsewhere.release()]);
  });

  it.each([
    ['another database', 'redis://h:6379/1', OPTIONS],
    ['another port', 'redis://h:6380/0', OPTIONS],
    ['another host', 'redis://other:6379/0', OPTIONS],
    ['another password', 'redis://:secret@h:6379/0', OPTIONS],
    ['another user', 'redis://bob:pw@h:6379/0', OPTIONS],
    ['TLS', 'rediss://h:6379/0', OPTIONS],
    ['Sentinel', 'sentinel://h:26379/0?master_name=m', OPTIONS],
    ['another command timeout', 'redis://h:6379/0', { ...OPTIONS, commandTimeoutMs: 5000 }],
    ['another connect timeout', 'redis://h:6379/0', { ...OPTIONS, connectTimeoutMs: 5000 }],
    ['another ping interval', 'redis://h:6379/0', { ...OPTIONS, pingIntervalMs: 5000 }],
  ])('gives a holder on %s a connection of its own', (_what, url, options) => {
    const pool = new RedisConnections();
    const first = pool.acquire(target('redis://h:6379/0'), OPTIONS);
    const other = pool.acquire(target(url), options);
    expect(other.client).not.toBe(first.client);
    expect(pool.size).toBe(2);
  });

  it('closes the connection with its last holder, once, and opens a new one after', async () => {
    const pool = new RedisConnections();
    const a = pool.acquire(target('redis://h:6379/0'), OPTIONS);
    const b = pool.acquire(target('redis://h:6379/0'), OPTIONS);
    const close = vi.spyOn(a.client, 'close');
    await a.release();
    await a.release(); // a second release of one hold changes nothing
    expect(close).not.toHaveBeenCalled();
    expect(pool.size).toBe(1);
    await b.release(250);
    expect(close).toHaveBeenCalledTimes(1);
    expect(close).toHaveBeenCalledWith(250);
    expect(pool.size).toBe(0);
    const c = pool.acquire(target('redis://h:6379/0'), OPTIONS);
    expect(c.client).not.toBe(a.client);
  });

  it('fails a closing holder’s commands already waiting for the connection, not the other holder’s', async () => {
    // They waited out the offline-queue timeout (twice with a fetch's retry): a broker closed
    // with Redis down took 20 s to close.
    const pool = new RedisConnections();
    const broker = pool.acquire(target('redis://h:6379/0'), OPTIONS);
    const backend = pool.acquire(target('redis://h:6379/0'), OPTIONS);
    vi.spyOn(broker.client, 'offline', 'get').mockReturnValue(true);
    vi.spyOn(broker.client, 'send').mockReturnValue(new Promise(() => undefined));
    vi.spyOn(broker.client, 'run').mockReturnValue(new Promise(() => undefined));
    const fetching = broker.run('fetch from celery', async () => 'x');
    const acking = broker.send(async () => 'x');
    const storing = backend.run('store', async () => 'x');
    broker.failFast();
    await expect(fetching).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT, message: expect.stringMatching(/fetch from celery.*closing: not waiting for a reconnect/) });
    await expect(acking).rejects.toThrow(/closing: not waiting for a reconnect/);
    // The backend's store waits on for the reconnect.
    expect(await Promise.race([storing.then(() => 'settled', () => 'settled'), new Promise((resolve) => setImmediate(() => resolve('waiting')))])).toBe('waiting');
  });

  it('makes a closing holder’s commands fail at once while the connection is down, not the other holder’s', async () => {
    const pool = new RedisConnections();
    const broker = pool.acquire(target('redis://h:6379/0'), OPTIONS);
    const backend = pool.acquire(target('redis://h:6379/0'), OPTIONS);
    const offline = vi.spyOn(broker.client, 'offline', 'get').mockReturnValue(true);
    const send = vi.spyOn(broker.client, 'send').mockResolvedValue('sent');
    const run = vi.spyOn(broker.client, 'run').mockResolvedValue('ran');
    broker.failFast();
    await expect(broker.send(async () => 'x')).rejects.toThrow(/closing: not waiting for a reconnect/);
    await expect(broker.run('restore a delivery', async () => 'x')).rejects.toMatchObject({ code: ErrorCodes.TRANSPORT, message: expect.stringContaining('restore a delivery') });
    // The backend still stores results: its commands wait for the reconnect as before.
    await expect(backend.send(async () => 'x')).resolves.toBe('sent');
    await expect(backend.run('store', async () => 'x')).resolves.toBe('ran');
    // Connected: the closing holder's commands go out.
    offline.mockReturnValue(false);
    await expect(broker.send(async () => 'x')).resolves.toBe('sent');
    expect(send).toHaveBeenCalledTimes(2);
    expect(run).toHaveBeenCalledTimes(1);
    await broker.release();
    await backend.release();
  });
});

describe('ownCommandConnection', () => {
  it('has a turn of its own and is never shared', async () => {
    const a = ownCommandConnection(target('redis://h:6379/0'), OPTIONS);
    const b = ownCommandConnection(target('redis://h:6379/0'), OPTIONS);
    expect(a.turn).not.toBe(b.turn);
    expect([a.shared, b.shared]).toEqual([false, false]);
    await Promise.all([a.release(), b.release()]);
  });

  it('fails fast while down once its holder closes, and closes with it, once', async () => {
    const own = ownCommandConnection(target('redis://h:6379/0'), OPTIONS);
    vi.spyOn(own.client, 'offline', 'get').mockReturnValue(true);
    const close = vi.spyOn(own.client, 'close');
    own.failFast();
    await expect(own.send(async () => 'x')).rejects.toThrow(/closing/);
    await own.release(100);
    await own.release(100);
    expect(close).toHaveBeenCalledTimes(1);
    expect(close).toHaveBeenCalledWith(100);
  });
});

describe('commandConnectionKey', () => {
  it('ignores the URL’s key prefix and the connection’s name, not the login', () => {
    expect(commandConnectionKey(target('redis://h/0?global_keyprefix=x:'), { ...OPTIONS, name: 'a' })).toBe(commandConnectionKey(target('redis://h/0'), { ...OPTIONS, name: 'b' }));
    expect(commandConnectionKey(target('redis://:a@h/0'), OPTIONS)).not.toBe(commandConnectionKey(target('redis://:b@h/0'), OPTIONS));
  });
});
