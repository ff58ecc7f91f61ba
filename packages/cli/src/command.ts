/** The shape of a command: its spec (options and help text) and what it does. */
import type { CommandSpec, Options } from "./args.js";

export interface Command {
  readonly spec: CommandSpec;
  /** Runs the command; throws UsageError, CommandError or InvalidError on failure (see errors.ts). */
  run(options: Options): Promise<void>;
}

/** A group of commands under one word ("pki", "catalog"), with a line for the overview. */
export interface CommandGroup {
  readonly name: string;
  readonly summary: string;
  readonly commands: readonly Command[];
}
