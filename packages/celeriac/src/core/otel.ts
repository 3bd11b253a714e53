/**
 * @module core/otel
 * OpenTelemetry spans for sends and runs, through `@opentelemetry/api` alone (no SDK here):
 * an `apply_async/<task>` PRODUCER span around each publish, a `run/<task>` CONSUMER span
 * around each execution, and the trace context in the message headers (`traceparent`,
 * `tracestate`, whatever the registered propagator writes) as Python's Celery
 * instrumentation writes and reads them, so one trace crosses both languages.
 *
 * Nothing happens until a tracer provider is registered the usual way (an SDK's
 * `register()`): {@link activeTracer} is then undefined, and the send and run paths skip
 * everything else. docs/tracing.md is the user's side of this.
 */
import { createRequire } from 'node:module';
import type * as OtelApi from '@opentelemetry/api';
import type {
  Attributes,
  Context,
  Link,
  Meter,
  Span,
  TextMapGetter,
  TextMapSetter,
  Tracer,
  TracerProvider,
} from '@opentelemetry/api';
import type { JsonObject, TaskMessage } from '../protocol/types.js';

/** What a producer span reads of a message being sent (core/producer's OutgoingTask). */
interface OutgoingTask {
  readonly message: TaskMessage;
  readonly route: { readonly queue: string; readonly exchange: string; readonly routingKey: string };
  readonly deliverAt?: number;
}

/** The instrumentation scope spans are reported under. */
export const TRACER_NAME = 'celeriac';
const TRACER_VERSION = '0.1.0';

let api: typeof OtelApi | undefined;

/**
 * `@opentelemetry/api`, loaded on first use: only once a provider is registered (every path
 * here asks {@link activeTracer}, {@link activeMeter} or {@link telemetryRegistered} first,
 * which read the API's global without it), so a process that registers none, most workers,
 * never loads its modules. Required, not imported: its package resolves to the same CommonJS
 * build either way, and the callers are synchronous.
 */
function otel(): typeof OtelApi {
  return (api ??= createRequire(import.meta.url)('@opentelemetry/api') as typeof OtelApi);
}

/** The global under which @opentelemetry/api 1.x keeps what is registered (its providers, propagator). */
const API_KEY = Symbol.for('opentelemetry.js.api.1');

let memo: { provider: TracerProvider | null; tracer: Tracer | undefined } = { provider: null, tracer: undefined };

/**
 * The tracer to use now, or undefined when no tracer provider is registered (the usual
 * case, which must cost nothing per task: one global read and a compare). A provider
 * registered later, or replaced, is picked up on the next call.
 */
export function activeTracer(): Tracer | undefined {
  // Nothing registered (the usual case): every 1.x copy of the API registers under this one
  // global key, so its absence answers without the API's own look-up and version check.
  if ((globalThis as { [API_KEY]?: { trace?: unknown } })[API_KEY]?.trace === undefined) return undefined;
  const provider = otel().trace.getTracerProvider();
  if (provider instanceof otel().ProxyTracerProvider) {
    // The API's proxy: without a delegate nobody registered a provider.
    const delegate = provider.getDelegate();
    if (delegate !== memo.provider) memo = { provider: delegate, tracer: provider.getDelegateTracer(TRACER_NAME, TRACER_VERSION) };
    return memo.tracer;
  }
  // A provider from another copy of the API: registered, by definition.
  if (provider !== memo.provider) memo = { provider, tracer: provider.getTracer(TRACER_NAME, TRACER_VERSION) };
  return memo.tracer;
}

/**
 * The meter of instrumentation scope `scope` to record with, or undefined when no
 * MeterProvider is registered (then nothing is recorded and no instrument made). Read once, where the instruments are made: a provider
 * is registered before the app starts (`--import`), not after.
 */
export function activeMeter(scope = TRACER_NAME, version = TRACER_VERSION): Meter | undefined {
  if ((globalThis as { [API_KEY]?: { metrics?: unknown } })[API_KEY]?.metrics === undefined) return undefined;
  return otel().metrics.getMeterProvider().getMeter(scope, version);
}

/** True when a tracer or meter provider is registered (in this thread). */
export function telemetryRegistered(): boolean {
  const api = (globalThis as { [API_KEY]?: { trace?: unknown; metrics?: unknown } })[API_KEY];
  return api !== undefined && (api.trace !== undefined || api.metrics !== undefined);
}

/**
 * Asks the registered tracer and meter providers (an SDK's have `forceFlush`) to export what
 * they hold: a pool child does so before the worker ends it, or its last batch is lost.
 */
export async function flushTelemetry(): Promise<void> {
  if (!telemetryRegistered()) return;
  const tracing = otel().trace.getTracerProvider();
  const providers: unknown[] = [tracing instanceof otel().ProxyTracerProvider ? tracing.getDelegate() : tracing, otel().metrics.getMeterProvider()];
  await Promise.allSettled(providers.map((p) => (p as { forceFlush?: () => Promise<void> }).forceFlush?.()));
}

/**
 * The fields a log line gets while a span is active (pino's `mixin`): `trace_id`, `span_id`
 * and `trace_flags`, as OpenTelemetry's log correlation names them; none without a provider.
 * A new object each time: pino merges the line's own fields into it.
 */
export function traceFields(): Record<string, string> {
  if (activeTracer() === undefined) return {};
  const span = otel().trace.getSpanContext(otel().context.active());
  if (span === undefined || !otel().trace.isSpanContextValid(span)) return {};
  return { trace_id: span.traceId, span_id: span.spanId, trace_flags: `0${span.traceFlags.toString(16)}` };
}

const headerSetter: TextMapSetter<JsonObject> = {
  set(carrier, key, value) {
    carrier[key] = value;
  },
};

const headerGetter: TextMapGetter<JsonObject> = {
  get(carrier, key) {
    if (!Object.prototype.hasOwnProperty.call(carrier, key)) return undefined;
    const value = carrier[key];
    // A header written by another producer may be anything: only strings are a context.
    if (typeof value === 'string') return value;
    if (Array.isArray(value)) return value.filter((v): v is string => typeof v === 'string');
    return undefined;
  },
  keys(carrier) {
    return Object.keys(carrier);
  },
};

function sendAttributes(out: OutgoingTask): Attributes {
  const h = out.message.headers;
  const attributes: Attributes = {
    'celery.action': 'apply_async',
    'celery.task_name': h.task,
    'messaging.operation.type': 'send',
    'messaging.operation.name': 'apply_async',
    'messaging.message.id': h.id,
    'messaging.destination.name': out.route.exchange === '' ? out.route.queue : out.route.routingKey,
  };
  if (out.route.exchange !== '') attributes['celery.exchange'] = out.route.exchange;
  if (h.retries > 0) attributes['celery.retries'] = h.retries;
  if (out.deliverAt !== undefined && h.eta !== null) attributes['celery.eta'] = h.eta;
  return attributes;
}

/**
 * Runs `send` (the publish of `outs`) inside a PRODUCER span per message, each message's
 * headers carrying its span's context. With no provider registered it is `send()`.
 */
export function tracePublish<T>(outs: readonly OutgoingTask[], send: () => Promise<T>): Promise<T> {
  const tracer = activeTracer();
  if (tracer === undefined) return send();
  return publishTraced(tracer, outs, send);
}

async function publishTraced<T>(tracer: Tracer, outs: readonly OutgoingTask[], send: () => Promise<T>): Promise<T> {
  const parent = otel().context.active();
  const reserved = parent.getValue(reservationKey()) as Reservation | undefined;
  const spans = outs.map((out) => {
    const span = claim(reserved, out) ?? tracer.startSpan(`apply_async/${out.message.headers.task}`, { kind: otel().SpanKind.PRODUCER, attributes: sendAttributes(out) }, parent);
    // A retry copies the headers of the run it retries: this send's own context replaces them.
    otel().propagation.inject(otel().trace.setSpan(parent, span), out.message.extraHeaders, headerSetter);
    return span;
  });
  try {
    const value = await send();
    for (const span of spans) span.end();
    return value;
  } catch (error) {
    for (const span of spans) failSpan(span, error);
    throw error;
  }
}

/** Marks `span` failed by `error` and ends it. */
function failSpan(span: Span, error: unknown): void {
  const err = error instanceof Error ? error : new Error(String(error));
  span.recordException(err);
  span.setStatus({ code: otel().SpanStatusCode.ERROR, message: err.message });
  span.end();
}

/** A run's span and the context its body (and what it sends) runs in. */
export interface RunSpan {
  readonly span: Span;
  readonly context: Context;
}

/**
 * Starts the CONSUMER span of one execution, the child of the context the message carries
 * (the sender's PRODUCER span, in Python or TypeScript), or a new trace when it carries none.
 */
export function startRunSpan(tracer: Tracer, message: TaskMessage, queue: string, hostname: string): RunSpan {
  const h = message.headers;
  const parent = otel().propagation.extract(otel().context.active(), message.extraHeaders, headerGetter);
  const attributes: Attributes = {
    'celery.action': 'run',
    'celery.task_name': h.task,
    'celery.hostname': hostname,
    'messaging.operation.type': 'process',
    'messaging.operation.name': 'run',
    'messaging.message.id': h.id,
    'messaging.destination.name': queue,
  };
  if (h.retries > 0) attributes['celery.retries'] = h.retries;
  const links = linksOf(message.extraHeaders[LINKS_HEADER]);
  const span = tracer.startSpan(`run/${h.task}`, links === undefined ? { kind: otel().SpanKind.CONSUMER, attributes } : { kind: otel().SpanKind.CONSUMER, attributes, links }, parent);
  return { span, context: otel().trace.setSpan(parent, span) };
}

/** A span context as it crosses to a pool child (structured-clone safe). */
export interface CarriedSpan {
  readonly traceId: string;
  readonly spanId: string;
  readonly traceFlags: number;
}

/**
 * The active span's context, to hand to a pool child that runs the body, or undefined when
 * no provider is registered or no span is active.
 */
export function carriedSpan(): CarriedSpan | undefined {
  if (activeTracer() === undefined) return undefined;
  const span = otel().trace.getSpanContext(otel().context.active());
  if (span === undefined || !otel().trace.isSpanContextValid(span)) return undefined;
  return { traceId: span.traceId, spanId: span.spanId, traceFlags: span.traceFlags };
}

/**
 * Runs `fn` (a body in a pool child) as a child of the worker's run span: the child's own
 * provider records its spans in the run's trace. Without a carried span, `fn()`.
 */
export function underCarried<T>(carried: CarriedSpan | undefined, fn: () => T): T {
  if (carried === undefined) return fn();
  const parent = otel().trace.setSpanContext(otel().context.active(), { ...carried, isRemote: true });
  return otel().context.with(parent, fn);
}

/** Runs `fn` with the run's span active (its sends and child spans join the trace). */
export function inSpan<T>(run: RunSpan, fn: () => T): T {
  return otel().context.with(run.context, fn);
}

/**
 * Ends a run's span with its outcome: `state` is the Celery state it ended in (SUCCESS,
 * FAILURE, RETRY, ...) and `outcome` the worker's own name for the ending; a failure records
 * its exception and sets the span's status to error, a retry keeps its reason.
 */
export function endRunSpan(run: RunSpan, state: string | null, outcome: string, error: unknown, failed: boolean): void {
  const { span } = run;
  if (span.isRecording()) {
    if (state !== null) span.setAttribute('celery.state', state);
    span.setAttribute('celeriac.outcome', outcome);
    if (state === 'RETRY' && error !== null && error !== undefined) span.setAttribute('celery.retry.reason', reasonOf(error));
  }
  if (failed) failSpan(span, error);
  else span.end();
}

function reasonOf(error: unknown): string {
  const cause = (error as { exc?: unknown }).exc ?? error;
  return cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
}

/**
 * The header a chord body's message carries the contexts of its header parts' producer spans
 * in (W3C `traceparent` strings), so the body's run span links to them. Celeriac's own: Python
 * keeps it when it sends the body (a signature's `headers` option) and ignores it otherwise.
 */
export const LINKS_HEADER = 'celeriac_trace_links';

/**
 * Most header parts a chord body links to. The list travels in every header message (each
 * carries the body), so it is kept short; OpenTelemetry's default span limit is 128 links.
 */
export const MAX_CHORD_LINKS = 32;

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

function linksOf(header: unknown): Link[] | undefined {
  if (!Array.isArray(header)) return undefined;
  const links: Link[] = [];
  for (const value of header.slice(0, MAX_CHORD_LINKS)) {
    const m = typeof value === 'string' ? TRACEPARENT.exec(value) : null;
    if (m === null) continue;
    const spanContext = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16), isRemote: true };
    if (otel().trace.isSpanContextValid(spanContext)) links.push({ context: spanContext });
  }
  return links.length === 0 ? undefined : links;
}

/** A producer span started ahead of its message, for the first message published under it. */
interface Reservation {
  span: Span | null;
}

let reservedKey: symbol | undefined;
/** The context key of a {@link Reservation} (made on first use, with the API). */
const reservationKey = (): symbol => (reservedKey ??= otel().createContextKey('celeriac.reserved-producer-span'));

function claim(reserved: Reservation | undefined, out: OutgoingTask): Span | undefined {
  const span = reserved?.span ?? null;
  if (span === null) return undefined;
  reserved!.span = null;
  span.updateName(`apply_async/${out.message.headers.task}`);
  span.setAttributes(sendAttributes(out));
  return span;
}

/** The producer spans of a chord's header parts, started before the first part is sent. */
export interface HeaderSpans {
  /** The sampled spans' contexts as `traceparent` strings, for the body's {@link LINKS_HEADER}. */
  readonly links: readonly string[];
  /** Runs `fn` (sending header part `index`) so that its first publish takes that part's span. */
  send<T>(index: number, fn: () => T): T;
  /** Ends the spans no publish took (a part that failed before it was sent) as errors. */
  release(): void;
}

/**
 * Starts one PRODUCER span per chord header part (the first {@link MAX_CHORD_LINKS}) before
 * any part is sent: each header message carries the body, so the body can only name its
 * header parts' spans if they exist before the first part is encoded. Each span is taken by
 * the first message published while its part is sent (a task, a chain's first step, a nested
 * chord's first part: a nested chord's first part reuses the span its enclosing chord started
 * for it). Undefined when no provider is registered.
 */
export function startHeaderSpans(parts: number): HeaderSpans | undefined {
  const tracer = activeTracer();
  if (tracer === undefined || parts === 0) return undefined;
  const parent = otel().context.active();
  const enclosing = parent.getValue(reservationKey()) as Reservation | undefined;
  const reservations: Reservation[] = [];
  for (let i = 0; i < Math.min(parts, MAX_CHORD_LINKS); i++) {
    let span: Span;
    if (i === 0 && enclosing?.span != null) {
      span = enclosing.span;
      enclosing.span = null;
    } else {
      span = tracer.startSpan('apply_async', { kind: otel().SpanKind.PRODUCER }, parent);
    }
    reservations.push({ span });
  }
  const links = reservations.map((r) => r.span!.spanContext()).filter((c) => (c.traceFlags & 1) === 1).map((c) => `00-${c.traceId}-${c.spanId}-01`);
  return {
    links,
    send: (index, fn) => {
      const reservation = reservations[index];
      return reservation === undefined ? fn() : otel().context.with(parent.setValue(reservationKey(), reservation), fn);
    },
    release: () => {
      for (const r of reservations) {
        if (r.span !== null) failSpan(r.span, new Error('not published'));
        r.span = null;
      }
    },
  };
}
