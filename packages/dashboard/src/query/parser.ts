/**
 * @module query/parser
 * The search grammar, by precedence (loosest first):
 *
 *     query   := or
 *     or      := and ( OR and )*
 *     and     := unary ( [AND] unary )*        juxtaposition means AND
 *     unary   := ( NOT | - ) unary | primary
 *     primary := '(' or ')' | term
 *     term    := word | "quoted phrase" | field:value | field>value ...
 *
 * Bounded: the text, the number of terms and the nesting depth have limits, so a hostile
 * query fails fast with a message instead of exhausting the stack or the database.
 */
import { QuerySyntaxError } from './errors.js';
import { tokenize } from './lexer.js';
import type { FieldOp, Token } from './lexer.js';

/** A parsed search. */
export type QueryNode =
  | { readonly kind: 'and' | 'or'; readonly children: readonly QueryNode[] }
  | { readonly kind: 'not'; readonly child: QueryNode }
  | { readonly kind: 'text'; readonly value: string; readonly pos: number }
  | { readonly kind: 'field'; readonly field: string; readonly op: FieldOp; readonly value: string; readonly quoted: boolean; readonly pos: number };

/** Limits of {@link parseQuery}. */
export const QUERY_LIMITS = Object.freeze({ maxLength: 2000, maxTerms: 64, maxDepth: 16 });

class Parser {
  #i = 0;
  #terms = 0;
  constructor(
    readonly tokens: readonly Token[],
    readonly length: number,
  ) {}

  #peek(): Token | undefined {
    return this.tokens[this.#i];
  }

  #where(): number {
    return this.#peek()?.pos ?? this.length;
  }

  parse(): QueryNode | null {
    if (this.tokens.length === 0) return null;
    const node = this.or(0);
    const rest = this.#peek();
    if (rest !== undefined) throw new QuerySyntaxError(rest.kind === ')' ? 'unmatched )' : `unexpected ${describe(rest)}`, rest.pos);
    return node;
  }

  or(depth: number): QueryNode {
    const children = [this.and(depth)];
    while (this.#peek()?.kind === 'OR') {
      this.#i++;
      children.push(this.and(depth));
    }
    return children.length === 1 ? (children[0] as QueryNode) : { kind: 'or', children };
  }

  and(depth: number): QueryNode {
    const children = [this.unary(depth)];
    for (;;) {
      const t = this.#peek();
      if (t === undefined || t.kind === ')' || t.kind === 'OR') break;
      if (t.kind === 'AND') this.#i++;
      children.push(this.unary(depth));
    }
    return children.length === 1 ? (children[0] as QueryNode) : { kind: 'and', children };
  }

  unary(depth: number): QueryNode {
    const t = this.#peek();
    if (t?.kind === 'NOT') {
      if (depth >= QUERY_LIMITS.maxDepth) throw new QuerySyntaxError(`nested deeper than ${QUERY_LIMITS.maxDepth} levels`, t.pos);
      this.#i++;
      return { kind: 'not', child: this.unary(depth + 1) };
    }
    return this.primary(depth);
  }

  primary(depth: number): QueryNode {
    const t = this.#peek();
    if (t === undefined) throw new QuerySyntaxError('query ends where a term was expected', this.length);
    if (t.kind === '(') {
      if (depth >= QUERY_LIMITS.maxDepth) throw new QuerySyntaxError(`nested deeper than ${QUERY_LIMITS.maxDepth} levels`, t.pos);
      this.#i++;
      if (this.#peek()?.kind === ')') throw new QuerySyntaxError('empty parentheses', this.#where());
      const inner = this.or(depth + 1);
      if (this.#peek()?.kind !== ')') throw new QuerySyntaxError('missing ) for the ( here', t.pos);
      this.#i++;
      return inner;
    }
    if (t.kind === 'text' || t.kind === 'field') {
      this.#i++;
      if (++this.#terms > QUERY_LIMITS.maxTerms) throw new QuerySyntaxError(`more than ${QUERY_LIMITS.maxTerms} terms`, t.pos);
      if (t.kind === 'text') {
        if (t.value.length === 0) throw new QuerySyntaxError('empty phrase', t.pos);
        return { kind: 'text', value: t.value, pos: t.pos };
      }
      return { kind: 'field', field: t.field, op: t.op, value: t.value, quoted: t.quoted, pos: t.pos };
    }
    throw new QuerySyntaxError(t.kind === ')' ? 'unmatched )' : `expected a term, found ${t.kind}`, t.pos);
  }
}

function describe(t: Token): string {
  if (t.kind === 'text') return `"${t.value}"`;
  if (t.kind === 'field') return `${t.field}${t.op}`;
  return t.kind;
}

/**
 * NUL and lone surrogates as U+FFFD, one code unit for one, so positions hold. The store keeps
 * them so (Postgres text cannot hold NUL, nor its JSON a lone surrogate), and a search that
 * held one went to Postgres as it was: a 500.
 */
function storedForm(text: string): string {
  return text.replace(NOT_STORED, '\ufffd');
}
const NOT_STORED = /\0|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

/** Parses a search; null for an empty one. Throws {@link QuerySyntaxError}. */
export function parseQuery(text: string): QueryNode | null {
  if (text.length > QUERY_LIMITS.maxLength) {
    throw new QuerySyntaxError(`query longer than ${QUERY_LIMITS.maxLength} characters (${text.length})`, QUERY_LIMITS.maxLength);
  }
  return new Parser(tokenize(storedForm(text)), text.length).parse();
}
