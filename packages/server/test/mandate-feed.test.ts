/**
 * The user's payments under mandates as a feed, and the pruning of mandates' counters, on both
 * engines over HTTP. The feed's pages follow each other without a gap or a repeat, also while 120
 * payments under three mandates race a reader polling it; a bad cursor or limit is a 400, an
 * unsigned request a 401, another user sees none of it. Counters of days and months that are over
 * go in batches of the size asked, those in progress and a total budget's stay, and what the
 * user and the agent see goes on unchanged.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createOffer, generateKeyPair, signUserRequest } from "@peage/protocol";
import { startMandatePruning } from "../src/mandates/pruning.js";
import type { Store } from "../src/index.js";
import { admin, assertProblem, ENGINES, http, NOW, startFixture, type Fixture } from "./helpers/fixture.js";
import {
  asUser,
  claimsOf,
  payUnderMandate,
  paymentIdOf,
  setUpMandate,
  signMandate,
  usageOf,
  type MandateSetUp,
} from "./helpers/mandates.js";

const DAY = 86_400_000;

interface Link {
  paymentId: string;
  mandateId: string;
  periodKey: string;
}

for (const engine of ENGINES) {
  describe(`the user's mandate payments feed and the counters' pruning (${engine})`, () => {
    let fx: Fixture;
    before(async () => {
      fx = await startFixture({ engine });
    });
    after(async () => {
      await fx.close();
    });

    const launch = () => createOffer(fx.entry("launch"), fx.clock);
    const cursorOf = (text: string) => Buffer.from(text, "utf8").toString("base64url");

    /** Every page from `cursor` on, and the cursor the last one gave. */
    async function readFeed(set: MandateSetUp, limit: number, cursor?: string): Promise<{ links: Link[]; cursor: string }> {
      const links: Link[] = [];
      for (;;) {
        const query = `?limit=${limit}${cursor === undefined ? "" : `&cursor=${cursor}`}`;
        const page = await asUser(fx, set.user, "GET", `/v2/me/mandate-payments${query}`);
        assert.equal(page.status, 200, JSON.stringify(page.body));
        assert.ok(page.body.payments.length <= limit);
        links.push(...page.body.payments);
        cursor = page.body.nextCursor as string;
        if (page.body.payments.length < limit) return { links, cursor };
      }
    }

    it("pages follow each other without a gap or a repeat; the last cursor is where the next payment appears", async () => {
      const set = await setUpMandate(fx);
      const paid: string[] = [];
      for (let i = 0; i < 7; i++) paid.push(paymentIdOf(await payUnderMandate(fx, set, launch())));
      const first = await readFeed(set, 3);
      assert.deepEqual(
        first.links.map((l) => l.paymentId),
        paid,
      );
      assert.ok(first.links.every((l) => l.mandateId === set.id && l.periodKey === "total"));
      const later = paymentIdOf(await payUnderMandate(fx, set, launch()));
      const polled = await readFeed(set, 3, first.cursor);
      assert.deepEqual(
        polled.links.map((l) => l.paymentId),
        [later],
      );
      // Another user signs for their own feed only: it is empty.
      const other = await setUpMandate(fx);
      assert.deepEqual((await readFeed(other, 3)).links, []);
    });

    it("a reader polling while 120 payments under three mandates race sees each exactly once, in commit order", async () => {
      const set = await setUpMandate(fx);
      const agents = [set, await secondMandate(set), await secondMandate(set)];
      let done = false;
      const seen: Link[] = [];
      const reader = (async () => {
        let cursor: string | undefined;
        while (!done) {
          const read = await readFeed(set, 7, cursor);
          seen.push(...read.links);
          cursor = read.cursor;
        }
        seen.push(...(await readFeed(set, 7, cursor)).links);
      })();
      const answers = await Promise.all(Array.from({ length: 120 }, (_, i) => payUnderMandate(fx, agents[i % 3]!, launch())));
      done = true;
      await reader;
      assert.ok(answers.every((a) => a.status === 200));
      const paid = new Set(answers.map(paymentIdOf));
      assert.equal(seen.length, 120, "no payment skipped, none repeated");
      assert.deepEqual(new Set(seen.map((l) => l.paymentId)), paid);
      const positions = await fx.raw.query<{ position: unknown }>(
        "SELECT position FROM agent_mandate_payments WHERE user_id = ? ORDER BY position",
        [set.user.id],
      );
      assert.deepEqual(
        positions.map((p) => Number(p.position)),
        Array.from({ length: 120 }, (_, i) => i + 1),
      );
    });

    it("a bad cursor or limit is a 400, an unsigned or replayed request a 401, and a signature covers its query", async () => {
      const set = await setUpMandate(fx);
      const refused = async (query: string, code: string) =>
        assertProblem(await asUser(fx, set.user, "GET", `/v2/me/mandate-payments?${query}`), 400, code);
      for (const cursor of ["s5", "m-1", "m1e3", "m9999999999999999"])
        await refused(`cursor=${cursorOf(cursor)}`, "ERR_BAD_REQUEST");
      for (const query of ["cursor=%2F%2F", "limit=0", "limit=501"]) await refused(query, "ERR_MALFORMED");
      assertProblem(await http(fx, "GET", "/v2/me/mandate-payments"), 401, "ERR_UNAUTHORIZED");
      const authorization = await signUserRequest({
        user: set.user.id,
        key: set.user.key,
        method: "GET",
        path: "/v2/me/mandate-payments?limit=1",
        clock: fx.clock,
      });
      const other = await http(fx, "GET", "/v2/me/mandate-payments?limit=2", { headers: { authorization } });
      assertProblem(other, 401, "ERR_UNAUTHORIZED");
    });

    it("counters of ended days and months are pruned in batches; current ones and a total budget's stay", async () => {
      const start = fx.clock.now();
      try {
        const long = { expiresInMs: 60 * DAY, maxPerPayment: 100, budget: 100 };
        const days = await Promise.all(Array.from({ length: 5 }, () => setUpMandate(fx, { ...long, period: "day" })));
        const month = await setUpMandate(fx, { ...long, period: "month" });
        const total = await setUpMandate(fx, { ...long, budget: 1000 });
        const first = [];
        for (const set of [...days, month, total]) first.push(await payUnderMandate(fx, set, launch()));
        assert.ok(first.every((a) => a.status === 200));

        let calls = 0;
        const counting = {
          mandates: (...args: unknown[]) => {
            calls++;
            return (fx.store.mandates as (...a: unknown[]) => unknown)(...args);
          },
        } as unknown as Store;
        const prune = async (batch: number) => {
          const pruning = startMandatePruning({ store: counting, clock: fx.clock, batch, intervalMs: 3_600_000 });
          try {
            return await pruning.runOnce();
          } finally {
            await pruning.stop();
          }
        };
        const today = NOW.toISOString().slice(0, 10);
        fx.clock.set(new Date(`${nextDay(today)}T00:30:00.000Z`));
        assert.equal(await prune(2), await endedBefore(today, "day"), "within the hour after midnight, nothing of the day");
        assert.deepEqual(await usageOf(fx, days[0]!.id), { [today]: { spent: 100, payments: 1 } });

        fx.clock.set(new Date(`${nextDay(today)}T01:30:00.000Z`));
        const due = await endedBefore(nextDay(today), "day");
        assert.ok(due >= 5);
        calls = 0;
        assert.equal(await prune(2), due);
        assert.equal(calls, Math.floor(due / 2) + 1, "batches of 2, until one is not full");
        for (const set of days) assert.deepEqual(await usageOf(fx, set.id), {});
        assert.deepEqual(await usageOf(fx, month.id), { "2026-03": { spent: 100, payments: 1 } });
        assert.deepEqual(await usageOf(fx, total.id), { total: { spent: 100, payments: 1 } });

        // The user and the agent go on: the view says nothing was spent today, a refund of the pruned day's
        // payment gives nothing back to a day that is over, and the mandate pays today.
        const list = await asUser(fx, days[0]!.user, "GET", "/v2/me/mandates");
        assert.equal(list.body.mandates[0].current.spent.amount, 0);
        assert.equal(
          (await admin(fx, "POST", `/v1/admin/payments/${paymentIdOf(first[0]!)}/refund`, { reason: "x" })).status,
          201,
        );
        assert.deepEqual(await usageOf(fx, days[0]!.id), {});
        assert.equal((await payUnderMandate(fx, days[0]!, launch())).status, 200);

        fx.clock.set(new Date("2026-04-01T02:00:00.000Z"));
        await prune(500);
        assert.deepEqual(await usageOf(fx, month.id), {});
        assert.deepEqual(await usageOf(fx, total.id), { total: { spent: 100, payments: 1 } });
        assert.equal(await endedBeforeAny(), 0);
      } finally {
        fx.clock.set(start);
      }
    });

    /** A second mandate of the same user for a new agent. */
    async function secondMandate(set: MandateSetUp): Promise<MandateSetUp> {
      const agent = await generateKeyPair("ES256");
      const mandate = await signMandate(fx, set.user, agent);
      assert.equal((await http(fx, "POST", "/v2/mandates", { body: mandate })).status, 201);
      return { user: set.user, agent, mandate, id: claimsOf(mandate).mandateId };
    }

    /** How many counters of `period` mandates are for a period before `key`. */
    async function endedBefore(key: string, period: "day" | "month"): Promise<number> {
      const [row] = await fx.raw.query<{ n: unknown }>(
        `SELECT COUNT(*) AS n FROM agent_mandate_usage u JOIN agent_mandates m ON m.id = u.mandate_id
          WHERE m.period = ? AND u.period_key < ?`,
        [period, key],
      );
      return Number(row!.n);
    }
    async function endedBeforeAny(): Promise<number> {
      return (await endedBefore("2026-04-01", "day")) + (await endedBefore("2026-04", "month"));
    }
  });
}

function nextDay(day: string): string {
  return new Date(Date.parse(`${day}T00:00:00.000Z`) + DAY).toISOString().slice(0, 10);
}
