/**
 * @module worker/nodename
 * Node names as Celery writes them (`celery@host`), with `-n` placeholders:
 * `%h` full hostname, `%n` its first label, `%d` the rest (domain), `%%` a percent sign.
 */
import { hostname as osHostname } from 'node:os';

/** Expands `%h`, `%n`, `%d` and `%%` in a node name; a name without `@` gets `celery@` prefixed. */
export function expandNodeName(template: string | undefined, host: string = osHostname()): string {
  const name = template ?? 'celery@%h';
  const dot = host.indexOf('.');
  const short = dot < 0 ? host : host.slice(0, dot);
  const domain = dot < 0 ? '' : host.slice(dot + 1);
  const expanded = name.replace(/%([hnd%])/g, (_, c: string) => (c === 'h' ? host : c === 'n' ? short : c === 'd' ? domain : '%'));
  return expanded.includes('@') ? expanded : `celery@${expanded}`;
}
