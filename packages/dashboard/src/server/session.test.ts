import { describe, expect, it } from 'vitest';
import { FakeClock } from 'celeriac/testing';
import { Sessions, type Role } from './session.js';

const HOUR = 3_600_000;

/** Sessions over a mutable user table, as the auth config would be after a restart. */
function setup(users: Map<string, { role: Role; credential: string }>, secret = 'sekrit') {
  const clock = new FakeClock();
  const sessions = new Sessions({ secret, clock, idleMs: 8 * HOUR, absoluteMs: 7 * 24 * HOUR, credentialOf: (u) => (u === null ? null : (users.get(u) ?? null)) });
  return { clock, sessions };
}

describe('sessions', () => {
  it('a session is good until it idles out, and used often until its absolute end', () => {
    const users = new Map([['ann', { role: 'admin' as Role, credential: 'ann:pw' }]]);
    const { clock, sessions } = setup(users);
    let cookie = sessions.issue({ user: 'ann', role: 'admin' });
    expect(sessions.verify(cookie)).toMatchObject({ user: 'ann', role: 'admin', refresh: null });
    clock.advance(8 * HOUR + 1);
    expect(sessions.verify(cookie)).toBeNull();

    cookie = sessions.issue({ user: 'ann', role: 'admin' });
    // Used every 7 hours: the refreshed cookie keeps it alive, up to the absolute lifetime.
    for (let i = 0; i < 23; i++) {
      clock.advance(7 * HOUR);
      const s = sessions.verify(cookie);
      expect(s, `after ${(i + 1) * 7} h`).not.toBeNull();
      expect(s?.refresh).toEqual(expect.any(String));
      cookie = s?.refresh as string;
    }
    clock.advance(7 * HOUR); // 168 h after login
    expect(sessions.verify(cookie)).toBeNull();
  });

  it('a password change, a removed user or a new role ends the sessions at once', () => {
    const users = new Map([['ann', { role: 'admin' as Role, credential: 'ann:pw' }], ['bob', { role: 'admin' as Role, credential: 'bob:pw' }]]);
    const { sessions } = setup(users);
    const ann = sessions.issue({ user: 'ann', role: 'admin' });
    const bob = sessions.issue({ user: 'bob', role: 'admin' });
    users.set('ann', { role: 'admin', credential: 'ann:new' });
    expect(sessions.verify(ann)).toBeNull();
    expect(sessions.verify(bob)).not.toBeNull();
    users.set('bob', { role: 'viewer', credential: 'bob:pw' });
    expect(sessions.verify(bob)).toBeNull();
    users.set('bob', { role: 'admin', credential: 'bob:pw' });
    expect(sessions.verify(bob)).not.toBeNull();
    users.delete('bob');
    expect(sessions.verify(bob)).toBeNull();
  });

  it('logout ends that session for good (a replayed cookie too); others live on', () => {
    const users = new Map([['ann', { role: 'admin' as Role, credential: 'ann:pw' }]]);
    const { sessions } = setup(users);
    const one = sessions.issue({ user: 'ann', role: 'admin' });
    const two = sessions.issue({ user: 'ann', role: 'admin' });
    sessions.revoke(sessions.verify(one) as NonNullable<ReturnType<Sessions['verify']>>);
    expect(sessions.verify(one)).toBeNull();
    expect(sessions.verify(two)).not.toBeNull();
  });

  it('refuses forged, tampered, other-secret and malformed cookies, and a role the cookie claims', () => {
    const users = new Map([['ann', { role: 'viewer' as Role, credential: 'ann:pw' }]]);
    const { sessions, clock } = setup(users);
    const good = sessions.issue({ user: 'ann', role: 'viewer' });
    const other = new Sessions({ secret: 'another', clock, idleMs: HOUR, absoluteMs: HOUR, credentialOf: (u) => users.get(u ?? '') ?? null });
    expect(sessions.verify(other.issue({ user: 'ann', role: 'viewer' }))).toBeNull();
    const [body, sig] = good.split('.') as [string, string];
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString()) as Record<string, unknown>;
    const forged = Buffer.from(JSON.stringify({ ...claims, r: 'admin' })).toString('base64url');
    expect(sessions.verify(`${forged}.${sig}`)).toBeNull();
    // Signed but claiming admin (as if the secret leaked): the role must match the current one.
    expect(sessions.verify(sessions.issue({ user: 'ann', role: 'admin' }))).toBeNull();
    for (const bad of ['', '.', 'abc', `${body}.`, `.${sig}`, `${body}.${sig}x`, 'x'.repeat(10_000), `${Buffer.from('[1]').toString('base64url')}.${sig}`]) expect(sessions.verify(bad), bad.slice(0, 40)).toBeNull();
  });
});
