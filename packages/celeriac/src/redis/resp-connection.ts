/**
 * @module redis/resp-connection
 * A minimal Redis connection speaking RESP2 over `node:net` / `node:tls`: connect, AUTH,
 * SELECT, then commands answered in order. For a worker thread that must start fast and
 * run one kind of command (the lease keeper, brokers/redis/lease-keeper-thread.ts): loading
 * node-redis in a fresh thread costs a second or more of CPU. No Sentinel, no pub/sub, no
 * pipelining beyond replies in order. A command that gets no reply within `timeoutMs`
 * fails and drops the connection; the next command connects afresh.
 */
import { readFileSync } from 'node:fs';
import { isIP, connect as netConnect, type Socket } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { RedisTarget } from './url.js';

/**
 * node:tls, loaded on the first TLS connection only: it runs in a keeper thread, whose isolate
 * loads its own copy of every module, and node:tls (with the crypto it pulls in) is 0.6 MB of
 * resident memory there that a plain `redis://` worker never uses.
 */
const tlsConnect = (options: ConnectionOptions, onSecure: () => void): Socket => process.getBuiltinModule('node:tls').connect(options, onSecure);

/** A reply: status text, integer, bulk string (null for nil), array (null for nil), or an error reply. */
export type RespReply = string | number | null | RespReply[] | RespError;

/** An error reply of the server (`-ERR ...`, `-NOSCRIPT ...`). */
export class RespError extends Error {
  override readonly name = 'RespError';
}

/** Encodes one command as a RESP array of bulk strings. */
export function encodeCommand(args: readonly string[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const arg of args) {
    const body = Buffer.from(arg, 'utf8');
    parts.push(Buffer.from(`$${body.length}\r\n`), body, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Incremental RESP2 reply parser: feed bytes, take whole replies. */
export class RespParser {
  #buffer: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): void {
    this.#buffer = this.#buffer.length === 0 ? chunk : Buffer.concat([this.#buffer, chunk]);
  }

  /** The next whole reply, or undefined when more bytes are needed. */
  next(): RespReply | undefined {
    const parsed = this.#parse(0);
    if (parsed === undefined) return undefined;
    this.#buffer = this.#buffer.subarray(parsed.end);
    return parsed.value;
  }

  #parse(at: number): { value: RespReply; end: number } | undefined {
    const buf = this.#buffer;
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const type = String.fromCharCode(buf[at]!);
    const line = buf.toString('utf8', at + 1, eol);
    const after = eol + 2;
    switch (type) {
      case '+':
        return { value: line, end: after };
      case '-':
        return { value: new RespError(line), end: after };
      case ':':
        return { value: Number(line), end: after };
      case '$': {
        const size = Number(line);
        if (size < 0) return { value: null, end: after };
        if (buf.length < after + size + 2) return undefined;
        return { value: buf.toString('utf8', after, after + size), end: after + size + 2 };
      }
      case '*': {
        const count = Number(line);
        if (count < 0) return { value: null, end: after };
        const items: RespReply[] = [];
        let end = after;
        for (let i = 0; i < count; i++) {
          const item = this.#parse(end);
          if (item === undefined) return undefined;
          items.push(item.value);
          end = item.end;
        }
        return { value: items, end };
      }
      default:
        throw new RespError(`unexpected RESP type byte ${JSON.stringify(type)}`);
    }
  }
}

interface Pending {
  resolve(reply: RespReply): void;
  reject(err: Error): void;
}

/** One lazily opened RESP2 connection to a plain or TLS Redis target (not Sentinel). */
export class RespConnection {
  #socket: Socket | null = null;
  #opening: Promise<Socket> | null = null;
  readonly #pending: Pending[] = [];
  #parser = new RespParser();
  #closed = false;

  constructor(
    private readonly target: RedisTarget,
    private readonly timeoutMs: number,
  ) {
    if (target.sentinel !== undefined) throw new RespError('RespConnection does not speak Sentinel');
  }

  /** Sends a command; resolves with its reply (an error reply resolves as a RespError value). */
  async command(args: readonly string[]): Promise<RespReply> {
    const socket = await this.#open();
    return this.#send(socket, args);
  }

  /** Closes the connection; pending commands fail. */
  close(): void {
    this.#closed = true;
    this.#drop(new RespError('connection closed'));
  }

  #send(socket: Socket, args: readonly string[]): Promise<RespReply> {
    return new Promise<RespReply>((resolve, reject) => {
      const timer = setTimeout(() => this.#drop(new RespError(`no reply within ${this.timeoutMs} ms`)), this.timeoutMs);
      this.#pending.push({
        resolve: (r) => (clearTimeout(timer), resolve(r)),
        reject: (e) => (clearTimeout(timer), reject(e)),
      });
      socket.write(encodeCommand(args));
    });
  }

  #open(): Promise<Socket> {
    if (this.#closed) return Promise.reject(new RespError('connection closed'));
    if (this.#socket !== null) return Promise.resolve(this.#socket);
    this.#opening ??= this.#connect().finally(() => (this.#opening = null));
    return this.#opening;
  }

  async #connect(): Promise<Socket> {
    const t = this.target;
    const socket = await new Promise<Socket>((resolve, reject) => {
      const options = { host: t.host, port: t.port };
      const s = t.tls ? tlsConnect({ ...options, ...this.#tlsOptions() }, () => resolve(s)) : netConnect(options, () => resolve(s));
      const timer = setTimeout(() => s.destroy(new RespError(`could not connect within ${this.timeoutMs} ms`)), this.timeoutMs);
      s.once('connect', () => clearTimeout(timer));
      s.once('secureConnect', () => clearTimeout(timer));
      s.once('error', (err) => (clearTimeout(timer), reject(err)));
    });
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 10_000);
    this.#parser = new RespParser();
    socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    socket.on('error', (err) => this.#drop(err));
    socket.on('close', () => this.#drop(new RespError('connection lost')));
    this.#socket = socket;
    const handshake: string[][] = [];
    if (t.password !== undefined) handshake.push(t.username !== undefined ? ['AUTH', t.username, t.password] : ['AUTH', t.password]);
    if (t.db !== 0) handshake.push(['SELECT', String(t.db)]);
    for (const args of handshake) {
      const reply = await this.#send(socket, args);
      if (reply instanceof RespError) {
        this.#drop(reply);
        throw reply;
      }
    }
    return socket;
  }

  #tlsOptions(): Record<string, unknown> {
    const o = this.target.tlsOptions;
    const read = (file: string | undefined) => (file === undefined ? undefined : readFileSync(file, 'utf8'));
    return {
      ...(isIP(this.target.host) === 0 ? { servername: this.target.host } : {}),
      ...(o === undefined ? {} : { ca: read(o.caFile), cert: read(o.certFile), key: read(o.keyFile), rejectUnauthorized: o.verify }),
    };
  }

  #onData(chunk: Buffer): void {
    this.#parser.push(chunk);
    for (;;) {
      let reply: RespReply | undefined;
      try {
        reply = this.#parser.next();
      } catch (err) {
        this.#drop(err as Error);
        return;
      }
      if (reply === undefined) return;
      this.#pending.shift()?.resolve(reply);
    }
  }

  #drop(err: Error): void {
    const socket = this.#socket;
    this.#socket = null;
    socket?.destroy();
    for (const p of this.#pending.splice(0)) p.reject(err);
  }
}
