/**
 * One raw HTTP/1.1 exchange: bytes written as they are on a new connection, for what a client
 * library refuses to send (headers past the server's limit, a bad percent-escape, garbage),
 * and the answer read until its body is in. The security suites of the API and the dashboard
 * hold what the router and Node's parser refuse to the same headers as everything else.
 */
import { once } from 'node:events';
import { connect } from 'node:net';
import { waitFor } from 'celeriac/testing';

/** A parsed answer: status, headers (names lower-cased) and body. */
export interface RawAnswer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Writes `request` to 127.0.0.1:`port` and returns the answer once its head and `content-length` bytes of body are in. */
export async function rawHttp(port: number, request: string, timeoutMs = 10_000): Promise<RawAnswer> {
  const socket = connect(port, '127.0.0.1');
  await once(socket, 'connect');
  let answer = '';
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  // The server may close first (it does after a parse error): what it sent is read all the same.
  socket.on('error', () => undefined);
  socket.write(request);
  try {
    await waitFor(
      () => {
        const end = answer.indexOf('\r\n\r\n');
        const length = end === -1 ? null : /\r\ncontent-length: (\d+)/i.exec(answer.slice(0, end));
        return length !== null && length !== undefined && Buffer.byteLength(answer.slice(end + 4), 'latin1') >= Number(length[1]);
      },
      () => `a whole answer (so far: ${JSON.stringify(answer.slice(0, 200))})`,
      timeoutMs,
    );
  } finally {
    socket.destroy();
  }
  const end = answer.indexOf('\r\n\r\n');
  const [statusLine = '', ...lines] = answer.slice(0, end).split('\r\n');
  const headers = Object.fromEntries(lines.map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()]));
  return { status: Number(statusLine.split(' ')[1]), headers, body: answer.slice(end + 4) };
}
