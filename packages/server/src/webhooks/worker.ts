/**
 * Delivers the webhook outbox (store/webhook-logic.ts): every `intervalMs` it fans new events out
 * to their endpoints, takes the deliveries that are due for a lease, and POSTs each, signed
 * (signature.ts). A 2xx answer marks it delivered; anything else (an error status, a timeout, a
 * refused connection) schedules the next attempt after an exponential backoff with jitter. A
 * process killed mid-delivery leaves the delivery leased: once the lease ends any server process
 * sends it again, with the same event id, so every event arrives at least once.
 */
import type { Clock } from "@peage/protocol";
import type { DueDelivery } from "../store/webhook-logic.js";
import type { Store } from "../store/store.js";
import { signedHeaders } from "./signature.js";

export interface WebhookWorkerOptions {
  readonly store: Store;
  readonly clock: Clock;
  /** How often the outbox is looked at, ms (default 1000). */
  readonly intervalMs?: number;
  /** How long one attempt may take before its answer is ignored, ms (default 10 s). */
  readonly timeoutMs?: number;
  /** How long a delivery being sent is reserved to its sender, ms (default: the timeout and 5 s more). */
  readonly leaseMs?: number;
  /** The wait after the first failure, ms, doubled after each (default 5 s), up to maxBackoffMs (default 1 hour). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Where failures are told (the server's log). */
  readonly log?: (fields: Record<string, unknown>, message: string) => void;
}

export interface WebhookWorker {
  /** One pass: fan out, then send what is due; resolves when every attempt of the pass is settled. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

/** The wait before attempt `attempts + 1`: base·2^(attempts−1), capped, with "equal jitter" (half fixed, half random). */
export function backoffFor(attempts: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

const key = ({ eventId, endpointId }: DueDelivery) => ({ eventId, endpointId });

export function startWebhookWorker(opts: WebhookWorkerOptions): WebhookWorker {
  const intervalMs = opts.intervalMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const leaseMs = opts.leaseMs ?? timeoutMs + 5000;
  const { store, clock } = opts;
  let running: Promise<number> | undefined;
  let stopped = false;

  const attempt = async (delivery: DueDelivery): Promise<void> => {
    const headers = signedHeaders(delivery.secret, delivery.eventId, delivery.body, Math.floor(clock.now().getTime() / 1000));
    let error: string | undefined;
    try {
      const response = await fetch(delivery.url, {
        method: "POST",
        headers: { ...headers, "content-type": "application/json", "user-agent": "peage-webhooks/1" },
        body: delivery.body,
        redirect: "manual",
        signal: AbortSignal.timeout(timeoutMs),
      });
      await response.body?.cancel();
      if (response.status < 200 || response.status > 299) error = `answered ${response.status}`;
    } catch (cause) {
      error = (cause as Error).message;
    }
    const now = clock.now();
    if (error === undefined) return store.runExtension("settleDelivery", key(delivery), { deliveredAt: now.toISOString() });
    const wait = backoffFor(delivery.attempts + 1, opts.backoffMs ?? 5000, opts.maxBackoffMs ?? 3_600_000);
    opts.log?.({ event: delivery.eventId, endpoint: delivery.endpointId, error, retryInMs: wait }, "webhook delivery failed");
    const retryAt = new Date(now.getTime() + wait).toISOString();
    await store.runExtension("settleDelivery", key(delivery), { error, retryAt });
  };

  const pass = async (): Promise<number> => {
    while ((await store.runExtension("fanOut", clock.now().toISOString(), 500)) === 500);
    const now = clock.now();
    const due = await store.runExtension("claimDue", now.toISOString(), new Date(now.getTime() + leaseMs).toISOString(), 50);
    await Promise.all(due.map(attempt));
    return due.length;
  };
  const runOnce = () => (running ??= pass().finally(() => (running = undefined)));

  const timer = setInterval(() => {
    if (stopped || running) return;
    runOnce().catch((error: unknown) => opts.log?.({ err: error }, "webhook pass failed"));
  }, intervalMs);
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
