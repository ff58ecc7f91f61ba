/**
 * The operator's API for money after the payment: refunds (a payment's ledger transaction
 * reversed, once) and the publishers the server pays, with their bank details.
 */
import { Type, type FastifyPluginAsyncTypebox, type Static } from "@fastify/type-provider-typebox";
import { newId, type PartyId } from "@peage/protocol";
import type { RouteContext } from "../app.js";
import { checkBankName, isCountryCode } from "../bank/index.js";
import { HttpProblem } from "../problems.js";
import {
  PaymentParamsSchema,
  problemResponses,
  PublisherParamsSchema,
  PublisherRequestSchema,
  PublisherSchema,
  RefundRequestSchema,
  RefundSchema,
} from "../schemas.js";
import { publisherView, refundView } from "../views.js";
import type { PublisherRecord } from "../store/store.js";
import { checkedBic, checkedCurrency, checkedDomestic, checkedIban, operatorScope, security, type RouteApp } from "./operator.js";

export const ledgerRoutes: FastifyPluginAsyncTypebox<{ ctx: RouteContext }> = async (app, { ctx }) => {
  refundRoute(app, ctx);
  publisherRoutes(app, ctx);
};

/** POST /v1/admin/payments/:payment/refund: a payment's ledger transaction reversed, once. */
function refundRoute(app: RouteApp, ctx: RouteContext): void {
  const { store, clock } = ctx;
  const scope = operatorScope(store);
  app.post(
    "/v1/admin/payments/:payment/refund",
    {
      onRequest: scope("payments:refund"),
      schema: {
        summary: "Refund a payment (scope payments:refund)",
        description:
          "Reverses the payment's ledger transaction: the user gets the charged amount back (prepaid balance or postpaid bill), the publisher's payable is reduced by its credit, " +
          "the fee and the exchange leg are reversed. It shows on both statements of the period it falls in. A payment is refunded once: again, 409 ERR_ALREADY_REFUNDED.",
        tags: ["operator"],
        security,
        params: PaymentParamsSchema,
        body: RefundRequestSchema,
        response: { 201: RefundSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const outcome = await store.refundPayment({
        id: newId("ref"),
        paymentId: request.params.payment,
        reason: request.body.reason,
        createdAt: clock.now().toISOString(),
      });
      switch (outcome.kind) {
        case "refunded":
          request.log.info({ payment: outcome.refund.paymentId, refund: outcome.refund.id }, "payment refunded");
          return reply.code(201).send(refundView(outcome.refund));
        case "already-refunded":
          throw HttpProblem.of(
            "ERR_ALREADY_REFUNDED",
            `payment ${request.params.payment} was refunded already (${outcome.refund.id}, ${outcome.refund.createdAt}): a payment is refunded once`,
          );
        case "unknown-payment":
          throw HttpProblem.of("ERR_NOT_FOUND", `no payment ${request.params.payment}`);
      }
    },
  );
}

/** A publisher as sent, each field checked and normalised: an IBAN or a domestic account, and the payout currency. */
function publisherOf(body: Static<typeof PublisherRequestSchema>): Omit<PublisherRecord, "id" | "createdAt" | "updatedAt"> {
  const badName = checkBankName(body.name, "name");
  if (badName !== undefined) throw HttpProblem.of("ERR_MALFORMED", badName);
  if (!isCountryCode(body.country))
    throw HttpProblem.of("ERR_MALFORMED", `country: ${body.country} is not an ISO 3166-1 alpha-2 code`);
  const iban = body.iban === undefined ? undefined : checkedIban(body.iban).iban;
  const bic = checkedBic(body.bic);
  const domestic = checkedDomestic(body.domestic);
  const payoutCurrency = checkedCurrency(body.payoutCurrency, "payoutCurrency");
  if (iban !== undefined && domestic !== undefined)
    throw HttpProblem.of("ERR_MALFORMED", "an IBAN and a domestic account: give one account, the IBAN where the country has one");
  if (bic !== undefined && iban === undefined && domestic === undefined)
    throw HttpProblem.of("ERR_MALFORMED", "a BIC without an account: give the account's IBAN (or domestic account) too");
  return {
    name: body.name,
    country: body.country,
    iban,
    bic,
    ...(domestic === undefined ? {} : { domestic }),
    ...(payoutCurrency === undefined ? {} : { payoutCurrency }),
  };
}

/** The publishers the server pays: registered (or changed), shown, listed. */
function publisherRoutes(app: RouteApp, ctx: RouteContext): void {
  const { store, clock } = ctx;
  const scope = operatorScope(store);
  app.put(
    "/v1/admin/publishers/:publisher",
    {
      onRequest: scope("publishers:write"),
      schema: {
        summary: "Register a publisher, or change its name and bank details (scope publishers:write)",
        description:
          "Payouts go to the IBAN given here: by SEPA credit transfer for euros to a SEPA country, by an ISO 20022 credit transfer otherwise (which needs the BIC). " +
          "In a country without IBAN (US, CA, AU, IN, JP), give `domestic` instead: the country's own identifiers, each checked by its rules (the ABA routing number's check digit, the IFSC's form…); " +
          "the transfer reaches the bank through its clearing system. With `payoutCurrency`, everything the publisher earned is paid in that currency, converted at the settlement's rates (recorded with the payout). " +
          "A publisher without an account is not paid: its earnings are carried to the next period. The record is replaced whole: members left out are removed.",
        tags: ["operator"],
        security,
        params: PublisherParamsSchema,
        body: PublisherRequestSchema,
        response: { 200: PublisherSchema, 201: PublisherSchema, ...problemResponses },
      },
    },
    async (request, reply) => {
      const saved = await store.putPublisher(
        { id: request.params.publisher as PartyId<"publisher">, ...publisherOf(request.body) },
        clock.now().toISOString(),
      );
      request.log.info({ publisher: saved.publisher.id, kind: saved.kind }, "publisher registered");
      return reply.code(saved.kind === "created" ? 201 : 200).send(publisherView(saved.publisher));
    },
  );

  app.get(
    "/v1/admin/publishers/:publisher",
    {
      onRequest: scope("publishers:read"),
      schema: {
        summary: "Show a publisher (scope publishers:read)",
        tags: ["operator"],
        security,
        params: PublisherParamsSchema,
        response: { 200: PublisherSchema, ...problemResponses },
      },
    },
    async (request) => {
      const publisher = await store.getPublisher(request.params.publisher as PartyId<"publisher">);
      if (!publisher) throw HttpProblem.of("ERR_NOT_FOUND", `no publisher ${request.params.publisher} is registered`);
      return publisherView(publisher);
    },
  );

  app.get(
    "/v1/admin/publishers",
    {
      onRequest: scope("publishers:read"),
      schema: {
        summary: "List the registered publishers (scope publishers:read)",
        tags: ["operator"],
        security,
        response: {
          200: Type.Object({ publishers: Type.Array(PublisherSchema) }, { additionalProperties: false }),
          ...problemResponses,
        },
      },
    },
    async () => ({ publishers: (await store.listPublishers()).map(publisherView) }),
  );
}
