/** What the store holds, counted (whether a first API key may still be made, tests), and a query that proves the database answers. */
import type { StoreCounts } from "../store.js";
import { get, type Logic } from "./operation.js";
import { int } from "./rows.js";

export function* counts(): Logic<StoreCounts> {
  const row = (yield* get(
    `SELECT (SELECT COUNT(*) FROM users) AS users, (SELECT COUNT(*) FROM topups) AS topups, (SELECT COUNT(*) FROM payments) AS payments,
            (SELECT COUNT(*) FROM refunds) AS refunds, (SELECT COUNT(*) FROM ledger_transactions) AS transactions,
            (SELECT COUNT(*) FROM postings) AS postings, (SELECT COUNT(*) FROM api_keys) AS api_keys`,
  ))!;
  return {
    users: int(row["users"]),
    topups: int(row["topups"]),
    payments: int(row["payments"]),
    refunds: int(row["refunds"]),
    transactions: int(row["transactions"]),
    postings: int(row["postings"]),
    apiKeys: int(row["api_keys"]),
  };
}

export function* ping(): Logic<void> {
  yield* get("SELECT 1 AS one");
}
