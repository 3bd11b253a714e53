/**
 * @module core/uuid
 * uuid4 text for ids made once per sent message (task ids, delivery tags). Same format and
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

/** A random (version 4, RFC 4122 variant) UUID in lowercase `8-4-4-4-12` form, as `crypto.randomUUID()`. */
export function uuid4(): string {
  if (next === random.length) {
    randomFillSync(random);
    next = 0;
  }
  const start = next;
  next += 16;
  for (let i = 0; i < 16; i++) {
    let byte = random[start + i] as number;
    if (i === 6) byte = (byte & 0x0f) | 0x40;
    else if (i === 8) byte = (byte & 0x3f) | 0x80;
    const at = POSITIONS[i] as number;
    text[at] = HEX[byte >> 4] as number;
    text[at + 1] = HEX[byte & 0x0f] as number;
  }
  return text.toString('latin1');
}
