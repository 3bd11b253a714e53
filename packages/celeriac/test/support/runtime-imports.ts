import { readFileSync } from 'node:fs';

/**
 * The modules `entry` loads when it is imported (a dynamic `import()` inside a function is not
 * followed: it loads when called), following relative imports through the source tree:
 * every specifier of an import or export that is not type-only (a type import is erased), as
 * written. A `.js` specifier is read as its `.ts` source.
 */
export function runtimeImports(entry: URL): { modules: string[]; packages: string[] } {
  const seen = new Set<string>();
  const packages = new Set<string>();
  const stack = [entry];
  while (stack.length > 0) {
    const url = stack.pop()!;
    if (seen.has(url.href)) continue;
    seen.add(url.href);
    const text = readFileSync(url, 'utf8');
    for (const m of text.matchAll(/^(import|export)\s+(type\s+)?(\{[^}]*\}|\*(?:\s+as\s+\w+)?|\w+(?:\s*,\s*\{[^}]*\})?)?\s*(?:from\s+)?'([^']+)'/gm)) {
      if (m[2] !== undefined) continue;
      // `import { type A } from 'x'` is not skipped: verbatimModuleSyntax keeps it as `import {} from 'x'`, which loads x.
      const specifier = m[4]!;
      if (specifier.startsWith('.')) stack.push(new URL(specifier.replace(/\.js$/, '.ts'), url));
      else packages.add(specifier);
    }
  }
  return { modules: [...seen], packages: [...packages] };
}
