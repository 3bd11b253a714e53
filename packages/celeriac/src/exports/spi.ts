/**
 * For writing adapters: the role interfaces a broker, a result backend and a beat store implement,
 * the URL-scheme table `createApp` opens adapters from (extend `defaultTransports` and pass it
 * as `transports`), the Clock adapters take, and the error normaliser. Conformance suites for
 * adapters are in `celeriac/testing/conformance`.
 *
 * @module celeriac/spi
 */
export type { ChordJoinState, ChordJoinStore, ChordPart, GroupStore, RateTokenStore, ResultBackend, ResultStore, RevocationStore, RevokedEntry, RevokeNotice, RevokeOptions, StoreOptions, SubscribedPublish, CarriedPublish, Unsubscribe } from '../core/spi/backend.js';
export type { Broker, BrokerCapabilities, ConsumeOptions, Consumer, ConsumerRetry, DelayedListing, DelayedRecord, Delivery, FanoutExchange, LostDelivery, PublishOptions, PurgeCount, PublishRequest, QueueAgeReading, QueueBindings, QueueBroker, SetAsideListing, SetAsidePartStats, SetAsideRecord, Settlement } from '../core/spi/broker.js';
export type { BeatStore, BeatStoreHost, EntryRunState, LeaseAttempt, PublishFence, StoredEntries } from '../core/spi/beat-store.js';
export { defaultTransports } from '../transports.js';
export type { TransportContext, TransportLog, TransportLogFields, TransportTable } from '../core/transport-table.js';
export { systemClock } from '../core/clock.js';
export type { Clock, TimerHandle } from '../core/clock.js';
export { coerceError } from '../errors.js';
export { newRedisClient } from '../redis/client-class.js';
export { delayedListingOf, purgeCounting, queueAgeReadingOf, setAsideListingOf } from '../core/spi/roles.js';
