/** What bench/instructions.ts reads of `callgrind_annotate`, and how it names the JIT's code. */
import { describe, expect, it } from 'vitest';
import { codeMap, ownCounts, parseAnnotation } from './callgrind.js';

// As valgrind 3.19's callgrind_annotate prints a dump of a node worker (shortened).
const ANNOTATION = `--------------------------------------------------------------------------------
Ir
--------------------------------------------------------------------------------
544,589,683 (100.0%)  PROGRAM TOTALS

--------------------------------------------------------------------------------
Ir                      file:function
--------------------------------------------------------------------------------
1,001,325,649 (183.9%)  ???:Builtins_BaselineOutOfLinePrologue'2 [/usr/bin/node]
  185,552,233 (35.35%)  ???:v8::internal::Compiler::CompileOptimized(v8::internal::Isolate*, v8::internal::Handle<v8::internal::JSFunction>) [/usr/bin/node]
    7,139,808 ( 1.31%)  ???:v8::internal::Heap::CollectGarbage(v8::internal::AllocationSpace, v8::internal::GarbageCollectionReason, v8::GCCallbackFlags) [/usr/bin/node]
    6,766,272 ( 1.24%)  ???:v8::internal::ScavengerCollector::CollectGarbage() [/usr/bin/node]
`;

describe('parseAnnotation', () => {
  it("reads the window's total and the compiler's and the collector's inclusive counts", () => {
    expect(parseAnnotation(ANNOTATION)).toEqual({ total: 544_589_683, compiler: 185_552_233, gc: 7_139_808 });
  });

  it('counts 0 for a compiler or collector that did not run', () => {
    const text = ANNOTATION.split('\n').filter((line) => !/Compiler::|Heap::/.test(line)).join('\n');
    expect(parseAnnotation(text)).toEqual({ total: 544_589_683, compiler: 0, gc: 0 });
  });

  it('fails, quoting the text, when it is not an annotation', () => {
    expect(() => parseAnnotation('callgrind_annotate: cannot open /tmp/x.out.1\n')).toThrow(/no PROGRAM TOTALS[\s\S]*cannot open/);
  });
});

describe('ownCounts', () => {
  // callgrind_annotate --threshold=100 (exclusive) of a worker run with --perf-basic-prof, shortened.
  const exclusive = `--------------------------------------------------------------------------------
309,739,721 (100.0%)  PROGRAM TOTALS
--------------------------------------------------------------------------------
Ir                    file:function
--------------------------------------------------------------------------------
619,037,860 (199.9%)  ???:node::SpinEventLoopInternal(node::Environment*) [/usr/bin/node]
309,518,930 (99.93%)  ???:main [/usr/bin/node]
 29,313,000 ( 9.46%)  ???:node::worker::Worker::Run() [/usr/bin/node]
 29,313,000 ( 9.46%)  ./nptl/pthread_create.c:start_thread [/usr/lib/x86_64-linux-gnu/libc.so.6]
 17,867,708 ( 5.77%)  ???:Builtins_LoadIC [/usr/bin/node]
  8,078,000 ( 2.61%)  ???:0x000000000d0dffc0 [???]
  4,674,000 ( 1.51%)  ???:0x000000000d12b580 [???]
  3,000,000 ( 0.97%)  ???:0x000000000d12b600 [???]
  2,951,354 ( 0.95%)  ./string/../sysdeps/x86_64/multiarch/memmove-vec-unaligned-erms.S:__memcpy_avx_unaligned_erms [/usr/lib/x86_64-linux-gnu/libc.so.6]
  2,000,000 ( 0.65%)  ???:0x0000000000000100 [???]
  1,908,797 ( 0.62%)  ???:v8::internal::Utf8DecoderBase<v8::internal::Utf8Decoder>::Utf8DecoderBase(v8::base::Vector<unsigned char const> const&) [/usr/bin/node]
`;
  const map = codeMap(
    [
      'd12b580 200 JS:*parse file:///tmp/celeriac-ab/0123abc/packages/celeriac/dist/protocol/envelope-reader.js:215:10',
      'd0dffc0 80 RegExp:[^\\x20-\\uffff]|\\\\',
      'not a map line',
    ].join('\n'),
  );

  it('names JIT code from the map, symbols without their arguments, most first; no root frames', () => {
    expect(ownCounts(exclusive, 309_739_721, map)).toEqual([
      ['Builtins_LoadIC', 17_867_708],
      ['RegExp:[^\\x20-\\uffff]|\\\\', 8_078_000],
      // Two addresses inside one function's code are one function; the path from packages/ on.
      ['JS:*parse packages/celeriac/dist/protocol/envelope-reader.js', 7_674_000],
      ['__memcpy_avx_unaligned_erms', 2_951_354],
      ['JIT code not in the map', 2_000_000],
      ['v8::internal::Utf8DecoderBase<v8::internal::Utf8Decoder>::Utf8DecoderBase', 1_908_797],
    ]);
  });

  it('reads a perf map sorted by start, whatever its order', () => {
    expect(codeMap('20 10 b\n10 8 a\n').map(([start, end, name]) => `${name} ${start}-${end}`)).toEqual(['a 16-24', 'b 32-48']);
  });
});
