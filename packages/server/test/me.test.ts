/** Users reading their own payments with requests signed by their key; replays and forgeries refused. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { canonicalBytes, JwsTypes, keyThumbprint, newNonce, signJws, timestamp } from "@peage/protocol";
import { signUserRequest } from "../src/user-auth.js";
import {
  assertProblem,
  enrol,
  http,
  pay,
  paymentRequest,
  snapshot,
  startFixture,
  ENGINES,
  type Fixture,
  type TestUser,
} from "./helpers/fixture.js";

for (const engine of ENGINES) {
  describe(`user self-service (${engine})`, () => {
    let fx: Fixture;
    let alice: TestUser;
    let mallory: TestUser;
    const alicePayments: string[] = [];

    before(async () => {
      fx = await startFixture({ engine });
      alice = await enrol(fx, { balance: 10_000, name: "me-alice" });
      mallory = await enrol(fx, { balance: 10_000, name: "me-mallory", alg: "EdDSA" });
      for (const user of [alice, mallory, alice, alice]) {
        const answer = await pay(fx, (await paymentRequest(fx, user)).request);
        assert.equal(answer.status, 200);
        if (user === alice)
          alicePayments.push(JSON.parse(Buffer.from(answer.body.acknowledgment.split(".")[1], "base64url").toString()).paymentId);
      }
    });
    after(async () => {
      await fx.close();
    });

    const signed = async (user: TestUser, path: string, opts: { method?: string; clockOffsetMs?: number } = {}) => {
      const at = new Date(fx.clock.now().getTime() + (opts.clockOffsetMs ?? 0));
      return signUserRequest({ user: user.id, key: user.key, method: opts.method ?? "GET", path, clock: { now: () => at } });
    };
    const get = (path: string, authorization?: string) =>
      http(fx, "GET", path, authorization ? { headers: { authorization } } : {});

    it("lists the user's own payments, and only theirs, page by page", async () => {
      const all = await get("/v1/me/payments", await signed(alice, "/v1/me/payments"));
      assert.equal(all.status, 200, JSON.stringify(all.body));
      assert.deepEqual(
        all.body.payments.map((p: { paymentId: string }) => p.paymentId),
        alicePayments,
      );
      assert.ok(all.body.payments.every((p: { user: string }) => p.user === alice.id));

      const first = await get("/v1/me/payments?limit=2", await signed(alice, "/v1/me/payments?limit=2"));
      assert.equal(first.body.payments.length, 2);
      const nextPath = `/v1/me/payments?limit=2&cursor=${first.body.nextCursor}`;
      const second = await get(nextPath, await signed(alice, nextPath));
      assert.deepEqual(
        second.body.payments.map((p: { paymentId: string }) => p.paymentId),
        alicePayments.slice(2),
      );
      assert.equal(second.body.nextCursor, undefined);

      const mine = await get("/v1/me/payments", await signed(mallory, "/v1/me/payments"));
      assert.equal(mine.body.payments.length, 1);
      assert.equal(mine.body.payments[0].user, mallory.id);
    });

    it("shows the user's account", async () => {
      const me = await get("/v1/me", await signed(alice, "/v1/me"));
      assert.equal(me.status, 200);
      assert.equal(me.body.user, alice.id);
      assert.deepEqual(me.body.balance, { amount: 10_000 - 300, currency: "EUR" });
    });

    it("gives the user the acknowledgment of their payment by its nonce, the same as the payment's answer; nobody else, and charges nothing", async () => {
      const { request, offer } = await paymentRequest(fx, alice);
      const nonce = offer.nonce;
      const paid = await pay(fx, request);
      assert.equal(paid.status, 200);
      const before = await snapshot(fx);
      const path = `/v1/me/acknowledgments/${nonce}`;
      const again = await get(path, await signed(alice, path));
      assert.equal(again.status, 200, JSON.stringify(again.body));
      assert.deepEqual(again.body, paid.body);
      assertProblem(await get(path, await signed(mallory, path)), 404, "ERR_NOT_FOUND", false);
      const unpaid = `/v1/me/acknowledgments/${newNonce()}`;
      assertProblem(await get(unpaid, await signed(alice, unpaid)), 404, "ERR_NOT_FOUND", false);
      assertProblem(await get(path), 401, "ERR_UNAUTHORIZED", false);
      assertProblem(
        await get("/v1/me/acknowledgments/not%20a%20nonce", await signed(alice, "/v1/me/acknowledgments/not%20a%20nonce")),
        400,
        "ERR_MALFORMED",
      );
      assert.deepEqual(await snapshot(fx), before);
    });

    it("refuses a request without a signature, with a Peage-Signature challenge", async () => {
      const answer = await get("/v1/me/payments");
      assertProblem(answer, 401, "ERR_UNAUTHORIZED", false);
      assert.equal(answer.headers.get("www-authenticate"), "Peage-Signature");
      assertProblem(await get("/v1/me/payments", "Bearer abc"), 401, "ERR_UNAUTHORIZED");
      assertProblem(await get("/v1/me/payments", "Peage-Signature not.a.jws"), 401, "ERR_MALFORMED");
    });

    it("refuses a replayed signed request", async () => {
      const authorization = await signed(alice, "/v1/me/payments");
      assert.equal((await get("/v1/me/payments", authorization)).status, 200);
      assertProblem(await get("/v1/me/payments", authorization), 401, "ERR_NONCE_REUSED", false);
    });

    it("refuses another user's key claiming the victim's kid (forged signature)", async () => {
      const claims = {
        v: 1,
        user: alice.id,
        method: "GET",
        path: "/v1/me/payments",
        iat: timestamp(fx.clock.now()),
        nonce: newNonce(),
      };
      const forged = await signJws(JwsTypes.userRequest, claims, mallory.key, { kid: await keyThumbprint(alice.key.publicKey) });
      // Mallory's key is Ed25519 and Alice's ES256: the header says EdDSA; either way the check fails.
      const answer = await get("/v1/me/payments", `Peage-Signature ${forged}`);
      assert.equal(answer.status, 401);
      assert.ok(["ERR_BAD_SIGNATURE", "ERR_UNSUPPORTED_ALGORITHM"].includes(answer.body.code), answer.body.code);

      const sameAlg = await enrol(fx, { name: "me-eve" });
      const forged2 = await signJws(JwsTypes.userRequest, claims, sameAlg.key, { kid: await keyThumbprint(alice.key.publicKey) });
      assertProblem(await get("/v1/me/payments", `Peage-Signature ${forged2}`), 401, "ERR_BAD_SIGNATURE");
    });

    it("refuses a user's own signature naming another user (ERR_UNKNOWN_KEY) and an altered signed request (ERR_BAD_SIGNATURE)", async () => {
      const asAlice = await signUserRequest({
        user: alice.id,
        key: mallory.key,
        method: "GET",
        path: "/v1/me/payments",
        clock: fx.clock,
      });
      assertProblem(await get("/v1/me/payments", asAlice), 401, "ERR_UNKNOWN_KEY");
      const token = (await signed(alice, "/v1/me")).split(" ")[1]!;
      const [header, payload, signature] = token.split(".") as [string, string, string];
      const claims = JSON.parse(Buffer.from(payload, "base64url").toString()) as Record<string, unknown>;
      claims["path"] = "/v1/me/payments";
      const altered = `${header}.${canonicalBytes(claims).toString("base64url")}.${signature}`;
      assertProblem(await get("/v1/me/payments", `Peage-Signature ${altered}`), 401, "ERR_BAD_SIGNATURE");
    });

    it("refuses a signature made for another path, query or method", async () => {
      assertProblem(await get("/v1/me/payments", await signed(alice, "/v1/me")), 401, "ERR_UNAUTHORIZED");
      assertProblem(
        await get("/v1/me/payments?limit=1", await signed(alice, "/v1/me/payments?limit=2")),
        401,
        "ERR_UNAUTHORIZED",
      );
      assertProblem(
        await get("/v1/me/payments", await signed(alice, "/v1/me/payments", { method: "POST" })),
        401,
        "ERR_UNAUTHORIZED",
      );
    });

    it("refuses a request signed more than five minutes from the server's clock", async () => {
      assertProblem(
        await get("/v1/me/payments", await signed(alice, "/v1/me/payments", { clockOffsetMs: -6 * 60_000 })),
        401,
        "ERR_MESSAGE_EXPIRED",
      );
      assertProblem(
        await get("/v1/me/payments", await signed(alice, "/v1/me/payments", { clockOffsetMs: 6 * 60_000 })),
        401,
        "ERR_MESSAGE_NOT_YET_VALID",
      );
      assert.equal(
        (await get("/v1/me/payments", await signed(alice, "/v1/me/payments", { clockOffsetMs: -4 * 60_000 }))).status,
        200,
      );
    });

    it("reading never changes balances or payments", async () => {
      const before = await snapshot(fx);
      await get("/v1/me/payments", await signed(alice, "/v1/me/payments"));
      assert.deepEqual(await snapshot(fx), before);
    });
  });
}
