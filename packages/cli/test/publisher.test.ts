/**
 * `peage admin publisher-key`, `peage publisher sales | earnings | payouts` and `peage admin
 * webhook-add | webhooks | webhook-remove` against a real payment server started by `peage server`:
 * a publisher's own key reads its own data and is refused as an operator key, and the other way round.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertError, assertSuccess, assertUsage, parseJson, peage, startServerCommand, tempDir } from "./helpers/cli.js";

const PUBLISHER = "urn:peage:publisher:acme-games";

describe("peage publisher and the webhook commands", () => {
  let work: string;
  let server: ChildProcess;
  let url: string;
  const admin = (args: readonly string[]) => peage(["admin", ...args, "--server", url, "--key-file", "operator.key"], work);
  const publisher = (args: readonly string[], key = "publisher.key") =>
    peage(["publisher", ...args, "--server", url, "--key-file", key], work);

  before(async () => {
    work = tempDir();
    assertSuccess(await peage(["pki", "init", "--dir", "pki"], work));
    assertSuccess(await peage(["server", "init", "--data", "srv", "--pki", "pki"], work));
    ({ child: server, url } = await startServerCommand(
      ["--data", "srv", "--port", "0", "--log-level", "silent", "--bootstrap-key", "operator.key"],
      work,
    ));
  });
  after(() => {
    server?.kill("SIGTERM");
  });

  it("gives a publisher its own key, which reads its sales, earnings and payouts and nothing else", async () => {
    assertError(await admin(["publisher-key", "--publisher", PUBLISHER, "--label", "acme"]), "ERR_NOT_FOUND");
    assertSuccess(await admin(["publisher", "--publisher", PUBLISHER, "--name", "Acme Games", "--country", "FR"]));
    const key = parseJson(assertSuccess(await admin(["publisher-key", "--publisher", PUBLISHER, "--label", "acme", "--json"])));
    assert.equal(key["publisher"], PUBLISHER);
    writeFileSync(join(work, "publisher.key"), `${key["secret"] as string}\n`, { mode: 0o600 });

    const page = parseJson(assertSuccess(await publisher(["sales", "--json"])));
    assert.deepEqual(page["sales"], []);
    assert.match(
      assertSuccess(await publisher(["sales", "--cursor", page["nextCursor"] as string])).stdout,
      /no new sales; next: --cursor/,
    );
    assert.match(assertSuccess(await publisher(["earnings"])).stdout, /no earnings yet/);
    assert.deepEqual(parseJson(assertSuccess(await publisher(["payouts", "--json"])))["payouts"], []);
    assertUsage(await publisher(["earnings", "--period", "2026-13"]), /expected YYYY-MM/);
    assertUsage(await publisher(["sales", "--limit", "0"]), /--limit/);

    assertError(await publisher(["sales"], "operator.key"), "ERR_FORBIDDEN");
    assertError(await peage(["admin", "payments", "--server", url, "--key-file", "publisher.key"], work), "ERR_FORBIDDEN");
    const noKey = await peage(["publisher", "sales", "--server", url], work);
    assertUsage(noKey, /peage admin publisher-key/);
  });

  it("registers, lists and removes webhook endpoints, and refuses an unsafe URL", async () => {
    const added = parseJson(
      assertSuccess(
        await admin([
          "webhook-add",
          "--url",
          "http://127.0.0.1:9/hooks",
          "--label",
          "books",
          "--event",
          "payout.scheduled",
          "--json",
        ]),
      ),
    );
    assert.match(added["secret"] as string, /^whsec_/);
    assert.deepEqual(added["events"], ["payout.scheduled"]);
    const scoped = parseJson(
      assertSuccess(
        await admin([
          "webhook-add",
          "--url",
          "https://acme.example/hooks",
          "--label",
          "acme",
          "--publisher",
          PUBLISHER,
          "--json",
        ]),
      ),
    );
    assert.equal(scoped["publisher"], PUBLISHER);
    assertError(await admin(["webhook-add", "--url", "http://acme.example/hooks", "--label", "plain"]), "ERR_MALFORMED");
    assertUsage(
      await admin(["webhook-add", "--url", "https://acme.example/", "--label", "x", "--event", "payment.lost"]),
      /--event payment\.lost/,
    );
    const listed = parseJson(assertSuccess(await admin(["webhooks", "--json"])));
    assert.deepEqual(
      (listed["endpoints"] as { id: string; secret?: string }[]).map((e) => [e.id, e.secret]),
      [
        [added["id"], undefined],
        [scoped["id"], undefined],
      ],
    );
    assert.match(assertSuccess(await admin(["webhook-remove", "--id", added["id"] as string])).stdout, /removed/);
    assertError(await admin(["webhook-remove", "--id", added["id"] as string]), "ERR_NOT_FOUND");
    assertUsage(await admin(["webhook-remove", "--id", "nope"]), /expected an endpoint id/);
  });
});
