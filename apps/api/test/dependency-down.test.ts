/**
 * A dependency that goes away: with the Redis cache killed, `GET /health` answers 503 naming
 * the cache as down (the rest up), reads fall back to the database, changes still succeed,
 * and `GET /cache/status` says the cache is unreachable. Nothing answers with a 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, RedisServerProcess, shouldRunRedisTests } from '../../../packages/celeriac/test/support/redis.js';
import { startTestApi, type TestApi } from './support/harness.js';
import { shouldRunPostgresTests } from './support/postgres.js';

const ready = (await shouldRunRedisTests('apps/api dependency down')) && (await shouldRunPostgresTests('apps/api dependency down'));

/** An API on Postgres whose cache is a redis-server of the suite's own, started before and ended after its tests. */
function apiWithOwnCache(prefix: string): { redis: () => RedisServerProcess; api: () => TestApi } {
  let redis: RedisServerProcess | undefined;
  let t: TestApi | undefined;
  beforeAll(async () => {
    redis = new RedisServerProcess(await freePort());
    await redis.start();
    t = await startTestApi({ database: 'postgres', env: { REDIS_URL: redis.url, CACHE_PREFIX: prefix } });
  }, 120_000);
  afterAll(async () => {
    redis?.resume();
    await t?.close();
    await redis?.kill();
  }, 60_000);
  return { redis: () => redis!, api: () => t! };
}

describe.runIf(ready)('when the cache goes down', () => {
  const own = apiWithOwnCache('down-test:');
  const get = async (url: string) => {
    const res = await own.api().server.inject({ method: 'GET', url });
    return { status: res.statusCode, body: res.json<Record<string, unknown>>() };
  };

  it('health turns 503 naming the cache, reads fall back to the database, writes still work', async () => {
    const t = own.api();
    const redis = own.redis();
    const user = await t.server.inject({ method: 'POST', url: '/users', payload: { email: 'x@example.com', name: 'X' } });
    const userId = user.json<{ id: number }>().id;
    await t.server.inject({ method: 'POST', url: `/users/${userId}/todos`, payload: { title: 'survive' } });
    expect((await get('/health')).status).toBe(200);
    await get(`/users/${userId}/todos`);
    expect((await get(`/users/${userId}/todos`)).body['cached']).toBe(true);
    expect((await get('/cache/status')).body).toMatchObject({ backend: 'redis', reachable: true });

    await redis.kill();

    const health = await get('/health');
    expect(health.status).toBe(503);
    expect(health.body).toMatchObject({
      status: 'unavailable',
      checks: { cache: { status: 'down', kind: 'redis' }, database: { status: 'up' }, broker: { status: 'up' }, resultBackend: { status: 'up' } },
    });
    const list = await get(`/users/${userId}/todos`);
    expect(list).toMatchObject({ status: 200, body: { cached: false, total: 1 } });
    const patched = await t.server.inject({ method: 'PATCH', url: `/users/${userId}/todos/1`, payload: { title: 'still works' } });
    expect(patched.statusCode).toBe(200);
    expect((await get('/cache/status')).body).toMatchObject({ backend: 'redis', reachable: false, keys: [] });
    expect(t.logs.some((l) => l.msg === 'cache read failed; reading the database')).toBe(true);
  }, 60_000);
});

describe.runIf(ready)('when the cache freezes (accepts connections, never answers)', () => {
  const own = apiWithOwnCache('frozen-test:');

  it('reads and changes answer from the database after the cache command timeout, instead of waiting for Redis', async () => {
    const t = own.api();
    const redis = own.redis();
    const user = await t.server.inject({ method: 'POST', url: '/users', payload: { email: 'f@example.com', name: 'F' } });
    const userId = user.json<{ id: number }>().id;
    await t.server.inject({ method: 'POST', url: `/users/${userId}/todos`, payload: { title: 'frozen' } });
    await t.server.inject({ method: 'GET', url: `/users/${userId}/todos` });
    expect((await t.server.inject({ method: 'GET', url: `/users/${userId}/todos` })).json<{ cached: boolean }>().cached).toBe(true);

    redis.pause();
    // Before, each of these waited for as long as Redis was frozen (this test's timeout).
    const list = await t.server.inject({ method: 'GET', url: `/users/${userId}/todos` });
    expect(list.statusCode).toBe(200);
    expect(list.json<{ cached: boolean; total: number }>()).toMatchObject({ cached: false, total: 1 });
    const patched = await t.server.inject({ method: 'PATCH', url: `/users/${userId}/todos/1`, payload: { title: 'still answered' } });
    expect(patched.statusCode).toBe(200);
    expect(t.logs.some((l) => l.msg === 'cache read failed; reading the database' && String((l.err as { message?: string } | undefined)?.message).includes('no answer from Redis within'))).toBe(true);
    redis.resume();
  }, 30_000);
});
