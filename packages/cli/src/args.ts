/**
 * Command-line parsing on node:util parseArgs, and the checks every command shares: required
 * options, integers in a range, one-of choices, mutually exclusive options. Anything wrong is a
 * UsageError naming the option and what it expects.
 */
import { parseArgs } from "node:util";
import { UsageError } from "./errors.js";

export interface OptionSpec {
  readonly type: "string" | "boolean";
  readonly multiple?: boolean;
  /** The value's placeholder in the help text, e.g. "FILE". */
  readonly value?: string;
  readonly description: string;
}

export interface CommandSpec {
  /** The words that select the command, e.g. "pki issue". */
  readonly name: string;
  /** One line for the command overview. */
  readonly title: string;
  /** The paragraph of its --help. */
  readonly summary: string;
  /** The synopsis after the command name, e.g. "--dir DIR [--alg ES256|EdDSA] [--json]". */
  readonly synopsis: string;
  readonly options: Readonly<Record<string, OptionSpec>>;
  /** Names of the positional arguments, in order; none if absent. */
  readonly positionals?: readonly string[];
  /** Paragraphs printed after the options. */
  readonly notes?: readonly string[];
}

export type Values = Readonly<Record<string, string | boolean | readonly (string | boolean)[] | undefined>>;

export interface ParsedArgs {
  readonly values: Values;
  readonly positionals: readonly string[];
  readonly help: boolean;
}

/** Every command takes --help. */
const helpOption: OptionSpec = { type: "boolean", description: "print this help and exit" };

/** Parses `argv` against the command's options; unknown options and missing values are usage errors. */
export function parseCommand(spec: CommandSpec, argv: readonly string[]): ParsedArgs {
  const options: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const [name, option] of Object.entries({ ...spec.options, help: helpOption })) {
    options[name] = { type: option.type, ...(option.multiple && { multiple: true }) };
  }
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({ args: [...argv], options, allowPositionals: true, strict: true });
  } catch (cause) {
    throw new UsageError(`peage ${spec.name}: ${describeParseError(cause, spec)}`);
  }
  const values = parsed.values as Values;
  if (values["help"] === true) return { values, positionals: parsed.positionals, help: true };
  const expected = spec.positionals ?? [];
  if (parsed.positionals.length > expected.length) {
    const extra = parsed.positionals[expected.length];
    throw new UsageError(`peage ${spec.name}: unexpected argument ${JSON.stringify(extra)}`);
  }
  return { values, positionals: parsed.positionals, help: false };
}

/** parseArgs's messages suggest `--` tricks; ours say which option is wrong and how to use it. */
function describeParseError(cause: unknown, spec: CommandSpec): string {
  const error = cause as { code?: string; message?: string };
  const option = /'(-{1,2}[^' ]+)/.exec(error.message ?? "")?.[1];
  switch (error.code) {
    case "ERR_PARSE_ARGS_UNKNOWN_OPTION":
      return `unknown option ${option ?? ""}`.trim();
    case "ERR_PARSE_ARGS_INVALID_OPTION_VALUE": {
      const name = option?.replace(/^-+/, "").replace(/\s.*$/, "");
      const known = name ? spec.options[name] : undefined;
      if (known?.type === "boolean") return `option --${name} takes no value`;
      // parseArgs will not take "-x" as a value, in case an option was meant; --name=-x says it is one.
      if (known && /ambiguous/.test(error.message ?? ""))
        return `option --${name} needs a value: --${name} ${known.value ?? "VALUE"} (write a value starting with "-" as --${name}=-VALUE)`;
      if (known) return `option --${name} needs a value: --${name} ${known.value ?? "VALUE"}`;
      return error.message ?? "invalid option value";
    }
    default:
      return error.message ?? "invalid arguments";
  }
}

/** The help text of a command: synopsis, options, notes. */
export function usageOf(spec: CommandSpec): string {
  const lines = [`usage: peage ${spec.name} ${spec.synopsis}`.trimEnd(), "", ...wrap(spec.summary), ""];
  const entries = Object.entries(spec.options).map(([name, option]) => {
    const left = `--${name}${option.type === "string" ? ` ${option.value ?? "VALUE"}` : ""}`;
    return [left, option.description + (option.multiple ? " (may be repeated)" : "")] as const;
  });
  entries.push(["--help", helpOption.description]);
  const width = Math.max(...entries.map(([left]) => left.length));
  lines.push("options:");
  for (const [left, description] of entries) lines.push(`  ${left.padEnd(width)}  ${description}`);
  for (const note of spec.notes ?? []) lines.push("", ...wrap(note));
  return `${lines.join("\n")}\n`;
}

/** Splits a paragraph into lines of at most `width` characters, at spaces. */
function wrap(text: string, width = 100): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/)) {
    if (line && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else {
      line = line ? `${line} ${word}` : word;
    }
  }
  if (line) lines.push(line);
  return lines;
}

/** Typed access to the parsed values of one command, with the usage checks commands share. */
export class Options {
  constructor(
    private readonly command: string,
    readonly values: Values,
    readonly positionals: readonly string[],
  ) {}

  static of(spec: CommandSpec, parsed: ParsedArgs): Options {
    return new Options(spec.name, parsed.values, parsed.positionals);
  }

  usage(message: string): UsageError {
    return new UsageError(`peage ${this.command}: ${message}`);
  }

  string(name: string): string | undefined {
    const value = this.values[name];
    if (value === undefined) return undefined;
    if (typeof value !== "string") throw this.usage(`--${name} takes one value`);
    if (value.length === 0) throw this.usage(`--${name} needs a non-empty value`);
    return value;
  }

  required(name: string, placeholder = "VALUE"): string {
    const value = this.string(name);
    if (value === undefined) throw this.usage(`--${name} ${placeholder} is required`);
    return value;
  }

  strings(name: string): string[] {
    const value = this.values[name];
    if (value === undefined) return [];
    const list = Array.isArray(value) ? value : [value];
    return list.map((item) => {
      if (typeof item !== "string" || item.length === 0) throw this.usage(`--${name} needs a non-empty value`);
      return item;
    });
  }

  flag(name: string): boolean {
    return this.values[name] === true;
  }

  /** A positional argument, required. */
  positional(index: number, placeholder: string): string {
    const value = this.positionals[index];
    if (value === undefined || value.length === 0) throw this.usage(`${placeholder} is required`);
    return value;
  }

  /** A decimal integer in [min, max]; `fallback` when absent. */
  integer(name: string, min: number, max: number, fallback: number): number;
  integer(name: string, min: number, max: number): number | undefined;
  integer(name: string, min: number, max: number, fallback?: number): number | undefined {
    const text = this.string(name);
    if (text === undefined) return fallback;
    if (!/^\d{1,15}$/.test(text))
      throw this.usage(`--${name} must be a whole number from ${min} to ${max}, not ${JSON.stringify(text)}`);
    const value = Number(text);
    if (value < min || value > max) throw this.usage(`--${name} must be from ${min} to ${max}, not ${value}`);
    return value;
  }

  /** One of a fixed list of words. */
  choice<T extends string>(name: string, choices: readonly T[], fallback: T): T;
  choice<T extends string>(name: string, choices: readonly T[]): T | undefined;
  choice<T extends string>(name: string, choices: readonly T[], fallback?: T): T | undefined {
    const text = this.string(name);
    if (text === undefined) return fallback;
    if (!(choices as readonly string[]).includes(text))
      throw this.usage(`--${name} must be one of ${choices.join(", ")}, not ${JSON.stringify(text)}`);
    return text as T;
  }

  /** Exactly one of the options must be given (e.g. --csr or --new-key). */
  exactlyOne(...names: string[]): string {
    const given = names.filter((name) => this.values[name] !== undefined);
    if (given.length !== 1) {
      const list = names.map((name) => `--${name}`).join(" or ");
      throw this.usage(given.length === 0 ? `one of ${list} is required` : `give only one of ${list}`);
    }
    return given[0]!;
  }

  /** `name` may only be used together with `other`. */
  onlyWith(name: string, other: string): void {
    if (this.values[name] !== undefined && this.values[other] === undefined)
      throw this.usage(`--${name} is only meaningful with --${other}`);
  }

  /** `name` cannot be used together with `other`. */
  notWith(name: string, other: string): void {
    if (this.values[name] !== undefined && this.values[other] !== undefined)
      throw this.usage(`--${name} cannot be used with --${other}`);
  }
}
