/**
 * @module core/standard-schema
 * The Standard Schema interface (standardschema.dev, v1), which zod, valibot, ArkType,
 * TypeBox and others implement: a task's `schema` option takes any of them. Declared here
 * (types only, as the spec invites) so that celeriac depends on no schema library.
 */
import { InvalidArguments } from './task-errors.js';

/** A schema of any library that implements Standard Schema v1. */
export interface StandardSchemaV1<Input = unknown, Output = Input> {
  readonly '~standard': StandardSchemaProps<Input, Output>;
}

/** The `~standard` property. */
export interface StandardSchemaProps<Input = unknown, Output = Input> {
  readonly version: 1;
  readonly vendor: string;
  readonly validate: (value: unknown) => StandardResult<Output> | Promise<StandardResult<Output>>;
  readonly types?: { readonly input: Input; readonly output: Output } | undefined;
}

/** A validation's outcome: the (possibly transformed) value, or issues. */
export type StandardResult<Output> = { readonly value: Output; readonly issues?: undefined } | { readonly issues: readonly StandardIssue[] };

/** One problem found by a schema. */
export interface StandardIssue {
  readonly message: string;
  readonly path?: readonly (PropertyKey | { readonly key: PropertyKey })[] | undefined;
}

/** The input type of a schema. */
export type SchemaInput<S> = S extends StandardSchemaV1<infer I, unknown> ? I : never;
/** The output type of a schema. */
export type SchemaOutput<S> = S extends StandardSchemaV1<unknown, infer O> ? O : never;

/** True for a value that implements Standard Schema v1. */
export function isStandardSchema(value: unknown): value is StandardSchemaV1 {
  const props = (value as { '~standard'?: { version?: unknown; validate?: unknown } } | null)?.['~standard'];
  return typeof props === 'object' && props !== null && props.version === 1 && typeof props.validate === 'function';
}

/** `[0].name: Required`-style text of an issue list. */
export function describeIssues(issues: readonly StandardIssue[]): string {
  return issues
    .map((issue) => {
      const path = (issue.path ?? []).map((p) => (typeof p === 'object' && p !== null ? p.key : p));
      const where = path.map((k) => (typeof k === 'number' ? `[${k}]` : `.${String(k)}`)).join('');
      return where === '' ? issue.message : `${where.replace(/^\./, '')}: ${issue.message}`;
    })
    .join('; ');
}

/**
 * Validates a task's argument list with its schema: the schema's output (an array), at once
 * when the schema answers synchronously. Throws (or rejects with) InvalidArguments.
 */
export function validateArguments(schema: StandardSchemaV1, taskName: string, args: readonly unknown[]): unknown[] | Promise<unknown[]> {
  const result = schema['~standard'].validate(args);
  const settle = (r: StandardResult<unknown>): unknown[] => {
    if (r.issues !== undefined) {
      throw new InvalidArguments(`${taskName}: arguments do not match the task's schema: ${describeIssues(r.issues)}`, r.issues as InvalidArguments['issues']);
    }
    if (!Array.isArray(r.value)) throw new InvalidArguments(`${taskName}: the task's schema must give an argument list (an array), it gave ${typeof r.value}`, []);
    return r.value as unknown[];
  };
  return result instanceof Promise ? result.then(settle) : settle(result);
}
