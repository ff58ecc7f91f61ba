/**
 * The store's operations, written once for both databases (in operations/, one module per part of
 * the books). Each operation is a generator that yields the SQL it needs (`?` placeholders, SQL
 * understood by SQLite and PostgreSQL alike) and receives the rows; the driver (driver.ts) runs it
 * inside one database transaction: synchronously on SQLite (better-sqlite3, so a transaction never
 * yields to the event loop), asynchronously on PostgreSQL (one pooled connection per transaction).
 * The logic decides; the drivers only carry queries. Row values are parsed at the edge
 * (operations/rows.ts): a corrupt row is a StoreRowError, never a value typed as what it is not.
 *
 * Locking (docs/ledger.md, "Concurrency"): every operation that posts to the ledger first takes
 * the ledger lock in shared mode, and closing a period takes it exclusively, so a period is closed
 * between transactions, never during one. A payment, top-up or refund then locks its user's row
 * (SELECT ... FOR UPDATE on PostgreSQL; SQLite's BEGIN IMMEDIATE holds the one write lock), which
 * makes the balance and limit checks exact under any concurrency. Publishers' credits are
 * appended postings: no payment updates a row shared with payments of other users.
 */
export type { Logic, Op, Row } from "./operations/operation.js";
export { big, int, StoreRowError } from "./operations/rows.js";
export { toPayment } from "./operations/records.js";
export {
  createUser,
  getUser,
  monthBounds,
  monthlyUsage,
  replaceUserKey,
  setMandate,
  setMonthlyLimit,
  setStatus,
} from "./operations/users.js";
export { CLOSED_PERIODS_FROM, ledgerTransactions, withPostings } from "./operations/postings.js";
export { cardFloat, loadCard, topUp } from "./operations/funds.js";
export { findPaymentByNonce, getPayment, listPayments, recordPayment } from "./operations/payments.js";
export { refundPayment } from "./operations/refunds.js";
export { settleUsage } from "./operations/usage-settlements.js";
export { getPublisher, listPublishers, putPublisher } from "./operations/publishers.js";
export { importRates, latestRateDay, ratesOn } from "./operations/reference-rates.js";
export {
  accountSums,
  closedPeriods,
  closePeriod,
  periodActivity,
  periodBalances,
  periodsWithTransactions,
} from "./operations/periods.js";
export { getSettlement, recordSettlement } from "./operations/settlements.js";
export { auditLedger } from "./operations/audit.js";
export { findApiKeyByHash, insertApiKey, listApiKeys, revokeApiKey, rotateApiKey } from "./operations/api-keys.js";
export { rememberRequestNonce } from "./operations/request-nonces.js";
export { counts, ping } from "./operations/counts.js";
/** Accounts.* re-exported for the drivers' tests. */
export { Accounts } from "../ledger/ledger.js";
