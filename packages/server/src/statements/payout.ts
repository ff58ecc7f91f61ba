/** A publisher's payout report for one period, as CSV and as an HTML page. */
import { formatPrice, type Price } from "@peage/protocol";
import { formatAmount } from "../bank/amount.js";
import { checkArray, checkOptionalPrice, checkOptionalString, checkPrice, checkString } from "./check.js";
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

/** What a line paid in the publisher's payout currency, when it was converted. */
interface CheckedConversion {
  paidAs: Price;
  rate: string;
  fromRate: string;
  toRate: string;
  rateDate: string;
  rateSource: string;
}

interface CheckedPayout {
  period: string;
  publisher: { id: string; name: string; country: string };
  lines: { currency: string; amounts: Record<AmountKey, Price>; conversion: CheckedConversion | undefined }[];
}

function checkConversion(line: PayoutLine, at: string): CheckedConversion | undefined {
  const paidAs = checkOptionalPrice(line.paidAs, `${at}.paidAs`);
  if (paidAs === undefined) return undefined;
  const text = (key: "rate" | "fromRate" | "toRate" | "rateDate" | "rateSource") =>
    checkOptionalString(line[key], `${at}.${key}`) ?? checkString(undefined, `${at}.${key}`);
  return {
    paidAs,
    rate: text("rate"),
    fromRate: text("fromRate"),
    toRate: text("toRate"),
    rateDate: text("rateDate"),
    rateSource: text("rateSource"),
  };
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
    return { currency, amounts, conversion: checkConversion(line, at) };
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
  // Empty unless the line was paid in the publisher's payout currency: the amount it came to, the rate (ten decimals) and its day.
  "paid_as_currency",
  "paid_as",
  "rate",
  "rate_date",
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
    ...(l.conversion === undefined
      ? ["", "", "", ""]
      : [l.conversion.paidAs.currency, formatAmount(l.conversion.paidAs), l.conversion.rate, l.conversion.rateDate]),
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
    conversionsHtml(p),
  ].join("\n");
  return htmlPage(`Payout report ${p.period} - ${p.publisher.name}`, body);
}

/** The conversions into the payout currency: each line's amount, what it came to, and the exact rates it was computed from. */
function conversionsHtml(p: CheckedPayout): string {
  const converted = p.lines.filter((l) => l.conversion !== undefined);
  if (converted.length === 0) return "";
  const head = ["Currency", "Paid", "Paid as", "Rate", "Table rates (per base unit)", "Rates of", "Source"];
  const rows = converted.map((l) => {
    const c = l.conversion!;
    const cells = [
      formatPrice(l.amounts.paid),
      formatPrice(c.paidAs),
      c.rate,
      `${c.fromRate} / ${c.toRate}`,
      c.rateDate,
      c.rateSource,
    ];
    return `<tr>${cell("th", l.currency, undefined, "row")}${cells.map((v) => cell("td", v)).join("")}</tr>`;
  });
  return [
    "<h2>Paid in the payout currency</h2>",
    "<p>Each amount converted at the exact table rates, rounded once, half away from zero, to the payout currency's minor unit.</p>",
    '<table class="conversions">',
    `<thead><tr>${head.map((h) => cell("th", h, undefined, "col")).join("")}</tr></thead>`,
    "<tbody>",
    ...rows,
    "</tbody>",
    "</table>",
  ].join("\n");
}
