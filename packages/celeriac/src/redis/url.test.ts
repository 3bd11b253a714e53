import { describe, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { kombuUrlDefaults, parseRedisUrl, type RedisTarget } from './url.js';

const base = { tls: false, db: 0, transportOptions: { globalKeyprefix: '' } };

describe('parseRedisUrl', () => {
  const cases: [string, RedisTarget][] = [
    ['redis://', { ...base, host: 'localhost', port: 6379 }],
    ['redis://localhost', { ...base, host: 'localhost', port: 6379 }],
    ['redis://10.0.0.5:6380/3', { ...base, host: '10.0.0.5', port: 6380, db: 3 }],
    ['redis://:s3cret@redis:6379/1', { ...base, host: 'redis', port: 6379, db: 1, password: 's3cret' }],
    ['redis://alice:p%40ss%3Aw%2Frd@redis/2', { ...base, host: 'redis', port: 6379, db: 2, username: 'alice', password: 'p@ss:w/rd' }],
    ['redis://bob@redis', { ...base, host: 'redis', port: 6379, username: 'bob' }],
    ['REDIS://Host:1', { ...base, host: 'Host', port: 1 }],
    ['redis://[::1]:7000/4', { ...base, host: '::1', port: 7000, db: 4 }],
    ['redis://h/', { ...base, host: 'h', port: 6379 }],
    ['rediss://:pw@cache.example.com:6380/0', { ...base, tls: true, host: 'cache.example.com', port: 6380, password: 'pw' }],
    [
      'redis://h:6379/5?global_keyprefix=pfx:',
      { ...base, host: 'h', port: 6379, db: 5, transportOptions: { globalKeyprefix: 'pfx:' } },
    ],
    [
      'sentinel://s1:26379;sentinel://s2:26380/0?master_name=mymaster',
      {
        ...base, host: 's1', port: 26379,
        sentinel: { masterName: 'mymaster', nodes: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }] },
      },
    ],
    [
      'sentinel://:pw@s1/2?master_name=m&global_keyprefix=x:',
      {
        ...base, host: 's1', port: 26379, db: 2, password: 'pw', transportOptions: { globalKeyprefix: 'x:' },
        sentinel: { masterName: 'm', nodes: [{ host: 's1', port: 26379 }] },
      },
    ],
    [
      'redis+sentinel://h1:26379,h2/mymaster/3',
      {
        ...base, host: 'h1', port: 26379, db: 3,
        sentinel: { masterName: 'mymaster', nodes: [{ host: 'h1', port: 26379 }, { host: 'h2', port: 26379 }] },
      },
    ],
    [
      'redis+sentinel://u:p@h1:1/m',
      { ...base, host: 'h1', port: 1, username: 'u', password: 'p', sentinel: { masterName: 'm', nodes: [{ host: 'h1', port: 1 }] } },
    ],
  ];
  it.each(cases)('%s', (url, expected) => {
    expect(parseRedisUrl(url)).toEqual(expected);
  });

  const bad: [string, RegExp][] = [
    ['http://h', /unsupported scheme "http"/],
    ['localhost:6379', /unsupported scheme "\(none\)"/],
    ['redis+socket:///tmp/redis.sock', /unsupported scheme "redis\+socket"/],
    ['redis://h:port/0', /port "port" is not a number/],
    ['redis://h:0', /port "0" is not a number between 1 and 65535/],
    ['redis://h:70000', /port "70000"/],
    ['redis://h/db1', /database "db1" is not a non-negative integer/],
    ['redis://h/-1', /database "-1"/],
    ['redis://h/1/2', /path "\/1\/2" must be \/<db>/],
    ['redis://a,b', /only one host/],
    ['redis://:%zz@h', /password is not valid percent-encoding/],
    ['sentinel://s1:26379;sentinel://s2:26379', /needs \?master_name=/],
    ['sentinel://s1?master_name=m;redis://s2', /every ;-separated part must be sentinel:\/\//],
    ['redis+sentinel://h1,h2', /expected redis\+sentinel:\/\//],
    ['redis+sentinel://h1/m/0/extra', /expected redis\+sentinel:\/\//],
    ['sentinel://s1?master_name=m&ssl_cert_reqs=maybe', /ssl_cert_reqs must be required, optional or none, got "maybe"/],
  ];
  it.each(bad)('rejects %s', (url, message) => {
    expect(() => parseRedisUrl(url)).toThrow(message);
    try {
      parseRedisUrl(url);
    } catch (err) {
      expect(err).toBeInstanceOf(CeleriacError);
      expect((err as CeleriacError).code).toBe(ErrorCodes.CONFIG);
    }
  });

  it("takes the Sentinel master from kombu's master_name transport option when the URL has none; the URL's wins", () => {
    expect(parseRedisUrl('sentinel://s1:26379;sentinel://s2:26380', { masterName: 'opt' }).sentinel).toEqual({
      masterName: 'opt', nodes: [{ host: 's1', port: 26379 }, { host: 's2', port: 26380 }],
    });
    expect(parseRedisUrl('sentinel://s1?master_name=url', { masterName: 'opt' }).sentinel?.masterName).toBe('url');
    expect(() => parseRedisUrl('sentinel://s1', { masterName: '' })).toThrow(/master_name transport option/);
  });

  it('never puts the password in an error message', () => {
    for (const url of [
      'redis://user:hunter2@h:bad/0',
      'redis://:hunter2@h/x',
      'sentinel://:hunter2@s1;sentinel://:hunter2@s2',
      'redis+sentinel://u:hunter2@h1',
    ]) {
      expect(() => parseRedisUrl(url)).toThrow(CeleriacError);
      try {
        parseRedisUrl(url);
      } catch (err) {
        expect((err as Error).message).not.toContain('hunter2');
        expect((err as Error).message).toContain('**');
      }
    }
  });
});

describe('rediss:// TLS query keys (redis-py names)', () => {
  it('reads the CA, client certificate and key paths, verifying by default', () => {
    const t = parseRedisUrl('rediss://:pw@h:6380/1?ssl_ca_certs=%2Fetc%2Fca.pem&ssl_certfile=/c.pem&ssl_keyfile=/k.pem');
    expect(t.tlsOptions).toEqual({ caFile: '/etc/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', verify: true });
    expect(t).toMatchObject({ tls: true, host: 'h', port: 6380, db: 1, password: 'pw' });
  });

  it.each([
    ['required', true], ['CERT_REQUIRED', true], ['optional', true], ['CERT_OPTIONAL', true], ['none', false], ['CERT_NONE', false],
  ])('ssl_cert_reqs=%s verifies: %s', (value, verify) => {
    expect(parseRedisUrl(`rediss://h?ssl_cert_reqs=${value}`).tlsOptions).toEqual({ verify });
  });

  it('has no TLS options without ssl_* keys', () => {
    expect(parseRedisUrl('rediss://h/0').tlsOptions).toBeUndefined();
  });

  it('refuses ssl_* keys on redis:// (they ask for TLS: rediss:// makes it), and unknown ssl_cert_reqs values', () => {
    for (const url of ['redis://h/0?ssl_ca_certs=/ca.pem', 'redis://:pw@h/0?ssl_cert_reqs=none', 'REDIS://h?global_keyprefix=p&ssl_keyfile=/k.pem']) {
      expect(() => parseRedisUrl(url)).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringMatching(/asks for TLS, which a redis:\/\/ URL does not use: write rediss:\/\//) }));
    }
    // The password is not in the message.
    expect(() => parseRedisUrl('redis://:hunter2@h/0?ssl_cert_reqs=none')).toThrow(expect.objectContaining({ message: expect.not.stringContaining('hunter2') }));
    expect(() => parseRedisUrl('rediss://h/0?ssl_cert_reqs=maybe')).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG }));
  });

  it("takes the sentinels' own credentials from kombu's sentinel_kwargs, and nothing else in it", () => {
    const url = 'sentinel://:masterpw@s1/0?master_name=m';
    const target = parseRedisUrl(url, { sentinelKwargs: { password: 'sentinelpw', username: 'watcher' } });
    expect(target.password).toBe('masterpw');
    expect(target.sentinel).toEqual({ masterName: 'm', nodes: [{ host: 's1', port: 26379 }], username: 'watcher', password: 'sentinelpw' });
    expect(parseRedisUrl('redis+sentinel://h1/m/0', { sentinelKwargs: { password: 'p' } }).sentinel?.password).toBe('p');
    // kombu reads it only for Sentinel URLs.
    expect(parseRedisUrl('redis://h/0', { sentinelKwargs: { socket_timeout: 1 } }).sentinel).toBeUndefined();
    const refused = (kwargs: unknown) => () => parseRedisUrl(url, { sentinelKwargs: kwargs as Record<string, unknown> });
    expect(refused({ socket_timeout: 0.5 })).toThrow(/"socket_timeout" is not supported \(supported: password, username, ssl, ssl_ca_certs, ssl_certfile, ssl_keyfile, ssl_cert_reqs\)/);
    expect(refused('sentinelpw')).toThrow(/must be an object/);
    expect(refused({ password: 42 })).toThrow(/"password" must be a non-empty string/);
    // The value is never in the message: it may be the password.
    let thrown: unknown;
    try {
      refused({ password: ['secret-value'] })();
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).toMatch(/"password" must be a non-empty string/);
    expect(String(thrown)).not.toContain('secret-value');
    expect(refused({ password: 42 })).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG }));
  });

  it("connects to a Sentinel URL's masters with TLS when it has ssl_* keys, as kombu 5.6 reads them", () => {
    const kombu = parseRedisUrl('sentinel://s1:26379;sentinel://s2:26379/0?master_name=m&ssl_cert_reqs=required&ssl_ca_certs=%2Fca.pem');
    expect(kombu).toMatchObject({ tls: true, tlsOptions: { caFile: '/ca.pem', verify: true }, sentinel: { masterName: 'm' } });
    // The sentinels themselves stay in plain text unless sentinel_kwargs says otherwise.
    expect(kombu.sentinel?.tls).toBeUndefined();
    const list = parseRedisUrl('redis+sentinel://h1:26379/m/0?ssl_ca_certs=%2Fca.pem&ssl_certfile=%2Fc.pem&ssl_keyfile=%2Fk.pem');
    expect(list).toMatchObject({ tls: true, tlsOptions: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', verify: true } });
    expect(parseRedisUrl('redis+sentinel://h1/m?ssl_cert_reqs=none').tlsOptions).toEqual({ verify: false });
    expect(parseRedisUrl('sentinel://s1?master_name=m')).toMatchObject({ tls: false });
    expect(parseRedisUrl('sentinel://s1?master_name=m').tlsOptions).toBeUndefined();
  });

  it("connects to the sentinels with TLS given by sentinel_kwargs' ssl and ssl_* keys, refusing ssl_* keys without ssl: true", () => {
    const url = 'sentinel://s1/0?master_name=m';
    const tls = parseRedisUrl(url, { sentinelKwargs: { ssl: true, ssl_ca_certs: '/ca.pem', ssl_certfile: '/c.pem', ssl_keyfile: '/k.pem', password: 'p' } });
    expect(tls.sentinel).toEqual({ masterName: 'm', nodes: [{ host: 's1', port: 26379 }], password: 'p', tls: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', verify: true } });
    // The masters' TLS is the URL's: none here.
    expect(tls.tls).toBe(false);
    expect(parseRedisUrl(url, { sentinelKwargs: { ssl: true } }).sentinel?.tls).toEqual({ verify: true });
    expect(parseRedisUrl(url, { sentinelKwargs: { ssl: true, ssl_cert_reqs: 'CERT_NONE' } }).sentinel?.tls).toEqual({ verify: false });
    expect(parseRedisUrl(url, { sentinelKwargs: { ssl: false } }).sentinel?.tls).toBeUndefined();
    const refused = (kwargs: unknown) => () => parseRedisUrl(url, { sentinelKwargs: kwargs as Record<string, unknown> });
    expect(refused({ ssl_ca_certs: '/ca.pem' })).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining('ssl_ca_certs asks for TLS to the sentinels: add "ssl": true') }));
    expect(refused({ ssl: false, ssl_cert_reqs: 'required' })).toThrow(/ssl_cert_reqs asks for TLS to the sentinels/);
    expect(refused({ ssl: 'yes' })).toThrow(/"ssl" must be true or false, got "yes"/);
    expect(refused({ ssl: true, ssl_cert_reqs: 'sometimes' })).toThrow(/sentinel_kwargs: ssl_cert_reqs must be required, optional or none/);
    expect(refused({ ssl: true, ssl_ca_certs: '' })).toThrow(/"ssl_ca_certs" must be a non-empty string/);
  });

  it("takes TLS from useSsl (Celery's broker_use_ssl, redis_backend_use_ssl) whatever the scheme, the URL's own keys winning", () => {
    expect(parseRedisUrl('redis://h/0', { useSsl: { ssl_ca_certs: '/ca.pem', ssl_cert_reqs: 'required' } })).toMatchObject({ tls: true, tlsOptions: { caFile: '/ca.pem', verify: true } });
    expect(parseRedisUrl('redis://h/0', { useSsl: true })).toMatchObject({ tls: true, tlsOptions: { verify: true } });
    expect(parseRedisUrl('rediss://h/0?ssl_ca_certs=%2Furl-ca.pem', { useSsl: { ssl_ca_certs: '/setting-ca.pem', ssl_certfile: '/c.pem' } }).tlsOptions).toEqual({ caFile: '/url-ca.pem', certFile: '/c.pem', verify: true });
    // On Sentinel, the masters' TLS; the sentinels' stays sentinel_kwargs'.
    const sentinel = parseRedisUrl('sentinel://s1/0?master_name=m', { useSsl: { ssl_ca_certs: '/ca.pem' } });
    expect(sentinel).toMatchObject({ tls: true, tlsOptions: { caFile: '/ca.pem' } });
    expect(sentinel.sentinel?.tls).toBeUndefined();
    expect(parseRedisUrl('redis://h/0', { useSsl: false })).toMatchObject({ tls: false });
    const refused = (useSsl: unknown) => () => parseRedisUrl('redis://h/0', { useSsl: useSsl as Record<string, unknown> });
    expect(refused({ ca_certs: '/ca.pem' })).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining('"ca_certs" is not a TLS setting of a Redis connection (ssl_ca_certs, ssl_certfile, ssl_keyfile, ssl_cert_reqs)') }));
    expect(refused({ ssl_cert_reqs: 'maybe' })).toThrow(/ssl_cert_reqs must be required, optional or none/);
    expect(refused({ ssl_ca_certs: 1 })).toThrow(/"ssl_ca_certs" must be a non-empty string/);
    expect(refused(['x'])).toThrow(/must be true, false or an object/);
  });

  it('kombuUrlDefaults reads master_name and sentinel_kwargs of an app\'s transport options', () => {
    expect(kombuUrlDefaults({ master_name: 'm', sentinel_kwargs: { password: 'p' }, visibility_timeout: 10 })).toEqual({ masterName: 'm', sentinelKwargs: { password: 'p' } });
    expect(kombuUrlDefaults({ master_name: 3 })).toEqual({});
  });
});
