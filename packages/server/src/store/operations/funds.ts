/**
 * Money onto a user's account: top-ups of a prepaid balance, postpaid deposits, and loads of a
 * prepaid balance onto the user's card (the card float, docs/ledger.md "card-load").
 */
import { minorUnits } from "@peage/protocol";
import { Accounts, cardLoadPostings, topupPostings } from "../../ledger/ledger.js";
import type { CardLoadOutcome, CardLoadRecord, TopupOutcome, TopupRecord } from "../store.js";
import { get, ledgerLock, run, type Logic } from "./operation.js";
import { post } from "./postings.js";
import { toTopup } from "./records.js";
import { big } from "./rows.js";
import { getUser, lockedAccount } from "./users.js";

export function* topUp(topup: TopupRecord): Logic<TopupOutcome> {
  const kind = topup.kind ?? "funds";
  yield* ledgerLock();
  const user = yield* lockedAccount(topup.user);
  const existing = yield* get("SELECT * FROM topups WHERE idempotency_key = ?", topup.idempotencyKey);
  if (existing) {
    const previous = toTopup(existing);
    if (
      previous.user !== topup.user ||
      previous.amount !== topup.amount ||
      previous.currency !== topup.currency ||
      previous.kind !== kind
    )
      return { kind: "key-conflict", topup: previous };
    const current = (yield* getUser(topup.user))!;
    return { kind: "repeated", topup: previous, balance: kind === "funds" ? current.balance : current.deposit };
  }
  if (!user) return { kind: "unknown-user" };
  if (kind === "funds" && user.mode !== "prepaid") return { kind: "not-prepaid" };
  if (kind === "deposit" && user.mode !== "postpaid") return { kind: "not-postpaid" };
  const balance = (kind === "funds" ? user.balance : user.deposit) + topup.amount;
  if (!Number.isSafeInteger(balance)) return { kind: "balance-overflow" };
  yield* run(
    "INSERT INTO topups (id, user_id, amount_minor, currency, idempotency_key, created_at, kind) VALUES (?, ?, ?, ?, ?, ?, ?)",
    topup.id,
    topup.user,
    topup.amount,
    topup.currency,
    topup.idempotencyKey,
    topup.createdAt,
    kind,
  );
  yield* post({
    id: `txn_${topup.id}`,
    kind: kind === "funds" ? "topup" : "deposit",
    createdAt: topup.createdAt,
    user: topup.user,
    ref: topup.id,
    postings: topupPostings(topup.user, kind, { amount: topup.amount, currency: topup.currency }),
  });
  return { kind: "credited", topup: { ...topup, kind }, balance: minorUnits(balance) };
}

/** −Σ of a user's card float postings in a currency: what the books say the user's cards hold. */
export function* floatOf(user: string, currency: string): Logic<bigint> {
  const row = yield* get(
    "SELECT COALESCE(SUM(amount), 0) AS total FROM postings WHERE account = ? AND currency = ?",
    Accounts.float(user),
    currency,
  );
  return -big(row?.["total"] ?? 0);
}

export function* cardFloat(user: string, currency: string): Logic<number> {
  return Number(yield* floatOf(user, currency));
}

export function* loadCard(load: CardLoadRecord): Logic<CardLoadOutcome> {
  yield* ledgerLock();
  const user = yield* lockedAccount(load.user);
  const id = `txn_${load.id}`;
  if (yield* get("SELECT 1 AS one FROM ledger_transactions WHERE id = ?", id)) return { kind: "repeated" };
  if (!user) return { kind: "unknown-user" };
  if (user.mode !== "prepaid") return { kind: "not-prepaid" };
  if (user.balance < load.amount) return { kind: "insufficient-funds", balance: user.balance };
  yield* post({
    id,
    kind: "card-load",
    createdAt: load.createdAt,
    user: load.user,
    ref: load.ref,
    postings: cardLoadPostings(load.user, { amount: load.amount, currency: load.currency }),
  });
  return { kind: "loaded" };
}
