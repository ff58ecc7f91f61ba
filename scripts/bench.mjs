#!/usr/bin/env node
// Runs every benchmark (packages/*/dist/bench/*.bench.js, after `tsc -b`), each of which prints
// its figures and writes docs/benchmarks/<name>.md (and, for those held to targets,
// <name>.targets.json); then assembles docs/benchmarks.md from those, every target's measured
// value against its goal first, and prints the targets.
// Arguments narrow the run to benchmarks whose path contains one of them: `npm run bench -- server`;
// `--assemble` only rebuilds docs/benchmarks.md from the sections already written.
import { readdirSync, existsSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import os from "node:os";

const assembleOnly = process.argv.includes("--assemble");
const filters = process.argv.slice(2).filter((a) => a !== "--assemble");
const benches = [];
for (const pkg of readdirSync("packages").sort()) {
  const dir = join("packages", pkg, "dist", "bench");
  if (!existsSync(dir)) continue;
  for (const name of readdirSync(dir).sort()) if (name.endsWith(".bench.js")) benches.push(join(dir, name));
}
const selected = assembleOnly ? [] : benches.filter((b) => filters.length === 0 || filters.some((f) => b.includes(f)));
let failed = 0;
for (const bench of selected) {
  console.log(`\n== ${bench}`);
  const result = spawnSync(process.execPath, [bench], { stdio: "inherit" });
  if (result.status !== 0) failed++;
}

mkdirSync("docs/benchmarks", { recursive: true });
const sections = readdirSync("docs/benchmarks")
  .filter((f) => f.endsWith(".md"))
  .sort();
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const header = `# Benchmarks

Figures from \`npm run bench\`, which runs every package's benchmark on the machine at hand and
rewrites this file (\`npm run bench -- server\` runs one). Each section says what it measures, how,
and on what machine; the figures are measurements, never test assertions. Machine of the last assembly:
${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node.js ${process.version}.
`;
const body = sections.map((f) => readFileSync(join("docs/benchmarks", f), "utf8").trim()).join("\n\n");
const targets = readdirSync("docs/benchmarks")
  .filter((f) => f.endsWith(".targets.json"))
  .sort()
  .flatMap((f) =>
    JSON.parse(readFileSync(join("docs/benchmarks", f), "utf8")).map((t) => ({
      ...t,
      section: f.replace(/\.targets\.json$/, ""),
    })),
  );
const targetTable = [
  "## Targets",
  "",
  "Each measured in its benchmark's run, against the figure it is held to (the sections below give the raw figures and how they were taken).",
  "",
  "| target | measured | goal | met | from |",
  "|---|---:|---|---|---|",
  ...targets.map((t) => `| ${t.target} | ${t.measured} | ${t.goal} | ${t.met ? "yes" : "**no**"} | ${t.from} |`),
  "",
].join("\n");
writeFileSync("docs/benchmarks.md", `${header}\n${targets.length ? `${targetTable}\n` : ""}${body}\n`);
console.log("\ntargets:");
for (const t of targets)
  console.log(`  ${t.met ? "met    " : "NOT met"}  ${t.target}: ${t.measured} (goal ${t.goal}; ${t.from})`);
console.log(`\nwrote docs/benchmarks.md from ${sections.length} section(s)`);
process.exit(failed ? 1 : 0);
