/**
 * Canvas as sent: the signature dicts and call options a chain, group and chord produce
 * (docs/protocol.md §1.6-§1.7), checked on a recording host, plus compile-time typing.
 */
import { describe, expect, expectTypeOf, it } from 'vitest';
import { MemoryBackend } from '../backends/memory/memory-backend.js';
import { AsyncResult } from '../core/async-result.js';
import { GroupResult } from '../core/group-result.js';
import type { ApplyOptions } from '../core/call-options.js';
import { createTestApp } from '../testing/test-app.js';
import type { Json, JsonObject, SignatureDict } from '../protocol/types.js';
import type { CanvasHost } from './host.js';
import { chunks, map, starmap } from './map.js';
import { chain, Chain, chord, group, Group, MAX_CANVAS_DEPTH, signature } from './primitives.js';

interface Sent {
  name: string;
  args: readonly Json[];
  kwargs: JsonObject;
  options: ApplyOptions;
}

function recordingHost() {
  const { app } = createTestApp();
  const sent: Sent[] = [];
  const backend = new MemoryBackend();
  const host: CanvasHost = {
    settings: { resultExpiresSec: 60, taskAlwaysEager: false },
    clock: app.clock,
    log: app.log,
    backend,
    broker: app.broker,
    revokeExpiresSec: 60,
    replyTo: 'client-reply-queue',
    asyncResult: (id: string) => new AsyncResult(id, host),
    groupResult: (id, results) => new GroupResult(id, results, host),
    sendTask: async (name, args, kwargs, options) => {
      sent.push({ name, args, kwargs, options });
      return new AsyncResult(options.taskId ?? `generated-${sent.length}`, host);
    },
  };
  return { app, host, sent, backend };
}

function typed(host: CanvasHost) {
  const { app } = createTestApp();
  const add = app.task('t.add', (x: number, y: number) => x + y);
  const tsum = app.task('t.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
  const upper = app.task('t.upper', (text: string) => text.toUpperCase());
  const bind = <T extends { bind(h: CanvasHost): T }>(s: T) => s.bind(host);
  return { add, tsum, upper, bind };
}

describe('signatures', () => {
  it('serialize as Celery signature dicts; set, link, linkError and clone never mutate', () => {
    const { app } = createTestApp();
    const add = app.task('t.add', (x: number, y: number) => x + y);
    const base = add.s(2);
    const changed = base.set({ queue: 'q', countdown: 3 }).link(add.s(1)).linkError(add.si(0, 0));
    expect(base.toDict()).toEqual({ task: 't.add', args: [2], kwargs: {}, options: {}, subtask_type: null, immutable: false });
    expect(changed.toDict().options).toEqual({
      queue: 'q',
      countdown: 3,
      link: [{ task: 't.add', args: [1], kwargs: {}, options: {}, subtask_type: null, immutable: false }],
      link_error: [{ task: 't.add', args: [0, 0], kwargs: {}, options: {}, subtask_type: null, immutable: true }],
    });
    const frozen = base.freeze();
    expect(frozen.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(frozen.freeze().id).toBe(frozen.id);
    expect(base.id).toBeNull();
    expect(base.clone({ args: [7] }).args).toEqual([7]);
  });
});

describe('chain as sent', () => {
  it('publishes only the first task, the rest reversed in embed.chain with ids assigned up front', async () => {
    const { host, sent } = recordingHost();
    const { add, bind } = typed(host);
    const r = await bind(chain(add.s(1, 2), add.s(10), add.si(100, 200))).applyAsync();
    expect(sent).toHaveLength(1);
    const first = sent[0] as Sent;
    expect(first.name).toBe('t.add');
    expect(first.args).toEqual([1, 2]);
    const rest = first.options.chain as SignatureDict[];
    expect(rest.map((s) => [s.args, s.immutable])).toEqual([
      [[100, 200], true],
      [[10], false],
    ]);
    for (const s of rest) expect(s.options['task_id']).toMatch(/^[0-9a-f-]{36}$/);
    // The result handle is the last step's, its parents the earlier steps'.
    expect(r.id).toBe(rest[0]?.options['task_id']);
    expect(r.parent?.id).toBe(rest[1]?.options['task_id']);
    expect(r.parent?.parent?.id).toBe(first.options.taskId);
  });

  it('turns group | step into a chord (celery.chord dict) and gives the chain errbacks to every step', async () => {
    const { host, sent } = recordingHost();
    const { add, tsum, bind } = typed(host);
    const onError = add.si(0, 0);
    await bind(chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s())).applyAsync([], { linkError: onError });
    const rest = sent[0]?.options.chain as SignatureDict[];
    expect(rest).toHaveLength(1);
    const ch = rest[0] as SignatureDict;
    expect(ch.task).toBe('celery.chord');
    expect(ch.subtask_type).toBe('chord');
    const kw = ch.kwargs as { header: SignatureDict; body: SignatureDict; kwargs: JsonObject };
    expect(kw.header.task).toBe('celery.group');
    expect(kw.body.task).toBe('t.tsum');
    // As Celery 5.2.6 freezes it: the chord's task_id is its header's group id; the body keeps its own.
    expect(ch.options['task_id']).toBe(kw.header.options['task_id']);
    expect(kw.body.options['task_id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(kw.body.options['task_id']).not.toBe(ch.options['task_id']);
    expect(sent[0]?.options.linkError).toEqual([onError.toDict()]);
    // The chain's errback reaches the body once (Celery skips one already there).
    expect(kw.body.options['link_error']).toEqual([onError.toDict()]);
  });
});

describe('group and chord as sent', () => {
  it('a group sends one message per member with the group id and no group_index', async () => {
    const { host, sent } = recordingHost();
    const { add, bind } = typed(host);
    const g = await bind(group(add.s(1, 1), group(add.s(2, 2), add.s(3, 3)))).applyAsync();
    expect(sent).toHaveLength(3);
    for (const s of sent) {
      expect(s.options.groupId).toBe(g.id);
      expect(s.options.groupIndex).toBeUndefined();
    }
    expect(g.ids).toHaveLength(3);
  });

  it('a chord stores its size first, then sends the header with group_index and the body in embed.chord', async () => {
    const { host, sent, backend } = recordingHost();
    const { add, tsum, bind } = typed(host);
    const r = await bind(chord([add.s(1, 1), chain(add.s(2, 2), add.s(1))], tsum.s())).applyAsync();
    expect(sent.map((s) => s.options.groupIndex)).toEqual([0, undefined]);
    const gid = sent[0]?.options.groupId as string;
    expect(sent[1]?.options.groupId).toBeUndefined(); // a chain member: the group id rides on its last step
    const lastStep = (sent[1]?.options.chain as SignatureDict[])[0] as SignatureDict;
    expect(lastStep.options['group_id']).toBe(gid);
    expect(lastStep.options['group_index']).toBe(1);
    expect((sent[0]?.options.chord as SignatureDict).options['task_id']).toBe(r.id);
    // The size was stored: one more part completes the join.
    await backend.addChordPart(gid, { taskId: 'a', state: 'SUCCESS', result: 2, index: 0 }, { expiresSec: 60 });
    const done = await backend.addChordPart(gid, { taskId: 'b', state: 'SUCCESS', result: 5, index: 1 }, { expiresSec: 60 });
    expect(done.parts?.map((p) => p.result)).toEqual([2, 5]);
  });
});

describe('hostile canvases', () => {
  const invalid = (message: RegExp) => expect.objectContaining({ code: 'CELERIAC_ERR_INVALID_ARGUMENT', message: expect.stringMatching(message) as unknown });

  it('refuses members that are not signatures when built, naming the place', () => {
    const { host } = recordingHost();
    const { add } = typed(host);
    expect(() => group(5 as never)).toThrow(invalid(/^group: member 0 is not a signature, got 5$/));
    expect(() => group(null as never)).toThrow(invalid(/^group: member 0 is not a signature, got null$/));
    expect(() => group([add.s(1, 2), 'add' as never])).toThrow(invalid(/^group: member 1 is not a signature, got "add"$/));
    expect(() => new Group(5 as never)).toThrow(invalid(/^group takes a list of signatures, got 5$/));
    expect(() => chain(add.s(1, 2), [] as never)).toThrow(invalid(/^chain: member 1 is not a signature, got an array$/));
    expect(() => new Chain({} as never)).toThrow(invalid(/^chain takes a list of signatures, got an object$/));
    expect(() => chord(5 as never, add.s(1))).toThrow(invalid(/^chord header takes a list of signatures, got 5$/));
    expect(() => chord([add.s(1, 2)], 5 as never)).toThrow(invalid(/^chord body must be a signature, got 5$/));
    expect(() => map(add, 5 as never)).toThrow(invalid(/^map: items must be a list, got 5$/));
    expect(() => map(5 as never, [1])).toThrow(invalid(/^map: the task must be a task or a signature, got 5$/));
    expect(() => starmap(add, [[1, 2], 3] as never)).toThrow(invalid(/^starmap: item 1 must be a list of arguments, got 3$/));
    expect(() => chunks(add, 'ab' as never, 1)).toThrow(invalid(/^chunks: items must be a list, got "ab"$/));
    // A signature dict is a member too, as Celery's dicts are.
    expect(group([{ task: 't.add', args: [1, 2], kwargs: {}, options: {} } as never]).tasks).toHaveLength(1);
  });

  it('an empty group or chain without an app says it is empty and how to give it one; bound, the group sends nothing and the chain is refused', async () => {
    const { host } = recordingHost();
    const state = (message: string) => expect.objectContaining({ code: 'CELERIAC_ERR_STATE', message });
    await expect(group([]).applyAsync()).rejects.toEqual(state('group has no app: it is empty, so no signature gives one: call .bind(app) first'));
    await expect(chain().applyAsync()).rejects.toEqual(state('chain has no app: it is empty, so no signature gives one: call .bind(app) first'));
    const empty = await group([]).bind(host).applyAsync();
    expect(empty.results).toEqual([]);
    await expect(chain().bind(host).applyAsync()).rejects.toMatchObject({ message: 'cannot send an empty chain' });
  });

  it('splices a plain chain or group built in a loop, so 5,000 steps stay one level deep and send', async () => {
    const { host, sent } = recordingHost();
    const { add, bind } = typed(host);
    let c = chain(add.s(0, 0));
    for (let i = 0; i < 5000; i++) c = chain(c, add.s(1));
    expect(c.tasks).toHaveLength(5001);
    await bind(c).applyAsync();
    expect(sent).toHaveLength(1);
    expect(sent[0]?.options.chain).toHaveLength(5000);
    let g: Group<readonly unknown[], unknown> = group(add.s(0, 0));
    for (let i = 0; i < 5000; i++) g = group(g as never, add.s(1, i));
    expect(g.tasks).toHaveLength(5001);
    // A chain or group with options of its own keeps them: it is a member, not spliced.
    const routed = chain(add.s(1, 2), add.s(3)).set({ queue: 'q' });
    expect(chain(routed, add.s(4)).tasks[0]).toBe(routed);
    const named = group(add.s(1, 2)).set({ groupId: 'g-1' });
    expect(group(named, add.s(4, 5)).tasks[0]).toBe(named);
  });

  it(`refuses a canvas nested more than ${MAX_CANVAS_DEPTH} levels deep with a clear error, sending nothing`, async () => {
    const { host, sent } = recordingHost();
    const { add, tsum, bind } = typed(host);
    /** Chains in chains, each with an option of its own (so none is spliced). */
    const nested = (levels: number) => {
      let c = chain(add.s(0, 0), add.s(1)).set({ queue: 'q' });
      for (let i = 1; i < levels; i++) c = chain(c, add.s(1)).set({ queue: 'q' });
      return bind(c);
    };
    await nested(MAX_CANVAS_DEPTH).applyAsync();
    expect(sent).toHaveLength(1);
    await expect(nested(MAX_CANVAS_DEPTH + 1).applyAsync()).rejects.toThrow(invalid(new RegExp(`^a canvas nested more than ${MAX_CANVAS_DEPTH} levels deep cannot be sent`)));
    // 20,000 levels (a RangeError from the stack before), and a nested chord, are refused alike.
    await expect(nested(20_000).applyAsync()).rejects.toThrow(invalid(/nested more than/));
    let k = chord([add.s(1, 2)], tsum.s());
    for (let i = 0; i < MAX_CANVAS_DEPTH + 1; i++) k = chord([k], tsum.s());
    await expect(bind(k).applyAsync()).rejects.toThrow(invalid(/nested more than/));
    expect(sent).toHaveLength(1);
  });
});

describe('eager mode', () => {
  it('runs chains, groups and chords in the caller, passing results along', async () => {
    const { app } = createTestApp({ taskAlwaysEager: true });
    const add = app.task('t.add', (x: number, y: number) => x + y);
    const tsum = app.task('t.tsum', (values: number[]) => values.reduce((a, b) => a + b, 0));
    expect(await (await chain(add.s(2, 2), add.s(4), add.s(1)).applyAsync()).get()).toBe(9);
    expect(await (await group(add.s(1, 1), add.s(2, 2)).applyAsync()).get()).toEqual([2, 4]);
    expect(await (await chord([add.s(1, 1), add.s(2, 2)], tsum.s()).applyAsync()).get()).toBe(6);
    expect(await (await chain(add.s(1, 1), group(add.s(1), add.s(2)), tsum.s()).applyAsync()).get()).toBe(7);
  });
});

describe('compile-time types', () => {
  it('flows each result into the next step and rejects mismatches', () => {
    const { add, tsum, upper } = typed(recordingHost().host);
    expectTypeOf(chain(add.s(2, 2), add.s(4))).toHaveProperty('__result');
    const ok = chain(add.s(2, 2), add.s(4), add.s(1));
    expectTypeOf(ok.applyAsync).returns.resolves.toEqualTypeOf<AsyncResult<number>>();
    // @ts-expect-error a string step cannot take a number
    chain(add.s(2, 2), upper.s());
    // @ts-expect-error a full-argument signature cannot take the previous result
    chain(add.s(2, 2), add.s(1, 1));
    // Immutable steps take anything.
    chain(add.s(2, 2), upper.si('x'));
    const c = chord([add.s(1, 1), add.s(2, 2)], tsum.s());
    expectTypeOf(c.applyAsync).returns.resolves.toEqualTypeOf<AsyncResult<number>>();
    // @ts-expect-error the body must take the header's results (a number list), not a string
    chord([add.s(1, 1)], upper.s());
    expectTypeOf(group(add.s(1, 1), upper.s('a')).applyAsync).returns.resolves.toHaveProperty('get');
    // A task known only by name composes with anything.
    chain(signature('py.add', [1, 2]), add.s(1));
  });
});
