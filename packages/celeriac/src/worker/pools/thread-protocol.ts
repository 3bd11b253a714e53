/**
 * @module worker/pools/thread-protocol
 * Messages between the worker and a pool thread (structured-clone safe, no classes).
 * The worker sends `run` and `abort`; the thread answers with `ready` (or `fatal`) once the
 * app module is loaded, `done` per run, and asks the worker to store states and publish
 * messages and chord sizes (`call`), which the worker answers with `reply`.
 */
import type { StoreOptions } from '../../core/spi/backend.js';
import type { PublishOptions } from '../../core/spi/broker.js';
import type { DeliveryInfo, Json, Message, TaskMessage, TaskState } from '../../protocol/types.js';
import type { TransferredError } from './error-transfer.js';

/** `workerData` of a pool thread. */
export interface ThreadData {
  /** URL of the app module to import. */
  readonly appModule: string;
}

/** Worker to thread. */
export type ToThread =
  | {
      readonly type: 'run';
      readonly runId: number;
      readonly message: TaskMessage;
      readonly hostname: string;
      readonly deliveryInfo: DeliveryInfo;
      readonly timeLimit: readonly [number | null, number | null];
    }
  | { readonly type: 'abort'; readonly runId: number; readonly reason: TransferredError }
  | { readonly type: 'reply'; readonly callId: number; readonly error: TransferredError | null };

/** A request from a running task that the worker carries out. */
export type ThreadCall =
  | { readonly kind: 'state'; readonly runId: number; readonly state: TaskState; readonly meta: Json }
  | { readonly kind: 'publish'; readonly message: Message; readonly options: PublishOptions }
  /** A chord sent from inside a task (a group `ctx.replace` included): its size goes to the worker's backend, where its parts report. */
  | { readonly kind: 'chord-size'; readonly groupId: string; readonly size: number; readonly options: StoreOptions };

/** Thread to worker. */
export type FromThread =
  | { readonly type: 'ready'; readonly tasks: readonly string[] }
  | { readonly type: 'fatal'; readonly error: TransferredError }
  | {
      readonly type: 'done';
      readonly runId: number;
      readonly outcome: { readonly ok: true; readonly value: Json } | { readonly ok: false; readonly error: TransferredError };
      /** V8 heap in use by the thread after the run, in bytes. */
      readonly heapUsed: number;
    }
  | ({ readonly type: 'call'; readonly callId: number } & ThreadCall);
