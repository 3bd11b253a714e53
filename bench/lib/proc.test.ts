/** What bench/instructions.ts reads of `callgrind_annotate --inclusive=yes`. */
import { describe, expect, it } from 'vitest';
import { parseAnnotation } from './proc.js';

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
