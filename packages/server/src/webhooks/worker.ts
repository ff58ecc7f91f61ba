/**
 * Delivers the webhook outbox (store/webhook-logic.ts): every `intervalMs` it fans new events out
 * to their endpoints, takes the deliveries that are due for a lease, and POSTs each, signed
 * (signature.ts) with the endpoint's secrets opened from the key ring (secret-box.ts). A 2xx
 * answer marks it delivered; anything else (an error status, a timeout, a refused connection)
 * schedules the next attempt after an exponential backoff with jitter, until the retry window
 * (3 days by default) is over: the delivery is then given up, and its endpoint disabled if nothing
 * reached it during the whole window. A process killed mid-delivery leaves the delivery leased:
 * once the lease ends any server process sends it again, with the same event id, so every event
 * arrives at least once. Now and then a pass prunes what was delivered or given up before the
 * retention period, in small batches.
 */
import type { Clock } from "@peage/protocol";
import type { DeliveryOutcome, DueDelivery } from "../store/webhook-logic.js";
import type { Store } from "../store/store.js";
import { openStored, type WebhookKeyRing } from "./secret-box.js";
import { signedHeaders } from "./signature.js";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

export interface WebhookWorkerOptions {
  readonly store: Store;
  readonly clock: Clock;
  /** Opens the endpoints' sealed secrets. */
  readonly keys: WebhookKeyRing;
  /** How often the outbox is looked at, ms (default 1000). */
  readonly intervalMs?: number;
  /** How long one attempt may take before its answer is ignored, ms (default 10 s). */
  readonly timeoutMs?: number;
  /** How long a delivery being sent is reserved to its sender, ms (default: the timeout and 5 s more). */
  readonly leaseMs?: number;
  /** The wait after the first failure, ms, doubled after each (default 5 s), up to maxBackoffMs (default 1 hour). */
  readonly backoffMs?: number;
  readonly maxBackoffMs?: number;
  /** How long after its first attempt a delivery is given up, ms (default 3 days). */
  readonly retryWindowMs?: number;
  /** Disable an endpoint none of whose deliveries succeeded during a whole retry window (default true). */
  readonly disableFailingEndpoints?: boolean;
  /** How long delivered and given-up deliveries are kept, ms (default 30 days). */
  readonly retentionMs?: number;
  /** How often the outbox is pruned, ms (default 10 minutes), and how many rows a batch deletes (default 500). */
  readonly pruneEveryMs?: number;
  readonly pruneBatch?: number;
  /** Where failures are told (the server's log). */
  readonly log?: (fields: Record<string, unknown>, message: string) => void;
}

export interface WebhookWorker {
  /** One pass: fan out, then send what is due (and prune when it is time); resolves when every attempt of the pass is settled. */
  runOnce(): Promise<number>;
  /** Prunes everything older than the retention period now, batch after batch; returns how many rows went. */
  prune(): Promise<number>;
  stop(): Promise<void>;
}

/** The wait before attempt `attempts + 1`: base·2^(attempts−1), capped, with "equal jitter" (half fixed, half random). */
export function backoffFor(attempts: number, baseMs: number, maxMs: number): number {
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.min(attempts - 1, 30));
  return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
}

const key = ({ eventId, endpointId }: DueDelivery) => ({ eventId, endpointId });

/** POSTs one delivery; undefined when answered 2xx, else what went wrong. */
async function post(delivery: DueDelivery, secrets: readonly string[], timestamp: number, timeoutMs: number) {
  try {
    const response = await fetch(delivery.url, {
      method: "POST",
      headers: {
        ...signedHeaders(secrets, delivery.eventId, delivery.body, timestamp),
        "content-type": "application/json",
        "user-agent": "peage-webhooks/1",
      },
      body: delivery.body,
      redirect: "manual",
      signal: AbortSignal.timeout(timeoutMs),
    });
    await response.body?.cancel();
    return response.status < 200 || response.status > 299 ? `answered ${response.status}` : undefined;
  } catch (cause) {
    return (cause as Error).message;
  }
}

export function startWebhookWorker(opts: WebhookWorkerOptions): WebhookWorker {
  const intervalMs = opts.intervalMs ?? 1000;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const leaseMs = opts.leaseMs ?? timeoutMs + 5000;
  const windowMs = opts.retryWindowMs ?? 3 * DAY;
  const pruneEveryMs = opts.pruneEveryMs ?? 10 * 60_000;
  const { store, clock } = opts;
  let running: Promise<number> | undefined;
  let stopped = false;
  let prunedAt = -Infinity;

  const outcomeOf = (delivery: DueDelivery, error: string, now: Date): DeliveryOutcome => {
    const wait = backoffFor(delivery.attempts + 1, opts.backoffMs ?? 5000, opts.maxBackoffMs ?? HOUR);
    const retryAt = now.getTime() + wait;
    if (retryAt - Date.parse(delivery.createdAt) <= windowMs) return { error, retryAt: new Date(retryAt).toISOString() };
    return { error, failedAt: now.toISOString(), disableAfterFailing: opts.disableFailingEndpoints ?? true };
  };

  const attempt = async (delivery: DueDelivery): Promise<void> => {
    let error: string | undefined;
    try {
      const secrets = delivery.secrets.map((s) => openStored(opts.keys, s, delivery.endpointId));
      error = await post(delivery, secrets, Math.floor(clock.now().getTime() / 1000), timeoutMs);
    } catch (cause) {
      error = (cause as Error).message;
    }
    const now = clock.now();
    if (error === undefined) return store.runExtension("settleDelivery", key(delivery), { deliveredAt: now.toISOString() });
    const outcome = outcomeOf(delivery, error, now);
    const fields = { event: delivery.eventId, endpoint: delivery.endpointId, error, attempts: delivery.attempts + 1 };
    opts.log?.(
      "retryAt" in outcome ? { ...fields, retryAt: outcome.retryAt } : fields,
      "retryAt" in outcome ? "webhook delivery failed" : "webhook delivery given up",
    );
    await store.runExtension("settleDelivery", key(delivery), outcome);
  };

  const prune = async (): Promise<number> => {
    const cutoff = new Date(clock.now().getTime() - (opts.retentionMs ?? 30 * DAY)).toISOString();
    const batch = opts.pruneBatch ?? 500;
    let total = 0;
    for (let n = batch; n >= batch && !stopped; total += n) n = await store.runExtension("pruneOutbox", cutoff, batch);
    return total;
  };

  const pass = async (): Promise<number> => {
    while ((await store.runExtension("fanOut", clock.now().toISOString(), 500)) === 500);
    const now = clock.now();
    const due = await store.runExtension("claimDue", now.toISOString(), new Date(now.getTime() + leaseMs).toISOString(), 50);
    await Promise.all(due.map(attempt));
    if (now.getTime() - prunedAt >= pruneEveryMs) {
      prunedAt = now.getTime();
      await prune();
    }
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
    prune,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running?.catch(() => undefined);
    },
  };
}

/**
 * Seals every secret still in clear (from before migration 12) or under an older key than the
 * ring's current one; returns how many endpoints changed. Run by the server when it starts.
 */
export async function resealSecrets(store: Store, keys: WebhookKeyRing): Promise<number> {
  let changed = 0;
  for (const row of await store.runExtension("secretsToReseal", keys.currentId)) {
    const after = {
      secret: keys.seal(openStored(keys, row.secret, row.id), row.id),
      previous: row.previous === undefined ? undefined : keys.seal(openStored(keys, row.previous, row.id), row.id),
    };
    if (await store.runExtension("putResealed", row, after)) changed += 1;
  }
  return changed;
}
