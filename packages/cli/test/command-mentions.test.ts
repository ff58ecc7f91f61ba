/**
 * Every `peage …` command named anywhere in the sources, the docs and the READMEs (error messages,
 * hints, help texts, examples) is one the CLI has: a message that sends people to a command that
 * does not exist is a dead end.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { commandSpecs } from "../src/cli.js";

const repo = fileURLToPath(new URL("../../../../", import.meta.url));

/** Words that `peage` itself answers besides its commands. */
const builtins = new Set(["help", "version"]);

/**
 * The command mentions of a text: "peage WORD [WORD]" where it starts a command line or a code span
 * (`peage server init`, npx peage demo, "see: peage settle"), with their line number. Quoted strings
 * are not taken for commands: the sources use "peage …" for labels too (key derivation, API key names).
 */
export function mentions(text: string): { line: number; words: [string, string | undefined] }[] {
  const found: { line: number; words: [string, string | undefined] }[] = [];
  for (const match of text.matchAll(/(?:^|[`(]|\$ |npx |: )peage ([a-z][a-z0-9-]*)(?: ([a-z][a-z0-9-]*)(?![./\w]))?/gm)) {
    found.push({ line: text.slice(0, match.index).split("\n").length, words: [match[1]!, match[2]] });
  }
  return found;
}

/** Why a mention names no command, or undefined when it names one. */
export function unknownCommand([first, second]: [string, string | undefined]): string | undefined {
  const specs = commandSpecs();
  if (builtins.has(first)) return undefined;
  if (second !== undefined && specs.some((s) => s.name === `${first} ${second}`)) return undefined;
  const own = specs.find((s) => s.name === first);
  const group = specs.filter((s) => s.name.startsWith(`${first} `));
  if (!own && group.length === 0) return `there is no command ${first}`;
  if (second === undefined) return undefined;
  // A bare word after a command is a subcommand unless the command takes positional arguments.
  if (own && (own.positionals?.length ?? 0) > 0) return undefined;
  if (own && group.length === 0) return `${first} has no subcommand ${second} (and takes no argument)`;
  return `${first} has no subcommand ${second}; it has ${group.map((s) => s.name.slice(first.length + 1)).join(", ")}`;
}

function walk(dir: string, out: string[]): string[] {
  for (const name of readdirSync(dir)) {
    // Tests feed the CLI wrong command lines on purpose; what people read is in the sources and docs.
    if (name === "node_modules" || name === "dist" || name === "test" || name.startsWith(".")) continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) walk(path, out);
    else if (/\.(ts|md|sh|mjs|js)$/.test(name)) out.push(path);
  }
  return out;
}

describe("command names in messages and docs", () => {
  it("recognises real commands and catches made-up ones", () => {
    assert.deepEqual(
      mentions("run `peage server init --data D`, then peage settle").map((m) => m.words),
      [["server", "init"]],
    );
    assert.equal(unknownCommand(["server", "init"]), undefined);
    assert.equal(unknownCommand(["server", undefined]), undefined);
    assert.equal(unknownCommand(["inspect", "offer"]), undefined);
    assert.equal(unknownCommand(["admin", "topup"]), undefined);
    assert.match(unknownCommand(["setup", undefined])!, /no command setup/);
    assert.match(unknownCommand(["admin", "frobnicate"])!, /no subcommand frobnicate/);
    assert.match(unknownCommand(["settle", "now"])!, /no subcommand now/);
  });

  it("every `peage …` mentioned in the repository names an existing command", () => {
    const roots = ["packages", "examples", "docs", "scripts"].map((d) => join(repo, d));
    const files = [join(repo, "README.md"), ...roots.flatMap((root) => walk(root, []))];
    const problems: string[] = [];
    let checked = 0;
    for (const file of files) {
      if (file.endsWith("command-mentions.test.ts")) continue;
      for (const { line, words } of mentions(readFileSync(file, "utf8"))) {
        checked++;
        const problem = unknownCommand(words);
        if (problem) problems.push(`${relative(repo, file)}:${line}: peage ${words.filter(Boolean).join(" ")}: ${problem}`);
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(checked > 50, `only ${checked} mentions found: the scan is not reading the sources`);
  });
});
