/**
 * The `peage` command line as a function (main.ts runs it for the `peage` binary): finds the command named by the first words of the command line, parses
 * its options and runs it. Exit status 0 on success, 1 when something does not verify or the
 * command fails, 2 for usage errors (see errors.ts); failures are one line on stderr.
 */
import { readFileSync } from "node:fs";
import { parseCommand, usageOf, Options, type CommandSpec } from "./args.js";
import type { Command, CommandGroup } from "./command.js";
import { admin } from "./commands/admin.js";
import { selfServiceAdmin } from "./commands/admin-webhooks.js";
import { cardAdmin } from "./commands/admin-cards.js";
import { publisher } from "./commands/publisher.js";
import { card } from "./commands/card.js";
import { catalog } from "./commands/catalog.js";
import { demo } from "./commands/demo.js";
import { fx } from "./commands/fx.js";
import { inspect_ } from "./commands/inspect.js";
import { ledger } from "./commands/ledger.js";
import { pcstore } from "./commands/pcstore.js";
import { pki } from "./commands/pki.js";
import { server } from "./commands/server.js";
import { settle } from "./commands/settle.js";
import { wallet } from "./commands/wallet.js";
import { EXIT_USAGE, UsageError, describeFailure } from "./errors.js";
import { printError } from "./output.js";

const adminGroup: CommandGroup = { ...admin, commands: [...admin.commands, ...selfServiceAdmin, ...cardAdmin] };
const groups: readonly CommandGroup[] = [
  pki,
  catalog,
  inspect_,
  server,
  wallet,
  adminGroup,
  publisher,
  card,
  pcstore,
  demo,
  ledger,
  fx,
  settle,
];

/** Every command's full name ("pki issue", "inspect"), as typed after `peage`. */
export function commandNames(): string[] {
  return commandSpecs().map((spec) => spec.name);
}

/** Every command's spec: its name, options and positional arguments. */
export function commandSpecs(): CommandSpec[] {
  return groups.flatMap((group) => group.commands.map((c) => c.spec));
}

/** Runs the command line `argv` (without node and script); resolves to the exit status. */
export async function runPeage(argv: readonly string[]): Promise<number> {
  let command: Command | undefined;
  try {
    const [first, ...rest] = argv;
    if (first === undefined) {
      process.stderr.write(overview());
      return EXIT_USAGE;
    }
    if (first === "help" || first === "--help" || first === "-h") return help(rest);
    if (first === "--version" || first === "version") {
      process.stdout.write(`${version()}\n`);
      return 0;
    }
    const found = findCommand(first, rest);
    if ("text" in found) {
      process.stdout.write(found.text);
      return 0;
    }
    command = found.command;
    const parsed = parseCommand(command.spec, found.args);
    if (parsed.help) {
      process.stdout.write(usageOf(command.spec));
      return 0;
    }
    await command.run(Options.of(command.spec, parsed));
    return 0;
  } catch (error) {
    const { exitCode, line } = describeFailure(error);
    // Usage errors raised by shared helpers (file loading) get the command's name like the others.
    printError(
      error instanceof UsageError && command && !line.startsWith("peage ") ? `peage ${command.spec.name}: ${line}` : line,
    );
    if (error instanceof UsageError) printError(`see: peage ${command ? `${command.spec.name} --help` : "help"}`);
    return exitCode;
  }
}

/** The command of a group ("pki issue") or a single-command group ("inspect"), with its arguments. */
function findCommand(first: string, rest: readonly string[]): { command: Command; args: readonly string[] } | { text: string } {
  const group = groups.find((g) => g.name === first);
  if (!group)
    throw new UsageError(
      `peage: unknown command ${JSON.stringify(first)}; the commands are ${groups.map((g) => g.name).join(", ")}`,
    );
  // A group may be a command itself ("server") and have subcommands ("server init"): a first
  // word naming a subcommand picks it, anything else goes to the group's own command.
  const own = group.commands.find((c) => c.spec.name === group.name);
  const [word, ...args] = rest;
  const sub = word === undefined ? undefined : group.commands.find((c) => c.spec.name === `${group.name} ${word}`);
  if (own && !sub) return { command: own, args: rest };
  if (word === "--help" || word === "-h" || word === "help") return { text: groupUsage(group) };
  if (word === undefined) throw new UsageError(`peage ${group.name}: a subcommand is required: ${subcommands(group).join(", ")}`);
  const command = sub;
  if (!command)
    throw new UsageError(
      `peage ${group.name}: unknown subcommand ${JSON.stringify(word)}; the subcommands are ${subcommands(group).join(", ")}`,
    );
  return { command, args };
}

/** `peage help [COMMAND...]`: the overview, a group's commands, or one command's usage. */
function help(words: readonly string[]): number {
  if (words.length === 0) {
    process.stdout.write(overview());
    return 0;
  }
  const found = findCommand(words[0]!, [...words.slice(1, 2), "--help"]);
  process.stdout.write("text" in found ? found.text : usageOf(found.command.spec));
  return 0;
}

function subcommands(group: CommandGroup): string[] {
  return group.commands.map((c) => c.spec.name.slice(group.name.length + 1));
}

function overview(): string {
  const rows = groups.flatMap((group) => group.commands.map((c) => [c.spec.name, c.spec.title] as const));
  const width = Math.max(...rows.map(([name]) => name.length));
  return [
    "usage: peage COMMAND [OPTIONS]",
    "",
    "Péage: pay-per-use for software. Commands:",
    ...rows.map(([name, summary]) => `  ${name.padEnd(width)}  ${summary}`),
    "",
    'Run "peage COMMAND --help" (or "peage help COMMAND") for its options.',
    "Exit status: 0 success, 1 a verification or command failure (code and reason on stderr), 2 a usage error.",
    "",
  ].join("\n");
}

function groupUsage(group: CommandGroup): string {
  const width = Math.max(...group.commands.map((c) => c.spec.name.length));
  return [
    `usage: peage ${group.name} SUBCOMMAND [OPTIONS]`,
    "",
    `${group.summary}:`,
    ...group.commands.map((c) => `  ${c.spec.name.padEnd(width)}  ${c.spec.synopsis}`),
    "",
    `Run "peage ${group.name} SUBCOMMAND --help" for details.`,
    "",
  ].join("\n");
}

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version?: string };
    return `peage ${pkg.version ?? "unknown"}`;
  } catch {
    return "peage (version unknown)";
  }
}
