// Reads task args, kwargs and results as the API gives them (Python repr strings from
// Celery events, or JSON) into a small tree the value viewer draws. Pure: no DOM.
//
// Node shapes: {t:'dict', entries:[[key, value]...]}, {t:'list'|'tuple'|'set', items:[...]},
// {t:'str', v}, {t:'bytes', v}, {t:'num', v}, {t:'bool', v}, {t:'none'},
// {t:'call', name, items:[...], entries:[...]} (e.g. datetime.datetime(2024, 1, 2)),
// {t:'raw', v} (anything else: an object repr like <Foo at 0x...>, or a truncated repr).

const MAX_DEPTH = 256;

/**
 * Parses `text` as JSON, else as a Python literal repr. Returns `{ kind, node }` where kind
 * is 'json', 'python' or 'text' (unparseable: the node is `{t:'str', v:text}`).
 */
export function parseValue(text) {
  if (text === null || text === undefined) return { kind: 'python', node: { t: 'none' } };
  if (typeof text !== 'string') return { kind: 'json', node: fromJson(text, 0) };
  const trimmed = text.trim();
  if (trimmed === '') return { kind: 'text', node: { t: 'str', v: text } };
  try {
    return { kind: 'json', node: fromJson(JSON.parse(trimmed), 0) };
  } catch {
    // not JSON
  }
  try {
    const p = new ReprParser(trimmed);
    const node = p.value(0);
    p.ws();
    if (p.i !== p.s.length) throw new Error('trailing text');
    return { kind: 'python', node };
  } catch {
    return { kind: 'text', node: { t: 'str', v: text } };
  }
}

/**
 * How Python prints the number it reads from this JSON number, as the engine's pyNumberRepr
 * (protocol/py-json.ts) writes it: a safe integer as digits, anything else as Python's float
 * repr (shortest round-trip digits; exponent form below 1e-4 and from 1e16, with at least two
 * exponent digits: `1e-09`, where String() gives `1e-9`). pyrepr.test holds the two equal.
 */
export function pyNum(v) {
  if (Number.isSafeInteger(v)) return String(v);
  if (Number.isNaN(v)) return 'nan';
  if (!Number.isFinite(v)) return v > 0 ? 'inf' : '-inf';
  if (v === 0) return Object.is(v, -0) ? '-0.0' : '0.0';
  const sign = v < 0 ? '-' : '';
  const [mantissa, expText] = Math.abs(v).toExponential().split('e');
  const exponent = Number(expText);
  const digits = mantissa.replace('.', '');
  if (exponent < -4 || exponent >= 16) return `${sign}${mantissa}e${exponent < 0 ? '-' : '+'}${String(Math.abs(exponent)).padStart(2, '0')}`;
  if (exponent < 0) return `${sign}0.${'0'.repeat(-exponent - 1)}${digits}`;
  const frac = digits.slice(exponent + 1);
  return `${sign}${digits.slice(0, exponent + 1).padEnd(exponent + 1, '0')}.${frac === '' ? '0' : frac}`;
}

/** A parsed JSON value as a node. */
export function fromJson(v, depth) {
  if (depth > MAX_DEPTH) throw new Error('too deep');
  if (v === null || v === undefined) return { t: 'none' };
  if (typeof v === 'string') return { t: 'str', v };
  if (typeof v === 'number') return { t: 'num', v: pyNum(v) };
  if (typeof v === 'boolean') return { t: 'bool', v };
  if (Array.isArray(v)) return { t: 'list', items: v.map((x) => fromJson(x, depth + 1)) };
  return { t: 'dict', entries: Object.entries(v).map(([k, x]) => [{ t: 'str', v: k }, fromJson(x, depth + 1)]) };
}

/** Number of direct children of a node (0 for scalars). */
export function childCount(node) {
  if (node.t === 'dict') return node.entries.length;
  if (node.t === 'list' || node.t === 'tuple' || node.t === 'set') return node.items.length;
  if (node.t === 'call') return node.items.length + node.entries.length;
  return 0;
}

const ESCAPES = { n: '\n', t: '\t', r: '\r', '\\': '\\', "'": "'", '"': '"', a: '\x07', b: '\b', f: '\f', v: '\v', 0: '\0' };

class ReprParser {
  constructor(s) {
    this.s = s;
    this.i = 0;
  }

  ws() {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }

  peek() {
    this.ws();
    return this.s[this.i];
  }

  expect(ch) {
    if (this.peek() !== ch) throw new Error(`expected ${ch} at ${this.i}`);
    this.i++;
  }

  value(depth) {
    if (depth > MAX_DEPTH) throw new Error('too deep');
    const c = this.peek();
    if (c === undefined) throw new Error('unexpected end');
    if (c === '{') return this.braces(depth);
    if (c === '[') return { t: 'list', items: this.seq('[', ']', depth) };
    if (c === '(') {
      const items = this.seq('(', ')', depth, true);
      return items.single ? items[0] : { t: 'tuple', items: [...items] };
    }
    if (c === '<') return this.angle();
    const str = /^([bBrRuU]{0,2})(['"])/.exec(this.s.slice(this.i, this.i + 3));
    if (str) return this.string(str[1].toLowerCase(), str[2]);
    const num = /^[-+]?(\d[\d_]*\.?\d*(e[-+]?\d+)?|\.\d+(e[-+]?\d+)?|inf|nan)j?/i.exec(this.s.slice(this.i));
    if (num && num[0] !== '') {
      this.i += num[0].length;
      return { t: 'num', v: num[0] };
    }
    if (this.s.startsWith('...', this.i)) {
      this.i += 3;
      return { t: 'raw', v: '...' };
    }
    const name = /^[A-Za-z_][\w.]*/.exec(this.s.slice(this.i));
    if (!name) throw new Error(`unexpected ${c} at ${this.i}`);
    this.i += name[0].length;
    if (name[0] === 'True' || name[0] === 'False') return { t: 'bool', v: name[0] === 'True' };
    if (name[0] === 'None') return { t: 'none' };
    if (this.s[this.i] === '(') return this.call(name[0], depth);
    return { t: 'raw', v: name[0] };
  }

  call(name, depth) {
    this.i++; // (
    const items = [];
    const entries = [];
    while (this.peek() !== ')') {
      const kw = /^\s*([A-Za-z_]\w*)\s*=(?!=)/.exec(this.s.slice(this.i));
      if (kw) {
        this.i += kw[0].length;
        entries.push([{ t: 'str', v: kw[1] }, this.value(depth + 1)]);
      } else items.push(this.value(depth + 1));
      if (this.peek() === ',') this.i++;
      else break;
    }
    this.expect(')');
    if (name === 'set' && items.length === 0) return { t: 'set', items: [] };
    return { t: 'call', name, items, entries };
  }

  angle() {
    // <Foo object at 0x7f...>: kept as text, nested angle brackets included.
    let depth = 0;
    const start = this.i;
    for (; this.i < this.s.length; this.i++) {
      if (this.s[this.i] === '<') depth++;
      else if (this.s[this.i] === '>' && --depth === 0) {
        this.i++;
        return { t: 'raw', v: this.s.slice(start, this.i) };
      }
    }
    throw new Error('unclosed <');
  }

  braces(depth) {
    this.i++; // {
    if (this.peek() === '}') {
      this.i++;
      return { t: 'dict', entries: [] };
    }
    const first = this.value(depth + 1);
    if (this.peek() === ':') {
      this.i++;
      const entries = [[first, this.value(depth + 1)]];
      while (this.peek() === ',') {
        this.i++;
        if (this.peek() === '}') break;
        const k = this.value(depth + 1);
        this.expect(':');
        entries.push([k, this.value(depth + 1)]);
      }
      this.expect('}');
      return { t: 'dict', entries };
    }
    const items = [first];
    while (this.peek() === ',') {
      this.i++;
      if (this.peek() === '}') break;
      items.push(this.value(depth + 1));
    }
    this.expect('}');
    return { t: 'set', items };
  }

  seq(open, close, depth, tuple = false) {
    this.expect(open);
    const items = [];
    let trailingComma = false;
    while (this.peek() !== close) {
      items.push(this.value(depth + 1));
      trailingComma = false;
      if (this.peek() === ',') {
        this.i++;
        trailingComma = true;
      } else break;
    }
    this.expect(close);
    // (x) is x in Python; (x,) is a tuple.
    if (tuple && items.length === 1 && !trailingComma) items.single = true;
    return items;
  }

  string(prefix, quote) {
    this.i += prefix.length + 1;
    const raw = prefix.includes('r');
    let out = '';
    for (;;) {
      const c = this.s[this.i];
      if (c === undefined) throw new Error('unterminated string');
      this.i++;
      if (c === quote) break;
      if (c !== '\\' || raw) {
        out += c;
        continue;
      }
      const e = this.s[this.i++];
      if (e === undefined) throw new Error('unterminated string');
      if (e in ESCAPES) out += ESCAPES[e];
      else if (e === 'x' || e === 'u' || e === 'U') {
        const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
        const hex = this.s.slice(this.i, this.i + len);
        if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) throw new Error('bad escape');
        out += String.fromCodePoint(parseInt(hex, 16));
        this.i += len;
      } else out += `\\${e}`;
    }
    // Adjacent literals concatenate ('a' 'b'), as Python's parser does.
    const next = /^\s*([bBrRuU]{0,2})(['"])/.exec(this.s.slice(this.i, this.i + 64));
    if (next) {
      const save = this.i;
      try {
        this.i += next[0].length - next[1].length - 1;
        const rest = this.string(next[1].toLowerCase(), next[2]);
        return { t: prefix.includes('b') ? 'bytes' : 'str', v: out + rest.v };
      } catch {
        this.i = save;
      }
    }
    return { t: prefix.includes('b') ? 'bytes' : 'str', v: out };
  }
}

// Python's str.isprintable(): false for control, format, surrogate, private-use,
// unassigned, and every separator except the ASCII space (as celeriac's pyStrRepr).
const NON_PRINTABLE = /^[\p{Cc}\p{Cf}\p{Cs}\p{Co}\p{Cn}\p{Zl}\p{Zp}\p{Zs}]$/u;
const SHORT_ESCAPES = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

function escapeChar(char, quote, bytes) {
  if (char in SHORT_ESCAPES) return SHORT_ESCAPES[char];
  if (char === quote) return `\\${quote}`;
  const code = char.codePointAt(0) ?? 0;
  if (code >= 0x20 && code < 0x7f) return char;
  if (!bytes && code > 0x7f && !NON_PRINTABLE.test(char)) return char;
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`;
  return `\\U${code.toString(16).padStart(8, '0')}`;
}

/**
 * Python's `repr()` of a str (or, with `bytes`, of a bytes value read as latin-1): single
 * quotes unless the text has `'` and no `"`, Python's escapes. The views speak Python, as the
 * reprs in task events do: a string quoted as JSON beside `True` reads as neither.
 */
export function pyStr(text, bytes = false) {
  const quote = text.includes("'") && !text.includes('"') ? '"' : "'";
  let out = bytes ? `b${quote}` : quote;
  for (const char of text) out += escapeChar(char, quote, bytes);
  return out + quote;
}

/** The node as compact Python repr text (for one-line previews). */
export function preview(node, max = 120) {
  let out = '';
  const walk = (n) => {
    if (out.length > max) return;
    switch (n.t) {
      case 'dict':
        out += '{';
        n.entries.forEach(([k, v], i) => {
          if (i) out += ', ';
          walk(k);
          out += ': ';
          walk(v);
        });
        out += '}';
        break;
      case 'list':
      case 'tuple':
      case 'set': {
        const [o, c] = n.t === 'list' ? '[]' : n.t === 'tuple' ? '()' : '{}';
        out += o;
        n.items.forEach((v, i) => {
          if (i) out += ', ';
          walk(v);
        });
        // (x,) is a tuple, (x) is x.
        out += n.t === 'tuple' && n.items.length === 1 ? `,${c}` : c;
        break;
      }
      case 'call':
        out += `${n.name}(`;
        [...n.items, ...n.entries].forEach((v, i) => {
          if (i) out += ', ';
          if (Array.isArray(v)) {
            out += `${v[0].v}=`;
            walk(v[1]);
          } else walk(v);
        });
        out += ')';
        break;
      case 'str':
        out += pyStr(n.v);
        break;
      case 'bytes':
        out += pyStr(n.v, true);
        break;
      case 'num':
      case 'raw':
        out += n.v;
        break;
      case 'bool':
        out += n.v ? 'True' : 'False';
        break;
      default:
        out += 'None';
    }
  };
  walk(node);
  return out.length > max ? `${out.slice(0, max - 1)}…` : out;
}
