/**
 * @module worker/pools/child-protocol
 * Messages between the worker and a pool child, a thread (`threads`) or a process
 * (`prefork`); structured-clone safe, no classes (processes use Node's `advanced` IPC
 * serialization, which is structured clone too). The worker sends `run` and `abort`; the
 * child answers with `ready` (or `fatal`) once the app module is loaded, `done` per run, and
 * asks the worker to store states and publish messages, chord sizes and parts added to a
 * chord (`call`), which the worker answers with `reply`. Its app's log lines come as `log`
 * (pino JSON), which the worker writes through its own logger (child-log.ts).
 */
import type { Settings } from '../../core/settings.js';
import type { StoreOptions } from '../../core/spi/backend.js';
import type { PublishOptions } from '../../core/spi/broker.js';
import type { DeliveryInfo, Json, Message, ResultTuple, TaskMessage, TaskState } from '../../protocol/types.js';
import type { CarriedSpan } from '../../core/otel.js';
import type { TransferredError } from './error-transfer.js';

/** What a pool child starts from (`workerData` of a thread, an environment variable of a process). */
export interface ChildData {
  /** URL of the app module to import. */
  readonly appModule: string;
  /** The export that is the app (`-A module:attr`); null: `app`, else the default export. */
  readonly appAttr: string | null;
  /** URL of the child's entry module (child-main). */
  readonly entry: string;
  /** URL of tsx's register API, when TypeScript must load; else null. */
  readonly tsx: string | null;
  /**
   * Whether tsx is registered before anything else is imported: when the entry or a preload is
   * TypeScript itself. Otherwise child-main registers it just before the app module, so the
   * library's own modules load without it (tsx's hooks stood between every one of them and
   * Node's loader: a thread's start cost four times the CPU).
   */
  readonly tsxFirst: boolean;
  /** Modules a thread imports first: the worker's `--import` preloads (none for a process, which runs its own). */
  readonly preloads: readonly string[];
  /**
   * Settings the worker's app was given after it was created (`app.settingOverrides`: the
   * CLI's `-b`, `--result-backend`, `--time-limit`, ...), applied to the app the child imports.
   * JSON values only (a process gets them through its environment).
   */
  readonly settings: Settings;
}

/** The environment variable that carries a prefork child's {@link ChildData}. */
export const CHILD_DATA_ENV = 'CELERIAC_POOL_CHILD';

/** Worker to child. */
export type ToChild =
  | {
      readonly type: 'run';
      readonly runId: number;
      readonly message: TaskMessage;
      readonly hostname: string;
      readonly deliveryInfo: DeliveryInfo;
      readonly timeLimit: readonly [number | null, number | null];
      /** The worker's run span, when it traces: the body runs as its child (core/otel.ts). */
      readonly span?: CarriedSpan;
    }
  | { readonly type: 'abort'; readonly runId: number; readonly reason: TransferredError }
  /** The worker is about to end the child: export the spans and metrics its providers hold. */
  | { readonly type: 'flush' }
  | { readonly type: 'reply'; readonly callId: number; readonly error: TransferredError | null };

/** A request from a running task that the worker carries out. */
export type ChildCall =
  | { readonly kind: 'state'; readonly runId: number; readonly state: TaskState; readonly meta: Json }
  | { readonly kind: 'publish'; readonly message: Message; readonly options: PublishOptions }
  /** A chord sent from inside a task (a group `ctx.replace` included): its size goes to the worker's backend, where its parts report. */
  | { readonly kind: 'chord-size'; readonly groupId: string; readonly size: number; readonly options: StoreOptions }
  /** `ctx.addToChord` in a child: the chord's size grows by `count` in the worker's backend, where its parts report. */
  | { readonly kind: 'chord-add'; readonly groupId: string; readonly count: number; readonly options: StoreOptions };

/** Child to worker. */
export type FromChild =
  | { readonly type: 'ready'; readonly tasks: readonly string[] }
  | { readonly type: 'fatal'; readonly error: TransferredError }
  /** Answers `flush`. */
  | { readonly type: 'flushed' }
  /** One line the child's app logged (pino JSON); may come at any time, before `ready` too. */
  | { readonly type: 'log'; readonly line: string }
  | {
      readonly type: 'done';
      readonly runId: number;
      readonly outcome: ({ readonly ok: true; readonly value: Json } | { readonly ok: false; readonly error: TransferredError }) & {
        /** Results of the tasks the body sent with `addToParent`. */
        readonly children?: ResultTuple[];
      };
      /** Memory after the run, in bytes: a thread's V8 heap in use, a process's resident set. */
      readonly memory: number;
    }
  | ({ readonly type: 'call'; readonly callId: number } & ChildCall);
