/**
 * A publisher's self-service, with its own API key (peage admin publisher-key makes one): its
 * sales as a feed with a stable cursor, its earnings per period and currency, and its payouts
 * with what each settlement carried over. A publisher key reads its own publisher's data and
 * nothing else; no operator endpoint accepts it (api-keys.ts).
 */
import { Type, type FastifyPluginAsyncTypebox } from "@fastify/type-provider-typebox";
import { PriceSchema, type PartyId } from "@peage/protocol";
import { authorizePublisher } from "../api-keys.js";
import type { RouteContext } from "../app.js";
import { HttpProblem } from "../problems.js";
import { CurrencySchema, PageQuerySchema, PublisherIdSchema, problemResponses } from "../schemas.js";
import type { SettlementDetails } from "../settlement/settle.js";
import type { Store } from "../store/store.js";

const security = [{ publisherKey: [] }];
const tags = ["publisher"];
const PeriodSchema = Type.String({ pattern: "^\\d{4}-(0[1-9]|1[0-2])$", description: "a calendar month, YYYY-MM (UTC)" });
const MinorString = Type.String({ pattern: "^-?\\d{1,20}$", description: "minor units of the currency, as a decimal string" });

const SaleSchema = Type.Object(
  {
    paymentId: Type.String(),
    offerHash: Type.String(),
    price: PriceSchema,
    nonce: Type.String(),
    offerDate: Type.String(),
    serverTime: Type.String(),
    refund: Type.Optional(Type.Object({ refundId: Type.String(), createdAt: Type.String() }, { additionalProperties: false })),
  },
  { additionalProperties: false },
);
const SalesPageSchema = Type.Object(
  {
    publisher: PublisherIdSchema,
    sales: Type.Array(SaleSchema),
    nextCursor: Type.String({ description: "where the next page starts: pass it as cursor, also to poll for sales to come" }),
  },
  { additionalProperties: false },
);
const EarningsSchema = Type.Object(
  {
    publisher: PublisherIdSchema,
    earnings: Type.Array(
      Type.Object(
        {
          period: PeriodSchema,
          currency: CurrencySchema,
          earned: MinorString,
          payments: Type.Integer(),
          refunded: MinorString,
          refunds: Type.Integer(),
          net: MinorString,
          paidOut: MinorString,
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
const CarrySchema = Type.Object(
  {
    currency: CurrencySchema,
    earned: PriceSchema,
    carriedIn: PriceSchema,
    refunded: PriceSchema,
    payable: PriceSchema,
    paid: PriceSchema,
    carriedOut: PriceSchema,
    // When the line was paid in the publisher's payout currency: what it came to, at which rates.
    paidAs: Type.Optional(PriceSchema),
    rate: Type.Optional(Type.String({ description: "payout currency per unit of this one, ten decimals, for reading" })),
    fromRate: Type.Optional(Type.String({ description: "this currency per base unit, exactly as in the rate table" })),
    toRate: Type.Optional(Type.String({ description: "the payout currency per base unit, exactly as in the rate table" })),
    rateDate: Type.Optional(Type.String()),
    rateSource: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
/** How a payout in the publisher's payout currency was made (store.ts, PayoutConversion). */
const ConversionSchema = Type.Object(
  {
    source: Type.String(),
    date: Type.String(),
    base: CurrencySchema,
    rounding: Type.String({ description: "each line rounded once, half away from zero, to the payout currency's minor unit" }),
    lines: Type.Array(
      Type.Object(
        { from: PriceSchema, to: PriceSchema, fromRate: Type.String(), toRate: Type.String(), rate: Type.String() },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
const PayoutsSchema = Type.Object(
  {
    publisher: PublisherIdSchema,
    payouts: Type.Array(
      Type.Object(
        {
          id: Type.String(),
          period: PeriodSchema,
          amount: PriceSchema,
          sepa: Type.Boolean(),
          executionDate: Type.String(),
          conversion: Type.Optional(ConversionSchema),
        },
        { additionalProperties: false },
      ),
    ),
    settlements: Type.Array(
      Type.Object(
        {
          period: PeriodSchema,
          lines: Type.Array(CarrySchema),
          holds: Type.Array(
            Type.Object(
              { currency: CurrencySchema, amount: MinorString, reason: Type.String(), detail: Type.Optional(Type.String()) },
              { additionalProperties: false },
            ),
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

/** A cursor names the position of the last sale of a page (publisher-logic.ts); opaque to clients. */
export const encodeSalesCursor = (position: number) => Buffer.from(`s${position}`, "utf8").toString("base64url");
function decodeSalesCursor(cursor: string | undefined): number {
  if (cursor === undefined) return 0;
  const match = /^s(\d{1,15})$/.exec(Buffer.from(cursor, "base64url").toString("utf8"));
  if (!match)
    throw HttpProblem.of("ERR_BAD_REQUEST", "cursor is not a sales cursor: pass nextCursor from the previous page unchanged");
  return Number(match[1]);
}

/** A page of the publisher's sales after `after`, giving committed sales their positions first if some have none. */
export async function salesPage(store: Store, publisher: PartyId<"publisher">, after: number, limit: number) {
  if (await store.runExtension("hasUnassignedSales", publisher)) await store.runExtension("assignSales", publisher);
  return store.runExtension("salesAfter", publisher, after, limit);
}

export const publisherRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  const { store } = ctx;
  const own = (request: Parameters<typeof authorizePublisher>[1]) => authorizePublisher(store, request, "publisher:read");

  app.get(
    "/v1/publisher/sales",
    {
      schema: {
        summary: "The publisher's sales, in a feed whose cursor never skips a payment committed late",
        description:
          "Each payment to the publisher takes the next position in its feed once committed, so a page ends at a position " +
          "after which every sale to come will appear, however late its transaction commits. The last page's nextCursor " +
          "is where new sales will start: keep it to poll.",
        tags,
        security,
        querystring: Type.Object(PageQuerySchema, { additionalProperties: false }),
        response: { 200: SalesPageSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { publisher } = await own(request);
      const after = decodeSalesCursor(request.query.cursor);
      const sales = await salesPage(store, publisher, after, request.query.limit ?? 100);
      return {
        publisher,
        sales: sales.map(({ position: _position, ...sale }) => sale),
        nextCursor: encodeSalesCursor(sales.at(-1)?.position ?? after),
      };
    },
  );

  app.get(
    "/v1/publisher/earnings",
    {
      schema: {
        summary: "The publisher's earnings per period and currency: earned (fee deducted), refunded, net, paid out",
        tags,
        security,
        querystring: Type.Object({ period: Type.Optional(PeriodSchema) }, { additionalProperties: false }),
        response: { 200: EarningsSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { publisher } = await own(request);
      const rows = await store.runExtension("earnings", publisher, request.query.period);
      return {
        publisher,
        earnings: rows.map((row) => ({
          ...row,
          earned: row.earned.toString(),
          refunded: row.refunded.toString(),
          net: row.net.toString(),
          paidOut: row.paidOut.toString(),
        })),
      };
    },
  );

  app.get(
    "/v1/publisher/payouts",
    {
      schema: {
        summary: "The publisher's payouts, and per settlement what was carried in and out (held payouts, their reasons)",
        tags,
        security,
        response: { 200: PayoutsSchema, ...problemResponses },
      },
    },
    async (request) => {
      const { publisher } = await own(request);
      const { payouts, settlements } = await store.runExtension("payoutsOf", publisher);
      return {
        publisher,
        payouts: payouts.map(({ conversion, ...payout }) => ({
          ...payout,
          ...(conversion === undefined ? {} : { conversion: { ...conversion, lines: [...conversion.lines] } }),
        })),
        settlements: settlements.flatMap(({ details }) => carries(details, publisher)),
      };
    },
  );
};

/** This publisher's lines and holds in one settlement's recorded details; none when it had nothing there. */
function carries(detailsJson: string, publisher: string) {
  const details = JSON.parse(detailsJson) as SettlementDetails;
  const lines = details.publishers.find((entry) => entry.publisher.id === publisher)?.lines ?? [];
  const holds = details.holds
    .filter((hold) => hold.publisher === publisher)
    .map(({ currency, amount, reason, detail }) => ({ currency, amount, reason, ...(detail === undefined ? {} : { detail }) }));
  if (lines.length === 0 && holds.length === 0) return [];
  return [{ period: details.period, lines: lines.map((line) => ({ ...line })), holds }];
}
