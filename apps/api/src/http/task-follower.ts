/**
 * @module http/task-follower
 * What `GET /tasks/{id}/events` sends, decided by the engine's state model (`mergeState`):
 * the task's events (through the task feed) and its stored meta (through the result
 * backend's subscription) are two views of one task, and either may be ahead. Each update
 * is folded into one state; the stream sends it while it changes (every event, so progress
 * shows) and, once the state is final (SUCCESS, FAILURE, REVOKED), sends that and ends.
 */
import { isReady } from 'celeriac';
import { mergeState } from 'celeriac/monitor';

/** Anything with a state: a feed update or a stored status. */
export interface StateView {
  readonly state: string;
}

/** Folds a task's updates from every source into one state; see the module comment. */
export class TaskFollower {
  #state: string | null = null;
  #ended = false;

  constructor(
    private readonly send: (view: StateView) => void,
    private readonly end: () => void,
  ) {}

  /** The state folded so far (null before the first update). */
  get state(): string | null {
    return this.#state;
  }

  /** Whether a final state was reached (the stream has ended). */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Folds one update in. `always` sends it even when the state stays the same (an event
   * carries new progress); otherwise (a stored meta) only a change of state is sent.
   */
  offer<V extends StateView>(view: V, always: boolean): void {
    if (this.#ended) return;
    const state = mergeState(this.#state, view.state);
    const changed = state !== this.#state;
    this.#state = state;
    if (always || changed) this.send({ ...view, state });
    if (isReady(state)) {
      this.#ended = true;
      this.end();
    }
  }
}
