/**
 * @module brokers/redis/settlements
 * Maps a consumer-side {@link Settlement} of a held delivery onto its Lua transition
 * (ack, requeue, restore, defer, set aside). Requeued and restored envelopes are marked
 * redelivered first, as kombu does. Split out of redis-broker.ts.
 */
import type { SetAsideRecord, Settlement } from '../../core/spi/broker.js';
import { markRedelivered } from '../../protocol/envelope.js';
import type { RedisDelivery } from './redis-consumer.js';
import type { Transitions } from './transitions.js';

/**
 * Runs the transition for `s`; resolves false when the delivery's lease was no longer
 * held (nothing changed). `deferred` is called after a successful defer; `now` stamps
 * set-aside records.
 */
export function applySettlement(t: Transitions, d: RedisDelivery, s: Settlement, now: () => number, deferred: () => void): Promise<boolean> {
  switch (s.kind) {
    case 'ack':
      return t.ack(d);
    case 'reject':
      return s.requeue ? t.requeue(d, d.bucketKey, markedOrAsIs(d.raw)) : t.ack(d);
    case 'restore':
      return t.restore(d, d.bucketKey, markedOrAsIs(d.raw));
    case 'defer':
      return t.defer(d, s.deliverAt, d.bucketKey, d.raw).then((ok) => {
        if (ok) deferred();
        return ok;
      });
    case 'setAside': {
      const record: SetAsideRecord = { raw: d.raw, queue: d.queue, reason: s.reason, at: now() };
      return t.setAside(d, JSON.stringify(record));
    }
  }
}

/** kombu marks requeued and restored envelopes redelivered; an unreadable one goes back as it was. */
export function markedOrAsIs(raw: string): string {
  try {
    return markRedelivered(raw);
  } catch {
    return raw;
  }
}

/** The readable set-aside records among `items` (others were not written by us: skipped). */
export function parseSetAside(items: readonly string[]): SetAsideRecord[] {
  const out: SetAsideRecord[] = [];
  for (const item of items) {
    try {
      const r = JSON.parse(item) as SetAsideRecord;
      out.push({ raw: String(r.raw), queue: String(r.queue), reason: String(r.reason), at: Number(r.at) });
    } catch {
      // Not written by us; leave it for an operator to look at.
    }
  }
  return out;
}
