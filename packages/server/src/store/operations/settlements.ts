/**
 * A closed period's settlement, recorded once: its payouts to publishers and collections from
 * postpaid users, each posted to the ledger as it is recorded.
 */
import { collectionPostings, convertedPayoutPostings, payoutPostings } from "../../ledger/ledger.js";
import { StoreStateError, type SettlementRecord } from "../store.js";
import { all, get, ledgerLock, run, type Logic } from "./operation.js";
import { post } from "./postings.js";
import { toCollection, toPayout } from "./records.js";
import { str } from "./rows.js";

export function* getSettlement(period: string): Logic<SettlementRecord | undefined> {
  const row = yield* get("SELECT * FROM settlements WHERE period = ?", period);
  if (!row) return undefined;
  const payouts = (yield* all("SELECT * FROM payouts WHERE period = ? ORDER BY publisher, currency", period)).map(toPayout);
  const collections = (yield* all("SELECT * FROM collections WHERE period = ? ORDER BY user_id, currency", period)).map(
    toCollection,
  );
  return {
    period,
    createdAt: str(row["created_at"], "settlements.created_at"),
    executionDate: str(row["execution_date"], "settlements.execution_date"),
    collectionDate: str(row["collection_date"], "settlements.collection_date"),
    details: str(row["details"], "settlements.details"),
    payouts,
    collections,
  };
}

export function* recordSettlement(s: SettlementRecord): Logic<{ kind: "recorded" | "existing"; settlement: SettlementRecord }> {
  yield* ledgerLock();
  const existing = yield* getSettlement(s.period);
  if (existing) return { kind: "existing", settlement: existing };
  if (!(yield* get("SELECT period FROM closed_periods WHERE period = ?", s.period))) {
    throw new StoreStateError("ERR_PERIOD_OPEN", `period ${s.period} is not closed: close it before recording its settlement`);
  }
  yield* run(
    "INSERT INTO settlements (period, created_at, execution_date, collection_date, details) VALUES (?, ?, ?, ?, ?)",
    s.period,
    s.createdAt,
    s.executionDate,
    s.collectionDate,
    s.details,
  );
  for (const payout of s.payouts) {
    yield* run(
      "INSERT INTO payouts (id, period, publisher, currency, amount_minor, creditor, sepa, conversion) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      payout.id,
      s.period,
      payout.publisher,
      payout.amount.currency,
      payout.amount.amount,
      JSON.stringify(payout.creditor),
      payout.sepa ? 1 : 0,
      payout.conversion === undefined ? null : JSON.stringify(payout.conversion),
    );
    yield* post({
      id: `txn_${payout.id}`,
      kind: "payout",
      createdAt: s.createdAt,
      publisher: payout.publisher,
      ref: payout.id,
      postings:
        payout.conversion === undefined
          ? payoutPostings(payout.publisher, payout.amount)
          : convertedPayoutPostings(payout.publisher, payout.amount, payout.conversion.lines),
    });
  }
  for (const collection of s.collections) {
    yield* run(
      "INSERT INTO collections (id, period, user_id, currency, amount_minor, method, mandate) VALUES (?, ?, ?, ?, ?, ?, ?)",
      collection.id,
      s.period,
      collection.user,
      collection.amount.currency,
      collection.amount.amount,
      collection.method,
      collection.mandate ? JSON.stringify(collection.mandate) : null,
    );
    yield* post({
      id: `txn_${collection.id}`,
      kind: "collection",
      createdAt: s.createdAt,
      user: collection.user,
      ref: collection.id,
      postings: collectionPostings(collection.user, collection.amount),
    });
  }
  return { kind: "recorded", settlement: (yield* getSettlement(s.period))! };
}
