/** The operator API: API keys and scopes, enrolment checks, idempotent top-ups, limits, listing. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { generateKeyPair } from "@peage/protocol";
import { createApiKey } from "../src/index.js";
import { hashSecret } from "../src/api-keys.js";
import {
  admin,
  assertProblem,
  enrol,
  http,
  pay,
  paymentRequest,
  snapshot,
  startFixture,
  topUp,
  ENGINES,
  type Fixture,
} from "./helpers/fixture.js";

for (const engine of ENGINES) {
  describe(`operator API (${engine})`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture({ engine });
    });
    after(async () => {
      await fx.close();
    });

    const jwkOf = async (alg: "ES256" | "EdDSA" = "ES256") =>
      webcrypto.subtle.exportKey("jwk", (await generateKeyPair(alg)).publicKey);

    it("refuses requests without a valid API key with 401 and a Bearer challenge", async () => {
      const before = await snapshot(fx);
      const body = { user: "urn:peage:user:nokey", publicKey: await jwkOf(), mode: "prepaid", homeCurrency: "EUR" };
      for (const authorization of [
        undefined,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer peage_sk_wrongwrongwrongwrongwrongwrongwrongwrongwro",
        `Bearer ${fx.adminKey}x`,
      ]) {
        const answer = await http(fx, "POST", "/v1/admin/users", { body, headers: authorization ? { authorization } : {} });
        assertProblem(answer, 401, "ERR_UNAUTHORIZED", false);
        assert.match(answer.headers.get("www-authenticate") ?? "", /^Bearer/);
      }
      assert.deepEqual(await snapshot(fx), before);
    });

    it("refuses a key without the endpoint's scope with 403 naming the scope", async () => {
      const secret = await createApiKey(fx.store, ["payments:read"], "reader");
      const before = await snapshot(fx);
      const answer = await http(fx, "POST", "/v1/admin/users", {
        body: { user: "urn:peage:user:noscope", publicKey: await jwkOf(), mode: "prepaid", homeCurrency: "EUR" },
        headers: { authorization: `Bearer ${secret}` },
      });
      assertProblem(answer, 403, "ERR_FORBIDDEN", false);
      assert.match(answer.body.detail, /users:write/);
      const user = await enrol(fx);
      assertProblem(
        await http(fx, "POST", `/v1/admin/users/${user.id}/topups`, {
          body: { amount: 5, idempotencyKey: "scope-test-1" },
          headers: { authorization: `Bearer ${secret}` },
        }),
        403,
        "ERR_FORBIDDEN",
      );
      assert.equal((await http(fx, "GET", "/v1/admin/payments", { headers: { authorization: `Bearer ${secret}` } })).status, 200);
      assert.equal(before.counts["topups"], (await snapshot(fx)).counts["topups"]);
    });

    it("creates, lists, rotates and revokes API keys over the API, each change taking effect at once", async () => {
      const created = await admin(fx, "POST", "/v1/admin/api-keys", { scopes: ["payments:read"], label: "reports" });
      assert.equal(created.status, 201);
      const secret = created.body.secret as string;
      const as = (key: string) => ({ headers: { authorization: `Bearer ${key}` } });
      assert.equal((await http(fx, "GET", "/v1/admin/payments", as(secret))).status, 200);
      assertProblem(await http(fx, "GET", "/v1/admin/api-keys", as(secret)), 403, "ERR_FORBIDDEN");
      assertProblem(await admin(fx, "POST", "/v1/admin/api-keys", { scopes: ["root"], label: "bad" }), 400, "ERR_MALFORMED");
      const listed = await admin(fx, "GET", "/v1/admin/api-keys");
      const entry = (listed.body.apiKeys as { id: string; label: string; scopes: string[] }[]).find(
        (k) => k.id === created.body.id,
      );
      assert.deepEqual(entry && [entry.label, entry.scopes], ["reports", ["payments:read"]]);
      assert.ok(!JSON.stringify(listed.body).includes(secret));

      const rotated = await admin(fx, "POST", `/v1/admin/api-keys/${created.body.id as string}/rotate`);
      assert.equal(rotated.status, 201);
      assertProblem(await http(fx, "GET", "/v1/admin/payments", as(secret)), 401, "ERR_UNAUTHORIZED");
      assert.equal((await http(fx, "GET", "/v1/admin/payments", as(rotated.body.secret as string))).status, 200);
      // Rotating twice at once: one wins, the other finds the key gone; never two working secrets.
      const twice = await Promise.all(
        [1, 2].map(() => admin(fx, "POST", `/v1/admin/api-keys/${rotated.body.id as string}/rotate`)),
      );
      assert.deepEqual(twice.map((a) => a.status).sort(), [201, 404]);
      const winner = twice.find((a) => a.status === 201)!;
      assert.equal((await http(fx, "GET", "/v1/admin/payments", as(winner.body.secret as string))).status, 200);

      assert.equal((await admin(fx, "DELETE", `/v1/admin/api-keys/${winner.body.id as string}`)).status, 200);
      assertProblem(await http(fx, "GET", "/v1/admin/payments", as(winner.body.secret as string)), 401, "ERR_UNAUTHORIZED");
      assertProblem(await admin(fx, "DELETE", `/v1/admin/api-keys/${winner.body.id as string}`), 404, "ERR_NOT_FOUND");
    });

    it("replaces a user's key: the old key stops paying at once, the new one pays, a key of another user is refused", async () => {
      const user = await enrol(fx, { balance: 1_000 });
      const other = await enrol(fx);
      const before = await paymentRequest(fx, user);
      const next = await generateKeyPair("EdDSA");
      const replaced = await admin(fx, "PUT", `/v1/admin/users/${user.id}/key`, {
        publicKey: await webcrypto.subtle.exportKey("jwk", next.publicKey),
      });
      assert.equal(replaced.status, 200, JSON.stringify(replaced.body));
      assert.equal(replaced.body.alg, "EdDSA");
      const refused = await pay(fx, before.request);
      assert.ok(
        refused.status >= 400 && refused.status < 500,
        `a request signed with the replaced key was answered ${refused.status}`,
      );
      const paid = await pay(fx, (await paymentRequest(fx, { id: user.id, key: next })).request);
      assert.equal(paid.status, 200, JSON.stringify(paid.body));
      const taken = await admin(fx, "PUT", `/v1/admin/users/${other.id}/key`, {
        publicKey: await webcrypto.subtle.exportKey("jwk", next.publicKey),
      });
      assertProblem(taken, 409, "ERR_CONFLICT");
      assertProblem(
        await admin(fx, "PUT", "/v1/admin/users/urn:peage:user:nobody-here/key", { publicKey: await jwkOf() }),
        404,
        "ERR_UNKNOWN_USER",
      );
      assertProblem(
        await admin(fx, "PUT", `/v1/admin/users/${user.id}/key`, { publicKey: { kty: "RSA" } }),
        400,
        "ERR_MALFORMED",
      );
    });

    it("stores API keys as SHA-256 hashes only", async () => {
      const secret = await createApiKey(fx.store, ["users:read"], "hash check");
      const stored = await fx.store.findApiKeyByHash(hashSecret(secret));
      assert.ok(stored);
      assert.notEqual(stored.secretHash, secret);
      assert.ok(!JSON.stringify(stored).includes(secret));
      await assert.rejects(createApiKey(fx.store, ["root" as never], "bad"), /unknown scope/);
    });

    it("enrols P-256 and Ed25519 keys and names them by their RFC 7638 thumbprint", async () => {
      for (const alg of ["ES256", "EdDSA"] as const) {
        const jwk = await jwkOf(alg);
        const user = `urn:peage:user:enrol-${alg.toLowerCase()}`;
        const answer = await admin(fx, "POST", "/v1/admin/users", { user, publicKey: jwk, mode: "prepaid", homeCurrency: "CHF" });
        assert.equal(answer.status, 201, JSON.stringify(answer.body));
        assert.equal(answer.body.alg, alg);
        assert.match(answer.body.kid, /^[A-Za-z0-9_-]{43}$/);
        assert.deepEqual(answer.body.balance, { amount: 0, currency: "CHF" });
        assert.equal(answer.body.publicKey.d, undefined);
        assertProblem(
          await admin(fx, "POST", "/v1/admin/users", { user, publicKey: await jwkOf(alg), mode: "prepaid", homeCurrency: "CHF" }),
          409,
          "ERR_CONFLICT",
        );
        assertProblem(
          await admin(fx, "POST", "/v1/admin/users", {
            user: `${user}-again`,
            publicKey: jwk,
            mode: "prepaid",
            homeCurrency: "CHF",
          }),
          409,
          "ERR_CONFLICT",
        );
      }
    });

    it("refuses private keys, other key types, bad points and inconsistent accounts with a specific message", async () => {
      const pair = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-256" }, true, ["sign", "verify"]);
      const privateJwk = await webcrypto.subtle.exportKey("jwk", pair.privateKey);
      const p384 = await webcrypto.subtle.generateKey({ name: "ECDSA", namedCurve: "P-384" }, true, ["sign", "verify"]);
      const rsa = await webcrypto.subtle.generateKey(
        { name: "RSASSA-PKCS1-v1_5", modulusLength: 2048, publicExponent: new Uint8Array([1, 0, 1]), hash: "SHA-256" },
        true,
        ["sign", "verify"],
      );
      const good = await jwkOf();
      const offCurve = { ...good, y: Buffer.alloc(32, 7).toString("base64url") };
      // The last of 43 characters carries two bits past the 32 bytes: set one, and the same key has a second spelling.
      const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
      const x = String(good["x"]);
      const respelled = { ...good, x: x.slice(0, -1) + alphabet[alphabet.indexOf(x.slice(-1)) ^ 1] };
      const cases: [Record<string, unknown>, RegExp][] = [
        [{ publicKey: privateJwk }, /private key/],
        [{ publicKey: await webcrypto.subtle.exportKey("jwk", p384.publicKey) }, /P-256/],
        [{ publicKey: await webcrypto.subtle.exportKey("jwk", rsa.publicKey) }, /P-256/],
        [{ publicKey: offCurve }, /not a valid ES256 public key/],
        [{ publicKey: respelled }, /canonical base64url/],
        [{ publicKey: { ...good, kid: "x".repeat(43) } }, /thumbprint/],
        [{ publicKey: good, homeCurrency: "XYZ" }, /ISO 4217/],
        [{ publicKey: good, mode: "postpaid" }, /monthlyLimit/],
        [{ publicKey: good, monthlyLimit: 100 }, /prepaid/],
        [{ publicKey: good, user: "urn:peage:publisher:not-a-user" }, /\/user/],
      ];
      const before = await snapshot(fx);
      for (const [override, message] of cases) {
        const answer = await admin(fx, "POST", "/v1/admin/users", {
          user: "urn:peage:user:refused",
          mode: "prepaid",
          homeCurrency: "EUR",
          ...override,
        });
        assertProblem(answer, 400, "ERR_MALFORMED", false);
        assert.match(answer.body.detail, message);
      }
      assert.deepEqual(await snapshot(fx), before);
    });

    it("top-ups are idempotent by key, in the home currency, for prepaid accounts only", async () => {
      const user = await enrol(fx);
      const first = await topUp(fx, user.id, 700, "idem-key-0001");
      assert.equal(first.status, 201);
      assert.deepEqual(first.body.balance, { amount: 700, currency: "EUR" });
      const again = await topUp(fx, user.id, 700, "idem-key-0001");
      assert.equal(again.status, 200);
      assert.equal(again.body.id, first.body.id);
      assert.deepEqual(again.body.balance, { amount: 700, currency: "EUR" });
      assert.equal((await snapshot(fx)).balances[user.id], 700);

      const postpaid = await enrol(fx, { mode: "postpaid", limit: 100 });
      const before = await snapshot(fx);
      assertProblem(
        await admin(fx, "POST", `/v1/admin/users/${user.id}/topups`, { amount: 900, idempotencyKey: "idem-key-0001" }),
        409,
        "ERR_CONFLICT",
      );
      assertProblem(
        await admin(fx, "POST", `/v1/admin/users/${user.id}/topups`, {
          amount: 900,
          currency: "USD",
          idempotencyKey: "idem-key-0002",
        }),
        409,
        "ERR_CONFLICT",
      );
      assertProblem(
        await admin(fx, "POST", `/v1/admin/users/${user.id}/topups`, { amount: 0, idempotencyKey: "idem-key-0003" }),
        400,
        "ERR_MALFORMED",
      );
      assertProblem(
        await admin(fx, "POST", `/v1/admin/users/${user.id}/topups`, { amount: 1.5, idempotencyKey: "idem-key-0004" }),
        400,
        "ERR_MALFORMED",
      );
      assertProblem(
        await admin(fx, "POST", `/v1/admin/users/${user.id}/topups`, { amount: "100", idempotencyKey: "idem-key-0005" }),
        400,
        "ERR_MALFORMED",
      );
      assertProblem(
        await admin(fx, "POST", `/v1/admin/users/${user.id}/topups`, {
          amount: Number.MAX_SAFE_INTEGER,
          idempotencyKey: "idem-key-0006",
        }),
        400,
        "ERR_BAD_REQUEST",
      );
      assertProblem(
        await admin(fx, "POST", `/v1/admin/users/${postpaid.id}/topups`, { amount: 10, idempotencyKey: "idem-key-0007" }),
        409,
        "ERR_CONFLICT",
      );
      assertProblem(
        await admin(fx, "POST", `/v1/admin/users/urn:peage:user:nobody/topups`, { amount: 10, idempotencyKey: "idem-key-0008" }),
        404,
        "ERR_UNKNOWN_USER",
      );
      assertProblem(await admin(fx, "PUT", `/v1/admin/users/${user.id}/limit`, { monthlyLimit: 10 }), 409, "ERR_CONFLICT");
      assert.deepEqual(await snapshot(fx), before);
    });

    it("top-ups sent at the same time with one key credit once", async () => {
      const user = await enrol(fx);
      const answers = await Promise.all(
        Array.from({ length: 10 }, () =>
          admin(fx, "POST", `/v1/admin/users/${user.id}/topups`, { amount: 250, idempotencyKey: "parallel-key-01" }),
        ),
      );
      assert.equal(answers.filter((a) => a.status === 201).length, 1);
      assert.equal(answers.filter((a) => a.status === 200).length, 9);
      assert.equal((await snapshot(fx)).balances[user.id], 250);
    });

    it("lists payments by user or publisher, page by page with a cursor", async () => {
      const user = await enrol(fx, { balance: 10_000 });
      const ids: string[] = [];
      for (let i = 0; i < 5; i++) {
        const answer = await pay(fx, (await paymentRequest(fx, user)).request);
        assert.equal(answer.status, 200);
        ids.push(JSON.parse(Buffer.from(answer.body.acknowledgment.split(".")[1], "base64url").toString()).paymentId);
      }
      const seen: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await admin(
          fx,
          "GET",
          `/v1/admin/payments?user=${encodeURIComponent(user.id)}&limit=2${cursor ? `&cursor=${cursor}` : ""}`,
        );
        assert.equal(page.status, 200, JSON.stringify(page.body));
        assert.ok(page.body.payments.length <= 2);
        seen.push(
          ...page.body.payments.map((p: { paymentId: string; user: string }) => (assert.equal(p.user, user.id), p.paymentId)),
        );
        cursor = page.body.nextCursor;
      } while (cursor);
      assert.deepEqual(seen, ids);
      const byPublisher = await admin(
        fx,
        "GET",
        `/v1/admin/payments?publisher=${encodeURIComponent(fx.pki.publisher.identity)}&limit=500`,
      );
      assert.ok(byPublisher.body.payments.length >= 5);
      assert.ok(byPublisher.body.payments.every((p: { publisher: string }) => p.publisher === fx.pki.publisher.identity));
      assertProblem(await admin(fx, "GET", "/v1/admin/payments?cursor=bm90LWEtY3Vyc29y"), 400, "ERR_BAD_REQUEST");
      assertProblem(await admin(fx, "GET", "/v1/admin/payments?limit=0"), 400, "ERR_MALFORMED");
      assertProblem(await admin(fx, "GET", "/v1/admin/payments?limit=abc"), 400, "ERR_MALFORMED");
      assertProblem(await admin(fx, "GET", "/v1/admin/payments?user=bob"), 400, "ERR_MALFORMED");
      assertProblem(await admin(fx, "GET", "/v1/admin/users/urn:peage:user:nobody"), 404, "ERR_UNKNOWN_USER");
    });

    it("serves an OpenAPI 3.1 document generated from the routes", async () => {
      const doc = await http(fx, "GET", "/openapi.json");
      assert.equal(doc.status, 200);
      assert.equal(doc.body.openapi, "3.1.0");
      for (const path of [
        "/v1/payments",
        "/v1/admin/users",
        "/v1/admin/users/{user}/topups",
        "/v1/admin/payments",
        "/v1/me/payments",
        "/v1/rates",
        "/healthz",
      ]) {
        assert.ok(doc.body.paths[path], `${path} is documented`);
      }
      const post = doc.body.paths["/v1/payments"].post;
      assert.equal(post.requestBody.content["application/json"].schema.$ref, "#/components/schemas/PaymentRequest");
      assert.deepEqual(doc.body.components.schemas.PaymentRequest.required.sort(), ["consent", "signature", "type", "v"]);
      assert.ok(post.responses["200"]);
      const health = await http(fx, "GET", "/healthz");
      assert.deepEqual(health.body, { status: "ok", server: fx.pki.server.identity });
    });
  });
}
