/**
 * A thread of the payment pool (payment-pool.ts): it does a payment request's CPU work off the
 * event loop, with the very functions the single-threaded server calls (payments.ts
 * preparePayment): the body read as JSON and checked against its schema, the consent's JWS
 * decoded, the publisher's chain validated and the signatures verified, the user's record and
 * month read on a read-only connection of its own to the SQLite file (WAL lets it read the last
 * commit while the writer writes), the price converted, the funds prechecked, and the
 * acknowledgment signed. It writes nothing: what it answers is plain data that the event loop
 * hands to the store, whose transaction decides (nonce, balance, limit) as it always does. So a
 * thread that dies loses nothing and doubles nothing: its requests are answered 503 and retried.
 */
import { parentPort, workerData } from "node:worker_threads";
import {
  FixedClock,
  PaymentRequestSchema,
  TrustStore,
  x509,
  type KeyPair,
  type PartyId,
  type Problem,
  type RateTable,
  type RevocationPolicy,
} from "@peage/protocol";
import type { TSchema } from "@sinclair/typebox";
import type { FastifySchemaValidationError } from "fastify";
import { readJsonBody } from "./json-body.js";
import { offerCurrency, preparePayment, type AcceptedConsent, type Booking, type PaymentContext } from "./payments.js";
import { READY } from "./payment-pool.js";
import { HttpProblem, malformed, problemFor } from "./problems.js";
import { strictValidatorCompiler } from "./request-validator.js";
import { SqliteStore } from "./store/sqlite.js";
import type { PaymentRecord } from "./store/store.js";
import { batchPerTurn } from "./turn-batch.js";
import { UserKeyCache } from "./user-keys.js";

/** What a thread starts with; the trust store's roots and CRLs as DER, the key only when it can live in a thread. */
export interface ThreadData {
  readonly databasePath: string;
  readonly server: { readonly id: PartyId<"server">; readonly x5c: readonly string[]; readonly notAfter: Date };
  /** The signing key (CryptoKeys clone into a thread); undefined when it stays on the event loop (a token's). */
  readonly key: KeyPair | undefined;
  readonly roots: readonly ArrayBuffer[];
  readonly revocation: RevocationPolicy;
  readonly skewMs: number;
  readonly feeBasisPoints: number;
}

/** What the event loop sends, several per message: a request to check, or what changed since (rates, CRLs). */
export type ThreadMessage =
  /** `body`: the text, or null or undefined as Fastify has it for a request without one (refused by the schema, in its words). */
  | { readonly kind: "pay"; readonly id: number; readonly body: string | null | undefined; readonly now: number }
  | { readonly kind: "rates"; readonly table: RateTable | undefined }
  | { readonly kind: "crls"; readonly ders: readonly ArrayBuffer[] };

/** A publisher whose chain verified, and when it expires (the metrics' certificate expiry). */
export interface SeenPublisher {
  readonly publisher: string;
  readonly notAfter: Date;
}

/** The answer for one request, several per message. */
export type ThreadAnswer = {
  readonly id: number;
  readonly currency: string | undefined;
  readonly seen: SeenPublisher | undefined;
} & (
  | { readonly kind: "signed"; readonly booking: Booking }
  | { readonly kind: "accepted"; readonly accepted: AcceptedConsent }
  | { readonly kind: "replayed"; readonly payment: PaymentRecord }
  | { readonly kind: "refused"; readonly problem: Problem; readonly headers: Readonly<Record<string, string>> }
  | { readonly kind: "failed"; readonly name: string; readonly message: string }
);

const port = parentPort!;
const data = workerData as ThreadData;
const reader = SqliteStore.open(data.databasePath, { readonly: true });
const trust = new TrustStore({ roots: data.roots.map((der) => new x509.X509Certificate(der)), revocation: data.revocation });
let rates: RateTable | undefined;
const base = {
  store: reader,
  identity: data.key
    ? { ...data.server, key: data.key }
    : // Never used to sign: preparePayment is asked for the accepted consent only.
      { ...data.server, key: undefined as unknown as KeyPair },
  trust,
  rates: { current: () => rates },
  userKeys: new UserKeyCache(),
  skewMs: data.skewMs,
  feeBasisPoints: data.feeBasisPoints,
};
const validate = strictValidatorCompiler({
  schema: PaymentRequestSchema as TSchema,
  httpPart: "body",
  method: "POST",
  url: "/v1/payments",
}) as (input: unknown) => { value?: unknown; error?: FastifySchemaValidationError[] };

/** The body as the route would have it: read as JSON, then checked against the schema, refused in the application's words. */
function requestOf(text: string | null | undefined): { body: unknown; problem?: Problem } {
  let body: unknown = text;
  if (typeof text === "string") {
    const read = readJsonBody(text);
    if (!read.ok) return { body: undefined, problem: problemFor("ERR_BAD_REQUEST", read.message, { status: 400 }) };
    body = read.value;
  }
  const checked = validate(body);
  if (checked.error !== undefined) return { body, problem: malformed("body", checked.error[0]) };
  return { body };
}

/** A request's answer; whatever goes wrong is answered too (as a failure, 500), never left to kill the thread. */
async function check(task: Extract<ThreadMessage, { kind: "pay" }>): Promise<ThreadAnswer> {
  try {
    return await checkRequest(task);
  } catch (error) {
    const { name, message } = error as Error;
    return { id: task.id, currency: undefined, seen: undefined, kind: "failed", name: String(name), message: String(message) };
  }
}

async function checkRequest(task: Extract<ThreadMessage, { kind: "pay" }>): Promise<ThreadAnswer> {
  let seen: SeenPublisher | undefined;
  const ctx: PaymentContext = {
    ...base,
    clock: new FixedClock(new Date(task.now)),
    publisherSeen: (publisher, notAfter) => (seen = { publisher, notAfter }),
  };
  const { id } = task;
  const { body, problem } = requestOf(task.body);
  const currency = offerCurrency(body);
  if (problem) return { id, currency, seen, kind: "refused", problem, headers: {} };
  try {
    const prepared = await preparePayment(body, ctx, { sign: data.key !== undefined });
    if (prepared.kind === "replayed") return { id, currency, seen, kind: "replayed", payment: prepared.answer.payment };
    if (prepared.kind === "accepted") return { id, currency, seen, kind: "accepted", accepted: prepared.accepted };
    return { id, currency, seen, kind: "signed", booking: prepared.booking };
  } catch (error) {
    if (error instanceof HttpProblem)
      return { id, currency, seen, kind: "refused", problem: error.problem, headers: error.headers };
    const { name, message } = error as Error;
    return { id, currency, seen, kind: "failed", name: String(name), message: String(message) };
  }
}

// Answers ready in one turn of this thread's loop go back in one message, as requests come.
const answer = batchPerTurn<ThreadAnswer>((replies) => port.postMessage(replies));

port.on("message", (messages: readonly ThreadMessage[]) => {
  for (const message of messages) {
    if (message.kind === "rates") rates = message.table;
    // The trust store keeps the newest CRL of each issuer: adding all of them again changes only what is new.
    else if (message.kind === "crls") for (const der of message.ders) trust.addCrl(new x509.X509Crl(der));
    else void check(message).then(answer);
  }
});
port.postMessage(READY);
