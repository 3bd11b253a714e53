import { describe, expect, it } from 'vitest';
import { UsageError } from './io.js';
import { REMOTE_COMMANDS, compileArguments, remoteCommands } from './remote-commands.js';

const get = (kind: 'inspect' | 'control', name: string) => remoteCommands(kind).get(name)!;

describe('remote command table', () => {
  it('has the inspect and control commands of Celery 5.2.6, each once', () => {
    expect([...remoteCommands('inspect').keys()]).toEqual([
      'active', 'active_queues', 'clock', 'conf', 'memdump', 'memsample', 'objgraph', 'ping', 'query_task', 'registered', 'report', 'reserved', 'revoked', 'scheduled', 'stats',
    ]);
    expect([...remoteCommands('control').keys()]).toEqual([
      'add_consumer', 'autoscale', 'cancel_consumer', 'disable_events', 'election', 'enable_events', 'heartbeat', 'pool_grow', 'pool_restart', 'pool_shrink', 'rate_limit', 'revoke', 'shutdown', 'terminate', 'time_limit',
    ]);
    expect(new Set(REMOTE_COMMANDS.map((c) => c.name)).size).toBe(REMOTE_COMMANDS.length);
  });
});

describe('compileArguments', () => {
  it('maps positional arguments to keywords in order, converting types', () => {
    expect(compileArguments(get('control', 'rate_limit'), ['tasks.add', '10/m'])).toEqual({ task_name: 'tasks.add', rate_limit: '10/m' });
    expect(compileArguments(get('control', 'time_limit'), ['tasks.add', '5', '10.5'])).toEqual({ task_name: 'tasks.add', soft: 5, hard: 10.5 });
    expect(compileArguments(get('control', 'autoscale'), ['10', '+2'])).toEqual({ max: 10, min: 2 });
    expect(compileArguments(get('inspect', 'conf'), ['yes'])).toEqual({ with_defaults: true });
    expect(compileArguments(get('inspect', 'conf'), ['OFF'])).toEqual({ with_defaults: false });
  });

  it('sends fewer arguments than declared as they are (the worker decides)', () => {
    expect(compileArguments(get('control', 'rate_limit'), [])).toEqual({});
    expect(compileArguments(get('control', 'pool_grow'), [])).toEqual({});
  });

  it('gives the rest to the variadic keyword, always as a list', () => {
    expect(compileArguments(get('control', 'revoke'), ['a', 'b'])).toEqual({ task_id: ['a', 'b'] });
    expect(compileArguments(get('control', 'terminate'), ['SIGKILL', 'a'])).toEqual({ signal: 'SIGKILL', task_id: ['a'] });
    expect(compileArguments(get('inspect', 'registered'), [])).toEqual({ taskinfoitems: [] });
    expect(compileArguments(get('inspect', 'query_task'), ['x'])).toEqual({ ids: ['x'] });
  });

  it('rejects extra arguments and values of the wrong type as usage errors', () => {
    expect(() => compileArguments(get('control', 'rate_limit'), ['a', 'b', 'c'])).toThrow(new UsageError('Command "rate_limit" takes arguments: <task_name> <rate_limit (e.g., 5/s | 5/m | 5/h)>'));
    expect(() => compileArguments(get('inspect', 'ping'), ['x'])).toThrow(UsageError);
    expect(() => compileArguments(get('control', 'autoscale'), ['abc'])).toThrow(/max must be an integer/);
    expect(() => compileArguments(get('control', 'autoscale'), ['1.5'])).toThrow(/integer/);
    expect(() => compileArguments(get('control', 'time_limit'), ['t', 'soon'])).toThrow(/soft must be a number/);
    expect(() => compileArguments(get('inspect', 'conf'), ['maybe'])).toThrow(/boolean/);
  });
});
