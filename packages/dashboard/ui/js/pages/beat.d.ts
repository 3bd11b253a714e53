// Types of beat.js for the unit tests (the browser loads the .js as it is).
export function beatEntries(doc: unknown): (Record<string, unknown> & { name: string })[];
export function scheduleText(s: unknown): string;
export function render(ctx: unknown): Promise<void>;
