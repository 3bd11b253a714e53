/**
 * @module core/spi/common
 * The small types every role of the adapter SPIs shares (broker.ts, backend.ts and the role
 * files beside them). A leaf: it imports nothing, so role files never import each other.
 */

/** Stops a subscription. Idempotent. */
export type Unsubscribe = () => Promise<void>;

/** How long a backend keeps what it is asked to store. */
export interface StoreOptions {
  /** Seconds to keep the record; null keeps it forever. */
  expiresSec: number | null;
  /**
   * The task message's `reply_to` (the sender's oid), for backends that send results back to
   * the sender (`rpc://`); others ignore it.
   */
  replyTo?: string;
}
