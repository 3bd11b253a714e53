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

/**
 * A publish a broker writes on a connection that a result backend holds to the broker's own
 * server (QueueBroker.publisherOn, for ResultStore.publishSubscribed): it queues its commands
 * on `connection` at once, so that they go out in one write right after what was queued before
 * them, and settles as a publish does. `connection` is the transport's own kind of client (a
 * node-redis client on Redis). `publisherOn` is asked in the turn the commands are queued in,
 * with the backend's server identity as the adapters of one transport compare it (Redis:
 * redis/url.ts `serverIdentity`), and declines another server and a routed, delayed or fenced
 * publish.
 */
export type CarriedPublish = (connection: unknown) => Promise<void>;

/** A result subscription with a task's publish behind it (ResultStore.publishSubscribed). */
export interface SubscribedPublish {
  /** Settles as the publish does. */
  readonly published: Promise<void>;
  /** Resolves once the subscription is acknowledged; rejects when it failed (then the wait reads instead). */
  readonly subscribed: Promise<Unsubscribe>;
}
