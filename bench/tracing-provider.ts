/**
 * Registers an OpenTelemetry tracer provider in a bench worker child when BENCH_TRACING says
 * so (`100` or `1`: the percentage of traces sampled; root spans sampled by trace id, children
 * by their parent, as a production set-up would). Spans go through a BatchSpanProcessor to an
 * exporter that drops them: the cost measured is Celeriac's spans and the SDK's recording and
 * batching, not a collector's network. Imported by worker-child.ts before the peer loads.
 */
import { ParentBasedSampler, TraceIdRatioBasedSampler, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

const exported = { spans: 0 };

/** An exporter that counts and drops (the bench reads the count to know spans were made). */
const dropping: SpanExporter = {
  export(spans: ReadableSpan[], done) {
    exported.spans += spans.length;
    done({ code: 0 });
  },
  shutdown: () => Promise.resolve(),
};

/** Registers the provider for `percent` % sampling; returns how to flush and shut it down. */
export function registerBenchTracing(percent: number): { shutdown(): Promise<number> } {
  const provider = new NodeTracerProvider({
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(percent / 100) }),
    spanProcessors: [new BatchSpanProcessor(dropping)],
  });
  provider.register();
  return {
    async shutdown() {
      await provider.forceFlush();
      await provider.shutdown();
      return exported.spans;
    },
  };
}
