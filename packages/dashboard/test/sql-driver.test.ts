/**
 * The Postgres driver when its connection breaks inside a transaction: a write's connection
 * reset between two statements (a restarted server, a proxy that resets) fails that write,
 * and nothing else. Before, the checked-out connection had no error listener, and its reset
 * was an uncaught exception that ended the dashboard's process.
 */
import { CeleriacError, ErrorCodes } from 'celeriac';
import Fastify from 'fastify';
import { afterAll, describe, expect, it } from 'vitest';
import { FaultProxy } from '../../celeriac/test/support/fault-proxy.js';
import { registerErrorHandler } from '../src/server/server.js';
import { openPostgresDriver, type SqlDriver } from '../src/store/sql-driver.js';
import { dropSchema, POSTGRES_URL, shouldRunPostgresTests, testSchemaName } from './support/postgres.js';

const ready = await shouldRunPostgresTests('sql-driver');

describe.runIf(ready)('the Postgres driver', () => {
  const schema = testSchemaName();
  const cleanup: (() => Promise<void>)[] = [];
  afterAll(async () => {
    for (const step of cleanup.reverse()) await step();
    await dropSchema(schema);
  });

  it('a connection reset between two statements of a transaction rejects it; the next transaction gets a new connection', async () => {
    const proxy = new FaultProxy(Number(new URL(POSTGRES_URL).port || 5432));
    await proxy.start();
    cleanup.push(() => proxy.close());
    const url = new URL(POSTGRES_URL);
    url.port = String(proxy.port);
    const db: SqlDriver = await openPostgresDriver(url.toString(), schema, 2);
    cleanup.push(() => db.close());
    const uncaught: unknown[] = [];
    const onUncaught = (e: unknown) => uncaught.push(e);
    process.on('uncaughtException', onUncaught);
    cleanup.push(async () => {
      process.off('uncaughtException', onUncaught);
    });

    await db.exec('CREATE TABLE t (n integer)');
    const failed = db.transaction(async (tx) => {
      await tx.query('INSERT INTO t VALUES (1)');
      // The connection is reset between two statements: the client's socket errors whether or
      // not the next statement has gone out yet, and pg emits 'error' on the client either way.
      proxy.reset();
      await tx.query('INSERT INTO t VALUES (2)');
    });
    await expect(failed).rejects.toThrow();
    expect(proxy.stats.reset).toBeGreaterThan(0);
    // Give a stray 'error' event time to surface.
    await new Promise((r) => setImmediate(r));
    expect(uncaught).toEqual([]);

    proxy.heal();
    await db.transaction(async (tx) => {
      await tx.query('INSERT INTO t VALUES (3)');
    });
    // The broken transaction left nothing; the next one committed on a fresh connection.
    expect(await db.query<{ n: number }>('SELECT n FROM t ORDER BY n')).toEqual([{ n: 3 }]);
  });

  it('a database it cannot reach is a TRANSPORT error, and the dashboard answers 503 for it; a bad statement stays what it was', async () => {
    const proxy = new FaultProxy(Number(new URL(POSTGRES_URL).port || 5432));
    await proxy.start();
    cleanup.push(() => proxy.close());
    const url = new URL(POSTGRES_URL);
    url.port = String(proxy.port);
    const db: SqlDriver = await openPostgresDriver(url.toString(), testSchemaName(), 2);
    cleanup.push(() => db.close());
    expect(await db.query<{ n: number }>('SELECT 1 AS n')).toEqual([{ n: 1 }]);
    await expect(db.query('SELECT no_such_column FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
    proxy.cut();
    // pg's error was all there was, and the server answered it 500 (a bug) for a dependency down.
    for (const attempt of [() => db.query('SELECT 1'), () => db.exec('SELECT 1'), () => db.transaction((tx) => tx.query('SELECT 1'))]) {
      const err = await attempt().then(() => null, (e: unknown) => e);
      expect(err).toBeInstanceOf(CeleriacError);
      expect(err).toMatchObject({ code: ErrorCodes.TRANSPORT, message: expect.stringMatching(/^the history database is unreachable: /) });
    }
    const server = Fastify();
    registerErrorHandler(server);
    server.get('/x', () => db.query('SELECT 1'));
    const reply = await server.inject('/x');
    expect(reply.statusCode).toBe(503);
    expect(reply.json()).toEqual({ error: 'Service Unavailable: the history database or the broker did not answer' });
    await server.close();
  });
});
