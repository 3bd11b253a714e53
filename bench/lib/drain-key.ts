/** The key of one drain of an A/B round: `c=100`, or `c=100 -E` with task events on. */
export const drainKey = (concurrency: number, events = false): string => `c=${concurrency}${events ? ' -E' : ''}`;
