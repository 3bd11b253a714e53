/**
 * A TCP fault proxy on 127.0.0.1 for the outage and chaos tests: forwards connections to a
 * target port and, on command, breaks them the ways networks and servers break:
 *
 * - `cut()`: every connection is closed (FIN), and new ones are closed at once (a server
 *   that went away; clients see ECONNRESET / "socket closed" and reconnect);
 * - `reset()`: every connection is reset (RST), and new ones too;
 * - `stall()`: every connection, open or new, silently stops carrying data while staying
 *   open (a dropped network path: no FIN, no RST);
 * - `slow(ms)`: every chunk is delayed by `ms` each way (a congested link), never reordered;
 * - `narrow(bytesPerSecond)`: each way carries at most that many bytes a second (a thin link:
 *   a big reply takes its time to arrive), never reordered;
 * - `dropSendsAfter(needle)`: a connection whose server sends bytes holding `needle` has them
 *   forwarded, then drops whatever its client sends from then on (a reply that never arrives);
 * - `heal()`: back to forwarding; connections broken meanwhile stay broken, new ones work.
 *
 * Everything it does is counted in `stats`, so a test can tell its faults really happened.
 */
import { createServer, Socket, type Server } from 'node:net';

export type FaultMode = 'pass' | 'cut' | 'reset' | 'stall' | 'slow' | 'narrow';

interface Pair {
  client: Socket;
  upstream: Socket;
  /** Stalled: data is dropped both ways. */
  dead: boolean;
  /** What the client sends is dropped (see FaultProxy.dropSendsAfter). */
  sendsDead: boolean;
  /** Cancel the pending delivery timers of `slow`. */
  timers: (() => void)[];
}

export class FaultProxy {
  readonly #pairs = new Set<Pair>();
  #server: Server | undefined;
  #mode: FaultMode = 'pass';
  #delayMs = 0;
  #bytesPerSecond = 0;
  /** Armed by dropSendsAfter: the server bytes that make a connection drop its client's. */
  #needle: Buffer | undefined;
  /**
   * `droppedToServer`: bytes clients sent on stalled connections (or after a trap), which never
   * reached the target; `trapped`: connections {@link dropSendsAfter} took.
   */
  readonly stats = { accepted: 0, cut: 0, reset: 0, stalled: 0, refused: 0, delayed: 0, droppedToServer: 0, trapped: 0 };

  /** `port` 0 picks a free port. */
  constructor(
    readonly targetPort: number,
    private readonly listenPort = 0,
  ) {}

  #port = 0;

  /** The port to connect to instead of the target's. */
  get port(): number {
    return this.#port;
  }

  get mode(): FaultMode {
    return this.#mode;
  }

  /** The URL of a Redis server behind this proxy. */
  redisUrl(db = 0): string {
    return `redis://127.0.0.1:${this.#port}/${db}`;
  }

  async start(): Promise<void> {
    const server = createServer((client) => this.#accept(client));
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.listenPort, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : 0;
  }

  #accept(client: Socket): void {
    this.stats.accepted += 1;
    client.on('error', () => undefined);
    if (this.#mode === 'cut') {
      this.stats.refused += 1;
      client.destroy();
      return;
    }
    if (this.#mode === 'reset') {
      this.stats.refused += 1;
      client.resetAndDestroy();
      return;
    }
    const upstream = new Socket();
    const pair: Pair = { client, upstream, dead: this.#mode === 'stall', sendsDead: false, timers: [] };
    this.#pairs.add(pair);
    const forget = () => {
      this.#pairs.delete(pair);
      for (const cancel of pair.timers) cancel();
      client.destroy();
      upstream.destroy();
    };
    const forward = (to: Socket, toServer: boolean) => {
      // Chunks of one direction leave in the order they came, also when `slow` ends or its
      // delay changes while some wait: TCP never reorders bytes, and a proxy that did would
      // hand Redis commands (and clients replies) out of order, so replies would be matched
      // to the wrong commands.
      const waiting: { chunk: Buffer; dueAt: number }[] = [];
      let timer: NodeJS.Timeout | undefined;
      const pump = () => {
        timer = undefined;
        const now = Date.now();
        while (waiting.length > 0 && waiting[0]!.dueAt <= now) {
          const { chunk } = waiting.shift()!;
          if (!pair.dead && !to.destroyed) to.write(chunk);
        }
        if (waiting.length > 0 && !pair.dead && !to.destroyed) timer = setTimeout(pump, waiting[0]!.dueAt - now);
      };
      pair.timers.push(() => clearTimeout(timer));
      /** When the last piece queued by `narrow` leaves: the link is busy until then. */
      let busyUntil = 0;
      return (chunk: Buffer) => {
        if (pair.dead || (toServer && pair.sendsDead)) {
          if (toServer) this.stats.droppedToServer += chunk.length;
          return;
        }
        if (!toServer && !pair.sendsDead && this.#needle !== undefined && chunk.includes(this.#needle)) {
          // Forwarded below (the client must get it); nothing of the client's goes any more.
          pair.sendsDead = true;
          this.stats.trapped += 1;
        }
        if (this.#mode === 'narrow') {
          // Pieces of 16 KB, each leaving when the link has carried the ones before it.
          for (let at = 0; at < chunk.length; at += 16 * 1024) {
            const piece = chunk.subarray(at, at + 16 * 1024);
            busyUntil = Math.max(busyUntil, Date.now()) + (piece.length * 1000) / this.#bytesPerSecond;
            waiting.push({ chunk: piece, dueAt: busyUntil });
          }
          this.stats.delayed += 1;
          if (timer === undefined) timer = setTimeout(pump, Math.max(0, waiting[0]!.dueAt - Date.now()));
          return;
        }
        const delayMs = this.#mode === 'slow' ? this.#delayMs : 0;
        if (delayMs === 0 && waiting.length === 0) {
          to.write(chunk);
          return;
        }
        this.stats.delayed += 1;
        waiting.push({ chunk, dueAt: Date.now() + delayMs });
        if (timer === undefined) timer = setTimeout(pump, Math.max(0, waiting[0]!.dueAt - Date.now()));
      };
    };
    client.on('data', forward(upstream, true));
    upstream.on('data', forward(client, false));
    client.on('close', forget);
    upstream.on('error', forget).on('close', forget);
    upstream.connect(this.targetPort, '127.0.0.1');
  }

  /** Closes every connection (FIN); new ones are closed at once until {@link heal}. */
  cut(): void {
    this.#mode = 'cut';
    for (const pair of this.#pairs) {
      this.stats.cut += 1;
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.#pairs.clear();
  }

  /** Resets every connection (RST); new ones are reset at once until {@link heal}. */
  reset(): void {
    this.#mode = 'reset';
    for (const pair of this.#pairs) {
      this.stats.reset += 1;
      pair.client.resetAndDestroy();
      pair.upstream.destroy();
    }
    this.#pairs.clear();
  }

  /** Every connection, open or new, stops carrying data, silently, until {@link heal}. */
  stall(): void {
    this.#mode = 'stall';
    for (const pair of this.#pairs) {
      this.stats.stalled += 1;
      pair.dead = true;
    }
  }

  /**
   * From now on (on open connections and new ones), a connection whose server sends a chunk
   * holding `needle` has that chunk forwarded, then drops everything its client sends: the
   * client's answer to it is lost, as in a connection that dies just after. Until {@link heal}.
   * A needle split across two chunks is not seen: use one that fits in a frame's header.
   */
  dropSendsAfter(needle: string | Buffer): void {
    this.#needle = Buffer.isBuffer(needle) ? needle : Buffer.from(needle);
  }

  /** Delays every chunk by `ms` each way. */
  slow(ms: number): void {
    this.#mode = 'slow';
    this.#delayMs = ms;
  }

  /** Each way of every connection carries at most `bytesPerSecond`. */
  narrow(bytesPerSecond: number): void {
    this.#mode = 'narrow';
    this.#bytesPerSecond = bytesPerSecond;
  }

  /** New connections are forwarded again (stalled ones stay dead: their clients must notice). */
  heal(): void {
    this.#mode = 'pass';
    this.#delayMs = 0;
    this.#needle = undefined;
  }

  /** Open connections, stalled ones included. */
  get openConnections(): number {
    return this.#pairs.size;
  }

  /** Open connections that still carry data. */
  get liveConnections(): number {
    return [...this.#pairs].filter((p) => !p.dead).length;
  }

  async close(): Promise<void> {
    for (const { client, upstream } of this.#pairs) {
      client.destroy();
      upstream.destroy();
    }
    this.#pairs.clear();
    const server = this.#server;
    this.#server = undefined;
    if (server !== undefined) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
