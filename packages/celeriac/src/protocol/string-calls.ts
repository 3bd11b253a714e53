/**
 * @module protocol/string-calls
 * String methods for the loops over texts a worker runs per task (the envelope reader, the
 * event writer), called through the method itself rather than looked up on the string.
 *
 * A string's hidden class depends on how it was made: sequential, sliced, concatenated, thin,
 * internalized, one byte or two per character. A worker's texts come in most of these (Redis
 * replies, slices of an envelope, ids made here, names from the registry), and a lookup such
 * as `text.charCodeAt` that has met several of them is compiled to a call of V8's generic
 * load, paid at every call: in the event writer's copy of a string, once per character. A
 * call through the method's own function compiles to the same code whatever the class (Node's
 * internals call string methods this way too, as "primordials"). At -c 100 with `-E` that
 * took the generic loads from 31,700 to 5,600 instructions per task (bench/instructions.ts),
 * and halved the main thread's time in them (perf samples of a drain); on seven kinds of
 * strings a loop of `charCodeAt` ran in a quarter of the time.
 */

const { charCodeAt: charCodeAtMethod, indexOf: indexOfMethod, slice: sliceMethod } = String.prototype;

/** `text.charCodeAt(i)`. */
export const charCodeAt = (text: string, i: number): number => charCodeAtMethod.call(text, i);

/** `text.indexOf(search, from)`. */
export const indexOf = (text: string, search: string, from: number): number => indexOfMethod.call(text, search, from);

/** `text.slice(start, end)`. */
export const sliceOf = (text: string, start: number, end?: number): string => sliceMethod.call(text, start, end);
