// Types of broker.js for the unit tests (the browser loads the .js as it is).
export function brokerQueues(doc: unknown): (Record<string, unknown> & { name: string })[];
export function render(ctx: unknown): Promise<void>;
