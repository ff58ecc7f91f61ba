import { PeageError } from "@peage/protocol";

/** What the demo started, stopped in the reverse order at the end, on failure and on Ctrl-C. */
export class Cleanup {
  readonly #steps: { readonly what: string; readonly run: () => Promise<void> | void }[] = [];
  #closing: Promise<string[]> | undefined;

  /** Registers how to undo something just started. */
  defer(what: string, run: () => Promise<void> | void): void {
    this.#steps.push({ what, run });
  }

  /** Runs every registered step, newest first, once; returns what could not be done (never throws). */
  close(): Promise<string[]> {
    this.#closing ??= (async () => {
      const failures: string[] = [];
      for (const step of this.#steps.reverse()) {
        try {
          await step.run();
        } catch (error) {
          failures.push(`${step.what}: ${error instanceof Error ? error.message : String(error)}`);
        }
      }
      return failures;
    })();
    return this.#closing;
  }
}

/** Thrown by a step of the demo that notices it was asked to stop. */
export class Interrupted extends PeageError<"ERR_INTERRUPTED"> {
  override readonly name = "Interrupted";
  constructor(message: string) {
    super("ERR_INTERRUPTED", message);
  }
}

/** Throws Interrupted once `signal` is aborted: called between the demo's steps. */
export function checkpoint(signal: AbortSignal): void {
  if (signal.aborted) throw new Interrupted("interrupted");
}
