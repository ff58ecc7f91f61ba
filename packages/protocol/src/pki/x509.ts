/**
 * The one place @peculiar/x509 is loaded. The library resolves its algorithm providers through
 * tsyringe, which needs the Reflect metadata polyfill before the library module is evaluated,
 * and it needs a WebCrypto implementation: Node's. Every pki module imports `x509` from here.
 */
import "reflect-metadata";
import { webcrypto } from "node:crypto";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509 };
