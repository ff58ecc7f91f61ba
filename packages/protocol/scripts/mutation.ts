/**
 * Rule mutation: shows that the test vectors pin every verification rule of the protocol.
 *
 * A rule of the reference implementation is a place where verification fails with a code: each
 * `return fail(…)` (and each `… ? ok(…) : fail(…)`) in the compiled verifiers, and each
 * `throw malformed(…)` of the PEM and base64 reader (pem.ts). For each such site in
 * turn, a copy of the compiled package is made with that one failure dropped (the check still runs,
 * its verdict is ignored, as an implementation that forgot the rule would do), and every vector is
 * run against the copy. The rule is pinned when at least one vector changes outcome; a rule whose
 * removal leaves every vector passing is a hole in the vectors.
 *
 * The copies live in the package (`.mutants/`, ignored by git) so that they resolve the same
 * dependencies as the original; each is imported under its own URL, so one process runs them all.
 */
import { cp, mkdir, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { VectorFile } from "./vectors.js";

/** Source files whose failures are not verification rules of a message or chain: they issue certificates. */
const OUT_OF_SCOPE = new Set(["src/pki/demo.js", "src/pki/issue.js"]);

export interface RuleSite {
  /** Path of the compiled file inside dist/, e.g. `src/messages/offer.js`. */
  readonly file: string;
  /** 1-based line in the compiled file. */
  readonly line: number;
  /** The code the site fails with (the first argument of `fail`). */
  readonly code: string;
  /** The line of source, trimmed, to name the rule for people. */
  readonly text: string;
}

export interface MutantOutcome {
  readonly site: RuleSite;
  /** The first vector whose outcome changed, or undefined when none did (the rule is not pinned). */
  readonly caughtBy?: string;
  /** How it was caught: another outcome, or the verifier threw. */
  readonly how?: "outcome" | "exception";
}

const RETURN_FAIL = /\breturn fail\(/;
const TERNARY_FAIL = /: fail\(/;
/** The PEM reader's failures (pem.ts), thrown as ERR_MALFORMED. */
const THROW_MALFORMED = /\bthrow malformed\(/;
const isRuleSite = (line: string): boolean => RETURN_FAIL.test(line) || TERNARY_FAIL.test(line) || THROW_MALFORMED.test(line);

/** The mutation of one line: its failure turned into a no-op (or into success for a ternary). */
export function mutateLine(line: string): string {
  if (RETURN_FAIL.test(line)) return line.replace(RETURN_FAIL, "void fail(");
  if (TERNARY_FAIL.test(line)) return line.replace(TERNARY_FAIL, ": ok(null) ?? fail(");
  if (THROW_MALFORMED.test(line)) return line.replace(THROW_MALFORMED, "void malformed(");
  throw new Error(`not a rule site: ${line}`);
}

async function jsFiles(dir: string, base: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await jsFiles(path, base)));
    else if (entry.name.endsWith(".js")) out.push(relative(base, path));
  }
  return out.sort();
}

/** Every rule site of the compiled package at `dist`. */
export async function ruleSites(dist: string): Promise<RuleSite[]> {
  const sites: RuleSite[] = [];
  for (const file of await jsFiles(join(dist, "src"), dist)) {
    if (OUT_OF_SCOPE.has(file)) continue;
    const lines = (await readFile(join(dist, file), "utf8")).split("\n");
    lines.forEach((text, index) => {
      if (!isRuleSite(text)) return;
      // A site's code may sit on the next line when the call is wrapped.
      const around = `${text}\n${lines[index + 1] ?? ""}`;
      const code = THROW_MALFORMED.test(text) ? "ERR_MALFORMED" : (/fail\(\s*"([A-Z_]+)"/.exec(around)?.[1] ?? "(computed)");
      sites.push({ file, line: index + 1, code, text: text.trim() });
    });
  }
  return sites;
}

interface RunnerModule {
  runner(file: VectorFile): Promise<{ run(c: VectorFile["cases"][number]): Promise<{ ok: boolean; error?: { code: string } }> }>;
}

/** Runs the vectors against one mutant; returns the first case whose outcome changed. */
async function firstCatch(mutantDist: string, vectors: VectorFile): Promise<Pick<MutantOutcome, "caughtBy" | "how">> {
  const url = pathToFileURL(join(mutantDist, "scripts", "vectors.js")).href;
  const mod = (await import(url)) as RunnerModule;
  const run = await mod.runner(vectors);
  for (const item of vectors.cases) {
    let outcome: string;
    try {
      const result = await run.run(item);
      outcome = JSON.stringify(result.ok ? { valid: true } : { valid: false, code: result.error?.code });
    } catch {
      return { caughtBy: item.id, how: "exception" };
    }
    if (outcome !== JSON.stringify(item.expected)) return { caughtBy: item.id, how: "outcome" };
  }
  return {};
}

/**
 * Mutates each rule site of `dist` in turn and runs `vectors` against it. `work` is a scratch
 * folder inside the package (so that dependencies resolve); it is emptied first and removed after.
 */
export async function runMutation(
  dist: string,
  vectors: VectorFile,
  work: string,
  only: (site: RuleSite) => boolean = () => true,
): Promise<MutantOutcome[]> {
  const sites = (await ruleSites(dist)).filter(only);
  await rm(work, { recursive: true, force: true });
  const outcomes: MutantOutcome[] = [];
  try {
    for (const [index, site] of sites.entries()) {
      const mutant = join(work, String(index), "dist");
      await mkdir(mutant, { recursive: true });
      await cp(join(dist, "src"), join(mutant, "src"), { recursive: true });
      await cp(join(dist, "scripts"), join(mutant, "scripts"), { recursive: true });
      const path = join(mutant, site.file);
      const lines = (await readFile(path, "utf8")).split("\n");
      lines[site.line - 1] = mutateLine(lines[site.line - 1]!);
      await writeFile(path, lines.join("\n"));
      outcomes.push({ site, ...(await firstCatch(mutant, vectors)) });
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return outcomes;
}

/**
 * `node dist/scripts/mutation.js [text…]`: prints every rule (or those whose file contains one of the
 * texts) and the vector that pins it; exits 1 on a hole.
 */
async function main(): Promise<void> {
  const dist = fileURLToPath(new URL("..", import.meta.url));
  const vectors = JSON.parse(await readFile(join(dist, "..", "test-vectors", "vectors.json"), "utf8")) as VectorFile;
  const filters = process.argv.slice(2);
  const only = (site: RuleSite) => filters.length === 0 || filters.some((text) => site.file.includes(text));
  const outcomes = await runMutation(dist, vectors, join(dist, "..", ".mutants"), only);
  const holes = outcomes.filter((o) => o.caughtBy === undefined);
  for (const o of outcomes) {
    const where = `${o.site.file}:${o.site.line}`;
    console.log(`${o.caughtBy ? "pinned" : "HOLE  "} ${o.site.code.padEnd(26)} ${where.padEnd(36)} ${o.caughtBy ?? o.site.text}`);
  }
  console.log(`${outcomes.length} rules, ${outcomes.length - holes.length} pinned by a vector, ${holes.length} not`);
  if (holes.length > 0) process.exitCode = 1;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) await main();
