/**
 * The restore drill of docs/operations.md, performed: a server takes payments from several
 * clients at once while `peage server backup` copies its database; the copy is restored into a
 * new data directory, `peage ledger verify` finds the books sound, `peage server migrate
 * --status` finds the schema up to date, every payment acknowledged before the backup started
 * is in it, and the restored server answers a retry of such a payment with the same
 * acknowledgment, charging nothing again.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { webcrypto } from "node:crypto";
import { copyFileSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import Database from "better-sqlite3";
import {
  createDemoPki,
  createOffer,
  createPaymentRequest,
  generateKeyPair,
  price,
  signCatalog,
  systemClock,
  writePkiDir,
  type DemoPki,
  type KeyPair,
  type PartyId,
  type PaymentRequest,
} from "@peage/protocol";
import { initDataDir } from "@peage/server";
import { assertSuccess, peage, startService, tempDir } from "./helpers/cli.js";

const CLIENTS = 4;

describe("the restore drill", () => {
  let work: string;
  let pki: DemoPki;
  before(async () => {
    work = tempDir();
    pki = await createDemoPki();
    await writePkiDir(join(work, "pki"), pki);
    await initDataDir({ dataDir: join(work, "server"), pkiDir: join(work, "pki") });
  });

  it("backs up under load, restores, verifies, and loses nothing acknowledged before the backup", async () => {
    const service = await startService(
      ["server", "--data", "server", "--port", "0", "--log-level", "silent", "--bootstrap-key", "operator.key"],
      work,
    );
    const url = String(service.listening["url"]);
    const operator = {
      authorization: `Bearer ${readFileSync(join(work, "operator.key"), "utf8").trim()}`,
      "content-type": "application/json",
    };
    const catalog = await signCatalog(
      pki.publisher.identity,
      [{ offerId: "launch", description: "One launch", price: price(25, "EUR"), grant: { kind: "launch" } }],
      pki.publisher.keys,
      pki.chainOf(pki.publisher.certificate),
    );
    const users: { id: PartyId<"user">; key: KeyPair }[] = [];
    for (let i = 0; i < CLIENTS; i++) {
      const key = await generateKeyPair("ES256");
      const id = `urn:peage:user:drill-${i}` as PartyId<"user">;
      const enrolled = await fetch(`${url}/v1/admin/users`, {
        method: "POST",
        headers: operator,
        body: JSON.stringify({
          user: id,
          publicKey: await webcrypto.subtle.exportKey("jwk", key.publicKey),
          mode: "prepaid",
          homeCurrency: "EUR",
        }),
      });
      assert.equal(enrolled.status, 201);
      const topup = await fetch(`${url}/v1/admin/users/${id}/topups`, {
        method: "POST",
        headers: operator,
        body: JSON.stringify({ amount: 1_000_000, idempotencyKey: `drill-topup-${i}` }),
      });
      assert.equal(topup.status, 201);
      users.push({ id, key });
    }

    // The load: each client pays again and again until told to stop, noting what was acknowledged.
    const acknowledged = new Map<string, { request: PaymentRequest; acknowledgment: string }>();
    let stop = false;
    const client = async (user: (typeof users)[number]) => {
      while (!stop) {
        const request = await createPaymentRequest({
          offer: createOffer(catalog.offers[0]!, systemClock),
          user: user.id,
          server: pki.server.identity,
          userKey: user.key,
          clock: systemClock,
        });
        const answer = await fetch(`${url}/v1/payments`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify(request),
        });
        const body = (await answer.json()) as { acknowledgment?: string };
        assert.equal(answer.status, 200, JSON.stringify(body));
        acknowledged.set(nonceOf(request), { request, acknowledgment: body.acknowledgment! });
      }
    };
    const load = Promise.all(users.map(client));
    while (acknowledged.size < 40) await new Promise((resolve) => setTimeout(resolve, 20));

    const before = new Map(acknowledged);
    const backup = assertSuccess(
      await peage(["server", "backup", "--data", "server", "--out", "peage-backup.db", "--json"], work),
    );
    const during = acknowledged.size;
    while (acknowledged.size < during + 20) await new Promise((resolve) => setTimeout(resolve, 20));
    stop = true;
    await load;
    assert.equal((await service.stop("SIGTERM")).code, 0);
    const copied = JSON.parse(backup.stdout) as { payments: number };
    assert.ok(
      copied.payments >= before.size,
      `the backup holds ${copied.payments} payments, ${before.size} were acknowledged before it started`,
    );
    assert.ok(copied.payments < acknowledged.size, "payments went on during and after the backup");
    assert.equal(statSync(join(work, "peage-backup.db")).mode & 0o777, 0o600);

    // Restore: a new data directory with the same identity files and the backup as its database.
    const restored = join(work, "restored");
    await initDataDir({ dataDir: restored, pkiDir: join(work, "pki") });
    for (const name of readdirSync(join(work, "server")))
      if (name === "server.json") copyFileSync(join(work, "server", name), join(restored, name));
    copyFileSync(join(work, "peage-backup.db"), join(restored, "peage.db"));

    const verify = assertSuccess(await peage(["ledger", "verify", "--data", "restored"], work));
    assert.doesNotMatch(verify.stdout, /BREACH/);
    const status = JSON.parse(
      assertSuccess(await peage(["server", "migrate", "--data", "restored", "--status", "--json"], work)).stdout,
    ) as { pending: number };
    assert.equal(status.pending, 0);

    const db = new Database(join(restored, "peage.db"), { readonly: true });
    const nonces = new Set((db.prepare("SELECT nonce FROM payments").all() as { nonce: string }[]).map((row) => row.nonce));
    db.close();
    const lost = [...before.keys()].filter((nonce) => !nonces.has(nonce));
    assert.deepEqual(lost, [], "every payment acknowledged before the backup is in it");

    // A wallet retrying a payment acknowledged before the backup gets the same acknowledgment back.
    const again = await startService(["server", "--data", "restored", "--port", "0", "--log-level", "silent"], work);
    try {
      const [nonce, first] = [...before.entries()][0]!;
      const retried = await fetch(`${String(again.listening["url"])}/v1/payments`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(first.request),
      });
      assert.equal(retried.status, 200, nonce);
      assert.equal(((await retried.json()) as { acknowledgment: string }).acknowledgment, first.acknowledgment);
    } finally {
      await again.stop("SIGTERM");
    }
  });
});

/** The nonce a payment request's consent carries (the server stores it with the payment). */
function nonceOf(request: PaymentRequest): string {
  const payload = JSON.parse(Buffer.from(request.consent.split(".")[1]!, "base64url").toString("utf8")) as { nonce: string };
  return payload.nonce;
}
