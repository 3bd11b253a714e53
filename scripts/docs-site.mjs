#!/usr/bin/env node
// The documentation site (issue 47): TypeDoc renders the guide (docs/*.md, as project documents)
// and the API reference of every entry point of celeriac and @celeriac/dashboard from their
// declarations and TSDoc into site/ (options in typedoc.config.mjs). Fails when TypeDoc reports
// an error or a warning (a link to an anchor that does not exist, a code language it cannot
// highlight), or when a guide page or an entry point is missing from the site. Run by .ci/run;
// `npm run docs:site` locally.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const SITE = join(ROOT, 'site');
const typedoc = join(ROOT, 'node_modules/typedoc/bin/typedoc');

const run = spawnSync(process.execPath, [typedoc], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } });
const output = `${run.stdout}${run.stderr}`;
if (run.status !== 0) {
  process.stderr.write(`${output}docs-site: TypeDoc failed (status ${run.status})\n`);
  process.exit(1);
}
const reported = output.split('\n').filter((line) => /^\[(error|warning)\]/.test(line) && !/^\[warning\] Found \d+ errors/.test(line));
if (reported.length > 0) {
  process.stderr.write(`${output}docs-site: TypeDoc reported ${reported.length} errors and warnings\n`);
  process.exit(1);
}
const problems = [];
for (const page of readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md') && f !== 'README.md')) {
  if (!existsSync(join(SITE, 'documents', page.replace(/\.md$/, '.html')))) problems.push(`docs/${page} has no page in site/documents`);
}
// Each entry point is a module named by its import path (the `@module` tag of its first comment).
const index = readFileSync(join(SITE, 'modules.html'), 'utf8');
for (const entry of ['celeriac', 'celeriac/beat', 'celeriac/memory', 'celeriac/monitor', 'celeriac/redis', 'celeriac/settings', 'celeriac/spi', 'celeriac/worker', 'celeriac/testing', '@celeriac/dashboard']) {
  const page = `modules/${entry.replace(/[@/]/g, '_')}.html`;
  if (!existsSync(join(SITE, page)) || !index.includes(`href="${page}"`) || !index.includes(`>${entry}<`)) problems.push(`the API reference has no module ${entry} (${page})`);
}
if (problems.length > 0) {
  process.stderr.write(`docs-site:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write('docs-site: wrote site/ (no TypeDoc errors or warnings)\n');
