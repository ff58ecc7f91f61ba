/**
 * `peage admin` for cards and for webhook deliveries, run as an operator runs it, against a real
 * `peage server` whose data directory has a card issuer: cards issued and registered with `peage
 * card issue`, then listed, shown, blocked (twice: refused), unblocked, a postpaid ceiling set and
 * a prepaid card reloaded; webhook endpoints' failures listed, deliveries put back and a secret
 * rotated, the database holding no secret. Wrong scopes and unknown ids are refused.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertError, assertSuccess, assertUsage, parseJson, peage, startServerCommand, tempDir } from "./helpers/cli.js";

const PREPAID = "urn:peage:card:ann-1";
const POSTPAID = "urn:peage:card:ben-1";

describe("peage admin for cards and webhook deliveries", () => {
  let work: string;
  let server: ChildProcess;
  let url: string;
  const admin = (args: readonly string[], key = "operator.key") =>
    peage(["admin", ...args, "--server", url, "--key-file", key], work);
  const issue = (card: string, user: string, purse: readonly string[]) =>
    peage(
      ["card", "issue", "--pki", "pki", "--out", card.split(":").at(-1)!, "--card", card, "--user", user, "--pin", "2468"].concat(
        ["--currency", "EUR", ...purse, "--server", url, "--api-key", "operator.key", "--json"],
      ),
      work,
    );

  before(async () => {
    work = tempDir();
    assertSuccess(await peage(["pki", "init", "--dir", "pki", "--card-issuer"], work));
    assertSuccess(await peage(["server", "init", "--data", "srv", "--pki", "pki"], work));
    ({ child: server, url } = await startServerCommand(
      ["--data", "srv", "--port", "0", "--log-level", "silent", "--bootstrap-key", "operator.key"],
      work,
    ));
    assertSuccess(await issue(PREPAID, "urn:peage:user:ann", ["--mode", "prepaid", "--balance", "500"]));
    assertSuccess(await issue(POSTPAID, "urn:peage:user:ben", ["--mode", "postpaid", "--ceiling", "200", "--deposit", "300"]));
    const support = parseJson(
      assertSuccess(await admin(["key-create", "--scope", "users:read", "--label", "support", "--json"])),
    );
    writeFileSync(join(work, "support.key"), `${String(support["secret"])}\n`);
  });

  after(() => {
    server?.kill("SIGTERM");
  });

  it("lists the cards and shows one, with its log and incidents", async () => {
    const list = parseJson(assertSuccess(await admin(["cards", "--json"])));
    assert.deepEqual(
      (list["cards"] as { card: string; status: string; balance?: unknown; ceiling?: unknown }[]).map((c) => [
        c.card,
        c.status,
        c.balance ?? c.ceiling,
      ]),
      [
        [PREPAID, "active", { amount: 500, currency: "EUR" }],
        [POSTPAID, "active", { amount: 200, currency: "EUR" }],
      ],
    );
    const text = assertSuccess(await admin(["cards", "--limit", "1"])).stdout;
    assert.match(text, new RegExp(`${PREPAID} .* prepaid {2}active {2}balance 5\\.00 EUR {2}0 entries {2}never synced`));
    assert.match(text, new RegExp(`more: --cursor ${PREPAID}`));
    assert.match(assertSuccess(await admin(["cards", "--cursor", PREPAID])).stdout, new RegExp(POSTPAID));
    const shown = parseJson(assertSuccess(await admin(["card", "--card", POSTPAID, "--json"])));
    assert.equal((shown["account"] as { mode: string }).mode, "postpaid");
    assert.deepEqual(shown["entries"], []);
    assertError(await admin(["card", "--card", "urn:peage:card:nobody"]), "ERR_NOT_FOUND");
    assertUsage(await admin(["card", "--card", "ann-1"]), /expected urn:peage:card:NAME/);
    assertUsage(await admin(["cards", "--status", "lost"]), /expected active or blocked/);
  });

  it("blocks a card once, with the reason, unblocks it; a read-only key changes nothing", async () => {
    assertError(await admin(["card-block", "--card", PREPAID, "--reason", "lost"], "support.key"), "ERR_FORBIDDEN");
    assertUsage(await admin(["card-block", "--card", PREPAID]), /--reason TEXT is required/);
    assertError(await admin(["card-unblock", "--card", PREPAID, "--reason", "fine"]), "ERR_CONFLICT");
    assert.match(
      assertSuccess(await admin(["card-block", "--card", PREPAID, "--reason", "lost on a train"])).stdout,
      /blocked \(blocked by the operator: lost on a train\)/,
    );
    const twice = assertError(await admin(["card-block", "--card", PREPAID, "--reason", "again"]), "ERR_CONFLICT");
    assert.match(twice.stderr, /already blocked.*peage admin card-unblock/);
    assertError(await admin(["card-reload", "--card", PREPAID, "--amount", "1.00"]), "ERR_ACCOUNT_SUSPENDED");
    const blocked = parseJson(assertSuccess(await admin(["cards", "--status", "blocked", "--json"])));
    assert.deepEqual(
      (blocked["cards"] as { card: string }[]).map((c) => c.card),
      [PREPAID],
    );
    assertSuccess(await admin(["card-unblock", "--card", PREPAID, "--reason", "found again"]));
    const shown = assertSuccess(await admin(["card", "--card", PREPAID])).stdout;
    assert.match(shown, /incident .* blocked: \{"reason":"lost on a train"\}/);
    assert.match(shown, /incident .* unblocked: \{"reason":"found again"\}/);
  });

  it("sets a postpaid card's ceiling and reloads a prepaid card, in the currency's unit", async () => {
    const set = parseJson(assertSuccess(await admin(["card-ceiling", "--card", POSTPAID, "--ceiling", "3.50", "--json"])));
    assert.deepEqual(set["ceiling"], { amount: 350, currency: "EUR" });
    assertError(await admin(["card-ceiling", "--card", PREPAID, "--ceiling", "3.50"]), "ERR_CONFLICT");
    assertUsage(await admin(["card-ceiling", "--card", POSTPAID, "--ceiling", "3.505"]), /at most 2 decimals/);
    const args = ["card-reload", "--card", PREPAID, "--amount", "2.00", "--idempotency-key", "reload-ann-0001"];
    assert.match(
      assertSuccess(await admin(args)).stdout,
      /2\.00 EUR for urn:peage:card:ann-1, loaded onto the card at its next sync/,
    );
    assertSuccess(await admin(args));
    assertError(await admin(["card-reload", "--card", POSTPAID, "--amount", "2.00"]), "ERR_CONFLICT");
    const account = parseJson(assertSuccess(await admin(["card", "--card", PREPAID, "--json"])))["account"] as {
      pendingReloads: unknown[];
      loaded: { amount: number };
    };
    assert.equal(account.pendingReloads.length, 1, "the same idempotency key reloads once");
    assert.equal(account.loaded.amount, 700);
  });

  it("rotates a webhook secret, puts deliveries back, lists failures, and keeps the secrets out of the database", async () => {
    assert.ok(existsSync(join(work, "srv", "webhook-keys")), "server init made the key ring");
    const added = parseJson(
      assertSuccess(await admin(["webhook-add", "--url", "http://127.0.0.1:9/hook", "--label", "books", "--json"])),
    );
    const id = added["id"] as string;
    const rotated = parseJson(assertSuccess(await admin(["webhook-rotate", "--id", id, "--overlap-hours", "2", "--json"])));
    assert.notEqual(rotated["secret"], added["secret"]);
    assert.ok(rotated["previousSecretUntil"]);
    assertUsage(await admin(["webhook-rotate", "--id", id, "--overlap-hours", "200"]), /--overlap-hours/);
    assertError(await admin(["webhook-rotate", "--id", id], "support.key"), "ERR_FORBIDDEN");
    assertError(await admin(["webhook-redeliver", "--id", "whe_nobody"]), "ERR_NOT_FOUND");
    assertError(await admin(["webhook-redeliver", "--id", id, "--event", "evt_nothing"]), "ERR_NOT_FOUND");
    assertUsage(await admin(["webhook-redeliver", "--id", id, "--event", "pay_1"]), /expected evt_/);
    assert.match(assertSuccess(await admin(["webhook-redeliver", "--id", id])).stdout, /0 deliveries to whe_.* due now/);
    const listed = assertSuccess(await admin(["webhooks"])).stdout;
    assert.match(listed, /the previous secret signs too until/);
    assert.match(listed, /deliveries: \d+ pending, \d+ delivered, 0 given up/);

    const files = readdirSync(join(work, "srv")).filter((name) => name.startsWith("peage.db"));
    for (const file of files) {
      const bytes = readFileSync(join(work, "srv", file)).toString("latin1");
      for (const secret of [added["secret"], rotated["secret"]] as string[])
        assert.ok(!bytes.includes(secret.slice(6)), `${file} does not hold a secret`);
    }
  });
});
