import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer as createNetServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RespConnection, RespParser, type RespReply } from './resp-connection.js';
import type { RedisTarget } from './url.js';

/**
 * RespConnection against an in-process server that speaks just enough RESP (AUTH, PING), plain
 * and TLS: node:tls is loaded on the first TLS connection only (resp-connection.ts), so the TLS
 * path is checked here, where a keeper thread's idle worker never takes it.
 */

/** Answers each command with +OK (AUTH) or +PONG (PING), recording what it received. */
function serve(socket: Socket, received: RespReply[]): void {
  const parser = new RespParser();
  socket.on('data', (chunk: Buffer) => {
    parser.push(chunk);
    for (let cmd = parser.next(); cmd !== undefined; cmd = parser.next()) {
      received.push(cmd);
      socket.write(Array.isArray(cmd) && cmd[0] === 'PING' ? '+PONG\r\n' : '+OK\r\n');
    }
  });
  socket.on('error', () => undefined);
}

const listen = (server: Server): Promise<number> => new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));

const target = (port: number, extra: Partial<RedisTarget> = {}): RedisTarget => ({ tls: false, host: '127.0.0.1', port, db: 0, transportOptions: { globalKeyprefix: '' }, ...extra });

describe('RespConnection', () => {
  const dir = mkdtempSync(join(tmpdir(), 'celeriac-resp-'));
  const received: RespReply[] = [];
  const servers: Server[] = [];
  let plainPort = 0;
  let tlsPort = 0;

  beforeAll(async () => {
    // A self-signed certificate for 127.0.0.1, which is also the CA the client is given.
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'key.pem', '-out', 'cert.pem', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { cwd: dir, stdio: 'pipe' });
    const plain = createNetServer((s) => serve(s, received));
    const secure = createTlsServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (s) => serve(s, received));
    secure.on('tlsClientError', () => undefined);
    servers.push(plain, secure);
    plainPort = await listen(plain);
    tlsPort = await listen(secure);
  });

  afterAll(async () => {
    for (const s of servers) await new Promise((resolve) => s.close(resolve));
    rmSync(dir, { recursive: true, force: true });
  });

  it('speaks plain TCP: AUTH first when the target has a password, then the command', async () => {
    received.length = 0;
    const c = new RespConnection(target(plainPort, { password: 'pw' }), 2000);
    try {
      expect(await c.command(['PING'])).toBe('PONG');
      expect(received).toEqual([['AUTH', 'pw'], ['PING']]);
    } finally {
      c.close();
    }
  });

  it('speaks TLS to a server its CA file vouches for', async () => {
    received.length = 0;
    const c = new RespConnection(target(tlsPort, { tls: true, tlsOptions: { caFile: join(dir, 'cert.pem'), verify: true } }), 2000);
    try {
      expect(await c.command(['PING'])).toBe('PONG');
      expect(received).toEqual([['PING']]);
    } finally {
      c.close();
    }
  });

  it('refuses a TLS server it cannot verify (no CA given: the default trust store), sending it nothing', async () => {
    received.length = 0;
    const c = new RespConnection(target(tlsPort, { tls: true }), 2000);
    try {
      await expect(c.command(['PING'])).rejects.toThrow(/self[- ]signed|unable to verify/i);
      expect(received).toEqual([]);
    } finally {
      c.close();
    }
  });
});
