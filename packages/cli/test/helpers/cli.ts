/**
 * Runs the compiled `peage` command as a child process, the way users and scripts run it, and
 * checks the three ways it ends: success (0), a verification or command failure (1, one line
 * "invalid: CODE: …" or "error: CODE: …" on stderr) and a usage error (2).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";

/** dist/test/helpers/cli.js → dist/src/main.js */
export const cliPath = fileURLToPath(new URL("../../src/main.js", import.meta.url));

export interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A run that takes longer than this is stuck: it is killed and the test fails. */
const TIMEOUT_MS = 60_000;

/**
 * At most this many runs at once: tests start several with Promise.all to save time, and each is
 * a whole Node process, so the rest wait their turn rather than crowd the machine.
 */
const MAX_CONCURRENT_RUNS = 3;
let running = 0;
const waiting: (() => void)[] = [];

async function slot<T>(task: () => Promise<T>): Promise<T> {
  // A finishing run hands its slot straight to the next waiting one, so the count never overshoots.
  if (running >= MAX_CONCURRENT_RUNS) await new Promise<void>((resolve) => waiting.push(resolve));
  else running++;
  try {
    return await task();
  } finally {
    const next = waiting.shift();
    if (next) next();
    else running--;
  }
}

/** Runs `peage ...args` in `cwd`, with `input` on its standard input. */
export function peage(args: readonly string[], cwd: string, input?: string): Promise<Run> {
  return slot(() => run(args, cwd, input));
}

function run(args: readonly string[], cwd: string, input?: string): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, stdio: ["pipe", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.on("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
    });
    child.stdin.end(input ?? "");
  });
}

function show(run: Run): string {
  return `exit ${run.code}\n--- stdout\n${run.stdout}--- stderr\n${run.stderr}`;
}

function assertNoStack(run: Run): void {
  assert.doesNotMatch(run.stderr, /^\s+at .+[(:]\d+/m, `a stack trace was printed:\n${show(run)}`);
}

export function assertSuccess(run: Run): Run {
  assert.equal(run.code, 0, show(run));
  assertNoStack(run);
  return run;
}

/** Exit 1 with "invalid: CODE: reason" on stderr: a verification failure. */
export function assertInvalid(run: Run, code: string): Run {
  assert.equal(run.code, 1, show(run));
  assert.match(run.stderr, new RegExp(`^invalid: ${code}: \\S`, "m"), show(run));
  assertNoStack(run);
  return run;
}

/** Exit 1 with "error: CODE: reason" on stderr: the command could not be done. */
export function assertError(run: Run, code: string): Run {
  assert.equal(run.code, 1, show(run));
  assert.match(run.stderr, new RegExp(`^error: ${code}: \\S`, "m"), show(run));
  assertNoStack(run);
  return run;
}

/** Exit 2, a message naming the problem, and a pointer to --help. */
export function assertUsage(run: Run, pattern: RegExp): Run {
  assert.equal(run.code, 2, show(run));
  assert.match(run.stderr, pattern, show(run));
  assert.match(run.stderr, /^see: peage .*help/m, show(run));
  assert.equal(run.stdout, "", "nothing on stdout for a usage error");
  assertNoStack(run);
  return run;
}

export function parseJson(run: Run): Record<string, unknown> {
  try {
    return JSON.parse(run.stdout) as Record<string, unknown>;
  } catch {
    assert.fail(`stdout is not one JSON document:\n${show(run)}`);
  }
}

const created: string[] = [];
// Each test file runs in its own process: its directories go when it exits, pass or fail.
process.on("exit", () => {
  for (const dir of created) rmSync(dir, { recursive: true, force: true });
});

/** A fresh temporary directory, removed when the test process exits. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), "peage-cli-"));
  created.push(dir);
  return dir;
}

export interface OpensslResult {
  readonly status: number | null;
  readonly output: string;
}

export function openssl(args: readonly string[], cwd: string): OpensslResult {
  const result = spawnSync("openssl", args, { cwd, encoding: "utf8" });
  if (result.error) throw result.error;
  return { status: result.status, output: `${result.stdout}${result.stderr}` };
}

export interface Service {
  /** The {"event":"listening",…} line the service printed. */
  readonly listening: Record<string, unknown>;
  /** Sends `signal` and resolves with the whole run once the process has exited. */
  stop(signal?: NodeJS.Signals): Promise<Run>;
}

const services = new Set<ChildProcess>();
process.on("exit", () => {
  for (const child of services) child.kill("SIGKILL");
});

/** Starts a long-running `peage` command and resolves once it prints its "listening" JSON line. */
export function startService(args: readonly string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Service> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cliPath, ...args], { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    services.add(child);
    let stdout = "";
    let stderr = "";
    let started = false;
    const exited = new Promise<Run>((done) =>
      child.on("close", (code) => {
        services.delete(child);
        clearTimeout(timer);
        done({ code, stdout, stderr });
        if (!started) reject(new Error(`peage ${args.join(" ")} exited before listening:\n${show({ code, stdout, stderr })}`));
      }),
    );
    const timer = setTimeout(() => child.kill("SIGKILL"), TIMEOUT_MS);
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString("utf8")));
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString("utf8");
      if (started) return;
      for (const line of stdout.split("\n").slice(0, -1)) {
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          continue;
        }
        if ((value as { event?: unknown }).event !== "listening") continue;
        started = true;
        resolve({
          listening: value as Record<string, unknown>,
          stop: (signal = "SIGTERM") => {
            child.kill(signal);
            return exited;
          },
        });
        return;
      }
    });
  });
}

/** Starts `peage server …args` in `cwd` and resolves with its URL once it prints its "listening" line. */
export async function startServerCommand(args: readonly string[], cwd: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(process.execPath, [cliPath, "server", ...args], { cwd, stdio: ["ignore", "pipe", "pipe"] });
  const url = await new Promise<string>((resolve, reject) => {
    let out = "";
    child.stdout!.on("data", (chunk: Buffer) => {
      out += chunk.toString("utf8");
      const line = /\{"event":"listening".*\}/.exec(out);
      if (line) resolve((JSON.parse(line[0]) as { url: string }).url);
    });
    child.once("exit", (code) => reject(new Error(`the server exited ${code}`)));
  });
  return { child, url };
}
