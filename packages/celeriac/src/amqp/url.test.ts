import { describe, expect, it } from 'vitest';
import { ErrorCodes } from '../errors.js';
import { parseAmqpUrl, parseAmqpUrls } from './url.js';

describe('parseAmqpUrl', () => {
  it('reads kombu vhost rules: // and none are "/", a name is decoded', () => {
    expect(parseAmqpUrl('amqp://guest:guest@127.0.0.1:5672//').vhost).toBe('/');
    expect(parseAmqpUrl('amqp://h').vhost).toBe('/');
    expect(parseAmqpUrl('amqp://h/').vhost).toBe('/');
    expect(parseAmqpUrl('amqp://h/%2F').vhost).toBe('/');
    expect(parseAmqpUrl('amqp://h/my%20vhost').vhost).toBe('my vhost');
  });

  it('defaults guest/guest, port 5672 (5671 with TLS) and Celery\'s 120 s heartbeat', () => {
    const t = parseAmqpUrl('amqp://rabbit');
    expect([t.username, t.password, t.port, t.tls, t.heartbeatSec]).toEqual(['guest', 'guest', 5672, false, 120]);
    const s = parseAmqpUrl('amqps://u:p%40ss@rabbit/v?heartbeat=10');
    expect([s.username, s.password, s.port, s.tls, s.heartbeatSec, s.vhost]).toEqual(['u', 'p@ss', 5671, true, 10, 'v']);
    expect(parseAmqpUrl('pyamqp://h:1234').port).toBe(1234);
  });

  it('refuses other schemes and bad numbers with CONFIG, never echoing the password', () => {
    expect(() => parseAmqpUrl('redis://h')).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG }));
    expect(() => parseAmqpUrl('amqp://u:secret@h/?heartbeat=-1')).toThrow(/heartbeat/);
    try {
      parseAmqpUrl('amqp://u:secret@h/?heartbeat=x');
    } catch (err) {
      expect(String(err)).not.toContain('secret');
    }
  });
});

describe('parseAmqpUrls', () => {
  it("reads kombu's failover list: nodes separated by ';', each parsed alone, empty parts ignored", () => {
    const nodes = parseAmqpUrls('amqp://u:p@a:5680/v; amqp://b:5681/v;');
    expect(nodes.map((n) => [n.hostname, n.port, n.vhost, n.username])).toEqual([
      ['a', 5680, 'v', 'u'],
      ['b', 5681, 'v', 'guest'],
    ]);
    expect(parseAmqpUrls('amqp://h')).toHaveLength(1);
  });

  it('refuses an empty list and a bad member with CONFIG', () => {
    expect(() => parseAmqpUrls(' ; ')).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG }));
    expect(() => parseAmqpUrls('amqp://a;redis://b')).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG }));
  });
});

describe("brokerUseSsl (Celery's broker_use_ssl, py-amqp's keys)", () => {
  it('makes any AMQP URL TLS, on 5671 unless the URL names a port, with its files and checks', () => {
    const t = parseAmqpUrl('amqp://u:p@h/v', { ca_certs: '/ca.pem', certfile: '/c.pem', keyfile: '/k.pem', cert_reqs: 'CERT_REQUIRED', server_hostname: 'rabbit.internal' });
    expect(t).toMatchObject({ tls: true, port: 5671, tlsFiles: { caFile: '/ca.pem', certFile: '/c.pem', keyFile: '/k.pem', verify: true }, servername: 'rabbit.internal' });
    expect(parseAmqpUrl('amqp://h:5680/v', true)).toMatchObject({ tls: true, port: 5680, tlsFiles: { verify: true } });
    expect(parseAmqpUrls('amqp://a;amqps://b', true).map((n) => [n.tls, n.port])).toEqual([[true, 5671], [true, 5671]]);
  });

  it.each([
    ['CERT_NONE', false], ['none', false], ['CERT_OPTIONAL', true], ['required', true],
  ])('cert_reqs %s verifies: %s', (value, verify) => {
    expect(parseAmqpUrl('amqps://h', { cert_reqs: value }).tlsFiles?.verify).toBe(verify);
  });

  it('leaves the URL as it is when false or absent', () => {
    expect(parseAmqpUrl('amqp://h', false)).toMatchObject({ tls: false, port: 5672 });
    expect(parseAmqpUrl('amqp://h').tlsFiles).toBeUndefined();
  });

  it('refuses what py-amqp would not take, naming it, with CONFIG', () => {
    const refused = (v: unknown) => () => parseAmqpUrl('amqps://h', v as Record<string, unknown>);
    expect(refused({ ssl_ca_certs: '/ca.pem' })).toThrow(expect.objectContaining({ code: ErrorCodes.CONFIG, message: expect.stringContaining('"ssl_ca_certs" is not supported (supported: ca_certs, certfile, keyfile, cert_reqs, server_hostname)') }));
    expect(refused({ cert_reqs: 'SOMETIMES' })).toThrow(/cert_reqs must be CERT_REQUIRED, CERT_OPTIONAL or CERT_NONE, got "SOMETIMES"/);
    expect(refused({ ca_certs: 42 })).toThrow(/"ca_certs" must be a non-empty string, got 42/);
    expect(refused('yes')).toThrow(/must be true, false or an object of py-amqp's TLS keys/);
  });
});
