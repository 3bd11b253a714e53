/**
 * @module brokers/redis/queue-age
 * Since when a message in a Redis queue has waited, read from the message itself: Celery's
 * messages carry no send time, but the Redis broker's delivery tags are uuid7 (core/uuid.ts),
 * whose first 48 bits are the time of the send. A message with an ETA waits from its ETA when
 * that is later. Messages from kombu's producers (Python Celery) have uuid4 tags: no time.
 * The dashboard reads the next message of each priority list with LINDEX -1 and exports the
 * age (`flower_queue_age_seconds`).
 */
import { uuid7Time } from '../../core/uuid.js';
import { isJsonObject } from '../../protocol/guards.js';
import { parseIsoTime } from '../../protocol/time.js';

/**
 * The Unix time in ms since which the message in `raw` (a kombu Redis envelope) has waited:
 * the time its uuid7 delivery tag holds, or its ETA header when later. Null when the message
 * tells no send time (a uuid4 tag, as kombu writes) or is not an envelope. Never throws.
 */
export function waitingSince(raw: unknown): number | null {
  if (typeof raw !== 'string') return null;
  let envelope: unknown;
  try {
    envelope = JSON.parse(raw);
  } catch {
    return null;
  }
  if (!isJsonObject(envelope) || !isJsonObject(envelope['properties'])) return null;
  const sent = uuid7Time(envelope['properties']['delivery_tag']);
  if (sent === null) return null;
  const headers = envelope['headers'];
  const eta = isJsonObject(headers) ? headers['eta'] : undefined;
  if (typeof eta !== 'string') return sent;
  try {
    return Math.max(sent, parseIsoTime(eta));
  } catch {
    return sent; // a malformed ETA says nothing about the send
  }
}
