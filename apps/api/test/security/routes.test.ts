/**
 * Every route of the reference API, from its route table (a new route is covered without
 * editing this file): answered with the security headers, refused with a JSON 4xx for garbage
 * parameters and for oversized, malformed and deep bodies, never a 500; and the generic task
 * endpoints send only names of registered tasks (`demo.nope` matched the `demo.*` allow-list
 * and was accepted, to fail later on a worker as NotRegistered).
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SECURITY_HEADERS, routeTable } from '../../src/http/server.js';
import { rawHttp } from '../../../../packages/celeriac/test/support/raw-http.js';
import { startTestApi, type TestApi } from '../support/harness.js';

describe('reference API security: every route', () => {
  let t: TestApi;
  let routes: { method: string; url: string; body: boolean; path: string }[];

  beforeAll(async () => {
    t = await startTestApi({ database: 'pglite' });
    routes = routeTable(t.server).map((r) => ({ ...r, path: r.url.replace(/:[^/]+/g, 'x').replace(/\*$/, 'x') }));
  }, 60_000);

  afterAll(() => t?.close(), 30_000);

  /** Injects a request (event streams, which never end, are left out by the callers). */
  async function call(method: string, url: string, payload?: string, headers: Record<string, string> = {}) {
    const res = await t.server.inject({ method: method as 'GET', url, headers, ...(payload === undefined ? {} : { payload }) });
    return { statusCode: res.statusCode, headers: res.headers as Record<string, unknown>, body: res.body };
  }

  it('reads the route table', () => {
    expect(routes.length).toBeGreaterThan(20);
    expect(routes.map((r) => `${r.method} ${r.url}`)).toEqual(expect.arrayContaining(['POST /tasks/:name', 'GET /docs', 'GET /']));
  });

  it('every route: the security headers, and no 500 for garbage parameters', async () => {
    for (const r of routes.filter((x) => !x.url.includes('stream') && !x.url.endsWith('/events'))) {
      const res = await call(r.method, r.path);
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers[name], `${name} on ${r.method} ${r.url}`).toBe(value);
      expect(res.statusCode, `${r.method} ${r.path}: ${res.body.slice(0, 200)}`).toBeLessThan(500);
    }
  });

  it('every route that reads a body: oversized, malformed, deep and wrongly typed bodies are a JSON 4xx', async () => {
    const bodies: [string, string][] = [
      ['application/json', JSON.stringify({ args: ['x'.repeat(2 << 20)] })],
      ['application/json', '{"args": [1,'],
      ['application/json', `${'['.repeat(20_000)}${']'.repeat(20_000)}`],
      ['application/json', '{"__proto__": {"admin": true}}'],
      ['application/json', '"text"'],
      ['text/plain', 'hello'],
      ['application/x-www-form-urlencoded', 'a=1'],
    ];
    const reading = routes.filter((x) => x.body);
    expect(reading.length).toBeGreaterThan(5);
    for (const r of reading) {
      for (const [type, body] of bodies) {
        const res = await call(r.method, r.path.replace('/users/x', '/users/1'), body, { 'content-type': type });
        expect(res.statusCode, `${type} ${body.slice(0, 20)} -> ${r.method} ${r.path}: ${res.body.slice(0, 200)}`).toBeGreaterThanOrEqual(400);
        expect(res.statusCode).toBeLessThan(500);
        expect(JSON.parse(res.body)).toMatchObject({ statusCode: res.statusCode, code: expect.any(String) });
        // A refused body is never echoed back.
        expect(res.body.length).toBeLessThan(1000);
      }
    }
  });

  it('sends only registered tasks: demo.nope (allowed by demo.*) is a 404 with a clear error', async () => {
    const res = await call('POST', '/tasks/demo.nope', '{}', { 'content-type': 'application/json' });
    expect(res.statusCode).toBe(404);
    expect(JSON.parse(res.body)).toMatchObject({ code: 'TASK_NOT_REGISTERED', message: 'task "demo.nope" is not registered in this app (the allow-list matches it, but no task has that name)' });
    const wf = await call('POST', '/workflows', JSON.stringify({ group: [{ task: 'demo.add', args: [1, 2] }, { task: 'demo.nope' }] }), { 'content-type': 'application/json' });
    expect(wf.statusCode).toBe(404);
    // Off the list stays 403, and says nothing about whether such a task exists.
    expect(JSON.parse((await call('POST', '/tasks/todos.daily_cleanup', '{}', { 'content-type': 'application/json' })).body)).toMatchObject({ code: 'TASK_NOT_ALLOWED' });
    expect((await call('POST', '/tasks/demo.add', JSON.stringify({ args: [1, 2] }), { 'content-type': 'application/json' })).statusCode).toBe(202);
  });
});

describe('reference API security: a client that never finishes its request', () => {
  it('is answered 408 and disconnected after API_REQUEST_TIMEOUT_MS, not held for ever', async () => {
    const t = await startTestApi({ database: 'pglite', env: { API_REQUEST_TIMEOUT_MS: '500' } });
    try {
      await t.server.listen({ host: '127.0.0.1', port: 0 });
      const { port } = t.server.server.address() as AddressInfo;
      const socket = connect(port, '127.0.0.1');
      await once(socket, 'connect');
      let answer = '';
      socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
      // Headers that promise a body, and one byte of it: Fastify's default (0) waited for the rest for ever.
      socket.write('POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{');
      await once(socket, 'close');
      expect(answer).toMatch(/^HTTP\/1\.1 408 /);
    } finally {
      await t.close();
    }
  }, 60_000);
});

describe('reference API security: what the router and the HTTP parser refuse before any route', () => {
  let t: TestApi;
  let port: number;

  beforeAll(async () => {
    t = await startTestApi({ database: 'pglite' });
    await t.server.listen({ host: '127.0.0.1', port: 0 });
    port = (t.server.server.address() as AddressInfo).port;
  }, 60_000);

  afterAll(() => t?.close(), 30_000);

  for (const [label, request, status, code] of [
    ['a bad percent-escape in a path parameter', 'GET /tasks/%E0%A4%A HTTP/1.1\r\nHost: x\r\n\r\n', 400, 'BAD_URL'],
    ['a path parameter past the router\'s length', `GET /tasks/${'a'.repeat(2000)} HTTP/1.1\r\nHost: x\r\n\r\n`, 414, 'URL_TOO_LONG'],
    ['headers past what the server reads', `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${'b'.repeat(64 * 1024)}\r\n\r\n`, 431, 'HEADERS_TOO_LARGE'],
    ['bytes that are not HTTP', 'HELLO THERE\r\n\r\n', 400, 'MALFORMED_REQUEST'],
  ] as const) {
    it(`${label}: ${status} ${code}, the JSON error shape, a request id and the security headers`, async () => {
      const res = await rawHttp(port, request);
      expect(res.status, res.body).toBe(status);
      for (const [name, value] of Object.entries(SECURITY_HEADERS)) expect(res.headers[name], name).toBe(value);
      const body = JSON.parse(res.body) as Record<string, unknown>;
      expect(body).toEqual({ statusCode: status, error: expect.any(String), code, message: expect.any(String), requestId: res.headers['x-request-id'] });
      expect(body['requestId']).toMatch(/^[\w.:-]{1,64}$/);
      // Nothing of the request is echoed back.
      expect(res.body.length).toBeLessThan(300);
    });
  }
});
