import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { isPermanentConnectError, parseRedisUrl } from './connection.js';

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

  it('ignores ssl_* keys on redis:// and refuses unknown ssl_cert_reqs values', () => {
    expect(parseRedisUrl('redis://h/0?ssl_ca_certs=/ca.pem').tlsOptions).toBeUndefined();
    expect(() => parseRedisUrl('rediss://h/0?ssl_cert_reqs=maybe')).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG }));
  });
});

describe('isPermanentConnectError', () => {
  it('is true for credential, permission and certificate failures only', () => {
    expect(isPermanentConnectError(new Error('WRONGPASS invalid username-password pair or user is disabled.'))).toBe(true);
    expect(isPermanentConnectError(new Error('NOAUTH Authentication required.'))).toBe(true);
    expect(isPermanentConnectError(Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }))).toBe(true);
    expect(isPermanentConnectError(Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' }))).toBe(false);
    expect(isPermanentConnectError(new Error('LOADING Redis is loading the dataset in memory'))).toBe(false);
  });
});
