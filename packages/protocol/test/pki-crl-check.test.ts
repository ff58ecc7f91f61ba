/**
 * TrustStore.checkCrl, a CRL checked on its own before use (the card desk's revocation list), on
 * the CRLs of the test vectors for both algorithms: the same checks as in a chain's validation
 * (signature by the issuer's key, cRLSign, usable, not stale), plus not valid yet; an issuer is
 * an anchor or a CA whose chain validates, and a forged signature or an unknown issuer is refused.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseCrlDer, parseCrlsPem, TrustStore, parseCertificatesPem, type x509 } from "../src/index.js";
import type { VectorFile } from "../scripts/vectors.js";

const dir = fileURLToPath(new URL("../../test-vectors/", import.meta.url));
const file = JSON.parse(readFileSync(join(dir, "vectors.json"), "utf8")) as VectorFile;
const AT = new Date("2026-01-16T09:00:00.000Z");

const crlOf = (name: string) => parseCrlsPem(file.crls[name]!)[0]!;
/** The x5c of a vector chain case without its leaf: the issuing CA first. */
const issuerChainOf = (id: string) => (file.cases.find((c) => c.id === id)!.input as string[]).slice(1);
const store = () => new TrustStore({ roots: file.trustAnchors.flatMap(parseCertificatesPem) });
const codeOf = async (trust: TrustStore, crl: x509.X509Crl, at = AT, chain: string[] = []) => {
  const outcome = await trust.checkCrl(crl, at, chain);
  return outcome.ok ? "ok" : `${outcome.error.code}: ${outcome.error.message}`;
};

for (const alg of ["es256", "eddsa"]) {
  describe(`a CRL checked on its own (${alg} vectors)`, () => {
    it("a root's CRL verifies against the anchor; an intermediate's once its chain is given, then remembered", async () => {
      const trust = store();
      assert.equal(await codeOf(trust, crlOf(`${alg}-root-empty`)), "ok");
      assert.equal(await codeOf(trust, crlOf(`${alg}-root-revokes-publishers-ca`)), "ok");
      const ca = crlOf(`${alg}-publishers-ca-empty`);
      assert.match(await codeOf(trust, ca), /^ERR_UNKNOWN_ISSUER: no trusted certificate/);
      assert.equal(await codeOf(trust, ca, AT, issuerChainOf(`chain/${alg}/valid-all-crls-required`)), "ok");
      assert.equal(await codeOf(trust, crlOf(`${alg}-publishers-ca-revokes-publisher`)), "ok", "the issuer is remembered");
    });

    it("refuses a CA without cRLSign, a critical extension, no nextUpdate, a stale or future CRL", async () => {
      const trust = store();
      const noSign = await codeOf(
        trust,
        crlOf(`${alg}-ca-without-crlsign-empty`),
        AT,
        issuerChainOf(`chain/${alg}/revocation-unknown-ca-without-crl-sign`),
      );
      assert.match(noSign, /^ERR_REVOCATION_UNKNOWN: .*lacks cRLSign/);
      await trust.addCrlIssuer(issuerChainOf(`chain/${alg}/valid-all-crls-required`), AT);
      assert.match(await codeOf(trust, crlOf(`${alg}-publishers-ca-delta`)), /^ERR_REVOCATION_UNKNOWN: .*critical extension/);
      assert.match(
        await codeOf(trust, crlOf(`${alg}-publishers-ca-without-next-update`)),
        /^ERR_REVOCATION_UNKNOWN: .*nextUpdate/,
      );
      const ca = crlOf(`${alg}-publishers-ca-empty`);
      assert.match(await codeOf(trust, ca, new Date("2026-02-24T09:00:00.000Z")), /^ERR_REVOCATION_UNKNOWN: .*stale/);
      assert.match(await codeOf(trust, ca, new Date(ca.thisUpdate.getTime() - 1)), /^ERR_REVOCATION_UNKNOWN: .*not valid yet/);
    });

    it("refuses a CRL whose signature was altered, and an issuer chain that does not reach an anchor", async () => {
      const trust = store();
      const genuine = new Uint8Array(crlOf(`${alg}-root-empty`).rawData);
      const forged = genuine.slice();
      forged[forged.length - 3]! ^= 0x01;
      assert.match(await codeOf(trust, parseCrlDer(forged)), /^ERR_BAD_SIGNATURE/);
      const chain = issuerChainOf(`chain/${alg}/valid-all-crls-required`);
      const cut = await trust.addCrlIssuer([chain[0]!], new Date("2032-01-01T00:00:00.000Z"));
      assert.equal(cut.ok, false, "an expired issuer is not remembered");
      assert.match(await codeOf(trust, crlOf(`${alg}-publishers-ca-empty`)), /^ERR_UNKNOWN_ISSUER/);
    });
  });
}
