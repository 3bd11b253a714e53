/**
 * Where packages/celeriac/src settles a delivery: every call of a settlement method of the
 * broker SPI's `Delivery` (ack, reject, restore, defer, setAside), found by type, not by name,
 * so a row's `ack(policy)` or a promise's `reject` is not one and a delivery renamed `d` is.
 * The worker settles in one module (worker/settlement.ts, driven by worker/outcome-table.ts);
 * settlement-sites.test.ts fails when another module does.
 *
 *   node --import tsx scripts/settlement-sites.ts      # prints every site, file:line method
 */
import { relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

/** The settlement methods of `Delivery` (core/spi/broker.ts). */
export const SETTLEMENT_METHODS: ReadonlySet<string> = new Set(['ack', 'reject', 'restore', 'defer', 'setAside']);

/** One call of a settlement method. */
export interface SettlementSite {
  /** The file, relative to `root`, with forward slashes. */
  readonly file: string;
  readonly line: number;
  readonly method: string;
}

/** True when `decl` is a member of an interface or class named `Delivery` (the SPI's, or an adapter's own). */
function isDeliveryMember(decl: ts.Declaration): boolean {
  const owner = decl.parent;
  return (ts.isInterfaceDeclaration(owner) || ts.isClassDeclaration(owner)) && owner.name?.text === 'Delivery';
}

/**
 * The settlement calls in `files` (a program made with `options`), test files included when
 * listed. A call counts when its method resolves to a member of `Delivery`, or of a type that
 * implements it (each of its declarations is checked against the SPI's by name).
 */
export function findSettlementSites(files: readonly string[], options: ts.CompilerOptions, root: string): SettlementSite[] {
  const program = ts.createProgram(files, { ...options, noEmit: true });
  const checker = program.getTypeChecker();
  const wanted = new Set(files.map((f) => ts.sys.resolvePath(f)));
  const sites: SettlementSite[] = [];
  for (const sf of program.getSourceFiles()) {
    if (!wanted.has(ts.sys.resolvePath(sf.fileName))) continue;
    const visit = (node: ts.Node): void => {
      if (ts.isCallExpression(node) && ts.isPropertyAccessExpression(node.expression) && SETTLEMENT_METHODS.has(node.expression.name.text)) {
        if (settlesADelivery(checker, node.expression)) {
          const { line } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
          sites.push({ file: relative(root, sf.fileName).split('\\').join('/'), line: line + 1, method: node.expression.name.text });
        }
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return sites;
}

/** True when the receiver of `access` is a delivery: its method is `Delivery`'s, or the receiver's type has all of `Delivery`'s settlement methods. */
function settlesADelivery(checker: ts.TypeChecker, access: ts.PropertyAccessExpression): boolean {
  const symbol = checker.getSymbolAtLocation(access.name);
  if (symbol?.declarations?.some(isDeliveryMember)) return true;
  const type = checker.getTypeAtLocation(access.expression);
  return [...SETTLEMENT_METHODS].every((m) => type.getProperty(m) !== undefined);
}

/** The compiler options and source files of packages/celeriac (its tsconfig.json, tests left out as it leaves them). */
export function celeriacProject(root: string): { files: string[]; options: ts.CompilerOptions } {
  const configPath = `${root}/packages/celeriac/tsconfig.json`;
  const read = ts.readConfigFile(configPath, (p) => ts.sys.readFile(p));
  const parsed = ts.parseJsonConfigFileContent(read.config, ts.sys, `${root}/packages/celeriac`);
  return { files: parsed.fileNames, options: { ...parsed.options, composite: false, incremental: false } };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const root = fileURLToPath(new URL('..', import.meta.url));
  const { files, options } = celeriacProject(root);
  for (const s of findSettlementSites(files, options, root)) process.stdout.write(`${s.file}:${s.line} ${s.method}\n`);
}
