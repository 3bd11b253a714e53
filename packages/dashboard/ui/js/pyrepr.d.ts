// Types of pyrepr.js for the unit tests (the browser loads the .js as it is).
export type ValueNode =
  | { t: 'dict'; entries: [ValueNode, ValueNode][] }
  | { t: 'list' | 'tuple' | 'set'; items: ValueNode[] }
  | { t: 'call'; name: string; items: ValueNode[]; entries: [ValueNode, ValueNode][] }
  | { t: 'str' | 'bytes' | 'num' | 'raw'; v: string }
  | { t: 'bool'; v: boolean }
  | { t: 'none' };
export function parseValue(text: unknown): { kind: 'json' | 'python' | 'text'; node: ValueNode };
export function fromJson(v: unknown, depth: number): ValueNode;
export function childCount(node: ValueNode): number;
export function preview(node: ValueNode, max?: number): string;
export function pyStr(text: string, bytes?: boolean): string;
export function pyNum(v: number): string;
