/**
 * @module bench/lib/event-listener
 * The monitor a drain with task events on (`-E`) needs: a worker drops the task events nobody
 * hears (event-dispatcher.ts), so a subscriber must be there, and it counts their messages.
 * It stands for a dashboard on another machine, so it takes as little as a subscriber can of
 * the two cores the worker and Redis share: a bare socket that PSUBSCRIBEs, then counts the
 * `pmessage` frames Redis pushes, stepping over each payload without copying or decoding it.
 * An ioredis subscriber made a Buffer and a string of every batch (about 250 KB): 230-280 ms
 * of the bench process's CPU per 100,000 tasks drained at c=100, about as much as the extra
 * CPU the events cost the worker's main thread; this one, reading into one buffer, 15-60 ms
 * (bench/results/2026-11-28-vm-session34.md).
 */
import { connect, type Socket } from 'node:net';

const CR = 0x0d;
const LF = 0x0a;
/** Bulk strings up to this long are read (a frame's kind: `pmessage`, `psubscribe`); longer ones are skipped. */
const KIND_MAX = 16;
/** The listener's one read buffer. */
const READ_BYTES = 256 * 1024;

/**
 * Counts the `pmessage` frames of a RESP2 pub/sub stream fed in chunks of any size. Pub/sub
 * frames are flat arrays of bulk strings and integers; a frame's kind is its first element.
 */
export class PushCounter {
  /** `pmessage` frames seen. */
  messages = 0;
  /** `psubscribe` confirmations seen. */
  subscribed = 0;
  /** The error reply Redis sent, if any. */
  error: string | undefined;
  /** Elements of the current frame still to come. */
  #left = 0;
  #kind = '';
  /** Whether the current element is the frame's first. */
  #first = false;
  /** The text of a line being read (a type byte and a number), across chunks. */
  #line = '';
  /** Bytes of a bulk string (and its CRLF) still to pass over. */
  #skip = 0;
  /** The bytes of a short bulk string being read, or null when it is passed over unread. */
  #short: string | null = null;

  feed(chunk: Buffer): void {
    let i = 0;
    const n = chunk.length;
    while (i < n) {
      if (this.#skip > 0) {
        const take = Math.min(this.#skip, n - i);
        if (this.#short !== null) this.#short += chunk.toString('latin1', i, i + take);
        this.#skip -= take;
        i += take;
        if (this.#skip === 0) this.#element(this.#short === null ? '' : this.#short.slice(0, -2));
        continue;
      }
      const end = chunk.indexOf(LF, i);
      if (end < 0) {
        this.#line += chunk.toString('latin1', i, n);
        return;
      }
      const line = this.#line + chunk.toString('latin1', i, end > i && chunk[end - 1] === CR ? end - 1 : end);
      this.#line = '';
      i = end + 1;
      this.#onLine(line.endsWith('\r') ? line.slice(0, -1) : line);
    }
  }

  #onLine(line: string): void {
    const type = line[0];
    const rest = line.slice(1);
    if (type === '*') {
      this.#left = Number(rest);
      this.#kind = '';
      this.#first = true;
    } else if (type === '$') {
      const length = Number(rest);
      if (length < 0) return this.#element('');
      this.#skip = length + 2;
      this.#short = this.#first && length <= KIND_MAX ? '' : null;
    } else if (type === '-') {
      this.error = rest;
    } else {
      this.#element(rest); // an integer or a simple string
    }
  }

  #element(value: string): void {
    this.#short = null;
    if (this.#first) this.#kind = value;
    this.#first = false;
    if (--this.#left > 0) return;
    if (this.#kind === 'pmessage') this.messages++;
    else if (this.#kind === 'psubscribe') this.subscribed++;
  }
}

/** A subscriber on `pattern`: its count so far, and its close. */
export interface EventListener {
  readonly counter: PushCounter;
  close(): void;
}

/** Connects to Redis at host:port and PSUBSCRIBEs `pattern`; resolves once Redis confirmed it. */
export function listenForEvents(host: string, port: number, pattern: string): Promise<EventListener> {
  const counter = new PushCounter();
  return new Promise((resolve, reject) => {
    let confirmed = false;
    const fail = (err: Error) => {
      socket.destroy();
      reject(err);
    };
    // Every read lands in one buffer (no Buffer made per read: hundreds of megabytes go by).
    const onread = { buffer: Buffer.allocUnsafe(READ_BYTES), callback: (n: number, buffer: Uint8Array) => {
      counter.feed(Buffer.from(buffer.buffer, buffer.byteOffset, n));
      if (confirmed) return true;
      if (counter.error !== undefined) fail(new Error(`event listener: Redis said ${counter.error}`));
      else if (counter.subscribed > 0) {
        confirmed = true;
        resolve({ counter, close: () => socket.destroy() });
      }
      return true;
    } };
    const socket: Socket = connect({ host, port, onread }, () => {
      socket.write(`*2\r\n$10\r\nPSUBSCRIBE\r\n$${Buffer.byteLength(pattern)}\r\n${pattern}\r\n`);
    });
    // Once confirmed, an error (the server going away at the end of a run) only ends the count.
    socket.on('error', (err) => confirmed || fail(err));
  });
}
