/**
 * How the demo's wallet asks the user. Interactively, it is the wallet's own terminal prompt (on
 * stderr, so that --json keeps stdout to the JSON document); the program's output waits while a
 * question is on screen. With --yes, a scripted user says yes to everything except the first
 * renewal of play time, which it declines, so a run is deterministic: the program pauses, then
 * pays again to go on.
 */
import { emitKeypressEvents } from "node:readline";
import { TerminalPrompt, type ConsentPrompt, type OfferView } from "@peage/wallet";

/** Output that can be held while the user is being asked, then shown in order. */
export class Narrator {
  #held = 0;
  readonly #queue: string[] = [];
  constructor(private readonly write: ((line: string) => void) | undefined) {}

  line(text: string): void {
    if (!this.write) return;
    if (this.#held > 0) this.#queue.push(text);
    else this.write(text);
  }

  hold(): void {
    this.#held++;
  }

  release(): void {
    this.#held = Math.max(0, this.#held - 1);
    if (this.#held > 0 || !this.write) return;
    for (const text of this.#queue.splice(0)) this.write(text);
  }
}

export interface Answer {
  readonly offerId: string;
  readonly yes: boolean;
  /** "--yes": the demo answered on the user's behalf. */
  readonly by: "user" | "--yes";
}

/** Which period offer (1 = the first, paid at start) the scripted user declines: the first renewal. */
export const DECLINED_PERIOD = 2;

export class ScriptedUser implements ConsentPrompt {
  readonly answers: Answer[] = [];
  #periods = 0;

  async ask(view: OfferView): Promise<boolean> {
    const yes = !(view.grant.kind === "period" && ++this.#periods === DECLINED_PERIOD);
    this.answers.push({ offerId: view.offerId, yes, by: "--yes" });
    return yes;
  }
}

export class TerminalUser implements ConsentPrompt {
  readonly answers: Answer[] = [];
  readonly #terminal: TerminalPrompt;

  constructor(
    private readonly narrator: Narrator,
    /** Ctrl-C at the question: the terminal is in raw mode then, so it arrives as a key, not a signal. */
    private readonly onInterrupt: () => void,
  ) {
    this.#terminal = new TerminalPrompt({ output: process.stderr, timeoutMs: 120_000 });
  }

  async ask(view: OfferView, signal?: AbortSignal): Promise<boolean> {
    this.narrator.hold();
    const input = process.stdin;
    const onKey = (_text: string | undefined, key: { ctrl?: boolean; name?: string } | undefined) => {
      if (key?.ctrl && key.name === "c") this.onInterrupt();
    };
    if (input.isTTY) {
      emitKeypressEvents(input);
      input.on("keypress", onKey);
    }
    try {
      const yes = await this.#terminal.ask(view, signal);
      this.answers.push({ offerId: view.offerId, yes, by: "user" });
      return yes;
    } finally {
      input.off("keypress", onKey);
      this.narrator.release();
    }
  }
}
