/**
 * @module core/uuid
 * uuid4 text for ids made once per sent message (task ids), and uuid7 text (RFC 9562: the
 * first 48 bits are the Unix time in milliseconds) for the Redis broker's delivery tags, so a
 * waiting message tells when it was sent (the dashboard's queue age) without a byte more. Same format and
 * random source as `crypto.randomUUID` (which also draws its bytes in batches), but the text
 * is written into one buffer and read out as one string instead of being concatenated from
 * twenty pieces: in bulk sends that garbage was a visible share of the collector's work.
 */
import { randomFillSync } from 'node:crypto';

const IDS_PER_DRAW = 128;
const random = Buffer.alloc(16 * IDS_PER_DRAW);
let next = random.length;
const HEX = Buffer.from('0123456789abcdef', 'latin1');
// The text, dashes in place; `POSITIONS[i]` is where byte i's two hex digits go.
const text = Buffer.from('00000000-0000-0000-0000-000000000000', 'latin1');
const POSITIONS = [0, 2, 4, 6, 9, 11, 14, 16, 19, 21, 24, 26, 28, 30, 32, 34];
/** `2 ** (40 - 8 * i)` for the time's bytes i = 0-5: a power per byte was a call into Math.pow per delivery tag. */
const TIME_DIVISORS = [2 ** 40, 2 ** 32, 2 ** 24, 2 ** 16, 2 ** 8, 1];

/** A random (version 4, RFC 4122 variant) UUID in lowercase `8-4-4-4-12` form, as `crypto.randomUUID()`. */
export function uuid4(): string {
  return write(0x40, -1);
}

/**
 * A version 7 UUID (RFC 9562) for the Unix time `nowMs`: 48 bits of milliseconds, then 74
 * random bits. Unique as uuid4 is within a millisecond; ordered by time across milliseconds.
 */
export function uuid7(nowMs: number): string {
  return write(0x70, Math.max(0, Math.floor(nowMs)));
}

/** The milliseconds a version 7 UUID holds, or null for any other text (uuid4, kombu's, garbage). */
export function uuid7Time(id: unknown): number | null {
  if (typeof id !== 'string' || !UUID7.test(id)) return null;
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

const UUID7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/i;

/** Writes 16 random bytes as UUID text with `version` in byte 6; `timeMs` >= 0 replaces bytes 0-5. */
function write(version: number, timeMs: number): string {
  if (next === random.length) {
    randomFillSync(random);
    next = 0;
  }
  const start = next;
  next += 16;
  for (let i = 0; i < 16; i++) {
    let byte = random[start + i] as number;
    // Byte i of 0-5 is bits 40-8i..47-8i of the time (division: past 2^32 shifts would wrap).
    if (i < 6 && timeMs >= 0) byte = Math.floor(timeMs / (TIME_DIVISORS[i] as number)) & 0xff;
    else if (i === 6) byte = (byte & 0x0f) | version;
    else if (i === 8) byte = (byte & 0x3f) | 0x80;
    const at = POSITIONS[i] as number;
    text[at] = HEX[byte >> 4] as number;
    text[at + 1] = HEX[byte & 0x0f] as number;
  }
  return text.toString('latin1');
}
