/**
 * The demo PKI's payment server as the identity buildApp signs with: what every in-process
 * server of these tests starts from, written once.
 */
import type { DemoPki } from "@peage/protocol";
import type { ServerIdentity } from "../../src/index.js";

export function demoServerIdentity(pki: DemoPki): ServerIdentity {
  return {
    id: pki.server.identity,
    key: pki.server.keys,
    x5c: pki.chainOf(pki.server.certificate),
    notAfter: pki.server.certificate.notAfter,
  };
}
