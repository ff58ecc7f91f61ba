#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist/test/**/*.test.js, examples/*/dist/test/…) with Node's test runner.
// Arguments narrow the run to files whose path contains one of them: `npm test -- pki offer`.
import { readdirSync, statSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { randomInt } from "node:crypto";
import { fileURLToPath, pathToFileURL } from "node:url";
import { spawnSync } from "node:child_process";

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (name.endsWith(".test.js")) out.push(path);
  }
  return out;
}

const filters = process.argv.slice(2);
const files = [];
for (const root of ["packages", "examples"]) {
  for (const pkg of readdirSync(root)) {
    const dir = join(root, pkg, "dist", "test");
    if (existsSync(dir)) walk(dir, files);
  }
}
const selected = files.filter((f) => filters.length === 0 || filters.some((x) => f.includes(x))).sort();
if (selected.length === 0) {
  console.error("no test files found: run `npm run build` first");
  process.exit(1);
}
// The server's storage tests (and the CLI's on the server's books) also run on PostgreSQL: without a cluster named by
// PEAGE_TEST_DATABASE_URL (.ci/run starts one), start a throwaway one for this run.
const env = { ...process.env };
let pgDir;
if (!env.PEAGE_TEST_DATABASE_URL && selected.some((f) => f.includes(join("server", "dist")) || f.includes(join("cli", "dist")))) {
  const started = spawnSync("bash", [join("scripts", "pg-start.sh")], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] });
  if (started.status !== 0) {
    console.error("could not start PostgreSQL for the server's tests (scripts/pg-start.sh)");
    process.exit(1);
  }
  for (const [, name, value] of started.stdout.matchAll(/^export (\w+)=(.*)$/gm)) env[name] = value.replace(/^'(.*)'$/, "$1");
  pgDir = env.PEAGE_PG_DIR;
}
// One fast-check seed for the run, printed, and reused when given: PEAGE_FC_SEED=<seed> npm test replays a failure.
const seed = /^\d+$/.test(env.PEAGE_FC_SEED ?? "") ? Number(env.PEAGE_FC_SEED) : randomInt(2 ** 31);
env.PEAGE_FC_SEED = String(seed);
env.NODE_OPTIONS =
  `${env.NODE_OPTIONS ?? ""} --import=${pathToFileURL(join(import.meta.dirname ?? dirname(fileURLToPath(import.meta.url)), "fc-seed.mjs")).href}`.trim();
console.log(`fast-check seed ${seed} (replay: PEAGE_FC_SEED=${seed} npm test)`);
const result = spawnSync(process.execPath, ["--test", "--test-reporter=spec", ...selected], { stdio: "inherit", env });
if (result.status !== 0) console.log(`fast-check seed of this run: ${seed} (replay: PEAGE_FC_SEED=${seed} npm test)`);
if (pgDir) spawnSync("bash", [join("scripts", "pg-stop.sh"), pgDir], { stdio: "ignore" });
process.exit(result.status ?? 1);
