/**
 * Books filled through the Store directly, without HTTP or signatures: the settlement and
 * property tests need many users, publishers and payments at chosen times, and what they test
 * (ledger, limits, settlement) starts where the payment's signature checks end.
 */
import {
  convert,
  partyId,
  price,
  rateTable,
  type CurrencyCode,
  type MinorUnits,
  type PartyId,
  type Price,
} from "@peage/protocol";
import { type PaymentRecord, type Store } from "../../src/index.js";
import { feeFor } from "../../src/ledger/ledger.js";
import { type PaymentOutcome, type SepaMandate } from "../../src/store/store.js";

export const TABLE = rateTable("EUR", "2026-03-02", { USD: "1.0845", JPY: "162.35", GBP: "0.8512", CHF: "0.9403" });

let counter = 0;
const unique = (prefix: string) => `${prefix}_${process.pid}_${++counter}`;

export class Books {
  constructor(
    readonly store: Store,
    /** The server's fee, basis points. */
    readonly feeBasisPoints = 0,
  ) {}

  async user(
    name: string,
    opts: { mode?: "prepaid" | "postpaid"; currency?: string; limit?: number; deposit?: number; mandate?: SepaMandate } = {},
  ): Promise<PartyId<"user">> {
    const id = partyId("user", name);
    const mode = opts.mode ?? "prepaid";
    const created = await this.store.createUser({
      id,
      publicKeyJwk: "{}",
      alg: "ES256",
      kid: unique("kid"),
      mode,
      homeCurrency: (opts.currency ?? "EUR") as CurrencyCode,
      monthlyLimit: mode === "postpaid" ? ((opts.limit ?? 1_000_000) as MinorUnits) : undefined,
      createdAt: "2026-01-01T00:00:00.000Z",
      ...(opts.deposit ? { depositRequired: opts.deposit as MinorUnits } : {}),
    });
    if (created.kind !== "created") throw new Error(`user ${name}: ${created.kind}`);
    if (opts.mandate) await this.store.setMandate(id, opts.mandate);
    return id;
  }

  async topUp(
    user: PartyId<"user">,
    amount: number,
    at = "2026-03-01T08:00:00.000Z",
    kind: "funds" | "deposit" = "funds",
  ): Promise<void> {
    const account = await this.store.getUser(user);
    const outcome = await this.store.topUp({
      id: unique("top"),
      user,
      kind,
      amount: amount as MinorUnits,
      currency: account!.homeCurrency,
      idempotencyKey: unique("key"),
      createdAt: at,
    });
    if (outcome.kind !== "credited") throw new Error(`top-up: ${outcome.kind}`);
  }

  /** A payment of `offered` by `user` to `publisher` at server time `at`, converted at TABLE. */
  async pay(
    user: PartyId<"user">,
    publisher: string,
    offered: Price,
    at: string,
    nonce = unique("nonce"),
  ): Promise<PaymentOutcome & { id: string }> {
    const account = await this.store.getUser(user);
    const charged = convert(offered, account!.homeCurrency, TABLE)!;
    const id = unique("pay");
    const record: PaymentRecord = {
      id,
      user,
      publisher: publisher as PartyId<"publisher">,
      offerHash: `hash-${id}`,
      price: offered,
      charged: charged.price,
      rate: charged.rate,
      rateDate: offered.currency === account!.homeCurrency ? undefined : TABLE.date,
      nonce,
      offerDate: at,
      serverTime: at,
      requestHash: `request-${id}`,
      acknowledgment: { type: "peage.acknowledgment", v: 1, acknowledgment: `ack-${id}` },
      fee: feeFor(offered, this.feeBasisPoints),
    };
    return { ...(await this.store.recordPayment(record)), id };
  }

  async refund(paymentId: string, at: string) {
    return this.store.refundPayment({ id: unique("ref"), paymentId, reason: "test refund", createdAt: at });
  }
}

export const eur = (amount: number) => price(amount, "EUR");
export const usd = (amount: number) => price(amount, "USD");
export const jpy = (amount: number) => price(amount, "JPY");

/** ECB reference rates XML (the layout of eurofxref-hist.xml) with these days, newest first as the ECB writes them. */
export function ecbXml(days: Readonly<Record<string, Readonly<Record<string, string>>>>): string {
  const cubes = Object.entries(days)
    .sort(([a], [b]) => (a < b ? 1 : -1))
    .map(
      ([date, rates]) =>
        `    <Cube time="${date}">${Object.entries(rates)
          .map(([currency, rate]) => `<Cube currency="${currency}" rate="${rate}"/>`)
          .join("")}</Cube>`,
    );
  return `<?xml version="1.0" encoding="UTF-8"?>
<gesmes:Envelope xmlns:gesmes="http://www.gesmes.org/xml/2002-08-01" xmlns="http://www.ecb.int/vocabulary/2002-08-01/eurofxref">
  <gesmes:subject>Reference rates</gesmes:subject>
  <gesmes:Sender><gesmes:name>European Central Bank</gesmes:name></gesmes:Sender>
  <Cube>
${cubes.join("\n")}
  </Cube>
</gesmes:Envelope>
`;
}
