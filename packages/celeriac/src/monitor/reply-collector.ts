/**
 * @module monitor/reply-collector
 * Which control replies count for one broadcast, and when the broadcast has heard enough
 * (docs/protocol.md §5.3). Pure: the caller feeds decoded replies and the current time,
 * and runs the timeout itself.
 *
 * The rules are kombu's: a reply counts when its ticket is this broadcast's (a reply with no
 * ticket counts too); collection ends at `limit` replies, which defaults to the number of
 * destination nodes when the request named some.
 */
import type { DecodedControlReply } from '../protocol/pidbox.js';
import type { Json } from '../protocol/types.js';

/** One node's answer as received: `{<node name>: <value>}`. */
export type NodeReply = { [node: string]: Json };

/** Options of {@link ReplyCollector}. */
export interface ReplyCollectorOptions {
  /** The ticket of the broadcast. */
  ticket: string;
  /** Stop after this many replies. @default destination length, else no limit */
  limit?: number | null;
  /** The nodes the request was addressed to, if any. */
  destination?: readonly string[] | null;
}

/** Collects the replies of one broadcast. */
export class ReplyCollector {
  /** The ticket replies must carry. */
  readonly ticket: string;
  /** Replies needed to finish early; null waits for the timeout. */
  readonly limit: number | null;
  readonly #replies: NodeReply[] = [];

  constructor(options: ReplyCollectorOptions) {
    this.ticket = options.ticket;
    const fromDestination = options.destination !== undefined && options.destination !== null && options.destination.length > 0 ? options.destination.length : null;
    const limit = options.limit ?? fromDestination;
    if (limit !== null && (!Number.isInteger(limit) || limit < 1)) throw new RangeError(`reply limit must be a positive integer, got ${String(limit)}`);
    this.limit = limit;
  }

  /** The replies accepted so far, in arrival order. */
  get replies(): readonly NodeReply[] {
    return this.#replies;
  }

  /** True once `limit` replies arrived. */
  get complete(): boolean {
    return this.limit !== null && this.#replies.length >= this.limit;
  }

  /** True when the reply belongs to this broadcast (its ticket, or none at all). */
  owns(reply: DecodedControlReply): boolean {
    return reply.ticket === null || reply.ticket === this.ticket;
  }

  /**
   * Offers a decoded reply. Returns the accepted node reply, or undefined when it belongs to
   * another broadcast or the collection is complete.
   */
  offer(reply: DecodedControlReply): NodeReply | undefined {
    if (this.complete || !this.owns(reply)) return undefined;
    this.#replies.push(reply.body);
    return reply.body;
  }
}

/**
 * Merges a list of node replies into one `{node: value}` map (Celery's `flatten_reply`);
 * a node that answered twice keeps its last answer.
 */
export function flattenReplies(replies: readonly NodeReply[]): { [node: string]: Json } {
  const out: { [node: string]: Json } = {};
  for (const reply of replies) for (const [node, value] of Object.entries(reply)) out[node] = value;
  return out;
}
