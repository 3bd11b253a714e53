/**
 * @module store/py-literal
 * Reads the Python reprs Celery events carry for `args` and `kwargs` (`{'user_id': 42}`)
 * back into JSON values, so `kwargs.user_id:42` can be answered from a jsonb index.
 * Only literals: dicts, lists, tuples, strings, numbers, True/False/None. Anything else
 * (a truncated repr, an object repr like `<Foo at 0x..>`) yields null: the task is still
 * stored and found by text search, only not by key.
 */

const MAX_DEPTH = 32;
const MAX_LENGTH = 65_536;

class Fail extends Error {}

const NUMBER = /-?(?:\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)/y;

const ESCAPES: Readonly<Record<string, string>> = {
  n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', '/': '/', a: '\x07', b: '\b', f: '\f', v: '\v', '0': '\0',
};

class Reader {
  pos = 0;
  constructor(readonly text: string) {}

  ws(): void {
    for (;;) {
      const c = this.text.charCodeAt(this.pos);
      // ASCII whitespace by code (this runs between every token); the rest of \s by regex.
      if (c === 32 || (c >= 9 && c <= 13) || (c >= 128 && /\s/.test(this.text[this.pos] as string))) this.pos++;
      else return;
    }
  }

  peek(): string {
    return this.text[this.pos] ?? '';
  }

  expect(ch: string): void {
    this.ws();
    if (this.text[this.pos] !== ch) throw new Fail();
    this.pos++;
  }

  value(depth: number): unknown {
    if (depth > MAX_DEPTH) throw new Fail();
    this.ws();
    const ch = this.peek();
    if (ch === '{') return this.dict(depth);
    if (ch === '[') return this.seq(']', depth);
    if (ch === '(') return this.seq(')', depth);
    if (ch === "'" || ch === '"') return this.string();
    if (this.text.startsWith('True', this.pos)) return this.word('True', true);
    if (this.text.startsWith('False', this.pos)) return this.word('False', false);
    if (this.text.startsWith('None', this.pos)) return this.word('None', null);
    // JSON's spellings, for senders that put JSON text in the event.
    if (this.text.startsWith('true', this.pos)) return this.word('true', true);
    if (this.text.startsWith('false', this.pos)) return this.word('false', false);
    if (this.text.startsWith('null', this.pos)) return this.word('null', null);
    return this.number();
  }

  word(word: string, value: unknown): unknown {
    this.pos += word.length;
    return value;
  }

  number(): number {
    NUMBER.lastIndex = this.pos;
    const m = NUMBER.exec(this.text);
    // Longer than 64 characters is not a number this reader takes (it read 64 at most).
    if (m === null || m[0].length > 64) throw new Fail();
    this.pos += m[0].length;
    const n = Number(m[0]);
    if (!Number.isFinite(n)) throw new Fail();
    return n;
  }

  string(): string {
    const quote = this.text[this.pos++] as string;
    let out = '';
    for (;;) {
      // The run up to the next quote or backslash in one slice.
      const q = this.text.indexOf(quote, this.pos);
      if (q < 0) throw new Fail();
      const b = this.text.indexOf('\\', this.pos);
      if (b < 0 || q < b) {
        out += this.text.slice(this.pos, q);
        this.pos = q + 1;
        return out;
      }
      out += this.text.slice(this.pos, b);
      this.pos = b + 1;
      const esc = this.text[this.pos++] ?? '';
      if (esc === 'x' || esc === 'u' || esc === 'U') {
        const len = esc === 'x' ? 2 : esc === 'u' ? 4 : 8;
        const hex = this.text.slice(this.pos, this.pos + len);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) throw new Fail();
        const code = Number.parseInt(hex, 16);
        if (code > 0x10ffff) throw new Fail();
        out += String.fromCodePoint(code);
        this.pos += len;
      } else {
        const mapped = ESCAPES[esc];
        if (mapped === undefined) throw new Fail();
        out += mapped;
      }
    }
  }

  dict(depth: number): Record<string, unknown> {
    this.pos++;
    // Pairs first, then one object: Object.fromEntries defines every key as an own property
    // (`__proto__` stays data), without the slow dictionary-mode object a null-prototype
    // object and its copy were (7% of the dashboard's event handling at 30,000 events/s).
    const pairs: [string, unknown][] = [];
    this.ws();
    if (this.peek() === '}') {
      this.pos++;
      return {};
    }
    for (;;) {
      const key = this.value(depth + 1);
      if (typeof key !== 'string' && typeof key !== 'number') throw new Fail();
      this.expect(':');
      pairs.push([String(key), this.value(depth + 1)]);
      this.ws();
      const ch = this.text[this.pos++];
      if (ch === '}') return Object.fromEntries(pairs);
      if (ch !== ',') throw new Fail();
      this.ws();
      if (this.peek() === '}') {
        this.pos++;
        return Object.fromEntries(pairs);
      }
    }
  }

  seq(close: string, depth: number): unknown[] {
    this.pos++;
    const out: unknown[] = [];
    for (;;) {
      this.ws();
      if (this.peek() === close) {
        this.pos++;
        return out;
      }
      out.push(this.value(depth + 1));
      this.ws();
      const ch = this.text[this.pos];
      if (ch === ',') this.pos++;
      else if (ch !== close) throw new Fail();
    }
  }
}

/** The JSON value of a Python literal repr (JSON text is a Python literal too), or null. */
export function pyLiteralToJson(text: string): unknown {
  if (text.length > MAX_LENGTH) return null;
  const reader = new Reader(text);
  try {
    const value = reader.value(0);
    reader.ws();
    return reader.pos === text.length ? value : null;
  } catch (err) {
    if (err instanceof Fail) return null;
    throw err;
  }
}
