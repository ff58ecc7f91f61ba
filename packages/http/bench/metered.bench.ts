/**
 * Metered sessions against one full payment per tick, measured in the same run:
 *
 *   - ticks verified per second by the merchant: the next PayWord word checked against the last
 *     (one SHA-256), through the resource server's session book, as each paid call does;
 *   - against it, acknowledgments verified per second by the merchant (protocol.md §7.6, chain and
 *     signature), which one full payment per tick would cost it;
 *   - sessions redeemed per second at the payment server: POST /v1/payments/{id}/settlement over
 *     HTTP (chain check, one ledger transaction), 8 in flight;
 *   - against it, full payments per second at the same server: POST /v1/payments (consent signed by
 *     the client, verified, recorded, acknowledged), 8 in flight: the price of a payment per tick.
 *
 *   node packages/http/dist/bench/metered.bench.js
 *
 * Writes docs/benchmarks/metered.md. Bounded: about half a minute.
 */
import { webcrypto } from "node:crypto";
import { cpus } from "node:os";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createDemoPki,
  createOffer,
  createPaymentRequest,
  generateKeyPair,
  newNonce,
  newSettlementKey,
  payWordChain,
  price,
  sessionNonce,
  settlementCommitment,
  signCatalog,
  systemClock,
  uptoNonce,
  verifyAcknowledgment,
  type Offer,
  type PartyId,
} from "@peage/protocol";
import { startRealServer } from "@peage/server/testing";
import { TEST_RATES } from "@peage/wallet/testing";
import { SessionBook, type OpenSession } from "../src/sessions.js";

const SESSIONS = 300;
/** Words in each session's hash chain: the most ticks a session can be redeemed for. */
const CHAIN_LENGTH = 1000;
const IN_FLIGHT = 8;
const TICKS = 200_000;
const USER = "urn:peage:user:bench" as PartyId<"user">;

async function inFlight<T>(items: readonly T[], work: (item: T) => Promise<void>): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < items.length) await work(items[next++]!);
    }),
  );
  return (performance.now() - started) / 1000;
}

async function postJson(url: string, body: unknown): Promise<unknown> {
  const response = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
  });
  const value: unknown = await response.json();
  if (!response.ok) throw new Error(`${url}: ${response.status} ${JSON.stringify(value)}`);
  return value;
}

const pki = await createDemoPki();
const server = await startRealServer(pki, TEST_RATES);
const user = await generateKeyPair("ES256");
await server.enrol(
  USER,
  (await webcrypto.subtle.exportKey("jwk", user.publicKey)) as Parameters<typeof server.enrol>[1],
  "EUR",
  10_000_000,
);
const terms = {
  offerId: "stream",
  description: "Bench stream",
  price: price(1000, "EUR"),
  upto: true as const,
  tick: price(1, "EUR"),
};
const catalog = await signCatalog(
  pki.publisher.identity,
  [{ ...terms, grant: { kind: "launch" } }],
  pki.publisher.keys,
  pki.chainOf(pki.publisher.certificate),
);
const entry = catalog.offers[0]!;

// Full payments: each opens a session too, so that the redemptions below have sessions to settle.
interface Opened {
  readonly key: string;
  readonly inner: string;
  readonly words: readonly string[];
  readonly offer: Offer;
  readonly ack: unknown;
  readonly paymentId: string;
}
const prepared = Array.from({ length: SESSIONS }, () => {
  const key = newSettlementKey();
  const inner = newNonce();
  const words = payWordChain(CHAIN_LENGTH);
  const offerNonce = uptoNonce(settlementCommitment(key), inner);
  const offer = { ...createOffer(entry, systemClock), nonce: sessionNonce(offerNonce, words[0]!, CHAIN_LENGTH) };
  return { key, inner, words, offer };
});
const opened: Opened[] = [];
const paySeconds = await inFlight(prepared, async (p) => {
  const request = await createPaymentRequest({
    offer: p.offer,
    user: USER,
    server: pki.server.identity,
    userKey: user,
    clock: systemClock,
  });
  const ack = (await postJson(`${server.url}/v1/payments`, request)) as { acknowledgment: string };
  const claims = JSON.parse(Buffer.from(ack.acknowledgment.split(".")[1]!, "base64url").toString("utf8")) as {
    paymentId: string;
  };
  opened.push({ ...p, ack, paymentId: claims.paymentId });
});

// Merchant: one acknowledgment verified per tick, against one word per tick.
const trust = pki.trustStore();
let acks = 0;
const ackStart = performance.now();
while (performance.now() - ackStart < 2000) {
  const o = opened[acks % opened.length]!;
  const verified = await verifyAcknowledgment(o.ack, o.offer, { trust, clock: systemClock, server: pki.server.identity });
  if (!verified.ok) throw new Error(verified.error.message);
  acks++;
}
const ackSeconds = (performance.now() - ackStart) / 1000;

const chain = payWordChain(TICKS);
const book = new SessionBook();
const session = { id: "bench", offerId: "stream", root: chain[0]!, length: TICKS, ticks: 0, word: chain[0]! };
book.open(session as unknown as OpenSession);
const tickStart = performance.now();
for (let i = 1; i <= TICKS; i++) {
  const outcome = book.tick("stream", { session: "bench", ticks: i, word: chain[i]! });
  if (!outcome.ok) throw new Error(outcome.detail);
}
const tickSeconds = (performance.now() - tickStart) / 1000;

// Payment server: each session redeemed once, for a tick somewhere along its chain.
let ticksRedeemed = 0;
const redeemSeconds = await inFlight(opened, async (o) => {
  const ticks = 1 + (o.paymentId.charCodeAt(5) % (CHAIN_LENGTH - 1));
  ticksRedeemed += ticks;
  await postJson(`${server.url}/v1/payments/${o.paymentId}/settlement`, {
    terms: entry.terms,
    key: o.key,
    inner: o.inner,
    chain: { root: o.words[0], length: CHAIN_LENGTH, ticks, word: o.words[ticks] },
  });
});
await server.close();

const rows = [
  [
    "ticks verified by the merchant (PayWord, one SHA-256)",
    TICKS / tickSeconds,
    `${((tickSeconds / TICKS) * 1e6).toFixed(2)} µs`,
  ],
  [
    "acknowledgments verified by the merchant (one full payment per tick)",
    acks / ackSeconds,
    `${((ackSeconds / acks) * 1e6).toFixed(0)} µs`,
  ],
  [
    "sessions redeemed at the payment server (HTTP, 8 in flight)",
    SESSIONS / redeemSeconds,
    `${((redeemSeconds / SESSIONS) * 1e3).toFixed(2)} ms`,
  ],
  [
    "full payments at the payment server (HTTP, 8 in flight)",
    SESSIONS / paySeconds,
    `${((paySeconds / SESSIONS) * 1e3).toFixed(2)} ms`,
  ],
] as const;
const tickRate = rows[0][1];
const ackRate = rows[1][1];
const markdown = `# Metered sessions benchmark

\`node packages/http/dist/bench/metered.bench.js\`, on ${cpus().length} × ${cpus()[0]?.model ?? "unknown CPU"}, Node.js
${process.version}; the payment server in process on SQLite, over 127.0.0.1. Every figure below comes from the same run.

| what | per second | each (wall clock) |
|---|---:|---:|
${rows.map(([what, perSecond, each]) => `| ${what} | ${perSecond.toFixed(0)} | ${each} |`).join("\n")}

A session costs the user one consent and the payment server one full payment (to hold the cap)
and one redemption, whatever the number of ticks; each tick costs the merchant one SHA-256, about
${(tickRate / ackRate).toFixed(0)} times less than checking an acknowledgment, and costs the payment server nothing.
The ${ticksRedeemed} ticks these sessions were redeemed for would have been ${ticksRedeemed} full payments:
about ${(ticksRedeemed * (paySeconds / SESSIONS)).toFixed(0)} s at the rate of full payments measured
in this run (an extrapolation, not a run); the sessions took ${(paySeconds + redeemSeconds).toFixed(1)} s in all.
`;
mkdirSync(join("docs", "benchmarks"), { recursive: true });
writeFileSync(join("docs", "benchmarks", "metered.md"), markdown);
process.stdout.write(`${markdown}\n`);
