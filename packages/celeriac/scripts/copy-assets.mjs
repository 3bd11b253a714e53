// Copies the non-TypeScript files the library reads at runtime (Lua scripts, loaded with
// readFileSync(new URL('./scripts/x.lua', import.meta.url))) from src/ to dist/, keeping
// their paths: tsc only emits .js/.d.ts, so without this dist would miss them.
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
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
  mkdirSync(dirname(to), { recursive: true });
  copyFileSync(from, to);
  copied++;
}
console.log(`copy-assets: ${copied} file(s) copied to ${relative(process.cwd(), dist) || '.'}`);
