// Types of delayed.js for the unit tests (the browser loads the .js as it is).
export function loadDelayed(limit?: number): Promise<unknown>;
export function delayedByQueue(doc: unknown): Record<string, number>;
export function delayedSummary(doc: unknown): string;
export function delayedView(doc: unknown, nowMs?: number): unknown;
