/**
 * Settling a payment charged by use (docs/protocol.md §3.12): an upto offer's payment for the amount
 * the merchant reports, or a metered session's for the highest tick whose PayWord word the merchant
 * holds. The payment was recorded for the maximum the user consented to; the settlement, once,
 * gives the unused part back. Only the merchant that made the offer can settle it: the offer's
 * nonce, which the user's consent signed, commits to the settlement key the merchant presents.
 */
import {
  isChainWord,
  MAX_SESSION_TICKS,
  newId,
  offerHash,
  OfferTermsSchema,
  PriceSchema,
  sessionNonce,
  settlementCommitment,
  timestamp,
  uptoNonce,
  type OfferTerms,
  type Price,
} from "@peage/protocol";
import { Type, type Static } from "@fastify/type-provider-typebox";
import { HttpProblem } from "./problems.js";
import type { PaymentRecord, Store, UsageSettlementRecord } from "./store/store.js";
import type { Clock } from "@peage/protocol";

const Base64urlKey = Type.String({ pattern: "^[A-Za-z0-9_-]{43}$", description: "32 bytes, base64url" });

export const UsageSettlementRequestSchema = Type.Object(
  {
    /** The offer's terms: their hash is the payment's offer hash. */
    terms: OfferTermsSchema,
    /** The settlement key whose commitment is in the offer's nonce. */
    key: Base64urlKey,
    /** The rest of the offer's nonce: a random nonce, or an HTTP request's binding. */
    inner: Type.String({ pattern: "^[A-Za-z0-9_-]{22,86}$" }),
    /** An upto offer: the amount used, in the price's currency. */
    used: Type.Optional(PriceSchema),
    /** A metered session: the chain the consent signed and the highest word the merchant holds. */
    chain: Type.Optional(
      Type.Object(
        {
          root: Base64urlKey,
          length: Type.Integer({ minimum: 1, maximum: MAX_SESSION_TICKS }),
          ticks: Type.Integer({ minimum: 0, maximum: MAX_SESSION_TICKS }),
          word: Base64urlKey,
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);
export type UsageSettlementRequest = Static<typeof UsageSettlementRequestSchema>;

export const UsageSettlementSchema = Type.Object(
  {
    paymentId: Type.String(),
    maximum: PriceSchema,
    used: PriceSchema,
    charged: PriceSchema,
    chargedUsed: PriceSchema,
    ticks: Type.Optional(Type.Integer({ minimum: 0 })),
    settledAt: Type.String(),
  },
  { additionalProperties: false },
);

/** What the request settles for, once its key, terms and chain are checked against the payment. */
function usedAmount(payment: PaymentRecord, request: UsageSettlementRequest): { used: Price; ticks?: number } {
  const terms = request.terms as OfferTerms;
  if (offerHash(terms) !== payment.offerHash)
    throw HttpProblem.of("ERR_HASH_MISMATCH", "these terms are not those of the offer the user paid: send the offer's terms");
  if (terms.upto !== true)
    throw HttpProblem.of("ERR_BAD_REQUEST", "this payment's offer is not charged by use: there is nothing to settle");
  const offerNonce = uptoNonce(settlementCommitment(request.key), request.inner);
  if (terms.tick === undefined) {
    if (offerNonce !== payment.nonce) throw notYours();
    if (request.used === undefined || request.chain !== undefined)
      throw HttpProblem.of("ERR_BAD_REQUEST", "an upto payment is settled with `used`, the amount used, and no chain");
    return { used: request.used };
  }
  const chain = request.chain;
  if (chain === undefined || request.used !== undefined)
    throw HttpProblem.of("ERR_BAD_REQUEST", "a metered session is settled with `chain`, the highest word held, and no `used`");
  if (sessionNonce(offerNonce, chain.root, chain.length) !== payment.nonce) throw notYours();
  const onChain = chain.ticks === 0 ? chain.word === chain.root : isChainWord(chain.word, chain.root, chain.ticks);
  if (!onChain || chain.ticks > chain.length)
    throw HttpProblem.of(
      "ERR_NOT_ON_CHAIN",
      `this word is not tick ${chain.ticks} of the chain the user signed: settle with a word the wallet gave`,
    );
  const amount = chain.ticks * terms.tick.amount;
  return { used: { amount, currency: terms.tick.currency } as Price, ticks: chain.ticks };
}

const notYours = () =>
  HttpProblem.of(
    "ERR_FORBIDDEN",
    "the settlement key and nonce do not open this payment: only the merchant that made the offer settles it",
  );

/** Settles the payment `paymentId`; throws HttpProblem with the specific code when it is refused. */
export async function settleUsage(
  store: Store,
  clock: Clock,
  paymentId: string,
  request: UsageSettlementRequest,
): Promise<{ settlement: UsageSettlementRecord; payment: PaymentRecord; replayed: boolean }> {
  const payment = await store.getPayment(paymentId);
  if (!payment) throw HttpProblem.of("ERR_NOT_FOUND", `no payment ${paymentId}: settle the payment id of the acknowledgment`);
  const { used, ticks } = usedAmount(payment, request);
  if (used.currency !== payment.price.currency || used.amount > payment.price.amount) throw aboveMaximum(used, payment.price);
  const outcome = await store.settleUsage({
    id: newId("set"),
    paymentId,
    used,
    ...(ticks === undefined ? {} : { ticks }),
    createdAt: timestamp(clock.now()),
  });
  switch (outcome.kind) {
    case "settled":
    case "duplicate":
      return { settlement: outcome.settlement, payment, replayed: outcome.kind === "duplicate" };
    case "already-settled":
      throw HttpProblem.of(
        "ERR_ALREADY_SETTLED",
        `the payment was settled already for ${outcome.settlement.used.amount} of ${outcome.settlement.maximum.amount} ${outcome.settlement.maximum.currency}: a payment is settled once`,
      );
    case "above-maximum":
      throw aboveMaximum(used, outcome.maximum);
    case "refunded":
      throw HttpProblem.of("ERR_ALREADY_REFUNDED", "the payment was refunded: there is nothing left to settle");
    case "unknown-payment":
      throw HttpProblem.of("ERR_NOT_FOUND", `no payment ${paymentId}`);
  }
}

const aboveMaximum = (used: Price, maximum: Price) =>
  HttpProblem.of(
    "ERR_ABOVE_MAXIMUM",
    `${used.amount} ${used.currency} is more than the ${maximum.amount} ${maximum.currency} the user consented to: nothing was settled; report at most the maximum`,
  );
