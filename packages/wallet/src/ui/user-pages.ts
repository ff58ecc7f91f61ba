/**
 * What the user's own pages show, as JSON (the page formats it) and for `peage wallet history |
 * balance | statement --json`: the wallet's history merged with the payment server's record of
 * the user's payments (a signed GET /v1/me/payments), each acknowledgment checked again offline;
 * the account's balance or limit; a month's statement with the offers' descriptions, which only
 * the wallet knows (the server keeps their hashes).
 *
 * Amounts travel as integer minor units with their decimal text, never as floats.
 */
import { formatPrice, isCurrencyCode, isPlainObject, type Price } from "@peage/protocol";
import { WalletError } from "../errors.js";
import type { HistoryEntry } from "../history.js";
import { mandateOfPayments } from "../mandates/server-api.js";
import type { Wallet } from "../wallet.js";

/** A price for a page: the exact minor units, and the same as a decimal string ("0.50"). */
export interface Amount {
  readonly amount: number;
  readonly currency: string;
  readonly decimal: string;
}

export interface HistoryLine {
  readonly id?: number;
  readonly date: string;
  readonly description?: string;
  readonly publisher: string;
  readonly offerId?: string;
  readonly price: Amount;
  readonly charged?: Amount;
  readonly paymentId?: string;
  readonly consent?: HistoryEntry["consent"];
  /** consent "auto": the rule that let it through. */
  readonly rule?: string;
  readonly outcome: HistoryEntry["outcome"];
  readonly errorCode?: string;
  /** paid lines: the acknowledgment verified again now, offline; "absent" for older records without it. */
  readonly acknowledgment?: "verified" | "invalid" | "absent";
  /** Whether the payment server lists the payment ("unknown" when it could not be asked). */
  readonly atServer?: boolean | "unknown";
  /** The mandate under which an agent made this payment (docs/protocol.md §16), when one did. */
  readonly mandate?: string;
  /** A payment charged by use, as the server settled it: `charged` above was the maximum's charge. */
  readonly usage?: UsageLine;
  /** The payment was refunded: what it gave back, and when. */
  readonly refunded?: { readonly amount: Amount; readonly date: string };
}

/** A settled payment charged by use (an upto offer, a metered session): what was consented, used, paid and given back. */
export interface UsageLine {
  readonly maximum: Amount;
  readonly used: Amount;
  /** What the user pays for what was used. */
  readonly charged: Amount;
  /** What went back to the user. */
  readonly returned: Amount;
  readonly ticks?: number;
}

export interface HistoryPage {
  readonly lines: HistoryLine[];
  /** Why the server's records are missing, when they are. */
  readonly serverError?: string;
}

/** One of the user's money movements at the server (GET /v1/me/transactions), signed towards the user. */
interface ServerTransaction {
  readonly kind: string;
  readonly createdAt: string;
  readonly period: string;
  readonly paymentId?: string;
  readonly currency: string;
  readonly change: number;
  readonly funds: number;
}

interface ServerPayment {
  readonly paymentId: string;
  readonly publisher: string;
  readonly price: Price;
  readonly charged: Price;
  readonly serverTime: string;
  /** Checked where it is read (isUsage): a malformed one is left out, not the payment. */
  readonly usage?: unknown;
}

interface ServerUsage {
  readonly maximum: Price;
  readonly used: Price;
  readonly charged: Price;
  readonly returned: Price;
  readonly ticks?: number;
}

/** The server's settlement of a payment, as a line shows it. */
function usageOf(p: ServerPayment | undefined): { usage?: UsageLine } {
  if (!isUsage(p?.usage)) return {};
  const { maximum, used, charged, returned, ticks } = p.usage;
  const line = { maximum: amountOf(maximum), used: amountOf(used), charged: amountOf(charged), returned: amountOf(returned) };
  return { usage: ticks === undefined ? line : { ...line, ticks } };
}

export function amountOf(p: Price): Amount {
  return { amount: p.amount, currency: p.currency, decimal: formatPrice(p).split(" ")[0]! };
}

export class UserPages {
  constructor(private readonly wallet: Wallet) {}

  /** The wallet's records (newest first) merged with the server's list of payments. */
  async history(limit = 500): Promise<HistoryPage> {
    const entries = this.wallet.history.list(limit);
    const server = await this.#serverPayments().then(
      (payments) => ({ payments }),
      (error: unknown) => ({ error: error instanceof Error ? error.message : String(error) }),
    );
    const byId = "payments" in server ? new Map(server.payments.map((p) => [p.paymentId, p])) : undefined;
    const lines: HistoryLine[] = [];
    for (const entry of entries) {
      const line = await this.#line(entry);
      const served = entry.paymentId === undefined ? undefined : byId?.get(entry.paymentId);
      const atServer = entry.paymentId === undefined ? undefined : byId ? byId.delete(entry.paymentId) : ("unknown" as const);
      lines.push({ ...line, ...(atServer === undefined ? {} : { atServer }), ...usageOf(served) });
    }
    // Payments the server lists that this wallet did not make (another device, a card synced later).
    for (const p of byId?.values() ?? []) {
      lines.push({
        date: p.serverTime,
        publisher: p.publisher,
        price: amountOf(p.price),
        charged: amountOf(p.charged),
        paymentId: p.paymentId,
        outcome: "paid",
        atServer: true,
        ...usageOf(p),
      });
    }
    lines.sort((a, b) => (a.date < b.date ? 1 : a.date > b.date ? -1 : 0));
    const byMandate = await mandateOfPayments(this.wallet).catch(() => new Map<string, string>());
    const refunds = refundsOf(await this.#serverTransactions().catch(() => []));
    for (const [i, line] of lines.entries()) {
      const mandate = line.paymentId === undefined ? undefined : byMandate.get(line.paymentId);
      const refunded = line.paymentId === undefined ? undefined : refunds.get(line.paymentId);
      lines[i] = { ...line, ...(mandate !== undefined && { mandate }), ...(refunded && { refunded }) };
    }
    return { lines, ...("error" in server ? { serverError: server.error } : {}) };
  }

  /** The message 3 of one paid history entry, as the server signed it, for download. */
  acknowledgment(id: number): unknown {
    const entry = Number.isSafeInteger(id) ? this.wallet.history.get(id) : undefined;
    if (!entry?.acknowledgmentMessage)
      throw new WalletError("ERR_NOT_FOUND", "no acknowledgment is kept for this history entry", 404, false);
    return JSON.parse(entry.acknowledgmentMessage) as unknown;
  }

  /** The account at the payment server: balance (prepaid) or limit and use this month (postpaid). */
  async account(): Promise<Record<string, unknown>> {
    const account = await this.wallet.serverRecords("/v1/me");
    if (!isPlainObject(account))
      throw new WalletError("ERR_SERVER_UNAVAILABLE", "the payment server's account record is not an object", 502, true);
    const pick = (name: string) => (isPrice(account[name]) ? { [name]: amountOf(account[name]) } : {});
    const limit = account["monthlyLimit"];
    const used = account["usedThisMonth"];
    return {
      user: account["user"],
      mode: account["mode"],
      status: account["status"],
      homeCurrency: account["homeCurrency"],
      ...pick("balance"),
      ...pick("monthlyLimit"),
      ...pick("usedThisMonth"),
      ...(isPrice(limit) && isPrice(used)
        ? { leftThisMonth: amountOf({ amount: Math.max(0, limit.amount - used.amount), currency: limit.currency } as Price) }
        : {}),
    };
  }

  /** One month (YYYY-MM, UTC) of the server's payments, with the descriptions the wallet kept, and totals per currency. */
  async statement(period: string): Promise<Record<string, unknown>> {
    if (!/^\d{4}-(0[1-9]|1[0-2])$/.test(period))
      throw new WalletError("ERR_BAD_REQUEST", `the period must be YYYY-MM, got ${JSON.stringify(period)}`, 400, false);
    const payments = (await this.#serverPayments()).filter((p) => p.serverTime.slice(0, 7) === period);
    const described = new Map(this.wallet.history.list(10_000).flatMap((e) => (e.paymentId ? [[e.paymentId, e] as const] : [])));
    const totals = new Map<string, number>();
    // A settled payment charged by use costs what was used, not the maximum first charged.
    const paid = (p: ServerPayment) => (isUsage(p.usage) ? p.usage.charged : p.charged);
    for (const p of payments) totals.set(paid(p).currency, (totals.get(paid(p).currency) ?? 0) + paid(p).amount);
    const transactions = await this.#serverTransactions();
    const refunds = refundsOf(transactions);
    return {
      period,
      user: this.wallet.config.user,
      lines: payments.map((p) => {
        const refunded = refunds.get(p.paymentId);
        return {
          paymentId: p.paymentId,
          date: p.serverTime,
          publisher: p.publisher,
          description: described.get(p.paymentId)?.description ?? null,
          price: amountOf(p.price),
          charged: amountOf(paid(p)),
          ...usageOf(p),
          ...(refunded && { refunded }),
        };
      }),
      totals: [...totals].map(([currency, amount]) => amountOf({ amount, currency } as Price)),
      ...(await this.#balances(period, transactions, described)),
    };
  }

  /**
   * A prepaid account's month: the balance it opened and closed with (sums of the balance's
   * movements before and through the month), and its top-ups and refunds, each a line.
   */
  async #balances(
    period: string,
    transactions: readonly ServerTransaction[],
    described: ReadonlyMap<string, HistoryEntry>,
  ): Promise<Record<string, unknown>> {
    const account = await this.wallet.serverRecords("/v1/me");
    if (!isPlainObject(account) || account["mode"] !== "prepaid" || !isCurrencyCode(account["homeCurrency"])) return {};
    const home = account["homeCurrency"];
    const funds = (list: readonly ServerTransaction[]) =>
      list.filter((t) => t.currency === home).reduce((sum, t) => sum + t.funds, 0);
    const opening = funds(transactions.filter((t) => t.period < period));
    const month = transactions.filter((t) => t.period === period);
    const money = (amount: number) => amountOf({ amount, currency: home } as Price);
    return {
      openingBalance: money(opening),
      closingBalance: money(opening + funds(month)),
      movements: month
        .filter((t) => t.kind === "topup" || t.kind === "refund")
        .map((t) => ({
          kind: t.kind,
          date: t.createdAt,
          amount: amountOf({ amount: t.change, currency: t.currency } as Price),
          ...(t.paymentId !== undefined && { paymentId: t.paymentId }),
          ...(t.paymentId !== undefined && { description: described.get(t.paymentId)?.description ?? null }),
        })),
    };
  }

  async #line(entry: HistoryEntry): Promise<HistoryLine> {
    let acknowledgment: HistoryLine["acknowledgment"];
    if (entry.outcome === "paid") {
      acknowledgment =
        entry.offerMessage && entry.acknowledgmentMessage
          ? (await this.wallet
              .acknowledgmentVerifies(entry.offerMessage, entry.acknowledgmentMessage, at(entry))
              .catch(() => false))
            ? "verified"
            : "invalid"
          : "absent";
    }
    return {
      id: entry.id,
      date: entry.serverTime ?? entry.decidedAt,
      description: entry.description,
      publisher: entry.publisher,
      offerId: entry.offerId,
      price: amountOf(entry.price),
      ...(entry.charged ? { charged: amountOf(entry.charged) } : {}),
      ...(entry.paymentId ? { paymentId: entry.paymentId } : {}),
      consent: entry.consent,
      ...(entry.rule ? { rule: entry.rule } : {}),
      outcome: entry.outcome,
      ...(entry.errorCode ? { errorCode: entry.errorCode } : {}),
      ...(acknowledgment ? { acknowledgment } : {}),
    };
  }

  /** Every money movement the server lists for the user, oldest first (following its pages). */
  async #serverTransactions(): Promise<ServerTransaction[]> {
    const all: ServerTransaction[] = [];
    let after: number | undefined;
    for (let page = 0; page < 100; page++) {
      const value = await this.wallet.serverRecords(
        `/v1/me/transactions?limit=500${after === undefined ? "" : `&after=${after}`}`,
      );
      if (!isPlainObject(value) || !Array.isArray(value["transactions"]))
        throw new WalletError("ERR_SERVER_UNAVAILABLE", "the payment server's list of transactions is malformed", 502, true);
      for (const t of value["transactions"]) if (isServerTransaction(t)) all.push(t);
      after = Number.isSafeInteger(value["nextAfter"]) ? (value["nextAfter"] as number) : undefined;
      if (after === undefined) break;
    }
    return all;
  }

  /** Every payment the server lists for the user, oldest first (following its pages). */
  async #serverPayments(): Promise<ServerPayment[]> {
    const all: ServerPayment[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < 100; page++) {
      const value = await this.wallet.serverRecords(
        `/v1/me/payments?limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`,
      );
      if (!isPlainObject(value) || !Array.isArray(value["payments"]))
        throw new WalletError("ERR_SERVER_UNAVAILABLE", "the payment server's list of payments is malformed", 502, true);
      for (const p of value["payments"]) if (isServerPayment(p)) all.push(p);
      cursor = typeof value["nextCursor"] === "string" ? value["nextCursor"] : undefined;
      if (!cursor) break;
    }
    return all;
  }
}

/** When a paid entry is judged: at its server time, else when the wallet decided it. */
function at(entry: HistoryEntry): Date {
  return new Date(entry.serverTime ?? entry.decidedAt);
}

function isPrice(value: unknown): value is Price {
  return isPlainObject(value) && Number.isSafeInteger(value["amount"]) && typeof value["currency"] === "string";
}

/** Payment id → what its refund gave back and when. */
function refundsOf(transactions: readonly ServerTransaction[]): Map<string, { amount: Amount; date: string }> {
  const refunds = new Map<string, { amount: Amount; date: string }>();
  for (const t of transactions)
    if (t.kind === "refund" && t.paymentId !== undefined && t.change >= 0)
      refunds.set(t.paymentId, { amount: amountOf({ amount: t.change, currency: t.currency } as Price), date: t.createdAt });
  return refunds;
}

function isServerTransaction(value: unknown): value is ServerTransaction {
  return (
    isPlainObject(value) &&
    typeof value["kind"] === "string" &&
    typeof value["createdAt"] === "string" &&
    typeof value["period"] === "string" &&
    (value["paymentId"] === undefined || typeof value["paymentId"] === "string") &&
    isCurrencyCode(value["currency"]) &&
    Number.isSafeInteger(value["change"]) &&
    Number.isSafeInteger(value["funds"])
  );
}

function isServerPayment(value: unknown): value is ServerPayment {
  return (
    isPlainObject(value) &&
    typeof value["paymentId"] === "string" &&
    typeof value["publisher"] === "string" &&
    typeof value["serverTime"] === "string" &&
    isPrice(value["price"]) &&
    isPrice(value["charged"])
  );
}

function isUsage(value: unknown): value is ServerUsage {
  return (
    isPlainObject(value) &&
    isPrice(value["maximum"]) &&
    isPrice(value["used"]) &&
    isPrice(value["charged"]) &&
    isPrice(value["returned"]) &&
    (value["ticks"] === undefined || Number.isSafeInteger(value["ticks"]))
  );
}
