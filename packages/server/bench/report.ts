/**
 * What every server benchmark reports alike: percentiles, and its targets (a measured ratio or
 * figure against the goal it is held to), written next to its markdown section as
 * docs/benchmarks/<name>.targets.json so that scripts/bench.mjs can print every target of the run
 * in one table; and the section's stamp (<name>.run.json: date, commit, duration, load), in the
 * form scripts/bench.mjs writes, so that a benchmark run on its own never leaves its new figures
 * under an earlier run's stamp.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { join, relative } from "node:path";

const REPO = fileURLToPath(new URL("../../../../", import.meta.url));
const REPORT_DIR = join(REPO, "docs", "benchmarks");

/** When and from what this benchmark started: taken as the module loads, before any measurement. */
const started = { at: new Date(), load: loadavg()[0] ?? 0, commit: commitOf() };

/** The commit checked out, and whether code (documentation aside: the runs write some) differed from it. */
function commitOf(): string {
  const git = (...args: string[]) => spawnSync("git", args, { cwd: REPO, encoding: "utf8" }).stdout?.trim() ?? "";
  const changed = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs");
  return `${git("rev-parse", "--short", "HEAD") || "unknown"}${changed ? " with uncommitted changes" : ""}`;
}

/** The stamp scripts/bench.mjs shows under the section's heading. */
function stamp(): object {
  const script = process.argv[1] ?? "";
  return {
    date: started.at.toISOString().replace(/\.\d+Z$/, "Z"),
    commit: started.commit,
    bench: relative(REPO, script).replace(/dist\/bench\/(.*)\.js$/, "bench/$1.ts"),
    seconds: Math.round((Date.now() - started.at.getTime()) / 1000),
    load: [started.load.toFixed(1), (loadavg()[0] ?? 0).toFixed(1)],
    cores: cpus().length,
    status: "completed",
  };
}

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
  writeFileSync(join(REPORT_DIR, `${name}.run.json`), `${JSON.stringify(stamp(), null, 2)}\n`);
  process.stdout.write(`\n${markdown}\n`);
  for (const t of targets)
    process.stdout.write(`target: ${t.target}: ${t.measured} (goal ${t.goal}) ${t.met ? "met" : "NOT met"}\n`);
  process.stdout.write(`written to ${join(REPORT_DIR, `${name}.md`)}\n`);
}

export const f0 = (n: number) => (Number.isFinite(n) ? n.toFixed(0) : "n/a");
export const f1 = (n: number) => (Number.isFinite(n) ? n.toFixed(1) : "n/a");
export const f2 = (n: number) => (Number.isFinite(n) ? n.toFixed(2) : "n/a");
