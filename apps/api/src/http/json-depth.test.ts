import Fastify from 'fastify';
import { describe, expect, it } from 'vitest';
import { installJsonParser } from './json-depth.js';

describe('installJsonParser', () => {
  const server = () => {
    const app = Fastify();
    installJsonParser(app);
    app.post('/echo', async (request) => ({ types: JSON.stringify(request.body, (_k, v: unknown) => (typeof v === 'bigint' ? `bigint ${v}` : v)) }));
    return app;
  };
  const post = async (payload: string) => {
    const res = await server().inject({ method: 'POST', url: '/echo', payload, headers: { 'content-type': 'application/json' } });
    return { status: res.statusCode, body: res.json<{ types?: string }>() };
  };

  it('reads an integer a double cannot hold exactly, as a bigint, and every other number as JSON.parse does', async () => {
    expect(await post('{"args": [18446744073709551616, -9007199254740993, 9007199254740991, 1.5e300], "id": "12345678901234567890"}')).toEqual({
      status: 200,
      body: { types: '{"args":["bigint 18446744073709551616","bigint -9007199254740993",9007199254740991,1.5e+300],"id":"12345678901234567890"}' },
    });
  });

  it("still refuses __proto__ keys, bad JSON and deep bodies, long integers or not", async () => {
    expect((await post('{"__proto__": {"x": 18446744073709551616}}')).status).toBe(400);
    expect((await post('{"a": 18446744073709551616')).status).toBe(400);
    expect((await post(`${'['.repeat(40)}18446744073709551616${']'.repeat(40)}`)).status).toBe(400);
  });
});
