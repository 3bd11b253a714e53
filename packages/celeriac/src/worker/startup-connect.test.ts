/**
 * Connection retry on worker start (Celery's broker_connection_retry_on_startup and
 * broker_connection_max_retries) with a connect that fails a given number of times. Against a
 * real redis-server started after the worker: test/failure/worker-start-before-broker.test.ts.
 */
import { describe, expect, it, vi } from 'vitest';
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
  const lines: { level: string; fields: object; msg: string }[] = [];
  const at = (level: string) => (fields: object, msg: string) => void lines.push({ level, fields, msg });
  const o: StartupConnectOptions = {
    what: 'broker', url: 'redis://127.0.0.1:1/0', retry: true, maxRetries: null,
    signal: new AbortController().signal, log: { warn: at('warn'), info: at('info'), debug: at('debug') }, intervals: FAST, ...over,
  };
  const warnings = () => lines.filter((l) => l.level === 'warn').map((l) => l.msg);
  return { o, warnings, lines };
}

describe('connection retry on worker start', () => {
  it('backs off as kombu: 2 s, 2 s more each time, at most 30 s', () => {
    expect([0, 1, 2, 13, 14, 50].map((n) => startupRetryDelaySec(n))).toEqual([2, 4, 6, 28, 30, 30]);
  });

  it('keeps trying until the broker answers: one warning per state, the rest at debug, one line once connected', async () => {
    const { state, connect } = failing(5);
    const { o, warnings, lines } = options();
    expect(await connectOnStartup(connect, o)).toBe(true);
    expect(state.calls).toBe(6);
    expect(warnings()).toHaveLength(1);
    expect(warnings()[0]).toBe('Cannot connect to broker redis://127.0.0.1:1/0: connect ECONNREFUSED 127.0.0.1:1. Trying again in 0.01 seconds... (1)');
    expect(lines.map((l) => l.level)).toEqual(['warn', 'debug', 'debug', 'debug', 'debug', 'info']);
    expect(lines[0]?.fields).toMatchObject({ attempt: 1, retryAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/) as unknown });
    expect(lines.at(-1)?.msg).toBe('Connected to broker redis://127.0.0.1:1/0 after 6 attempts.');
    // No error object in any line: pino would print its stack every attempt.
    for (const l of lines) expect(l.fields).not.toHaveProperty('err');
  });

  it('says why while an attempt is still on, as soon as the broker knows it; its failure in the same state then goes to debug', async () => {
    // A Redis attempt waits up to connectTimeoutMs (10 s) before it fails: the worker said
    // nothing meanwhile, where Celery says it at once.
    let fail!: (error: Error) => void;
    let attempts = 0;
    const connect = () => {
      attempts++;
      return attempts === 1 ? new Promise<void>((_resolve, reject) => (fail = reject)) : Promise.resolve();
    };
    let problem: string | null = null;
    const { o, lines } = options({ problem: () => problem });
    vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
    let connected: Promise<boolean>;
    try {
      connected = connectOnStartup(connect, o);
      await vi.advanceTimersByTimeAsync(1000);
      expect(lines).toEqual([]);
      problem = 'connect ECONNREFUSED 127.0.0.1:1';
      await vi.advanceTimersByTimeAsync(100);
      // Said once, not at every look.
      await vi.advanceTimersByTimeAsync(1000);
    } finally {
      vi.useRealTimers();
    }
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatchObject({ level: 'warn', msg: 'Cannot connect to broker redis://127.0.0.1:1/0: connect ECONNREFUSED 127.0.0.1:1. Still trying...', fields: { state: 'ECONNREFUSED', attempt: 1 } });
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    fail(new CeleriacError(ErrorCodes.TRANSPORT, 'Redis error during connect: could not connect within 10000 ms: connect ECONNREFUSED 127.0.0.1:1', { cause: refused }));
    expect(await connected).toBe(true);
    expect(lines.map((l) => l.level)).toEqual(['warn', 'debug', 'info']);
  });

  it('logs again when the failure changes state (refused, then LOADING, then OOM)', async () => {
    const replies = ['connect ECONNREFUSED 127.0.0.1:1', 'connect ECONNREFUSED 127.0.0.1:1', 'LOADING Redis is loading the dataset in memory', 'LOADING Redis is loading the dataset in memory', 'OOM command not allowed'];
    let calls = 0;
    const connect = async () => {
      const text = replies[calls++];
      if (text !== undefined) throw new CeleriacError(ErrorCodes.TRANSPORT, `Redis error during declare queue celery: ${text}`, { cause: Object.assign(new Error(text), text.startsWith('connect') ? { code: 'ECONNREFUSED' } : {}) });
    };
    const { o, lines } = options();
    expect(await connectOnStartup(connect, o)).toBe(true);
    expect(lines.map((l) => `${l.level} ${(l.fields as { state?: string }).state ?? ''}`)).toEqual(['warn ECONNREFUSED', 'debug ECONNREFUSED', 'warn LOADING', 'debug LOADING', 'warn OOM', 'info ']);
  });

  it('the retry delays keep growing to the cap', async () => {
    const { connect } = failing(6);
    const { o, lines } = options({ intervals: { intervalStart: 0.001, intervalStep: 0.002, intervalMax: 0.006 } });
    await connectOnStartup(connect, o);
    expect(lines.filter((l) => l.level !== 'info').map((l) => /in ([\d.]+) seconds/.exec(l.msg)?.[1])).toEqual(['0.00', '0.00', '0.01', '0.01', '0.01', '0.01']);
    expect([0, 1, 2, 3, 4].map((n) => startupRetryDelaySec(n, { intervalStart: 0.001, intervalStep: 0.002, intervalMax: 0.006 }))).toEqual([0.001, 0.003, 0.005, 0.006, 0.006]);
  });

  it('fails with the URL, the attempts and the cause once maxRetries is spent', async () => {
    const { state, connect } = failing(100);
    const { o, lines } = options({ maxRetries: 2 });
    const err = await connectOnStartup(connect, o).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: ErrorCodes.TRANSPORT });
    expect((err as Error).message).toBe('Cannot connect to broker redis://127.0.0.1:1/0 after 3 attempts (brokerConnectionMaxRetries 2): connect ECONNREFUSED 127.0.0.1:1');
    expect((err as Error).cause).toBeInstanceOf(CeleriacError);
    expect(state.calls).toBe(3);
    expect(lines.map((l) => `${l.level} ${l.msg.slice(-5)}`)).toEqual(['warn (1/2)', 'debug (2/2)']);
  });

  it('with retry off the first failure ends the start', async () => {
    const { state, connect } = failing(1);
    const err = await connectOnStartup(connect, options({ retry: false }).o).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/\(brokerConnectionRetryOnStartup is off\): connect ECONNREFUSED/);
    expect(state.calls).toBe(1);
  });

  it('a refusal (CONFIG: WRONGPASS, NOPERM...) is thrown at once, unchanged', async () => {
    const refused = new CeleriacError(ErrorCodes.CONFIG, 'Redis refused connect: WRONGPASS invalid username-password pair');
    const { state, connect } = failing(5, () => refused);
    const { o, lines } = options();
    await expect(connectOnStartup(connect, o)).rejects.toBe(refused);
    expect(state.calls).toBe(1);
    expect(lines).toEqual([]);
  });

  it('a close ends the wait at once, even with an attempt in flight', async () => {
    const abort = new AbortController();
    let calls = 0;
    const connect = () => {
      calls++;
      return new Promise<void>(() => undefined);
    };
    const started = connectOnStartup(connect, options({ signal: abort.signal }).o);
    await expect.poll(() => calls).toBe(1);
    abort.abort();
    expect(await started).toBe(false);
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
    await expect.poll(() => warnings().length).toBe(1);
    abort.abort();
    expect(await started).toBe(false);
    expect(state.calls).toBe(1);
  });
});
