/**
 * @module worker/semaphore
 * A counting semaphore with a FIFO of waiters: the pools' concurrency slots and the
 * executor's finishing permits. A free permit is granted synchronously (no promise on the
 * worker's hot path); `cancelWaiters` fails the waiters on shutdown.
 */
import { CeleriacError, ErrorCodes } from '../errors.js';

/** A granted permit; call to give it back (later calls do nothing). */
export type Release = () => void;

/** Permits with a FIFO of waiters. */
export class Semaphore {
  private active = 0;
  private readonly waiters: { grant: (release: Release) => void; fail: (err: Error) => void }[] = [];

  constructor(private concurrency: number) {}

  /** Permits in use. */
  get busy(): number {
    return this.active;
  }

  /** Most permits out at once. */
  get size(): number {
    return this.concurrency;
  }

  /** A free permit: at once when there is one, else a promise of the next. */
  acquire(): Release | Promise<Release> {
    if (this.active < this.concurrency) return this.grant();
    return new Promise((grant, fail) => this.waiters.push({ grant, fail }));
  }

  /** Rejects every waiter (on shutdown); permits already out stay out. */
  cancelWaiters(): void {
    for (const w of this.waiters.splice(0)) w.fail(new CeleriacError(ErrorCodes.STATE, 'pool is closing'));
  }

  /** Changes the number of permits; waiters are granted at once when it grows. */
  resize(concurrency: number): void {
    this.concurrency = concurrency;
    this.drain();
  }

  private grant(): Release {
    this.active += 1;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active -= 1;
      this.drain();
    };
  }

  private drain(): void {
    while (this.active < this.concurrency && this.waiters.length > 0) {
      this.waiters.shift()?.grant(this.grant());
    }
  }
}
