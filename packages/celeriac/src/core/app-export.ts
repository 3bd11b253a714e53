/**
 * @module core/app-export
 * Where in a module the app is: `-A path:attr` as Celery's `-A proj.celery:app`. Shared by the
 * CLI, which loads the module, and the pool children, which load it again.
 */

/** An export name, or a dotted path into exported objects (`tasks.app`). */
const ATTR = /^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/;

/** True when `attr` is an export name or a dotted path of names. */
export function isAppAttr(attr: string): boolean {
  return ATTR.test(attr);
}

/**
 * Splits `-A` into the module and the export after its last `:` (`./src/app.ts:worker`).
 * A spec whose part after the last `:` is not a name (a Windows drive, a URL) is all module.
 */
export function splitAppSpec(spec: string): { module: string; attr: string | null } {
  const at = spec.lastIndexOf(':');
  if (at <= 0) return { module: spec, attr: null };
  const attr = spec.slice(at + 1);
  if (!isAppAttr(attr) || spec.slice(at + 1, at + 3) === '//') return { module: spec, attr: null };
  return { module: spec.slice(0, at), attr };
}

/** The value at `attr` (a dotted path) in module namespace `mod`; undefined when a step is missing. */
export function pickExport(mod: Readonly<Record<string, unknown>>, attr: string): unknown {
  let value: unknown = mod;
  for (const step of attr.split('.')) {
    if (value === null || (typeof value !== 'object' && typeof value !== 'function')) return undefined;
    value = Object.hasOwn(value, step) ? (value as Record<string, unknown>)[step] : undefined;
  }
  return value;
}
