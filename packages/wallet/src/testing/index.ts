/**
 * Test fixtures for code that talks to a wallet or a payment server: a stand-in payment server
 * built from protocol functions, and a complete temporary setting (PKI, catalog, server, wallet).
 * Imported as "@peage/wallet/testing"; never used by the wallet itself.
 */
export {
  startStandInServer,
  type StandInServer,
  type StandInServerOptions,
  type StandInSigner,
  type StandInPayment,
} from "./stand-in-server.js";
export {
  createTestWorld,
  importPublicJwk,
  DEFAULT_DRAFTS,
  TEST_PASSPHRASE,
  TEST_RATES,
  TEST_USER,
  type TestWorld,
  type TestWorldOptions,
} from "./world.js";
