/**
 * The packages as people install them: `npm pack` of every workspace, the tarballs installed into
 * an empty project outside the repository (from the local tarballs, the npm cache and the
 * registry: no workspace link, no dist/ of the checkout), then docs/quickstart-publisher.md run
 * exactly as written there — the files it shows written, its ten commands run in order — so the
 * ten-line program of the quick start is paid at launch by a server and a wallet started from the
 * packed CLI. Two substitutions only: `npm install NAME…` installs the tarballs of those names
 * (nothing is published), and port 8402 becomes a free port (other programs may hold 8402).
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));
const workspaces = ["protocol", "card", "pcstore", "merchant", "wallet", "server", "http", "cli"];
/** Installing builds better-sqlite3 from source (no prebuilt binary can be downloaded here): minutes. */
const INSTALL_TIMEOUT_MS = 15 * 60_000;
const STEP_TIMEOUT_MS = 120_000;

interface Quickstart {
  readonly files: ReadonlyMap<string, string>;
  readonly commands: readonly string[];
}

/** The files (```lang NAME blocks) and the commands (the ```sh block) of the quick start. */
export function readQuickstart(text: string): Quickstart {
  const files = new Map<string, string>();
  const commands: string[] = [];
  for (const [, info, body] of text.matchAll(/^```([^\n]*)\n([\s\S]*?)^```$/gm)) {
    const [lang, name] = info!.trim().split(/\s+/);
    if (name) files.set(name, body!);
    else if (lang === "sh") commands.push(...body!.split("\n").filter((line) => line.trim() !== ""));
  }
  return { files, commands };
}

/**
 * Native modules are built from source (no prebuilt binary can be downloaded here), against the
 * headers of the Node.js running this test — its own prefix when it ships them (a Node.js 24 run
 * of CI), so that the module loads in it rather than in the machine's default Node.js.
 */
function nativeBuildEnv(): NodeJS.ProcessEnv {
  const prefix = join(dirname(process.execPath), "..");
  const headers = existsSync(join(prefix, "include", "node", "node_version.h"));
  return { npm_config_build_from_source: "true", ...(headers && { npm_config_nodedir: prefix }) };
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once("error", reject);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

function run(
  command: string,
  cwd: string,
  env: NodeJS.ProcessEnv,
  timeout = STEP_TIMEOUT_MS,
): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync("bash", ["-c", command], { cwd, env, encoding: "utf8", timeout });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** Starts a background command (`… &`) and waits for its {"event":"listening"} line. */
function startBackground(command: string, cwd: string, env: NodeJS.ProcessEnv): Promise<ChildProcess> {
  const child = spawn("bash", ["-c", command], { cwd, env, stdio: ["ignore", "pipe", "pipe"], detached: true });
  let output = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line from ${command}:\n${output}`)), STEP_TIMEOUT_MS);
    const onData = (chunk: Buffer) => {
      output += chunk.toString("utf8");
      if (/"event":"listening"/.test(output)) {
        clearTimeout(timer);
        resolve(child);
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", (chunk: Buffer) => (output += chunk.toString("utf8")));
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${command} exited ${code}:\n${output}`));
    });
  });
}

describe("the packed packages, installed outside the repository", { timeout: INSTALL_TIMEOUT_MS + 10 * STEP_TIMEOUT_MS }, () => {
  let work: string;
  let tarballs: Map<string, string>;
  const background: ChildProcess[] = [];

  before(() => {
    work = mkdtempSync(join(tmpdir(), "peage-packed-"));
    const packed = join(work, "tarballs");
    const args = ["pack", "--pack-destination", packed, "--json", ...workspaces.flatMap((w) => ["-w", `packages/${w}`])];
    rmSync(packed, { recursive: true, force: true });
    spawnSync("mkdir", ["-p", packed]);
    const result = spawnSync("npm", args, { cwd: repo, encoding: "utf8", timeout: STEP_TIMEOUT_MS });
    assert.equal(result.status, 0, result.stderr);
    const listed = JSON.parse(result.stdout) as { name: string; filename: string; files: { path: string }[] }[];
    tarballs = new Map(listed.map((p) => [p.name, join(packed, p.filename)]));
    assert.deepEqual([...tarballs.keys()].sort(), workspaces.map((w) => `@peage/${w}`).sort());
    for (const p of listed) {
      // What the package needs at run time is in it, and nothing of the tests or the sources.
      assert.ok(
        p.files.some((f) => f.path === "dist/src/index.js"),
        `${p.name} has no dist/src/index.js`,
      );
      assert.ok(
        p.files.some((f) => f.path === "dist/src/index.d.ts"),
        `${p.name} has no types`,
      );
      assert.ok(
        !p.files.some((f) => f.path.startsWith("dist/test/") || f.path.startsWith("src/")),
        `${p.name} packs its tests or sources`,
      );
    }
    assert.ok(
      listed.find((p) => p.name === "@peage/server")!.files.some((f) => f.path === "schemas/iso20022/pain.008.001.02.xsd"),
    );
  });

  after(() => {
    for (const child of background) if (child.pid !== undefined && child.exitCode === null) process.kill(-child.pid, "SIGTERM");
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("runs the publisher's quick start exactly as written: the ten-line program is paid at launch", async () => {
    const { files, commands } = readQuickstart(readFileSync(join(repo, "docs", "quickstart-publisher.md"), "utf8"));
    assert.ok(commands.length <= 10, `the quick start has ${commands.length} commands, more than ten`);
    assert.ok(files.get("shop.mjs")!.trim().split("\n").length <= 10, "the merchant program is longer than ten lines");
    const project = join(work, "shop");
    spawnSync("mkdir", ["-p", project]);
    const port = String(await freePort());
    const local = (text: string) => text.replaceAll("8402", port);
    for (const [name, body] of files) writeFileSync(join(project, name), local(body));
    const env: NodeJS.ProcessEnv = { ...process.env, npm_config_audit: "false", npm_config_fund: "false" };
    for (const name of [
      "PEAGE_WALLET_FILE",
      "PEAGE_PASSPHRASE",
      "PEAGE_SERVER_URL",
      "PEAGE_API_KEY",
      "PEAGE_DATA",
      "DATABASE_URL",
    ])
      delete env[name];
    let last = { status: 0 as number | null, stdout: "", stderr: "" };
    for (const line of commands) {
      const install = /^npm install ((?:@peage\/[a-z]+ ?)+)$/.exec(line);
      if (install) {
        // A project of its own, so npm does not take a directory above it for the project root.
        writeFileSync(
          join(project, "package.json"),
          `${JSON.stringify({ name: "shop", private: true, type: "module", allowScripts: { "better-sqlite3": true } })}\n`,
        );
        const names = install[1]!.trim().split(" ");
        const needed = new Set(names.flatMap((name) => [name, ...peageDependencies(name)]));
        const paths = [...needed].map((name) => tarballs.get(name)!);
        // No prebuilt better-sqlite3 binary can be downloaded here: build it from source at once rather than after a timeout.
        last = run(
          `npm install --prefer-offline ${paths.join(" ")}`,
          project,
          { ...env, ...nativeBuildEnv() },
          INSTALL_TIMEOUT_MS,
        );
        assert.equal(last.status, 0, `${line}\n${last.stderr}`);
        continue;
      }
      const command = local(line);
      if (command.endsWith(" &")) background.push(await startBackground(command.slice(0, -2), project, env));
      else {
        last = run(command, project, env);
        assert.equal(last.status, 0, `${command}\n${last.stdout}\n${last.stderr}`);
      }
    }
    assert.match(last.stdout, /^paid pay_[A-Za-z0-9_-]+: welcome!$/m);

    // The payment is in the server's books, and the user was charged the offer's price.
    const admin = `npx peage admin user --server http://127.0.0.1:${port} --key-file operator.key --user urn:peage:user:alice --json`;
    const account = JSON.parse(run(admin, project, env).stdout) as { balance: { amount: number; currency: string } };
    assert.deepEqual(account.balance, { amount: 450, currency: "EUR" });

    // No native PC/SC build was installed; the card README's example shows the feature saying how to add it.
    assert.equal(existsSync(join(project, "node_modules", "@pokusew", "pcsclite")), false);
    runReadmeExamples(join(project, "readme"), env);

    // The types resolve for a TypeScript consumer through each package's exports.
    writeFileSync(join(project, "check.ts"), typesProbe());
    // Node's own typings come from the repository (a TypeScript consumer installs @types/node); everything else from the tarballs.
    const compilerOptions = {
      module: "NodeNext",
      moduleResolution: "NodeNext",
      target: "ES2022",
      strict: true,
      noEmit: true,
      types: ["node"],
      typeRoots: [join(repo, "node_modules", "@types")],
    };
    writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["check.ts"] }));
    const tsc = run(`node ${join(repo, "node_modules", "typescript", "bin", "tsc")} -p .`, project, env);
    assert.equal(tsc.status, 0, tsc.stdout + tsc.stderr);
  });

  /** The @peage packages a tarball depends on, transitively, read from the packed package.json files. */
  function peageDependencies(name: string, seen = new Set<string>()): string[] {
    const extracted = join(work, "extracted", name);
    if (!existsSync(extracted)) {
      spawnSync("mkdir", ["-p", extracted]);
      spawnSync("tar", ["-xzf", tarballs.get(name)!, "-C", extracted]);
    }
    const manifest = JSON.parse(readFileSync(join(extracted, "package", "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    for (const dep of Object.keys(manifest.dependencies ?? {}).filter((d) => d.startsWith("@peage/"))) {
      if (!seen.has(dep)) {
        seen.add(dep);
        peageDependencies(dep, seen);
      }
    }
    return [...seen];
  }
});

/** What each package README's example prints, run in this order (the wallet's uses the server's PKI). */
const readmeOutputs: readonly [string, RegExp][] = [
  ["protocol", /^verified: launch$/m],
  ["server", /^urn:peage:server:pay-eu listening on http:\/\/127\.0\.0\.1:\d+$/m],
  ["wallet", /^enrol urn:peage:user:alice with the key [A-Za-z0-9_-]{43}: \{/m],
  ["cli", /urn:peage:server:pay-eu/],
  ["card", /^no card: ERR_PCSC_UNAVAILABLE: .*npm install @pokusew\/pcsclite/m],
];

/** Runs the first ```js block of each package README, as a file of the installed project. */
function runReadmeExamples(dir: string, env: NodeJS.ProcessEnv): void {
  spawnSync("mkdir", ["-p", dir]);
  for (const [pkg, expected] of readmeOutputs) {
    const readme = readFileSync(join(repo, "packages", pkg, "README.md"), "utf8");
    assert.match(
      readme,
      new RegExp(`^# @peage/${pkg}\n\n\`\`\`sh\nnpm install @peage/${pkg}\n`),
      `the ${pkg} README does not open with its install line`,
    );
    const example = /^```js\n([\s\S]*?)^```$/m.exec(readme)?.[1];
    assert.ok(example, `the ${pkg} README has no js example`);
    writeFileSync(join(dir, `${pkg}.mjs`), example);
    const result = run(`node ${pkg}.mjs`, dir, env);
    assert.equal(result.status, 0, `${pkg} README example:\n${result.stdout}\n${result.stderr}`);
    assert.match(result.stdout, expected, `${pkg} README example printed:\n${result.stdout}`);
  }
}

/** A consumer that uses each package's typed API; tsc fails if an export or its types do not resolve. */
function typesProbe(): string {
  return [
    'import { Merchant, type Authorization } from "@peage/merchant";',
    'import { price, type Price } from "@peage/protocol";',
    'import { initWallet } from "@peage/wallet";',
    'import { buildConfig, startServer } from "@peage/server";',
    'import { PcscCardClient } from "@peage/card";',
    'import { runPeage, commandNames } from "@peage/cli";',
    'const p: Price = price(50, "EUR");',
    "const names: string[] = commandNames();",
    "export const used = [Merchant, p, initWallet, buildConfig, startServer, PcscCardClient, runPeage, names] as const;",
    "export type Paid = Authorization;",
    "",
  ].join("\n");
}
