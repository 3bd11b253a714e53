/**
 * A TCP proxy on 127.0.0.1 for network-failure tests: it forwards connections to a target
 * port, and `blackhole()` makes every connection open so far silently stop carrying data in
 * both directions while staying open (a dropped network path, a dead NAT entry: no FIN, no
 * RST, and TCP keep-alive still answered by this host). New connections are forwarded
 * normally, as after the network came back.
 */
import { createServer, Socket, type Server } from 'node:net';

/** A forwarding proxy; see the module comment. */
export class TcpProxy {
  readonly #pairs = new Set<{ client: Socket; upstream: Socket; dead: boolean }>();
  #server: Server | undefined;
  #port = 0;

  constructor(readonly targetPort: number) {}

  /** The port to connect to instead of the target's. */
  get port(): number {
    return this.#port;
  }

  /** Number of connections that still carry data. */
  get liveConnections(): number {
    return [...this.#pairs].filter((p) => !p.dead).length;
  }

  /** Starts listening on a free port. */
  async start(): Promise<void> {
    const server = createServer((client) => {
      const upstream = new Socket();
      const pair = { client, upstream, dead: false };
      this.#pairs.add(pair);
      const forget = () => {
        this.#pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      };
      client.on('data', (chunk: Buffer) => {
        if (!pair.dead) upstream.write(chunk);
      });
      upstream.on('data', (chunk: Buffer) => {
        if (!pair.dead) client.write(chunk);
      });
      client.on('error', forget).on('close', forget);
      upstream.on('error', forget).on('close', forget);
      upstream.connect(this.targetPort, '127.0.0.1');
    });
    this.#server = server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    this.#port = typeof address === 'object' && address !== null ? address.port : 0;
  }

  /** Every open connection stops carrying data, silently; new ones work. */
  blackhole(): void {
    for (const pair of this.#pairs) pair.dead = true;
  }

  /** Closes the listener and every connection. */
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
