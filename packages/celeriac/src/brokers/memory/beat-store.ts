/**
 * @module brokers/memory/beat-store
 * The in-process {@link BeatStore} of the memory broker: leases expire by the injected
 * clock, and the broker checks fences synchronously inside `publish`, so the memory pair
 * behaves like the Redis one within one process (several Beat instances, one sender).
 */
import type { Clock } from '../../core/clock.js';
import type { BeatStore, EntryRunState, LeaseAttempt, PublishFence, StoredEntries } from '../../core/spi/beat-store.js';

const LEASE_KEY = 'memory:beat:lease';
const STATE_KEY = 'memory:beat:state';

/** A {@link BeatStore} in process memory. */
export class MemoryBeatStore implements BeatStore {
  /** Adapter name. */
  readonly kind = 'memory';
  #lease: { token: string; expiresAt: number } | undefined;
  #epoch = 0;
  #version = 0;
  readonly #states = new Map<string, EntryRunState>();
  readonly #definitions = new Map<string, string>();
  readonly #paused = new Set<string>();

  constructor(private readonly clock: Clock) {}

  #holder(): string | undefined {
    if (this.#lease !== undefined && this.#lease.expiresAt <= this.clock.now()) this.#lease = undefined;
    return this.#lease?.token;
  }

  async acquire(holder: string, ttlMs: number): Promise<LeaseAttempt> {
    if (this.#holder() !== undefined) return { token: null, retryInMs: Math.max(1, (this.#lease?.expiresAt ?? 0) - this.clock.now()) };
    this.#epoch += 1;
    const token = `${this.#epoch}:${holder}`;
    this.#lease = { token, expiresAt: this.clock.now() + ttlMs };
    return { token, retryInMs: 0 };
  }

  async renew(token: string, ttlMs: number): Promise<boolean> {
    if (this.#holder() !== token || this.#lease === undefined) return false;
    this.#lease.expiresAt = this.clock.now() + ttlMs;
    return true;
  }

  async release(token: string): Promise<void> {
    if (this.#holder() === token) this.#lease = undefined;
  }

  fence(token: string, entry: string, state: EntryRunState): PublishFence {
    return { key: LEASE_KEY, token, record: { key: STATE_KEY, field: entry, value: JSON.stringify(state) } };
  }

  /**
   * The broker's side of a fenced publish: true (and the record written) when the fence
   * holds. Synchronous, so nothing runs between the check and the publish.
   */
  applyFence(fence: PublishFence): boolean {
    if (fence.key !== LEASE_KEY || this.#holder() !== fence.token) return false;
    if (fence.record !== undefined) this.#states.set(fence.record.field, JSON.parse(fence.record.value) as EntryRunState);
    return true;
  }

  async record(token: string, entry: string, state: EntryRunState): Promise<boolean> {
    if (this.#holder() !== token) return false;
    this.#states.set(entry, { ...state });
    return true;
  }

  async states(): Promise<Map<string, EntryRunState>> {
    return new Map([...this.#states].map(([k, v]) => [k, { ...v }]));
  }

  async version(): Promise<number> {
    return this.#version;
  }

  async entries(): Promise<StoredEntries> {
    return { version: this.#version, definitions: new Map(this.#definitions), paused: new Set(this.#paused) };
  }

  async put(name: string, definition: string): Promise<number> {
    this.#definitions.set(name, definition);
    return ++this.#version;
  }

  async setPaused(name: string, paused: boolean): Promise<number> {
    if (paused) this.#paused.add(name);
    else this.#paused.delete(name);
    return ++this.#version;
  }

  async remove(name: string): Promise<boolean> {
    const existed = this.#definitions.delete(name);
    this.#paused.delete(name);
    this.#states.delete(name);
    this.#version += 1;
    return existed;
  }
}
