/**
 * @module brokers/redis/settlements
 * Maps a {@link Settlement} (core/spi/broker.ts, the one definition) of a held delivery onto
 * its Lua transition (ack, requeue, restore, defer, set aside). Requeued and restored
 * envelopes are marked redelivered first, as kombu does.
 */
import type { SetAsideRecord, Settlement } from '../../core/spi/broker.js';
import { markRedelivered } from '../../protocol/envelope.js';
import { toTransportError } from '../../redis/client.js';
import { CeleriacError, ErrorCodes } from '../../errors.js';
import { Backoff, type BackoffPolicy } from '../../core/backoff.js';
import type { Lifecycle } from './lifecycle.js';
import type { ResolvedRedisBrokerOptions } from './options.js';
import type { RedisDelivery } from './redis-delivery.js';
import { parseSetAsideText, setAsideRecordText } from '../../core/set-aside.js';
import type { Transitions } from './transitions.js';
import type { TransportLog } from '../../core/transport-table.js';

/** What settling needs of the broker's options. */
export type SettlementOptions = Pick<ResolvedRedisBrokerOptions, 'clock' | 'setAside' | 'log'>;

/** The transitions that settle a held delivery. */
export type SettlementTransitions = Pick<Transitions, 'ack' | 'requeue' | 'restore' | 'defer' | 'setAside'>;

/** What settling a consumer's delivery needs: the broker's services, and the consumer's window. */
export interface SettleContext {
  readonly transitions: SettlementTransitions;
  readonly options: SettlementOptions & Pick<ResolvedRedisBrokerOptions, 'recoverAfterMs'>;
  readonly maintenance: { promoteSoon(): void };
  /** Settlements are refused once the broker closes; retries stop then. */
  readonly lifecycle: Pick<Lifecycle, 'assertOpen' | 'state'>;
  /** Its settlement is on its way: out of its consumer's prefetch window, still held until answered. */
  sent(d: RedisDelivery): void;
  /** It is no longer held (its settlement was answered, or given up). */
  release(d: RedisDelivery): void;
}

/** Waits between tries of a settlement while Redis is away: 50 ms doubling to 1 s. */
const SETTLE_BACKOFF: BackoffPolicy = Object.freeze({ firstMs: 50, growth: { factor: 2 }, maxMs: 1000 });

/**
 * Runs the transition for `s`; resolves false when the delivery's lease was no longer
 * held (nothing changed). `promoter.promoteSoon` is called after a successful defer;
 * `options.clock` stamps set-aside records, `options.setAside` bounds their store.
 */
export function applySettlement(t: SettlementTransitions, d: RedisDelivery, s: Settlement, options: SettlementOptions, promoter: { promoteSoon(): void }): Promise<boolean> {
  const { clock } = options;
  switch (s.kind) {
    case 'ack':
      return t.ack(d);
    case 'reject':
      return s.requeue ? t.requeue(d, d.bucketKey, markedOrAsIs(d.raw)) : t.ack(d);
    case 'restore':
      return t.restore(d, d.bucketKey, markedOrAsIs(d.raw));
    case 'defer':
      return t.defer(d, s.deliverAt, d.bucketKey, d.raw, s.redelivered === true).then((ok) => {
        if (ok) promoter.promoteSoon();
        return ok;
      });
    case 'setAside': {
      const category = s.category ?? 'malformed';
      const limits = options.setAside[category];
      const record = setAsideRecordText({ raw: d.raw, queue: d.queue, reason: s.reason, at: clock.now(), category }, limits.maxRecordBytes);
      return t.setAside(d, record, limits, category).then((out) => {
        if (out.dropped > 0) {
          options.log?.('warn', `set-aside store full for ${category} records (at most ${limits.maxCount} records, ${limits.maxBytes} bytes): dropped the ${out.dropped} oldest, ${out.droppedBytes} bytes (first id ${out.firstDropped})`, { category, firstDropped: out.firstDropped });
        }
        return out.parked;
      });
    }
  }
}

/**
 * Restores `deliveries` in the given order, each to the front of its bucket, marked
 * redelivered. Never rejects: a failed restore leaves the message under lease, and a sweep
 * restores it later.
 */
export async function restoreInOrder(t: Pick<Transitions, 'restore'>, deliveries: readonly RedisDelivery[], log: TransportLog | undefined): Promise<void> {
  for (const d of deliveries) {
    d.state = 'settled';
    try {
      await t.restore(d, d.bucketKey, markedOrAsIs(d.raw));
    } catch (error) {
      log?.('warn', 'restore of a delivery failed; a sweep will restore it', { tag: d.tag, queue: d.queue, err: toTransportError(error, 'restore') });
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
  // Not written by us: left for an operator to look at.
  return items.map(parseSetAsideText).filter((r): r is SetAsideRecord & { id: string } => r !== null);
}

/**
 * Whether a failed settlement may go through later: TRANSPORT, Redis unreachable or refusing
 * writes for now (OOM, READONLY after a failover, LOADING, BUSY...). Not COMMAND_REFUSED (a
 * reply that will never change, such as WRONGTYPE) nor CONFIG: those end the settlement at once.
 */
export function retryable(error: CeleriacError): boolean {
  return error.code === ErrorCodes.TRANSPORT;
}

/** Applies settlement `s` of `d`, held by the consumer `ctx` is of. Not async: every task's ack comes here. */
export function settleDelivery(ctx: SettleContext, d: RedisDelivery, s: Settlement): Promise<void> {
  let applied: Promise<boolean>;
  try {
    ctx.lifecycle.assertOpen(s.kind);
    if (d.state === 'settled' || d.state === 'retrying') {
      throw new CeleriacError(ErrorCodes.STATE, `${s.kind}: delivery ${d.tag} is already settled`);
    }
  } catch (error) {
    return Promise.reject(error);
  }
  d.state = 'settled';
  try {
    applied = applySettlement(ctx.transitions, d, s, ctx.options, ctx.maintenance);
  } catch (error) {
    applied = Promise.reject(error);
  }
  ctx.sent(d);
  return applied.then(
    (ok) => settled(ctx, d, s, ok),
    (error: unknown) => retrySettlement(ctx, d, s, error instanceof CeleriacError ? error : toTransportError(error, `${s.kind} of delivery ${d.tag}`)),
  );
}

/** Out of the window; a settlement that found its lease gone is an error. */
function settled(ctx: SettleContext, d: RedisDelivery, s: Settlement, ok: boolean): void {
  d.state = 'settled';
  ctx.release(d);
  if (!ok && (s.kind === 'ack' || s.kind === 'defer' || s.kind === 'setAside' || (s.kind === 'reject' && !s.requeue))) {
    throw new CeleriacError(
      ErrorCodes.LEASE_LOST,
      `${s.kind}: the lease of delivery ${d.tag} was lost (its holder stalled past recoverAfterSec, or a sweep gave it back); it will be delivered again`,
    );
  }
}

/**
 * A settlement that failed for want of Redis (an outage, a reconnect) is tried again, with
 * its lease token, until Redis answers: an ack lost in an outage would make a finished task
 * run again once its lease lapsed. Meanwhile the delivery stays held as `retrying`, its lease
 * renewed with the others' (out of the prefetch window since its first try was sent: while
 * Redis refuses settlements, it refuses fetches too). Gives up (the lease then brings the message back, as
 * documented) when the broker closes or after twice `recoverAfterSec`, by which time the
 * lease has lapsed for sure. Other errors end the settlement at once.
 */
async function retrySettlement(ctx: SettleContext, d: RedisDelivery, s: Settlement, first: CeleriacError): Promise<void> {
  const { clock, recoverAfterMs, log } = ctx.options;
  const giveUpAt = clock.now() + 2 * recoverAfterMs;
  let error = first;
  const backoff = new Backoff(SETTLE_BACKOFF);
  d.state = 'retrying';
  if (retryable(error)) log?.('warn', `${s.kind} failed; retrying until Redis answers`, { tag: d.tag, queue: d.queue, reason: error.message });
  while (retryable(error) && ctx.lifecycle.state === 'open' && clock.now() < giveUpAt) {
    await new Promise<void>((resolve) => clock.setTimer(resolve, backoff.next()));
    try {
      const ok = await applySettlement(ctx.transitions, d, s, ctx.options, ctx.maintenance);
      return settled(ctx, d, s, ok);
    } catch (e) {
      error = e instanceof CeleriacError ? e : toTransportError(e, `${s.kind} of delivery ${d.tag}`);
    }
  }
  d.state = 'settled';
  ctx.release(d);
  throw error;
}
