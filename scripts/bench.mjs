#!/usr/bin/env node
// Runs every benchmark (packages/*/dist/bench/*.bench.js, after `tsc -b`), each of which prints
// its figures and writes docs/benchmarks/<name>.md (and, for those held to targets,
// <name>.targets.json); then assembles docs/benchmarks.md from those, every target's measured
// value against its goal first, and prints the targets.
// Arguments narrow the run to benchmarks whose path contains one of them: `npm run bench -- server`;
// `--assemble` only rebuilds docs/benchmarks.md from the sections already written.
// Each section written by a run is stamped (<name>.run.json: date, commit, the benchmark, its
// duration and the machine's load before and after; the server's benchmarks write their own, in
// the same form), and the assembled file shows every section's stamp under its heading: sections
// of different runs say so.
import { readdirSync, existsSync, readFileSync, writeFileSync, mkdirSync, statSync } from "node:fs";
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
const git = (...args) => spawnSync("git", args, { encoding: "utf8" }).stdout?.trim() ?? "";
// The commit the run starts from, and whether code differed from it (documentation aside: the run writes some).
const commit = () =>
  `${git("rev-parse", "--short", "HEAD") || "unknown"}${git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!docs") ? " with uncommitted changes" : ""}`;
const load1 = () => os.loadavg()[0].toFixed(1);

let failed = 0;
mkdirSync("docs/benchmarks", { recursive: true });
for (const bench of selected) {
  console.log(`\n== ${bench}`);
  const started = { at: new Date(), load: load1(), commit: commit() };
  const result = spawnSync(process.execPath, [bench], { stdio: "inherit" });
  if (result.status !== 0) failed++;
  const stamp = {
    date: started.at.toISOString().replace(/\.\d+Z$/, "Z"),
    commit: started.commit,
    bench: bench.replace(/dist\/bench\/(.*)\.js$/, "bench/$1.ts"),
    seconds: Math.round((Date.now() - started.at.getTime()) / 1000),
    load: [started.load, load1()],
    cores: os.cpus().length,
    status: result.status === 0 ? "completed" : `failed (exit ${result.status})`,
  };
  // The sections this benchmark wrote (or rewrote) during its run, unless it stamped them itself (the server's
  // benchmarks do, so that a run of one on its own is stamped too); a failed run's sections say so either way.
  const since = (file) => existsSync(file) && statSync(file).mtimeMs >= started.at.getTime();
  for (const f of readdirSync("docs/benchmarks").filter((f) => f.endsWith(".md"))) {
    const runFile = join("docs/benchmarks", f.replace(/\.md$/, ".run.json"));
    if (since(join("docs/benchmarks", f)) && (!since(runFile) || result.status !== 0))
      writeFileSync(runFile, `${JSON.stringify(stamp, null, 2)}\n`);
  }
}

const sections = readdirSync("docs/benchmarks")
  .filter((f) => f.endsWith(".md"))
  .sort();
/** The section's text with its run's stamp under its first heading. */
function stamped(f) {
  const text = readFileSync(join("docs/benchmarks", f), "utf8").trim();
  const runFile = join("docs/benchmarks", f.replace(/\.md$/, ".run.json"));
  const line = existsSync(runFile)
    ? (({ date, commit, bench, seconds, load, cores, status }) =>
        `_Run ${date}, commit ${commit}, \`${bench}\` ${status} in ${seconds} s; 1-minute load average ${load[0]} at the start and ${load[1]} at the end on ${cores} cores${Math.max(Number(load[0]), Number(load[1])) > cores ? " (above the core count: other work shared the CPU)" : ""}._`)(
        JSON.parse(readFileSync(runFile, "utf8")),
      )
    : `_Run: not stamped (written before runs were dated); \`npm run bench\` regenerates it with the others, dated._`;
  const [heading, ...rest] = text.split("\n");
  return [heading, "", line, ...rest].join("\n");
}
const cpu = os.cpus()[0]?.model ?? "unknown CPU";
const header = `# Benchmarks

Figures from \`npm run bench\`, which runs every package's benchmark on the machine at hand and
rewrites this file (\`npm run bench -- server\` runs one). Each section says what it measures, how,
and on what machine, and under its heading the run that produced it (date, commit, load): sections
of different runs are not comparable figure for figure. The figures are measurements, never test
assertions. Machine of the last assembly:
${os.cpus().length} × ${cpu}, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node.js ${process.version}.
`;
const body = sections.map(stamped).join("\n\n");
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
