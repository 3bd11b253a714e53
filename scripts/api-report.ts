/**
 * The public API report (issue 47): every name each published entry point exports (the
 * `exports` of packages/celeriac and packages/dashboard), with its declared shape (function
 * signatures, class members, interface fields, type aliases), read from the built declarations
 * by the TypeScript compiler. The report is checked in under api-report/, one file per package,
 * and scripts/api-report.test.ts fails when it differs from the code, so a change to the public
 * surface is always a visible diff in review. `npm run api:report` rewrites it (after a build).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import ts from 'typescript';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The packages reported, and where their report lives. */
export const PACKAGES = [
  { dir: 'packages/celeriac', report: 'api-report/celeriac.api.md' },
  { dir: 'packages/dashboard', report: 'api-report/dashboard.api.md' },
] as const;

interface EntryPoint {
  /** `celeriac/beat` */
  readonly specifier: string;
  /** Absolute path of its .d.ts. */
  readonly declarations: string;
}

function entryPoints(dir: string): EntryPoint[] {
  const pkg = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as { name: string; exports: Record<string, string | { types?: string }> };
  const out: EntryPoint[] = [];
  for (const [subpath, target] of Object.entries(pkg.exports)) {
    if (typeof target === 'string' || target.types === undefined) continue;
    out.push({ specifier: subpath === '.' ? pkg.name : `${pkg.name}/${subpath.slice(2)}`, declarations: join(ROOT, dir, target.types) });
  }
  return out;
}

const FORMAT = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseFullyQualifiedType | ts.TypeFormatFlags.WriteArrowStyleSignature;

/** Members of a class or interface type a user can reach: not `#private`, not `private`/`protected`. */
function publicProperties(checker: ts.TypeChecker, type: ts.Type): ts.Symbol[] {
  return checker.getPropertiesOfType(type).filter((p) => {
    if (p.name.startsWith('#') || p.name.startsWith('__@')) return false;
    const flags = p.valueDeclaration === undefined ? 0 : ts.getCombinedModifierFlags(p.valueDeclaration);
    return (flags & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)) === 0;
  });
}

function memberLine(checker: ts.TypeChecker, p: ts.Symbol, at: ts.Node): string {
  const decl = p.valueDeclaration ?? p.declarations?.[0];
  const optional = (p.flags & ts.SymbolFlags.Optional) !== 0 ? '?' : '';
  const readonly = decl !== undefined && (ts.getCombinedModifierFlags(decl) & ts.ModifierFlags.Readonly) !== 0 ? 'readonly ' : '';
  const deprecated = ts.getJSDocTags(decl ?? at).some((t) => t.tagName.text === 'deprecated') ? ' /* deprecated */' : '';
  const type = checker.getTypeOfSymbolAtLocation(p, decl ?? at);
  if ((p.flags & ts.SymbolFlags.Method) !== 0) {
    // An optional method's type is `(...) | undefined`, which has no call signatures itself.
    return checker.getNonNullableType(type).getCallSignatures().map((s) => `  ${p.name}${optional}${checker.signatureToString(s, decl, FORMAT)};${deprecated}`).join('\n');
  }
  return `  ${readonly}${p.name}${optional}: ${checker.typeToString(type, decl, FORMAT)};${deprecated}`;
}

/** One exported name as the report shows it. */
function describe(checker: ts.TypeChecker, exported: ts.Symbol): string {
  const symbol = (exported.flags & ts.SymbolFlags.Alias) !== 0 ? checker.getAliasedSymbol(exported) : exported;
  const decl = symbol.declarations?.[0];
  if (decl === undefined) return `${exported.name}: (no declaration)`;
  const name = exported.name;
  const parts: string[] = [];
  if ((symbol.flags & ts.SymbolFlags.Class) !== 0) {
    const instance = checker.getDeclaredTypeOfSymbol(symbol);
    const statics = checker.getTypeOfSymbolAtLocation(symbol, decl);
    const lines = [
      ...statics.getConstructSignatures().map((s) => `  constructor${checker.signatureToString(s, decl, FORMAT).replace(/ => .*$/s, '')};`),
      ...publicProperties(checker, statics).filter((p) => p.name !== 'prototype').map((p) => `  static${memberLine(checker, p, decl).slice(1)}`),
      ...publicProperties(checker, instance).map((p) => memberLine(checker, p, decl)),
    ];
    const base = instance.getBaseTypes()?.map((b) => checker.typeToString(b, decl, FORMAT)) ?? [];
    parts.push(`class ${name}${base.length > 0 ? ` extends ${base.join(', ')}` : ''} {\n${lines.join('\n')}\n}`);
  } else if ((symbol.flags & ts.SymbolFlags.Function) !== 0) {
    const type = checker.getTypeOfSymbolAtLocation(symbol, decl);
    for (const s of type.getCallSignatures()) parts.push(`function ${name}${checker.signatureToString(s, decl, FORMAT)}`);
  } else if ((symbol.flags & ts.SymbolFlags.Interface) !== 0) {
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    const params = (decl as ts.InterfaceDeclaration).typeParameters?.map((p) => p.getText()).join(', ');
    const calls = type.getCallSignatures().map((s) => `  ${checker.signatureToString(s, decl, FORMAT)};`);
    const lines = [...calls, ...publicProperties(checker, type).map((p) => memberLine(checker, p, decl))];
    parts.push(`interface ${name}${params === undefined ? '' : `<${params}>`} {\n${lines.join('\n')}\n}`);
  } else if ((symbol.flags & ts.SymbolFlags.TypeAlias) !== 0) {
    const alias = decl as ts.TypeAliasDeclaration;
    parts.push(`type ${alias.name.text}${alias.typeParameters === undefined ? '' : `<${alias.typeParameters.map((p) => p.getText()).join(', ')}>`} = ${alias.type.getText()}`);
    // An object type built from names the entry point does not export (a mapped table, an
    // intersection): its fields are the API, so they are listed.
    const type = checker.getDeclaredTypeOfSymbol(symbol);
    const isObject = (type.flags & (ts.TypeFlags.Object | ts.TypeFlags.Intersection)) !== 0 && type.getCallSignatures().length === 0;
    if (alias.typeParameters === undefined && isObject && !ts.isTypeLiteralNode(alias.type)) {
      const lines = publicProperties(checker, type).map((p) => memberLine(checker, p, decl));
      if (lines.length > 0) parts.push(`// fields:\n{\n${lines.join('\n')}\n}`);
    }
  } else if ((symbol.flags & ts.SymbolFlags.Variable) !== 0) {
    parts.push(`const ${name}: ${checker.typeToString(checker.getTypeOfSymbolAtLocation(symbol, decl), decl, FORMAT)}`);
  } else if ((symbol.flags & ts.SymbolFlags.Enum) !== 0) {
    parts.push(`enum ${name}`);
  } else {
    parts.push(`${name}: ${ts.SymbolFlags[symbol.flags] ?? symbol.flags}`);
  }
  const deprecated = ts.getJSDocTags(decl).some((t) => t.tagName.text === 'deprecated');
  return (deprecated ? '/** @deprecated */\n' : '') + parts.join('\n');
}

/** The report of one package, as checked in. */
export function renderReport(dir: string): string {
  const entries = entryPoints(dir);
  const program = ts.createProgram(entries.map((e) => e.declarations), { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext, target: ts.ScriptTarget.ES2022, strict: true, noEmit: true, skipLibCheck: true, types: ['node'] });
  const checker = program.getTypeChecker();
  const out = [
    `# API report: ${entries[0]?.specifier ?? dir}`,
    '',
    'Generated by scripts/api-report.ts from the built declarations: every exported name of every',
    'entry point, with its shape. A change here is a change to the public API; say it in the',
    "package's CHANGELOG.md (and docs/upgrading.md when users must act). `npm run api:report` rewrites it.",
  ];
  for (const entry of entries) {
    const source = program.getSourceFile(entry.declarations);
    if (source === undefined) throw new Error(`${entry.declarations} is missing: run npm run build first`);
    const moduleSymbol = checker.getSymbolAtLocation(source);
    const exports = moduleSymbol === undefined ? [] : checker.getExportsOfModule(moduleSymbol).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    out.push('', `## ${entry.specifier}`, '', '```ts', ...exports.map((e) => describe(checker, e)).join('\n\n').split('\n'), '```');
  }
  // A type printed inline names its module by absolute path: make it the same on every machine.
  return `${out.join('\n')}\n`.replaceAll(`import("${ROOT}/`, 'import("').replaceAll(`import("${ROOT.replace(/\/$/, '')}/`, 'import("');
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  for (const { dir, report } of PACKAGES) {
    writeFileSync(join(ROOT, report), renderReport(dir));
    process.stdout.write(`wrote ${report}\n`);
  }
}
