/**
 * Connection retry on worker start (Celery's broker_connection_retry_on_startup and
 * broker_connection_max_retries) with a connect that fails a given number of times. Against a
 * real redis-server started after the worker: test/failure/worker-start-before-broker.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { connectOnStartup, startupRetryDelaySec, type StartupConnectOptions } from './startup-connect.js';

const FAST = { intervalStart: 0.01, intervalStep: 0.01, intervalMax: 0.02 };

function failing(times: number, error: () => Error = () => new CeleriacError(ErrorCodes.TRANSPORT, 'connect ECONNREFUSED 127.0.0.1:1')) {
  const state = { calls: 0 };
  const connect = async () => {
    state.calls++;
    if (state.calls <= times) throw error();
  };
  return { state, connect };
}

function options(over: Partial<StartupConnectOptions> = {}) {
  const warnings: string[] = [];
  const o: StartupConnectOptions = {
    what: 'broker', url: 'redis://127.0.0.1:1/0', retry: true, maxRetries: null,
    signal: new AbortController().signal, warn: (m) => warnings.push(m), intervals: FAST, ...over,
  };
  return { o, warnings };
}

describe('connection retry on worker start', () => {
  it('backs off as kombu: 2 s, 2 s more each time, at most 30 s', () => {
    expect([0, 1, 2, 13, 14, 50].map((n) => startupRetryDelaySec(n))).toEqual([2, 4, 6, 28, 30, 30]);
  });

  it('keeps trying until the broker answers, one warning per failed attempt', async () => {
    const { state, connect } = failing(5);
    const { o, warnings } = options();
    expect(await connectOnStartup(connect, o)).toBe(true);
    expect(state.calls).toBe(6);
    expect(warnings).toHaveLength(5);
    expect(warnings[0]).toBe('Cannot connect to broker redis://127.0.0.1:1/0: connect ECONNREFUSED 127.0.0.1:1. Trying again in 0.01 seconds... (1)');
  });

  it('fails with the URL, the attempts and the cause once maxRetries is spent', async () => {
    const { state, connect } = failing(100);
    const { o, warnings } = options({ maxRetries: 2 });
    const err = await connectOnStartup(connect, o).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.TRANSPORT });
    expect((err as Error).message).toBe('Cannot connect to broker redis://127.0.0.1:1/0 after 3 attempts (brokerConnectionMaxRetries 2): connect ECONNREFUSED 127.0.0.1:1');
    expect((err as Error).cause).toBeInstanceOf(CeleriacError);
    expect(state.calls).toBe(3);
    expect(warnings.map((w) => w.slice(-5))).toEqual(['(1/2)', '(2/2)']);
  });

  it('with retry off the first failure ends the start', async () => {
    const { state, connect } = failing(1);
    const err = await connectOnStartup(connect, options({ retry: false }).o).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/\(brokerConnectionRetryOnStartup is off\): connect ECONNREFUSED/);
    expect(state.calls).toBe(1);
  });

  it('a failure that is not the connection (a bad setting) is thrown at once', async () => {
    const { state, connect } = failing(1, () => new CeleriacError(ErrorCodes.CONFIG, 'bad option'));
    await expect(connectOnStartup(connect, options().o)).rejects.toMatchObject({ code: ErrorCodes.CONFIG });
    expect(state.calls).toBe(1);
  });

  it('stops waiting quietly when the worker is closed', async () => {
    const { state, connect } = failing(100);
    const abort = new AbortController();
    const { o, warnings } = options({ signal: abort.signal, intervals: { intervalStart: 60, intervalStep: 0, intervalMax: 60 } });
    const started = connectOnStartup(connect, o);
    await expect.poll(() => warnings.length).toBe(1);
    abort.abort();
    expect(await started).toBe(false);
    expect(state.calls).toBe(1);
  });
});
