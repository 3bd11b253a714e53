/**
 * Password guessing against a running dashboard: after a few failures the client and the user
 * name tried are locked (429 with Retry-After, the right password included, so a lock is no
 * oracle), with a log line per failure and Prometheus counters; an unknown user name is treated
 * exactly like a real one (same status, same words, same lock). Before the fix 500 wrong
 * passwords in a row were all answered 401 at once.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { waitFor } from 'celeriac/testing';
import type { RunningDashboard } from '../../src/dashboard.js';
import { FREE_FAILURES } from '../../src/server/login-limiter.js';
import { SecurityFixture, basic, call, postgresReady } from './support.js';

const ready = await postgresReady('dashboard security: brute force');
const fx = new SecurityFixture();

describe.runIf(ready)('dashboard security: failed logins', () => {
  let dash: RunningDashboard;

  beforeAll(async () => {
    dash = await fx.dashboard({ basicAuth: ['admin:correct-horse', 'other:battery'], apiTokens: ['tok-good-1'] });
  }, 30_000);

  afterAll(() => fx.close(), 30_000);

  it('locks a user after the free failures: 429 with Retry-After even for the right password, logged and counted', async () => {
    const warn = vi.spyOn(fx.app.log, 'warn');
    const answers: number[] = [];
    for (let i = 0; i < FREE_FAILURES; i++) answers.push((await call(dash.url, 'GET', '/api/workers', { authorization: basic('admin', `guess-${i}`) })).status);
    expect(answers).toEqual(Array.from({ length: FREE_FAILURES }, () => 401));
    const locked = await call(dash.url, 'GET', '/api/workers', { authorization: basic('admin', 'correct-horse') });
    expect(locked.status).toBe(429);
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(locked.text).toBe('Too many failed logins: try again later');
    const logged = warn.mock.calls.filter((c) => c[1] === 'dashboard: failed login');
    expect(logged).toHaveLength(FREE_FAILURES);
    expect(logged.at(-1)?.[0]).toMatchObject({ ip: '127.0.0.1', user: 'admin', failures: FREE_FAILURES, lockedForMs: 1000 });
    // The password never reaches the log.
    expect(JSON.stringify(warn.mock.calls)).not.toContain('guess-');
    warn.mockRestore();
    const metrics = (await call(dash.url, 'GET', '/metrics')).text;
    expect(metrics).toMatch(new RegExp(`^celeriac_dashboard_login_failures_total ${FREE_FAILURES}$`, 'm'));
    expect(metrics).toMatch(/^celeriac_dashboard_login_locked_total [1-9]\d*$/m);
  });

  it('the lock ends: after Retry-After the right password works and clears the count', async () => {
    expect(Number((await call(dash.url, 'GET', '/api/workers', { authorization: basic('admin', 'correct-horse') })).headers.get('retry-after'))).toBe(1);
    await waitFor(async () => (await call(dash.url, 'GET', '/api/workers', { authorization: basic('admin', 'correct-horse') })).status === 200, 'the lock to end', { timeoutMs: 10_000, maxIntervalMs: 200 });
    expect((await call(dash.url, 'GET', '/api/workers', { authorization: basic('admin', 'wrong') })).status).toBe(401);
  });

  it('an unknown user name: the same answers and the same lock as a real one (no enumeration)', async () => {
    const real = await fx.dashboard({ basicAuth: ['admin:correct-horse'] });
    const fake = await fx.dashboard({ basicAuth: ['admin:correct-horse'] });
    const walk = async (d: RunningDashboard, user: string) => {
      const out: string[] = [];
      for (let i = 0; i < FREE_FAILURES + 1; i++) {
        const r = await call(d.url, 'GET', '/api/workers', { authorization: basic(user, 'nope') });
        out.push(`${r.status} ${r.text} ${r.headers.get('retry-after') ?? '-'} ${r.headers.get('www-authenticate') ?? '-'}`);
      }
      return out;
    };
    expect(await walk(fake, 'no-such-user')).toEqual(await walk(real, 'admin'));
  });

  it("someone else's guesses do not shut out the user's open page: a valid session of that user still works", async () => {
    const d = await fx.dashboard({ basicAuth: ['admin:correct-horse'] });
    const page = await call(d.url, 'GET', '/', { authorization: basic('admin', 'correct-horse') });
    const cookie = (page.headers.get('set-cookie') ?? '').split(';')[0] as string;
    for (let i = 0; i < FREE_FAILURES; i++) await call(d.url, 'GET', '/api/workers', { authorization: basic('admin', `guess-${i}`) });
    expect((await call(d.url, 'GET', '/api/workers', { authorization: basic('admin', 'correct-horse') })).status).toBe(429);
    // The browser sends its cookie and, having logged in with basic auth, the password too.
    expect((await call(d.url, 'GET', '/api/workers', { cookie, authorization: basic('admin', 'correct-horse') })).status).toBe(200);
    expect((await call(d.url, 'GET', '/api/workers', { cookie })).status).toBe(200);
    // The cookie does not unlock guessing another user's password.
    expect((await call(d.url, 'GET', '/api/workers', { cookie, authorization: basic('root', 'x') })).status).toBe(429);
  });

  it('bearer guesses count against the client; the lock holds for other names from that client', async () => {
    const d = await fx.dashboard({ apiTokens: ['tok-good-1'], basicAuth: ['x:y'] });
    for (let i = 0; i < FREE_FAILURES; i++) expect((await call(d.url, 'GET', '/api/workers', { authorization: `Bearer tok-guess-${i}` })).status).toBe(401);
    expect((await call(d.url, 'GET', '/api/workers', { authorization: 'Bearer tok-good-1' })).status).toBe(429);
    expect((await call(d.url, 'GET', '/api/workers', { authorization: basic('x', 'y') })).status).toBe(429);
  });
});
