/**
 * `peage catalog sign` then `peage inspect`: a signed catalog verifies; a catalog edited after
 * signing, checked against another root, or signed by a revoked publisher does not; drafts with
 * a mistake are refused before anything is signed, with a message naming the offer.
 */
import { describe, it, before } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertError, assertInvalid, assertSuccess, parseJson, peage, tempDir } from "./helpers/cli.js";

const drafts = [
  { offerId: "launch", description: "Start the game", price: { amount: "1.50", currency: "EUR" }, grant: { kind: "launch" } },
  {
    offerId: "hour",
    description: "One hour of play",
    price: { amount: 300, currency: "JPY" },
    grant: { kind: "period", seconds: 3600 },
  },
  {
    offerId: "level-2",
    description: "Level 2",
    price: { amount: "0.250", currency: "BHD" },
    grant: { kind: "event", event: "level-2" },
  },
  {
    offerId: "tiny",
    description: "A tenth of a cent more than nothing",
    price: { amount: "0.1", currency: "EUR" },
    grant: { kind: "launch" },
  },
];

interface CatalogFile {
  publisher: string;
  offers: { terms: { offerId: string; description: string; price: { amount: number; currency: string }; servers?: string[] } }[];
}

describe("peage catalog sign", () => {
  let work: string;
  const SERVER = "urn:peage:server:pay-eu";
  const sign = (...args: string[]) =>
    peage(["catalog", "sign", "--key", "publisher.key", "--chain", "publisher-chain.pem", "--server", SERVER, ...args], work);

  before(async () => {
    work = tempDir();
    await Promise.all([
      peage(["pki", "init", "--dir", ".", "--json"], work).then(assertSuccess),
      peage(["pki", "init", "--dir", "other", "--json"], work).then(assertSuccess),
    ]);
    writeFileSync(join(work, "offers.json"), JSON.stringify(drafts, null, 2));
  });

  it("signs the drafts with exact minor units, verified against --trust, and inspect accepts the catalog", async () => {
    const run = assertSuccess(await sign("--offers", "offers.json", "--trust", "root.crt", "--out", "catalog.json", "--json"));
    const result = parseJson(run);
    assert.equal(result["catalog"], join(work, "catalog.json"));
    assert.equal(result["publisher"], "urn:peage:publisher:acme-games");
    assert.equal(result["verified"], true);
    const catalog = JSON.parse(readFileSync(join(work, "catalog.json"), "utf8")) as CatalogFile;
    // The publisher comes from the certificate; decimal strings became integers of each currency's minor unit.
    assert.equal(catalog.publisher, "urn:peage:publisher:acme-games");
    assert.deepEqual(
      catalog.offers.map((o) => [o.terms.offerId, o.terms.price.amount, o.terms.price.currency]),
      [
        ["launch", 150, "EUR"],
        ["hour", 300, "JPY"],
        ["level-2", 250, "BHD"],
        ["tiny", 10, "EUR"],
      ],
    );
    // The payment servers whose acknowledgments the program accepts are signed into every offer.
    assert.ok(catalog.offers.every((o) => JSON.stringify(o.terms.servers) === JSON.stringify([SERVER])));

    const inspected = assertSuccess(await peage(["inspect", "catalog.json", "--trust", "root.crt"], work));
    assert.match(inspected.stdout, /launch: 1\.50 EUR, one launch: Start the game/);
    assert.match(inspected.stdout, /hour: 300 JPY, a period of 1 hour/);
    assert.match(inspected.stdout, /level-2: 0\.250 BHD, the event "level-2"/);
    assert.match(inspected.stdout, /^valid: catalog of 4 offers signed by urn:peage:publisher:acme-games/m);
  });

  it("fails a catalog edited after signing with ERR_HASH_MISMATCH, and one checked against another root with ERR_UNKNOWN_ISSUER", async () => {
    const catalog = JSON.parse(readFileSync(join(work, "catalog.json"), "utf8")) as CatalogFile;
    catalog.offers[1]!.terms.description = "One hour of play, and the next one free";
    writeFileSync(join(work, "edited.json"), JSON.stringify(catalog, null, 2));
    const cheaper = JSON.parse(readFileSync(join(work, "catalog.json"), "utf8")) as CatalogFile;
    cheaper.offers[0]!.terms.price.amount = 1;
    writeFileSync(join(work, "cheaper.json"), JSON.stringify(cheaper));

    const [edited, priced, foreign] = await Promise.all([
      peage(["inspect", "edited.json", "--trust", "root.crt"], work),
      peage(["inspect", "cheaper.json", "--trust", "root.crt", "--json"], work),
      peage(["inspect", "catalog.json", "--trust", "other/root.crt"], work),
    ]);
    assertInvalid(edited, "ERR_HASH_MISMATCH");
    assert.match(edited.stderr, /catalog offer hour: the offer hash is not the hash of the offer's terms/);
    // The edited text is still shown, so the reader can see what was changed.
    assert.match(edited.stdout, /and the next one free/);
    const report = parseJson(assertInvalid(priced, "ERR_HASH_MISMATCH"));
    assert.equal(report["valid"], false);
    assertInvalid(foreign, "ERR_UNKNOWN_ISSUER");
  });

  it("refuses to sign a catalog that names no payment server, or a server id that is not one", async () => {
    const [none, bad] = await Promise.all([
      peage(
        [
          "catalog",
          "sign",
          "--key",
          "publisher.key",
          "--chain",
          "publisher-chain.pem",
          "--offers",
          "offers.json",
          "--out",
          "none.json",
        ],
        work,
      ),
      sign("--offers", "offers.json", "--server", "urn:peage:publisher:acme-games", "--out", "bad.json"),
    ]);
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /--server urn:peage:server:NAME/);
    assert.notEqual(bad.code, 0);
    for (const name of ["none.json", "bad.json"]) assert.ok(!existsSync(join(work, name)), `${name} was not written`);
  });

  it("refuses drafts with a mistake, naming the offer, and writes nothing", async () => {
    // Every kind of mistake is unit-tested in drafts.test.ts; this shows one reaching the command's exit.
    writeFileSync(
      join(work, "float.json"),
      JSON.stringify([drafts[0], { ...drafts[1], price: { amount: 2.5, currency: "JPY" } }]),
    );
    const run = assertError(await sign("--offers", "float.json", "--out", "float.signed"), "ERR_BAD_OFFER");
    assert.match(run.stderr, /--offers float.json: offer #2 \("hour"\): price.amount 2.5 is not a whole number of minor units/);
    assert.ok(!existsSync(join(work, "float.signed")), "nothing written");
  });

  it("refuses another publisher's name, a key that is not the chain's, and a revoked publisher", async () => {
    assertSuccess(
      await peage(
        [
          "pki",
          "revoke",
          "--ca-cert",
          "publishers-ca.crt",
          "--ca-key",
          "publishers-ca.key",
          "--cert",
          "publisher.crt",
          "--crl-out",
          "publishers.crl",
        ],
        work,
      ),
    );
    const [publisher, key, revoked] = await Promise.all([
      sign("--offers", "offers.json", "--publisher", "urn:peage:publisher:someone-else", "--out", "a.json"),
      peage(
        [
          "catalog",
          "sign",
          "--offers",
          "offers.json",
          "--key",
          "server.key",
          "--chain",
          "publisher-chain.pem",
          "--server",
          SERVER,
          "--out",
          "b.json",
        ],
        work,
      ),
      sign("--offers", "offers.json", "--trust", "root.crt", "--crl", "publishers.crl", "--out", "c.json"),
    ]);
    assertError(publisher, "ERR_IDENTITY_MISMATCH");
    assertError(key, "ERR_KEY_MISMATCH");
    assertInvalid(revoked, "ERR_REVOKED");
    for (const name of ["a.json", "b.json", "c.json"]) assert.ok(!existsSync(join(work, name)), `${name} was not written`);
  });
});
