/**
 * Time inside the program. A paid period is measured with a monotonic clock, never the wall
 * clock: the user can set the wall clock back, but not performance.now(), so winding the clock
 * buys nothing. Both sources are injectable so tests can move time by hand.
 */
import { performance } from "node:perf_hooks";

/** Milliseconds from an arbitrary origin that never go backwards. */
export interface MonotonicClock {
  now(): number;
}

/** The system's monotonic clock, performance.now(): setting the wall clock back does not lengthen a paid period. */
export const systemMonotonic: MonotonicClock = { now: () => performance.now() };

/** Timers, injectable for tests. */
export interface Scheduler {
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Node's timers, unref'd: a pending renewal never keeps a finished program alive. */
export const systemScheduler: Scheduler = {
  setTimeout(callback, ms) {
    const handle = setTimeout(callback, Math.min(Math.max(0, ms), 2 ** 31 - 1));
    handle.unref();
    return handle;
  },
  clearTimeout(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};
