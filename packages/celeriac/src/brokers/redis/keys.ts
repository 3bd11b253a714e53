/**
 * @module brokers/redis/keys
 * Every Redis key and channel name the Redis broker touches, built in one place
 * (docs/protocol.md §2.1, §2.4, §2.8). kombu's own keys keep kombu's names so Python
 * workers and Celeriac workers share queues and ack bookkeeping; the `celeriac.*` keys are
 * ours and invisible to kombu.
 *
 * `global_keyprefix` is prepended to every key and channel, as kombu does, but never to
 * binding-set members (kombu stores bare queue names there).
 *
 * Two names are mirrored in Lua because they are derived from data found inside Redis
 * (a routing key, a message priority): `restore-stale.lua` rebuilds {@link RedisKeys.bucket}
 * and {@link RedisKeys.binding} for messages a Python worker left behind. Change them
 * together.
 */

/** kombu's separator between a queue name and its priority step, and inside binding members. */
export const SEP = '\x06\x16';

/** kombu's `priority_steps`: one list per step, step 0 being the bare queue name. */
export const PRIORITY_STEPS = [0, 3, 6, 9] as const;

/** One of {@link PRIORITY_STEPS}. */
export type PriorityStep = (typeof PRIORITY_STEPS)[number];

/**
 * The step a priority falls in: clamped to 0..9, then the largest step not above it
 * (kombu's `_get_message_priority` + `priority()`). Non-numbers count as 0.
 */
export function stepOf(priority: number | undefined): PriorityStep {
  const p = typeof priority === 'number' && Number.isFinite(priority) ? Math.min(9, Math.max(0, Math.trunc(priority))) : 0;
  let step: PriorityStep = 0;
  for (const s of PRIORITY_STEPS) if (s <= p) step = s;
  return step;
}

/**
 * The binding-set member kombu writes for a queue bound with `routingKey`:
 * `<routing_key>␆␖<pattern>␆␖<queue>` with an empty pattern (direct binding). Unprefixed.
 */
export function bindingMember(routingKey: string, queue: string): string {
  return `${routingKey}${SEP}${SEP}${queue}`;
}

/** Splits a binding-set member into routing key and queue; undefined when malformed. */
export function parseBindingMember(member: string): { routingKey: string; queue: string } | undefined {
  const parts = member.split(SEP);
  if (parts.length !== 3) return undefined;
  return { routingKey: parts[0] as string, queue: parts[2] as string };
}

/** Key and channel names under one `global_keyprefix`. */
export class RedisKeys {
  /** kombu's ack bookkeeping: hash delivery_tag -> `[envelope, exchange, routing_key]`. */
  readonly unacked: string;
  /** kombu's ack bookkeeping: zset delivery_tag scored by delivery time (epoch seconds). */
  readonly unackedIndex: string;
  /** kombu's restore-sweep lock (SET NX PX, compare-and-delete release). */
  readonly unackedMutex: string;
  /** Ours: zset of `[bucketKey, envelope]` JSON members scored by due time (epoch ms). */
  readonly delayed: string;
  /** Ours: zset delivery_tag -> lease expiry (epoch ms) of deliveries held by Celeriac consumers. */
  readonly leases: string;
  /** Ours: hash delivery_tag -> `<token> <bucketKey>`: who holds the lease and where it came from. */
  readonly leaseData: string;
  /** Ours: list of set-aside records `{raw, queue, reason, at}`, oldest first. */
  readonly setAside: string;
  /**
   * Ours: zset broker id -> presence expiry (epoch ms) of the consuming Celeriac brokers, which
   * promote due ETA messages. While it has a live member, ETA publishes go to {@link delayed}.
   */
  readonly promoters: string;

  constructor(
    /** kombu's `global_keyprefix` ('' for none). */
    readonly prefix: string = '',
    /** The broker URL's db number: part of kombu's fanout channel names (§2.5). */
    readonly db: number = 0,
  ) {
    this.unacked = `${prefix}unacked`;
    this.unackedIndex = `${prefix}unacked_index`;
    this.unackedMutex = `${prefix}unacked_mutex`;
    this.delayed = `${prefix}celeriac.delayed`;
    this.leases = `${prefix}celeriac.leases`;
    this.leaseData = `${prefix}celeriac.lease.data`;
    this.setAside = `${prefix}celeriac.setaside`;
    this.promoters = `${prefix}celeriac.promoters`;
  }

  /** The list of `queue` for a priority step: the bare name for 0, `<queue>␆␖<step>` otherwise. */
  bucket(queue: string, step: PriorityStep): string {
    return step === 0 ? `${this.prefix}${queue}` : `${this.prefix}${queue}${SEP}${step}`;
  }

  /** The four lists of `queue`, step 0 (served first) to step 9. */
  buckets(queue: string): string[] {
    return PRIORITY_STEPS.map((step) => this.bucket(queue, step));
  }

  /** kombu's binding set of an exchange: `_kombu.binding.<exchange>`. */
  binding(exchange: string): string {
    return `${this.prefix}_kombu.binding.${exchange}`;
  }

  /**
   * Ours: the pub/sub channel a Celeriac publisher pings after pushing to `queue`, so idle
   * Celeriac consumers fetch at once instead of waiting for their next poll.
   */
  wakeChannel(queue: string): string {
    return `${this.prefix}celeriac.wake.${queue}`;
  }

  /**
   * kombu's pub/sub channel of a fanout exchange (§2.5, default `fanout_prefix` and
   * `fanout_patterns`): `<prefix>/<db>.<exchange>` plus `/<routingKey>` when the key is
   * non-empty, e.g. `/0.celeryev/task.sent`, `/0.celery.pidbox`.
   */
  fanoutChannel(exchange: string, routingKey: string): string {
    const base = `${this.prefix}/${this.db}.${exchange}`;
    return routingKey === '' ? base : `${base}/${routingKey}`;
  }

  /**
   * The PSUBSCRIBE pattern kombu uses for a binding on a fanout exchange: the channel with
   * the binding key's `#` turned into `*` (other glob characters escaped).
   */
  fanoutPattern(exchange: string, bindingKey: string): string {
    const escape = (text: string) => text.replace(/[*?[\]\\]/g, '\\$&');
    const base = `${escape(this.prefix)}/${this.db}.${escape(exchange)}`;
    if (bindingKey === '') return base;
    return `${base}/${bindingKey.split('*').map((part) => escape(part).replaceAll('#', '*')).join('*')}`;
  }

  /** Every key of ours and kombu's under this prefix is matched by this SCAN pattern. */
  scanPattern(): string {
    return `${this.prefix.replace(/[*?[\]\\]/g, '\\$&')}*`;
  }
}
