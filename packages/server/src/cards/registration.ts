/**
 * Registering a card this server's card issuer certified (docs/card.md): the chain must validate
 * for the card-acknowledgment role and lead through this server's own card-issuer CA. The money
 * received with the card (prepaid load, postpaid deposit, claim 10) is recorded on the user's
 * ledger account; a user without one gets one enrolled with the card's own key. The same
 * registration again changes nothing; a different one for the same card is a conflict.
 */
import { createPublicKey } from "node:crypto";
import { isCurrencyCode, newId, toX5c, x509, type CurrencyCode, type MinorUnits, type PartyId } from "@peage/protocol";
import { cardKeyFromChain, minimumDeposit } from "@peage/card";
import { HttpProblem, problemFor } from "../problems.js";
import type { UserRecord } from "../store/store.js";
import { parseUserJwk, storedJwk } from "../user-keys.js";
import type { DeskContext } from "./context.js";
import { checkAssurance } from "./forks.js";
import type { CardRegistration } from "./messages.js";
import { toAccount } from "./records.js";
import { get, run } from "./storage.js";

/** The card a registration's chain certifies, once the chain is checked against this server's card issuer. */
export async function registeredCard(ctx: DeskContext, input: CardRegistration, now: Date): Promise<PartyId<"card">> {
  const key = await cardKeyFromChain(input.chain, ctx.trust, now);
  if (!key.ok)
    throw new HttpProblem(problemFor(key.error.code, `the card's certificate chain does not validate: ${key.error.message}`));
  if (key.value.issuer !== ctx.server)
    throw HttpProblem.of("ERR_WRONG_AUDIENCE", `the card was issued by ${key.value.issuer}, not by this server ${ctx.server}`);
  if (input.chain[1] !== toX5c(ctx.desk.issuer.ca.certificate)) {
    throw HttpProblem.of(
      "ERR_UNKNOWN_ISSUER",
      "the card was not certified by this server's card-issuer certificate: its commands could not be signed for it",
    );
  }
  // A PC store's certificate states its assurance level, which bounds its load or ceiling.
  checkAssurance(input.chain[0]!, input);
  if (!isCurrencyCode(input.currency))
    throw HttpProblem.of("ERR_MALFORMED", `currency ${input.currency} is not an active ISO 4217 currency`);
  return key.value.card;
}

/**
 * Registers the card (the caller runs one operation per card at a time): "existing" when the same
 * registration was made before, after the shape and the deposit are checked.
 */
export async function register(
  ctx: DeskContext,
  card: PartyId<"card">,
  input: CardRegistration,
  now: Date,
): Promise<"created" | "existing"> {
  checkShape(input);
  const chain = JSON.stringify(input.chain);
  const existing = await ctx.db.read(() => get("SELECT * FROM card_accounts WHERE card = ?", card));
  if (existing) {
    if (!sameRegistration(existing, input))
      throw HttpProblem.of("ERR_CONFLICT", `${card} is already registered with other details`);
    return "existing";
  }
  if (input.mode === "postpaid" && (input.deposit ?? 0) < minimumDeposit(input.ceiling!)) {
    throw HttpProblem.of(
      "ERR_DEPOSIT_REQUIRED",
      `a postpaid card needs a deposit greater than its ceiling (claim 10): ` +
        `the ceiling is ${input.ceiling}, the deposit ${input.deposit ?? 0}; register it with a deposit of at least ${minimumDeposit(input.ceiling!)}`,
    );
  }
  const user = await userFor(ctx, input, now);
  await receiveMoney(ctx, card, input, user, now);
  await ctx.db.write(() =>
    run(
      `INSERT INTO card_accounts (card, user_id, mode, currency, chain, ceiling_minor, deposit_minor, loaded_minor, created_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      card,
      user.id,
      input.mode,
      user.homeCurrency,
      chain,
      input.mode === "postpaid" ? input.ceiling! : null,
      input.deposit ?? 0,
      input.mode === "prepaid" ? (input.balance ?? 0) : 0,
      now.toISOString(),
    ),
  );
  return "created";
}

function checkShape(input: CardRegistration): void {
  if (
    input.mode === "prepaid" &&
    (input.ceiling !== undefined || input.deposit !== undefined || input.monthlyLimit !== undefined)
  ) {
    throw HttpProblem.of("ERR_MALFORMED", "a prepaid card has a balance, not a ceiling, deposit or monthly limit");
  }
  if (input.mode === "postpaid" && (input.ceiling === undefined || input.balance !== undefined)) {
    throw HttpProblem.of("ERR_MALFORMED", "a postpaid card has a ceiling and a deposit, not a balance");
  }
}

function sameRegistration(row: Record<string, unknown>, input: CardRegistration): boolean {
  const account = toAccount(row);
  return (
    account.user === input.user &&
    account.mode === input.mode &&
    account.currency === input.currency &&
    JSON.stringify(account.chain) === JSON.stringify(input.chain) &&
    (account.ceiling ?? undefined) === input.ceiling &&
    account.deposit === (input.deposit ?? 0) &&
    (input.mode === "postpaid" || account.loaded >= (input.balance ?? 0))
  );
}

/** Money handed over with the card, credited once (the key makes a repeated registration credit nothing more). */
async function handedOver(
  ctx: DeskContext,
  user: UserRecord,
  kind: "funds" | "deposit",
  amount: MinorUnits,
  idempotencyKey: string,
  now: Date,
): Promise<void> {
  const outcome = await ctx.store.topUp({
    id: newId(kind === "funds" ? "top" : "dep"),
    user: user.id,
    kind,
    amount,
    currency: user.homeCurrency,
    idempotencyKey,
    createdAt: now.toISOString(),
  });
  if (outcome.kind !== "credited" && outcome.kind !== "repeated")
    throw HttpProblem.of(
      "ERR_CONFLICT",
      `the card's ${kind === "funds" ? "load could not be credited to" : "deposit could not be recorded for"} ${user.id}: ${outcome.kind}`,
    );
}

/** The money handed over with the card: a prepaid load (a top-up, then moved to the card float) or a postpaid deposit. */
async function receiveMoney(ctx: DeskContext, card: string, input: CardRegistration, user: UserRecord, now: Date): Promise<void> {
  if (input.mode === "prepaid" && (input.balance ?? 0) > 0) {
    await handedOver(ctx, user, "funds", input.balance as MinorUnits, `card:${card}:load`, now);
    // The money is on the card already: it moves to the card float, out of the online balance.
    const load = await ctx.store.loadCard({
      id: `card-load:${card}:issue`,
      user: user.id,
      amount: input.balance as MinorUnits,
      currency: user.homeCurrency,
      ref: `card:${card}:load`,
      createdAt: now.toISOString(),
    });
    if (load.kind !== "loaded" && load.kind !== "repeated") {
      throw HttpProblem.of("ERR_CONFLICT", `the card's load could not be moved to ${user.id}'s card float: ${load.kind}`);
    }
  }
  if (input.mode === "postpaid" && (input.deposit ?? 0) > 0) {
    await handedOver(ctx, user, "deposit", input.deposit as MinorUnits, `card:${card}:deposit`, now);
  }
}

/** The card's user's ledger account: the existing one if it matches, or a new one enrolled with the card's key. */
async function userFor(ctx: DeskContext, input: CardRegistration, now: Date): Promise<UserRecord> {
  const found = await ctx.store.getUser(input.user);
  if (found) {
    if (found.mode !== input.mode)
      throw HttpProblem.of("ERR_CONFLICT", `${input.user} has a ${found.mode} account: a ${input.mode} card cannot draw on it`);
    if (found.homeCurrency !== input.currency)
      throw HttpProblem.of("ERR_CONFLICT", `${input.user}'s account is in ${found.homeCurrency}, the card in ${input.currency}`);
    if (found.status !== "active") throw HttpProblem.of("ERR_ACCOUNT_SUSPENDED", `${input.user}'s account is suspended`);
    return found;
  }
  const spki = createPublicKey({
    key: Buffer.from(new x509.X509Certificate(Buffer.from(input.chain[0]!, "base64")).publicKey.rawData),
    format: "der",
    type: "spki",
  });
  const parsed = await parseUserJwk(spki.export({ format: "jwk" }));
  if (!parsed.ok) throw HttpProblem.of("ERR_MALFORMED", `the card's key cannot enrol its user: ${parsed.message}`);
  const created = await ctx.store.createUser({
    id: input.user,
    publicKeyJwk: storedJwk(parsed.value.jwk),
    alg: parsed.value.alg,
    kid: parsed.value.kid,
    mode: input.mode,
    homeCurrency: input.currency as CurrencyCode,
    // The card's ceiling bounds what it spends between syncs, and each sync's ceiling keeps it
    // within this limit: a payment the card made is then never refused when it is booked.
    monthlyLimit: input.mode === "postpaid" ? ((input.monthlyLimit ?? Number.MAX_SAFE_INTEGER) as MinorUnits) : undefined,
    createdAt: now.toISOString(),
    ...(input.mode === "postpaid" && input.deposit ? { depositRequired: input.deposit as MinorUnits } : {}),
  });
  if (created.kind === "created") return created.user;
  const again = await ctx.store.getUser(input.user);
  if (!again) throw HttpProblem.of("ERR_CONFLICT", `the account of ${input.user} could not be created (${created.kind})`);
  return again;
}
