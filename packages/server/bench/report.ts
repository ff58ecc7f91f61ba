/**
 * What every server benchmark reports alike: percentiles, and its targets (a measured ratio or
 * figure against the goal it is held to), written next to its markdown section as
 * docs/benchmarks/<name>.targets.json so that scripts/bench.mjs can print every target of the run
 * in one table.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";

const REPORT_DIR = fileURLToPath(new URL("../../../../docs/benchmarks/", import.meta.url));

export interface Target {
  readonly target: string;
  /** The measured value, rounded for display. */
  readonly measured: string;
  readonly goal: string;
  readonly met: boolean;
  /** The raw figures the value comes from. */
  readonly from: string;
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** Writes the section's markdown and targets, and prints both. */
export function publishSection(name: string, markdown: string, targets: readonly Target[]): void {
  mkdirSync(REPORT_DIR, { recursive: true });
  writeFileSync(join(REPORT_DIR, `${name}.md`), markdown);
  writeFileSync(join(REPORT_DIR, `${name}.targets.json`), `${JSON.stringify(targets, null, 2)}\n`);
  process.stdout.write(`\n${markdown}\n`);
  for (const t of targets)
    process.stdout.write(`target: ${t.target}: ${t.measured} (goal ${t.goal}) ${t.met ? "met" : "NOT met"}\n`);
  process.stdout.write(`written to ${join(REPORT_DIR, `${name}.md`)}\n`);
}

export const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : "n/a");
export const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "n/a");
export const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");
