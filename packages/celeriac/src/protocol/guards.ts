/**
 * @module protocol/guards
 * Small runtime checks shared by the decoders. Decoded JSON is untrusted, so every shape is
 * checked before it is cast to a wire type.
 */

import type { Json, JsonObject } from './types.js';

/** True for a JSON object (not null, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** True for a string or null. */
export function isStringOrNull(value: unknown): value is string | null {
  return value === null || typeof value === 'string';
}

/** True for a finite number or null. */
export function isNumberOrNull(value: unknown): value is number | null {
  return value === null || (typeof value === 'number' && Number.isFinite(value));
}

/**
 * Sets an own enumerable property. Plain assignment would invoke the `__proto__` setter for
 * a key named `__proto__`, which JSON.parse happily produces from hostile input.
 */
export function setOwn(target: object, key: string, value: Json | undefined): void {
  // Only `__proto__` has a setter on a plain object; plain assignment is much faster.
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  else (target as Record<string, unknown>)[key] = value;
}

/** Reads an own property only, so keys like `constructor` never resolve to the prototype. */
export function getOwn(source: object, key: string): unknown {
  return Object.prototype.hasOwnProperty.call(source, key)
    ? (source as Record<string, unknown>)[key]
    : undefined;
}
