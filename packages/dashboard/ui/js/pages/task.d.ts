// Types of task.js for the unit tests (the browser loads the .js as it is).
export type TaskDict = Record<string, unknown> & { uuid: string; parent_id: string | null; root_id: string | null; group_id: string | null };
export interface TreeNode { task: TaskDict; children: TreeNode[] }
export function normalizeTask(t: Record<string, unknown>): TaskDict;
export function traceOf(t: Record<string, unknown>, template: unknown): { id: string; url: string | null } | null;
export function workflowForest(doc: unknown): TreeNode[];
export function forestIds(forest: TreeNode[]): string[];
export function workflowRevoke(forest: TreeNode[]): { label: string; unfinished: number; total: number; disabledReason: string | null } | null;
export function render(ctx: unknown): Promise<void>;
