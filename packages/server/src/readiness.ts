/**
 * Readiness: whether this server should be sent payments now. Liveness (/healthz) only says the
 * process answers; readiness (/readyz) also says the database answers, the exchange rates are
 * recent, the certificates stay valid long enough to renew them calmly, and the bank details are
 * the operator's own. The same checks are logged as warnings at start. A check is a named
 * function, so others (CRL freshness, a card desk) can be added to the list.
 */
import type { Clock, TrustStore } from "@peage/protocol";
import { DEMO_BANK, type OperatorBank } from "./config.js";
import { revocationReport } from "./crl-refresh.js";
import type { ServerIdentity } from "./data-dir.js";
import type { RateSource } from "./rates/rate-source.js";
import type { Store } from "./store/store.js";

export type CheckResult = { readonly ok: true; readonly detail: string } | { readonly ok: false; readonly detail: string };

export interface ReadinessCheck {
  /** A short stable name: database, rates, certificates, bank, … */
  readonly name: string;
  run(): Promise<CheckResult>;
}

/** Rates older than this are refused for readiness: the ECB publishes each TARGET2 day, and Easter closes four days in a row. */
export const DEFAULT_RATES_MAX_AGE_DAYS = 5;
/** A certificate that expires sooner than this makes the server not ready: time to renew it. */
export const CERTIFICATE_MARGIN_DAYS = 30;

const DAY_MS = 86_400_000;

export interface StandardCheckSources {
  readonly store: Store;
  readonly rates: RateSource;
  readonly identity: ServerIdentity;
  readonly trust: TrustStore;
  readonly clock: Clock;
  /** The operator's bank details; the bank check is left out when absent (an embedded server without settlement). */
  readonly bank?: OperatorBank;
  readonly ratesMaxAgeDays?: number;
}

export function standardChecks(sources: StandardCheckSources): ReadinessCheck[] {
  const { store, rates, identity, trust, clock } = sources;
  const maxAgeDays = sources.ratesMaxAgeDays ?? DEFAULT_RATES_MAX_AGE_DAYS;
  return [
    databaseCheck(store),
    ratesCheck(rates, clock, maxAgeDays),
    certificatesCheck(identity, trust, clock),
    revocationCheck(trust, clock),
    ...(sources.bank ? [bankCheck(sources.bank)] : []),
  ];
}

/** The database answers. */
function databaseCheck(store: Store): ReadinessCheck {
  return {
    name: "database",
    async run() {
      try {
        await store.ping();
        return { ok: true, detail: "answers" };
      } catch (error) {
        return { ok: false, detail: `does not answer: ${(error as Error).message}` };
      }
    },
  };
}

/** Exchange rates are loaded, and no older than `maxAgeDays`. */
function ratesCheck(rates: RateSource, clock: Clock, maxAgeDays: number): ReadinessCheck {
  return {
    name: "rates",
    async run() {
      const table = rates.current();
      if (!table)
        return { ok: false, detail: "no exchange rates loaded: install the ECB's file (peage fx import) and send SIGHUP" };
      const ageDays = Math.floor((clock.now().getTime() - Date.parse(`${table.date}T00:00:00Z`)) / DAY_MS);
      if (ageDays > maxAgeDays) {
        const what = `the rates of ${table.date} are ${ageDays} days old (more than ${maxAgeDays})`;
        return { ok: false, detail: `${what}: import the ECB's current file (peage fx import) and send SIGHUP` };
      }
      return { ok: true, detail: `${table.date}, ${ageDays} day(s) old` };
    },
  };
}

/** The server's certificate and the trusted roots stay valid for CERTIFICATE_MARGIN_DAYS at least. */
function certificatesCheck(identity: ServerIdentity, trust: TrustStore, clock: Clock): ReadinessCheck {
  return {
    name: "certificates",
    async run() {
      const now = clock.now().getTime();
      const soon: string[] = [];
      const days = (notAfter: Date) => Math.floor((notAfter.getTime() - now) / DAY_MS);
      const check = (name: string, notAfter: Date) => {
        if (days(notAfter) <= CERTIFICATE_MARGIN_DAYS) soon.push(`${name} (${days(notAfter)} days left)`);
      };
      check("the server's certificate", identity.notAfter);
      for (const root of trust.roots) check(`the root ${root.subject}`, root.notAfter);
      if (soon.length > 0) {
        return {
          ok: false,
          detail: `expiring within ${CERTIFICATE_MARGIN_DAYS} days: ${soon.join("; ")}: renew them (docs/operations.md, key rotation)`,
        };
      }
      return { ok: true, detail: `the server's certificate is valid for ${days(identity.notAfter)} more days` };
    },
  };
}

/** The revocation lists the policy needs are fresh. */
function revocationCheck(trust: TrustStore, clock: Clock): ReadinessCheck {
  return {
    name: "revocation",
    async run() {
      // A stale CRL refuses every payment whose chain it covers (503): not ready either.
      const report = revocationReport(trust, clock.now());
      const listed = report.crls
        .map((crl) => `${crl.issuer} until ${crl.nextUpdate ?? "?"}${crl.stale ? " (stale)" : ""}`)
        .join("; ");
      if (report.fresh)
        return {
          ok: true,
          detail: `policy ${report.policy}; ${report.crls.length === 0 ? "no CRL installed, nothing is checked" : listed}`,
        };
      const why =
        report.crls.length === 0 ? `policy ${report.policy} and no CRL installed` : `policy ${report.policy}; ${listed}`;
      return {
        ok: false,
        detail: `${why}: payments it covers are refused; publish a newer CRL where crlSources points, or in the data directory's crls/`,
      };
    },
  };
}

/** The bank details are the operator's, not the demonstration values. */
function bankCheck(bank: OperatorBank): ReadinessCheck {
  return {
    name: "bank",
    async run() {
      const demo = bank.iban === DEMO_BANK.iban || bank.creditorId === DEMO_BANK.creditorId || bank.name.includes("DEMO VALUES");
      return demo
        ? {
            ok: false,
            detail: 'the bank details are the demonstration values: set "bank" in server.json to the operator\'s account',
          }
        : { ok: true, detail: `${bank.name}, ${bank.iban.slice(0, 4)}…` };
    },
  };
}

export interface Readiness {
  readonly ready: boolean;
  readonly checks: readonly { readonly name: string; readonly ok: boolean; readonly detail: string }[];
}

/** Runs every check (a check that throws counts as failed). */
export async function runChecks(checks: readonly ReadinessCheck[]): Promise<Readiness> {
  const results = await Promise.all(
    checks.map(async (check) => {
      try {
        return { name: check.name, ...(await check.run()) };
      } catch (error) {
        return { name: check.name, ok: false, detail: `the check failed: ${(error as Error).message}` };
      }
    }),
  );
  return { ready: results.every((result) => result.ok), checks: results };
}
