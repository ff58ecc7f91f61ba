/**
 * `peage publisher sales | earnings | payouts`: what a publisher reads about itself at the payment
 * server with its own API key (peage admin publisher-key makes one). The sales come page by page
 * from a cursor that never skips a sale committed late: keep the last page's cursor to read only
 * what came since.
 */
import { formatPrice, type Price } from "@peage/protocol";
import type { Options, OptionSpec } from "../args.js";
import type { Command, CommandGroup } from "../command.js";
import { print, printJson } from "../output.js";
import { apiClientOf, SERVER_URL_ENV } from "./admin.js";

/** Where the publisher's key comes from when --key-file is not given. */
export const PUBLISHER_KEY_ENV = "PEAGE_PUBLISHER_KEY";

const connection: Record<string, OptionSpec> = {
  server: { type: "string", value: "URL", description: `the payment server (default $${SERVER_URL_ENV})` },
  "key-file": {
    type: "string",
    value: "FILE",
    description: `the file holding the publisher's API key (default: the key in $${PUBLISHER_KEY_ENV})`,
  },
  json: { type: "boolean", description: "print the server's answer as JSON" },
};

const publisherApi = (o: Options) =>
  apiClientOf(o, {
    env: PUBLISHER_KEY_ENV,
    missing: `the publisher's API key is needed: give --key-file FILE or set ${PUBLISHER_KEY_ENV} (the operator makes it with \`peage admin publisher-key\`)`,
  });

interface Spec {
  readonly name: string;
  readonly title: string;
  readonly summary: string;
  readonly synopsis: string;
  readonly options: Record<string, OptionSpec>;
  path(o: Options): string;
  show(answer: unknown): void;
}

function command(spec: Spec): Command {
  return {
    spec: {
      name: `publisher ${spec.name}`,
      title: spec.title,
      summary: spec.summary,
      synopsis: [spec.synopsis, "[--server URL] [--key-file FILE] [--json]"].filter(Boolean).join(" "),
      options: { ...spec.options, ...connection },
    },
    async run(o) {
      const answer = await (await publisherApi(o)).call("GET", spec.path(o));
      if (o.flag("json")) printJson(answer);
      else spec.show(answer);
    },
  };
}

interface Sale {
  paymentId: string;
  price: Price;
  serverTime: string;
  refund?: { refundId: string };
}

const sales = command({
  name: "sales",
  title: "list the publisher's sales",
  summary:
    "List the publisher's sales in the order the server recorded them, a page at a time. The answer ends with the cursor " +
    "to give next time: from it come the sales recorded since, however late their transaction committed.",
  synopsis: "[--cursor CURSOR] [--limit N]",
  options: {
    cursor: { type: "string", value: "CURSOR", description: "where to start: the cursor the previous page gave" },
    limit: { type: "string", value: "N", description: "at most N sales (1 to 500, default 100)" },
  },
  path(o) {
    const query = new URLSearchParams({ limit: String(o.integer("limit", 1, 500, 100)) });
    const cursor = o.string("cursor");
    if (cursor !== undefined) {
      if (!/^[A-Za-z0-9_-]{1,32}$/.test(cursor)) throw o.usage(`--cursor ${cursor}: give the cursor a previous page printed`);
      query.set("cursor", cursor);
    }
    return `/v1/publisher/sales?${query}`;
  },
  show(answer) {
    const page = answer as { sales: Sale[]; nextCursor: string };
    for (const s of page.sales)
      print(`${s.serverTime}  ${s.paymentId}  ${formatPrice(s.price)}${s.refund ? `  refunded (${s.refund.refundId})` : ""}`);
    print(`${page.sales.length === 0 ? "no new sales; " : ""}next: --cursor ${page.nextCursor}`);
  },
});

interface Earning {
  period: string;
  currency: string;
  earned: string;
  payments: number;
  refunded: string;
  refunds: number;
  net: string;
  paidOut: string;
}

const minor = (amount: string, currency: string) => {
  const value = BigInt(amount);
  const shown = formatPrice({ amount: Number(value < 0n ? -value : value), currency } as Price);
  return value < 0n ? `-${shown}` : shown;
};

const earnings = command({
  name: "earnings",
  title: "show the publisher's earnings per period and currency",
  summary: "Per month and currency: earned (the server's fee deducted), refunded, net, and paid out by settlements.",
  synopsis: "[--period YYYY-MM]",
  options: { period: { type: "string", value: "YYYY-MM", description: "one month only" } },
  path(o) {
    const period = o.string("period");
    if (period !== undefined && !/^\d{4}-(0[1-9]|1[0-2])$/.test(period)) throw o.usage(`--period ${period}: expected YYYY-MM`);
    return `/v1/publisher/earnings${period === undefined ? "" : `?period=${period}`}`;
  },
  show(answer) {
    const rows = (answer as { earnings: Earning[] }).earnings;
    if (rows.length === 0) print("no earnings yet");
    for (const e of rows)
      print(
        `${e.period}  ${e.currency}  earned ${minor(e.earned, e.currency)} (${e.payments})  refunded ${minor(e.refunded, e.currency)} ` +
          `(${e.refunds})  net ${minor(e.net, e.currency)}  paid out ${minor(e.paidOut, e.currency)}`,
      );
  },
});

interface Payouts {
  payouts: {
    id: string;
    period: string;
    amount: Price;
    executionDate: string;
    conversion?: { source: string; date: string; lines: { from: Price; to: Price; rate: string }[] };
  }[];
  settlements: {
    period: string;
    lines: { currency: string; carriedIn: Price; paid: Price; carriedOut: Price; paidAs?: Price; rate?: string }[];
    holds: { currency: string; reason: string; detail?: string }[];
  }[];
}

const payouts = command({
  name: "payouts",
  title: "list the publisher's payouts and carry-overs",
  summary:
    "The transfers made to the publisher by each settlement, and per settlement what was carried in from earlier periods " +
    "and carried out to the next (an amount below the minimum, no bank account: peage admin publisher sets it, or no exchange rate " +
    "for a payout currency: peage fx import loads them). A payout in the publisher's payout currency lists each currency earned, " +
    "what it came to and the rate.",
  synopsis: "",
  options: {},
  path: () => "/v1/publisher/payouts",
  show(answer) {
    const { payouts: made, settlements } = answer as Payouts;
    for (const p of made) {
      print(`${p.period}  ${p.id}  ${formatPrice(p.amount)}  on ${p.executionDate}`);
      // A payout in the payout currency: each currency earned, what it came to and at which rate (the table's day and source).
      for (const l of p.conversion?.lines ?? [])
        print(`    ${formatPrice(l.from)} → ${formatPrice(l.to)} at ${l.rate} (${p.conversion!.date}, ${p.conversion!.source})`);
    }
    for (const s of settlements)
      for (const line of s.lines) {
        const hold = s.holds.find((h) => h.currency === line.currency);
        print(
          `${s.period}  ${line.currency}  carried in ${formatPrice(line.carriedIn)}  paid ${formatPrice(line.paid)}  carried out ` +
            `${formatPrice(line.carriedOut)}${line.paidAs ? ` paid as ${formatPrice(line.paidAs)}` : ""}` +
            `${hold ? ` (${hold.reason}${hold.detail ? `: ${hold.detail}` : ""})` : ""}`,
        );
      }
    if (made.length === 0 && settlements.length === 0) print("no settlement has paid or carried anything yet");
  },
});

export const publisher: CommandGroup = {
  name: "publisher",
  summary: "a publisher's own sales, earnings and payouts, with its API key",
  commands: [sales, earnings, payouts],
};
