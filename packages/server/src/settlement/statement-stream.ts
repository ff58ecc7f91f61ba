/**
 * Users' statements of a settled period, one user at a time: the period's transactions are read
 * from the store a page at a time in (user, position) order (Store.statementEntries), and each
 * user's statement is handed on as soon as the next user's first transaction shows it complete.
 * Memory holds one page and one user's statement, however many payments the period has.
 */
import type { Price } from "@peage/protocol";
import type { Statement, StatementLine } from "../statements/index.js";
import type { PeriodSums, SettlementRecord, StatementEntry, Store, UserRecord } from "../store/store.js";
import { price } from "./plan.js";

/** Transactions read per page: large enough that round trips do not count, small enough to be nothing in memory. */
export const STATEMENT_PAGE = 5000;

/** The statement of each user with a transaction (other than a collection) in the period, in user order. */
export async function* periodStatements(
  store: Store,
  sums: PeriodSums,
  settlement: SettlementRecord,
  pageSize = STATEMENT_PAGE,
): AsyncGenerator<Statement> {
  const users = new Map<string, UserRecord>(sums.users.map((u) => [u.id, u]));
  const before = new Map(sums.balancesBefore.map((b) => [`${b.account} ${b.currency}`, b.sum]));
  const collected = new Map(settlement.collections.map((c) => [c.user as string, c.amount]));
  const statementOf = (user: string, entries: readonly StatementEntry[]): Statement | undefined => {
    const record = users.get(user);
    return record && userStatement(record, sums.period, entries, before, collected.get(user));
  };
  let current: { user: string; entries: StatementEntry[] } | undefined;
  let after: { user: string; seq: number } | undefined;
  for (;;) {
    const page = await store.statementEntries(sums.period, after, pageSize);
    for (const entry of page) {
      const user = entry.transaction.user!;
      if (current?.user !== user) {
        const done = current && statementOf(current.user, current.entries);
        if (done) yield done;
        current = { user, entries: [] };
      }
      current.entries.push(entry);
      after = { user, seq: entry.transaction.seq };
    }
    if (page.length < pageSize) break;
  }
  const last = current && statementOf(current.user, current.entries);
  if (last) yield last;
}

function userStatement(
  user: UserRecord,
  period: string,
  entries: readonly StatementEntry[],
  before: ReadonlyMap<string, bigint>,
  toCollect: Price | undefined,
): Statement {
  const home = user.homeCurrency;
  const lines: StatementLine[] = [];
  let charged = 0n;
  let refunded = 0n;
  let fundsMoved = 0n;
  for (const { transaction: txn, payment } of entries) {
    for (const p of txn.postings) if (p.account === `funds/${user.id}`) fundsMoved += BigInt(p.amount);
    if ((txn.kind === "payment" || txn.kind === "refund") && payment) {
      // A refund gives back what its postings say: all of the charge, or the unused part of a
      // payment charged by use when it was settled (docs/protocol.md §3.12).
      const back = -txn.postings
        .filter((p) => p.account.endsWith(`/${user.id}`) && /^(funds|float|receivable)\//.test(p.account))
        .reduce((sum, p) => sum + BigInt(p.amount), 0n);
      if (txn.kind === "payment") charged += BigInt(payment.charged.amount);
      else refunded += back;
      lines.push({
        date: txn.createdAt.slice(0, 10),
        paymentId: payment.id,
        publisher: payment.publisher,
        description: `offer ${payment.offerHash}`,
        price: payment.price,
        charged: txn.kind === "payment" ? payment.charged : price(back, payment.charged.currency),
        ...(payment.price.currency === payment.charged.currency ? {} : { rate: payment.rate }),
        kind: txn.kind,
      });
    } else if (txn.kind === "topup" || txn.kind === "deposit") {
      const amount =
        txn.postings.find((p) => p.account === `${txn.kind === "topup" ? "funds" : "deposit"}/${user.id}`)?.amount ?? 0;
      const money = price(BigInt(-amount), home);
      lines.push({
        date: txn.createdAt.slice(0, 10),
        paymentId: txn.ref ?? txn.id,
        publisher: "",
        description: txn.kind === "topup" ? "prepaid top-up" : "deposit received",
        price: money,
        charged: money,
        kind: txn.kind,
      });
    }
  }
  const opening = -(before.get(`funds/${user.id} ${home}`) ?? 0n);
  return {
    period,
    user: { id: user.id, mode: user.mode, homeCurrency: home },
    lines,
    totals: {
      charged: price(charged, home),
      refunded: price(refunded, home),
      ...(user.mode === "postpaid"
        ? { toCollect: toCollect ?? price(0n, home) }
        : { openingBalance: price(opening, home), closingBalance: price(opening - fundsMoved, home) }),
    },
  };
}
