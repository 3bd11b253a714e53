import { describe, expect, it } from 'vitest';
import type { TaskMessage } from '../../protocol/types.js';
import { EVENT_TEXT_MAX, messageTraceId, taskEventFields } from './task-event-fields.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function message(extraHeaders: TaskMessage['extraHeaders'], group: string | null = null, argsrepr = '()'): TaskMessage {
  return {
    protocol: 2,
    headers: { lang: 'py', task: 't', id: 'a', shadow: null, eta: null, expires: null, group, group_index: null, retries: 0, timelimit: [null, null], root_id: 'a', parent_id: null, argsrepr, kwargsrepr: '{}', origin: 'gen1@h', ignore_result: false },
    extraHeaders,
    properties: { correlation_id: 'a', reply_to: '', delivery_mode: 2, priority: 0 },
    args: [],
    kwargs: {},
    embed: { callbacks: null, errbacks: null, chain: null, chord: null },
  } as unknown as TaskMessage;
}

describe('task-received names the trace of a traced message', () => {
  it('adds trace_id from a W3C traceparent (Python’s instrumentation or ours)', () => {
    const fields = taskEventFields({ type: 'task-received', message: message({ traceparent: `00-${TRACE}-00f067aa0ba902b7-01`, tracestate: 'k=v' }) });
    expect(fields['trace_id']).toBe(TRACE);
  });

  it('adds nothing without one, so untraced events stay as Celery sends them', () => {
    expect(taskEventFields({ type: 'task-received', message: message({}) })).not.toHaveProperty('trace_id');
  });

  it('ignores a malformed, foreign-typed, huge or all-zero traceparent', () => {
    for (const bad of ['', 'x', `00-${TRACE.toUpperCase()}-00f067aa0ba902b7-01`, `00-${TRACE}-00f067aa0ba902b7`, `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`, 7, null, [`00-${TRACE}-00f067aa0ba902b7-01`], `00-${TRACE}-00f067aa0ba902b7-01-${'x'.repeat(300)}`]) {
      expect(messageTraceId({ traceparent: bad as never }), JSON.stringify(bad)).toBeNull();
    }
    // A later version may append fields after the flags.
    expect(messageTraceId({ traceparent: `cc-${TRACE}-00f067aa0ba902b7-01-what-comes-next` })).toBe(TRACE);
    expect(messageTraceId(Object.create({ traceparent: `00-${TRACE}-00f067aa0ba902b7-01` }) as never)).toBeNull();
  });
});

describe('task-received names the group of a group or chord member', () => {
  it('adds group from the message, which Python senders put nowhere else', () => {
    expect(taskEventFields({ type: 'task-received', message: message({}, 'g-1') })['group']).toBe('g-1');
  });

  it('adds nothing for a task outside any group', () => {
    expect(taskEventFields({ type: 'task-received', message: message({}) })).not.toHaveProperty('group');
    expect(taskEventFields({ type: 'task-received', message: message({}, '') })).not.toHaveProperty('group');
  });
});

describe('an event carries no text of megabytes (every monitor would be dropped by Redis)', () => {
  const huge = `${'a'.repeat(2_000_000)}THE END`;

  it("clips a failure's exception and traceback to their start and end, saying how much was left out", () => {
    const fields = taskEventFields({ type: 'task-failed', message: message({}), error: new Error(huge), traceback: `Traceback (most recent call last):\n${huge}` });
    for (const key of ['exception', 'traceback']) {
      const text = fields[key] as string;
      expect(text.length, key).toBeLessThanOrEqual(EVENT_TEXT_MAX);
      expect(text, key).toMatch(/characters left out of this event/);
      expect(text.endsWith(key === 'exception' ? "THE END')" : 'THE END'), key).toBe(true);
    }
    expect((fields['traceback'] as string).startsWith('Traceback (most recent call last):')).toBe(true);
    const retried = taskEventFields({ type: 'task-retried', message: message({}), error: new Error(huge), traceback: huge });
    expect((retried['traceback'] as string).length).toBeLessThanOrEqual(EVENT_TEXT_MAX);
  });

  it("clips a foreign sender's argsrepr, and leaves texts under the bound as they are", () => {
    expect((taskEventFields({ type: 'task-received', message: message({}, null, huge) })['args'] as string).length).toBeLessThanOrEqual(EVENT_TEXT_MAX);
    const fine = `(${'b'.repeat(EVENT_TEXT_MAX - 2)})`;
    expect(taskEventFields({ type: 'task-received', message: message({}, null, fine) })['args']).toBe(fine);
    expect(taskEventFields({ type: 'task-failed', message: message({}), error: new Error('boom'), traceback: 'tb' })).toMatchObject({ exception: "Exception('boom')", traceback: 'tb' });
  });
});
