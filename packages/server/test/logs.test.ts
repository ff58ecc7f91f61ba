/** Structured logs: every request and payment is logged as JSON, and no secret or signed token ever is. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { signUserRequest } from "../src/user-auth.js";
import { admin, enrol, http, pay, paymentRequest, startFixture, type Fixture } from "./helpers/fixture.js";

describe("logs", () => {
  const lines: string[] = [];
  let fx: Fixture;
  before(async () => {
    fx = await startFixture({ logLines: lines });
  });
  after(async () => fx.close());

  it("record payments and refusals as JSON lines without API keys, consents or signed requests", async () => {
    const user = await enrol(fx, { balance: 1000 });
    const { request } = await paymentRequest(fx, user);
    assert.equal((await pay(fx, request)).status, 200);
    const cut = request.consent.length - 20;
    const forged = `${request.consent.slice(0, cut)}${request.consent[cut] === "A" ? "B" : "A"}${request.consent.slice(cut + 1)}`;
    assert.equal((await pay(fx, { ...request, consent: forged })).status, 422);
    const authorization = await signUserRequest({
      user: user.id,
      key: user.key,
      method: "GET",
      path: "/v1/me/payments",
      clock: fx.clock,
    });
    assert.equal((await http(fx, "GET", "/v1/me/payments", { headers: { authorization } })).status, 200);
    assert.equal((await admin(fx, "GET", "/v1/admin/payments")).status, 200);
    assert.equal(
      (
        await http(fx, "GET", "/v1/admin/payments", {
          headers: { authorization: "Bearer peage_sk_guessedguessedguessedguessedguessedguessedgue" },
        })
      ).status,
      401,
    );

    const entries = lines.map((line) => JSON.parse(line) as Record<string, unknown>);
    assert.ok(
      entries.some(
        (entry) => entry["msg"] === "payment recorded" && entry["user"] === user.id && typeof entry["paymentId"] === "string",
      ),
    );
    assert.ok(entries.some((entry) => entry["msg"] === "request refused" && entry["code"] === "ERR_BAD_SIGNATURE"));
    const text = lines.join("\n");
    for (const secret of [fx.adminKey, "peage_sk_guessed", request.consent, request.signature, authorization.split(" ")[1]!]) {
      assert.ok(!text.includes(secret), `a log line contains a secret or token: ${secret.slice(0, 24)}…`);
    }
  });
});
