import { describe, expect, it } from 'vitest';
import type { EventDict } from 'celeriac/monitor';
import { foldEvents, parseTimeline, timelineEntry, timelineFields } from './fold-events.js';

/** What the timeline stored before it was written straight to text. */
function viaObject(event: Record<string, unknown>, cap: number): string {
  const common = new Set(['type', 'uuid', 'timestamp', 'hostname', 'utcoffset', 'pid', 'clock', 'local_received']);
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(event)) {
    if (common.has(key)) continue;
    if (typeof value === 'string') out[key] = value.length > cap ? `${value.slice(0, cap)}...` : value;
    else if (typeof value === 'number' || typeof value === 'boolean' || value === null) out[key] = value;
    else {
      const text = JSON.stringify(value) ?? '';
      out[key] = text.length > cap ? `${text.slice(0, cap)}...` : value;
    }
  }
  return JSON.stringify(out);
}

describe('timelineFields', () => {
  const events: Record<string, unknown>[] = [
    { type: 'task-received', uuid: 'u', timestamp: 1.5, hostname: 'w', pid: 1, clock: 2, utcoffset: 0, name: 'proj.add', args: "(1, 2)", kwargs: '{}', retries: 0, eta: null, expires: null },
    { type: 'task-succeeded', uuid: 'u', result: 'x'.repeat(40), runtime: 0.25, ok: true, big: 1e21, neg: -0, tiny: 1e-7 },
    { type: 'task-failed', uuid: 'u', exception: 'quote " backslash \\ nul \u0000 lone \ud800 line\nend', traceback: 'é😀' },
    { type: 'task-custom', uuid: 'u', args: [1, 'two', { three: 3 }], kwargs: { a: [1, 2], 'odd key"': 'v' }, nested: { deep: 'y'.repeat(50) } },
    { type: 'task-started', uuid: 'u', hostname: 'w' },
    JSON.parse('{"type":"task-x","uuid":"u","__proto__":{"polluted":1},"constructor":"c"}') as Record<string, unknown>,
  ];
  it('writes the same JSON text as stringifying the filtered, capped object', () => {
    for (const event of events) {
      for (const cap of [8, 1024]) expect(timelineFields(event as EventDict, cap)).toBe(viaObject(event, cap));
    }
  });
  it('parses back to the event less its common keys', () => {
    expect(JSON.parse(timelineFields(events[1] as EventDict, 1024))).toEqual({ result: 'x'.repeat(40), runtime: 0.25, ok: true, big: 1e21, neg: 0, tiny: 1e-7 });
  });
});

describe('parseTimeline', () => {
  it('orders events of one millisecond by a task\'s life, not by arrival (task-progress came before task-received)', () => {
    const at = 1_795_000_000.123;
    const events = [
      { type: 'task-progress', uuid: 'u', timestamp: at, hostname: 'w', current: 1, total: 3 },
      { type: 'task-succeeded', uuid: 'u', timestamp: at, hostname: 'w', result: '3' },
      { type: 'task-started', uuid: 'u', timestamp: at, hostname: 'w' },
      { type: 'task-received', uuid: 'u', timestamp: at, hostname: 'w', name: 'proj.add' },
      { type: 'task-sent', uuid: 'u', timestamp: at - 0.01, hostname: 'c' },
    ] as EventDict[];
    const batch = foldEvents(events, { payloadCap: 100, timelineCap: 100, now: 0 });
    // Two writes: the store keeps one JSON array per task per write.
    const rows = [`[${batch.events.slice(0, 2).map(timelineEntry).join(',')}]`, `[${batch.events.slice(2).map(timelineEntry).join(',')}]`];
    expect(parseTimeline(rows, 10).map((e) => e.type)).toEqual(['task-sent', 'task-received', 'task-started', 'task-progress', 'task-succeeded']);
    expect(batch.tasks[0]?.state).toBe('SUCCESS');
  });
});
