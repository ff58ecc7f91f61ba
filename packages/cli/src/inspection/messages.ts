/**
 * Inspecting the signed Péage objects: offers (message 1), payment requests (message 2),
 * acknowledgments (message 3), catalogs, and bare JWS tokens of each `typ`. Each is shown as
 * decoded, then verified with the protocol's own check for that message.
 */
import {
  AcknowledgmentClaimsSchema,
  AcknowledgmentSchema,
  ConsentClaimsSchema,
  DEFAULT_CLOCK_SKEW_MS,
  JwsTypes,
  MAX_CONSENT_TTL_MS,
  OfferSchema,
  checkWindow,
  decodeJws,
  parseStrictJson,
  tryParseStrictJson,
  fail,
  keyThumbprint,
  ok,
  parser,
  verifyAcknowledgment,
  verifyCatalog,
  verifyJwsSignature,
  verifyOffer,
  verifyOfferSignature,
  verifyPaymentRequest,
  type JwsType,
  type Offer,
  type PartyId,
  type Result,
  type Role,
  type UserKey,
  type ValidatedChain,
} from "@peage/protocol";
import { fields, showGrant, showPrice } from "../describe.js";
import { UsageError } from "../errors.js";
import { readInput } from "../files.js";
import { parseIdentity } from "../values.js";
import { loadUserKey } from "./user-key.js";
import { at, signerJson, signerLines, text, type InspectContext, type Inspection, type Verdict } from "./types.js";

const offerParser = parser(OfferSchema);
const ackParser = parser(AcknowledgmentSchema);
const ackClaimsParser = parser(AcknowledgmentClaimsSchema);
const consentParser = parser(ConsentClaimsSchema);

/** The JSON message types inspect reads, by their `type` field. */
export const messageTypes = ["peage.offer", "peage.payment-request", "peage.acknowledgment", "peage.catalog"] as const;

/** A JSON Péage object, by its `type`: offer, payment request, acknowledgment or catalog. */
export async function inspectMessage(value: Record<string, unknown>, ctx: InspectContext): Promise<Inspection> {
  switch (value["type"]) {
    case "peage.offer":
      return inspectOffer(value, ctx);
    case "peage.payment-request":
      return inspectPaymentRequest(value, ctx);
    case "peage.acknowledgment":
      return inspectAcknowledgment(value, ctx);
    case "peage.catalog":
      return inspectCatalog(value, ctx);
    default:
      return {
        kind: "unknown",
        content: value,
        lines: [],
        result: fail(
          "ERR_MALFORMED",
          `unknown message type ${JSON.stringify(value["type"])}: inspect reads ${messageTypes.join(", ")}`,
        ),
      };
  }
}

/** A bare compact JWS: its `typ` says which signed object it is. */
export async function inspectJws(token: string, ctx: InspectContext): Promise<Inspection> {
  const typ = peekTyp(token);
  switch (typ) {
    case JwsTypes.offerSignature:
      return inspectOfferSignature(token, ctx);
    case JwsTypes.acknowledgment:
      return inspectAcknowledgment({ type: "peage.acknowledgment", v: 1, acknowledgment: token }, ctx, "acknowledgment token");
    case JwsTypes.consent:
      return inspectConsent(token, ctx);
    case JwsTypes.userRequest:
      return inspectUserSigned(token, JwsTypes.userRequest, "user request", ctx);
    default:
      return {
        kind: "JWS",
        content: { header: decodeSegment(token.split(".")[0] ?? "") },
        lines: [],
        result: fail(
          "ERR_MALFORMED",
          `JWS of type ${JSON.stringify(typ)} is not a Péage message: its typ is one of ${Object.values(JwsTypes).join(", ")}`,
        ),
      };
  }
}

async function inspectOffer(value: Record<string, unknown>, ctx: InspectContext): Promise<Inspection> {
  const lines = termsLines(at(value, "terms"));
  lines.push(
    ...fields([
      ["offer hash", text(at(value, "offerHash"))],
      ["nonce", text(at(value, "nonce"))],
      ["date", text(at(value, "date"))],
      ["expires", text(at(value, "expiresAt"))],
    ]),
  );
  const verified = await verifyOffer(value, { trust: await ctx.trust(), clock: ctx.clock });
  return {
    kind: "offer",
    content: value,
    lines,
    result: verified.ok
      ? ok(
          signed(
            `offer ${verified.value.offer.terms.offerId} of ${verified.value.signature.publisher}`,
            verified.value.signature.chain,
          ),
        )
      : verified,
  };
}

async function inspectCatalog(value: Record<string, unknown>, ctx: InspectContext): Promise<Inspection> {
  const offers = Array.isArray(value["offers"]) ? (value["offers"] as unknown[]) : [];
  const lines = fields([
    ["publisher", text(value["publisher"])],
    ["offers", String(offers.length)],
  ]);
  for (const entry of offers) {
    const terms = at(entry, "terms");
    lines.push(
      `  - ${text(at(terms, "offerId"))}: ${showPrice(at(terms, "price"))}, ${showGrant(at(terms, "grant"))}: ${text(at(terms, "description"))}`,
    );
  }
  const verified = await verifyCatalog(value, await ctx.trust(), ctx.clock.now());
  if (!verified.ok) return { kind: "catalog", content: value, lines, result: verified };
  const { catalog } = verified.value;
  return {
    kind: "catalog",
    content: value,
    lines,
    result: ok({
      summary: `catalog of ${catalog.offers.length} offer${catalog.offers.length === 1 ? "" : "s"} signed by ${catalog.publisher}`,
      lines: [],
      json: { publisher: catalog.publisher, offers: catalog.offers.length },
    }),
  };
}

async function inspectPaymentRequest(value: Record<string, unknown>, ctx: InspectContext): Promise<Inspection> {
  const consent = decodeJws(value["consent"], JwsTypes.consent);
  const claims = consent.ok ? consent.value.payload : undefined;
  const lines = consentLines(claims, consent.ok ? consent.value.header.kid : undefined);
  const { server, user, userKey } = await userOptions(ctx, "a payment request", true);
  const kid = await keyThumbprint(userKey!.publicKey);
  const verified = await verifyPaymentRequest(value, {
    trust: await ctx.trust(),
    clock: ctx.clock,
    server: server!,
    userKey: (claimed, claimedKid) => (claimed === user && claimedKid === kid ? userKey : undefined),
  });
  const content = { ...value, consentClaims: claims };
  if (!verified.ok) return { kind: "payment request", content, lines, result: verified };
  const { consent: accepted, publisher } = verified.value;
  return {
    kind: "payment request",
    content,
    lines,
    result: ok({
      summary: `payment request of ${accepted.user} to ${accepted.server} for ${showPrice(accepted.price)} to ${accepted.publisher}`,
      lines: [`  user key:   ${verified.value.kid}`, ...signerLines(publisher.chain)],
      json: { user: accepted.user, kid: verified.value.kid, publisher: signerJson(publisher.chain) },
    }),
  };
}

/**
 * Message 3. With --offer, the merchant's full check (verifyAcknowledgment); without it, only
 * what the acknowledgment proves on its own: a payment server's valid chain and signature.
 */
async function inspectAcknowledgment(
  value: Record<string, unknown>,
  ctx: InspectContext,
  kind = "acknowledgment",
): Promise<Inspection> {
  const decoded = decodeJws(value["acknowledgment"], JwsTypes.acknowledgment);
  const claims = decoded.ok ? decoded.value.payload : undefined;
  const lines = fields([
    ["payment", text(at(claims, "paymentId"))],
    ["server", text(at(claims, "server"))],
    ["user", text(at(claims, "user"))],
    ["publisher", text(at(claims, "publisher"))],
    ["offer hash", text(at(claims, "offerHash"))],
    ["price", claims === undefined ? undefined : showPrice(at(claims, "price"))],
    [
      "charged",
      at(claims, "charged") === undefined
        ? undefined
        : `${showPrice(at(claims, "charged"))}${at(claims, "rate") === undefined ? "" : ` (rate ${text(at(claims, "rate"))})`}`,
    ],
    ["nonce", text(at(claims, "nonce"))],
    ["offer date", text(at(claims, "date"))],
    ["server time", text(at(claims, "serverTime"))],
  ]);
  const content =
    kind === "acknowledgment" ? { ...value, claims } : { header: decoded.ok ? decoded.value.header : undefined, claims };
  const serverText = ctx.options.string("server");
  const server = serverText === undefined ? undefined : parseIdentity(ctx.options, "server", serverText, "server");
  const offerPath = ctx.options.string("offer");
  if (offerPath !== undefined) {
    const offer = await loadOffer(offerPath);
    const verified = await verifyAcknowledgment(value, offer, {
      trust: await ctx.trust(),
      clock: ctx.clock,
      ...(server && { server }),
    });
    if (!verified.ok) return { kind, content, lines, result: verified };
    const ack = verified.value.claims;
    return {
      kind,
      content,
      lines,
      result: ok(
        signed(`acknowledgment ${ack.paymentId} of ${ack.server} for offer ${offer.terms.offerId}`, verified.value.chain),
      ),
    };
  }
  const result = await checkAcknowledgmentAlone(value, ctx, server);
  return { kind, content, lines, result };
}

async function checkAcknowledgmentAlone(
  value: unknown,
  ctx: InspectContext,
  server: PartyId<"server"> | undefined,
): Promise<Result<Verdict>> {
  const parsed = ackParser.parse(value, "acknowledgment");
  if (!parsed.ok) return parsed;
  const token = parsed.value.acknowledgment;
  const decoded = decodeJws(token, JwsTypes.acknowledgment);
  if (!decoded.ok) return decoded;
  if (!decoded.value.header.x5c) return fail("ERR_MALFORMED", "the acknowledgment carries no certificate chain (x5c)");
  // A card signs offline acknowledgments under its own role; a payment server under acknowledgment-signing.
  const claimedServer = at(decoded.value.payload, "server");
  const role: Role =
    typeof claimedServer === "string" && claimedServer.startsWith("urn:peage:card:")
      ? "card-acknowledgment"
      : "acknowledgment-signing";
  const chain = await (await ctx.trust()).validate(decoded.value.header.x5c, role, ctx.clock.now());
  if (!chain.ok) return chain;
  const signature = await verifyJwsSignature(token, chain.value.alg, chain.value.publicKey);
  if (!signature.ok) return signature;
  const claims = ackClaimsParser.parse(decoded.value.payload, "acknowledgment");
  if (!claims.ok) return claims;
  if (claims.value.server !== chain.value.identity) {
    return fail(
      "ERR_IDENTITY_MISMATCH",
      `the acknowledgment names ${claims.value.server} but was signed by ${chain.value.identity}`,
    );
  }
  if (server !== undefined && claims.value.server !== server)
    return fail("ERR_WRONG_AUDIENCE", `the acknowledgment comes from ${claims.value.server}, not ${server}`);
  return ok({
    ...signed(`acknowledgment ${claims.value.paymentId} of ${claims.value.server} (signature and chain)`, chain.value),
    notes: [
      "only the signature and chain were checked: pass --offer OFFER.json to check the offer hash, price, nonce and date against the offer",
    ],
  });
}

async function inspectOfferSignature(token: string, ctx: InspectContext): Promise<Inspection> {
  const decoded = decodeJws(token, JwsTypes.offerSignature);
  const claims = decoded.ok ? decoded.value.payload : undefined;
  const lines = fields([
    ["offer hash", text(at(claims, "offerHash"))],
    ["price", claims === undefined ? undefined : showPrice(at(claims, "price"))],
  ]);
  const verified = await verifyOfferSignature(token, await ctx.trust(), ctx.clock.now());
  const content = { header: decoded.ok ? decoded.value.header : undefined, claims };
  return {
    kind: "offer signature",
    content,
    lines,
    result: verified.ok ? ok(signed(`publisher's signature of ${verified.value.publisher}`, verified.value.chain)) : verified,
  };
}

/** The user's consent proof alone: signed by the --user-key, for --server and --user if given, and not expired. */
async function inspectConsent(token: string, ctx: InspectContext): Promise<Inspection> {
  const decoded = decodeJws(token, JwsTypes.consent);
  const claims = decoded.ok ? decoded.value.payload : undefined;
  const lines = consentLines(claims, decoded.ok ? decoded.value.header.kid : undefined);
  const content = { header: decoded.ok ? decoded.value.header : undefined, claims };
  const { server, user, userKey } = await userOptions(ctx, "a consent", false);
  const result = await (async (): Promise<Result<Verdict>> => {
    if (!decoded.ok) return decoded;
    const checked = await checkUserSignature(token, decoded.value.header.kid, userKey!);
    if (!checked.ok) return checked;
    const consent = consentParser.parse(decoded.value.payload, "consent");
    if (!consent.ok) return consent;
    if (user !== undefined && consent.value.user !== user)
      return fail("ERR_IDENTITY_MISMATCH", `the consent is of ${consent.value.user}, not ${user}`);
    if (server !== undefined && consent.value.server !== server)
      return fail("ERR_WRONG_AUDIENCE", `the consent is for ${consent.value.server}, not ${server}`);
    const window = checkWindow(
      consent.value.consentedAt,
      consent.value.expiresAt,
      MAX_CONSENT_TTL_MS,
      ctx.clock.now(),
      DEFAULT_CLOCK_SKEW_MS,
      "consent",
    );
    if (!window.ok) return window;
    return ok({
      summary: `consent of ${consent.value.user} to pay ${showPrice(consent.value.price)} to ${consent.value.publisher}`,
      lines: [`  user key:   ${checked.value}`],
      json: { kid: checked.value },
      notes: ["the publisher's signature is not part of a consent: inspect the payment request to check it"],
    });
  })();
  return { kind: "consent", content, lines, result };
}

/** A token a user signs (e.g. a request for their own records): the signature under --user-key. */
async function inspectUserSigned(token: string, typ: JwsType, kind: string, ctx: InspectContext): Promise<Inspection> {
  const decoded = decodeJws(token, typ);
  const content = {
    header: decoded.ok ? decoded.value.header : undefined,
    claims: decoded.ok ? decoded.value.payload : undefined,
  };
  const lines =
    decoded.ok && typeof decoded.value.payload === "object" && decoded.value.payload !== null
      ? fields(Object.entries(decoded.value.payload as Record<string, unknown>))
      : [];
  const { userKey } = await userOptions(ctx, `a ${kind}`, false);
  const result = await (async (): Promise<Result<Verdict>> => {
    if (!decoded.ok) return decoded;
    const checked = await checkUserSignature(token, decoded.value.header.kid, userKey!);
    if (!checked.ok) return checked;
    return ok({
      summary: `${kind} signed by the user key ${checked.value}`,
      lines: [],
      json: { kid: checked.value },
      notes: [`the claims of a ${kind} are checked by the payment server`],
    });
  })();
  return { kind, content, lines, result };
}

/** The token's kid must be the RFC 7638 thumbprint of the given key, and the signature must verify under it. */
async function checkUserSignature(token: string, kid: string | undefined, key: UserKey): Promise<Result<string>> {
  if (!kid) return fail("ERR_MALFORMED", "the token does not name the user's key (kid)");
  const thumbprint = await keyThumbprint(key.publicKey);
  if (kid !== thumbprint)
    return fail("ERR_UNKNOWN_KEY", `the token was signed by the key ${kid}, not by --user-key (${thumbprint})`);
  const signature = await verifyJwsSignature(token, key.alg, key.publicKey);
  return signature.ok ? ok(kid) : signature;
}

async function userOptions(ctx: InspectContext, what: string, all: boolean) {
  const o = ctx.options;
  const serverText = o.string("server");
  const userText = o.string("user");
  const keyPath = o.string("user-key");
  const missing = [
    ...(all && serverText === undefined ? ["--server urn:peage:server:NAME (the server that checks it)"] : []),
    ...(keyPath === undefined ? ["--user-key FILE (the user's public key, PEM or JWK)"] : []),
    ...(all && userText === undefined ? ["--user urn:peage:user:NAME (whose key it is)"] : []),
  ];
  if (missing.length > 0) throw new UsageError(`peage inspect: checking ${what} needs ${missing.join(", ")}`);
  return {
    server: serverText === undefined ? undefined : parseIdentity(o, "server", serverText, "server"),
    user: userText === undefined ? undefined : parseIdentity(o, "user", userText, "user"),
    userKey: keyPath === undefined ? undefined : await loadUserKey(keyPath),
  };
}

async function loadOffer(path: string): Promise<Offer> {
  const textValue = await readInput(path, "--offer");
  let value: unknown;
  try {
    value = parseStrictJson(textValue);
  } catch (cause) {
    throw new UsageError(`peage inspect: --offer ${path} is not JSON: ${(cause as Error).message}`);
  }
  const parsed = offerParser.parse(value, "offer");
  if (!parsed.ok)
    throw new UsageError(
      `peage inspect: --offer ${path} is not an offer (${parsed.error.message}): give the offer the acknowledgment answers`,
    );
  return parsed.value;
}

function signed(summary: string, chain: ValidatedChain): Verdict {
  return { summary, lines: signerLines(chain), json: { signer: signerJson(chain) } };
}

function termsLines(terms: unknown): string[] {
  return fields([
    ["publisher", text(at(terms, "publisher"))],
    ["offer", text(at(terms, "offerId"))],
    ["description", text(at(terms, "description"))],
    ["price", terms === undefined ? undefined : showPrice(at(terms, "price"))],
    ["grants", terms === undefined ? undefined : showGrant(at(terms, "grant"))],
  ]);
}

function consentLines(claims: unknown, kid: string | undefined): string[] {
  return fields([
    ["user", text(at(claims, "user"))],
    ["user key", kid],
    ["server", text(at(claims, "server"))],
    ["publisher", text(at(claims, "publisher"))],
    ["offer hash", text(at(claims, "offerHash"))],
    ["price", claims === undefined ? undefined : showPrice(at(claims, "price"))],
    ["nonce", text(at(claims, "nonce"))],
    ["offer date", text(at(claims, "date"))],
    ["consented", text(at(claims, "consentedAt"))],
    ["expires", text(at(claims, "expiresAt"))],
  ]);
}

/** The `typ` of a token's protected header, read without trusting anything else in it. */
function peekTyp(token: string): unknown {
  const header = decodeSegment(token.split(".")[0] ?? "");
  return typeof header === "object" && header !== null ? (header as Record<string, unknown>)["typ"] : undefined;
}

function decodeSegment(segment: string): unknown {
  return tryParseStrictJson(Buffer.from(segment, "base64url").toString("utf8"));
}
