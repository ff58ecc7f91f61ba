/**
 * How the demo's wallet asks the user. Interactively, it is the wallet's own terminal prompt (on
 * stderr, so that --json keeps stdout to the JSON document); the program's output waits while a
 * question is on screen. With --yes, a scripted user says yes to everything except the first
 * renewal of play time, which it declines, so a run is deterministic: the program pauses, then
 * pays again to go on. A question the program stops waiting for (the game ending while a renewal
 * is being asked) is withdrawn: the wallet pays nothing and records no decision of the user's.
 */
import { emitKeypressEvents } from "node:readline";
import { ConsentWindow, TerminalPrompt, type ConsentPrompt, type OfferView } from "@peage/wallet";

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

/**
 * How long the scripted user takes to answer, as a person reading the offer would. A program that
 * stops waiting in that time (the game ending while a renewal of play time is being asked) gets
 * its question withdrawn, and nothing is paid for play that will not happen.
 */
export const READING_MS = 200;

export class ScriptedUser implements ConsentPrompt {
  readonly answers: Answer[] = [];
  #periods = 0;

  async ask(view: OfferView, signal?: AbortSignal): Promise<boolean> {
    await new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, READING_MS);
      signal?.addEventListener("abort", done, { once: true });
    });
    // Not an answer: the wallet reports it to the program as not paid, and records no decision.
    if (signal?.aborted) throw new Error("the program stopped waiting before the user answered");
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
      // The program stopped waiting (it ended while a renewal was being asked): the question is
      // withdrawn, which is no decision of the user's, so nothing is recorded as declined.
      if (!yes && signal?.aborted) throw new Error("the program stopped waiting before the user answered");
      this.answers.push({ offerId: view.offerId, yes, by: "user" });
      return yes;
    } finally {
      input.off("keypress", onKey);
      this.narrator.release();
    }
  }
}

/**
 * The user answering in the wallet's consent window, in the browser the platform opens (the link
 * is printed too). The program's output goes on while the window waits.
 */
export class BrowserUser implements ConsentPrompt {
  readonly answers: Answer[] = [];
  readonly window: ConsentWindow;

  constructor(open: (url: string) => void, narrator: Narrator) {
    this.window = new ConsentWindow({
      open,
      announce: (url) => narrator.line(`  wallet     a payment waits for your answer in your browser: ${url}`),
    });
  }

  async ask(view: OfferView, signal?: AbortSignal): Promise<boolean> {
    const yes = await this.window.ask(view, signal);
    if (!yes && signal?.aborted) throw new Error("the program stopped waiting before the user answered");
    this.answers.push({ offerId: view.offerId, yes, by: "user" });
    return yes;
  }
}
