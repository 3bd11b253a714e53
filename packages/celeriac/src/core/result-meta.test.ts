import { describe, expect, it } from 'vitest';
import { encodeResultMeta } from '../protocol/result.js';
import type { TaskMessage } from '../protocol/types.js';
import { buildMeta } from './result-meta.js';

function message(extraHeaders: TaskMessage['extraHeaders']): TaskMessage {
  return {
    protocol: 2,
    headers: {
      lang: 'py', task: 't.x', id: 'id-1', shadow: null, eta: null, expires: null, group: null, group_index: null,
      retries: 0, timelimit: [null, null], root_id: 'id-1', parent_id: null, argsrepr: '(1,)', kwargsrepr: '{}',
      origin: 'gen1@py', ignore_result: false,
    },
    extraHeaders,
    properties: { correlation_id: 'id-1', reply_to: 'r', delivery_mode: 2, priority: 0 },
    args: [1],
    kwargs: {},
    embed: { callbacks: null, errbacks: null, chain: null, chord: null },
  };
}

const at = (extraHeaders: TaskMessage['extraHeaders'], extended = true) =>
  encodeResultMeta(buildMeta({ message: message(extraHeaders), worker: 'w@h', queue: 'q', extended, now: Date.UTC(2026, 0, 1) }, 'SUCCESS', 2));

describe('buildMeta: stamps (Celery 5.3+)', () => {
  it('an extended meta carries stamped_headers and one field per stamp, after queue, as Celery 5.6 stores them', () => {
    expect(at({ stamped_headers: ['tenant', 'batch'], stamps: { tenant: 'acme', batch: [1, 2] } })).toBe(
      '{"status": "SUCCESS", "result": 2, "traceback": null, "children": [], "date_done": "2026-01-01T00:00:00", ' +
        '"name": "t.x", "args": [1], "kwargs": {}, "worker": "w@h", "retries": 0, "queue": "q", ' +
        '"stamped_headers": ["tenant", "batch"], "tenant": "acme", "batch": [1, 2], "task_id": "id-1"}',
    );
  });

  it('no stamps (5.2, or 5.6 with stamped_headers null), a stamp named like a field, or no result_extended: nothing extra', () => {
    const plain = at({});
    expect(at({ stamped_headers: null, stamps: {} })).toBe(plain);
    expect(plain).not.toContain('stamped_headers');
    expect(at({ stamped_headers: ['status'], stamps: { status: 'x' } })).toContain('"stamped_headers": ["status"], "task_id"');
    expect(at({ stamped_headers: ['tenant'], stamps: { tenant: 'acme' } }, false)).not.toContain('tenant');
  });
});
