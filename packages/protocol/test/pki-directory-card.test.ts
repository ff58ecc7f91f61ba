/**
 * The demo PKI directory of a payment server that is also a card issuer: the card-issuer CA's
 * certificate, key (0600) and chain are written beside the rest and read back into `cardIssuer`;
 * a directory without them reads as before, and one whose card-issuer key or identity is not
 * the certificate's is refused.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  createDemoPki,
  issueCertificate,
  parseCertificatesPem,
  PkiFiles,
  readPkiDir,
  toX5c,
  writePkiDir,
} from "../src/pki/index.js";
import { generateKeyPair } from "../src/keys.js";
import { partyId } from "../src/identity.js";
import { NOW, assertOk, withTempDir } from "./helpers/pki.js";

describe("demo PKI directory with a card issuer", () => {
  it("writes card-issuer.crt, card-issuer.key (0600) and card-issuer-chain.pem, and reads the card issuer back", async () => {
    await withTempDir(async (dir) => {
      const pki = await createDemoPki({ now: NOW, cardIssuer: true });
      const written = (await writePkiDir(dir, pki)).map((path) => path.slice(dir.length + 1));
      for (const name of ["card-issuer.crt", "card-issuer.key", "card-issuer-chain.pem"]) assert.ok(written.includes(name), name);
      assert.equal(statSync(join(dir, "card-issuer.key")).mode & 0o777, 0o600);
      const chain = parseCertificatesPem(readFileSync(join(dir, "card-issuer-chain.pem"), "utf8")).map(toX5c);
      assert.deepEqual(chain, [toX5c(pki.cardIssuer!.certificate), toX5c(pki.regulatorCa.certificate)]);

      const back = await readPkiDir(dir);
      assert.ok(back.cardIssuer);
      assert.equal(back.cardIssuer.identity, pki.server.identity);
      assert.equal(toX5c(back.cardIssuer.certificate), toX5c(pki.cardIssuer!.certificate));
      // The key read back is the CA's: a card certified with it validates for the card role.
      const cardKeys = await generateKeyPair("ES256");
      const card = await issueCertificate({
        issuer: back.cardIssuer,
        subject: "CN=alice-1,O=Péage",
        publicKey: cardKeys.publicKey,
        notBefore: NOW,
        notAfter: new Date(NOW.getTime() + 86_400_000),
        roles: ["card-acknowledgment"],
        identity: partyId("card", "alice-1"),
      });
      assertOk(await back.trustStore().validate(back.chainOf(card), "card-acknowledgment", new Date(NOW.getTime() + 60_000)));
    });
  });

  it("reads a directory without a card issuer as before", async () => {
    await withTempDir(async (dir) => {
      await writePkiDir(dir, await createDemoPki({ now: NOW }));
      const back = await readPkiDir(dir);
      assert.equal(back.cardIssuer, undefined);
    });
  });

  it("refuses a card-issuer key that is not the certificate's, and a certificate without its key", async () => {
    await withTempDir(async (dir) => {
      await writePkiDir(dir, await createDemoPki({ now: NOW, cardIssuer: true }));
      writeFileSync(join(dir, `${PkiFiles.cardIssuer}.key`), readFileSync(join(dir, "server.key")));
      await assert.rejects(readPkiDir(dir), /not the one certified/);
      rmSync(join(dir, `${PkiFiles.cardIssuer}.key`));
      await assert.rejects(readPkiDir(dir), /ENOENT/);
    });
  });

  it("refuses a card issuer naming another payment server than the directory's", async () => {
    await withTempDir(async (dir) => {
      const pki = await createDemoPki({ now: NOW, cardIssuer: true });
      const other = await createDemoPki({ now: NOW, cardIssuer: true, serverName: "pay-us" });
      await writePkiDir(dir, pki);
      // The other PKI's card issuer, with its own key: the pair is consistent, the identity is not.
      const otherDir = join(dir, "other");
      await writePkiDir(otherDir, other);
      for (const ext of ["crt", "key"])
        writeFileSync(join(dir, `card-issuer.${ext}`), readFileSync(join(otherDir, `card-issuer.${ext}`)));
      await assert.rejects(
        readPkiDir(dir),
        /names urn:peage:server:pay-us, not the directory's payment server urn:peage:server:pay-eu/,
      );
    });
  });
});
