/**
 * A card's log coming back (claim 8): the upload checked entry by entry against the card's key,
 * each new payment posted once to the ledger through Store.recordPayment, the publishers credited
 * there, and the signed commands returned for the card (commands.ts). An upload that does not
 * verify is refused whole: nothing of it is recorded, an incident is, and the card is blocked.
 */
import {
  canonicalBytes,
  PROTOCOL_VERSION,
  sha256Base64url,
  toDate,
  x509,
  type MinorUnits,
  type PartyId,
  type Price,
} from "@peage/protocol";
import {
  cardKeyFromCertificate,
  decodeToken,
  revokedByCrls,
  revokedListForCards,
  verifyUploadedLog,
  type LogEntryBody,
  type LogProblem,
  type LogVerification,
} from "@peage/card";
import { feeFor } from "../ledger/ledger.js";
import { HttpProblem, problemFor } from "../problems.js";
import type { PaymentRecord } from "../store/store.js";
import { commandsFor } from "./commands.js";
import { accountOf, incident, nowOf, type DeskContext } from "./context.js";
import { forksOf, rollbackOf } from "./forks.js";
import {
  MAX_UPLOAD_ENTRIES,
  SyncRefused,
  type Booking,
  type LogUploadBody,
  type SyncAnswer,
  type SyncProblem,
  type UnbookedEntry,
} from "./messages.js";
import { toCommand, type CardAccount, type CommandRow } from "./records.js";
import { all, get, locked, run, type CardLogic } from "./storage.js";
import { int } from "../store/operations/rows.js";
import { viewOf } from "./views.js";

/** Receives a card's uploaded log (READ LOG and LOG HEAD over a challenge of this desk); the caller serialises per card. */
export async function syncCard(ctx: DeskContext, card: string, upload: LogUploadBody): Promise<SyncAnswer> {
  const account = await accountOf(ctx, card);
  const now = ctx.clock.now();
  await consumeChallenge(ctx, account, upload, now);
  if (account.status === "blocked") {
    throw HttpProblem.of(
      "ERR_ACCOUNT_SUSPENDED",
      `${account.card} is blocked (${account.blockedReason ?? "by the operator"}): nothing was recorded; the operator must investigate and unblock it`,
    );
  }
  if (upload.entries.length > MAX_UPLOAD_ENTRIES)
    throw HttpProblem.of("ERR_MALFORMED", `an upload holds at most ${MAX_UPLOAD_ENTRIES} entries`);

  const leaf = new x509.X509Certificate(Buffer.from(account.chain[0]!, "base64"));
  const report = await verifyUploadedLog({
    card: { card: account.card, ...(await cardKeyFromCertificate(leaf)) },
    entries: upload.entries,
    head: upload.head,
    challenge: new Uint8Array(Buffer.from(upload.challenge, "base64url")),
    recordedUpTo: account.syncedCounter,
  });
  const issued = (await ctx.db.read(() => all("SELECT * FROM card_commands WHERE card = ? ORDER BY seq", account.card))).map(
    toCommand,
  );
  const problems = await uploadProblems(ctx, account, upload, report, issued);
  if (problems.length > 0) await refuse(ctx, account, problems);

  const head = report.head!;
  const revoked = revokedByCrls(await ctx.crls.inForce(ctx.trust, now));
  const booked = await book(ctx, account, upload, report, revoked);
  const unbooked: UnbookedEntry[] = booked
    .filter(({ outcome }) => outcome.kind !== "recorded" && outcome.kind !== "duplicate")
    .map(({ entry, outcome }) => ({ counter: entry.counter, paymentId: entry.paymentId, reason: outcome.kind }));
  const lastCounter = report.lastCounter;
  await ctx.db.write(() => recordUpload(account, booked, lastCounter, head.seq, now.toISOString(), unbooked));
  const commands = await commandsFor(
    ctx,
    await accountOf(ctx, account.card),
    issued,
    head,
    lastCounter,
    revokedListForCards(revoked),
  );
  return {
    card: account.card,
    recorded: booked.filter(({ outcome }) => outcome.kind === "recorded").length,
    alreadyRecorded: report.alreadyRecorded.length + booked.filter(({ outcome }) => outcome.kind === "duplicate").length,
    lastCounter,
    commands,
    credited: creditedBy(booked),
    unbooked,
    account: await viewOf(ctx, account.card),
  };
}

/** The challenge is used up here, whatever follows: an upload is answered once, a replay refused and recorded. */
async function consumeChallenge(ctx: DeskContext, account: CardAccount, upload: LogUploadBody, now: Date): Promise<void> {
  const consumed = await ctx.db.write(() =>
    run(
      "DELETE FROM card_challenges WHERE challenge = ? AND card = ? AND expires_at > ?",
      upload.challenge,
      account.card,
      now.toISOString(),
    ),
  );
  if (consumed === 1) return;
  await ctx.db.write(() =>
    incident(
      account.card,
      "replayed",
      { challenge: upload.challenge, message: "an upload with a challenge unknown, expired or already used" },
      nowOf(ctx),
    ),
  );
  throw new SyncRefused(
    problemFor(
      "ERR_NONCE_MISMATCH",
      "this upload's challenge is unknown, expired or already used (a replayed upload): ask for a new challenge and read the card again",
      { status: 409 },
    ),
    [{ kind: "replayed", message: "the challenge is unknown, expired or already used" }],
    false,
  );
}

/** Everything wrong with an upload: the log's own problems, entries not the card's, a command not signed here, a fork or rollback. */
async function uploadProblems(
  ctx: DeskContext,
  account: CardAccount,
  upload: LogUploadBody,
  report: LogVerification,
  issued: readonly CommandRow[],
): Promise<SyncProblem[]> {
  const problems: SyncProblem[] = report.problems.map(describeProblem);
  for (const entry of report.entries) {
    if (entry.user !== account.user)
      problems.push({
        kind: "foreign-user",
        counter: entry.counter,
        message: `entry ${entry.counter} names ${entry.user}, not the card's user ${account.user}`,
      });
    else if (entry.price.currency !== account.currency)
      problems.push({
        kind: "currency",
        counter: entry.counter,
        message: `entry ${entry.counter} is in ${entry.price.currency}, not the card's ${account.currency}`,
      });
  }
  const head = report.head;
  if (head && "balance" in head.purse !== (account.mode === "prepaid")) {
    problems.push({
      kind: "mode",
      message: `the card's head shows a ${"balance" in head.purse ? "prepaid" : "postpaid"} purse, the card is registered ${account.mode}`,
    });
  }
  const nextSeq = issued.length === 0 ? 0 : issued[issued.length - 1]!.seq + 1;
  if (head && head.seq > nextSeq) {
    problems.push({
      kind: "unknown-command",
      message: `the card applied ${head.seq} issuer commands, this desk signed only ${nextSeq}: a command not signed here reached the card`,
    });
  }
  // A copied or rolled-back device (docs/pc-store.md): nothing of the upload is booked.
  const again = report.alreadyRecorded.map((entry) => entry.counter);
  const recorded =
    again.length === 0
      ? []
      : await ctx.db.read(() =>
          all(
            "SELECT counter, token FROM card_entries WHERE card = ? AND counter BETWEEN ? AND ?",
            account.card,
            Math.min(...again),
            Math.max(...again),
          ),
        );
  problems.push(
    ...forksOf(
      new Map(recorded.map((row) => [int(row["counter"], "card_entries.counter"), String(row["token"])])),
      report.alreadyRecorded,
      upload.entries,
    ),
  );
  problems.push(...rollbackOf(head, account));
  return problems;
}

/** Refuses the upload: the problems recorded as an incident that blocks the card, and answered. */
async function refuse(ctx: DeskContext, account: CardAccount, problems: readonly SyncProblem[]): Promise<never> {
  const reason = `upload refused: ${problems.map((p) => p.kind).join(", ")}`;
  await ctx.db.write(() => incident(account.card, "upload-refused", { problems }, nowOf(ctx), reason));
  const first = problems[0]!;
  throw new SyncRefused(
    problemFor(
      codeOf(first.kind),
      `the card's log does not verify (${problems.map((p) => p.message).join("; ")}): nothing was recorded and ${account.card} is blocked`,
      { status: 422 },
    ),
    problems,
    true,
  );
}

/** Posts each new entry once: a retry finds it recorded (same nonce, same request hash). */
async function book(
  ctx: DeskContext,
  account: CardAccount,
  upload: LogUploadBody,
  report: LogVerification,
  revoked: ReturnType<typeof revokedByCrls>,
): Promise<Booking[]> {
  const booked: Booking[] = [];
  const tokens = new Map<number, string>();
  for (const token of upload.entries) {
    const decoded = decodeToken(token);
    const counter = (decoded?.body as { counter?: unknown } | undefined)?.counter;
    if (typeof counter === "number") tokens.set(counter, token);
  }
  for (const entry of report.entries) {
    // A publisher whose certificate was revoked before the payment is credited nothing: the
    // card could not know, so the payment is left unbooked (the user keeps the money) and reported.
    const revokedAt = entry.publisherCert === undefined ? undefined : revoked.get(entry.publisherCert);
    const outcome: Booking["outcome"] =
      revokedAt !== undefined && revokedAt.getTime() <= toDate(entry.time).getTime()
        ? { kind: "publisher-revoked", revokedAt: revokedAt.toISOString() }
        : await ctx.store.recordPayment(paymentOf(ctx, account, entry, tokens.get(entry.counter)!));
    booked.push({ entry, outcome, token: tokens.get(entry.counter)! });
  }
  return booked;
}

function paymentOf(ctx: DeskContext, account: CardAccount, entry: LogEntryBody, token: string): PaymentRecord {
  return {
    // A prepaid card spends what was loaded onto it: the user's card float, never the online funds.
    fromCardFloat: account.mode === "prepaid",
    id: entry.paymentId,
    user: entry.user,
    publisher: entry.publisher,
    offerHash: entry.offerHash,
    price: entry.price,
    // The card pays only in its own currency: what the user is charged is the price.
    charged: entry.price,
    rate: "1.0000000000",
    rateDate: undefined,
    nonce: entry.nonce,
    offerDate: entry.date,
    serverTime: entry.time,
    // The entry's hash: the same entry uploaded again is the same request, recognised as a retry.
    requestHash: sha256Base64url(canonicalBytes(entry)),
    // The card's signed log entry stands where a server's acknowledgment would: it is the
    // card's proof of this debit (the acknowledgment itself went to the merchant).
    acknowledgment: { type: "peage.acknowledgment", v: PROTOCOL_VERSION, acknowledgment: token },
    fee: feeFor(entry.price, ctx.feeBasisPoints),
  };
}

/** What this upload credited each publisher (price less the server's fee), per currency. */
function creditedBy(booked: readonly Booking[]): { publisher: PartyId<"publisher">; amount: Price }[] {
  const credited = new Map<string, { publisher: PartyId<"publisher">; amount: Price }>();
  for (const { entry, outcome } of booked) {
    if (outcome.kind !== "recorded") continue;
    const fee = outcome.payment.fee ?? 0;
    const key = `${entry.publisher} ${entry.price.currency}`;
    const previous = credited.get(key);
    credited.set(key, {
      publisher: entry.publisher,
      amount: {
        amount: ((previous?.amount.amount ?? 0) + entry.price.amount - fee) as MinorUnits,
        currency: entry.price.currency,
      },
    });
  }
  return [...credited.values()];
}

/** Records an upload that verified: its entries with what the ledger answered, the counters and commands it shows applied. */
function recordUpload(
  account: CardAccount,
  booked: readonly Booking[],
  lastCounter: number,
  headSeq: number,
  at: string,
  unbooked: readonly UnbookedEntry[],
): CardLogic<void> {
  // The ledger's refusals block the card (it spent what its account could not pay); a revoked
  // publisher does not: the card could not know, and the payment is simply not credited.
  const refused = unbooked.filter((u) => u.reason !== "publisher-revoked");
  const why = `the ledger refused ${refused.length} payment(s) of the card: ${[...new Set(refused.map((u) => u.reason))].join(", ")}`;
  const unbookedIncident = refused.length > 0 ? incident(account.card, "unbooked", { entries: refused }, at, why) : undefined;
  const revoked = booked.flatMap(({ entry, outcome }) =>
    outcome.kind === "publisher-revoked"
      ? [
          {
            counter: entry.counter,
            paymentId: entry.paymentId,
            publisher: entry.publisher,
            publisherCert: entry.publisherCert,
            revokedAt: outcome.revokedAt,
          },
        ]
      : [],
  );
  const revokedIncident = revoked.length > 0 ? incident(account.card, "publisher-revoked", { entries: revoked }, at) : undefined;
  return (function* () {
    const row = yield* locked("SELECT synced_counter, card_seq FROM card_accounts WHERE card = ?", account.card);
    for (const { entry, outcome, token } of booked) {
      const exists = yield* get("SELECT 1 AS one FROM card_entries WHERE card = ? AND counter = ?", account.card, entry.counter);
      if (exists) continue;
      yield* run(
        `INSERT INTO card_entries (card, counter, payment_id, publisher, price_minor, currency, token, booking, recorded_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        account.card,
        entry.counter,
        entry.paymentId,
        entry.publisher,
        entry.price.amount,
        entry.price.currency,
        token,
        outcome.kind,
        at,
      );
    }
    const synced = Math.max(int(row?.["synced_counter"] ?? 0, "card_accounts.synced_counter"), lastCounter);
    const seq = Math.max(int(row?.["card_seq"] ?? 0, "card_accounts.card_seq"), headSeq);
    yield* run(
      "UPDATE card_accounts SET synced_counter = ?, card_seq = ?, last_sync_at = ? WHERE card = ?",
      synced,
      seq,
      at,
      account.card,
    );
    // Commands below the card's seq were applied (the card applies them in order, once).
    yield* run(
      "UPDATE card_commands SET applied_at = ? WHERE card = ? AND seq < ? AND applied_at IS NULL",
      at,
      account.card,
      headSeq,
    );
    yield* run(
      "UPDATE card_reloads SET applied_at = ? WHERE card = ? AND command_seq IS NOT NULL AND command_seq < ? AND applied_at IS NULL",
      at,
      account.card,
      headSeq,
    );
    if (unbookedIncident) yield* unbookedIncident;
    if (revokedIncident) yield* revokedIncident;
  })();
}

function describeProblem(problem: LogProblem): SyncProblem {
  return {
    kind: problem.kind,
    message: problem.message,
    ...(problem.counter !== undefined && { counter: problem.counter }),
    ...(problem.missing !== undefined && { missing: [problem.missing[0], problem.missing[1]] }),
  };
}

/** The problem code an upload refusal is answered with, by its first problem. */
function codeOf(
  kind: string,
): "ERR_BAD_SIGNATURE" | "ERR_NONCE_MISMATCH" | "ERR_MALFORMED" | "ERR_IDENTITY_MISMATCH" | "ERR_CONFLICT" {
  switch (kind) {
    case "forged":
      return "ERR_BAD_SIGNATURE";
    case "head":
      return "ERR_NONCE_MISMATCH";
    case "malformed":
      return "ERR_MALFORMED";
    case "foreign":
    case "foreign-user":
    case "currency":
    case "mode":
      return "ERR_IDENTITY_MISMATCH";
    default:
      return "ERR_CONFLICT";
  }
}
