// Types of format.js for the unit tests (the browser loads the .js as it is).
export function toMs(t: unknown): number | null;
export function resolveZone(choice: string, appZone: string | undefined): string | undefined;
export function validZone(zone: unknown): boolean;
export function formatTime(t: unknown, timeZone?: string): string;
export function formatDuration(sec: unknown): string;
export function formatAge(t: unknown, nowMs: number): string;
export function elide(text: unknown, max?: number): string;
export function formatCount(n: unknown): string;
export function localInputToMs(value: string, timeZone: string | undefined): number | null;
export function offsetMs(ms: number, timeZone: string | undefined): number;
