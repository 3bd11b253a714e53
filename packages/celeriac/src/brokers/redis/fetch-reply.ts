/**
 * @module brokers/redis/fetch-reply
 * What fetch.lua answers, read into the messages it popped (Transitions.fetch).
 */

/** One message popped by Transitions.fetch. */
export interface FetchedMessage {
  /** Index into the bucket keys given to fetch. */
  readonly offset: number;
  readonly raw: string;
  readonly tag: string;
  /** Proof of holding the lease; settlements must present it. */
  readonly token: string;
  /** Deliveries of this message given back before this one (celeriac.deliveries); 0 for none. */
  readonly given: number;
  /** Set when the stored envelope is not valid UTF-8 (see Transitions.fetch): why it cannot be decoded. */
  invalid?: string;
}

/**
 * The messages of a fetch.lua reply: `[header, envelope_1..envelope_N, other tags...]`, the
 * header holding per message its key offset, then `:<tag>"` or, when its tag is among the
 * other tags, `"` (see the script's header comment), and maybe `#<count>,<count>...`: how many
 * deliveries of each message were given back before. Message i's token is `<prefix>.<i>`.
 */
export function readFetchReply(reply: readonly string[], tokenPrefix: string): FetchedMessage[] {
  const header = reply[0];
  // Seen once in a chaos run, right after a reconnect: a reply shaped as another script's
  // (integers first). Name it instead of failing with "header.charCodeAt is not a function".
  if (!Array.isArray(reply) || typeof header !== 'string') {
    throw new Error(`fetch.lua replied in an unknown shape (${Array.isArray(reply) ? `${reply.length} entries, the first ${JSON.stringify(header)?.slice(0, 80)}` : JSON.stringify(reply)?.slice(0, 80)})`);
  }
  const out: { offset: number; raw: string; tag: string; token: string; given: number }[] = [];
  const untagged: number[] = [];
  let pos = 0;
  while (pos < header.length) {
    let offset = 0;
    let c = header.charCodeAt(pos);
    while (c >= 48 && c <= 57) {
      offset = offset * 10 + (c - 48);
      c = header.charCodeAt(++pos);
    }
    let tag = '';
    if (c === 58) {
      const end = header.indexOf('"', pos + 1);
      if (end < 0) break;
      tag = header.slice(pos + 1, end);
      pos = end + 1;
    } else if (c === 34) {
      untagged.push(out.length);
      pos += 1;
    } else break;
    const i = out.length;
    out.push({ offset, raw: reply[1 + i] as string, tag, token: `${tokenPrefix}.${i}`, given: 0 });
  }
  // Read past the end, charCodeAt gives NaN, but optimized code is deoptimized the first time.
  if (pos < header.length && header.charCodeAt(pos) === 35) {
    const given = header.slice(pos + 1).split(',');
    if (given.length === out.length) {
      for (let i = 0; i < given.length; i++) (out[i] as { given: number }).given = Number(given[i]) || 0;
      pos = header.length;
    }
  }
  if (pos !== header.length || reply.length !== 1 + out.length + untagged.length) {
    throw new Error(`fetch.lua replied in an unknown shape (${reply.length} entries, header ${JSON.stringify(header.slice(0, 80))})`);
  }
  for (let j = 0; j < untagged.length; j++) (out[untagged[j] as number] as { tag: string }).tag = reply[1 + out.length + j] as string;
  return out;
}
