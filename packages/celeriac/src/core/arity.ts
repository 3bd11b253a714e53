/**
 * @module core/arity
 * The arguments a task function takes, read from the function itself, and Python's
 * `TypeError` when a call does not fit, in CPython's words, so a Python caller of a Celeriac
 * task sees what Celery would have shown (`add() missing 1 required positional argument: 'y'`,
 * `add() takes 2 positional arguments but 3 were given`).
 *
 * Required parameters are those before the first one with a default (JavaScript's
 * `fn.length`); the most is the number of parameters unless there is a rest parameter. A
 * TypeScript optional parameter (`y?: number`) compiles to a plain one, so it counts as
 * required: give it a default (`y: number | undefined = undefined`), or turn the check off
 * with the task option `checkArity: false`.
 */

/** What a task function accepts, the bound context left out. */
export interface Arity {
  /** Name shown in errors (the function's, else the last part of the task name). */
  readonly name: string;
  /** Parameter names by position (`argN` where the source has a pattern). */
  readonly params: readonly string[];
  /** Parameters that must be given. */
  readonly required: number;
  /** Most positional arguments; null with a rest parameter or when the source could not be read. */
  readonly max: number | null;
}

const IDENT = /^[A-Za-z_$][\w$]*$/;

/**
 * The top-level parameter texts of a function's source, and whether the last is a rest
 * parameter; null when the source is not a readable function (native, bound, class).
 */
export function parameterList(source: string): { params: string[]; rest: boolean } | null {
  const text = source.trimStart();
  if (/^class\b/.test(text) || /\{\s*\[native code\]\s*\}\s*$/.test(text)) return null;
  // `x => ...` and `async x => ...`: one parameter, no parentheses.
  const single = /^(?:async\s+)?([A-Za-z_$][\w$]*)\s*=>/.exec(text);
  if (single !== null && single[1] !== 'async') return { params: [single[1]!], rest: false };
  const open = text.indexOf('(');
  if (open < 0) return null;
  const params: string[] = [];
  let depth = 0;
  let current = '';
  for (let i = open + 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"' || c === "'" || c === '`') {
      // Strings in default values: copy through to the closing quote.
      let j = i + 1;
      while (j < text.length && text[j] !== c) j += text[j] === '\\' ? 2 : 1;
      current += text.slice(i, j + 1);
      i = j;
    } else if (c === '/' && text[i + 1] === '*') {
      const end = text.indexOf('*/', i + 2);
      if (end < 0) return null;
      i = end + 1;
    } else if (c === '/' && text[i + 1] === '/') {
      const end = text.indexOf('\n', i);
      if (end < 0) return null;
      i = end;
    } else if (c === '(' || c === '[' || c === '{') {
      depth += 1;
      current += c;
    } else if (c === ')' && depth === 0) {
      if (current.trim() !== '') params.push(current.trim());
      const rest = params.length > 0 && params[params.length - 1]!.startsWith('...');
      return { params, rest };
    } else if (c === ')' || c === ']' || c === '}') {
      depth -= 1;
      current += c;
    } else if (c === ',' && depth === 0) {
      params.push(current.trim());
      current = '';
    } else {
      current += c;
    }
  }
  return null;
}

/** Reads a task function's arity; `bound` drops the context parameter. */
export function functionArity(fn: (...args: never[]) => unknown, taskName: string, bound: boolean, names?: readonly string[]): Arity {
  const skip = bound ? 1 : 0;
  const fnName = typeof fn.name === 'string' && IDENT.test(fn.name) ? fn.name : (taskName.split('.').pop() ?? taskName);
  const parsed = parameterList(Function.prototype.toString.call(fn));
  const required = Math.max(0, fn.length - skip);
  if (parsed === null) return { name: fnName, params: names ?? [], required, max: null };
  const own = parsed.params.slice(skip);
  const params = own.map((p, i) => names?.[i] ?? (IDENT.test(p.split('=')[0]!.trim()) ? p.split('=')[0]!.trim() : `arg${i + 1}`));
  const count = parsed.rest ? own.length - 1 : own.length;
  return { name: fnName, params: params.slice(0, count), required: Math.min(required, count), max: parsed.rest ? null : count };
}

/** CPython's list of names: 'a'; 'a' and 'b'; 'a', 'b', and 'c'. */
function nameList(names: readonly string[]): string {
  const q = names.map((n) => `'${n}'`);
  if (q.length <= 2) return q.join(' and ');
  return `${q.slice(0, -1).join(', ')}, and ${q[q.length - 1]}`;
}

const plural = (n: number, word: string): string => `${n} ${word}${n === 1 ? '' : 's'}`;

/**
 * Python's TypeError text for a call with `given` positional arguments whose positions
 * `provided` (positional and keyword ones) were filled; null when the call fits.
 */
export function arityProblem(arity: Arity, given: number, provided: (index: number) => boolean): string | null {
  const { name, max, required } = arity;
  if (max !== null && given > max) {
    const takes = required === max ? plural(max, 'positional argument') : `from ${required} to ${max} positional arguments`;
    return `${name}() takes ${takes} but ${given} ${given === 1 ? 'was' : 'were'} given`;
  }
  const missing: string[] = [];
  for (let i = 0; i < required; i++) if (!provided(i)) missing.push(arity.params[i] ?? `arg${i + 1}`);
  if (missing.length > 0) return `${name}() missing ${plural(missing.length, 'required positional argument')}: ${nameList(missing)}`;
  return null;
}
