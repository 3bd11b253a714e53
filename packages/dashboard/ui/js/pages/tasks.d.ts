// Types of tasks.js for the unit tests (the browser loads the .js as it is).
export const STATES: string[];
export interface TaskFilters {
  search: string; states: string[]; name: string; worker: string; queue: string;
  from: string; to: string; rtmin: string; rtmax: string; sort: string; page: number; size: number;
}
export function taskList(doc: unknown): Record<string, unknown>[];
export function filtersFromQuery(q: URLSearchParams): TaskFilters;
export function apiParams(f: TaskFilters, timeZone: string | undefined): Record<string, string | number | undefined>;
export function render(ctx: unknown): Promise<void>;
