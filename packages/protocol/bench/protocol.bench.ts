/**
 * Protocol benchmark: signatures made and checked per second for each message kind, ES256 and
 * EdDSA, next to `openssl speed` on the same machine, and a breakdown of where the time of one
 * check goes. Bounded to well under a minute.
 *
 *   npx tsc -b packages/protocol && node packages/protocol/dist/bench/protocol.bench.js
 *
 * Checks run against a warm TrustStore: the chain of each message was validated once before
 * measuring, so a check costs a cache lookup plus the message's signature verification(s).
 * WebCrypto is asynchronous (Node runs each signature on its libuv threadpool), so every
 * operation is measured twice: a sequential loop (one operation in flight: latency-bound, about
 * one core) and CONCURRENCY operations in flight (throughput; the threadpool may use both cores).
 * openssl speed is single-threaded.
 */
import { execFileSync } from "node:child_process";
import { createPublicKey, KeyObject, sign as nodeSign, verify as nodeVerify, webcrypto } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus, loadavg } from "node:os";
import { fileURLToPath } from "node:url";
import { CompactSign, compactVerify } from "jose";
import {
  AcknowledgmentClaimsSchema,
  canonicalBytes,
  createPaymentRequest,
  decodeJws,
  FixedClock,
  JwsTypes,
  keyThumbprint,
  offerHash,
  parser,
  signAcknowledgment,
  signCatalogEntry,
  verifyAcknowledgment,
  verifyJwsSignature,
  verifyOffer,
  verifyOfferSignature,
  verifyPaymentRequest,
  type ConsentClaims,
  type KeyPair,
  type SignatureAlgorithm,
} from "../src/index.js";
import { ackAt, at, claimsOf, DAY, enrolled, makeWorld, MINUTE, offerAt, requestAt, SERVER } from "../scripts/scenario.js";

const MEASURE_MS = Number(process.env["PEAGE_BENCH_MS"] ?? 600);
const PROFILE_MS = Math.max(100, Math.round(MEASURE_MS / 2));
const CONCURRENCY = 32;
const OPENSSL_SECONDS = 3;
const NOW = new Date("2026-01-15T09:00:00.000Z");
const T = at(NOW, DAY);

type Op = () => Promise<unknown> | unknown;

const clock = () => performance.now();

/** Operations per second of `op`, one at a time. */
async function sequential(op: Op, ms = MEASURE_MS): Promise<number> {
  for (let i = 0; i < 20; i++) await op();
  let count = 0;
  const start = clock();
  let elapsed = 0;
  while (elapsed < ms) {
    await op();
    count++;
    elapsed = clock() - start;
  }
  return (count * 1000) / elapsed;
}

/** Operations per second of `op` with `width` in flight. */
async function concurrent(op: Op, ms = MEASURE_MS, width = CONCURRENCY): Promise<number> {
  await Promise.all(Array.from({ length: width }, () => op()));
  let count = 0;
  const start = clock();
  const deadline = start + ms;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (clock() < deadline) {
        await op();
        count++;
      }
    }),
  );
  return (count * 1000) / (clock() - start);
}

interface OpensslRate {
  readonly sign: number;
  readonly verify: number;
}

/** Parses the last line of `openssl speed`: "... sign verify sign/s verify/s". */
function opensslSpeed(algorithm: "ecdsap256" | "ed25519"): OpensslRate | undefined {
  try {
    const out = execFileSync("openssl", ["speed", "-seconds", String(OPENSSL_SECONDS), algorithm], { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 30_000 });
    const line = out.trim().split("\n").at(-1) ?? "";
    const numbers = line.trim().split(/\s+/).slice(-2).map(Number);
    const [sign, verify] = numbers;
    if (sign === undefined || verify === undefined || !Number.isFinite(sign) || !Number.isFinite(verify)) return undefined;
    return { sign, verify };
  } catch {
    return undefined;
  }
}

interface Row {
  readonly alg: SignatureAlgorithm;
  readonly message: string;
  readonly op: "sign" | "verify";
  /** Signature operations per call (a payment request check verifies two). */
  readonly signatures: number;
  readonly sequential: number;
  readonly concurrent: number;
}

interface ProfileRow {
  readonly alg: SignatureAlgorithm;
  readonly step: string;
  readonly perSecond: number;
}

async function measureAlgorithm(alg: SignatureAlgorithm): Promise<{ rows: Row[]; profile: ProfileRow[] }> {
  const w = await makeWorld(alg, NOW);
  const entry = w.entries["launch"]!;
  const offer = offerAt(entry, T);
  const request = await requestAt(offer, w.user, at(T, MINUTE));
  const ack = await ackAt(w, request, at(T, MINUTE + 1000));
  const trust = w.trust;
  const offerClock = new FixedClock(at(T, 30_000));
  const serverClock = new FixedClock(at(T, MINUTE + 1000));
  const merchantClock = new FixedClock(at(T, MINUTE + 2000));
  const userKey = enrolled([w.user]);
  const requestOptions = { trust, clock: serverClock, server: SERVER, userKey };

  // Warm the cache: every chain validated once.
  for (const check of [
    verifyOffer(offer, { trust, clock: offerClock }),
    verifyPaymentRequest(request, requestOptions),
    verifyAcknowledgment(ack, offer, { trust, clock: merchantClock }),
  ]) {
    const result = await check;
    if (!result.ok) throw new Error(`${alg}: the benchmark's own messages do not verify: ${result.error.message}`);
  }

  const consentClaims = claimsOf<ConsentClaims>(request.consent);
  const operations: [string, Row["op"], number, Op][] = [
    ["offer signature S_E", "sign", 1, () => signCatalogEntry(entry.terms, w.pki.publisher.keys, w.publisherChain)],
    ["offer signature S_E", "verify", 1, () => verifyOfferSignature(entry.signature, trust, T)],
    ["offer (verifyOffer)", "verify", 1, () => verifyOffer(offer, { trust, clock: offerClock })],
    ["consent", "sign", 1, () => createPaymentRequest({ offer, user: w.user.id, server: SERVER, userKey: w.user.key, clock: serverClock })],
    ["payment request (verifyPaymentRequest)", "verify", 2, () => verifyPaymentRequest(request, requestOptions)],
    [
      "acknowledgment",
      "sign",
      1,
      () => signAcknowledgment({ consent: consentClaims, paymentId: "pay_bench", server: SERVER, charged: offer.terms.price, key: w.pki.server.keys, x5c: w.serverChain, clock: serverClock }),
    ],
    ["acknowledgment (verifyAcknowledgment)", "verify", 1, () => verifyAcknowledgment(ack, offer, { trust, clock: merchantClock })],
  ];
  const rows: Row[] = [];
  for (const [message, op, signatures, fn] of operations) {
    const seq = await sequential(fn);
    const con = await concurrent(fn);
    rows.push({ alg, message, op, signatures, sequential: seq, concurrent: con });
    console.log(`  ${alg.padEnd(5)} ${op.padEnd(6)} ${message.padEnd(40)} ${fmt(seq).padStart(8)}/s sequential  ${fmt(con).padStart(8)}/s with ${CONCURRENCY} in flight`);
  }

  // Where the time of one acknowledgment check goes, step by step (sequential).
  const token = ack.acknowledgment;
  const key: KeyPair = w.pki.server.keys;
  const chain = await trust.validate(w.serverChain, "acknowledgment-signing", T);
  if (!chain.ok) throw new Error("unreachable");
  const params = alg === "ES256" ? { name: "ECDSA", hash: "SHA-256" } : { name: "Ed25519" };
  const [header, payload, signature] = token.split(".") as [string, string, string];
  const signingInput = Buffer.from(`${header}.${payload}`, "ascii");
  const signatureBytes = Buffer.from(signature, "base64url");
  const privateObject = KeyObject.from(key.privateKey);
  const publicObject = KeyObject.from(key.publicKey);
  const nodeAlg = alg === "ES256" ? "sha256" : null;
  const nodeSignature = nodeSign(nodeAlg, signingInput, { key: privateObject, dsaEncoding: "ieee-p1363" });
  const ackClaims = claimsOf(token);
  const claimsParser = parser(AcknowledgmentClaimsSchema);
  const spki = publicObject.export({ type: "spki", format: "der" });
  const steps: [string, Op][] = [
    ["node:crypto verify, synchronous (KeyObject)", () => nodeVerify(nodeAlg, signingInput, { key: publicObject, dsaEncoding: "ieee-p1363" }, nodeSignature)],
    ["WebCrypto subtle.verify (async)", () => webcrypto.subtle.verify(params, chain.value.publicKey, signatureBytes, signingInput)],
    ["jose compactVerify (async, includes WebCrypto verify)", () => compactVerify(token, chain.value.publicKey, { algorithms: [alg] })],
    ["verifyJwsSignature (jose + result)", () => verifyJwsSignature(token, alg, chain.value.publicKey)],
    ["decodeJws (split, base64url, JSON, header rules, RFC 8785 re-check)", () => decodeJws(token, JwsTypes.acknowledgment)],
    ["TrustStore.validate, cache hit (SHA-256 of the chain + lookup)", () => trust.validate(w.serverChain, "acknowledgment-signing", T)],
    ["claims schema parse (TypeBox compiled + semantic walk)", () => claimsParser.parse(ackClaims, "acknowledgment")],
    ["canonicalBytes (RFC 8785) of the claims", () => canonicalBytes(ackClaims)],
    ["offerHash (RFC 8785 + SHA-256) of the terms", () => offerHash(entry.terms)],
    ["node:crypto sign, synchronous (KeyObject)", () => nodeSign(nodeAlg, signingInput, { key: privateObject, dsaEncoding: "ieee-p1363" })],
    ["WebCrypto subtle.sign (async)", () => webcrypto.subtle.sign(params, key.privateKey, signingInput)],
    ["jose CompactSign (async, includes WebCrypto sign)", () => new CompactSign(canonicalBytes(ackClaims)).setProtectedHeader({ alg, typ: JwsTypes.acknowledgment, x5c: w.serverChain }).sign(key.privateKey)],
    ["keyThumbprint (exportJWK + RFC 7638), per consent", () => keyThumbprint(w.user.key.publicKey)],
    ["SPKI import to a WebCrypto key (avoided by the cache)", () => webcrypto.subtle.importKey("spki", spki, alg === "ES256" ? { name: "ECDSA", namedCurve: "P-256" } : { name: "Ed25519" }, true, ["verify"])],
    ["SPKI parse to a KeyObject (avoided by the cache)", () => createPublicKey({ key: spki, format: "der", type: "spki" })],
  ];
  const profile: ProfileRow[] = [];
  for (const [step, fn] of steps) {
    const perSecond = await sequential(fn, PROFILE_MS);
    profile.push({ alg, step, perSecond });
    console.log(`  ${alg.padEnd(5)} ${step.padEnd(72)} ${fmt(perSecond).padStart(10)}/s  ${(1e6 / perSecond).toFixed(1).padStart(8)} µs`);
  }
  return { rows, profile };
}

function fmt(value: number): string {
  return value >= 100 ? Math.round(value).toLocaleString("en-US") : value.toFixed(1);
}

function ratio(value: number, reference: number | undefined): string {
  return reference === undefined ? "n/a" : (value / reference).toFixed(2);
}

async function main(): Promise<void> {
  const started = clock();
  const loadBefore = loadavg();
  console.log(`Péage protocol benchmark: ${MEASURE_MS} ms per measurement, ${CONCURRENCY} in flight for the concurrent runs`);
  const openssl = { ES256: opensslSpeed("ecdsap256"), EdDSA: opensslSpeed("ed25519") } as Record<SignatureAlgorithm, OpensslRate | undefined>;
  for (const alg of ["ES256", "EdDSA"] as const) {
    const rate = openssl[alg];
    console.log(`openssl speed ${alg === "ES256" ? "ecdsap256" : "ed25519"}: ${rate ? `${fmt(rate.sign)} sign/s, ${fmt(rate.verify)} verify/s` : "unavailable"}`);
  }
  const rows: Row[] = [];
  const profile: ProfileRow[] = [];
  for (const alg of ["ES256", "EdDSA"] as const) {
    const result = await measureAlgorithm(alg);
    rows.push(...result.rows);
    profile.push(...result.profile);
  }
  const seconds = (clock() - started) / 1000;
  const loadAfter = loadavg();
  const opensslVersion = (() => {
    try {
      return execFileSync("openssl", ["version"], { encoding: "utf8" }).trim();
    } catch {
      return "openssl unavailable";
    }
  })();

  const lines: string[] = [];
  lines.push("# Protocol benchmark");
  lines.push("");
  lines.push("Written by `packages/protocol/bench/protocol.bench.ts` (`npx tsc -b packages/protocol && node packages/protocol/dist/bench/protocol.bench.js`).");
  lines.push("");
  lines.push(`Machine: ${cpus()[0]?.model ?? "unknown CPU"}, ${cpus().length} cores; Node ${process.version}; ${opensslVersion}. ` +
    `Load average ${loadBefore.map((x) => x.toFixed(2)).join(" / ")} before, ${loadAfter.map((x) => x.toFixed(2)).join(" / ")} after; ${seconds.toFixed(0)} s in all. ` +
    "A load above the core count means other processes shared the CPU and every figure is a lower bound.");
  lines.push("");
  lines.push("## Baseline: `openssl speed` (one core)");
  lines.push("");
  lines.push("| algorithm | sign/s | verify/s |");
  lines.push("|---|---:|---:|");
  lines.push(`| ES256 (\`openssl speed -seconds ${OPENSSL_SECONDS} ecdsap256\`) | ${openssl.ES256 ? fmt(openssl.ES256.sign) : "n/a"} | ${openssl.ES256 ? fmt(openssl.ES256.verify) : "n/a"} |`);
  lines.push(`| EdDSA (\`openssl speed -seconds ${OPENSSL_SECONDS} ed25519\`) | ${openssl.EdDSA ? fmt(openssl.EdDSA.sign) : "n/a"} | ${openssl.EdDSA ? fmt(openssl.EdDSA.verify) : "n/a"} |`);
  lines.push("");
  lines.push("## Messages signed and checked per second");
  lines.push("");
  lines.push(`*sequential*: one operation at a time (await in a loop). *concurrent*: ${CONCURRENCY} operations in flight; WebCrypto runs signatures on the libuv threadpool, so this may use both cores. ` +
    "*ratio*: operations per second over openssl's single-core figure for the same operation (sign or verify); a payment-request check verifies two signatures (the consent and the publisher's), so its ideal ratio is 0.5. " +
    `${MEASURE_MS} ms per figure after a warm-up; checks use a TrustStore whose cache already holds the chain.`);
  lines.push("");
  lines.push("| alg | message | op | signatures | sequential /s | ratio | concurrent /s | ratio |");
  lines.push("|---|---|---|---:|---:|---:|---:|---:|");
  for (const row of rows) {
    const reference = openssl[row.alg]?.[row.op];
    lines.push(`| ${row.alg} | ${row.message} | ${row.op} | ${row.signatures} | ${fmt(row.sequential)} | ${ratio(row.sequential, reference)} | ${fmt(row.concurrent)} | ${ratio(row.concurrent, reference)} |`);
  }
  lines.push("");
  lines.push("## Where the time goes");
  lines.push("");
  lines.push("Each step of an acknowledgment check (and of signing) alone, sequentially. The µs column is the cost of one call; " +
    "an acknowledgment check is roughly decodeJws + cache hit + verifyJwsSignature + claims parse, plus the comparisons.");
  lines.push("");
  lines.push("| alg | step | per second | µs per call |");
  lines.push("|---|---|---:|---:|");
  for (const row of profile) lines.push(`| ${row.alg} | ${row.step} | ${fmt(row.perSecond)} | ${(1e6 / row.perSecond).toFixed(1)} |`);
  lines.push("");
  const text = `${lines.join("\n")}\n`;
  const out = fileURLToPath(new URL("../../../../docs/benchmarks/protocol.md", import.meta.url));
  mkdirSync(fileURLToPath(new URL("../../../../docs/benchmarks/", import.meta.url)), { recursive: true });
  writeFileSync(out, text);
  console.log(`\n${text}`);
  console.log(`written to ${out} in ${seconds.toFixed(1)} s`);
}

await main();
