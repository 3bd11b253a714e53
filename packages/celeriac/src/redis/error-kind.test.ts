import { describe, expect, it } from 'vitest';
import { ClientClosedError, ClientOfflineError, ConnectionTimeoutError, SocketClosedUnexpectedlyError } from 'redis';
import { CeleriacError, ErrorCodes } from '../errors.js';
import { failureState } from '../core/failure-state.js';
import { classifyRedisFailure, transientReply } from './error-kind.js';
import { toTransportError } from './client.js';
import { retryable } from '../brokers/redis/settlements.js';

const reply = (text: string) => Object.assign(new Error(text), { name: 'SimpleError' });
const socket = (code: string) => Object.assign(new Error(`connect ${code} 127.0.0.1:6379`), { code });

describe('Redis failure kinds', () => {
  it('server states that pass are transient, wrapped or not', () => {
    for (const text of ['LOADING Redis is loading the dataset in memory', 'BUSY Redis is busy running a script.', 'MASTERDOWN Link with MASTER is down', 'TRYAGAIN Multiple keys request during rehashing', "READONLY You can't write against a read only replica.", "OOM command not allowed when used memory > 'maxmemory'.", 'MISCONF Redis is configured to save RDB snapshots']) {
      expect(classifyRedisFailure(reply(text))).toBe('transient');
      expect(classifyRedisFailure(new CeleriacError(ErrorCodes.TRANSPORT, `Redis error during fetch: ${text}`, { cause: reply(text) }))).toBe('transient');
    }
  });

  it('transientReply names the refusal Redis sent, and is null for a connection that failed', () => {
    const oom = reply("OOM command not allowed when used memory > 'maxmemory'.");
    expect(transientReply(new CeleriacError(ErrorCodes.TRANSPORT, `Redis error during store: ${oom.message}`, { cause: oom }))).toBe('OOM');
    expect(transientReply(reply("READONLY You can't write against a read only replica."))).toBe('READONLY');
    expect(transientReply(socket('ECONNRESET'))).toBeNull();
    expect(transientReply(new SocketClosedUnexpectedlyError())).toBeNull();
    expect(transientReply(reply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBeNull();
    expect(transientReply('OOM')).toBeNull();
  });

  it('connection failures are transient', () => {
    expect(classifyRedisFailure(socket('ECONNREFUSED'))).toBe('transient');
    expect(classifyRedisFailure(new Error('could not connect within 300 ms', { cause: socket('ECONNRESET') }))).toBe('transient');
    expect(classifyRedisFailure(Object.assign(new Error('Socket closed unexpectedly'), { name: 'SocketClosedUnexpectedlyError' }))).toBe('transient');
    // node-redis's own classes, as it throws them: their `.name` is plain `Error`.
    for (const Class of [SocketClosedUnexpectedlyError, ClientOfflineError, ClientClosedError, ConnectionTimeoutError]) {
      const err = new Class();
      expect(err.name).toBe('Error');
      expect(classifyRedisFailure(err)).toBe('transient');
      expect(classifyRedisFailure(new CeleriacError(ErrorCodes.TRANSPORT, `Redis error during SUBSCRIBE x: ${err.message}`, { cause: err }))).toBe('transient');
    }
  });

  it('credentials, permissions and a database the server lacks are refused', () => {
    for (const text of ['WRONGPASS invalid username-password pair or user is disabled.', 'NOAUTH Authentication required.', "NOPERM User u has no permissions to run the 'config|get' command", 'ERR DB index is out of range', 'ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?']) {
      expect(classifyRedisFailure(reply(text))).toBe('refused');
    }
    expect(classifyRedisFailure(Object.assign(new Error('self-signed certificate'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }))).toBe('refused');
  });

  it('a reply no wait changes is final; an error that is not a reply is other, and free text that merely mentions a code is not read', () => {
    expect(classifyRedisFailure(reply('WRONGTYPE Operation against a key holding the wrong kind of value'))).toBe('final');
    expect(classifyRedisFailure(reply("ERR Error running script: user_script:1: OOM in the middle"))).toBe('final');
    expect(classifyRedisFailure(reply('ERR max number of clients reached'))).toBe('transient');
    expect(classifyRedisFailure(new Error('timed out after 1000 ms'))).toBe('other');
    expect(classifyRedisFailure(new Error('task said LOADING'))).toBe('other');
    expect(classifyRedisFailure('LOADING')).toBe('other');
  });

  it('toTransportError gives each kind its code: a refusal CONFIG, a final reply COMMAND_REFUSED, the rest TRANSPORT', () => {
    const refused = toTransportError(reply('NOPERM no permissions'), 'declare queue celery');
    expect(refused).toMatchObject({ code: ErrorCodes.CONFIG, message: 'Redis refused declare queue celery: NOPERM no permissions' });
    expect(toTransportError(reply('LOADING loading'), 'declare queue celery')).toMatchObject({ code: ErrorCodes.TRANSPORT });
    expect(toTransportError(new Error('timed out after 1000 ms'), 'ack')).toMatchObject({ code: ErrorCodes.TRANSPORT });
    const final = toTransportError(reply('WRONGTYPE k holds a string, not a list'), 'ack');
    expect(final).toMatchObject({ code: ErrorCodes.COMMAND_REFUSED, message: 'Redis error during ack: WRONGTYPE k holds a string, not a list' });
    // Classified once: wrapping again keeps the code.
    expect(toTransportError(final, 'ack again')).toBe(final);
  });

  it('a settlement is retried on TRANSPORT alone, by its code', () => {
    expect(retryable(toTransportError(reply("READONLY You can't write against a read only replica."), 'ack'))).toBe(true);
    expect(retryable(toTransportError(socket('ECONNRESET'), 'ack'))).toBe(true);
    expect(retryable(toTransportError(reply('WRONGTYPE k holds a string'), 'ack'))).toBe(false);
    expect(retryable(toTransportError(reply('ERR Error running script'), 'ack'))).toBe(false);
    expect(retryable(toTransportError(reply('NOPERM no permissions'), 'ack'))).toBe(false);
    // The reply text is not read again: a TRANSPORT error whose message says WRONGTYPE is retried.
    expect(retryable(new CeleriacError(ErrorCodes.TRANSPORT, 'WRONGTYPE said the proxy'))).toBe(true);
  });
});

describe('failure states', () => {
  it('names a failure by its reply code, its socket code, or its class; never by a message that changes', () => {
    expect(failureState(new CeleriacError(ErrorCodes.TRANSPORT, 'Redis error during fetch from a: OOM x', { cause: reply('OOM x') }))).toBe('OOM');
    expect(failureState(new Error('could not connect within 300 ms: connect ECONNREFUSED', { cause: socket('ECONNREFUSED') }))).toBe('ECONNREFUSED');
    expect(failureState(Object.assign(new Error('Socket closed unexpectedly'), { name: 'SocketClosedUnexpectedlyError' }))).toBe('SocketClosedUnexpectedlyError');
    expect(failureState(new Error('timed out after 1234 ms'))).toBe(failureState(new Error('timed out after 99 ms')));
    const loop = new Error('a') as Error & { cause?: unknown };
    loop.cause = loop;
    expect(failureState(loop)).toBe('a');
  });

  it('names a socket code written in a message by it: node-redis\'s Sentinel client emits strings', () => {
    // Its sentinel connection's failure, a second after its master connection's: one outage.
    expect(failureState('obseve client error: Error: connect ECONNREFUSED 10.0.0.5:26379')).toBe('ECONNREFUSED');
    expect(failureState(new Error('obseve client error: Error: connect ECONNREFUSED 10.0.0.5:26379'))).toBe(failureState(socket('ECONNREFUSED')));
    // Any error written after a prefix is that error's state: the socket closing, as node-redis also emits it as an Error.
    expect(failureState('obseve client error: Error: Socket closed unexpectedly')).toBe(failureState(new Error('Socket closed unexpectedly')));
    expect(failureState(new Error('getaddrinfo EAI_AGAIN sentinel-1'))).toBe('EAI_AGAIN');
    // A command's name is not a socket code.
    expect(failureState(new Error('Redis error during EVALSHA of fetch: timed out after 5 s'))).toBe('Redis error during EVALSHA of fetch: timed out after # s');
  });
});
