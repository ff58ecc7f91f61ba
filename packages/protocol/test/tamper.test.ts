/**
 * Property tests: whatever an attacker changes in a signed Péage object is detected.
 *
 * 1. Any character of any segment (header, payload, signature) of each signed token — the
 *    publisher's signature in a catalog entry, in message 1 and in message 2, the consent of
 *    message 2, the acknowledgment of message 3 — replaced, deleted or inserted: verification
 *    fails, including a change of a last character that decodes to the same bytes.
 * 2. Any value of any member of the JSON objects (the messages, the terms, the JWS headers and
 *    claims) replaced by another JSON value: verification fails.
 * 3. The offer's nonce and date, which the publisher's signature does not cover, changed by the
 *    wallet: the payment server cannot tell, but the merchant refuses the acknowledgment.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  canonicalBytes,
  FixedClock,
  newNonce,
  timestamp,
  verifyAcknowledgment,
  verifyOffer,
  verifyPaymentRequest,
  verifyCatalog,
  type Result,
  type SignatureAlgorithm,
} from "../src/index.js";
import {
  ackAt,
  at,
  b64u,
  DAY,
  enrolled,
  makeWorld,
  MINUTE,
  offerAt,
  requestAt,
  segments,
  SERVER,
  withSegment,
  type World,
} from "../scripts/scenario.js";

const NOW = new Date("2026-04-01T10:00:00.000Z");
const T = at(NOW, DAY);
const SECOND = 1000;
const BASE64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

interface Target {
  readonly name: string;
  readonly token: string;
  verify(token: string): Promise<Result<unknown>>;
}

interface ObjectTarget {
  readonly name: string;
  readonly value: unknown;
  verify(value: unknown): Promise<Result<unknown>>;
  /** Members deliberately not bound by any signature at this step (see the end-to-end property). */
  readonly unbound?: readonly string[];
}

interface Setup {
  readonly world: World;
  readonly tokens: readonly Target[];
  readonly objects: readonly ObjectTarget[];
}

async function setup(alg: SignatureAlgorithm): Promise<Setup> {
  const world = await makeWorld(alg, NOW);
  const { trust } = world;
  const entry = world.entries["day-pass"]!;
  const offer = offerAt(entry, T);
  const request = await requestAt(offer, world.user, at(T, MINUTE));
  const ack = await ackAt(world, request, at(T, MINUTE + SECOND));
  const offerCheck = { trust, clock: new FixedClock(at(T, 30 * SECOND)) };
  const requestCheck = { trust, clock: new FixedClock(at(T, MINUTE + SECOND)), server: SERVER, userKey: enrolled([world.user]) };
  const ackCheck = { trust, clock: new FixedClock(at(T, MINUTE + 2 * SECOND)) };

  const tokens: Target[] = [
    {
      name: "catalog entry signature",
      token: entry.signature,
      verify: (t) => verifyCatalog({ ...world.catalog, offers: [{ ...entry, signature: t }] }, trust, T),
    },
    {
      name: "offer signature (message 1)",
      token: offer.signature,
      verify: (t) => verifyOffer({ ...offer, signature: t }, offerCheck),
    },
    {
      name: "publisher signature (message 2)",
      token: request.signature,
      verify: (t) => verifyPaymentRequest({ ...request, signature: t }, requestCheck),
    },
    {
      name: "consent (message 2)",
      token: request.consent,
      verify: (t) => verifyPaymentRequest({ ...request, consent: t }, requestCheck),
    },
    {
      name: "acknowledgment (message 3)",
      token: ack.acknowledgment,
      verify: (t) => verifyAcknowledgment({ ...ack, acknowledgment: t }, offer, ackCheck),
    },
  ];
  const objects: ObjectTarget[] = [
    // verifyCatalog, not verifySignedTerms: the latter takes entries that already passed the schema.
    { name: "catalog entry", value: entry, verify: (v) => verifyCatalog({ ...world.catalog, offers: [v] }, trust, T) },
    {
      name: "offer (message 1)",
      value: offer,
      verify: (v) => verifyOffer(v, offerCheck),
      unbound: ["/nonce", "/date", "/expiresAt"],
    },
    { name: "payment request (message 2)", value: request, verify: (v) => verifyPaymentRequest(v, requestCheck) },
    { name: "acknowledgment (message 3)", value: ack, verify: (v) => verifyAcknowledgment(v, offer, ackCheck) },
  ];
  // The JSON inside each token: its protected header and its claims, re-encoded after the change.
  for (const target of tokens) {
    const [header, payload, signature] = segments(target.token);
    const decode = (segment: string) => JSON.parse(Buffer.from(segment, "base64url").toString("utf8")) as unknown;
    objects.push({
      name: `${target.name}: protected header`,
      value: decode(header),
      verify: (v) => target.verify(`${b64u(JSON.stringify(v))}.${payload}.${signature}`),
    });
    objects.push({
      name: `${target.name}: claims`,
      value: decode(payload),
      // Canonical, so that the change itself, not a formatting difference, is what is refused.
      verify: (v) => target.verify(`${header}.${b64u(canonicalBytes(v))}.${signature}`),
    });
  }
  return { world, tokens, objects };
}

/** Every member path of a JSON value (JSON Pointer, RFC 6901), containers included. */
function paths(value: unknown, prefix = ""): string[] {
  if (Array.isArray(value)) return value.flatMap((item, i) => [`${prefix}/${i}`, ...paths(item, `${prefix}/${i}`)]);
  if (typeof value === "object" && value !== null)
    return Object.entries(value).flatMap(([key, item]) => [`${prefix}/${key}`, ...paths(item, `${prefix}/${key}`)]);
  return [];
}

function get(value: unknown, path: string): unknown {
  return path
    .split("/")
    .slice(1)
    .reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], value);
}

function set(value: unknown, path: string, replacement: unknown): unknown {
  const copy = structuredClone(value);
  const keys = path.split("/").slice(1);
  const last = keys.pop()!;
  const parent = keys.reduce<unknown>((node, key) => (node as Record<string, unknown>)[key], copy) as Record<string, unknown>;
  parent[last] = replacement;
  return copy;
}

const sameJson = (a: unknown, b: unknown) =>
  JSON.stringify(a) === JSON.stringify(b) && canonicalBytes(a).equals(canonicalBytes(b));

/** A value close to the original (one character, a small step) or any JSON value at all. */
function replacementFor(original: unknown): fc.Arbitrary<unknown> {
  const anything = fc.jsonValue({ maxDepth: 2 });
  if (typeof original === "string" && original.length > 0) {
    const oneCharacter = fc
      .tuple(fc.nat({ max: original.length - 1 }), fc.constantFrom(...BASE64URL, ":", ".", " ", "é"))
      .map(([i, ch]) => `${original.slice(0, i)}${ch}${original.slice(i + 1)}`);
    return fc.oneof(oneCharacter, oneCharacter, fc.string(), anything);
  }
  // Finite doubles only: JSON has no NaN or Infinity (RFC 8259 §6), so no parsed message holds one.
  if (typeof original === "number")
    return fc.oneof(
      fc.integer({ min: -3, max: 3 }).map((d) => original + d),
      fc.integer(),
      fc.double({ noNaN: true, noDefaultInfinity: true }),
      anything,
    );
  return anything;
}

for (const alg of ["ES256", "EdDSA"] as const) {
  describe(`tampering (${alg})`, () => {
    let s: Setup;
    before(async () => {
      s = await setup(alg);
    });

    it("the untouched tokens and objects verify", async () => {
      for (const target of s.tokens) assert.ok((await target.verify(target.token)).ok, target.name);
      for (const target of s.objects) assert.ok((await target.verify(target.value)).ok, target.name);
    });

    it("any character replaced, deleted or inserted in any segment of a signed token is detected", async () => {
      const edit = fc.record({
        target: fc.constantFrom(...s.tokens),
        part: fc.constantFrom(0, 1, 2),
        position: fc.nat(),
        op: fc.constantFrom("replace", "delete", "insert"),
        char: fc.constantFrom(...BASE64URL, "=", "+", "/", ".", " ", "é"),
      });
      await fc.assert(
        fc.asyncProperty(edit, async ({ target, part, position, op, char }) => {
          const parts = segments(target.token);
          const segment = parts[part];
          const i = position % (op === "insert" ? segment.length + 1 : segment.length);
          if (op === "replace") fc.pre(segment[i] !== char);
          parts[part] =
            op === "replace"
              ? `${segment.slice(0, i)}${char}${segment.slice(i + 1)}`
              : op === "delete"
                ? `${segment.slice(0, i)}${segment.slice(i + 1)}`
                : `${segment.slice(0, i)}${char}${segment.slice(i)}`;
          const result = await target.verify(parts.join("."));
          assert.equal(result.ok, false, `${target.name}: ${op} ${JSON.stringify(char)} at ${part}:${i} was accepted`);
        }),
        { numRuns: 1000 },
      );
    });

    it("a second spelling of the same bytes (non-zero unused bits in a segment's last character, RFC 4648 §3.5) is refused", async () => {
      let respelled = 0;
      for (const target of s.tokens) {
        for (const part of [0, 1, 2] as const) {
          const parts = segments(target.token);
          const segment = parts[part];
          // A segment of n bytes takes ceil(4n/3) characters; the last one has (6 - 2(n mod 3)) mod 6 unused bits.
          // Signatures are 64 bytes: 4 unused bits. Headers and payloads vary.
          const unused = (6 - 2 * (Buffer.from(segment, "base64url").length % 3)) % 6;
          const last = BASE64URL.indexOf(segment.at(-1)!);
          for (let low = 1; low < 1 << unused; low++) {
            parts[part] = `${segment.slice(0, -1)}${BASE64URL[last ^ low]}`;
            assert.ok(Buffer.from(parts[part], "base64url").equals(Buffer.from(segment, "base64url")), "same bytes");
            const result = await target.verify(parts.join("."));
            assert.equal(
              result.ok ? "accepted" : result.error.code,
              "ERR_MALFORMED",
              `${target.name}: segment ${part} respelled`,
            );
            respelled++;
          }
        }
      }
      assert.ok(respelled >= s.tokens.length * 15, "every signature segment was respelled 15 ways");
    });

    it("any member value of the messages, the terms, the headers and the claims replaced is detected", async () => {
      const choice = fc
        .constantFrom(...s.objects)
        .chain((target) =>
          fc.constantFrom(...paths(target.value).filter((p) => !target.unbound?.includes(p))).map((path) => ({ target, path })),
        )
        .chain(({ target, path }) =>
          replacementFor(get(target.value, path)).map((replacement) => ({ target, path, replacement })),
        );
      await fc.assert(
        fc.asyncProperty(choice, async ({ target, path, replacement }) => {
          fc.pre(!sameJson(get(target.value, path), replacement));
          const result = await target.verify(set(target.value, path, replacement));
          assert.equal(result.ok, false, `${target.name}: ${path} = ${JSON.stringify(replacement)} was accepted`);
        }),
        { numRuns: 1000 },
      );
    });

    it("a payload number beyond the double range (1e400, which JSON.parse reads as Infinity) is malformed, not an exception", async () => {
      for (const target of s.tokens) {
        for (const payload of ['{"v":1e400}', '{"price":{"amount":-1e400,"currency":"EUR"}}']) {
          const token = withSegment(target.token, 1, b64u(payload));
          const result = await target
            .verify(token)
            .catch((error: unknown) => ({ ok: false as const, thrown: (error as Error).message }));
          assert.equal(
            result.ok ? "accepted" : "error" in result ? result.error.code : `threw: ${result.thrown}`,
            "ERR_MALFORMED",
            target.name,
          );
        }
      }
    });

    it("a member removed from any of these objects is detected", async () => {
      for (const target of s.objects) {
        for (const path of paths(target.value)) {
          const keys = path.split("/");
          const parent = get(target.value, keys.slice(0, -1).join("/"));
          if (Array.isArray(parent) || target.unbound?.includes(path)) continue;
          const copy = structuredClone(target.value);
          delete (get(copy, keys.slice(0, -1).join("/")) as Record<string, unknown>)[keys.at(-1)!];
          assert.equal((await target.verify(copy)).ok, false, `${target.name}: without ${path}`);
        }
      }
    });

    it("the offer's nonce and date changed by the wallet pass the server but not the merchant", async () => {
      const w = s.world;
      const entry = w.entries["launch"]!;
      const change = fc.oneof(
        fc.constant({ nonce: true as const, shift: 0 }),
        fc
          .integer({ min: -120, max: 120 })
          .filter((x) => x !== 0)
          .map((shift) => ({ nonce: false as const, shift })),
      );
      await fc.assert(
        fc.asyncProperty(change, async ({ nonce, shift }) => {
          const offer = offerAt(entry, T);
          const tampered = nonce ? { ...offer, nonce: newNonce() } : { ...offer, date: timestamp(at(T, shift * SECOND)) };
          const request = await requestAt(tampered, w.user, at(T, 3 * MINUTE));
          const serverClock = new FixedClock(at(T, 3 * MINUTE + SECOND));
          // The server has nothing to compare them with: the consent binds what the user saw.
          const checked = await verifyPaymentRequest(request, {
            trust: w.trust,
            clock: serverClock,
            server: SERVER,
            userKey: enrolled([w.user]),
          });
          assert.ok(checked.ok);
          const ack = await ackAt(w, request, at(T, 3 * MINUTE + SECOND));
          const result = await verifyAcknowledgment(ack, offer, {
            trust: w.trust,
            clock: new FixedClock(at(T, 3 * MINUTE + 2 * SECOND)),
          });
          assert.equal(result.ok ? "accepted" : result.error.code, nonce ? "ERR_NONCE_MISMATCH" : "ERR_DATE_MISMATCH");
        }),
        { numRuns: 25 },
      );
    });
  });
}
