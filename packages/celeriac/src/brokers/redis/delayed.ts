/**
 * @module brokers/redis/delayed
 * Where an ETA message waits, and how nothing is stranded in `celeriac.delayed`.
 *
 * Only Celeriac reads `celeriac.delayed`, so a message may wait there only while some
 * Celeriac process will promote it when due. Consuming Celeriac brokers (workers) are the
 * promoters: each advertises itself in `celeriac.promoters` (broker id -> presence expiry),
 * refreshed every `leaseRenewMs`, and removes itself on close.
 * - publish-eta.lua decides atomically: a live promoter -> the delayed set; none -> the
 *   queue, kombu-style with its `eta` header (Python workers hold it until due, as Celery
 *   does; a Celeriac worker that takes it defers it to the delayed set).
 * - rescue-delayed.lua moves every delayed message back to its queue once no promoter is
 *   alive: run by the last worker closing, and by any non-consuming Celeriac publisher.
 * The edge left: the last Celeriac worker killed (not closed) with messages delayed, and no
 * Celeriac process touching that Redis afterwards; see docs/interop.md#countdown-and-eta.
 */
import { toTransportError } from '../../redis/client.js';
import { loadScript, runScript, type RedisScript } from '../../redis/script.js';
import type { BrokerKeys } from '../../redis/keys.js';
import type { ResolvedRedisBrokerOptions } from './options.js';
import { delayedMember, type SendCommand } from './transitions.js';

const script = (name: string): RedisScript => loadScript(new URL(`./scripts/${name}.lua`, import.meta.url));

const SCRIPTS = {
  publishEta: script('publish-eta'),
  rescue: script('rescue-delayed'),
  advertise: script('advertise'),
} as const;

/** Most delayed messages moved by one rescue call. */
const RESCUE_BATCH = 500;

/**
 * A presence expired this long ago (or this broker's lost-task grace, when longer) is dropped
 * as a broker advertises itself (advertise.lua): what is left of a worker that died unclosed.
 */
const FORGET_PRESENCE_MS = 24 * 3600 * 1000;

/** Where {@link DelayedSet.publish} put a message. */
export type EtaPlacement = 'delayed' | 'queued';

/** How long one advertisement of a broker's presence lasts: three renewal periods, at most `recoverAfterSec`. */
export function presenceTtlMs(o: Pick<ResolvedRedisBrokerOptions, 'recoverAfterMs' | 'leaseRenewMs'>): number {
  return Math.min(o.recoverAfterMs, 3 * o.leaseRenewMs);
}

/** The ETA transitions and the promoter presence, on one client and key set. */
export class DelayedSet {
  constructor(
    private readonly send: SendCommand,
    private readonly keys: BrokerKeys,
  ) {}

  /** Publishes a future-ETA message (see publish-eta.lua); says where it went. */
  async publish(bucketKey: string, raw: string, deliverAt: number, nowMs: number, wakeChannel: string): Promise<EtaPlacement> {
    const k = this.keys;
    const args = [String(nowMs), String(deliverAt), delayedMember(bucketKey, raw), raw, wakeChannel];
    const reply = await this.send((c) => runScript(c, SCRIPTS.publishEta, [k.promoters, k.delayed, bucketKey], args));
    return Number(reply) === 1 ? 'delayed' : 'queued';
  }

  /**
   * Advertises broker `id` as a live promoter for three renewal periods (at most
   * `recoverAfterSec`), so one missed renewal does not count as gone. Never moves an
   * advertisement back (advertise.lua: a renewal written late, after a blocked event loop).
   */
  async advertise(id: string, o: ResolvedRedisBrokerOptions): Promise<void> {
    const now = o.clock.now();
    const forgetBefore = now - Math.max(o.lostTaskGraceMs, FORGET_PRESENCE_MS);
    await this.send((c) => runScript(c, SCRIPTS.advertise, [this.keys.promoters], [String(now + presenceTtlMs(o)), id, String(forgetBefore)]));
  }

  /**
   * On close: withdraws broker `id`; when it was the last promoter, hands the delayed
   * messages back to their queues. Never throws (a failure leaves the presence to expire).
   */
  async withdraw(id: string, o: ResolvedRedisBrokerOptions): Promise<void> {
    try {
      const moved = await this.rescue(o.clock.now(), id);
      if (moved !== undefined && moved > 0) o.log?.('warn', `no Celeriac worker left to promote ETA messages: moved ${moved} back to their queues`);
    } catch (error) {
      // Expected with Redis down on a stop: its text, without a stack.
      o.log?.('warn', 'withdrawing as ETA promoter failed; its presence expires by itself', { reason: toTransportError(error, 'withdraw').message });
    }
  }

  /**
   * Withdraws broker `withdrawId` as a promoter (when given), then, when no promoter is
   * alive, moves every delayed message back to its queue (in batches, atomically with the
   * check). Returns how many moved, or undefined when a live promoter exists.
   */
  async rescue(nowMs: number, withdrawId = ''): Promise<number | undefined> {
    const k = this.keys;
    let total = 0;
    for (;;) {
      const [moved, left] = (await this.send((c) => runScript(c, SCRIPTS.rescue, [k.promoters, k.delayed], [String(nowMs), String(RESCUE_BATCH), withdrawId]))) as [number, number];
      if (Number(moved) < 0) return total > 0 ? total : undefined;
      total += Number(moved);
      if (Number(left) === 0 || Number(moved) === 0) return total;
    }
  }
}
