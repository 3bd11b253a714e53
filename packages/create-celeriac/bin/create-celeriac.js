#!/usr/bin/env node
// `npm create celeriac@latest my-app`: copies template/ into ./my-app, naming the app and pinning
// the Celeriac version this starter ships with. No dependencies: it runs before anything is installed.
import { cpSync, existsSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';

const here = new URL('..', import.meta.url);
const { version } = JSON.parse(readFileSync(new URL('package.json', here), 'utf8'));
const args = process.argv.slice(2);
if (args.includes('--help') || args.includes('-h')) {
  process.stdout.write('Usage: npm create celeriac@latest <directory>\n\nScaffolds a TypeScript app with Celeriac tasks, a worker, beat, the dashboard, a Dockerfile, a compose file and tests.\n');
  process.exit(0);
}
const target = args.find((a) => !a.startsWith('-'));
if (target === undefined) {
  process.stderr.write('error: name the directory to create: npm create celeriac@latest my-app\n');
  process.exit(2);
}
const dir = resolve(process.cwd(), target);
if (existsSync(dir) && readdirSync(dir).length > 0) {
  process.stderr.write(`error: ${dir} exists and is not empty; choose another directory\n`);
  process.exit(1);
}
const name = basename(dir).toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[._-]+/, '') || 'celeriac-app';

cpSync(new URL('template', here), dir, { recursive: true });
// npm drops .gitignore from published tarballs, so the template keeps it as _gitignore.
for (const file of ['_gitignore', '_dockerignore']) {
  if (existsSync(join(dir, file))) renameSync(join(dir, file), join(dir, `.${file.slice(1)}`));
}
for (const file of ['package.json', 'README.md', 'compose.yaml']) {
  const path = join(dir, file);
  writeFileSync(path, readFileSync(path, 'utf8').replaceAll('{{name}}', name).replaceAll('{{celeriacVersion}}', version));
}
process.stdout.write(`Created ${name} in ${dir}

  cd ${target}
  npm install
  npm test          # the tasks' tests, on the in-process memory:// broker
  npm start         # worker, beat and a producer in one process (memory://)
  docker compose up # Redis, a worker, beat and the dashboard on http://localhost:5555
`);
