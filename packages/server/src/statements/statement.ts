/** A user's statement for one period, as CSV and as an HTML page. */
import { formatPrice, type Price } from "@peage/protocol";
import { formatAmount } from "../bank/amount.js";
import { checkArray, checkOneOf, checkOptionalPrice, checkOptionalString, checkPrice, checkString } from "./check.js";
import { csvDocument } from "./csv.js";
import { cell, escapeHtml, htmlPage } from "./html.js";
import { StatementError, StatementLineKinds, type Statement, type StatementLine, type StatementLineKind } from "./types.js";

const TOTALS = [
  ["openingBalance", "opening_balance", "Opening balance"],
  ["charged", "charged", "Charged"],
  ["refunded", "refunded", "Refunded"],
  ["toCollect", "to_collect", "To collect"],
  ["closingBalance", "closing_balance", "Closing balance"],
] as const;

const KIND_LABELS: Readonly<Record<StatementLineKind, string>> = {
  payment: "Payment",
  refund: "Refund",
  topup: "Top-up",
  deposit: "Deposit",
};

interface CheckedStatement {
  period: string;
  user: { id: string; name: string | undefined; mode: "prepaid" | "postpaid"; homeCurrency: string };
  lines: StatementLine[];
  totals: { key: (typeof TOTALS)[number][0]; csvName: string; label: string; price: Price }[];
}

/** Checks every value before anything is written, so a bad statement fails whole rather than rendering half. */
function checkStatement(statement: Statement): CheckedStatement {
  if (typeof statement !== "object" || statement === null) throw new StatementError("statement", "must be an object");
  const user = (statement.user ?? {}) as Partial<Statement["user"]>;
  const lines = checkArray(statement.lines, "lines").map((raw, i): StatementLine => {
    const at = `lines[${i}]`;
    if (typeof raw !== "object" || raw === null) throw new StatementError(at, "must be an object");
    const line = raw as StatementLine;
    const description = checkOptionalString(line.description, `${at}.description`);
    const rate = checkOptionalString(line.rate, `${at}.rate`);
    return {
      date: checkString(line.date, `${at}.date`),
      paymentId: checkString(line.paymentId, `${at}.paymentId`),
      publisher: checkString(line.publisher, `${at}.publisher`),
      ...(description === undefined ? {} : { description }),
      price: checkPrice(line.price, `${at}.price`),
      charged: checkPrice(line.charged, `${at}.charged`),
      ...(rate === undefined ? {} : { rate }),
      kind: checkOneOf(line.kind, StatementLineKinds, `${at}.kind`),
    };
  });
  const totals = (statement.totals ?? {}) as Partial<Statement["totals"]>;
  const checkedTotals: CheckedStatement["totals"] = [];
  for (const [key, csvName, label] of TOTALS) {
    const price =
      key === "charged" || key === "refunded"
        ? checkPrice(totals[key], `totals.${key}`)
        : checkOptionalPrice(totals[key], `totals.${key}`);
    if (price !== undefined) checkedTotals.push({ key, csvName, label, price });
  }
  return {
    period: checkString(statement.period, "period"),
    user: {
      id: checkString(user.id, "user.id"),
      name: checkOptionalString(user.name, "user.name"),
      mode: checkOneOf(user.mode, ["prepaid", "postpaid"] as const, "user.mode"),
      homeCurrency: checkString(user.homeCurrency, "user.homeCurrency"),
    },
    lines,
    totals: checkedTotals,
  };
}

export const STATEMENT_CSV_HEADER = [
  "period",
  "record",
  "date",
  "kind",
  "payment_id",
  "publisher",
  "description",
  "price",
  "price_currency",
  "charged",
  "charged_currency",
  "rate",
] as const;

/**
 * The statement as RFC 4180 CSV: one "line" record per statement line, in the statement's order,
 * then one "total" record per total present (kind = opening_balance, charged, refunded,
 * to_collect, closing_balance; amount in the charged columns). Amounts are decimal strings with
 * the currency's ISO 4217 exponent.
 */
export function renderStatementCsv(statement: Statement): string {
  const s = checkStatement(statement);
  const rows = s.lines.map((l) => [
    s.period,
    "line",
    l.date,
    l.kind,
    l.paymentId,
    l.publisher,
    l.description ?? "",
    formatAmount(l.price),
    l.price.currency,
    formatAmount(l.charged),
    l.charged.currency,
    l.rate ?? "",
  ]);
  for (const t of s.totals)
    rows.push([s.period, "total", "", t.csvName, "", "", "", "", "", formatAmount(t.price), t.price.currency, ""]);
  return csvDocument(STATEMENT_CSV_HEADER, rows);
}

/** The statement as a self-contained HTML page. */
export function renderStatementHtml(statement: Statement): string {
  const s = checkStatement(statement);
  const who = s.user.name === undefined ? s.user.id : `${s.user.name} (${s.user.id})`;
  const facts = [
    ["Account", s.user.id],
    ["Period", s.period],
    ["Mode", s.user.mode === "prepaid" ? "Prepaid" : "Postpaid"],
    ["Home currency", s.user.homeCurrency],
  ]
    .map(([k, v]) => `<dt>${escapeHtml(k as string)}</dt><dd>${escapeHtml(v as string)}</dd>`)
    .join("");
  const totals = s.totals
    .map(
      (t) =>
        `<tr${t.key === "toCollect" || t.key === "closingBalance" ? ' class="emphasis"' : ""}>${cell("th", t.label, undefined, "row")}${cell("td", formatPrice(t.price), "amount")}</tr>`,
    )
    .join("\n");
  const header = ["Date", "Type", "Payment", "Publisher", "Description", "Price", "Rate", "Charged"];
  const amountColumns = new Set(["Price", "Rate", "Charged"]);
  const lines =
    s.lines.length === 0
      ? '<p class="empty">No transactions in this period.</p>'
      : [
          '<table class="lines">',
          `<thead><tr>${header.map((h) => cell("th", h, amountColumns.has(h) ? "amount" : undefined, "col")).join("")}</tr></thead>`,
          "<tbody>",
          ...s.lines.map(
            (l) =>
              `<tr class="kind-${l.kind}">${[
                cell("td", l.date),
                cell("td", KIND_LABELS[l.kind]),
                cell("td", l.paymentId),
                cell("td", l.publisher),
                cell("td", l.description ?? ""),
                cell("td", formatPrice(l.price), "amount"),
                cell("td", l.rate ?? "", "amount"),
                cell("td", formatPrice(l.charged), "amount"),
              ].join("")}</tr>`,
          ),
          "</tbody>",
          "</table>",
        ].join("\n");
  const body = [
    `<header><h1>Statement ${escapeHtml(s.period)}</h1><p class="subtitle">${escapeHtml(who)}</p></header>`,
    `<dl class="facts">${facts}</dl>`,
    "<h2>Summary</h2>",
    `<table class="totals"><tbody>\n${totals}\n</tbody></table>`,
    "<h2>Transactions</h2>",
    lines,
  ].join("\n");
  return htmlPage(`Statement ${s.period} - ${who}`, body);
}
