/**
 * The consent window's side in the wallet: a ConsentPrompt whose questions wait in a queue until
 * the user answers them on the wallet's local page (routes.ts), each one its own decision. A
 * question nobody answers in time is a no; one the program stops waiting for is withdrawn.
 *
 * Approve is refused on the server too until the offer has been on screen for `minVisibleMs`
 * (the page reports when it showed it): a page that is clicked through (a click meant for
 * something else, landing on a window that just appeared) approves nothing.
 */
import { randomBytes } from "node:crypto";
import type { ConsentPrompt, OfferView, PinRequest } from "../consent-prompt.js";
import type { MandateView } from "../mandates/request.js";
import { WalletError } from "../errors.js";

export interface ConsentWindowOptions {
  /** How long a question waits for the user before it counts as a no (default 120 s). */
  readonly timeoutMs?: number;
  /** How long an offer must have been visible before Approve counts (default 1000 ms). */
  readonly minVisibleMs?: number;
  /**
   * Called when a question arrives and no page is looking: opens the user's browser on `url`
   * (a fresh one-time link). Without it the link is only given to `announce`.
   */
  readonly open?: (url: string) => void;
  /** Told the link of each question that needs a new window (the wallet prints it). */
  readonly announce?: (url: string) => void;
  /** The clock, in ms (tests). */
  readonly now?: () => number;
}

/**
 * The card's PIN for an offer the user approved: the card (or PC store) that pays, the tries it
 * has left and whether the last PIN was wrong. The PIN goes to the card as typed; the card counts.
 */
export interface PinView {
  readonly kind: "pin";
  readonly card: string;
  readonly triesLeft: number;
  readonly retry: boolean;
  readonly offer: OfferView;
}

/** What the window asks about: a payment, a spending mandate for an agent (mandates/request.ts), or a card's PIN. */
export type QuestionView = OfferView | MandateView | PinView;

/** A user's answer: yes or no, and for a PIN question the PIN typed. */
interface Answer {
  readonly yes: boolean;
  readonly pin?: string;
}

/** One question as the page sees it. */
export interface PendingOffer {
  readonly id: string;
  readonly view: QuestionView;
  /** When it was asked, and when it times out (epoch ms). */
  readonly askedAt: number;
  readonly expiresAt: number;
}

interface Waiting extends PendingOffer {
  shownAt: number | undefined;
  readonly answer: (answer: Answer) => void;
}

export type DecideResult = "done" | "unknown" | "too-soon" | "bad-pin";

/** What a card accepts as a PIN (card.md: 4 to 12 digits); anything else never reaches the card. */
const PIN_FORMAT = /^\d{4,12}$/;

/** How recently a page must have asked for the queue to count as a window the user has open. */
const WATCHED_MS = 5_000;

export class ConsentWindow implements ConsentPrompt {
  readonly timeoutMs: number;
  readonly minVisibleMs: number;
  readonly #open: ((url: string) => void) | undefined;
  readonly #announce: ((url: string) => void) | undefined;
  readonly #now: () => number;
  readonly #waiting = new Map<string, Waiting>();
  /** Set by the service once it listens: makes a one-time link to the page. */
  #link: (() => string) | undefined;
  #lastPoll = Number.NEGATIVE_INFINITY;

  constructor(options: ConsentWindowOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.minVisibleMs = options.minVisibleMs ?? 1_000;
    this.#open = options.open;
    this.#announce = options.announce;
    this.#now = options.now ?? Date.now;
  }

  /** The service gives the window its way to mint one-time links (service.ts). */
  attach(link: () => string): void {
    this.#link = link;
  }

  ask(view: QuestionView, signal?: AbortSignal): Promise<boolean> {
    return this.#enqueue(view, signal).then((answer) => answer.yes);
  }

  /** The card's PIN, typed in the window; no answer, Cancel or a withdrawn offer give none (nothing is paid). */
  askPin(request: PinRequest, signal?: AbortSignal): Promise<string | undefined> {
    const view: PinView = {
      kind: "pin",
      card: request.card,
      triesLeft: request.triesLeft,
      retry: request.retry,
      offer: request.view,
    };
    return this.#enqueue(view, signal).then((answer) => (answer.yes ? answer.pin : undefined));
  }

  #enqueue(view: QuestionView, signal?: AbortSignal): Promise<Answer> {
    if (!this.#link) {
      return Promise.reject(
        new WalletError("ERR_CONSENT_UNAVAILABLE", "the consent window is not served yet: start the wallet's service", 503, true),
      );
    }
    if (signal?.aborted) return Promise.resolve({ yes: false });
    const id = randomBytes(16).toString("base64url");
    const askedAt = this.#now();
    return new Promise<Answer>((resolve) => {
      const finish = (answer: Answer) => {
        if (!this.#waiting.delete(id)) return;
        clearTimeout(timer);
        signal?.removeEventListener("abort", withdraw);
        resolve(answer);
      };
      const withdraw = () => finish({ yes: false });
      const timer = setTimeout(() => finish({ yes: false }), this.timeoutMs);
      timer.unref?.();
      signal?.addEventListener("abort", withdraw, { once: true });
      this.#waiting.set(id, { id, view, askedAt, expiresAt: askedAt + this.timeoutMs, shownAt: undefined, answer: finish });
      if (!this.watched()) this.#summon();
    });
  }

  /** A spending mandate is asked in the same queue as an offer. */
  askMandate(view: MandateView, signal?: AbortSignal): Promise<boolean> {
    return this.ask(view, signal);
  }

  /** Whether a page asked for the queue lately (then it shows new questions by itself). */
  watched(): boolean {
    return this.#now() - this.#lastPoll < WATCHED_MS;
  }

  /** The questions waiting, oldest first; the page polls this. */
  pending(): PendingOffer[] {
    this.#lastPoll = this.#now();
    return [...this.#waiting.values()].map(({ id, view, askedAt, expiresAt }) => ({ id, view, askedAt, expiresAt }));
  }

  /** The page says the offer is on screen: the delay before Approve counts from the first time. */
  shown(id: string): boolean {
    const waiting = this.#waiting.get(id);
    if (!waiting) return false;
    waiting.shownAt ??= this.#now();
    return true;
  }

  /**
   * The user's answer to one question. Approve before the offer was visible long enough is refused;
   * a PIN question's yes needs a PIN of the card's format (what the card then says of it is the card's).
   */
  decide(id: string, yes: boolean, pin?: string): DecideResult {
    const waiting = this.#waiting.get(id);
    if (!waiting) return "unknown";
    if ("kind" in waiting.view && waiting.view.kind === "pin") {
      if (yes && (pin === undefined || !PIN_FORMAT.test(pin))) return "bad-pin";
      waiting.answer(yes ? { yes, pin: pin! } : { yes });
      return "done";
    }
    if (yes && (waiting.shownAt === undefined || this.#now() - waiting.shownAt < this.minVisibleMs)) return "too-soon";
    waiting.answer({ yes });
    return "done";
  }

  /** Declines everything still waiting (the wallet is stopping). */
  closeAll(): void {
    for (const waiting of [...this.#waiting.values()]) waiting.answer({ yes: false });
  }

  #summon(): void {
    const url = this.#link!();
    this.#announce?.(url);
    try {
      this.#open?.(url);
    } catch {
      // The printed link is still there; a browser that cannot be started is not a refusal.
    }
  }
}
