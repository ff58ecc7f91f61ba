/**
 * `peage ledger verify --data DIR`: checks the payment server's double-entry ledger against the
 * invariants of docs/ledger.md (every transaction sums to zero in each currency, every stored
 * balance is the sum of its postings, one transaction per payment, closed periods untouched,
 * payouts and collections posted). Exit 0 when sound, 1 with ERR_LEDGER_BREACH otherwise.
 */
import type { LedgerAudit } from "@peage/server";
import type { Command, CommandGroup } from "../command.js";
import { bookOptions, openBooks } from "../books.js";
import { CommandError } from "../errors.js";
import { print, printJson } from "../output.js";

const verifyCommand: Command = {
  spec: {
    name: "ledger verify",
    title: "check the payment server's ledger: balanced transactions, balances equal to their postings",
    summary:
      "Check every invariant of the payment server's double-entry ledger (docs/ledger.md): each transaction's postings sum to zero in each currency, " +
      "each stored balance equals the sum of its account's postings, each payment has its one transaction, no transaction entered a period after it closed, " +
      "each payout and collection is posted. Prints what it checked and every breach; exits 1 (ERR_LEDGER_BREACH) if there is one.",
    synopsis: "--data DIR [--database-url URL] [--json]",
    options: { ...bookOptions, json: { type: "boolean", description: "print the audit as JSON on stdout" } },
  },
  async run(o) {
    const books = await openBooks(o);
    let audit: LedgerAudit;
    try {
      audit = await books.store.auditLedger();
    } finally {
      await books.store.close();
    }
    const checks = [
      [
        "BALANCED",
        "every transaction sums to zero in each currency",
        audit.unbalanced.map((u) => `${u.transaction}: ${u.sum} ${u.currency}`),
      ],
      [
        "BALANCES_ARE_SUMS",
        "every stored balance equals the sum of its postings",
        audit.balanceMismatches.map((b) => `${b.account}: stored ${b.stored}, postings say ${b.postings}`),
      ],
      [
        "ONE_TRANSACTION_PER_PAYMENT",
        "each payment and refund has its one transaction, for its amounts",
        audit.paymentMismatches.map((p) => `${p.payment}: ${p.problem}`),
      ],
      [
        "CLOSED_PERIODS_FROZEN",
        "no transaction entered a period after it closed",
        audit.lateTransactions.map((t) => `${t.transaction} in ${t.period}`),
      ],
      [
        "SETTLEMENTS_POSTED",
        "each payout and collection is posted, for its amount",
        audit.settlementMismatches.map((s) => `${s.id}: ${s.problem}`),
      ],
    ] as const;
    const breaches = checks.reduce((n, [, , found]) => n + found.length, 0);
    if (o.flag("json")) printJson({ database: books.where, ...audit, sound: breaches === 0 });
    else {
      print(`ledger of ${books.where}: ${audit.transactions} transactions, ${audit.postings} postings`);
      for (const [name, what, found] of checks) {
        print(`${found.length === 0 ? "ok    " : "BREACH"} ${name}: ${what}${found.length === 0 ? "" : ` (${found.length})`}`);
        for (const line of found.slice(0, 20)) print(`         ${line}`);
        if (found.length > 20) print(`         … and ${found.length - 20} more`);
      }
    }
    if (breaches > 0)
      throw new CommandError("ERR_LEDGER_BREACH", `${breaches} breach(es) of the ledger's invariants in ${books.where}`);
  },
};

export const ledger: CommandGroup = {
  name: "ledger",
  summary: "check the payment server's books",
  commands: [verifyCommand],
};
