/**
 * What an attack pass found on the operator and payment routes, on both engines: names a bank
 * file would refuse, authentication before any validation on every secured route, ambiguous JSON
 * bodies, credit granted without funds:write, nonces that another user could burn, and charges
 * that round to nothing.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { createPaymentRequest, createOffer, generateKeyPair, price, rateTable, signCatalog } from "@peage/protocol";
import { createApiKey } from "../src/index.js";
import { csvField } from "../src/statements/csv.js";
import { DuplicateMemberError, parseStrictJson } from "@peage/protocol";
import {
  admin,
  assertProblem,
  enrol,
  http,
  pay,
  paymentRequest,
  snapshot,
  startFixture,
  ENGINES,
  type Fixture,
} from "./helpers/fixture.js";

const HOSTILE_NAMES: [string, RegExp][] = [
  ["Evil @ Corp", /"@"/],
  ["A = B", /"="/],
  ["A; B", /";"/],
  ["<script>", /"<"/],
  ["A | B", /"\|"/],
  ["株式会社ゲーム", /"株"/],
  ["Издатель", /"И"/],
  ["x".repeat(71), /71 characters long, at most 70/],
  ["Straße".repeat(11), /77 characters long, at most 70/],
  ["   ", /must not be empty/],
  ["\u0301\u0301", /must not be empty/],
  ["Games\u202E", /U\+202E/],
  ["Nul\u0000Byte", /U\+0000/],
  ["Zero\u200BWidth", /U\+200B/],
  ["😀 Games", /U\+1F600/],
];

for (const engine of ENGINES) {
  describe(`hardening (${engine})`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture({ engine });
    });
    after(async () => {
      await fx.close();
    });

    const publisherPath = (name: string) => `/v1/admin/publishers/urn:peage:publisher:${name}`;

    it("refuses publisher names a bank file would refuse, naming the character or the length, and keeps names SEPA transliterates", async () => {
      const before = await snapshot(fx);
      for (const [name, why] of HOSTILE_NAMES) {
        const answer = await admin(fx, "PUT", publisherPath("hostile"), {
          name,
          country: "FR",
          iban: "FR7630006000011234567890189",
        });
        assertProblem(answer, 400, "ERR_MALFORMED");
        assert.match(answer.body.detail, /^name: /);
        assert.match(answer.body.detail, why, name);
      }
      assert.deepEqual(await snapshot(fx), before);
      const accented = await admin(fx, "PUT", publisherPath("cafe"), {
        name: "Café Müller & Söhne – Ærø",
        country: "DE",
        iban: "DE89370400440532013000",
      });
      assert.equal(accented.status, 201, JSON.stringify(accented.body));
      assert.equal(accented.body.name, "Café Müller & Söhne – Ærø", "the name is kept as given; the bank file transliterates it");
      assert.equal((await admin(fx, "PUT", publisherPath("seventy"), { name: "y".repeat(70), country: "FR" })).status, 201);
    });

    it("refuses mandate holder names a direct-debit file would refuse", async () => {
      const user = await enrol(fx, { mode: "postpaid" });
      const mandate = { mandateId: "MANDATE-H-1", signedOn: "2026-03-01", iban: "DE89370400440532013000" };
      for (const [name, why] of HOSTILE_NAMES) {
        const answer = await admin(fx, "PUT", `/v1/admin/users/${user.id}/mandate`, { ...mandate, name });
        assertProblem(answer, 400, "ERR_MALFORMED");
        assert.match(answer.body.detail, why, name);
      }
      assert.equal((await fx.store.getUser(user.id))?.mandate, undefined);
      const ok = await admin(fx, "PUT", `/v1/admin/users/${user.id}/mandate`, { ...mandate, name: "Zoë Ørsted" });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
    });

    it("answers 401 before any validation on every operator route, whatever the body, parameters or query", async () => {
      const document = fx.app.swagger() as {
        paths: Record<string, Record<string, { security?: { operatorKey?: unknown; userSignature?: unknown }[] }>>;
      };
      const secured: [string, string][] = [];
      for (const [path, operations] of Object.entries(document.paths)) {
        for (const [method, operation] of Object.entries(operations)) {
          if (operation.security?.some((s) => "operatorKey" in s || "userSignature" in s))
            secured.push([method.toUpperCase(), path]);
        }
      }
      assert.ok(secured.length >= 20, `found only ${secured.length} secured routes`);
      const before = await snapshot(fx);
      for (const [method, path] of secured) {
        // Parameters the schema refuses, a query with unknown members, a body of the wrong shape.
        const url = `${path.replace(/\{[^}]+\}/g, "not%20an%20id")}?limit=0&bogus=1`;
        const body = method === "GET" ? undefined : { bogus: [1, 2, 3] };
        for (const headers of [{}, { authorization: "Bearer nope" }, { authorization: "Peage-Signature x.y.z" }] as Record<
          string,
          string
        >[]) {
          const answer = await http(fx, method, url, { ...(body === undefined ? {} : { body }), headers });
          // A user route names what is wrong with the signature (ERR_MALFORMED, still 401), never the request's schema.
          assert.equal(answer.status, 401, `${method} ${path} ${JSON.stringify(headers)}: ${JSON.stringify(answer.body)}`);
          assert.doesNotMatch(answer.body.detail, /params|querystring|body/, `${method} ${path}`);
        }
        if (method === "GET") assert.equal((await http(fx, "HEAD", url)).status, 401, `HEAD ${path}`);
        if (method !== "GET") {
          const answer = await http(fx, method, url, { raw: "{not json", headers: { "content-type": "application/json" } });
          assertProblem(answer, 401, "ERR_UNAUTHORIZED");
        }
      }
      assert.deepEqual(await snapshot(fx), before);
    });

    it("refuses request bodies with a member named twice, at any depth and however it is escaped", async () => {
      const jwk = await webcrypto.subtle.exportKey("jwk", (await generateKeyPair("ES256")).publicKey);
      const user = JSON.stringify("urn:peage:user:dup");
      const key = JSON.stringify(jwk);
      const bodies = [
        `{"user":${user},"publicKey":${key},"mode":"postpaid","mode":"prepaid","homeCurrency":"EUR"}`,
        `{"user":${user},"publicKey":${key},"mode":"prepaid","m\\u006fde":"prepaid","homeCurrency":"EUR"}`,
        `{"user":${user},"publicKey":${key.slice(0, -1)},"kty":"EC"},"mode":"prepaid","homeCurrency":"EUR"}`,
      ];
      const before = await snapshot(fx);
      for (const raw of bodies) {
        const answer = await http(fx, "POST", "/v1/admin/users", {
          raw,
          headers: { authorization: `Bearer ${fx.adminKey}`, "content-type": "application/json" },
        });
        assertProblem(answer, 400, "ERR_BAD_REQUEST");
        assert.match(answer.body.detail, /appears twice/);
      }
      const payment = await http(fx, "POST", "/v1/payments", {
        raw: '{"consent":"a","consent":"b","offer":{}}',
        headers: { "content-type": "application/json" },
      });
      assertProblem(payment, 400, "ERR_BAD_REQUEST");
      assert.match(payment.body.detail, /"consent" appears twice in the object at the top level/);
      assert.deepEqual(await snapshot(fx), before);
      // A member named __proto__ is data like any other, and refused as unknown.
      const proto = await http(fx, "POST", "/v1/admin/users", {
        raw: `{"__proto__":{"monthlyLimit":1},"user":${user},"publicKey":${key},"mode":"prepaid","homeCurrency":"EUR"}`,
        headers: { authorization: `Bearer ${fx.adminKey}`, "content-type": "application/json" },
      });
      assertProblem(proto, 400, "ERR_MALFORMED");
      assert.deepEqual(await snapshot(fx), before);
      // The same names in different objects, or as values, are not duplicates.
      const fine = await http(fx, "POST", "/v1/admin/users", {
        raw: `{"user":${user},"publicKey":${key},"mode":"prepaid","homeCurrency":"EUR"}`,
        headers: { authorization: `Bearer ${fx.adminKey}`, "content-type": "application/json" },
      });
      assert.equal(fine.status, 201, JSON.stringify(fine.body));
    });

    it("needs funds:write to grant credit: a postpaid monthly limit at enrolment, a card's ceiling or monthly limit", async () => {
      const usersOnly = await createApiKey(fx.store, ["users:write", "users:read"], "enrolment desk");
      const jwk = async () => webcrypto.subtle.exportKey("jwk", (await generateKeyPair("ES256")).publicKey);
      const before = await snapshot(fx);
      const postpaid = await http(fx, "POST", "/v1/admin/users", {
        body: {
          user: "urn:peage:user:credit",
          publicKey: await jwk(),
          mode: "postpaid",
          homeCurrency: "EUR",
          monthlyLimit: 10_000_000,
        },
        headers: { authorization: `Bearer ${usersOnly}` },
      });
      assertProblem(postpaid, 403, "ERR_FORBIDDEN");
      assert.match(postpaid.body.detail, /funds:write/);
      const card = await http(fx, "POST", "/v1/cards", {
        body: { chain: ["a", "b"], user: "urn:peage:user:credit", mode: "postpaid", currency: "EUR", ceiling: 10_000_000 },
        headers: { authorization: `Bearer ${usersOnly}` },
      });
      assertProblem(card, 403, "ERR_FORBIDDEN");
      assert.deepEqual(await snapshot(fx), before);
      const prepaid = await http(fx, "POST", "/v1/admin/users", {
        body: { user: "urn:peage:user:prepaid-desk", publicKey: await jwk(), mode: "prepaid", homeCurrency: "EUR" },
        headers: { authorization: `Bearer ${usersOnly}` },
      });
      assert.equal(prepaid.status, 201, "a prepaid account grants no credit");
      const both = await createApiKey(fx.store, ["users:write", "funds:write"], "credit desk");
      const granted = await http(fx, "POST", "/v1/admin/users", {
        body: {
          user: "urn:peage:user:credit",
          publicKey: await jwk(),
          mode: "postpaid",
          homeCurrency: "EUR",
          monthlyLimit: 10_000,
        },
        headers: { authorization: `Bearer ${both}` },
      });
      assert.equal(granted.status, 201);
    });

    it("keeps offer nonces per user: another user's use of a leaked nonce does not make the owner's payment fail", async () => {
      const owner = await enrol(fx, { balance: 10_000 });
      const intruder = await enrol(fx, { balance: 10_000 });
      const offer = createOffer(fx.entry("launch"), fx.clock);
      const request = (user: typeof owner) =>
        createPaymentRequest({ offer, user: user.id, server: fx.pki.server.identity, userKey: user.key, clock: fx.clock });
      const first = await pay(fx, await request(intruder));
      assert.equal(first.status, 200, JSON.stringify(first.body));
      const owned = await pay(fx, await request(owner));
      assert.equal(owned.status, 200, JSON.stringify(owned.body));
      // The same user using the nonce again, with another request, is still refused; the very same request is a replay.
      const again = await request(owner);
      assertProblem(await pay(fx, again), 409, "ERR_NONCE_REUSED");
      const replay = await pay(fx, await request(intruder));
      assertProblem(replay, 409, "ERR_NONCE_REUSED");
    });

    it("refuses a price that converts to less than one minor unit, charging nothing", async () => {
      const won = await startFixture({ engine, rates: rateTable("EUR", "2026-03-09", { KRW: "1450.00" }) });
      try {
        const user = await enrol(won, { balance: 10_000 });
        const catalog = await signCatalog(
          won.pki.publisher.identity,
          [1, 7, 8].map((amount) => ({
            offerId: `won-${amount}`,
            description: `${amount} won`,
            price: price(amount, "KRW"),
            grant: { kind: "launch" as const },
          })),
          won.pki.publisher.keys,
          won.pki.chainOf(won.pki.publisher.certificate),
        );
        const before = await snapshot(won);
        // 1 KRW and 7 KRW are 0.07 and 0.48 euro cents: nothing could be charged.
        for (const entry of catalog.offers.slice(0, 2)) {
          const { request } = await paymentRequest(won, user, entry.terms.offerId, { entry });
          const answer = await pay(won, request);
          assertProblem(answer, 422, "ERR_CHARGE_ROUNDS_TO_ZERO", false);
          assert.match(answer.body.detail, /KRW converts to less than the smallest unit of EUR/);
        }
        assert.deepEqual(await snapshot(won), before);
        // 8 KRW is 0.55 cents: one cent is charged.
        const { request } = await paymentRequest(won, user, "won-8", { entry: catalog.offers[2]! });
        const paid = await pay(won, request);
        assert.equal(paid.status, 200, JSON.stringify(paid.body));
      } finally {
        await won.close();
      }
    });
  });
}

describe("CSV formula guard", () => {
  it("quotes fields a spreadsheet would read as a formula, also after leading white space", () => {
    const formulas = [
      " +1+1",
      "=1+1",
      '\t=HYPERLINK("x")',
      "  -2+3",
      "\u00A0@SUM(A1)",
      "\u3000=1",
      "\u200B=1",
      "\r=1",
      "\n-1",
      "＝1+1",
      " ＋1",
    ];
    for (const value of formulas) assert.equal(csvField(value), `"'${value.replace(/"/g, '""')}"`, JSON.stringify(value));
    for (const value of ["Studio Nord", " Studio", "12.50", "a=b", "e-mail"])
      assert.equal(csvField(value), `"${value}"`, JSON.stringify(value));
  });
});

describe("strict JSON", () => {
  it("names the object holding a duplicate member by its JSON Pointer, and reads everything else as JSON.parse does", () => {
    const refuses = (text: string, pointer: string, member: string) =>
      assert.throws(
        () => parseStrictJson(text),
        (e: unknown) => e instanceof DuplicateMemberError && e.pointer === pointer && e.member === member,
        text,
      );
    refuses('{"a":{"b":1,"b":2}}', "/a", "b");
    refuses('{"list":[{"k":1},{"k":1,"k":2}]}', "/list/1", "k");
    refuses('{"a/b":{"x~":[0,{"q":1,"\\u0071":2}]}}', "/a~1b/x~0/1", "q");
    refuses('{"s":"{\\"k\\":1}","s":2}', "", "s");
    for (const text of [
      '{"a":1,"b":{"a":1},"c":[{"a":1},{"a":1}]}',
      '"{\\"a\\":1,\\"a\\":2}"',
      "[1,2,[3,{}]]",
      '{"":1,"\\u0000":2}',
    ]) {
      assert.deepEqual(parseStrictJson(text), JSON.parse(text), text);
    }
    assert.throws(() => parseStrictJson("{'a':1}"), SyntaxError);
  });
});
