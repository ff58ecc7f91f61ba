/**
 * The pruning of spending mandates' counters (logic.ts pruneMandateUsage): on a timer, the
 * counters of days and months that are over are deleted in batches, each its own short
 * transaction, so that the table holds the periods in progress and not every period a mandate
 * ever paid in. A period is pruned an hour after it ended: a payment whose time was taken just
 * before midnight may still be committing just after, and its counter must not be taken from it.
 */
import { mandatePeriodKey, type Clock } from "@peage/protocol";
import type { Store } from "../store/store.js";

const GRACE_MS = 3_600_000;

export interface MandatePruning {
  /** One pass: batches until none is full; how many counters were deleted. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

export interface MandatePruningOptions {
  readonly store: Store;
  readonly clock: Clock;
  /** Between passes, ms (default an hour). */
  readonly intervalMs?: number;
  /** Counters deleted per transaction (default 500). */
  readonly batch?: number;
  readonly log?: (fields: object, message: string) => void;
}

export function startMandatePruning(opts: MandatePruningOptions): MandatePruning {
  const batch = opts.batch ?? 500;
  let running: Promise<number> | undefined;
  let stopped = false;
  const pass = async (): Promise<number> => {
    const before = new Date(opts.clock.now().getTime() - GRACE_MS);
    const day = mandatePeriodKey("day", before);
    const month = mandatePeriodKey("month", before);
    let total = 0;
    for (;;) {
      const deleted = await opts.store.mandates("pruneMandateUsage", day, month, batch);
      total += deleted;
      if (deleted < batch || stopped) return total;
    }
  };
  const runOnce = () => (running ??= pass().finally(() => (running = undefined)));
  const timer = setInterval(() => {
    if (stopped || running) return;
    runOnce().then(
      (deleted) => deleted > 0 && opts.log?.({ deleted }, "mandate counters of ended periods pruned"),
      (error: unknown) => opts.log?.({ err: error }, "mandate counter pruning failed"),
    );
  }, opts.intervalMs ?? GRACE_MS);
  timer.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}
