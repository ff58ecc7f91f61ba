/** What the PC store's tests take from the card package and the protocol, in one place. */
import { x509 } from "@peage/protocol";
export { price } from "@peage/protocol";
export { createReloadCommand, createSyncCommand, payWithCard, SW } from "@peage/card";

export function x509Of(x5c: string): x509.X509Certificate {
  return new x509.X509Certificate(Buffer.from(x5c, "base64"));
}
