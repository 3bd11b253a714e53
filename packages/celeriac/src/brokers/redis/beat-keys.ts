/**
 * @module brokers/redis/beat-keys
 * The Redis keys of beat's store (brokers/redis/beat-store.ts), all ours and invisible to
 * kombu, under the broker URL's `global_keyprefix`: one beat group per prefix. The broker's
 * own keys are in keys.ts.
 */

/** Key names of the beat store under one prefix. */
export class BeatKeys {
  /** String: the current leader's fencing token, with a PX expiry (the lease). */
  readonly lease: string;
  /** Counter: the last token number handed out (tokens only grow). */
  readonly epoch: string;
  /** Hash: entry name -> run state JSON `{lastRunAt, totalRunCount}`. */
  readonly state: string;
  /** Hash: entry name -> dynamic entry definition JSON. */
  readonly entries: string;
  /** Set: names of paused entries. */
  readonly paused: string;
  /** Counter: version of the dynamic entries, bumped on every change. */
  readonly version: string;

  constructor(prefix: string = '') {
    const base = `${prefix}celeriac.beat.`;
    this.lease = `${base}lease`;
    this.epoch = `${base}epoch`;
    this.state = `${base}state`;
    this.entries = `${base}entries`;
    this.paused = `${base}paused`;
    this.version = `${base}version`;
  }
}
