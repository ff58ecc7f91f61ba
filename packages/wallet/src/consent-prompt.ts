/**
 * How the wallet asks the user. The wallet decides WHEN to ask (rules.ts); a ConsentPrompt only
 * shows an already verified offer and returns the answer. Three implementations: the terminal
 * (node:readline on the TTY), auto-yes (`--yes`, for demonstrations), and a scripted one for tests.
 * When the user pays with a smart card, the PIN the card verifies is the proof of consent (patent
 * claims 3-4): the prompt asks for it too (askPin), after the yes.
 */
import { createInterface } from "node:readline";
import { Writable } from "node:stream";
import { formatPrice, type Grant, type Price } from "@peage/protocol";
import { WalletError } from "./errors.js";
import type { MandateView } from "./mandates/request.js";

/** What the user is shown: the signed description exactly, and the facts needed to decide. */
export interface OfferView {
  readonly offerId: string;
  /** The description exactly as the publisher signed it. */
  readonly description: string;
  /** The signed price, formatted with formatPrice ("0.50 EUR"). */
  readonly price: string;
  /** The price in the user's home currency, when it differs and a rate is known. */
  readonly converted?: string;
  /** The offer's date (message 1), RFC 3339. */
  readonly date: string;
  readonly publisher: string;
  readonly grant: Grant;
  /** Why the rules did not let it pass without asking. */
  readonly reason: string;
  /** The same facts as values, for a page that formats them in the user's locale. */
  readonly facts: OfferFacts;
}

/** The offer's figures and parties unformatted (integer minor units), for the consent window. */
export interface OfferFacts {
  /** The price; with `upto`, the most that may be charged (the amount used is settled later). */
  readonly price: Price;
  readonly upto?: true;
  /** A metered session: the price of each use, paid as it happens up to `price`. */
  readonly tick?: Price;
  /** The price in the home currency at the server's reference rates, with that rate and its date. */
  readonly converted?: { readonly price: Price; readonly rate: string; readonly ratesDate: string };
  /** The publisher's name from its certificate (subject CN or O), when it has one. */
  readonly publisherName?: string;
  /** No payment to this publisher before: shown, since a new payee deserves a closer look. */
  readonly firstPayment: boolean;
  /** The user has chosen no auto-accept rule (so every payment is asked); else `reason` names the rule. */
  readonly noRuleChosen?: boolean;
  /** What pays: the account at the payment server, or the smart card. */
  readonly payWith: "server" | "card";
  /** The payment server's URL (payWith "server"). */
  readonly server: string;
}

/** Asking for the card's PIN, once the user said yes to an offer the card is to pay. */
export interface PinRequest {
  readonly view: OfferView;
  /** The card's identity (urn:peage:card:*). */
  readonly card: string;
  /** PIN tries left before the card blocks for good. */
  readonly triesLeft: number;
  /** True when the previous PIN was wrong. */
  readonly retry: boolean;
  /** A PIN the wallet's configuration gives, for demonstrations: automatic prompts type it. */
  readonly configured?: string;
}

export interface ConsentPrompt {
  /** Resolves true for yes, false for no; `signal` aborts when the program stopped waiting. */
  ask(view: OfferView, signal?: AbortSignal): Promise<boolean>;
  /**
   * The card's PIN, or undefined when the user gives none (nothing is paid). A prompt without
   * it cannot pay with a card: the wallet then pays online.
   */
  askPin?(request: PinRequest, signal?: AbortSignal): Promise<string | undefined>;
  /**
   * A spending mandate for a program (mandates/grant.ts): true for yes. A prompt without it
   * cannot grant mandates: the program gets ERR_CONSENT_UNAVAILABLE.
   */
  askMandate?(view: MandateView, signal?: AbortSignal): Promise<boolean>;
}

/**
 * The prompt of a wallet that can ask nobody (no browser, no terminal): every question fails with
 * a distinct, retryable error, so the program knows the user was not asked, not that they said no.
 */
export class NobodyPrompt implements ConsentPrompt {
  async ask(): Promise<boolean> {
    throw new WalletError(
      "ERR_CONSENT_UNAVAILABLE",
      "the wallet can ask nobody: it has neither a browser nor a terminal; start it where it can show the offer, then try again",
      503,
      true,
    );
  }
}

/** The environment variable automatic prompts read a card PIN from (demonstrations). */
export const CARD_PIN_ENV = "PEAGE_CARD_PIN";

/** A grant in words. */
export function describeGrant(grant: Grant): string {
  switch (grant.kind) {
    case "launch":
      return "one launch of the program";
    case "period":
      return grant.seconds % 60 === 0 ? `${grant.seconds / 60} minute(s) of use` : `${grant.seconds} second(s) of use`;
    case "event":
      return `the event "${grant.event}"`;
  }
}

/** The lines the terminal shows for an offer. */
export function renderOffer(view: OfferView): string[] {
  return [
    "",
    `Payment requested by ${view.publisher}`,
    `  ${view.description}`,
    `  Price:      ${view.price}${view.converted ? `  (${view.converted})` : ""}`,
    `  Grants:     ${describeGrant(view.grant)}`,
    `  Offer date: ${view.date}`,
    `  Asked because ${view.reason}.`,
  ];
}

/** The lines the terminal shows for a spending mandate: every limit the user would sign. */
export function renderMandate(view: MandateView): string[] {
  const per = view.period === "total" ? "in all" : `per ${view.period}`;
  return [
    "",
    "A program asks to pay for you on its own (a spending mandate)",
    `  Program key:      ${view.agentKid}`,
    `  May pay:          ${view.payees.join(", ")}`,
    `  Per payment:      at most ${formatPrice(view.maxPerPayment)}`,
    `  Budget:           ${formatPrice(view.budget)} ${per}`,
    `  Payments:         at most ${view.maxPayments} ${per}`,
    `  Until:            ${view.expiresAt}`,
    `  Paid at:          ${view.server}`,
  ];
}

export interface TerminalPromptOptions {
  readonly input?: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly output?: NodeJS.WritableStream;
  /** No answer within this time is a no (default 2 minutes). */
  readonly timeoutMs?: number;
  /** Refuse to ask when the input is not a terminal (default true: a pipe is not a person). */
  readonly requireTty?: boolean;
}

/** Asks on the terminal; only "y" or "yes" is a yes. */
export class TerminalPrompt implements ConsentPrompt {
  readonly #input: NodeJS.ReadableStream & { isTTY?: boolean };
  readonly #output: NodeJS.WritableStream;
  readonly #timeoutMs: number;
  readonly #requireTty: boolean;

  constructor(options: TerminalPromptOptions = {}) {
    this.#input = options.input ?? process.stdin;
    this.#output = options.output ?? process.stdout;
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#requireTty = options.requireTty ?? true;
  }

  ask(view: OfferView, signal?: AbortSignal): Promise<boolean> {
    return this.#yesOrNo(renderOffer(view), "Pay? [y/N] ", signal);
  }

  /** A mandate asked as an offer is: only "y" or "yes" grants it; silence, an abort or anything else is a no. */
  askMandate(view: MandateView, signal?: AbortSignal): Promise<boolean> {
    return this.#yesOrNo(renderMandate(view), "Let this program pay within these limits? [y/N] ", signal);
  }

  #yesOrNo(lines: readonly string[], question: string, signal?: AbortSignal): Promise<boolean> {
    if (this.#requireTty && !this.#input.isTTY) {
      return Promise.reject(
        new WalletError(
          "ERR_CONSENT_UNAVAILABLE",
          "the wallet has no terminal to ask the user on: start it in a terminal or where a browser can open; nothing was paid",
          503,
          true,
        ),
      );
    }
    this.#output.write(`${lines.join("\n")}\n`);
    const rl = createInterface({ input: this.#input, output: this.#output, terminal: Boolean(this.#input.isTTY) });
    return new Promise<boolean>((resolve) => {
      let settled = false;
      const finish = (answer: boolean, note?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        if (note) this.#output.write(`\n${note}\n`);
        rl.close();
        resolve(answer);
      };
      const onAbort = () => finish(false, "The program stopped waiting; nothing was paid.");
      const timer = setTimeout(() => finish(false, "No answer; nothing was paid."), this.#timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) return onAbort();
      rl.on("close", () => finish(false));
      // A terminal that goes away mid-question (EIO) is a "no", not a crash of the wallet.
      rl.on("error", () => finish(false, "The terminal closed; nothing was paid."));
      rl.question(question, (answer) => finish(/^\s*(y|yes)\s*$/i.test(answer)));
    });
  }

  /** Reads the PIN on the terminal without echoing it; an empty line gives none. */
  askPin(request: PinRequest, signal?: AbortSignal): Promise<string | undefined> {
    if (this.#requireTty && !this.#input.isTTY) {
      return Promise.reject(
        new WalletError("ERR_DECLINED", "the wallet has no terminal to ask for the card's PIN on: nothing was paid", 403, false),
      );
    }
    const output = this.#output;
    output.write(
      request.retry
        ? `Wrong PIN: ${request.triesLeft} tr${request.triesLeft === 1 ? "y" : "ies"} left before the card blocks.\n`
        : `The card ${request.card} pays ${request.view.price}; its PIN is your consent.\n`,
    );
    // Whatever readline echoes while the PIN is typed goes nowhere.
    let muted = false;
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        if (!muted) output.write(chunk);
        done();
      },
    });
    const rl = createInterface({ input: this.#input, output: sink, terminal: Boolean(this.#input.isTTY) });
    return new Promise<string | undefined>((resolve) => {
      let settled = false;
      const finish = (pin: string | undefined, note?: string) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        muted = false;
        output.write(note ? `\n${note}\n` : "\n");
        rl.close();
        resolve(pin);
      };
      const onAbort = () => finish(undefined, "The program stopped waiting; nothing was paid.");
      const timer = setTimeout(() => finish(undefined, "No PIN; nothing was paid."), this.#timeoutMs);
      signal?.addEventListener("abort", onAbort, { once: true });
      if (signal?.aborted) return onAbort();
      rl.on("close", () => finish(undefined));
      rl.on("error", () => finish(undefined));
      rl.question("Card PIN (not shown): ", (answer) => finish(answer.trim() === "" ? undefined : answer.trim()));
      muted = true;
    });
  }
}

/**
 * Says yes to everything the rules send to it (`--yes`): for demonstrations only. For a card it
 * types the PIN given here, or the wallet config's card.pin, or $PEAGE_CARD_PIN, and gives up
 * after a wrong one rather than spend the card's tries.
 */
export class AutoYesPrompt implements ConsentPrompt {
  readonly shown: OfferView[] = [];
  readonly #pin: string | undefined;
  constructor(options: { readonly pin?: string } = {}) {
    this.#pin = options.pin;
  }
  async ask(view: OfferView): Promise<boolean> {
    this.shown.push(view);
    return true;
  }
  async askPin(request: PinRequest): Promise<string | undefined> {
    if (request.retry) return undefined;
    const fromEnv = process.env[CARD_PIN_ENV];
    return this.#pin ?? request.configured ?? (fromEnv === undefined || fromEnv === "" ? undefined : fromEnv);
  }
}

/**
 * Answers from a script, in order, and records what it was shown; an exhausted script says no,
 * and gives no PIN.
 */
export class ScriptedPrompt implements ConsentPrompt {
  readonly shown: OfferView[] = [];
  readonly pinRequests: PinRequest[] = [];
  readonly #answers: boolean[];
  readonly #pins: (string | undefined)[];
  constructor(answers: readonly boolean[] = [], options: { readonly pins?: readonly (string | undefined)[] } = {}) {
    this.#answers = [...answers];
    this.#pins = [...(options.pins ?? [])];
  }
  async ask(view: OfferView): Promise<boolean> {
    this.shown.push(view);
    return this.#answers.shift() ?? false;
  }
  async askPin(request: PinRequest): Promise<string | undefined> {
    this.pinRequests.push(request);
    return this.#pins.shift();
  }
}
