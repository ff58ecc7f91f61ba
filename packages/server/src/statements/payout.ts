/** A publisher's payout report for one period, as CSV and as an HTML page. */
import { formatPrice, type Price } from "@peage/protocol";
import { formatAmount } from "../bank/amount.js";
import { checkArray, checkPrice, checkString } from "./check.js";
import { csvDocument } from "./csv.js";
import { cell, escapeHtml, htmlPage } from "./html.js";
import { StatementError, type PayoutLine, type PublisherPayout } from "./types.js";

const COLUMNS = [
  ["earned", "earned", "Earned"],
  ["carriedIn", "carried_in", "Carried in"],
  ["refunded", "refunded", "Refunded"],
  ["payable", "payable", "Payable"],
  ["paid", "paid", "Paid"],
  ["carriedOut", "carried_out", "Carried out"],
] as const;

type AmountKey = (typeof COLUMNS)[number][0];

interface CheckedPayout {
  period: string;
  publisher: { id: string; name: string; country: string };
  lines: { currency: string; amounts: Record<AmountKey, Price> }[];
}

function checkPayout(payout: PublisherPayout): CheckedPayout {
  if (typeof payout !== "object" || payout === null) throw new StatementError("payout", "must be an object");
  const publisher = (payout.publisher ?? {}) as Partial<PublisherPayout["publisher"]>;
  const lines = checkArray(payout.lines, "lines").map((raw, i) => {
    const at = `lines[${i}]`;
    if (typeof raw !== "object" || raw === null) throw new StatementError(at, "must be an object");
    const line = raw as PayoutLine;
    const currency = checkString(line.currency, `${at}.currency`);
    const amounts = {} as Record<AmountKey, Price>;
    for (const [key] of COLUMNS) {
      const price = checkPrice(line[key], `${at}.${key}`);
      // One line per currency: an amount in another currency would be printed under the wrong heading.
      if (price.currency !== currency)
        throw new StatementError(`${at}.${key}.currency`, `is ${price.currency}, the line is in ${currency}`);
      amounts[key] = price;
    }
    return { currency, amounts };
  });
  return {
    period: checkString(payout.period, "period"),
    publisher: {
      id: checkString(publisher.id, "publisher.id"),
      name: checkString(publisher.name, "publisher.name"),
      country: checkString(publisher.country, "publisher.country"),
    },
    lines,
  };
}

export const PAYOUT_CSV_HEADER = [
  "period",
  "publisher_id",
  "publisher_name",
  "publisher_country",
  "currency",
  ...COLUMNS.map(([, csvName]) => csvName),
] as const;

/** The payout report as RFC 4180 CSV: one record per currency, amounts as decimal strings with the currency's exponent. */
export function renderPayoutCsv(payout: PublisherPayout): string {
  const p = checkPayout(payout);
  const rows = p.lines.map((l) => [
    p.period,
    p.publisher.id,
    p.publisher.name,
    p.publisher.country,
    l.currency,
    ...COLUMNS.map(([key]) => formatAmount(l.amounts[key])),
  ]);
  return csvDocument(PAYOUT_CSV_HEADER, rows);
}

/** The payout report as a self-contained HTML page. */
export function renderPayoutHtml(payout: PublisherPayout): string {
  const p = checkPayout(payout);
  const facts = [
    ["Publisher", `${p.publisher.name} (${p.publisher.id})`],
    ["Country", p.publisher.country],
    ["Period", p.period],
  ]
    .map(([k, v]) => `<dt>${escapeHtml(k as string)}</dt><dd>${escapeHtml(v as string)}</dd>`)
    .join("");
  const table =
    p.lines.length === 0
      ? '<p class="empty">Nothing earned or carried in this period.</p>'
      : [
          '<table class="payout">',
          `<thead><tr>${cell("th", "Currency", undefined, "col")}${COLUMNS.map(([, , label]) => cell("th", label, "amount", "col")).join("")}</tr></thead>`,
          "<tbody>",
          ...p.lines.map(
            (l) =>
              `<tr>${cell("th", l.currency, undefined, "row")}${COLUMNS.map(([key]) => cell("td", formatPrice(l.amounts[key]), "amount")).join("")}</tr>`,
          ),
          "</tbody>",
          "</table>",
        ].join("\n");
  const body = [
    `<header><h1>Payout report ${escapeHtml(p.period)}</h1><p class="subtitle">${escapeHtml(p.publisher.name)}</p></header>`,
    `<dl class="facts">${facts}</dl>`,
    "<h2>Amounts by currency</h2>",
    table,
  ].join("\n");
  return htmlPage(`Payout report ${p.period} - ${p.publisher.name}`, body);
}
