/**
 * @module worker/async-pool
 * The async pool: runs up to `concurrency` tasks at once on the event loop. Right for
 * I/O-bound tasks. A slot is taken before a task starts and freed when it ends or when its
 * hard time limit passes (the task's promise is then abandoned and its signal aborted).
 */
import { CeleriacError, ErrorCodes } from '../errors.js';

/** A granted slot; call once to free it. */
export type Release = () => void;

/** Concurrency slots with a FIFO of waiters. */
export class AsyncPool {
  private active = 0;
  private readonly waiters: { grant: (release: Release) => void; fail: (err: Error) => void }[] = [];

  constructor(private concurrency: number) {}

  /** Slots in use. */
  get busy(): number {
    return this.active;
  }

  /** Most tasks at once. */
  get size(): number {
    return this.concurrency;
  }

  /** A free slot: at once when there is one, else a promise of the next. */
  acquire(): Release | Promise<Release> {
    if (this.active < this.concurrency) return this.grant();
    return new Promise((grant, fail) => this.waiters.push({ grant, fail }));
  }

  /** Rejects every waiter (on shutdown); running tasks keep their slots. */
  cancelWaiters(): void {
    for (const w of this.waiters.splice(0)) w.fail(new CeleriacError(ErrorCodes.STATE, 'pool is closing'));
  }

  /** Change the number of slots; waiters are granted at once when it grows. */
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
