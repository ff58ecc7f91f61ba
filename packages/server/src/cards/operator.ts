/**
 * The operator's hold on the cards the desk issued (`peage admin cards | card | card-block |
 * card-unblock | card-ceiling`): the cards listed with their state and money, one card's usage log
 * as it was synced, a card blocked (its syncs and reloads refused, with the reason, until it is
 * unblocked) and a postpaid card's ceiling changed (sent to the card in its next SYNC). Each change
 * is an incident of the card's, so its history says who changed what and why.
 */
import type { MinorUnits, Price } from "@peage/protocol";
import { HttpProblem } from "../problems.js";
import { int, minor, str } from "../store/operations/rows.js";
import { accountOf, incident, nowOf, type DeskContext } from "./context.js";
import { checkAssurance } from "./forks.js";
import { toAccount } from "./records.js";
import { all, run } from "./storage.js";

/** A card in the operator's list. */
export interface CardSummary {
  readonly card: string;
  readonly user: string;
  readonly mode: "prepaid" | "postpaid";
  readonly status: "active" | "blocked";
  readonly blockedReason?: string;
  /** Prepaid: loaded (at issue and by reloads) less the payments synced. */
  readonly balance?: Price;
  readonly ceiling?: Price;
  readonly entries: number;
  readonly syncedCounter: number;
  readonly lastSyncAt?: string;
  readonly createdAt: string;
}

/** Up to `limit` cards after the card id `after`, in id order, of one status or all. */
export async function listCards(
  ctx: DeskContext,
  query: { readonly status?: "active" | "blocked"; readonly after?: string; readonly limit: number },
): Promise<{ cards: CardSummary[]; nextCursor?: string }> {
  const rows = await ctx.db.read(() =>
    all(
      `SELECT a.*, COUNT(e.counter) AS entries,
              COALESCE(SUM(CASE WHEN e.booking IN ('recorded', 'duplicate') THEN e.price_minor ELSE 0 END), 0) AS booked
         FROM card_accounts a LEFT JOIN card_entries e ON e.card = a.card
        WHERE a.card > ? ${query.status ? "AND a.status = ?" : ""}
        GROUP BY a.card ORDER BY a.card LIMIT ?`,
      query.after ?? "",
      ...(query.status ? [query.status] : []),
      query.limit + 1,
    ),
  );
  const cards = rows.slice(0, query.limit).map((row): CardSummary => {
    const account = toAccount(row);
    const money = (amount: number): Price => ({ amount: amount as MinorUnits, currency: account.currency });
    const booked = minor(row["booked"], "the sum of card_entries.price_minor");
    return {
      card: account.card,
      user: account.user,
      mode: account.mode,
      status: account.status,
      ...(account.blockedReason !== undefined && { blockedReason: account.blockedReason }),
      ...(account.mode === "prepaid" && { balance: money(account.loaded - booked) }),
      ...(account.ceiling !== undefined && { ceiling: money(account.ceiling) }),
      entries: int(row["entries"], "the count of card_entries"),
      syncedCounter: account.syncedCounter,
      ...(account.lastSyncAt !== undefined && { lastSyncAt: account.lastSyncAt }),
      createdAt: account.createdAt,
    };
  });
  return { cards, ...(rows.length > query.limit && { nextCursor: cards.at(-1)!.card }) };
}

/** One entry of a card's usage log, as the desk recorded it at a sync. */
export interface SyncedEntry {
  readonly counter: number;
  readonly paymentId: string;
  readonly publisher: string;
  readonly price: Price;
  /** What the ledger answered: recorded, duplicate, or why it did not book it. */
  readonly booking: string;
  readonly recordedAt: string;
}

/** Up to `limit` entries of the card's log after counter `after`, in counter order. */
export async function syncedEntries(
  ctx: DeskContext,
  card: string,
  query: { readonly after: number; readonly limit: number },
): Promise<{ card: string; entries: SyncedEntry[]; nextAfter?: number }> {
  const account = await accountOf(ctx, card);
  const rows = await ctx.db.read(() =>
    all(
      "SELECT * FROM card_entries WHERE card = ? AND counter > ? ORDER BY counter LIMIT ?",
      account.card,
      query.after,
      query.limit + 1,
    ),
  );
  const entries = rows.slice(0, query.limit).map((row): SyncedEntry => ({
    counter: int(row["counter"], "card_entries.counter"),
    paymentId: str(row["payment_id"], "card_entries.payment_id"),
    publisher: str(row["publisher"], "card_entries.publisher"),
    price: { amount: minor(row["price_minor"], "card_entries.price_minor"), currency: account.currency },
    booking: str(row["booking"], "card_entries.booking"),
    recordedAt: str(row["recorded_at"], "card_entries.recorded_at"),
  }));
  return { card: account.card, entries, ...(rows.length > query.limit && { nextAfter: entries.at(-1)!.counter }) };
}

/** Blocks an active card for `reason`: its syncs and reloads are refused, saying why, until it is unblocked. */
export async function blockCard(ctx: DeskContext, card: string, reason: string): Promise<void> {
  const account = await accountOf(ctx, card);
  const why = `blocked by the operator: ${reason}`;
  const at = nowOf(ctx);
  const blocked = await ctx.db.write(function* () {
    const changed = yield* run(
      "UPDATE card_accounts SET status = 'blocked', blocked_reason = ? WHERE card = ? AND status = 'active'",
      why,
      account.card,
    );
    if (changed === 1) yield* incident(account.card, "blocked", { reason }, at);
    return changed === 1;
  });
  if (!blocked)
    throw HttpProblem.of(
      "ERR_CONFLICT",
      `${account.card} is already blocked (${account.blockedReason ?? "no reason recorded"}): unblock it with peage admin card-unblock`,
    );
}

/** Sets a postpaid card's ceiling: what it may spend between two syncs, sent to the card in its next SYNC. */
export async function setCeiling(ctx: DeskContext, card: string, ceiling: number): Promise<void> {
  const account = await accountOf(ctx, card);
  if (account.mode !== "postpaid")
    throw HttpProblem.of(
      "ERR_CONFLICT",
      `${account.card} is prepaid: it has a balance, not a ceiling; top it up with peage admin card-reload`,
    );
  // A PC store's assurance level bounds its ceiling, as at registration.
  checkAssurance(account.chain[0]!, { ceiling });
  const at = nowOf(ctx);
  await ctx.db.write(function* () {
    yield* run("UPDATE card_accounts SET ceiling_minor = ? WHERE card = ?", ceiling, account.card);
    yield* incident(account.card, "ceiling", { from: account.ceiling ?? 0, to: ceiling }, at);
  });
}
