/**
 * The server's Prometheus metrics, with prom-client: the process defaults (CPU, memory, handles,
 * event-loop lag, garbage collection), payments by outcome and currency with their latency,
 * and gauges read at each scrape from what the server holds: how long its certificates and the
 * CAs' stay valid, how old the rates in force are, how many periods are closed and settled, and
 * how webhook deliveries and endpoints stand (given-up deliveries and disabled endpoints to alert on).
 * Each server has its own registry, so several in one process (tests) do not mix their counts.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import { isCurrencyCode, type TrustStore } from "@peage/protocol";
import type { ServerIdentity } from "./data-dir.js";
import type { RateSource } from "./rates/rate-source.js";
import type { Store } from "./store/store.js";

/** Latency buckets, seconds: the signature work alone takes about a millisecond. */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

/** What the gauges read at scrape time; every part optional so an application can be built without some. */
export interface MetricSources {
  readonly trust?: TrustStore;
  readonly identity?: ServerIdentity;
  readonly rates?: RateSource;
  readonly store?: Store;
  readonly now?: () => Date;
}

export class Metrics {
  readonly registry = new Registry();
  readonly #payments: Counter<"outcome" | "currency">;
  readonly #latency: Histogram;
  readonly #requests: Histogram<"route">;
  readonly #outcomes = new Map<string, number>();
  /** Publishers whose chains verified, with their expiry: bounded by the certified publishers (a forged chain never gets here). */
  readonly #publishers = new Map<string, Date>();

  constructor(sources: MetricSources = {}) {
    const registry = this.registry;
    const now = sources.now ?? (() => new Date());
    collectDefaultMetrics({ register: registry, eventLoopMonitoringPrecision: 20 });
    this.#payments = new Counter({
      name: "peage_payments_total",
      help: "Payment requests answered, by outcome (recorded, replayed, or the error code) and the offer's currency.",
      labelNames: ["outcome", "currency"],
      registers: [registry],
    });
    this.#latency = new Histogram({
      name: "peage_payment_duration_seconds",
      help: "Time to answer a payment request.",
      labelNames: [],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    this.#requests = new Histogram({
      name: "peage_http_request_duration_seconds",
      help: "Time to answer any request, by route.",
      labelNames: ["route"],
      buckets: LATENCY_BUCKETS,
      registers: [registry],
    });
    const { trust, store } = sources;
    certificateExpiryGauge(registry, now, sources.identity, trust, this.#publishers);
    ratesAgeGauge(registry, now, sources.rates);
    if (trust) trustMetrics(registry, trust);
    if (store) {
      settlementGauge(registry, store);
      webhookGauges(registry, store);
    }
  }

  /** Counts one answered payment request: "recorded", "replayed" or the error code, and the offer's currency when known. */
  recordPayment(outcome: string, seconds: number, currency?: string): void {
    this.#payments.inc({ outcome, currency: currency !== undefined && isCurrencyCode(currency) ? currency : "unknown" });
    this.#latency.observe(seconds);
    this.#outcomes.set(outcome, (this.#outcomes.get(outcome) ?? 0) + 1);
  }

  /** Times any request, by its route pattern (never the raw URL: that would let callers make labels). */
  recordRequest(route: string, seconds: number): void {
    this.#requests.observe({ route }, seconds);
  }

  /** Notes a publisher whose chain verified, for the certificate expiry gauge. */
  publisherSeen(publisher: string, notAfter: Date): void {
    this.#publishers.set(publisher, notAfter);
  }

  outcomes(): ReadonlyMap<string, number> {
    return this.#outcomes;
  }

  /** The exposition text. */
  render(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Seconds until each certificate the server relies on expires: its own, the roots, the chains of publishers paid. */
function certificateExpiryGauge(
  registry: Registry,
  now: () => Date,
  identity: ServerIdentity | undefined,
  trust: TrustStore | undefined,
  publishers: ReadonlyMap<string, Date>,
): void {
  new Gauge({
    name: "peage_certificate_expiry_seconds",
    help: "Seconds until a certificate the server relies on expires (its own, the trusted roots, the chains of publishers paid).",
    labelNames: ["certificate", "subject"],
    registers: [registry],
    collect() {
      this.reset();
      const at = now().getTime();
      if (identity) this.set({ certificate: "server", subject: identity.id }, (identity.notAfter.getTime() - at) / 1000);
      for (const root of trust?.roots ?? [])
        this.set({ certificate: "root", subject: root.subject }, (root.notAfter.getTime() - at) / 1000);
      for (const [publisher, notAfter] of publishers)
        this.set({ certificate: "publisher", subject: publisher }, (notAfter.getTime() - at) / 1000);
    },
  });
}

/** The age of the rates in force. */
function ratesAgeGauge(registry: Registry, now: () => Date, rates: RateSource | undefined): void {
  new Gauge({
    name: "peage_rates_age_seconds",
    help: "Age of the exchange rates in force (from their reference date); absent without rates.",
    registers: [registry],
    collect() {
      this.reset();
      const date = rates?.current()?.date;
      if (date !== undefined) this.set((now().getTime() - Date.parse(`${date}T00:00:00Z`)) / 1000);
    },
  });
}

/** The chain cache's lookups and the CRLs' next updates. */
function trustMetrics(registry: Registry, trust: TrustStore): void {
  new Counter({
    name: "peage_chain_cache_lookups_total",
    help: "Certificate chain validation cache lookups.",
    labelNames: ["result"],
    registers: [registry],
    collect() {
      const stats = trust.stats();
      this.reset();
      this.inc({ result: "hit" }, stats.hits);
      this.inc({ result: "miss" }, stats.misses);
    },
  });
  new Gauge({
    name: "peage_crl_next_update_timestamp_seconds",
    help: "When each installed CRL goes stale (its nextUpdate, Unix seconds): alert well before time() reaches it.",
    labelNames: ["issuer"],
    registers: [registry],
    collect() {
      this.reset();
      for (const crl of trust.crls)
        this.set({ issuer: crl.issuer }, crl.nextUpdate ? Math.floor(crl.nextUpdate.getTime() / 1000) : 0);
    },
  });
}

/** Periods closed and settled in the books. */
function settlementGauge(registry: Registry, store: Store): void {
  new Gauge({
    name: "peage_settlement_periods",
    help: "Periods closed, and of those settled, in the books.",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const closed = await store.closedPeriods();
      let settled = 0;
      for (const { period } of closed) if (await store.getSettlement(period)) settled++;
      this.set({ state: "closed" }, closed.length);
      this.set({ state: "settled" }, settled);
    },
  });
}

/**
 * Webhook deliveries by state, and endpoints by state: a failed delivery was given up after three
 * days of refusals and a disabled endpoint gets nothing more until an operator redelivers, so both
 * are worth an alert. Deliveries are counted over the rows kept (pruned after 30 days).
 */
function webhookGauges(registry: Registry, store: Store): void {
  new Gauge({
    name: "peage_webhook_deliveries",
    help: "Webhook deliveries kept, by state: pending (due or waiting for a retry), delivered, failed (given up: peage admin webhook-redeliver sends them again).",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const counts = await store.runExtension("deliveryCounts");
      for (const state of ["pending", "delivered", "failed"] as const) this.set({ state }, counts[state]);
    },
  });
  new Gauge({
    name: "peage_webhook_endpoints",
    help: "Webhook endpoints registered, by state: active, or disabled after failing for three days (peage admin webhook-redeliver enables one again).",
    labelNames: ["state"],
    registers: [registry],
    async collect() {
      const endpoints = await store.runExtension("listEndpoints");
      const disabled = endpoints.filter((endpoint) => endpoint.disabled !== undefined).length;
      this.set({ state: "active" }, endpoints.length - disabled);
      this.set({ state: "disabled" }, disabled);
    },
  });
}
