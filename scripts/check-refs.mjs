#!/usr/bin/env node
/**
 * Docs that cannot rot: every file, npm script, setting and symbol that the docs (README
 * files, docs/, bench/ notes) and the code comments name must exist. `npm run lint` runs this;
 * it prints each missing one as `file:line: what` and exits 1.
 *
 * What is checked:
 * - file names (`worker/executor.ts`, `set-aside.lua`, `docs/pools.md`): resolved beside the
 *   citing file, from the repository root, or as the end of a tracked path (a bare name: any
 *   tracked file of that name). Documents kept outside the repository (the design notes, the
 *   Flower spec) are not citable: what they say belongs in docs/.
 * - `npm run <script>`: a script of the root package.json or of a workspace.
 * - settings: a backquoted `taskXxx`/`workerXxx`/... in docs/ that names no setting of
 *   packages/celeriac/src/core/settings.ts, nor a task option, nor a declared identifier.
 * - symbols: `{@link X}` and `{@link X.y}` in comments, and `X.y` in backquotes: X declared in
 *   the repository's TypeScript (class, interface, type, function, const), y a name of the
 *   file that declares X.
 *
 * - tuning figures: a code comment of a shipped module that records a timing in micro- or
 *   nanoseconds (`0.4 us`, `16 µs`) or a CPU percentage: those belong in bench results, which
 *   are dated; the comment keeps the why.
 *
 * `node scripts/check-refs.mjs --list` prints what it checked, one reference per line.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository checked: this one, or `--root <dir>` (scripts/check-refs.test.ts checks a fake one). */
const rootArg = process.argv.indexOf('--root');
const ROOT = rootArg === -1 ? fileURLToPath(new URL('..', import.meta.url)) : `${process.argv[rootArg + 1].replace(/\/$/, '')}/`;

/** Names in docs that are the reader's own files in an example, not the repository's. */
const EXAMPLE_FILES = new Set([
  'src/app.ts', './src/app.ts', 'app.ts', './app.ts', 'app.js', './app.js', 'dist/app.js', './dist/app.js', 'file.json', 'tasks.py', 'proj/tasks.py',
  'celeryconfig.py', 'config.json', 'schedule.json', '.env', 'package.json', 'tsconfig.json', 'beat-schedule.json', 'celerybeat-schedule.json',
  'worker.ts', 'src/worker.ts', './src/worker.ts', 'tasks.ts', 'src/tasks.ts', './src/tasks.ts', 'main.ts', 'index.js', 'server.ts',
  './src/flows.ts', './src/celery.ts', 'src/send.ts', 'src/tasks/billing.ts', 'src/tasks/images.ts', 'otel.mjs', './otel.mjs',
  // Placeholders in comments and test fixtures.
  'x.ts', './x.ts', 'mod.ts', './scripts/x.lua', 'src/a.ts', 'src/s.lua', 'src/a.test.ts',
]);

/**
 * Files named before they are written, with who writes them. Once one exists its entry must go
 * (the check says so), so this list cannot hide a lasting gap.
 */
const PENDING = new Map();

/** Docs that name someone else's API on purpose (Celery's `Task.apply`): their `X.y` are not ours. */
const FOREIGN_API_DOCS = new Set(['docs/celery-map.md']);

/** Files of the repository: tracked, and new ones not ignored. */
function repoFiles() {
  const out = execFileSync('git', ['ls-files', '-z', '--cached', '--others', '--exclude-standard'], { cwd: ROOT, encoding: 'utf8', maxBuffer: 1 << 28 });
  return out.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

const FILES = repoFiles();
const FILE_SET = new Set(FILES);
const BY_BASENAME = new Map();
for (const f of FILES) {
  const base = posix.basename(f);
  BY_BASENAME.set(base, [...(BY_BASENAME.get(base) ?? []), f]);
}

const DOC_FILE = (f) => f.endsWith('.md') && !f.startsWith('bench/results/') && !f.includes('/fixtures/') && !f.startsWith('.');
const CODE_FILE = (f) => /\.(ts|mts|mjs|cjs|js|lua)$/.test(f) && !f.startsWith('bench/results/') && !f.includes('/fixtures/') && !f.endsWith('.d.ts') && !f.includes('/ui/vendor/');

/** Comment text of a source file with its line numbers kept (code blanked to spaces, newlines kept). */
function commentsOf(text, lua) {
  let out = '';
  let i = 0;
  const n = text.length;
  const blank = (s) => s.replace(/[^\n]/g, ' ');
  while (i < n) {
    const c = text[i];
    const two = text.slice(i, i + 2);
    if (lua && two === '--') {
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? n : end;
      out += text.slice(i, stop);
      i = stop;
    } else if (!lua && two === '//') {
      const end = text.indexOf('\n', i);
      const stop = end === -1 ? n : end;
      out += text.slice(i, stop);
      i = stop;
    } else if (!lua && two === '/*') {
      const end = text.indexOf('*/', i + 2);
      const stop = end === -1 ? n : end + 2;
      out += text.slice(i, stop);
      i = stop;
    } else if (c === '"' || c === "'" || c === '`') {
      // Skip a string (template literals without nesting awareness: enough for comments).
      let j = i + 1;
      while (j < n && text[j] !== c) {
        if (text[j] === '\\') j++;
        else if (text[j] === '\n' && c !== '`') break;
        j++;
      }
      out += blank(text.slice(i, j + 1));
      i = j + 1;
    } else if (!lua && c === '/' && /[=(,:;!&|?{}[\s]$/.test(text.slice(Math.max(0, i - 1), i) || ' ') && /^\/[^/*\s]/.test(text.slice(i, i + 2)) && looksLikeRegex(text, i)) {
      // A regex literal: skip to its closing slash on the same line.
      let j = i + 1;
      let inClass = false;
      while (j < n && text[j] !== '\n') {
        if (text[j] === '\\') j++;
        else if (text[j] === '[') inClass = true;
        else if (text[j] === ']') inClass = false;
        else if (text[j] === '/' && !inClass) break;
        j++;
      }
      out += blank(text.slice(i, j + 1));
      i = j + 1;
    } else {
      out += c === '\n' ? '\n' : ' ';
      i++;
    }
  }
  return out;
}

/** A `/` that starts a regex literal, judged by the last non-space character before it. */
function looksLikeRegex(text, i) {
  let k = i - 1;
  while (k >= 0 && (text[k] === ' ' || text[k] === '\t')) k--;
  return k < 0 || '=(,:;!&|?{}[\n'.includes(text[k]) || /\breturn$/.test(text.slice(Math.max(0, k - 6), k + 1));
}

/** The lines of a text. */
function lines(text) {
  return text.split('\n');
}

const problems = [];
const listed = [];
const report = (file, line, what) => problems.push(`${file}:${line}: ${what}`);

// ---------------------------------------------------------------- files
const FILE_REF = /(?<![\w@$/.:\-~*])((?:\.{1,2}\/)?(?:[\w.-]+\/)*\w[\w.-]*\.(?:ts|mts|mjs|cjs|lua|md|json|ya?ml|sh|sql|html|css))(?![\w/-]|\.\w)/g;
/** Names of files kept outside the repository: cited, they send a reader nowhere. */
const OUTSIDE = /\b(DESIGN(?:\.md)?\s*(?:§|decision)|flower-spec\.md|peers\.md|celery-protocol\.md|style-references\.md)/g;

function resolvesFile(citing, ref) {
  if (EXAMPLE_FILES.has(ref)) return true;
  const clean = ref.replace(/^\.\//, '');
  if (FILE_SET.has(clean)) return true;
  const beside = posix.normalize(posix.join(posix.dirname(citing), ref));
  if (FILE_SET.has(beside)) return true;
  if (!clean.includes('/')) return BY_BASENAME.has(clean);
  if (clean.startsWith('../')) return false;
  const tail = `/${clean}`;
  return FILES.some((f) => f.endsWith(tail));
}

function checkFiles(file, text) {
  const ls = lines(text);
  ls.forEach((line, idx) => {
    // URLs name files on other hosts.
    const bare = line.replace(/\b[a-z][\w+.-]*:\/\/\S+/gi, ' ');
    for (const m of bare.matchAll(FILE_REF)) {
      const ref = m[1];
      listed.push(`${file}:${idx + 1}: file ${ref}`);
      if (!resolvesFile(file, ref) && !PENDING.has(ref)) report(file, idx + 1, `names a file that does not exist: ${ref}`);
    }
    for (const m of line.matchAll(OUTSIDE)) report(file, idx + 1, `cites a document kept outside the repository: ${m[1]} (say what it says, or cite docs/)`);
  });
}

// ---------------------------------------------------------------- npm scripts
const SCRIPTS = new Set();
for (const f of FILES.filter((f) => f === 'package.json' || /^(packages|apps|examples)\/[^/]+\/package\.json$/.test(f) || f === 'bench/package.json')) {
  for (const s of Object.keys(JSON.parse(readFileSync(join(ROOT, f), 'utf8')).scripts ?? {})) SCRIPTS.add(s);
}
function checkScripts(file, text) {
  lines(text).forEach((line, idx) => {
    for (const m of line.matchAll(/\bnpm (?:run(?:-script)?|-w [\w/@.-]+ run) ([\w:.-]+)/g)) {
      listed.push(`${file}:${idx + 1}: script ${m[1]}`);
      if (!SCRIPTS.has(m[1])) report(file, idx + 1, `names an npm script that does not exist: npm run ${m[1]}`);
    }
  });
}

// ---------------------------------------------------------------- declarations
/** Declared names -> the files declaring them (TypeScript of the repository). */
const DECLARED = new Map();
const TS_TEXT = new Map();
for (const f of FILES.filter((f) => /\.(ts|mts|js|mjs)$/.test(f) && !f.startsWith('bench/results/') && !f.includes('/vendor/'))) {
  const text = readFileSync(join(ROOT, f), 'utf8');
  TS_TEXT.set(f, text);
  for (const m of text.matchAll(/\b(?:class|interface|type|function\*?|enum|namespace|const|let)\s+([A-Za-z_$][\w$]*)/g)) {
    DECLARED.set(m[1], [...(DECLARED.get(m[1]) ?? []), f]);
  }
}

function memberOf(owner, member) {
  const files = DECLARED.get(owner) ?? [];
  const word = new RegExp(`\\b${member.replace(/\$/g, '\\$')}\\b`);
  return files.some((f) => word.test(TS_TEXT.get(f) ?? ''));
}

function checkSymbols(file, text, isDoc) {
  lines(text).forEach((line, idx) => {
    for (const m of line.matchAll(/\{@link(?:code|plain)?\s+([A-Za-z_$][\w$]*)(?:[.#]([A-Za-z_$][\w$]*))?[^}]*\}/g)) {
      const [, owner, member] = m;
      listed.push(`${file}:${idx + 1}: symbol ${owner}${member ? `.${member}` : ''}`);
      const own = TS_TEXT.get(file) ?? text;
      const known = DECLARED.has(owner) || new RegExp(`\\b${owner}\\b`).test(own.replace(m[0], ''));
      if (!known) report(file, idx + 1, `links a symbol that is not declared: ${owner}`);
      else if (member !== undefined && DECLARED.has(owner) && !memberOf(owner, member)) report(file, idx + 1, `links a member that ${owner} does not have: ${owner}.${member}`);
    }
    if (!isDoc || FOREIGN_API_DOCS.has(file)) return;
    for (const m of line.matchAll(/`([A-Z][A-Za-z0-9]+)\.([a-z][A-Za-z0-9]+)(?:\(\))?`/g)) {
      const [, owner, member] = m;
      if (!DECLARED.has(owner)) continue; // someone else's (Celery's, kombu's, Node's)
      listed.push(`${file}:${idx + 1}: symbol ${owner}.${member}`);
      if (!memberOf(owner, member)) report(file, idx + 1, `names a member that ${owner} does not have: ${owner}.${member}`);
    }
  });
}

// ---------------------------------------------------------------- settings
const SETTINGS_PATH = join(ROOT, 'packages/celeriac/src/core/settings.ts');
const SETTINGS_TEXT = existsSync(SETTINGS_PATH) ? readFileSync(SETTINGS_PATH, 'utf8') : '';
const SETTINGS = new Set([...SETTINGS_TEXT.matchAll(/^\s{2}(\w+): setting</gm)].map((m) => m[1]));
const SETTING_LIKE = /`((?:task|worker|broker|result|beat|event|redis|database|cache|timezone|enableUtc|security)[A-Z]\w*)`/g;
function checkSettings(file, text) {
  lines(text).forEach((line, idx) => {
    for (const m of line.matchAll(SETTING_LIKE)) {
      const name = m[1];
      listed.push(`${file}:${idx + 1}: setting ${name}`);
      if (SETTINGS.has(name) || DECLARED.has(name)) continue;
      // A field of some options or record type (taskId, workerName): declared as a property somewhere.
      const asProperty = new RegExp(`\\b${name}\\??\\s*[:(]`);
      if ([...TS_TEXT.values()].some((t) => asProperty.test(t))) continue;
      report(file, idx + 1, `names a setting that does not exist: ${name}`);
    }
  });
}

// ---------------------------------------------------------------- tuning figures
const TUNING = /\b\d+(?:\.\d+)?(?:-\d+(?:\.\d+)?)? ?(?:us|µs|ns)\b|\b\d+(?:\.\d+)? ?% (?:more |less |of (?:a |the )?\w+'s )?CPU\b/;
function checkTuning(file, comments) {
  if (!/^packages\/[^/]+\/src\//.test(file) || /\.test\.ts$/.test(file)) return;
  lines(comments).forEach((line, idx) => {
    if (TUNING.test(line)) report(file, idx + 1, `records a tuning figure (${TUNING.exec(line)[0]}): keep the why, put the figure in bench results`);
  });
}

// ---------------------------------------------------------------- run
for (const [pending, who] of PENDING) {
  if (FILE_SET.has(pending)) report('scripts/check-refs.mjs', 1, `${pending} exists now (${who}): remove it from PENDING`);
}
for (const f of FILES) {
  if (DOC_FILE(f)) {
    const text = readFileSync(join(ROOT, f), 'utf8');
    checkFiles(f, text);
    checkScripts(f, text);
    checkSymbols(f, text, true);
    if (f.startsWith('docs/') || f.endsWith('README.md')) checkSettings(f, text);
  } else if (CODE_FILE(f)) {
    const comments = commentsOf(readFileSync(join(ROOT, f), 'utf8'), f.endsWith('.lua'));
    checkFiles(f, comments);
    checkScripts(f, comments);
    checkSymbols(f, comments, false);
    checkTuning(f, comments);
  }
}

if (process.argv.includes('--list')) process.stdout.write(`${listed.join('\n')}\n`);
if (problems.length > 0) {
  process.stderr.write(`check-refs: ${problems.length} reference(s) to things that do not exist:\n${problems.join('\n')}\n`);
  process.exit(1);
}
process.stdout.write(`check-refs: ${listed.length} references resolved\n`);
