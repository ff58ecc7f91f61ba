/**
 * Input from outside is checked as sent: a member its schema does not name is refused, not dropped,
 * and a query or path value converts to a number only when it is written as one exactly (1.5, 1e2,
 * 0x10 or " 2" for an integer is refused, never truncated or rounded). Each refusal changes nothing.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { signUserRequest } from "../src/user-auth.js";
import { admin, assertProblem, enrol, http, snapshot, startFixture, type Fixture, type TestUser } from "./helpers/fixture.js";

describe("strict validation of requests", () => {
  let fx: Fixture;
  let alice: TestUser;
  before(async () => {
    fx = await startFixture();
    alice = await enrol(fx, { balance: 1_000, name: "strict-alice" });
  });
  after(async () => {
    await fx.close();
  });

  const mine = async (path: string) =>
    http(fx, "GET", path, {
      headers: { authorization: await signUserRequest({ user: alice.id, key: alice.key, method: "GET", path, clock: fx.clock }) },
    });

  /** The request is refused as ERR_MALFORMED naming `field`, and the books are as before. */
  const refused = async (send: () => Promise<Awaited<ReturnType<typeof http>>>, field: RegExp) => {
    const before = await snapshot(fx);
    const answer = await send();
    assertProblem(answer, 400, "ERR_MALFORMED", false);
    assert.match(answer.body.detail, field);
    assert.deepEqual(await snapshot(fx), before);
  };

  it("refuses an unknown member in an operator body instead of dropping it", async () => {
    const publisher = "/v1/admin/publishers/urn:peage:publisher:strict";
    const body = { name: "Studio Strict", country: "NL", iban: "NL91ABNA0417164300" };
    await refused(() => admin(fx, "PUT", publisher, { ...body, payoutDay: 3 }), /body.*payoutDay|payoutDay/);
    assertProblem(await admin(fx, "GET", publisher), 404, "ERR_NOT_FOUND");
    const topUp = `/v1/admin/users/${alice.id}/topups`;
    await refused(() => admin(fx, "POST", topUp, { amount: 100, idempotencyKey: "strict-topup-1", memo: "gift" }), /memo/);
    assert.equal((await admin(fx, "PUT", publisher, body)).status, 201);
  });

  it("refuses an unknown query member", async () => {
    await refused(() => admin(fx, "GET", "/v1/admin/publishers?deleted=true"), /deleted/);
    await refused(
      () => admin(fx, "POST", `/v1/admin/users/${alice.id}/topups?amount=5`, { amount: 1, idempotencyKey: "strict-q" }),
      /amount/,
    );
    await refused(() => mine("/v1/me/payments?limit=2&sort=amount"), /querystring.*sort|sort/);
  });

  it("refuses an integer written any way but as plain decimal digits", async () => {
    for (const limit of ["1.5", "abc", "1e2", "0x10", "%202", "2%20", "true", "", "-0", "01"]) {
      await refused(() => mine(`/v1/me/payments?limit=${limit}`), /limit/);
      await refused(() => admin(fx, "GET", `/v1/admin/payments?limit=${limit}`), /limit/);
    }
    await refused(() => mine("/v1/me/payments?limit=2&limit=3"), /limit/);
    const answer = await mine("/v1/me/payments?limit=2");
    assert.equal(answer.status, 200, JSON.stringify(answer.body));
    assert.equal((await admin(fx, "GET", "/v1/admin/payments?limit=500")).status, 200);
  });
});
