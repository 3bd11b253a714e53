/**
 * @module brokers/redis/lifecycle
 * The Redis broker's open/closing/closed state, one object shared (read-only but for the
 * broker) by the broker's parts that must refuse work once it closes: consumers refuse
 * settlements, the publisher stops reporting background failures.
 */
import { CeleriacError, ErrorCodes } from '../../errors.js';

/** Lifecycle of a `RedisBroker`: usable until closed, never reopened. */
export type RedisBrokerState = 'open' | 'closing' | 'closed';

/** The broker's state; only the broker moves it. */
export class Lifecycle {
  state: RedisBrokerState = 'open';

  /** Throws STATE unless open; `operation` names the broker method refused. */
  assertOpen(operation: string): void {
    if (this.state !== 'open') {
      throw new CeleriacError(ErrorCodes.STATE, `RedisBroker.${operation}: the broker is closed`);
    }
  }
}
