// The documentation site (scripts/docs-site.mjs, `npm run docs:site`): the guide in docs/ as
// project documents and the API reference of each entry point, named by its import path
// (`celeriac/beat`: the `@module` tag at the end of the entry file's first comment).

/**
 * A heading's anchor from all its text, inline code included: TypeDoc slugs only the plain text
 * (`## Failures: \`TaskError\`` gave `#failures`), so the anchors GitHub makes, which docs/ links
 * to, did not exist on the site. A code span in a heading gets its text as a child token, which
 * TypeDoc's slug reads and the renderer ignores.
 */
function headingCodeInSlugs(md) {
  md.core.ruler.push('celeriac_heading_code_slugs', (state) => {
    for (let i = 0; i < state.tokens.length - 1; i++) {
      if (state.tokens[i].type !== 'heading_open') continue;
      for (const child of state.tokens[i + 1].children ?? []) {
        if (child.type !== 'code_inline') continue;
        const text = new state.Token('text', '', 0);
        text.content = child.content;
        child.children = [text];
      }
    }
  });
}

/** @type {Partial<import('typedoc').TypeDocOptions>} */
export default {
  name: 'Celeriac',
  entryPoints: [
    'packages/celeriac/src/index.ts',
    'packages/celeriac/src/exports/*.ts',
    'packages/celeriac/src/testing/index.ts',
    'packages/dashboard/src/index.ts',
  ],
  entryPointStrategy: 'resolve',
  tsconfig: 'tsconfig.docs.json',
  out: 'site',
  readme: 'docs/README.md',
  projectDocuments: ['docs/*.md'],
  excludePrivate: true,
  excludeInternal: true,
  skipErrorChecking: true,
  validation: { notExported: false, invalidLink: false, rewrittenLink: false },
  treatWarningsAsErrors: false,
  githubPages: false,
  hideGenerator: true,
  // Every language docs/ fences code in (TypeDoc's default list lacks python and nginx).
  highlightLanguages: ['bash', 'console', 'css', 'html', 'javascript', 'js', 'json', 'nginx', 'python', 'sh', 'text', 'ts', 'tsx', 'typescript', 'yaml'],
  markdownItLoader: headingCodeInSlugs,
};
