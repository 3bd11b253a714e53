import { describe, expect, it } from 'vitest';
import { createApp } from '../create-app.js';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { MemoryBroker } from '../brokers/memory/memory-broker.js';
import { chain, chord, group } from '../canvas/primitives.js';

const app = () => createApp({}, { broker: new MemoryBroker(), backend: new MemoryBackend() });

describe('strict task options', () => {
  it("an unknown task option is an error at definition, with Celeriac's spelling of a Celery name", () => {
    const a = app();
    expect(() => a.task('t.a', { max_retries: 3 } as never, () => 1)).toThrow(/Task "t\.a": unknown option "max_retries"\. Did you mean maxRetries\?/);
    expect(() => a.task('t.b', { acks_late: true } as never, () => 1)).toThrow(/Did you mean acksLate\?/);
    expect(() => a.task('t.c', { onFailed: () => 1 } as never, () => 1)).toThrow(/unknown option "onFailed"\. Known: .*acksLate/);
    expect(() => a.task('t.c2', { on_failure: () => 1 } as never, () => 1)).toThrow(/Did you mean onFailure\?/);
    expect(() => a.task('t.d', { base: class {} } as never, () => 1)).toThrow(/Celery's option "base" has no Celeriac equivalent: a task is a function/);
  });

  it("names what to do for each Celery 5.6 task option Celeriac has no key for (Celery's Task attributes, camelCased)", () => {
    const a = app();
    const reasons: [string, RegExp][] = [
      ['retryKwargs', /maxRetries, defaultRetryDelaySec, retryBackoff/], ['trail', /children are always stored/], ['autoregister', /app\.task registers/],
      ['abstract', /not a class/], ['requestStack', /ctx\.request/], ['resultreprMaxsize', /1024 characters/], ['storeEagerResult', /EagerResult only/],
      ['shadowName', /shadow/], ['pydantic', /option schema/], ['pydanticStrict', /option schema/], ['pydanticContext', /option schema/], ['pydanticDumpKwargs', /option schema/],
    ];
    for (const [name, reason] of reasons) {
      expect(() => a.task(`t.${name}`, { [name]: true } as never, () => 1), name).toThrow(new RegExp(`Celery's option "${name}" has no Celeriac equivalent: .*${reason.source}`));
    }
    expect(() => a.task('t.dont', { autoretryFor: [Error], dontAutoretryFor: 'TypeError' } as never, () => 1)).toThrow(/dontAutoretryFor must be a list of error classes/);
  });

  it("serializer: 'json' only; task-level expires applies to calls that set none", async () => {
    const a = app();
    expect(() => a.task('t.p', { serializer: 'pickle' } as never, () => 1)).toThrow(/serializer "pickle" is not supported: Celeriac sends JSON only/);
    const t = a.task('t.e', { serializer: 'json', expires: 60 }, () => 1);
    const sent: { expires: string | null }[] = [];
    const broker = a.broker as MemoryBroker;
    const publish = broker.publish.bind(broker);
    broker.publish = (message, options) => {
      sent.push({ expires: (message as unknown as { headers: { expires: string | null } }).headers.expires });
      return publish(message, options);
    };
    await t.delay();
    await t.applyAsync([], { expires: 5 });
    const [own, call] = sent.map((s) => Date.parse(s.expires ?? '') - Date.now());
    expect(own).toBeGreaterThan(50_000);
    expect(call).toBeLessThanOrEqual(5_000);
    expect(() => a.task('t.x', { expires: -1 }, () => 1)).toThrow(/expires must be a finite number of seconds >= 0/);
  });
});

describe('strict call options', () => {
  it('an unknown call option is an error at send time, with a suggestion; nothing is sent', async () => {
    const a = app();
    const t = a.task('t.add', (x: number, y: number) => x + y);
    await expect(t.applyAsync([1, 2], { task_id: 'x' } as never)).rejects.toThrow(/call of t\.add: unknown option "task_id"\. Did you mean taskId\?/);
    await expect(a.sendTask('t.add', [1, 2], {}, { routing_key: 'q' } as never)).rejects.toThrow(/Did you mean routingKey\?/);
    await expect(t.applyAsync([1, 2], { retry_policy: { max_retries: 3 } } as never)).rejects.toThrow(/unknown option "retry_policy"\. Did you mean retryPolicy\?/);
    await expect(t.applyAsync([1, 2], { retryPolicy: { max_retry: 3 } } as never)).rejects.toThrow(/retryPolicy has an unknown field "max_retry"/);
    await expect(t.applyAsync([1, 2], { retryPolicy: { intervalMax: -1 } })).rejects.toThrow(/intervalMax must be a number >= 0/);
    await expect(t.applyAsync([1, 2], { serializer: 'yaml' } as never)).rejects.toThrow(/serializer "yaml" is not supported/);
    expect(await a.broker.queueLength('celery')).toBe(0);
    await t.applyAsync([1, 2], { serializer: 'json' });
    expect(await a.broker.queueLength('celery')).toBe(1);
  });

  it('a call option of the wrong type is an error naming it, as from untyped JavaScript or JSON; nothing is sent', async () => {
    const a = app();
    const t = a.task('t.add', (x: number, y: number) => x + y);
    const wrong: [Record<string, unknown>, string][] = [
      [{ taskId: 5 }, 'taskId must be a non-empty string, got 5'],
      [{ taskId: '' }, 'taskId must be a non-empty string, got ""'],
      [{ shadow: {} }, 'shadow must be a non-empty string, got an object'],
      [{ rootId: 7 }, 'rootId must be a non-empty string, got 7'],
      [{ parentId: true }, 'parentId must be a non-empty string, got true'],
      [{ groupId: ['g'] }, 'groupId must be a non-empty string, got an array'],
      [{ taskId: 'x'.repeat(1025) }, 'taskId must be an id of at most 1024 characters, got 1025'],
      [{ rootId: 'x'.repeat(10_000_000) }, 'rootId must be an id of at most 1024 characters, got 10000000'],
      [{ groupIndex: -1 }, 'groupIndex must be an integer >= 0, got -1'],
      [{ retries: 1.5 }, 'retries must be an integer >= 0, got 1.5'],
      [{ routingKey: 1 }, 'routingKey must be a string, got 1'],
      [{ exchange: null, replyTo: 2 }, 'replyTo must be a string, got 2'],
      [{ ignoreResult: 'yes' }, 'ignoreResult must be true or false, got "yes"'],
      [{ addToParent: 0 }, 'addToParent must be true or false, got 0'],
      [{ headers: 'x-a' }, 'headers must be an object of header names and values, got "x-a"'],
      [{ headers: [1] }, 'headers must be an object of header names and values, got an array'],
      [{ link: 'proj.next' }, 'link must be a signature or a list of signatures, got "proj.next"'],
      [{ linkError: [t.s(1, 1), { args: [] }] }, 'linkError must be a signature or a list of signatures, got an array'],
      [{ chain: { task: 'x' } }, 'chain must be a list of signature dicts, got an object'],
      [{ chord: 'body' }, 'chord must be a signature dict, got "body"'],
    ];
    for (const [options, message] of wrong) await expect(t.applyAsync([1, 2], options as never), JSON.stringify(options)).rejects.toThrow(`call of t.add: ${message}`);
    expect(await a.broker.queueLength('celery')).toBe(0);
    // None where Celery takes it, and the right types, pass.
    await t.applyAsync([1, 2], { taskId: 'x'.repeat(1024) });
    await t.applyAsync([1, 2], { taskId: null, shadow: null, groupIndex: null, ignoreResult: null, headers: { 'x-a': 1 }, link: [t.s(1)], linkError: null, routingKey: '' } as never);
    expect(await a.broker.queueLength('celery')).toBe(2);
  });

  it('call options that are not an object are refused by every way of sending; null is none, as Celery takes None', async () => {
    const a = app();
    const t = a.task('t.add', (x: number, y: number) => x + y);
    const wrong: [unknown, string][] = [
      [5, 'got number'],
      ['queue', 'got string'],
      [[{ queue: 'q' }], 'got an array'],
      [() => 1, 'got function'],
    ];
    for (const [options, got] of wrong) {
      const message = `call of t.add: the call options must be an object, ${got}`;
      await expect(a.sendTask('t.add', [1, 2], {}, options as never), String(options)).rejects.toThrow(message);
      await expect(t.applyAsync([1, 2], options as never), String(options)).rejects.toThrow(message);
      await expect(t.applyAsyncMany([[1, 2]], options as never), String(options)).rejects.toThrow(message);
      await expect(a.sendTasks([{ name: 't.add', args: [1, 2], options: options as never }]), String(options)).rejects.toThrow(message);
    }
    expect(await a.broker.queueLength('celery')).toBe(0);
    await a.sendTask('t.add', [1, 2], {}, null as never);
    await t.applyAsync([1, 2], null as never);
    await t.applyAsyncMany([[1, 2]], null as never);
    await a.sendTasks([{ name: 't.add', args: [1, 2], options: null as never }]);
    expect(await a.broker.queueLength('celery')).toBe(4);
  });

  it('a task name that is not a non-empty string is refused at send, as at definition; nothing is sent', async () => {
    const a = app();
    for (const [name, got] of [['', '""'], [5, '5'], [undefined, 'undefined'], [null, 'null']] as const) {
      await expect(a.sendTask(name as never, []), String(name)).rejects.toThrow(`send: the task name must be a non-empty string, got ${got}`);
      await expect(a.sendTasks([{ name: name as never, args: [] }]), String(name)).rejects.toThrow('the task name must be a non-empty string');
      expect(() => a.task(name as never, () => 1), String(name)).toThrow('a task needs a non-empty string name');
    }
    expect(await a.broker.queueLength('celery')).toBe(0);
    // Any other string is a name, as in Celery.
    await a.sendTask('proj.tasks.add', []);
    expect(await a.broker.queueLength('celery')).toBe(1);
  });

  it("a signature's set, link, linkError and freeze check what they are given, as a call does", () => {
    const a = app();
    const t = a.task('t.add', (x: number, y: number) => x + y);
    const sig = t.s(1, 2);
    // Before: set(5), an unknown name, link(5), linkError('x') and freeze(5) made signatures
    // whose messages every worker fails on or whose option is lost; set(null) threw a TypeError.
    expect(() => sig.set(5 as never)).toThrow('t.add.set(): the call options must be an object, got number');
    expect(() => sig.set({ queu: 'x' } as never)).toThrow(/t\.add\.set\(\): unknown option "queu"\. Known: .*queue/);
    expect(() => sig.set({ retries: -1 })).toThrow('t.add.set(): retries must be an integer >= 0, got -1');
    expect(() => sig.link(5 as never)).toThrow('t.add.link(): give a signature (task.s(...)) or a signature dict, got number');
    expect(() => sig.linkError('x' as never)).toThrow('t.add.linkError(): give a signature (task.s(...)) or a signature dict, got string');
    expect(() => sig.freeze(5 as never)).toThrow('t.add.freeze(): a task id must be a non-empty string, got 5');
    expect(sig.set(null as never).toDict().options).toEqual(sig.toDict().options);
    expect(sig.set({ queue: 'q' }).link(t.s(3)).linkError({ task: 'x', args: [], kwargs: {}, options: {}, subtask_type: null, immutable: false }).freeze('id-1').id).toBe('id-1');
  });

  it('so are those of a signature, a chain, a group and a chord', async () => {
    const a = app();
    const t = a.task('t.add', (x: number, y: number) => x + y);
    const total = a.task('t.total', (xs: number[]) => xs.reduce((x, y) => x + y, 0));
    const sends: [string, (options: unknown) => Promise<unknown>][] = [
      ['t.add', (o) => t.s(1, 2).applyAsync([], o as never)],
      ['a chain', (o) => chain(t.s(1, 2), t.s(3)).applyAsync([], o as never)],
      ['a group', (o) => group(t.s(1, 2), t.s(3, 4)).applyAsync([], o as never)],
      ['a chord', (o) => chord([t.s(1, 2), t.s(3, 4)], total.s()).applyAsync([], o as never)],
    ];
    for (const [what, send] of sends) {
      await expect(send(7), what).rejects.toThrow(`call of ${what}: the call options must be an object, got number`);
      await expect(send([]), what).rejects.toThrow(`call of ${what}: the call options must be an object, got an array`);
    }
    expect(await a.broker.queueLength('celery')).toBe(0);
    for (const [, send] of sends) await send(null);
    // One message for the signature and the chain's first step, two for each group header.
    expect(await a.broker.queueLength('celery')).toBe(6);
  });

  it('every options object of a bulk send is checked, shared or not, and one the send skips as empty must be a plain one', async () => {
    const a = app();
    const t = a.task('t.add', (x: number, y: number) => x + y);
    const shared = { queue: 'math' };
    // The shared object is checked once; a second, bad one after it is still refused, and nothing is sent.
    await expect(a.sendTasks([{ name: 't.add', args: [1, 2], options: shared }, { name: 't.add', args: [1, 2], options: shared }, { name: 't.add', args: [3, 4], options: { retries: -1 } }])).rejects.toThrow(
      'call of t.add: retries must be an integer >= 0, got -1',
    );
    await expect(t.applyAsyncMany([[1, 2], [3, 4]], { groupIndex: 'x' } as never)).rejects.toThrow('call of t.add: groupIndex must be an integer >= 0, got "x"');
    // Not a plain object: its inherited values are options too, so it is checked though it has no keys of its own.
    const inherited = Object.create({ ignoreResult: 'yes' }) as object;
    await expect(a.sendTask('t.add', [1, 2], {}, inherited as never)).rejects.toThrow('call of t.add: ignoreResult must be true or false, got "yes"');
    await expect(a.sendTasks([{ name: 't.add', args: [1, 2], options: inherited as never }])).rejects.toThrow('ignoreResult must be true or false');
    expect(await a.broker.queueLength('celery')).toBe(0);
    expect(await a.broker.queueLength('math')).toBe(0);
    await t.applyAsyncMany([[1, 2], [3, 4]], shared);
    expect(await a.broker.queueLength('math')).toBe(2);
  });
});
