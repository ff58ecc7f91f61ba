/** A card's account as the operator sees it (GET /v1/cards/{card}): the account, its log entries booked, pending reloads and incidents. */
import type { MinorUnits, Price } from "@peage/protocol";
import { int, json, minor, optInt, str } from "../store/operations/rows.js";
import { accountOf, type DeskContext } from "./context.js";
import type { CardAccountView } from "./messages.js";
import { all, get } from "./storage.js";

/** A card's account as the operator sees it. */
export async function viewOf(ctx: DeskContext, card: string): Promise<CardAccountView> {
  const account = await accountOf(ctx, card);
  const { entries, booked, reloads, incidents } = await ctx.db.read(function* () {
    const totals = yield* get(
      "SELECT COUNT(*) AS n, COALESCE(SUM(CASE WHEN booking IN ('recorded', 'duplicate') THEN price_minor ELSE 0 END), 0) AS booked FROM card_entries WHERE card = ?",
      account.card,
    );
    const reloadRows = yield* all(
      "SELECT * FROM card_reloads WHERE card = ? AND applied_at IS NULL ORDER BY created_at, id",
      account.card,
    );
    const incidentRows = yield* all("SELECT * FROM card_incidents WHERE card = ? ORDER BY id", account.card);
    return {
      entries: int(totals?.["n"] ?? 0, "the count of card_entries"),
      booked: minor(totals?.["booked"] ?? 0, "the sum of card_entries.price_minor"),
      reloads: reloadRows,
      incidents: incidentRows,
    };
  });
  const money = (amount: MinorUnits): Price => ({ amount, currency: account.currency });
  return {
    card: account.card,
    user: account.user,
    mode: account.mode,
    currency: account.currency,
    status: account.status,
    ...(account.blockedReason !== undefined && { blockedReason: account.blockedReason }),
    ...(account.ceiling !== undefined && { ceiling: money(account.ceiling) }),
    deposit: money(account.deposit),
    ...(account.mode === "prepaid" && { loaded: money(account.loaded) }),
    syncedCounter: account.syncedCounter,
    cardSeq: account.cardSeq,
    entries,
    booked: money(booked),
    pendingReloads: reloads.map((row) => ({
      id: str(row["id"], "card_reloads.id"),
      amount: money(minor(row["amount_minor"], "card_reloads.amount_minor")),
      ...(optInt(row["command_seq"]) !== undefined && { commandSeq: int(row["command_seq"], "card_reloads.command_seq") }),
    })),
    incidents: incidents.map((row) => ({
      id: int(row["id"], "card_incidents.id"),
      kind: str(row["kind"], "card_incidents.kind"),
      detail: json(row["detail"], "card_incidents.detail"),
      createdAt: str(row["created_at"], "card_incidents.created_at"),
    })),
    createdAt: account.createdAt,
    ...(account.lastSyncAt !== undefined && { lastSyncAt: account.lastSyncAt }),
  };
}
