/**
 * Counters and a latency histogram in the Prometheus text exposition format (version 0.0.4):
 * payments by outcome, and the time from receiving a payment request to answering it.
 */
import type { TrustStore } from "@peage/protocol";

/** Latency buckets, seconds: the signature work alone takes about a millisecond. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5] as const;

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export class Metrics {
  readonly #outcomes = new Map<string, number>();
  readonly #buckets = LATENCY_BUCKETS.map(() => 0);
  #count = 0;
  #sum = 0;

  constructor(private readonly trust?: TrustStore) {}

  /** Counts one answered payment request: "recorded", "replayed" or the error code. */
  recordPayment(outcome: string, seconds: number): void {
    this.#outcomes.set(outcome, (this.#outcomes.get(outcome) ?? 0) + 1);
    this.#count++;
    this.#sum += seconds;
    for (const [index, bound] of LATENCY_BUCKETS.entries()) if (seconds <= bound) this.#buckets[index]!++;
  }

  outcomes(): ReadonlyMap<string, number> {
    return this.#outcomes;
  }

  /** The exposition text. */
  render(): string {
    const lines: string[] = [
      "# HELP peage_payments_total Payment requests answered, by outcome (recorded, replayed, or the error code).",
      "# TYPE peage_payments_total counter",
    ];
    for (const [outcome, count] of [...this.#outcomes].sort(([a], [b]) => a.localeCompare(b))) {
      lines.push(`peage_payments_total{outcome="${escapeLabel(outcome)}"} ${count}`);
    }
    lines.push(
      "# HELP peage_payment_duration_seconds Time to answer a payment request.",
      "# TYPE peage_payment_duration_seconds histogram",
    );
    // Buckets are cumulative in the exposition format.
    for (const [index, bound] of LATENCY_BUCKETS.entries()) {
      lines.push(`peage_payment_duration_seconds_bucket{le="${bound}"} ${this.#buckets[index]}`);
    }
    lines.push(`peage_payment_duration_seconds_bucket{le="+Inf"} ${this.#count}`);
    lines.push(`peage_payment_duration_seconds_sum ${this.#sum}`);
    lines.push(`peage_payment_duration_seconds_count ${this.#count}`);
    if (this.trust) {
      const stats = this.trust.stats();
      lines.push(
        "# HELP peage_chain_cache_lookups_total Certificate chain validation cache lookups.",
        "# TYPE peage_chain_cache_lookups_total counter",
        `peage_chain_cache_lookups_total{result="hit"} ${stats.hits}`,
        `peage_chain_cache_lookups_total{result="miss"} ${stats.misses}`,
        "# HELP peage_crl_next_update_timestamp_seconds When each installed CRL goes stale (its nextUpdate); alert well before time() reaches it.",
        "# TYPE peage_crl_next_update_timestamp_seconds gauge",
        ...this.trust.crls.map((crl) => `peage_crl_next_update_timestamp_seconds{issuer="${escapeLabel(crl.issuer)}"} ${crl.nextUpdate ? Math.floor(crl.nextUpdate.getTime() / 1000) : 0}`),
      );
    }
    lines.push(
      "# HELP process_resident_memory_bytes Resident memory size in bytes.",
      "# TYPE process_resident_memory_bytes gauge",
      `process_resident_memory_bytes ${process.memoryUsage.rss()}`,
    );
    return `${lines.join("\n")}\n`;
  }
}

function escapeLabel(value: string): string {
  return value.replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n");
}
