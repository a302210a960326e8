// Types of proc.mjs for the TypeScript benches.
export function listeningPort(pid: number): number | null;
export function printJsonThenExit(figures: Promise<unknown>): void;
