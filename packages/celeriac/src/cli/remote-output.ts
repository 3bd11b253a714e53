/**
 * @module cli/remote-output
 * How `celeriac inspect`, `control` and `status` print replies: the same text shape as
 * `celery inspect` (one `->  <node>: OK` or `: ERROR` line per reply, the value indented
 * under it, `N nodes online.` after inspect and status), or JSON with `-j`.
 *
 * Value rules, as Celery's: a list prints one `* item` line per element (`- empty -` when
 * empty, items in Python repr unless strings); `{ok: ...}` / `{error: ...}` print the inner
 * value as OK / ERROR; any other object prints as JSON with sorted keys and 4-space indents;
 * a string as itself; anything else in Python repr.
 */
import { pyRepr } from '../protocol/repr.js';
import type { Json, JsonObject } from '../protocol/types.js';

/** Celery's exit status when no worker answered (sysexits EX_UNAVAILABLE). */
export const EXIT_NO_REPLY = 69;

/** The line Celery prints on stderr when no worker answered. */
export const NO_REPLY_MESSAGE = 'Error: No nodes replied within time constraint';

function indent(text: string, n: number): string {
  const pad = ' '.repeat(n);
  return text
    .split('\n')
    .map((line) => pad + line)
    .join('\n');
}

function sortKeys(value: Json): Json {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: JsonObject = {};
  for (const key of Object.keys(value).sort()) out[key] = sortKeys(value[key] as Json);
  return out;
}

/** `json.dumps(value, sort_keys=True, indent=4)`: Python's `", "`-free pretty form is JSON.stringify's. */
function prettyJson(value: Json): string {
  return JSON.stringify(sortKeys(value), null, 4);
}

/** Status word and body text for one reply value. */
export function prettyValue(value: Json): { status: 'OK' | 'ERROR'; text: string } {
  if (Array.isArray(value)) {
    if (value.length === 0) return { status: 'OK', text: '- empty -' };
    return { status: 'OK', text: value.map((item) => `* ${typeof item === 'string' ? item : pyRepr(item)}`).join('\n') };
  }
  if (value !== null && typeof value === 'object') {
    if ('ok' in value) return { status: 'OK', text: indent(prettyValue(value['ok'] as Json).text, 4) };
    if ('error' in value) return { status: 'ERROR', text: indent(prettyValue(value['error'] as Json).text, 4) };
    return { status: 'OK', text: prettyJson(value) };
  }
  if (typeof value === 'string') return { status: 'OK', text: value };
  return { status: 'OK', text: pyRepr(value) };
}

/**
 * The text of one reply `{node: value}` (Celery shows only the first node of a reply):
 * `->  node: OK` and, with `body`, the value indented by 4.
 */
export function formatReply(reply: { [node: string]: Json }, body: boolean): string {
  const node = Object.keys(reply)[0];
  if (node === undefined) return '';
  const { status, text } = prettyValue(reply[node] as Json);
  const head = `->  ${node}: ${status}\n`;
  return body && text !== '' ? `${head}${indent(text, 4)}\n` : head;
}

/** `\n1 node online.` / `\n3 nodes online.` */
export function formatNodeCount(count: number): string {
  return `\n${count} ${count === 1 ? 'node' : 'nodes'} online.\n`;
}
