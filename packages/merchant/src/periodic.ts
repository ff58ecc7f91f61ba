/**
 * Pay-per-period: pay at start, then again each time the paid period ends. The period is
 * grant.seconds long, counted on the monotonic clock from the moment the acknowledgment arrived
 * (the acknowledgment's serverTime dates it for the record; the machine's wall clock is never
 * consulted, so setting it back does not lengthen a period). While a renewal is being asked for
 * the program keeps running; if the renewal fails, onPause is called and the program stays
 * paused until resume() gets a payment through.
 */
import { MerchantError } from "./errors.js";
import type { Authorization, PayOptions } from "./merchant.js";
import type { MonotonicClock, Scheduler } from "./monotonic.js";
import type { UsageSettlement } from "./settle.js";

export interface PeriodicHandlers {
  /** A payment failed: stop the paid activity until resume() succeeds. */
  readonly onPause: (error: MerchantError) => void;
  /** resume() paid: the activity may go on. */
  readonly onResume?: (authorization: Authorization) => void;
  /** Every successful payment, the first included. */
  readonly onPaid?: (authorization: Authorization) => void;
  /** Passed to each payment (default: the merchant's). */
  readonly timeoutMs?: number;
  /** A schedule paid by metered session: its settlement when stop() ends it (or why it failed). */
  readonly onSettled?: (settlement: UsageSettlement | undefined, error?: unknown) => void;
}

export type PeriodicState = "paying" | "running" | "paused" | "stopped";

export interface PeriodicController {
  readonly state: PeriodicState;
  /** The latest payment. */
  readonly current: Authorization | undefined;
  /** Settles after the first payment attempt: its authorization, or undefined if it failed (then paused). */
  readonly started: Promise<Authorization | undefined>;
  /** Milliseconds of the paid period left (monotonic); 0 when none is running. */
  remainingMs(): number;
  /** Pays now if paused (rejects with the MerchantError if that fails too); returns the running period otherwise. */
  resume(): Promise<Authorization>;
  /** Ends the schedule; no further payment is made. */
  stop(): void;
}

interface PeriodicParts {
  readonly pay: (options: PayOptions) => Promise<Authorization>;
  readonly seconds: number;
  readonly monotonic: MonotonicClock;
  readonly scheduler: Scheduler;
  readonly handlers: PeriodicHandlers;
  /** Called once by stop(): a metered session's settlement. */
  readonly onStop?: () => Promise<UsageSettlement | undefined>;
}

/**
 * A period paid for again when it runs out (what {@link Merchant.periodic} returns): it pauses the
 * program through `onPause` with the MerchantError of a failed renewal, and resumes on payment.
 */
export class PeriodicPayment implements PeriodicController {
  readonly started: Promise<Authorization | undefined>;
  #state: PeriodicState = "paying";
  #current: Authorization | undefined;
  #deadline = 0;
  #timer: unknown;
  #inFlight: Promise<Authorization> | undefined;
  readonly #parts: PeriodicParts;
  readonly #stopping = new AbortController();

  constructor(parts: PeriodicParts) {
    this.#parts = parts;
    this.started = this.#attempt().then(
      (authorization) => authorization,
      () => undefined,
    );
  }

  get state(): PeriodicState {
    return this.#state;
  }

  get current(): Authorization | undefined {
    return this.#current;
  }

  remainingMs(): number {
    if (this.#state !== "running" && this.#state !== "paying") return 0;
    return Math.max(0, this.#deadline - this.#parts.monotonic.now());
  }

  resume(): Promise<Authorization> {
    if (this.#state === "stopped")
      return Promise.reject(
        new MerchantError("ERR_UNKNOWN_OFFER", "this periodic payment was stopped: start a new one", { retryable: false }),
      );
    if (this.#inFlight) return this.#inFlight;
    if (this.#state === "running" && this.#current) return Promise.resolve(this.#current);
    return this.#attempt(true);
  }

  stop(): void {
    if (this.#state !== "stopped" && this.#parts.onStop) {
      const { onSettled } = this.#parts.handlers;
      // After a payment still in flight, so that its tick counts.
      void (this.#inFlight ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => this.#parts.onStop!())
        .then(
          (settlement) => onSettled?.(settlement),
          (error: unknown) => onSettled?.(undefined, error),
        );
    }
    this.#state = "stopped";
    this.#stopping.abort();
    if (this.#timer !== undefined) this.#parts.scheduler.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  /** One payment; on success a new period starts, on failure the program is paused. */
  #attempt(resuming = false): Promise<Authorization> {
    const wasPaused = this.#state === "paused";
    if (this.#state !== "running") this.#state = "paying";
    const options: PayOptions = {
      signal: this.#stopping.signal,
      ...(this.#parts.handlers.timeoutMs === undefined ? {} : { timeoutMs: this.#parts.handlers.timeoutMs }),
    };
    const run = this.#parts.pay(options).then(
      (authorization) => {
        this.#inFlight = undefined;
        if (this.#state === "stopped") return authorization;
        this.#current = authorization;
        this.#deadline = this.#parts.monotonic.now() + this.#parts.seconds * 1000;
        this.#state = "running";
        this.#schedule();
        this.#parts.handlers.onPaid?.(authorization);
        if (resuming && wasPaused) this.#parts.handlers.onResume?.(authorization);
        return authorization;
      },
      (error: unknown) => {
        this.#inFlight = undefined;
        const failure =
          error instanceof MerchantError
            ? error
            : new MerchantError("ERR_PAYMENT_FAILED", String(error), { retryable: true, cause: error });
        if (this.#state !== "stopped") {
          const alreadyPaused = this.#state === "paused";
          this.#state = "paused";
          if (!alreadyPaused && !wasPaused) this.#parts.handlers.onPause(failure);
        }
        throw failure;
      },
    );
    this.#inFlight = run;
    return run;
  }

  /** Wakes at the deadline; a timer that fires early (or late) is checked against the monotonic clock. */
  #schedule(): void {
    if (this.#timer !== undefined) this.#parts.scheduler.clearTimeout(this.#timer);
    this.#timer = this.#parts.scheduler.setTimeout(
      () => {
        this.#timer = undefined;
        if (this.#state !== "running") return;
        if (this.#parts.monotonic.now() < this.#deadline) return this.#schedule();
        this.#attempt().catch(() => undefined);
        // At least 1 ms: a timer may fire a fraction of a millisecond before the deadline.
      },
      Math.max(1, this.#deadline - this.#parts.monotonic.now()),
    );
  }
}
