import { describe, expect, it } from 'vitest';
import { DEFAULT_RUNTIME_BUCKETS, Metrics, num, parseBuckets, type ScrapeInputs } from './metrics.js';

const inputs = (over: Partial<ScrapeInputs> = {}): ScrapeInputs => ({
  workers: [], queues: [], tasksByState: {}, stuck: {}, eventAgeSec: null, eventsIngested: 0, eventsWritten: 0, eventsDropped: 0, tasksDropped: 0, ...over,
});

describe('metrics exposition', () => {
  it('formats numbers as prometheus_client does (Python repr, Go exponents)', () => {
    expect(num(1)).toBe('1.0');
    expect(num(0.005)).toBe('0.005');
    expect(num(Infinity)).toBe('+Inf');
    expect(num(-Infinity)).toBe('-Inf');
    expect(num(NaN)).toBe('NaN');
    expect(num(1700000000.123)).toBe('1.700000000123e+09');
    expect(num(1234567)).toBe('1.234567e+06');
    expect(num(123456)).toBe('123456.0');
  });

  it('counts the event messages the ingest shed on arrival', () => {
    expect(new Metrics().render(inputs({ eventMessagesShed: 7 }))).toContain('# TYPE celeriac_dashboard_event_messages_shed_total counter\nceleriac_dashboard_event_messages_shed_total 7.0\n');
    expect(new Metrics().render(inputs())).toContain('celeriac_dashboard_event_messages_shed_total 0.0\n');
  });

  it('shows the event bytes waiting to be folded', () => {
    expect(new Metrics().render(inputs({ eventBytesPending: 2048 }))).toContain('# TYPE celeriac_dashboard_event_bytes_pending gauge\nceleriac_dashboard_event_bytes_pending 2048.0\n');
  });

  it("writes Flower's series with sorted labels, the counter's _created family and histogram buckets", () => {
    const m = new Metrics();
    m.events.inc(['w1@h', 'task-succeeded', 'proj.add'], 1, 1_700_000_000_000);
    m.runtime.observe(['w1@h', 'proj.add'], 0.3, 1_700_000_000_000);
    const text = m.render(inputs({ workers: [{ hostname: 'w1@h', online: true }, { hostname: 'w2@h', online: false }] }));
    expect(text).toContain('# TYPE flower_events_total counter\nflower_events_total{task="proj.add",type="task-succeeded",worker="w1@h"} 1.0\n');
    expect(text).toContain('# TYPE flower_events_created gauge\nflower_events_created{task="proj.add",type="task-succeeded",worker="w1@h"} 1.7e+09\n');
    expect(text).toContain('flower_task_runtime_seconds_bucket{le="0.25",task="proj.add",worker="w1@h"} 0.0\n');
    expect(text).toContain('flower_task_runtime_seconds_bucket{le="0.5",task="proj.add",worker="w1@h"} 1.0\n');
    expect(text).toContain('flower_task_runtime_seconds_bucket{le="+Inf",task="proj.add",worker="w1@h"} 1.0\n');
    expect(text).toContain('flower_task_runtime_seconds_count{task="proj.add",worker="w1@h"} 1.0\nflower_task_runtime_seconds_sum{task="proj.add",worker="w1@h"} 0.3\n');
    expect(text).toContain('flower_worker_online{worker="w1@h"} 1.0\nflower_worker_online{worker="w2@h"} 0.0\n');
    expect(text.match(/_bucket\{/g)).toHaveLength(DEFAULT_RUNTIME_BUCKETS.length);
  });

  it('escapes label values', () => {
    const m = new Metrics();
    m.executing.set(['a"b\\c\nd'], 2);
    expect(m.render(inputs())).toContain('flower_worker_number_of_currently_executing_tasks{worker="a\\"b\\\\c\\nd"} 2.0');
  });

  it('drops every series of a removed worker, online included, until it comes back', () => {
    const m = new Metrics();
    m.events.inc(['gone@h', 'task-received', 't'], 1);
    m.events.inc(['kept@h', 'task-received', 't'], 2);
    m.prefetched.inc(['gone@h', 't'], 1);
    m.runtime.observe(['gone@h', 't'], 0.5);
    m.removeWorker('gone@h');
    const text = m.render(inputs({ workers: [{ hostname: 'gone@h', online: false }] }));
    expect(text).not.toContain('gone@h');
    expect(text).toContain('flower_events_total{task="t",type="task-received",worker="kept@h"} 2.0');
    m.revive('gone@h');
    // Back: its series start again from zero.
    m.events.inc(['gone@h', 'task-received', 't'], 1);
    const back = m.render(inputs({ workers: [{ hostname: 'gone@h', online: true }] }));
    expect(back).toContain('flower_worker_online{worker="gone@h"} 1.0');
    expect(back).toContain('flower_events_total{task="t",type="task-received",worker="gone@h"} 1.0');
    expect(back).not.toContain('flower_task_runtime_seconds_count{task="t",worker="gone@h"}');
  });

  it('adds queue depth, tasks by state and stuck tasks', () => {
    const text = new Metrics().render(inputs({ queues: [{ name: 'celery', messages: 3 }], tasksByState: { SUCCESS: 10 }, stuck: { STARTED: 2 } }));
    expect(text).toContain('flower_queue_length{queue="celery"} 3.0');
    expect(text).toContain('flower_tasks_by_state{state="SUCCESS"} 10.0');
    expect(text).toContain('flower_stuck_tasks{state="STARTED"} 2.0');
  });

  it('adds the queue age where it is known, and no series where it is not', () => {
    const text = new Metrics().render(inputs({ queues: [{ name: 'a', messages: 3, ageSec: 12.5 }, { name: 'py', messages: 2, ageSec: null }, { name: 'b', messages: 0 }] }));
    expect(text).toContain('# TYPE flower_queue_age_seconds gauge');
    expect(text).toContain('flower_queue_age_seconds{queue="a"} 12.5');
    expect(text).not.toMatch(/flower_queue_age_seconds\{queue="(py|b)"\}/);
    expect(text).toContain('flower_queue_length{queue="py"} 2.0');
  });

  it('adds the set-aside store by part when the broker keeps one, and nothing when it did not answer', () => {
    const setAside = { malformed: { count: 3, bytes: 1200, maxCount: 10_000, maxBytes: 67_108_864 }, 'dead-letter': { count: 1, bytes: 400, maxCount: 50, maxBytes: 1000 } };
    const text = new Metrics().render(inputs({ setAside }));
    expect(text).toContain('# TYPE celeriac_setaside_records gauge');
    expect(text).toContain('celeriac_setaside_records{category="malformed"} 3.0');
    expect(text).toContain('celeriac_setaside_bytes{category="dead-letter"} 400.0');
    expect(text).toContain('celeriac_setaside_max_records{category="dead-letter"} 50.0');
    expect(text).toContain(`celeriac_setaside_max_bytes{category="malformed"} ${num(67_108_864)}`);
    expect(new Metrics().render(inputs())).not.toContain('celeriac_setaside');
  });

  it('parses bucket lists and refuses bad ones', () => {
    expect(parseBuckets('1,5,inf')).toEqual([1, 5, Infinity]);
    expect(parseBuckets('10, 1')).toEqual([1, 10, Infinity]);
    expect(() => parseBuckets('1,x')).toThrow(RangeError);
    expect(() => parseBuckets('')).toThrow(RangeError);
  });
});
