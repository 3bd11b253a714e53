// Copies the non-TypeScript files the library reads at runtime (Lua scripts, loaded with
// readFileSync(new URL('./scripts/x.lua', import.meta.url))) from src/ to dist/, keeping
// their paths: tsc only emits .js/.d.ts, so without this dist would miss them.
// A file already in place with the same bytes is left alone, and a changed one is written
// beside it and renamed over it: test files run `npm run build` while other files' children
// read dist/, and an in-place copy could let them read a half-written script.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const src = join(root, 'src');
const dist = join(root, 'dist');
const ASSET = /\.lua$/;

let copied = 0;
for (const entry of readdirSync(src, { recursive: true, withFileTypes: true })) {
  if (!entry.isFile() || !ASSET.test(entry.name)) continue;
  const from = join(entry.parentPath, entry.name);
  const to = join(dist, relative(src, from));
  const bytes = readFileSync(from);
  if (existsSync(to) && readFileSync(to).equals(bytes)) continue;
  mkdirSync(dirname(to), { recursive: true });
  const tmp = `${to}.${process.pid}.tmp`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, to);
  copied++;
}
console.log(`copy-assets: ${copied} file(s) copied to ${relative(process.cwd(), dist) || '.'}`);
