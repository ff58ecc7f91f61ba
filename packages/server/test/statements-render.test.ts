/** User statements and publisher payout reports: RFC 4180 CSV and self-contained HTML. */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { price, type Price } from "@peage/protocol";
import {
  PAYOUT_CSV_HEADER,
  renderPayoutCsv,
  renderPayoutHtml,
  renderStatementCsv,
  renderStatementHtml,
  STATEMENT_CSV_HEADER,
  StatementError,
  type PublisherPayout,
  type Statement,
} from "../src/statements/index.js";

function statement(): Statement {
  return {
    period: "2025-11",
    user: { id: "user-42", name: 'Zoë <Admin> "Q" O\'Neil', mode: "postpaid", homeCurrency: "EUR" },
    lines: [
      {
        date: "2025-11-03",
        paymentId: "pay-1",
        publisher: "Quest Games",
        description: "Level pack",
        price: price(499, "EUR"),
        charged: price(499, "EUR"),
        kind: "payment",
      },
      {
        date: "2025-11-04",
        paymentId: "pay-2",
        publisher: "Tokyo Soft",
        price: price(1250, "JPY"),
        charged: price(771, "EUR"),
        rate: "162.15",
        kind: "payment",
      },
      {
        date: "2025-11-05",
        paymentId: "pay-3",
        publisher: "Gulf Apps",
        description: '=HYPERLINK("http://evil","x")',
        price: price(1250, "BHD"),
        charged: price(2865, "EUR"),
        rate: "0.43630",
        kind: "payment",
      },
      {
        date: "2025-11-06",
        paymentId: "pay-1",
        publisher: "Quest Games",
        description: '+1 refund, "partial"\r\nsecond line',
        price: price(499, "EUR"),
        charged: price(499, "EUR"),
        kind: "refund",
      },
      {
        date: "2025-11-07",
        paymentId: "dep-1",
        publisher: "@Peage",
        description: "-deposit",
        price: price(2000, "EUR"),
        charged: price(2000, "EUR"),
        kind: "deposit",
      },
    ],
    totals: {
      charged: price(4135, "EUR"),
      refunded: price(499, "EUR"),
      toCollect: price(3636, "EUR"),
      openingBalance: price(0, "EUR"),
      closingBalance: price(3636, "EUR"),
    },
  };
}

function payout(): PublisherPayout {
  return {
    period: "2025-11",
    publisher: { id: "pub-7", name: "Tokyo <Soft> & Co", country: "JP" },
    lines: [
      {
        currency: "JPY",
        earned: price(125_000, "JPY"),
        carriedIn: price(300, "JPY"),
        refunded: price(1_250, "JPY"),
        payable: price(124_050, "JPY"),
        paid: price(124_050, "JPY"),
        carriedOut: price(0, "JPY"),
      },
      {
        currency: "BHD",
        earned: price(1_255, "BHD"),
        carriedIn: price(0, "BHD"),
        refunded: price(0, "BHD"),
        payable: price(1_255, "BHD"),
        paid: price(0, "BHD"),
        carriedOut: price(1_255, "BHD"),
      },
    ],
  };
}

/** An RFC 4180 reader, strict: every record ends with CRLF, quoted fields only (as the renderer writes them). */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let i = 0;
  while (i < text.length) {
    const record: string[] = [];
    for (;;) {
      assert.equal(text[i], '"', `field at ${i} is quoted`);
      let value = "";
      i++;
      for (;;) {
        const c = text[i];
        assert.ok(c !== undefined, "unterminated field");
        if (c === '"') {
          if (text[i + 1] === '"') {
            value += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        value += c;
        i++;
      }
      record.push(value);
      if (text[i] === ",") {
        i++;
        continue;
      }
      assert.equal(text.slice(i, i + 2), "\r\n", `record ends with CRLF at ${i}`);
      i += 2;
      break;
    }
    records.push(record);
  }
  return records;
}

describe("statement CSV", () => {
  it("has a header row, CRLF records, and amounts with each currency's exponent", () => {
    const csv = renderStatementCsv(statement());
    const records = parseCsv(csv);
    assert.deepEqual(records[0], [...STATEMENT_CSV_HEADER]);
    assert.equal(records.length, 1 + 5 + 5);
    assert.ok(records.every((r) => r.length === STATEMENT_CSV_HEADER.length));
    assert.deepEqual(records[1], [
      "2025-11",
      "line",
      "2025-11-03",
      "payment",
      "pay-1",
      "Quest Games",
      "Level pack",
      "4.99",
      "EUR",
      "4.99",
      "EUR",
      "",
    ]);
    assert.deepEqual(records[2]?.slice(7), ["1250", "JPY", "7.71", "EUR", "162.15"]);
    assert.deepEqual(records[3]?.slice(7), ["1.250", "BHD", "28.65", "EUR", "0.43630"]);
    assert.deepEqual(
      records.slice(6).map((r) => [r[1], r[3], r[9], r[10]]),
      [
        ["total", "opening_balance", "0.00", "EUR"],
        ["total", "charged", "41.35", "EUR"],
        ["total", "refunded", "4.99", "EUR"],
        ["total", "to_collect", "36.36", "EUR"],
        ["total", "closing_balance", "36.36", "EUR"],
      ],
    );
  });

  it("neutralises formula injection and escapes quotes, commas and line breaks", () => {
    const records = parseCsv(renderStatementCsv(statement()));
    assert.equal(records[3]?.[6], `'=HYPERLINK("http://evil","x")`);
    assert.equal(records[4]?.[6], `'+1 refund, "partial"\r\nsecond line`);
    assert.equal(records[5]?.[5], "'@Peage");
    assert.equal(records[5]?.[6], "'-deposit");
    for (const record of records) for (const field of record) assert.doesNotMatch(field, /^[=+\-@\t\r]/);
  });

  it("leaves out absent totals and renders an empty statement", () => {
    const s = statement();
    const records = parseCsv(
      renderStatementCsv({ ...s, lines: [], totals: { charged: price(0, "EUR"), refunded: price(0, "EUR") } }),
    );
    assert.deepEqual(
      records.map((r) => r[3]),
      ["kind", "charged", "refunded"],
    );
  });

  it("neutralises any cell a spreadsheet could run, for any text", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), (publisher, description) => {
        const s = statement();
        const records = parseCsv(renderStatementCsv({ ...s, lines: [{ ...s.lines[0]!, publisher, description }] }));
        const [, , , , , p, d] = records[1]!;
        assert.equal(p, /^[=+\-@\t\r]/.test(publisher) ? `'${publisher}` : publisher);
        assert.equal(d, /^[=+\-@\t\r]/.test(description) ? `'${description}` : description);
      }),
      { numRuns: 300, seed: 4180 },
    );
  });

  it("refuses an amount that is not integer minor units, naming it", () => {
    const s = statement();
    const bad = { ...s, lines: [{ ...s.lines[0]!, charged: { amount: 4.99, currency: "EUR" } as unknown as Price }] };
    assert.throws(
      () => renderStatementCsv(bad),
      (e: unknown) => e instanceof StatementError && e.field === "lines[0].charged.amount" && e.code === "ERR_STATEMENT_INPUT",
    );
    const kind = { ...s, lines: [{ ...s.lines[0]!, kind: "gift" as "payment" }] };
    assert.throws(
      () => renderStatementHtml(kind),
      (e: unknown) => e instanceof StatementError && e.field === "lines[0].kind",
    );
    const total = { ...s, totals: { ...s.totals, refunded: { amount: 1, currency: "XXY" } as unknown as Price } };
    assert.throws(
      () => renderStatementCsv(total),
      (e: unknown) => e instanceof StatementError && e.field === "totals.refunded.currency",
    );
  });
});

describe("statement HTML", () => {
  it("is one self-contained page: no script, no external resource, a restrictive CSP", () => {
    const html = renderStatementHtml(statement());
    assert.ok(html.startsWith('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">'));
    assert.ok(html.endsWith("</html>\n"));
    assert.match(html, /<style>[\s\S]+<\/style>/);
    assert.match(html, /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/);
    assert.doesNotMatch(html, /<script|<link|<img|<iframe|\bsrc=|\bhref=|url\(/i);
  });

  it("escapes every value", () => {
    const html = renderStatementHtml(statement());
    assert.ok(html.includes('<p class="subtitle">Zoë &lt;Admin&gt; &quot;Q&quot; O&#39;Neil (user-42)</p>'));
    assert.ok(html.includes("<title>Statement 2025-11 - Zoë &lt;Admin&gt; &quot;Q&quot; O&#39;Neil (user-42)</title>"));
    assert.ok(html.includes("=HYPERLINK(&quot;http://evil&quot;,&quot;x&quot;)"));
    assert.doesNotMatch(html, /<Admin>/);
    const attack = renderStatementHtml({ ...statement(), period: "</title><script>alert(1)</script>" });
    assert.doesNotMatch(attack, /<script>/);
    assert.ok(attack.includes("&lt;/title&gt;&lt;script&gt;alert(1)&lt;/script&gt;"));
  });

  it("has a summary and one table row per line, with amounts and their currencies", () => {
    const html = renderStatementHtml(statement());
    const body = /<table class="lines">[\s\S]*?<tbody>([\s\S]*?)<\/tbody>/.exec(html)?.[1] ?? "";
    const rows = [...body.matchAll(/<tr class="kind-(\w+)">([\s\S]*?)<\/tr>/g)];
    assert.deepEqual(
      rows.map((r) => r[1]),
      ["payment", "payment", "payment", "refund", "deposit"],
    );
    const cells = [...(rows[1]?.[2] ?? "").matchAll(/<td[^>]*>([^<]*)<\/td>/g)].map((m) => m[1]);
    assert.deepEqual(cells, ["2025-11-04", "Payment", "pay-2", "Tokyo Soft", "", "1250 JPY", "162.15", "7.71 EUR"]);
    const totals = /<table class="totals">([\s\S]*?)<\/table>/.exec(html)?.[1] ?? "";
    assert.deepEqual(
      [...totals.matchAll(/<th scope="row">([^<]*)<\/th><td class="amount">([^<]*)<\/td>/g)].map((m) => `${m[1]}: ${m[2]}`),
      [
        "Opening balance: 0.00 EUR",
        "Charged: 41.35 EUR",
        "Refunded: 4.99 EUR",
        "To collect: 36.36 EUR",
        "Closing balance: 36.36 EUR",
      ],
    );
    for (const tag of [
      "html",
      "head",
      "body",
      "main",
      "table",
      "thead",
      "tbody",
      "tr",
      "td",
      "th",
      "dl",
      "dt",
      "dd",
      "h1",
      "h2",
      "header",
      "footer",
    ]) {
      const open = html.match(new RegExp(`<${tag}[\\s>]`, "g"))?.length ?? 0;
      const close = html.match(new RegExp(`</${tag}>`, "g"))?.length ?? 0;
      assert.equal(open, close, `<${tag}> balanced`);
    }
  });

  it("says so when there is nothing in the period", () => {
    const s = statement();
    const html = renderStatementHtml({ ...s, user: { id: "u", mode: "prepaid", homeCurrency: "EUR" }, lines: [] });
    assert.match(html, /No transactions in this period\./);
    assert.doesNotMatch(html, /<table class="lines">/);
  });

  it("is deterministic", () => {
    assert.equal(renderStatementHtml(statement()), renderStatementHtml(statement()));
    assert.equal(renderStatementCsv(statement()), renderStatementCsv(statement()));
  });
});

describe("payout report", () => {
  it("renders one CSV record per currency with exact amounts", () => {
    const records = parseCsv(renderPayoutCsv(payout()));
    assert.deepEqual(records, [
      [...PAYOUT_CSV_HEADER],
      ["2025-11", "pub-7", "Tokyo <Soft> & Co", "JP", "JPY", "125000", "300", "1250", "124050", "124050", "0", "", "", "", ""],
      [
        "2025-11",
        "pub-7",
        "Tokyo <Soft> & Co",
        "JP",
        "BHD",
        "1.255",
        "0.000",
        "0.000",
        "1.255",
        "0.000",
        "1.255",
        "",
        "",
        "",
        "",
      ],
    ]);
  });

  it("renders an escaped HTML page", () => {
    const html = renderPayoutHtml(payout());
    assert.ok(html.includes('<h1>Payout report 2025-11</h1><p class="subtitle">Tokyo &lt;Soft&gt; &amp; Co</p>'));
    assert.doesNotMatch(html, /<Soft>|<script/);
    const rows = [...html.matchAll(/<tr><th scope="row">([A-Z]{3})<\/th>((?:<td class="amount">[^<]*<\/td>)+)<\/tr>/g)];
    assert.deepEqual(
      rows.map((r) => r[1]),
      ["JPY", "BHD"],
    );
    assert.deepEqual(
      [...(rows[1]?.[2] ?? "").matchAll(/>([^<]+)</g)].map((m) => m[1]),
      ["1.255 BHD", "0.000 BHD", "0.000 BHD", "1.255 BHD", "0.000 BHD", "1.255 BHD"],
    );
  });

  it("neutralises formula injection in the publisher's name", () => {
    const p = payout();
    const records = parseCsv(renderPayoutCsv({ ...p, publisher: { ...p.publisher, name: "=cmd|' /C calc'!A0" } }));
    assert.equal(records[1]?.[2], "'=cmd|' /C calc'!A0");
  });

  it("refuses an amount in another currency than its line", () => {
    const p = payout();
    const bad = { ...p, lines: [{ ...p.lines[0]!, paid: price(10, "EUR") }] };
    assert.throws(
      () => renderPayoutCsv(bad),
      (e: unknown) => e instanceof StatementError && e.field === "lines[0].paid.currency",
    );
  });
});
