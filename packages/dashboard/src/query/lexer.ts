/**
 * @module query/lexer
 * Splits a search into tokens: parentheses, the keywords AND / OR / NOT (upper case),
 * `-` before a term (NOT), quoted phrases, bare words, and `field:value` / `field>value`
 * terms whose value may itself be quoted (`args:"a b"`).
 */
import { QuerySyntaxError } from './errors.js';

/** A field operator. `:` matches, the others compare. */
export type FieldOp = ':' | '>' | '>=' | '<' | '<=';

/** One token with the offset it starts at. */
export type Token =
  | { readonly kind: '(' | ')' | 'AND' | 'OR' | 'NOT'; readonly pos: number }
  | { readonly kind: 'text'; readonly value: string; readonly quoted: boolean; readonly pos: number }
  | { readonly kind: 'field'; readonly field: string; readonly op: FieldOp; readonly value: string; readonly quoted: boolean; readonly pos: number };

const FIELD_RE = /^([A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)*)(>=|<=|:|=|>|<)/;

function isSpace(ch: string): boolean {
  return ch === ' ' || ch === '\t' || ch === '\n' || ch === '\r' || ch === '\f' || ch === '\v';
}

/** Reads a quoted string starting at `start` (on the quote); returns its value and the end offset. */
function readQuoted(text: string, start: number): { value: string; end: number } {
  const quote = text[start];
  let out = '';
  let i = start + 1;
  while (i < text.length) {
    const ch = text[i] as string;
    if (ch === '\\' && i + 1 < text.length) {
      out += text[i + 1];
      i += 2;
      continue;
    }
    if (ch === quote) return { value: out, end: i + 1 };
    out += ch;
    i++;
  }
  throw new QuerySyntaxError(`unterminated quote ${quote}`, start);
}

function readBare(text: string, start: number): number {
  let i = start;
  while (i < text.length) {
    const ch = text[i] as string;
    if (isSpace(ch) || ch === '(' || ch === ')' || ch === '"') break;
    i++;
  }
  return i;
}

type FieldToken = Extract<Token, { kind: 'field' }>;

/** Flower's `kwargs:key=value` is this language's `kwargs.key:value` (quotes around the value dropped, as Flower does). */
function flowerKwargs(t: FieldToken): FieldToken {
  if (t.field !== 'kwargs' || t.op !== ':') return t;
  const m = /^([A-Za-z_][A-Za-z0-9_.-]*)=(.+)$/.exec(t.value);
  if (m === null) return t;
  const value = (m[2] as string).replace(/^["']+|["']+$/g, '');
  return value === '' ? t : { ...t, field: `kwargs.${m[1] as string}`, value, quoted: value !== m[2] };
}

/** Tokenises `text`; throws {@link QuerySyntaxError} for an unterminated quote or an empty value. */
export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i] as string;
    if (isSpace(ch)) {
      i++;
      continue;
    }
    if (ch === '(' || ch === ')') {
      tokens.push({ kind: ch, pos: i++ });
      continue;
    }
    if (ch === '"' || ch === "'") {
      const q = readQuoted(text, i);
      tokens.push({ kind: 'text', value: q.value, quoted: true, pos: i });
      i = q.end;
      continue;
    }
    if (ch === '-' && i + 1 < text.length && !isSpace(text[i + 1] as string) && text[i + 1] !== ')') {
      tokens.push({ kind: 'NOT', pos: i++ });
      continue;
    }
    const end = readBare(text, i);
    const word = text.slice(i, end);
    const m = FIELD_RE.exec(word);
    if (m !== null) {
      const field = m[1] as string;
      const op = (m[2] === '=' ? ':' : m[2]) as FieldOp;
      const valueStart = i + m[0].length;
      if (valueStart === end && (text[end] === '"' || text[end] === "'")) {
        const q = readQuoted(text, end);
        tokens.push({ kind: 'field', field, op, value: q.value, quoted: true, pos: i });
        i = q.end;
        continue;
      }
      if (valueStart === end) throw new QuerySyntaxError(`${field}${op} needs a value`, valueStart);
      const key = /^([A-Za-z_][A-Za-z0-9_.-]*)=$/.exec(text.slice(valueStart, end));
      if (field === 'kwargs' && op === ':' && key !== null && (text[end] === '"' || text[end] === "'")) {
        // Flower's kwargs:key="quoted value".
        const q = readQuoted(text, end);
        tokens.push({ kind: 'field', field: `kwargs.${key[1] as string}`, op, value: q.value, quoted: true, pos: i });
        i = q.end;
        continue;
      }
      tokens.push(flowerKwargs({ kind: 'field', field, op, value: text.slice(valueStart, end), quoted: false, pos: i }));
      i = end;
      continue;
    }
    if (word === 'AND' || word === 'OR' || word === 'NOT') tokens.push({ kind: word, pos: i });
    else tokens.push({ kind: 'text', value: word, quoted: false, pos: i });
    i = end;
  }
  return tokens;
}
