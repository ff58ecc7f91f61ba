/**
 * `peage server init` and `peage admin …` against a real payment server started by `peage server`:
 * a data directory from a PKI or from a key and chain, then users, publishers, payments and API
 * keys managed over the operator API, with scoped keys, as an operator would from a shell.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertError, assertSuccess, assertUsage, parseJson, peage, startServerCommand, tempDir } from "./helpers/cli.js";

const ALICE = "urn:peage:user:alice";
const PUBLISHER = "urn:peage:publisher:acme-games";

describe("peage server init and peage admin", () => {
  let work: string;
  let server: ChildProcess;
  let url: string;
  const admin = (args: readonly string[], key = "operator.key") =>
    peage(["admin", ...args, "--server", url, "--key-file", key], work);

  before(async () => {
    work = tempDir();
    assertSuccess(await peage(["pki", "init", "--dir", "pki"], work));
    const init = parseJson(assertSuccess(await peage(["server", "init", "--data", "srv", "--pki", "pki", "--json"], work)));
    assert.equal(init["server"], "urn:peage:server:pay-eu");
    ({ child: server, url } = await startServerCommand(
      ["--data", "srv", "--port", "0", "--log-level", "silent", "--bootstrap-key", "operator.key"],
      work,
    ));
    writeFileSync(
      join(work, "alice.jwk"),
      JSON.stringify({ kty: "OKP", crv: "Ed25519", x: "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo" }),
    );
  });

  after(() => {
    server?.kill("SIGTERM");
  });

  it("makes a data directory from a key and chain of any CA, and refuses a key the chain does not certify", async () => {
    const files = ["--chain", "pki/server-chain.pem", "--roots", "pki/root.crt"];
    assertSuccess(await peage(["server", "init", "--data", "other", "--key", "pki/server.key", ...files], work));
    assert.ok(existsSync(join(work, "other", "server.key")));
    assertError(
      await peage(["server", "init", "--data", "wrong", "--key", "pki/publisher.key", ...files], work),
      "ERR_SERVER_IDENTITY",
    );
    assert.equal(existsSync(join(work, "wrong")), false, "nothing is written for an identity that does not verify");
    assertError(await peage(["server", "init", "--data", "other", "--pki", "pki"], work), "ERR_DATA_DIR");
    assertUsage(
      await peage(["server", "init", "--data", "x", "--pki", "pki", "--key", "pki/server.key"], work),
      /give only one of --pki or --key/,
    );
    assertUsage(await peage(["server", "init", "--data", "x", "--key", "pki/server.key"], work), /--chain FILE is required/);
  });

  it("enrols, tops up, limits and suspends users, names publishers, with amounts in the currency's unit", async () => {
    const enrolled = parseJson(
      assertSuccess(
        await admin(["enrol", "--user", ALICE, "--public-key", "alice.jwk", "--currency", "EUR", "--prepaid", "--json"]),
      ),
    );
    assert.deepEqual(
      [enrolled["mode"], enrolled["status"], enrolled["balance"]],
      ["prepaid", "active", { amount: 0, currency: "EUR" }],
    );
    assert.match(
      assertSuccess(await admin(["topup", "--user", ALICE, "--amount", "12.50", "--idempotency-key", "first-topup"])).stdout,
      /12\.50 EUR credited; balance 12\.50 EUR/,
    );
    // The same idempotency key again credits nothing more.
    assertSuccess(await admin(["topup", "--user", ALICE, "--amount", "12.50", "--idempotency-key", "first-topup"]));
    assert.deepEqual(parseJson(assertSuccess(await admin(["user", "--user", ALICE, "--json"])))["balance"], {
      amount: 1250,
      currency: "EUR",
    });
    assertUsage(await admin(["topup", "--user", ALICE, "--amount", "1.005"]), /at most 2 decimals/);
    assertUsage(await admin(["topup", "--user", "alice", "--amount", "1"]), /expected urn:peage:user:NAME/);
    assertError(await admin(["limit", "--user", ALICE, "--limit", "5"]), "ERR_CONFLICT");
    assertError(
      await admin(["enrol", "--user", ALICE, "--public-key", "alice.jwk", "--currency", "EUR", "--prepaid"]),
      "ERR_CONFLICT",
    );
    writeFileSync(
      join(work, "alice-new.jwk"),
      JSON.stringify(generateKeyPairSync("ed25519").publicKey.export({ format: "jwk" })),
    );
    const rekeyed = parseJson(
      assertSuccess(await admin(["user-key", "--user", ALICE, "--public-key", "alice-new.jwk", "--json"])),
    );
    assert.notEqual(rekeyed["kid"], enrolled["kid"]);
    assertError(await admin(["user-key", "--user", "urn:peage:user:nobody", "--public-key", "alice.jwk"]), "ERR_UNKNOWN_USER");
    assert.match(assertSuccess(await admin(["suspend", "--user", ALICE])).stdout, /prepaid {2}suspended/);
    assertSuccess(await admin(["reactivate", "--user", ALICE]));

    const named = [
      "publisher",
      "--publisher",
      PUBLISHER,
      "--name",
      "Acme Games",
      "--country",
      "FR",
      "--iban",
      "FR76 3000 6000 0112 3456 7890 189",
      "--bic",
      "AGRIFRPP",
    ];
    assert.match(assertSuccess(await admin(named)).stdout, /Acme Games \(FR\) {2}IBAN FR7630006000011234567890189 BIC AGRIFRPP/);
    assertError(
      await admin([
        "publisher",
        "--publisher",
        PUBLISHER,
        "--name",
        "Acme",
        "--country",
        "FR",
        "--iban",
        "FR7630006000011234567890188",
      ]),
      "ERR_MALFORMED",
    );
    // A publisher in a country without IBAN, paid in its own currency to a domestic account.
    const US_PUBLISHER = "urn:peage:publisher:us-games";
    const us = ["publisher", "--publisher", US_PUBLISHER, "--name", "US Games Inc", "--country", "US"];
    const usAccount = ["--routing-number", "021000021", "--account-number", "000123456789", "--account-type", "checking"];
    const usNamed = parseJson(assertSuccess(await admin([...us, ...usAccount, "--payout-currency", "USD", "--json"])));
    assert.deepEqual(usNamed, {
      ...(usNamed as object),
      domestic: { country: "US", routingNumber: "021000021", accountNumber: "000123456789", accountType: "checking" },
      payoutCurrency: "USD",
    });
    assert.match(
      assertSuccess(await admin(["publisher", "--publisher", US_PUBLISHER])).stdout,
      /US Games Inc \(US\) {2}US account routingNumber 021000021 accountNumber 000123456789 accountType checking, paid in USD/,
    );
    const badChecksum = assertError(
      await admin([...us, "--routing-number", "021000022", "--account-number", "000123456789", "--account-type", "checking"]),
      "ERR_MALFORMED",
    );
    assert.match(badChecksum.stderr, /domestic\.routingNumber: wrong check digit/);
    assertUsage(
      await admin([...us, ...usAccount, "--payout-currency", "XYZ"]),
      /--payout-currency XYZ: not an active ISO 4217 currency code/,
    );
    assertUsage(
      await admin([...us, "--bsb", "062000", "--account-number", "12345678"]),
      /--bsb is not an identifier of a US account/,
    );
    assertUsage(await admin([...us, ...usAccount, "--iban", "FR7630006000011234567890189"]), /give one account/);
    assertUsage(await admin(["publisher", "--publisher", US_PUBLISHER, "--payout-currency", "EUR"]), /--name NAME is required/);
    // Nothing refused changed the record.
    assert.equal(
      (parseJson(assertSuccess(await admin(["publisher", "--publisher", US_PUBLISHER, "--json"]))) as { payoutCurrency: string })
        .payoutCurrency,
      "USD",
    );
    assertSuccess(await admin(["publisher", "--publisher", US_PUBLISHER, "--name", "US Games Inc", "--country", "US"]));

    const listed = parseJson(assertSuccess(await admin(["publishers", "--json"]))) as {
      publishers: { publisher: string; name: string }[];
    };
    assert.deepEqual(
      listed.publishers.map((p) => [p.publisher, p.name]),
      [
        [PUBLISHER, "Acme Games"],
        ["urn:peage:publisher:us-games", "US Games Inc"],
      ],
    );
    assert.deepEqual((parseJson(assertSuccess(await admin(["payments", "--json"]))) as { payments: unknown[] }).payments, []);
    assertError(await admin(["refund", "--payment", "pay_nothing", "--reason", "test"]), "ERR_NOT_FOUND");
  });

  it("creates scoped keys, lists them without secrets, rotates and revokes them", async () => {
    const created = parseJson(
      assertSuccess(await admin(["key-create", "--scope", "users:read", "--label", "support desk", "--json"])),
    );
    assert.match(String(created["secret"]), /^peage_sk_/);
    writeFileSync(join(work, "support.key"), `${String(created["secret"])}\n`);
    assertSuccess(await admin(["user", "--user", ALICE], "support.key"));
    assertError(await admin(["topup", "--user", ALICE, "--amount", "1.00"], "support.key"), "ERR_FORBIDDEN");

    const listed = parseJson(assertSuccess(await admin(["keys", "--json"]))) as { apiKeys: { id: string; label: string }[] };
    assert.deepEqual(
      listed.apiKeys.map((k) => k.label),
      ["bootstrap", "support desk"],
    );
    assert.ok(!JSON.stringify(listed).includes(String(created["secret"])), "a listing never shows a secret");

    const rotated = parseJson(assertSuccess(await admin(["key-rotate", "--id", String(created["id"]), "--json"])));
    assert.deepEqual([rotated["label"], rotated["scopes"]], ["support desk", ["users:read"]]);
    assertError(await admin(["user", "--user", ALICE], "support.key"), "ERR_UNAUTHORIZED");
    writeFileSync(join(work, "support.key"), `${String(rotated["secret"])}\n`);
    assertSuccess(await admin(["user", "--user", ALICE], "support.key"));

    assertSuccess(await admin(["key-revoke", "--id", String(rotated["id"])]));
    assertError(await admin(["user", "--user", ALICE], "support.key"), "ERR_UNAUTHORIZED");
    assertError(await admin(["key-revoke", "--id", String(rotated["id"])]), "ERR_NOT_FOUND");
    assertUsage(await admin(["key-revoke", "--id", "peage_sk_oops"]), /expected an API key id/);
    assertUsage(await peage(["admin", "keys"], work), /give --server URL or set PEAGE_SERVER_URL/);
    assert.match(readFileSync(join(work, "operator.key"), "utf8"), /^peage_sk_/);
  });
});
