#!/usr/bin/env node
// The documentation site (issue 47): TypeDoc renders the guide (docs/*.md, as project documents)
// and the API reference of every entry point of celeriac and @celeriac/dashboard from their
// declarations and TSDoc into site/. Fails when TypeDoc reports an error, or when a guide page
// or an entry point is missing from the site. Run by .ci/run; `npm run docs:site` locally.
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
const counts = /Found (\d+) errors and (\d+) warnings/.exec(output);
if (counts !== null && counts[1] !== '0') {
  process.stderr.write(`${output}docs-site: TypeDoc reported ${counts[1]} errors\n`);
  process.exit(1);
}
const problems = [];
for (const page of readdirSync(join(ROOT, 'docs')).filter((f) => f.endsWith('.md') && f !== 'README.md')) {
  if (!existsSync(join(SITE, 'documents', page.replace(/\.md$/, '.html')))) problems.push(`docs/${page} has no page in site/documents`);
}
const index = readFileSync(join(SITE, 'modules.html'), 'utf8');
for (const entry of ['celeriac_src', 'exports_beat', 'exports_memory', 'exports_monitor', 'exports_redis', 'exports_settings', 'exports_spi', 'exports_worker', 'src_testing', 'dashboard_src']) {
  if (!index.includes(`modules/celeriac_src.html`) || !index.includes(entry)) problems.push(`the API reference has no module ${entry}`);
}
if (problems.length > 0) {
  process.stderr.write(`docs-site:\n  ${problems.join('\n  ')}\n`);
  process.exit(1);
}
process.stdout.write(`docs-site: wrote site/ (${counts?.[2] ?? '?'} TypeDoc warnings: anchors GitHub and TypeDoc spell differently)\n`);
