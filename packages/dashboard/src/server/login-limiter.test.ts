import { describe, expect, it } from 'vitest';
import { FakeClock } from 'celeriac/testing';
import { FORGET_MS, FREE_FAILURES, LoginLimiter, MAX_LOCK_MS } from './login-limiter.js';

describe('login limiter', () => {
  it('locks a client after the free failures, doubling up to the cap', () => {
    const clock = new FakeClock();
    const l = new LoginLimiter(clock);
    for (let i = 1; i < FREE_FAILURES; i++) expect(l.fail('1.2.3.4', 'ann').lockedForMs).toBe(0);
    expect(l.fail('1.2.3.4', 'ann').lockedForMs).toBe(1000);
    expect(l.lockedFor('1.2.3.4', 'zed')).toBe(1000);
    expect(l.lockedFor('5.6.7.8', 'ann')).toBe(1000);
    expect(l.lockedFor('5.6.7.8', 'zed')).toBe(0);
    expect(l.fail('1.2.3.4', 'ann').lockedForMs).toBe(2000);
    for (let i = 0; i < 40; i++) l.fail('1.2.3.4', 'ann');
    expect(l.lockedFor('1.2.3.4', null)).toBe(MAX_LOCK_MS);
    expect(l.failedTotal).toBe(FREE_FAILURES + 41);
    expect(l.metrics()).toMatch(/^celeriac_dashboard_login_failures_total 46$/m);
  });

  it('an unknown user name is counted exactly like a real one (a lock reveals no names)', () => {
    const clock = new FakeClock();
    const l = new LoginLimiter(clock);
    const real = [];
    const unknown = [];
    for (let i = 0; i < 8; i++) {
      real.push(l.fail(`10.0.0.${i}`, 'admin').lockedForMs);
      unknown.push(l.fail(`10.0.1.${i}`, 'no-such-user').lockedForMs);
    }
    expect(unknown).toEqual(real);
  });

  it('a success clears the keys; failures are forgotten after a quiet while', () => {
    const clock = new FakeClock();
    const l = new LoginLimiter(clock);
    for (let i = 0; i < FREE_FAILURES - 1; i++) l.fail('ip', 'ann');
    l.succeed('ip', 'ann');
    expect(l.fail('ip', 'ann').failures).toBe(1);
    for (let i = 0; i < FREE_FAILURES; i++) l.fail('ip2', 'bob');
    clock.advance(FORGET_MS);
    expect(l.lockedFor('ip2', 'bob')).toBe(0);
    expect(l.fail('ip2', 'bob').failures).toBe(1);
  });

  it('a flood of distinct names and addresses stays bounded', () => {
    const l = new LoginLimiter(new FakeClock());
    for (let i = 0; i < 30_000; i++) l.fail(`ip${i}`, `u${i}`);
    // The first names were dropped: they may try again.
    expect(l.lockedFor('ip0', 'u0')).toBe(0);
  });
});
