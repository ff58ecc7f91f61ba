/** The card desk's HTTP schemas (TypeBox): what its routes accept and answer, shared with the OpenAPI document. */
import { Type } from "@fastify/type-provider-typebox";
import { partyIdPattern, PriceSchema, ProblemSchema } from "@peage/protocol";
import { CurrencySchema, UserIdSchema } from "../schemas.js";

export const CardIdSchema = Type.String({
  pattern: partyIdPattern.replace("(publisher|server|user|card)", "card"),
  maxLength: 80,
});
export const CardParamsSchema = Type.Object({ card: CardIdSchema }, { additionalProperties: false });
export const Token = Type.String({ maxLength: 4096 });

const IncidentSchema = Type.Object(
  { id: Type.Integer(), kind: Type.String(), detail: Type.Unknown(), createdAt: Type.String() },
  { additionalProperties: false },
);

export const CardAccountSchema = Type.Object(
  {
    card: CardIdSchema,
    user: UserIdSchema,
    mode: Type.Union([Type.Literal("prepaid"), Type.Literal("postpaid")]),
    currency: CurrencySchema,
    status: Type.Union([Type.Literal("active"), Type.Literal("blocked")]),
    blockedReason: Type.Optional(Type.String()),
    ceiling: Type.Optional(PriceSchema),
    deposit: PriceSchema,
    loaded: Type.Optional(PriceSchema),
    syncedCounter: Type.Integer({ minimum: 0 }),
    cardSeq: Type.Integer({ minimum: 0 }),
    entries: Type.Integer({ minimum: 0 }),
    booked: PriceSchema,
    pendingReloads: Type.Array(
      Type.Object(
        { id: Type.String(), amount: PriceSchema, commandSeq: Type.Optional(Type.Integer()) },
        { additionalProperties: false },
      ),
    ),
    incidents: Type.Array(IncidentSchema),
    createdAt: Type.String(),
    lastSyncAt: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);

export const UploadSchema = Type.Object(
  {
    challenge: Type.String({ pattern: "^[A-Za-z0-9_-]{11,86}$" }),
    entries: Type.Array(Token, { maxItems: 0xffff }),
    head: Token,
  },
  { additionalProperties: false },
);

const ProblemDetailSchema = Type.Object(
  {
    kind: Type.String(),
    message: Type.String(),
    counter: Type.Optional(Type.Integer()),
    missing: Type.Optional(Type.Tuple([Type.Integer(), Type.Integer()])),
  },
  { additionalProperties: false },
);

/** A refused upload: the problem document, with what was found and whether the card is now blocked. */
export const SyncRefusedSchema = Type.Composite([
  ProblemSchema,
  Type.Object({ problems: Type.Array(ProblemDetailSchema), blocked: Type.Boolean() }),
]);

export const SyncAnswerSchema = Type.Object(
  {
    card: CardIdSchema,
    recorded: Type.Integer({ minimum: 0 }),
    alreadyRecorded: Type.Integer({ minimum: 0 }),
    lastCounter: Type.Integer({ minimum: 0 }),
    commands: Type.Array(Token, { description: "signed SYNC and RELOAD commands, in the order the card must apply them" }),
    credited: Type.Array(Type.Object({ publisher: Type.String(), amount: PriceSchema }, { additionalProperties: false })),
    unbooked: Type.Array(
      Type.Object({ counter: Type.Integer(), paymentId: Type.String(), reason: Type.String() }, { additionalProperties: false }),
    ),
    account: CardAccountSchema,
  },
  { additionalProperties: false },
);

/** A reload's answer: the reload, and the card's account with it pending. */
export const ReloadAnswerSchema = Type.Object(
  {
    reload: Type.Object({ id: Type.String(), amount: PriceSchema }, { additionalProperties: false }),
    account: CardAccountSchema,
  },
  { additionalProperties: false },
);
