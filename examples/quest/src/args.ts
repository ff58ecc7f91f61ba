/** A small command-line flag reader: --name value, --flag, nothing else. */

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export interface FlagSpec {
  readonly values: readonly string[];
  readonly switches: readonly string[];
}

export interface ParsedFlags {
  readonly values: ReadonlyMap<string, string>;
  readonly switches: ReadonlySet<string>;
}

/** Parses `argv` against the known flags; any other word is a usage error. */
export function parseFlags(argv: readonly string[], spec: FlagSpec): ParsedFlags {
  const values = new Map<string, string>();
  const switches = new Set<string>();
  for (let i = 0; i < argv.length; i++) {
    const word = argv[i]!;
    const name = word.startsWith("--") ? word.slice(2) : undefined;
    if (name !== undefined && spec.switches.includes(name)) {
      switches.add(name);
    } else if (name !== undefined && spec.values.includes(name)) {
      const value = argv[++i];
      if (value === undefined || value.startsWith("--")) throw new UsageError(`--${name} needs a value`);
      values.set(name, value);
    } else {
      throw new UsageError(`unknown argument ${JSON.stringify(word)}`);
    }
  }
  return { values, switches };
}

/** A flag's value as a whole number within [min, max]. */
export function integerFlag(flags: ParsedFlags, name: string, fallback: number, min: number, max: number): number {
  const text = flags.values.get(name);
  if (text === undefined) return fallback;
  const value = Number(text);
  if (!/^\d+$/.test(text) || value < min || value > max)
    throw new UsageError(`--${name} must be a whole number from ${min} to ${max}`);
  return value;
}
