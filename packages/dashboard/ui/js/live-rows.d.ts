// Types of live-rows.js for the unit tests (the browser loads the .js as it is).
export interface LiveTask { uuid: string; timestamp?: number | null; [key: string]: unknown }
export const LOOK_AGAIN: number;
export const MAX_MISSING: number;
export function mergeTask<T extends LiveTask>(row: T, update: LiveTask): T;
export class LiveRows {
  begin(): void;
  abandon(): void;
  update(task: LiveTask, shown: (uuid: string) => boolean): 'shown' | 'missing';
  settle<T extends LiveTask>(list: T[]): { tasks: T[]; lookAgain: boolean };
}
