/** Shared helpers of the merchant tests. */
import assert from "node:assert/strict";
import { MerchantError, type MonotonicClock, type Scheduler } from "../src/index.js";

/** For assert.rejects: a MerchantError with this code (and verification code, when given). */
export function merchantCode(code: string, verificationCode?: string): (error: unknown) => true {
  return (error) => {
    assert.ok(error instanceof MerchantError, `expected a MerchantError ${code}, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    if (verificationCode !== undefined) assert.equal(error.verificationCode, verificationCode, error.message);
    return true;
  };
}

/** A monotonic clock and timers moved by hand: time passes only when the test says so. */
export class ManualTime implements MonotonicClock, Scheduler {
  /** With `early`, timers fire after half the time asked (a scheduler that cannot be trusted to wait). */
  constructor(private readonly early = false) {}
  #now = 0;
  #next = 1;
  readonly #timers = new Map<number, { due: number; callback: () => void }>();

  now(): number {
    return this.#now;
  }

  setTimeout(callback: () => void, ms: number): unknown {
    const id = this.#next++;
    this.#timers.set(id, { due: this.#now + Math.max(0, this.early ? ms / 2 : ms), callback });
    return id;
  }

  clearTimeout(handle: unknown): void {
    this.#timers.delete(handle as number);
  }

  get pendingTimers(): number {
    return this.#timers.size;
  }

  /** Moves time forward and runs every timer that fell due, in order. */
  advance(ms: number): void {
    this.#now += ms;
    for (;;) {
      const due = [...this.#timers.entries()].filter(([, t]) => t.due <= this.#now).sort((a, b) => a[1].due - b[1].due)[0];
      if (!due) return;
      this.#timers.delete(due[0]);
      due[1].callback();
    }
  }
}

/** A queue of values pushed by callbacks, awaited one at a time by the test. */
export class Inbox<T> {
  readonly #items: T[] = [];
  readonly #waiting: Array<(value: T) => void> = [];
  push = (value: T): void => {
    const waiter = this.#waiting.shift();
    if (waiter) waiter(value);
    else this.#items.push(value);
  };
  next(): Promise<T> {
    const item = this.#items.shift();
    if (item !== undefined) return Promise.resolve(item);
    return new Promise((resolve) => this.#waiting.push(resolve));
  }
  get size(): number {
    return this.#items.length;
  }
}
