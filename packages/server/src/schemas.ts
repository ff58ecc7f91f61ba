/**
 * Wire schemas of the server's own resources (accounts, payments as listed, top-ups), for request
 * validation, response serialisation and the OpenAPI document. Protocol objects (message 2 and 3,
 * problems, rates) come from @peage/protocol and are not redefined here.
 */
import { Type, type Static } from "@fastify/type-provider-typebox";
import { partyIdPattern, PriceSchema, ProblemSchema } from "@peage/protocol";
import { AccountModes, AccountStatuses } from "./store/store.js";

export const UserIdSchema = Type.String({
  pattern: partyIdPattern.replace("(publisher|server|user|card)", "user"),
  maxLength: 80,
});
export const PublisherIdSchema = Type.String({
  pattern: partyIdPattern.replace("(publisher|server|user|card)", "publisher"),
  maxLength: 80,
});
export const CurrencySchema = Type.String({ pattern: "^[A-Z]{3}$", description: "ISO 4217 alphabetic code" });
export const MinorUnitsSchema = Type.Integer({
  minimum: 0,
  maximum: Number.MAX_SAFE_INTEGER,
  description: "ISO 4217 minor units",
});

export const EnrolmentSchema = Type.Object(
  {
    user: UserIdSchema,
    publicKey: Type.Object({}, { additionalProperties: true, description: "public JWK: P-256 (kty EC) or Ed25519 (kty OKP)" }),
    mode: Type.Union(AccountModes.map((mode) => Type.Literal(mode))),
    homeCurrency: CurrencySchema,
    monthlyLimit: Type.Optional(MinorUnitsSchema),
    depositRequired: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: Number.MAX_SAFE_INTEGER,
        description: "postpaid: a deposit to pay before any payment goes through, minor units of the home currency",
      }),
    ),
  },
  { additionalProperties: false },
);
export type Enrolment = Static<typeof EnrolmentSchema>;

export const AccountSchema = Type.Object(
  {
    user: UserIdSchema,
    kid: Type.String(),
    alg: Type.String(),
    publicKey: Type.Object({}, { additionalProperties: true }),
    mode: Type.Union(AccountModes.map((mode) => Type.Literal(mode))),
    homeCurrency: CurrencySchema,
    status: Type.Union(AccountStatuses.map((status) => Type.Literal(status))),
    balance: Type.Optional(PriceSchema),
    monthlyLimit: Type.Optional(PriceSchema),
    usedThisMonth: Type.Optional(PriceSchema),
    depositRequired: Type.Optional(PriceSchema),
    deposit: Type.Optional(PriceSchema),
    mandate: Type.Optional(
      Type.Object(
        {
          id: Type.String(),
          signedOn: Type.String(),
          name: Type.String(),
          iban: Type.String(),
          bic: Type.Optional(Type.String()),
        },
        { additionalProperties: false },
      ),
    ),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);
export type Account = Static<typeof AccountSchema>;

export const TopupRequestSchema = Type.Object(
  {
    amount: Type.Integer({
      minimum: 1,
      maximum: Number.MAX_SAFE_INTEGER,
      description: "minor units of the user's home currency",
    }),
    /** Must be the home currency when given; a top-up is never converted. */
    currency: Type.Optional(CurrencySchema),
    idempotencyKey: Type.String({ pattern: "^[A-Za-z0-9._:-]{8,128}$", description: "the same key twice credits once" }),
  },
  { additionalProperties: false },
);

export const MandateRequestSchema = Type.Object(
  {
    mandateId: Type.String({
      pattern: "^[A-Za-z0-9+?/:().,'-]{1,35}$",
      description: "the mandate's unique reference (EPC: up to 35 characters)",
    }),
    signedOn: Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}$", description: "the day the user signed it, YYYY-MM-DD" }),
    name: Type.String({
      minLength: 1,
      maxLength: 140,
      description:
        "the account holder, as the bank knows them: SEPA Latin characters (accents transliterated), at most 70 once transliterated",
    }),
    iban: Type.String({ minLength: 15, maxLength: 42 }),
    bic: Type.Optional(Type.String({ minLength: 8, maxLength: 11 })),
  },
  { additionalProperties: false },
);

export const RefundRequestSchema = Type.Object(
  { reason: Type.String({ minLength: 1, maxLength: 500 }) },
  { additionalProperties: false },
);

export const RefundSchema = Type.Object(
  {
    refundId: Type.String(),
    paymentId: Type.String(),
    user: UserIdSchema,
    publisher: PublisherIdSchema,
    reason: Type.String(),
    charged: PriceSchema,
    price: PriceSchema,
    period: Type.String(),
    createdAt: Type.String(),
  },
  { additionalProperties: false },
);

/**
 * A bank account outside the IBAN registry (bank/domestic.ts): its country and that country's own
 * identifiers. One shape for every country, each member checked by the country's rules in the route,
 * so that a wrong or missing member gets an error naming it rather than a schema's anyOf report.
 */
const digits = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 40, description }));
export const DomesticAccountSchema = Type.Object(
  {
    country: Type.String({ pattern: "^[A-Z]{2}$", description: "US, CA, AU, IN or JP" }),
    routingNumber: digits("US: the 9-digit ABA routing number (check digit verified)"),
    institution: digits("CA: the 3-digit institution number"),
    transit: digits("CA: the 5-digit branch transit number"),
    bsb: digits("AU: the 6-digit BSB"),
    ifsc: digits("IN: the 11-character IFSC"),
    bankCode: digits("JP: the 4-digit Zengin bank code"),
    branchCode: digits("JP: the 3-digit branch code"),
    accountNumber: digits("the account number (US 4–17 digits, CA 7–12, AU 5–9, IN 9–18, JP 7)"),
    accountType: Type.Optional(Type.String({ description: "US: checking or savings; JP: ordinary or current" })),
  },
  {
    additionalProperties: false,
    description: "a domestic account in a country without IBAN; payouts reach it through the country's clearing system",
  },
);

export const PublisherRequestSchema = Type.Object(
  {
    name: Type.String({
      minLength: 1,
      maxLength: 140,
      description: "as the bank account's holder: SEPA Latin characters (accents transliterated), at most 70 once transliterated",
    }),
    country: Type.String({ pattern: "^[A-Z]{2}$", description: "ISO 3166-1 alpha-2" }),
    iban: Type.Optional(Type.String({ minLength: 15, maxLength: 42 })),
    bic: Type.Optional(Type.String({ minLength: 8, maxLength: 11 })),
    domestic: Type.Optional(DomesticAccountSchema),
    payoutCurrency: Type.Optional(
      Type.String({
        pattern: "^[A-Z]{3}$",
        description:
          "ISO 4217: pay the publisher in this currency, what it earned in others converted at the settlement's rates; left out, each currency is paid as earned",
      }),
    ),
  },
  { additionalProperties: false },
);

export const PublisherSchema = Type.Object(
  {
    publisher: PublisherIdSchema,
    name: Type.String(),
    country: Type.String(),
    iban: Type.Optional(Type.String()),
    bic: Type.Optional(Type.String()),
    domestic: Type.Optional(DomesticAccountSchema),
    payoutCurrency: Type.Optional(CurrencySchema),
    createdAt: Type.String(),
    updatedAt: Type.String(),
  },
  { additionalProperties: false },
);

export const PublisherParamsSchema = Type.Object({ publisher: PublisherIdSchema }, { additionalProperties: false });
export const PaymentParamsSchema = Type.Object(
  { payment: Type.String({ pattern: "^[A-Za-z0-9_-]{1,80}$" }) },
  { additionalProperties: false },
);

export const TopupSchema = Type.Object(
  {
    id: Type.String(),
    user: UserIdSchema,
    amount: PriceSchema,
    idempotencyKey: Type.String(),
    createdAt: Type.String(),
    balance: PriceSchema,
  },
  { additionalProperties: false },
);

export const LimitRequestSchema = Type.Object({ monthlyLimit: MinorUnitsSchema }, { additionalProperties: false });

export const PaymentViewSchema = Type.Object(
  {
    paymentId: Type.String(),
    user: UserIdSchema,
    publisher: PublisherIdSchema,
    offerHash: Type.String(),
    price: PriceSchema,
    charged: PriceSchema,
    rate: Type.String(),
    rateDate: Type.Optional(Type.String()),
    nonce: Type.String(),
    offerDate: Type.String(),
    serverTime: Type.String(),
    acknowledgment: Type.Object(
      { type: Type.Literal("peage.acknowledgment"), v: Type.Literal(1), acknowledgment: Type.String() },
      { additionalProperties: false },
    ),
  },
  { additionalProperties: false },
);
export type PaymentView = Static<typeof PaymentViewSchema>;

export const PaymentListSchema = Type.Object(
  { payments: Type.Array(PaymentViewSchema), nextCursor: Type.Optional(Type.String()) },
  { additionalProperties: false },
);

export const PageQuerySchema = {
  cursor: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_-]{1,32}$", description: "nextCursor of the previous page" })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 100 })),
};

export const UserParamsSchema = Type.Object({ user: UserIdSchema }, { additionalProperties: false });

/** The responses every route may give besides its success. */
export const problemResponses = { "4xx": ProblemSchema, "5xx": ProblemSchema } as const;

/**
 * Problem documents at exactly these statuses, for the routes whose every answer docs/transport.md
 * lists (its route table and the OpenAPI document are checked against each other).
 */
export function problemsAt<const S extends readonly number[]>(...statuses: S): { [K in S[number]]: typeof ProblemSchema } {
  return Object.fromEntries(statuses.map((status) => [status, ProblemSchema])) as { [K in S[number]]: typeof ProblemSchema };
}
