import { describe, expect, it } from 'vitest';
import { propertiesAreUtf8 } from './strict-text.js';

/** Basic properties with only headers set (flag 0x2000): a table of one `S` field `name`. */
function headersWith(name: Buffer, value: Buffer): Buffer {
  const entry = Buffer.concat([Buffer.from([name.length]), name, Buffer.from('S'), Buffer.alloc(4), value]);
  entry.writeUInt32BE(value.length, 2 + name.length);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(entry.length);
  return Buffer.concat([Buffer.from([0x20, 0x00]), size, entry]);
}

describe('strict header text', () => {
  it('tells header text that is not UTF-8 from a real U+FFFD', () => {
    expect(propertiesAreUtf8(headersWith(Buffer.from('id'), Buffer.from('a\uFFFDb')))).toBe(true);
    expect(propertiesAreUtf8(headersWith(Buffer.from('id'), Buffer.from([0x61, 0xff])))).toBe(false);
    expect(propertiesAreUtf8(headersWith(Buffer.from([0xc3]), Buffer.from('x')))).toBe(false);
  });

  it('leaves a frame it cannot read to amqplib (true, no throw)', () => {
    const whole = headersWith(Buffer.from('id'), Buffer.from('abc'));
    for (let cut = 0; cut < whole.length; cut++) expect(propertiesAreUtf8(whole.subarray(0, cut))).toBe(true);
    expect(propertiesAreUtf8(Buffer.from([0x20, 0x00, 0, 0, 0, 3, 1, 0x61, 0x3f]))).toBe(true);
  });
});
